// How long a node may take to reach each desired state before the controller gives up on it
// (docs/design/state-machine.md#timeouts).
//
// The agent bounds each of its own steps (the host's prepare, the drain, the reboot) and reports its own failure
// with the precise reason (the PodDisruptionBudget that blocked the drain, the version that did not boot). The
// controller's timeouts are the backstop for an agent that goes silent, so each must exceed the sum of the agent's
// bounds in that state: otherwise the controller times out a node that is still making progress, and one failed
// attempt is counted twice (once by the timeout, once by the agent's own report).
import type { BrsState, TimedState } from "../api/state-machine.ts";
import { TIMED_STATES } from "../api/state-machine.ts";
import { parseTimestamp } from "../api/timestamps.ts";

/**
 * Seconds a node may take to reach each update state, plus `Idle`: how long its agent may take to report Idle once
 * the spec went back to Idle (after a reset or a finished update). Past that the node is stuck.
 */
export type NodeTimeouts = Readonly<Record<TimedState | "Idle", number>>;

/**
 * - StagedAndPerformedUpdate 15 min: the agent may wait 2 min for the host's update lock, then refresh (10 s),
 *   prepare (the host allows 10 min) and activate (5 s): 12 min 15 s at most.
 * - RebootedIntoUpdate 30 min: the load-balancer wait (0 by default), the drain (DRAIN_TIMEOUT_SECONDS, 10 min) and
 *   the reboot (REBOOT_TIMEOUT_SECONDS, 10 min): 20 min at most with the defaults.
 * - MonitoringUpdate 5 min, Idle 2 min: uncordoning and reporting take seconds.
 * brupop 1.4 defined 12/10/5/2 min and never enforced them; enforced, its 10 min for a drain plus a reboot would cut
 * off every node whose drain is slow but progressing.
 */
export const DEFAULT_NODE_TIMEOUTS: NodeTimeouts = Object.freeze({
  StagedAndPerformedUpdate: 900,
  RebootedIntoUpdate: 1800,
  MonitoringUpdate: 300,
  Idle: 120,
});

export function isTimedState(state: BrsState): state is TimedState {
  return (TIMED_STATES as readonly string[]).includes(state);
}

/**
 * When a node asked at `since` to reach `state` must have got there. Undefined when the timestamp is missing or
 * unparsable: there is nothing to measure from (the controller then restamps it).
 */
export function stepDeadline(
  state: TimedState | "Idle",
  since: string | null | undefined,
  timeouts: NodeTimeouts,
): Date | undefined {
  const start = parseTimestamp(since);
  return start === undefined ? undefined : new Date(start.getTime() + timeouts[state] * 1000);
}
