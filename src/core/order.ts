// The order in which waiting nodes get budget (docs/design/state-machine.md#fleet-selection): fewest failures first so
// that healthy nodes are not held up by a flaky one, the controller's own node last so the controller is evicted only
// when nothing else is left, then node name so that every replica and every run picks the same nodes.

export interface OrderKey {
  nodeName: string;
  /** Consecutive failures (crash_count plus recorded timeouts). */
  failures: number;
}

export function compareCandidates(a: OrderKey, b: OrderKey, controllerNodeName: string | null): number {
  const aOwn = a.nodeName === controllerNodeName ? 1 : 0;
  const bOwn = b.nodeName === controllerNodeName ? 1 : 0;
  if (aOwn !== bOwn) return aOwn - bOwn;
  if (a.failures !== b.failures) return a.failures - b.failures;
  return a.nodeName < b.nodeName ? -1 : a.nodeName > b.nodeName ? 1 : 0;
}

/** A sorted copy. */
export function orderCandidates<T extends OrderKey>(candidates: readonly T[], controllerNodeName: string | null): T[] {
  return [...candidates].sort((a, b) => compareCandidates(a, b, controllerNodeName));
}
