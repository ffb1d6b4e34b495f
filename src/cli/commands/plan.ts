// `brupop plan`: which nodes would update, in what order and from when, computed with the controller's own selection
// projected forward (src/core/plan.ts). Read-only: it reads what `brupop status` reads and writes nothing.
import { Command, Option } from "@commander-js/extra-typings";
import { contextOption, kubeconfigOption, namespaceOption, run } from "../kube.ts";

export function planCommand() {
  return new Command("plan")
    .description(
      "show which nodes would update, in what order and from when (windows, budgets, zones, backoff, pause), without acting",
    )
    .addOption(
      new Option("-o, --output <format>", "output format")
        .choices(["table", "json", "yaml"] as const)
        .default("table" as const),
    )
    .option(
      "--duration <duration>",
      "assumed time one node's update takes, e.g. 8m (default: the median of the fleet's last updates, else 10m)",
    )
    .option(
      "-l, --selector <selector>",
      "only nodes matching this label selector (as the controller's MANAGED_NODE_SELECTOR)",
    )
    .addOption(kubeconfigOption())
    .addOption(contextOption())
    .addOption(namespaceOption())
    .action(
      run("plan", async (opts) => {
        const { CliError, loadKubeConfig } = await import("../kube.ts");
        const { parseDuration } = await import("../../core/duration.ts");
        const { FleetReader } = await import("../fleet.ts");
        const { controllerSessionOpen, fleetInputs } = await import("../fleet-report.ts");
        const { buildPlan } = await import("../../core/plan.ts");
        const { planView, renderPlan } = await import("../plan-view.ts");
        const { colourWanted, makeStyle } = await import("../render.ts");

        let updateSeconds: number | null = null;
        if (opts.duration !== undefined) {
          try {
            updateSeconds = parseDuration(opts.duration);
          } catch (err) {
            throw new CliError(`--duration: ${err instanceof Error ? err.message : String(err)}`);
          }
          if (updateSeconds <= 0) throw new CliError("--duration must be longer than 0s");
        }
        const kc = await loadKubeConfig(opts);
        const reader = new FleetReader(kc, opts.namespace);
        const snapshot = await reader.read(opts.selector);
        await reader.requireOperator(snapshot);
        const now = new Date();
        const inputs = fleetInputs(snapshot, now, { sessionOpen: controllerSessionOpen(snapshot) });
        const { resolution } = inputs;
        // The controller's own node goes last, as the controller orders it.
        const controllerNodeName = await reader.controllerNode(snapshot.controller);
        const fleet = { ...inputs.fleet, controllerNodeName };
        if (!resolution.ok) {
          throw new CliError(`the update policy is invalid, so nothing starts: ${resolution.errors.join("; ")}`);
        }
        const notes = [...resolution.warnings.map((w) => `policy warning: ${w}`)];
        if (snapshot.controller.found === "missing") notes.push(`controller Deployment not found in ${opts.namespace}`);
        if (snapshot.controller.found === "unreadable") {
          notes.push(
            "the controller Deployment is not readable with your credentials; environment settings taken as unset",
          );
        }
        if (controllerNodeName === null && fleet.shadows.length > 0) {
          notes.push(
            "the controller's node is not known (no leader, or its Lease or pod is not readable): the controller starts its own node last, which this plan cannot show",
          );
        }
        const plan = buildPlan(fleet, resolution.policy, now, { updateSeconds });
        const ctx = { namespace: opts.namespace, dryRun: resolution.policy.dryRun, notes };
        if (opts.output === "json") process.stdout.write(JSON.stringify(planView(plan, ctx), null, 2) + "\n");
        else if (opts.output === "yaml") {
          process.stdout.write((await import("yaml")).stringify(planView(plan, ctx), { version: "1.1" }));
        } else process.stdout.write(renderPlan(plan, ctx, makeStyle(colourWanted(process.stdout))));
      }),
    );
}
