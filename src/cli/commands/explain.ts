// `brupop explain <node>`: why this node is (not) updating now, in plain words with the next step, and what is known
// about it: its shadow's spec and status, failures, conditions, Events and agent pod, as a timeline.
import { Command, Option } from "@commander-js/extra-typings";
import { contextOption, kubeconfigOption, namespaceOption, run } from "../kube.ts";

export function explainCommand() {
  return new Command("explain")
    .description("explain why a node is or is not updating, with its history and the next step to take")
    .argument("<node>", "node name")
    .addOption(
      new Option("-o, --output <format>", "output format")
        .choices(["text", "json", "yaml"] as const)
        .default("text" as const),
    )
    .option("-l, --selector <selector>", "the controller's extra node selector, if status needs one too")
    .addOption(kubeconfigOption())
    .addOption(contextOption())
    .addOption(namespaceOption())
    .action(
      run("explain", async (nodeName, opts) => {
        const { CliError, loadKubeConfig } = await import("../kube.ts");
        const { FleetReader } = await import("../fleet.ts");
        const { buildFleetReport, controllerSessionOpen } = await import("../fleet-report.ts");
        const { explainNode, renderExplanation } = await import("../explain-view.ts");
        const { colourWanted, makeStyle } = await import("../render.ts");

        const kc = await loadKubeConfig(opts);
        const reader = new FleetReader(kc, opts.namespace);
        const [snapshot, node, shadow, events, agentPods] = await Promise.all([
          reader.read(opts.selector),
          reader.node(nodeName),
          reader.shadow(nodeName),
          reader.events(nodeName),
          reader.agentPods(nodeName),
        ]);
        await reader.requireOperator(snapshot);
        if (node === null && shadow === null) {
          throw new CliError(
            `node ${nodeName} not found, and there is no BottlerocketShadow for it in ${opts.namespace}`,
          );
        }
        const now = new Date();
        const report = buildFleetReport(snapshot, now, { sessionOpen: controllerSessionOpen(snapshot) });
        const explanation = explainNode({
          nodeName,
          namespace: opts.namespace,
          now,
          node,
          shadow,
          report,
          events,
          agentPods,
        });
        if (opts.output === "text") {
          for (const note of report.notes) console.error(`note: ${note}`);
          process.stdout.write(renderExplanation(explanation, { style: makeStyle(colourWanted(process.stdout)), now }));
          return;
        }
        const document = {
          node: explanation.node,
          reason: { code: explanation.reason.code, message: explanation.reason.message },
          why: explanation.advice.why,
          next: explanation.advice.next,
          details: Object.fromEntries(explanation.facts),
          history: explanation.timeline.map((e) => ({ time: e.at.toISOString(), what: e.what, warning: e.warning })),
          notes: report.notes,
        };
        if (opts.output === "json") process.stdout.write(JSON.stringify(document, null, 2) + "\n");
        else process.stdout.write((await import("yaml")).stringify(document, { version: "1.1" }));
      }),
    );
}
