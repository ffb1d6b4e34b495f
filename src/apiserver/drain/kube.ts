// The drain's Kubernetes calls over src/kube/client.ts.
import type { V1Pod, V1PodDisruptionBudget } from "@kubernetes/client-node";
import type { KubeClient } from "../../kube/client.ts";
import type { PodRef } from "../../api/drain.ts";
import type { DrainPod } from "../../core/drain-plan.ts";
import { labelSelectorRequirements, matchesLabels } from "../../core/drain-plan-selector.ts";
import type { DrainKube } from "./executor.ts";
import { cordonForDrain, drainHolder } from "../node-actions.ts";

/** A Pod as the wire has it: metav1.Time is an RFC 3339 string (client-node's type says Date). */
export type WirePod = Omit<V1Pod, "metadata"> & {
  metadata?: Omit<NonNullable<V1Pod["metadata"]>, "deletionTimestamp"> & { deletionTimestamp?: string | Date };
};

export function toDrainPod(pod: WirePod): DrainPod | undefined {
  const meta = pod.metadata;
  if (!meta?.name || !meta.namespace || !meta.uid) return undefined;
  return {
    namespace: meta.namespace,
    name: meta.name,
    uid: meta.uid,
    ...(pod.status?.phase === undefined ? {} : { phase: pod.status.phase }),
    labels: meta.labels ?? {},
    annotations: meta.annotations ?? {},
    ownerReferences: (meta.ownerReferences ?? []).map((o) => ({
      kind: o.kind,
      name: o.name,
      ...(o.controller === undefined ? {} : { controller: o.controller }),
    })),
    // A string on the wire; core's contract is a Date.
    ...(meta.deletionTimestamp ? { deletionTimestamp: new Date(meta.deletionTimestamp) } : {}),
  };
}

export function kubeDrain(client: KubeClient): DrainKube {
  return {
    cordon: (nodeName, drainId) => cordonForDrain(client, nodeName, drainId),
    holder: (nodeName) => drainHolder(client, nodeName),
    async listPods(nodeName) {
      const list = await client.get<{ items: WirePod[] }>("/api/v1/pods", {
        query: { fieldSelector: `spec.nodeName=${nodeName}` },
      });
      return list.items.map(toDrainPod).filter((p): p is DrainPod => p !== undefined);
    },
    async evict(pod: PodRef, gracePeriodSeconds) {
      await client.create(`/api/v1/namespaces/${pod.namespace}/pods/${pod.name}/eviction`, {
        apiVersion: "policy/v1",
        kind: "Eviction",
        metadata: { name: pod.name, namespace: pod.namespace },
        deleteOptions: {
          preconditions: { uid: pod.uid },
          ...(gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds }),
        },
      });
    },
    async budgetsFor(pod) {
      const list = await client.get<{ items: V1PodDisruptionBudget[] }>(
        `/apis/policy/v1/namespaces/${pod.namespace}/poddisruptionbudgets`,
      );
      return list.items
        .filter((pdb) => {
          const selector = pdb.spec?.selector;
          if (!selector) return false; // policy/v1: a null selector selects nothing
          try {
            return matchesLabels(labelSelectorRequirements(selector), pod.labels);
          } catch {
            return false;
          }
        })
        .map((pdb) => pdb.metadata?.name ?? "")
        .filter((name) => name !== "");
    },
  };
}
