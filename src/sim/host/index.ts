// The simulated Bottlerocket host: a pure state machine (host-state.ts) served over a Unix socket.
export {
  startSimulatedHost,
  SimulatedHost,
  type SimulatedHostEvent,
  type SimulatedHostEventType,
  type SimulatedHostOptions,
} from "./simulated-host.ts";
export { DURATION_PROFILES, resolveDurations, type DurationProfile, type HostDurations } from "./durations.ts";
export { FAULT_SPEC_HELP, parseFaultSpec, type ArmedFault, type HostFault } from "./faults.ts";
export { availableUpdates, chooseUpdate, waveReadyAt, type Release, type UpdateSettings } from "./selection.ts";
export * from "./host-state.ts";
