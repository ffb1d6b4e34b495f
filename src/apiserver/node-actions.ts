// Node writes the agent asks for: cordon/uncordon and the load-balancer exclusion label (reference §3.6, §4.2).
// Merge patches, as brupop sends them: idempotent, and they touch only the one field.
import { PatchStrategy, setHeaderOptions, type CoreV1Api } from "@kubernetes/client-node";
import { EXCLUDE_FROM_LB_VALUE, LABEL_EXCLUDE_FROM_LB } from "../api/constants.ts";

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

export async function setUnschedulable(core: CoreV1Api, nodeName: string, unschedulable: boolean): Promise<void> {
  await core.patchNode({ name: nodeName, body: { spec: { unschedulable } } }, mergePatch);
}

/** Adds (`true`) or removes the label that takes the node out of external load balancers. */
export async function setExcludedFromLoadBalancers(
  core: CoreV1Api,
  nodeName: string,
  excluded: boolean,
): Promise<void> {
  await core.patchNode(
    {
      name: nodeName,
      body: { metadata: { labels: { [LABEL_EXCLUDE_FROM_LB]: excluded ? EXCLUDE_FROM_LB_VALUE : null } } },
    },
    mergePatch,
  );
}
