// Node writes the agent asks for: cordon/uncordon and the load-balancer exclusion label
// (docs/design/drain.md#identity).
// Merge patches, as brupop sends them: idempotent, and they touch only their fields.
import type { V1Node } from "@kubernetes/client-node";
import { ANNOTATION_DRAIN, EXCLUDE_FROM_LB_VALUE, LABEL_EXCLUDE_FROM_LB } from "../api/constants.ts";
import type { KubeClient } from "../kube/client.ts";
import { isNotFound } from "../kube/errors.ts";

const nodePath = (name: string) => `/api/v1/nodes/${name}`;

/** The Node writes the routes make (Kubernetes-backed in server.ts, fakes in tests). */
export interface NodeActions {
  /** Uncordons the node and ends any drain's hold on it (ANNOTATION_DRAIN). */
  uncordon(nodeName: string): Promise<void>;
  setExcludedFromLoadBalancers(nodeName: string, excluded: boolean): Promise<void>;
}

/** Cordons the node for the drain `drainId`, which it marks as the node's holder (docs/design/drain.md#identity). */
export async function cordonForDrain(client: KubeClient, nodeName: string, drainId: string): Promise<void> {
  await client.patch(nodePath(nodeName), "merge", {
    metadata: { annotations: { [ANNOTATION_DRAIN]: drainId } },
    spec: { unschedulable: true },
  });
}

/** Uncordons the node and ends any drain's hold on it: a drain running on another replica stops at its next check. */
export async function uncordon(client: KubeClient, nodeName: string): Promise<void> {
  await client.patch(nodePath(nodeName), "merge", {
    metadata: { annotations: { [ANNOTATION_DRAIN]: null } },
    spec: { unschedulable: false },
  });
}

/** The drain that holds the node (its ANNOTATION_DRAIN); undefined when none does, or the node is gone. */
export async function drainHolder(client: KubeClient, nodeName: string): Promise<string | undefined> {
  try {
    return (await client.get<V1Node>(nodePath(nodeName))).metadata?.annotations?.[ANNOTATION_DRAIN];
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Adds (`true`) or removes the label that takes the node out of external load balancers. */
export async function setExcludedFromLoadBalancers(
  client: KubeClient,
  nodeName: string,
  excluded: boolean,
): Promise<void> {
  await client.patch(nodePath(nodeName), "merge", {
    metadata: { labels: { [LABEL_EXCLUDE_FROM_LB]: excluded ? EXCLUDE_FROM_LB_VALUE : null } },
  });
}
