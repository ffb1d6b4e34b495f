// `brupop pause` / `brupop resume`: the fleet-wide switch (spec.paused of the BottlerocketUpdatePolicy singleton,
// created when absent) and, with --node, the per-node opt-out (annotation brupop.bottlerocket.aws/paused on the
// Node). Both only stop new starts: updates in flight finish. `brupop resume` for the fleet also lifts an automatic
// halt (spec.maxFailedNodes): it writes the time of the request to the policy's resume annotation, a new value of
// which the controller takes as a resume (src/core/halt.ts).
import { Command } from "@commander-js/extra-typings";
import type { KubeConfig } from "@kubernetes/client-node";
import type { BottlerocketUpdatePolicy } from "../../api/update-policy.ts";
import { formatTimestamp } from "../../api/timestamps.ts";
import { ANNOTATIONS } from "../../core/model.ts";
import { contextOption, kubeconfigOption, namespaceOption, run } from "../kube.ts";

const collect = (value: string, previous: string[]) => [...previous, value];

export function pauseCommand() {
  return switchCommand("pause", true);
}

export function resumeCommand() {
  return switchCommand("resume", false);
}

function switchCommand(name: "pause" | "resume", paused: boolean) {
  const what = paused
    ? "stop new updates from starting (updates in flight finish): the whole fleet, or --node"
    : "let updates start again: the whole fleet (also lifting an automatic halt after failed nodes), or --node";
  return new Command(name)
    .description(what)
    .option(
      "--node <name>",
      `only this node (annotation ${ANNOTATIONS.nodePaused}); repeatable`,
      collect,
      [] as string[],
    )
    .addOption(kubeconfigOption())
    .addOption(contextOption())
    .addOption(namespaceOption())
    .action(
      run(name, async (opts) => {
        const { loadKubeConfig } = await import("../kube.ts");
        const kc = await loadKubeConfig(opts);
        if (opts.node.length > 0) {
          for (const node of opts.node) await setNodePause(kc, node, paused);
          return;
        }
        await setFleetPause(kc, opts.namespace, paused);
      }),
    );
}

async function setNodePause(kc: KubeConfig, node: string, paused: boolean): Promise<void> {
  const { CoreV1Api, PatchStrategy, setHeaderOptions } = await import("@kubernetes/client-node");
  const { isNotFound } = await import("../../kube/errors.ts");
  const { CliError, describeKubeError } = await import("../kube.ts");
  const core = kc.makeApiClient(CoreV1Api);
  try {
    await core.patchNode(
      // A merge patch with null removes the annotation; removing one that is absent is not an error.
      { name: node, body: { metadata: { annotations: { [ANNOTATIONS.nodePaused]: paused ? "true" : null } } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
  } catch (err) {
    if (isNotFound(err)) throw new CliError(`node ${node} not found`);
    throw new CliError(describeKubeError(err, `annotating node ${node}`, kc.getCurrentCluster()?.server));
  }
  console.log(
    paused
      ? `node ${node} paused (${ANNOTATIONS.nodePaused}=true): no new update starts there; one in flight finishes`
      : `node ${node} resumed (${ANNOTATIONS.nodePaused} removed)`,
  );
}

async function setFleetPause(kc: KubeConfig, namespace: string, paused: boolean): Promise<void> {
  const { CustomObjectsApi, PatchStrategy, setHeaderOptions } = await import("@kubernetes/client-node");
  const { API_GROUP } = await import("../../api/constants.ts");
  const policyApi = await import("../../api/update-policy-names.ts");
  const { isNotFound, isConflict } = await import("../../kube/errors.ts");
  const { CliError, crdMissing, describeKubeError } = await import("../kube.ts");
  const custom = kc.makeApiClient(CustomObjectsApi);
  const target = {
    group: API_GROUP,
    version: policyApi.UPDATE_POLICY_VERSION,
    namespace,
    plural: policyApi.UPDATE_POLICY_PLURAL,
  };
  const server = kc.getCurrentCluster()?.server;
  const where = `${policyApi.UPDATE_POLICY_KIND} ${namespace}/${policyApi.UPDATE_POLICY_NAME}`;
  // Explicitly false rather than removed: the policy resource overrides UPDATES_PAUSED, so resume works even when
  // the controller's environment says paused.
  const metadata = paused ? {} : { annotations: { [ANNOTATIONS.resumeRequested]: formatTimestamp(new Date()) } };
  const patch = async () =>
    (await custom.patchNamespacedCustomObject(
      { ...target, name: policyApi.UPDATE_POLICY_NAME, body: { metadata, spec: { paused } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    )) as BottlerocketUpdatePolicy;
  const create = () =>
    custom.createNamespacedCustomObject({
      ...target,
      body: {
        apiVersion: policyApi.UPDATE_POLICY_API_VERSION,
        kind: policyApi.UPDATE_POLICY_KIND,
        metadata: { name: policyApi.UPDATE_POLICY_NAME },
        spec: { paused },
      },
    });
  let created = false;
  let written: BottlerocketUpdatePolicy | undefined;
  try {
    written = await patch();
  } catch (err) {
    if (!isNotFound(err)) throw new CliError(describeKubeError(err, `updating ${where}`, server));
    try {
      await create();
      created = true;
    } catch (createErr) {
      // 404 on create: the resource type itself is missing. 409: created meanwhile by someone else; patch it.
      if (isNotFound(createErr)) throw crdMissing(policyApi.UPDATE_POLICY_KIND, policyApi.UPDATE_POLICY_CRD_NAME);
      if (!isConflict(createErr)) throw new CliError(describeKubeError(createErr, `creating ${where}`, server));
      written = await patch();
    }
  }
  console.log(
    `${paused ? "updates paused" : "updates resumed"} for the fleet in ${namespace} ` +
      `(${where}${created ? ", created" : ""}: spec.paused=${paused})` +
      (paused ? "; updates in flight finish" : ""),
  );
  const { HALTED_CONDITION } = await import("../../core/halt.ts");
  const halt = written?.status?.halt;
  const halted = written?.status?.conditions?.some((c) => c.type === HALTED_CONDITION && c.status === "True");
  if (halted === true && halt !== undefined) {
    console.log(
      `the automatic halt after ${halt.failed} failed node${halt.failed === 1 ? "" : "s"} ` +
        `(${halt.failedNodes.join(", ")}) is lifted; failures from now on count towards spec.maxFailedNodes again`,
    );
  }
}
