// Which pods a drain of a node must have removed before the node may reboot: kubectl drain's definition, written
// here and not taken from the operator (src/core/drain-plan.ts), so that the oracle checks the operator against
// Kubernetes' meaning of "drained", not against itself.
//
// kubectl drain (k8s.io/kubectl/pkg/drain) evicts every pod bound to the node except DaemonSet-owned pods
// (--ignore-daemonsets) and mirror pods of static pods, and then WAITS until each evicted pod is gone from the API
// (deleted, or replaced by a pod of the same name with another uid). A pod with a deletionTimestamp is still bound and
// its containers still run until the kubelet has stopped them: kubectl drain keeps waiting for it (unless
// --skip-wait-for-delete-timeout is set and its deletion began longer ago than that). Pods that already finished
// (phase Succeeded or Failed) run nothing a reboot could interrupt; the oracle does not require them gone.
import type { PodView } from "./views.ts";

export interface DrainScopeOptions {
  /** kubectl drain --skip-wait-for-delete-timeout, in seconds; 0 (default): wait for every terminating pod. */
  readonly skipWaitForDeleteTimeoutSeconds?: number;
}

/** Whether a drain of `node` must see `pod` gone before the node reboots, at time `now` (ms). */
export function mustBeGone(pod: PodView, node: string, now: number, o: DrainScopeOptions = {}): boolean {
  if (pod.nodeName !== node) return false;
  if (pod.daemonSet || pod.mirror) return false;
  if (pod.phase === "Succeeded" || pod.phase === "Failed") return false;
  const skipAfterMs = (o.skipWaitForDeleteTimeoutSeconds ?? 0) * 1000;
  if (skipAfterMs > 0 && pod.deletingSince !== undefined && now - pod.deletingSince > skipAfterMs) return false;
  return true;
}

/**
 * The pods that were certainly still bound to `node`, and still had to be gone, at the instant `at` it rebooted.
 *
 * The pod cache an observer holds lags behind the API server, so a pod it still shows at `at` may have been deleted
 * just before. `listedAfter` is a fresh, consistent list of the node's pods read after `at`: a pod in both (same uid)
 * existed before `at` and after it, and since a uid is never reused and a binding never changes, it existed and was
 * bound to the node at `at`. Only such pods are reported, so a report is never a cache artefact (a pod created and
 * bound after the cache's last update is missed instead; the next reboot check does not depend on it).
 */
export function boundAtReboot(
  node: string,
  at: number,
  cachedAtReboot: readonly PodView[],
  listedAfter: readonly PodView[],
  o: DrainScopeOptions = {},
): PodView[] {
  const later = new Map(listedAfter.map((p) => [p.uid, p]));
  return cachedAtReboot.filter((p) => {
    const after = later.get(p.uid);
    // Both views must say so: a pod Running before and after was not finished in between (phases only move on).
    return after !== undefined && mustBeGone(p, node, at, o) && mustBeGone(after, node, at, o);
  });
}
