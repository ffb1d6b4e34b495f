// The BottlerocketShadow state machine as the wire knows it (docs/design/state-machine.md): the states and the
// success chain. How long a state may take and how a failure backs off are decisions: src/core/timeouts.ts and
// src/core/failures.ts.

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

/** States the operator waits in while a node works towards them; Idle and ErrorReset have no deadline. */
export const TIMED_STATES = ["StagedAndPerformedUpdate", "RebootedIntoUpdate", "MonitoringUpdate"] as const;
export type TimedState = (typeof TIMED_STATES)[number];
