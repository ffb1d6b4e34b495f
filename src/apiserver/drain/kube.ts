// The drain's Kubernetes calls over @kubernetes/client-node.
import { CoreV1Api, PolicyV1Api, type KubeConfig, type V1Pod } from "@kubernetes/client-node";
import type { PodRef } from "../../api/drain.ts";
import type { DrainPod } from "../../core/drain-plan.ts";
import { labelSelectorRequirements, matchesLabels } from "../../core/drain-plan-selector.ts";
import type { DrainKube } from "./executor.ts";
import { cordonForDrain, drainHolder } from "../node-actions.ts";

export function toDrainPod(pod: V1Pod): DrainPod | undefined {
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
    // client-node parses it into a Date (and may hand back a string if the model changes): accept both.
    ...(meta.deletionTimestamp ? { deletionTimestamp: new Date(meta.deletionTimestamp) } : {}),
  };
}

export function kubeDrain(kc: KubeConfig): DrainKube {
  const core = kc.makeApiClient(CoreV1Api);
  const policy = kc.makeApiClient(PolicyV1Api);
  return {
    cordon: (nodeName, drainId) => cordonForDrain(core, nodeName, drainId),
    holder: (nodeName) => drainHolder(core, nodeName),
    async listPods(nodeName) {
      const list = await core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${nodeName}` });
      return list.items.map(toDrainPod).filter((p): p is DrainPod => p !== undefined);
    },
    async evict(pod: PodRef, gracePeriodSeconds) {
      await core.createNamespacedPodEviction({
        name: pod.name,
        namespace: pod.namespace,
        body: {
          apiVersion: "policy/v1",
          kind: "Eviction",
          metadata: { name: pod.name, namespace: pod.namespace },
          deleteOptions: {
            preconditions: { uid: pod.uid },
            ...(gracePeriodSeconds === undefined ? {} : { gracePeriodSeconds }),
          },
        },
      });
    },
    async budgetsFor(pod) {
      const list = await policy.listNamespacedPodDisruptionBudget({ namespace: pod.namespace });
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
