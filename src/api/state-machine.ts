// The pure parts of the BottlerocketShadow state machine (behaviour spec §2): the states, the success chain, the
// crash backoff and the per-state timeouts. Deciding what to do with them is src/core's job.
import { parseTimestamp } from "./timestamps.ts";

/** v2 states (storage version), in the order of one update cycle, then ErrorReset. */
export const BRS_STATES = [
  "Idle",
  "StagedAndPerformedUpdate",
  "RebootedIntoUpdate",
  "MonitoringUpdate",
  "ErrorReset",
] as const;
export type BrsState = (typeof BRS_STATES)[number];

/** v1 states (served, legacy). */
export const BRS_STATES_V1 = [
  "Idle",
  "StagedUpdate",
  "PerformedUpdate",
  "RebootedIntoUpdate",
  "MonitoringUpdate",
] as const;
export type BrsStateV1 = (typeof BRS_STATES_V1)[number];

export function isBrsState(value: unknown): value is BrsState {
  return (BRS_STATES as readonly unknown[]).includes(value);
}

export function isBrsStateV1(value: unknown): value is BrsStateV1 {
  return (BRS_STATES_V1 as readonly unknown[]).includes(value);
}

/**
 * The state that follows `state` once it has been reached (brupop's `on_success`):
 * Idle → StagedAndPerformedUpdate → RebootedIntoUpdate → MonitoringUpdate → Idle, and ErrorReset → Idle.
 */
export function successor(state: BrsState): BrsState {
  switch (state) {
    case "Idle":
      return "StagedAndPerformedUpdate";
    case "StagedAndPerformedUpdate":
      return "RebootedIntoUpdate";
    case "RebootedIntoUpdate":
      return "MonitoringUpdate";
    case "MonitoringUpdate":
    case "ErrorReset":
      return "Idle";
  }
}

// ---- Crash backoff (§2.4) ----

/** The backoff never exceeds one day, whatever the crash count. */
export const MAX_BACKOFF_MINUTES = 1440;

/** The crash information a status carries (v2 `status.crash_count` and `status.state_transition_failure_timestamp`). */
export interface CrashInfo {
  crash_count: number;
  state_transition_failure_timestamp?: string | null;
}

/**
 * Whole minutes that must be EXCEEDED after a failure before the node may update again: 2^crash_count, capped at
 * {@link MAX_BACKOFF_MINUTES}. A negative or fractional count (bad data) counts as its floor, at least 0.
 */
export function backoffMinutes(crashCount: number): number {
  const count = Number.isFinite(crashCount) && crashCount > 0 ? Math.floor(crashCount) : 0;
  // 2 ** count cannot overflow in JS (it becomes Infinity); the cap applies from count 11.
  return Math.min(2 ** count, MAX_BACKOFF_MINUTES);
}

/**
 * The first instant at which the node may update again, or undefined when there is no backoff.
 *
 * brupop allows the update when the whole minutes elapsed since the failure (truncated) exceed
 * {@link backoffMinutes}, i.e. from failure + (backoff + 1) minutes on. So with crash_count 1 an update is refused
 * at exactly 2 minutes (and at 2:59) and allowed at 3:00.
 *
 * No failure timestamp means no backoff. An unparsable one (only a broken writer or a hand edit makes those;
 * brupop panics on it) also means no backoff: the retry either succeeds or the agent writes a fresh, valid
 * failure timestamp, so the node cannot be stuck for ever on a bad value.
 */
export function nextRetryAt(status: CrashInfo): Date | undefined {
  const failedAt = parseTimestamp(status.state_transition_failure_timestamp);
  if (failedAt === undefined) return undefined;
  return new Date(failedAt.getTime() + (backoffMinutes(status.crash_count) + 1) * 60_000);
}

/** Whether the crash backoff lets the node start an update at `now` (brupop's `node_allowed_to_update`). */
export function isUpdateAllowed(status: CrashInfo, now: Date): boolean {
  const retryAt = nextRetryAt(status);
  return retryAt === undefined || now.getTime() >= retryAt.getTime();
}

// ---- Per-state timeouts ----

/** States the operator waits in while a node works; Idle and ErrorReset have no deadline. */
export const TIMED_STATES = ["StagedAndPerformedUpdate", "RebootedIntoUpdate", "MonitoringUpdate"] as const;
export type TimedState = (typeof TIMED_STATES)[number];

/** Seconds a node may take to reach each desired state. */
export type StateTimeouts = Readonly<Record<TimedState, number>>;

/** brupop's values (defined there but never enforced): 12 min to stage+activate, 10 min to drain+reboot, 5 min. */
export const DEFAULT_STATE_TIMEOUTS: StateTimeouts = Object.freeze({
  StagedAndPerformedUpdate: 720,
  RebootedIntoUpdate: 600,
  MonitoringUpdate: 300,
});

/**
 * The defaults with `overrides` applied. Throws a RangeError naming the state when an override is not a positive,
 * finite number of seconds, so a bad configuration fails at startup rather than as a node that never times out.
 */
export function stateTimeouts(overrides: Partial<Record<TimedState, number>> = {}): StateTimeouts {
  const result: Record<TimedState, number> = { ...DEFAULT_STATE_TIMEOUTS };
  for (const state of TIMED_STATES) {
    const seconds = overrides[state];
    if (seconds === undefined) continue;
    if (!Number.isFinite(seconds) || seconds <= 0) {
      throw new RangeError(`timeout for ${state} must be a positive number of seconds, got ${String(seconds)}`);
    }
    result[state] = seconds;
  }
  return Object.freeze(result);
}

function isTimedState(state: BrsState): state is TimedState {
  return (TIMED_STATES as readonly string[]).includes(state);
}

/**
 * When a node asked to reach `spec.state` at `spec.state_transition_timestamp` should have got there. Undefined
 * for states without a timeout and when the timestamp is missing or unparsable (there is nothing to measure from).
 */
export function stateDeadline(
  spec: { state: BrsState; state_transition_timestamp?: string | null },
  timeouts: StateTimeouts = DEFAULT_STATE_TIMEOUTS,
): Date | undefined {
  if (!isTimedState(spec.state)) return undefined;
  const since = parseTimestamp(spec.state_transition_timestamp);
  if (since === undefined) return undefined;
  return new Date(since.getTime() + timeouts[spec.state] * 1000);
}
