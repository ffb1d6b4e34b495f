// Node writes the agent asks for: cordon/uncordon and the load-balancer exclusion label
// (docs/design/drain.md#identity).
// Merge patches, as brupop sends them: idempotent, and they touch only their fields.
import { PatchStrategy, setHeaderOptions, type CoreV1Api } from "@kubernetes/client-node";
import { ANNOTATION_DRAIN, EXCLUDE_FROM_LB_VALUE, LABEL_EXCLUDE_FROM_LB } from "../api/constants.ts";
import { isNotFound } from "../kube/errors.ts";

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/** The Node writes the routes make (Kubernetes-backed in server.ts, fakes in tests). */
export interface NodeActions {
  /** Uncordons the node and ends any drain's hold on it (ANNOTATION_DRAIN). */
  uncordon(nodeName: string): Promise<void>;
  setExcludedFromLoadBalancers(nodeName: string, excluded: boolean): Promise<void>;
}

/** Cordons the node for the drain `drainId`, which it marks as the node's holder (docs/design/drain.md#identity). */
export async function cordonForDrain(core: CoreV1Api, nodeName: string, drainId: string): Promise<void> {
  await core.patchNode(
    {
      name: nodeName,
      body: { metadata: { annotations: { [ANNOTATION_DRAIN]: drainId } }, spec: { unschedulable: true } },
    },
    mergePatch,
  );
}

/** Uncordons the node and ends any drain's hold on it: a drain running on another replica stops at its next check. */
export async function uncordon(core: CoreV1Api, nodeName: string): Promise<void> {
  await core.patchNode(
    {
      name: nodeName,
      body: { metadata: { annotations: { [ANNOTATION_DRAIN]: null } }, spec: { unschedulable: false } },
    },
    mergePatch,
  );
}

/** The drain that holds the node (its ANNOTATION_DRAIN); undefined when none does, or the node is gone. */
export async function drainHolder(core: CoreV1Api, nodeName: string): Promise<string | undefined> {
  try {
    return (await core.readNode({ name: nodeName })).metadata?.annotations?.[ANNOTATION_DRAIN];
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
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
