// The v2 BottlerocketShadow states and brupop's success chain (reference §2.1). Kept here until src/api exports them;
// the names and the chain are the wire contract, so any later copy must agree with this one.

export const SHADOW_STATES = [
  "Idle",
  "StagedAndPerformedUpdate",
  "RebootedIntoUpdate",
  "MonitoringUpdate",
  "ErrorReset",
] as const;

export type ShadowState = (typeof SHADOW_STATES)[number];

/** The states a node passes through while updating; each has a timeout in the fleet policy. */
export const UPDATE_STEPS = ["StagedAndPerformedUpdate", "RebootedIntoUpdate", "MonitoringUpdate"] as const;
export type UpdateStep = (typeof UPDATE_STEPS)[number];

export function isShadowState(value: unknown): value is ShadowState {
  return typeof value === "string" && (SHADOW_STATES as readonly string[]).includes(value);
}

export function isUpdateStep(state: ShadowState): state is UpdateStep {
  return (UPDATE_STEPS as readonly string[]).includes(state);
}

/** brupop's `on_success`: Idle → Staged… → Rebooted… → Monitoring… → Idle, and ErrorReset → Idle. */
export function successorState(state: ShadowState): ShadowState {
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
