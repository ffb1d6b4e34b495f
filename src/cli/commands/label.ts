// `brupop label --all-bottlerocket`: labels every node whose kubelet reports a Bottlerocket OS image with
// bottlerocket.aws/updater-interface-version=2.0.0, so brupop manages it. The same decision as the controller's
// automatic labelling (src/core/auto-label.ts), including the opt-out annotation.
import { Command } from "@commander-js/extra-typings";
import { contextOption, kubeconfigOption, run } from "../kube.ts";

export function labelCommand() {
  return new Command("label")
    .description("label Bottlerocket nodes bottlerocket.aws/updater-interface-version=2.0.0 so brupop manages them")
    .requiredOption("--all-bottlerocket", "every node whose status.nodeInfo.osImage says Bottlerocket")
    .option("-l, --selector <selector>", "only nodes matching this label selector")
    .option("--dry-run", "print what would be labelled, change nothing")
    .addOption(kubeconfigOption())
    .addOption(contextOption())
    .action(
      run("label", async (opts) => {
        const { CoreV1Api, PatchStrategy, setHeaderOptions } = await import("@kubernetes/client-node");
        const { CliError, describeKubeError, loadKubeConfig } = await import("../kube.ts");
        const { describeLabelSkip, labelPatch, planNodeLabels } = await import("../../core/auto-label.ts");
        const { toLabelCandidate } = await import("../../controller/auto-label.ts");
        const { isNotFound } = await import("../../kube/errors.ts");
        const { table } = await import("../render.ts");

        const kc = await loadKubeConfig(opts);
        const server = kc.getCurrentCluster()?.server;
        const core = kc.makeApiClient(CoreV1Api);
        let nodes;
        try {
          nodes = (await core.listNode(opts.selector === undefined ? {} : { labelSelector: opts.selector })).items;
        } catch (err) {
          throw new CliError(describeKubeError(err, "listing nodes", server));
        }
        const candidates = nodes.map(toLabelCandidate).filter((c) => c !== undefined);
        const images = new Map(candidates.map((c) => [c.name, c.osImage ?? "-"]));
        const plan = planNodeLabels(candidates);
        const rows: string[][] = [];
        let labelled = 0;
        let failed = 0;
        for (const decision of plan) {
          let action: string;
          if (!decision.label) action = `skipped: ${describeLabelSkip(decision.skip)}`;
          else if (opts.dryRun === true) {
            action = "would label";
            labelled++;
          } else {
            try {
              await core.patchNode(
                { name: decision.node, body: labelPatch() },
                setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
              );
              action = "labelled";
              labelled++;
            } catch (err) {
              failed++;
              action = isNotFound(err) ? "failed: node deleted" : `failed: ${describeKubeError(err, "patch", server)}`;
            }
          }
          rows.push([decision.node, images.get(decision.node) ?? "-", action]);
        }
        if (rows.length > 0) console.log(table(["node", "os image", "action"], rows));
        const verb = opts.dryRun === true ? "would label" : "labelled";
        console.log(
          `${verb} ${labelled} of ${plan.length} node${plan.length === 1 ? "" : "s"}${failed > 0 ? `, ${failed} failed` : ""}`,
        );
        if (failed > 0) process.exitCode = 1;
      }),
    );
}
