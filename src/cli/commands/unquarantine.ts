// `brupop unquarantine <node>`: a person has looked at a node that failed too often and lets it try again, by
// acknowledging its current failure count (annotation brupop.bottlerocket.aws/acknowledged-failures on its shadow).
// The node then gets `quarantineAfterFailures` more tries before it is quarantined again.
import { Command } from "@commander-js/extra-typings";
import { contextOption, kubeconfigOption, namespaceOption, run } from "../kube.ts";

export function unquarantineCommand() {
  return new Command("unquarantine")
    .description("acknowledge a quarantined node's failures so that it is retried")
    .argument("<node>", "node name")
    .addOption(kubeconfigOption())
    .addOption(contextOption())
    .addOption(namespaceOption())
    .action(
      run("unquarantine", async (nodeName, opts) => {
        const { CustomObjectsApi, PatchStrategy, setHeaderOptions } = await import("@kubernetes/client-node");
        const { API_GROUP, PLURAL, VERSION_V2, brsName } = await import("../../api/constants.ts");
        const { ANNOTATIONS } = await import("../../core/model.ts");
        const { readFailures } = await import("../../core/failures.ts");
        const { toShadowView } = await import("../../core/views.ts");
        const { isConflict } = await import("../../kube/errors.ts");
        const { CliError, describeKubeError, loadKubeConfig } = await import("../kube.ts");
        const { FleetReader } = await import("../fleet.ts");

        const kc = await loadKubeConfig(opts);
        const reader = new FleetReader(kc, opts.namespace);
        const custom = kc.makeApiClient(CustomObjectsApi);
        // The acknowledgement must match the count we read: a failure recorded meanwhile stays unacknowledged.
        for (let attempt = 0; attempt < 3; attempt++) {
          const shadow = await reader.shadow(nodeName);
          if (shadow === null) {
            throw new CliError(
              `no BottlerocketShadow ${brsName(nodeName)} in ${opts.namespace} (is the node managed?)`,
            );
          }
          const view = toShadowView(shadow);
          const record = view === undefined ? null : readFailures(view);
          if (record === null || record.failures === 0) {
            console.log(`node ${nodeName} has no failures to acknowledge`);
            return;
          }
          if (record.unacknowledged === 0) {
            console.log(`node ${nodeName}: its ${record.failures} failures are already acknowledged`);
            return;
          }
          try {
            await custom.patchNamespacedCustomObject(
              {
                group: API_GROUP,
                version: VERSION_V2,
                namespace: opts.namespace,
                plural: PLURAL,
                name: brsName(nodeName),
                body: {
                  metadata: {
                    resourceVersion: shadow.metadata.resourceVersion,
                    annotations: { [ANNOTATIONS.acknowledgedFailures]: String(record.failures) },
                  },
                },
              },
              setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
            );
          } catch (err) {
            if (isConflict(err)) continue;
            throw new CliError(describeKubeError(err, `annotating ${brsName(nodeName)}`, reader.server));
          }
          console.log(
            `node ${nodeName}: acknowledged ${record.failures} failures (${ANNOTATIONS.acknowledgedFailures}=${record.failures}); ` +
              "it may start again once its backoff ends",
          );
          return;
        }
        throw new CliError(`${brsName(nodeName)} kept changing; try again`);
      }),
    );
}
