// `brupop status`: is the operator doing anything, and why are nodes waiting? A fleet summary (nodes by state and
// version, updating, blocked with reason, window, pause) and a per-node table, computed with the controller's own
// decisions; `-o json|yaml|wide`, `--watch` to redraw on every change.
import { Command, Option } from "@commander-js/extra-typings";
import type { FleetSnapshot } from "../fleet.ts";
import { contextOption, kubeconfigOption, namespaceOption, run } from "../kube.ts";

export function statusCommand() {
  return new Command("status")
    .description("show the fleet: nodes by state and version, what is updating, what waits and why")
    .addOption(
      new Option("-o, --output <format>", "output format")
        .choices(["table", "wide", "json", "yaml"] as const)
        .default("table" as const),
    )
    .option("-w, --watch", "redraw whenever a shadow, node or the policy changes (Ctrl-C to stop)")
    .option(
      "-l, --selector <selector>",
      "only nodes matching this label selector (as the controller's MANAGED_NODE_SELECTOR)",
    )
    .addOption(kubeconfigOption())
    .addOption(contextOption())
    .addOption(namespaceOption())
    .action(
      run("status", async (opts) => {
        const { loadKubeConfig } = await import("../kube.ts");
        const { FleetReader } = await import("../fleet.ts");
        const { buildFleetReport, controllerSessionOpen } = await import("../fleet-report.ts");
        const { renderStatus, statusView } = await import("../status-view.ts");
        const { colourWanted, makeStyle } = await import("../render.ts");
        const { stringify } = await import("yaml");

        const kc = await loadKubeConfig(opts);
        const reader = new FleetReader(kc, opts.namespace);
        const style = makeStyle(opts.output !== "json" && opts.output !== "yaml" && colourWanted(process.stdout));
        const first = await reader.read(opts.selector);
        await reader.requireOperator(first);
        const render = async (known?: FleetSnapshot): Promise<string> => {
          const snapshot = known ?? (await reader.read(opts.selector));
          const now = new Date();
          const report = buildFleetReport(snapshot, now, { sessionOpen: controllerSessionOpen(snapshot) });
          switch (opts.output) {
            case "json":
              return JSON.stringify(statusView(report), null, opts.watch === true ? undefined : 2) + "\n";
            case "yaml":
              return (opts.watch === true ? "---\n" : "") + stringify(statusView(report), { version: "1.1" });
            default:
              return renderStatus(report, { wide: opts.output === "wide", style });
          }
        };

        if (opts.watch !== true) {
          process.stdout.write(await render(first));
          return;
        }
        const { watchFleet } = await import("../watch.ts");
        await watchFleet(kc, opts.namespace, async () => {
          const text = await render();
          if (opts.output === "json" || opts.output === "yaml") process.stdout.write(text);
          // On a terminal: redraw in place. Otherwise (a pipe, a log): one block per change, separated.
          else if (process.stdout.isTTY) process.stdout.write(`\u001b[2J\u001b[H${text}`);
          else process.stdout.write(`--- ${new Date().toISOString()}\n${text}\n`);
        });
      }),
    );
}
