// Which pods a node's drain evicts, which it only waits for, and which it leaves alone, with the reason for each.
// Pure: the API server's drain executor lists the node's pods, maps them onto DrainPod and acts on the plan.
//
// Differences from brupop 1.4 (docs/design/drain.md#plan), on purpose:
// - DaemonSet-owned and mirror pods are left alone in every phase. brupop returned Failed/Succeeded pods as
//   eviction targets before checking ownership, so completed DaemonSet and mirror pods were evicted.
// - A pod selector (kubectl drain --pod-selector, system-upgrade-controller drain.podSelector) limits the drain
//   to the pods it matches; the rest are skipped and reported.
// - A pod that is already terminating is not evicted again but waited for; one whose deletion began longer ago than
//   `skipWaitForDeleteTimeoutSeconds` is not waited for (kubectl drain --skip-wait-for-delete-timeout), so a pod
//   stuck on an unreachable finalizer cannot hold the node.
import type { PodRef, SkippedPod } from "../api/drain.ts";
import { formatLabelSelector, matchesLabels, type LabelRequirement } from "./drain-plan-selector.ts";

/** Annotation the kubelet puts on the API mirror of a static pod; the API server cannot evict what it does not run. */
export const MIRROR_POD_ANNOTATION = "kubernetes.io/config.mirror";

/** The parts of a Pod the plan reads. */
export interface DrainPod {
  namespace: string;
  name: string;
  uid: string;
  /** status.phase; absent when unknown. */
  phase?: string;
  labels?: Readonly<Record<string, string>>;
  annotations?: Readonly<Record<string, string>>;
  ownerReferences?: readonly { kind: string; name: string; controller?: boolean }[];
  /** metadata.deletionTimestamp: the pod is terminating. */
  deletionTimestamp?: Date;
}

export interface DrainPlanOptions {
  /** Only pods matching these requirements are drained; empty or absent drains every pod (but see the skips). */
  podSelector?: readonly LabelRequirement[];
  /**
   * Pods whose deletion began more than this many seconds ago are skipped instead of waited for. Absent or 0: wait
   * for every terminating pod (kubectl's default).
   */
  skipWaitForDeleteTimeoutSeconds?: number;
}

export interface DrainPlan {
  /** Pods to evict, then wait for. */
  evict: PodRef[];
  /** Pods already terminating: no eviction, only a wait for their deletion. */
  awaitDeletion: PodRef[];
  /** Pods the drain leaves alone, each with its reason. */
  skip: SkippedPod[];
}

const ref = (pod: DrainPod): PodRef => ({ namespace: pod.namespace, name: pod.name, uid: pod.uid });

function daemonSetOwner(pod: DrainPod): string | undefined {
  // Orphaned DaemonSet pods (owner gone) are still skipped, as in brupop: a DaemonSet pod tolerates the cordon
  // and would only come back.
  return pod.ownerReferences?.find((o) => o.kind === "DaemonSet" && o.controller === true)?.name;
}

/** Decides, for every pod on the node, evict / wait / skip. Order of the input is kept within each list. */
export function planDrain(pods: readonly DrainPod[], options: DrainPlanOptions = {}, now: Date): DrainPlan {
  const plan: DrainPlan = { evict: [], awaitDeletion: [], skip: [] };
  const selector = options.podSelector ?? [];
  const overdueAfterMs = (options.skipWaitForDeleteTimeoutSeconds ?? 0) * 1000;
  for (const pod of pods) {
    const daemonSet = daemonSetOwner(pod);
    if (daemonSet !== undefined) {
      plan.skip.push({ ...ref(pod), reason: "daemonset", message: `managed by DaemonSet ${daemonSet}` });
      continue;
    }
    if (pod.annotations !== undefined && Object.hasOwn(pod.annotations, MIRROR_POD_ANNOTATION)) {
      plan.skip.push({ ...ref(pod), reason: "mirror", message: "mirror of a static pod (the kubelet owns it)" });
      continue;
    }
    if (!matchesLabels(selector, pod.labels)) {
      plan.skip.push({
        ...ref(pod),
        reason: "not-selected",
        message: `does not match the drain pod selector ${formatLabelSelector(selector)}`,
      });
      continue;
    }
    if (pod.deletionTimestamp !== undefined) {
      const terminatingForMs = now.getTime() - pod.deletionTimestamp.getTime();
      if (overdueAfterMs > 0 && terminatingForMs > overdueAfterMs) {
        plan.skip.push({
          ...ref(pod),
          reason: "deletion-overdue",
          message: `terminating for ${Math.round(terminatingForMs / 1000)} s, longer than the skip-wait-for-delete timeout of ${overdueAfterMs / 1000} s`,
        });
      } else {
        plan.awaitDeletion.push(ref(pod));
      }
      continue;
    }
    // Completed (Succeeded/Failed) pods are evicted like the rest: eviction deletes them without consulting a
    // PodDisruptionBudget, and they would otherwise stay behind on the rebooted node.
    plan.evict.push(ref(pod));
  }
  return plan;
}
