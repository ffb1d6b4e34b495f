// The agent's decision, pure: given what it observes (its brs, its Node, the host) and what this process
// remembers, what is the ONE next thing to do? The loop in agent.ts observes, calls plan(), does the action, and
// observes again, so every step is re-decided from fresh state and a restarted agent resumes wherever the
// evidence says it is (docs/design/README.md#invariants: every step idempotent and restart-safe).
//
// Differences from brupop 1.4 (docs/design/state-machine.md#differences-from-brupop), on purpose:
// - A host already Staged or Ready for spec.version counts as done; prepare/activate are never repeated blindly.
// - spec.version is what gets staged and what the reboot must land on (the host client verifies the staged image).
// - Spec Idle while the status is mid-update (an ErrorReset, a controller timeout, an abandoned update): the Node is
//   taken back into load balancers and uncordoned, the activated update deactivated, then Idle reported.
// - A reboot is confirmed by the running version; one that lands on the old version after a changed boot is a
//   rollback, reported once as a failure and never retried by the agent itself.
// - After reporting ErrorReset the agent waits for the controller instead of retrying the step.
// - A rollback after a failed health gate (the controller's rollback-to annotation names spec.version) stages a
//   version the host does not offer: its version-lock is pinned for that, and put back (docs/design/health-gates.md).
import type { BrsState } from "../api/state-machine.ts";
import { formatTimestamp } from "../api/timestamps.ts";
import { rebootVerdict, type BootObservation } from "../host/boot.ts";
import type { UpdateState } from "../host/types.ts";
import type { AgentSpec, AgentStatus, ObservedNode, ObservedShadow } from "./observed.ts";

export type HostView =
  | {
      reachable: true;
      /** `/os` version_id: what is running. */
      versionId: string;
      /** null: `/updates/status` is uninitialised (404), i.e. no update action since the host booted. */
      update: { state: UpdateState; stagedVersion: string | null } | null;
      bootId: string | null;
    }
  | { reachable: false; problem: string };

/** What this process remembers; lost on restart, so nothing here may be needed for correctness after one. */
export interface AgentMemory {
  /** The reboot this process asked for, with how the host looked just before. */
  reboot?: { key: string; version: string; requestedAt: number; before: BootObservation };
  /** When this process labelled the Node out of external load balancers. */
  lbExcludedAt?: number;
  /** The spec (see specKey) for which cordon-and-drain completed. */
  drainedFor?: string;
  /** The spec for which the version-lock of an abandoned rollback was put back. */
  lockRestoredFor?: string;
}

export interface PlanSettings {
  /** 0: load-balancer exclusion off. */
  excludeFromLbWaitMs: number;
  /** How long a requested reboot may take before it is a failure. */
  rebootTimeoutMs: number;
}

export interface PlanInput {
  /** undefined: the watch has not listed yet; null: the object does not exist. */
  shadow: ObservedShadow | null | undefined;
  node: ObservedNode | null | undefined;
  host: HostView;
  /** The version the host's last refresh chose; null: none offered; undefined: no refresh result known. */
  offered: string | null | undefined;
  memory: AgentMemory;
  now: number;
  settings: PlanSettings;
}

export type AgentAction =
  | { kind: "wait"; reason: string; until?: number }
  | { kind: "create-shadow" }
  /** `pinVersionLock`: a rollback's older version, which the host stages only with its version-lock pinned. */
  | { kind: "prepare"; version: string; pinVersionLock?: true }
  /** Puts back a version-lock a rollback pinned and did not put back (the agent died, the rollback was abandoned). */
  | { kind: "restore-version-lock"; key: string }
  | { kind: "activate"; version: string }
  | { kind: "deactivate"; reason: string }
  | { kind: "exclude-from-lb" }
  | { kind: "cordon-and-drain"; key: string }
  | { kind: "reboot"; key: string; version: string; before: BootObservation }
  | { kind: "remove-lb-exclusion" }
  | { kind: "uncordon" }
  /** Write this status. An ErrorReset status is the report of a failure. */
  | { kind: "report"; status: AgentStatus; why: string };

const wait = (reason: string, until?: number): AgentAction =>
  until === undefined ? { kind: "wait", reason } : { kind: "wait", reason, until };

/** Identifies one desired state, so work done for an earlier spec is not mistaken for work done for this one. */
export function specKey(spec: AgentSpec): string {
  return `${spec.state}:${spec.version ?? "-"}@${spec.state_transition_timestamp ?? "-"}`;
}

export function plan(input: PlanInput): AgentAction {
  const { shadow, node, host } = input;
  if (node === undefined || shadow === undefined) return wait("waiting for the first list of the Node and its brs");
  if (node === null) return wait("the Node is not visible to the agent");
  if (shadow === null) return { kind: "create-shadow" };
  if (!shadow.valid) return wait(`cannot act on the brs: ${shadow.problem}`);
  const { spec, status } = shadow;

  if (status === null) {
    if (!host.reachable) return wait(`host API unavailable: ${host.problem}`);
    return { kind: "report", status: statusFor("Idle", null, host, input.offered), why: "first status" };
  }
  if (spec.state === "ErrorReset")
    return wait("spec.state ErrorReset is not a desired state; waiting for the controller");
  if (status.current_state === "ErrorReset" && spec.state !== "Idle") {
    return wait(
      `failure reported (${status.failure_reason ?? "no reason"}); waiting for the controller to reset the spec`,
    );
  }
  if (spec.state === status.current_state) return steady(input, status);

  const rollback = shadow.rollbackTo !== undefined && shadow.rollbackTo === spec.version;
  switch (spec.state) {
    case "Idle":
      return toIdle(input, spec, status, node, shadow.rollbackTo !== undefined);
    case "StagedAndPerformedUpdate":
      return toStaged(input, spec, status, rollback);
    case "RebootedIntoUpdate":
      return toRebooted(input, spec, status, node);
    case "MonitoringUpdate":
      return toMonitoring(input, spec, status, node);
  }
}

/** Desired state reached: only keep the reported versions fresh. */
function steady(input: PlanInput, status: AgentStatus): AgentAction {
  const { host } = input;
  if (!host.reachable) return wait(`${status.current_state} reached; host API unavailable: ${host.problem}`);
  const next = statusFor(status.current_state, status, host, input.offered);
  if (next.current_version !== status.current_version || next.target_version !== status.target_version) {
    return { kind: "report", status: next, why: "versions changed" };
  }
  return wait(`${status.current_state} reached`);
}

/**
 * Back to Idle from anywhere: finished update, reset after a failure, timeout, or abandoned update. The node is
 * given back first: uncordoning needs only the API server, so a host API that fails or is gone never keeps it
 * cordoned.
 */
function toIdle(
  input: PlanInput,
  spec: AgentSpec,
  status: AgentStatus,
  node: ObservedNode,
  abandonedRollback: boolean,
): AgentAction {
  const { host } = input;
  const recovery = recover(input, node);
  if (recovery) return recovery;
  if (!host.reachable) return wait(`returning to Idle; host API unavailable: ${host.problem}`);
  // A rollback that ended without finishing may have left the version-lock pinned (idempotent; once per spec).
  const key = specKey(spec);
  if (abandonedRollback && input.memory.lockRestoredFor !== key) return { kind: "restore-version-lock", key };
  // An activated update left behind would be applied by the next unrelated reboot, without a drain
  // (docs/design/state-machine.md#agent-steps).
  if (host.update?.state === "Ready") {
    return { kind: "deactivate", reason: `update abandoned in ${status.current_state}; not applying it` };
  }
  return {
    kind: "report",
    status: statusFor("Idle", status, host, input.offered),
    why: `back to Idle from ${status.current_state}`,
  };
}

function toStaged(input: PlanInput, spec: AgentSpec, status: AgentStatus, rollback: boolean): AgentAction {
  const { host } = input;
  const version = spec.version;
  if (version === null) return fail(input, status, "spec.version is not set; nothing to stage");
  if (!host.reachable) return wait(`staging ${version}; host API unavailable: ${host.problem}`);
  const done = { kind: "report", status: statusFor(spec.state, status, host, input.offered) } as const;
  if (host.versionId === version) return { ...done, why: `already running ${version}` };
  const update = host.update;
  if (update?.stagedVersion === version && update.state === "Ready")
    return { ...done, why: `${version} staged and activated` };
  if (update?.stagedVersion === version && update.state === "Staged") return { kind: "activate", version };
  return rollback ? { kind: "prepare", version, pinVersionLock: true } : { kind: "prepare", version };
}

function toRebooted(input: PlanInput, spec: AgentSpec, status: AgentStatus, node: ObservedNode): AgentAction {
  const { host, memory, now, settings } = input;
  const version = spec.version;
  if (version === null) return fail(input, status, "spec.version is not set; nothing to reboot into");

  const key = specKey(spec);
  const pending = memory.reboot?.key === key ? memory.reboot : undefined;
  if (!host.reachable) {
    if (pending === undefined) return wait(`host API unavailable: ${host.problem}`);
    const deadline = pending.requestedAt + settings.rebootTimeoutMs;
    if (now >= deadline) {
      return fail(
        input,
        status,
        `the host did not come back within ${seconds(settings.rebootTimeoutMs)} after the reboot into ${version}`,
      );
    }
    return wait("host is rebooting", deadline);
  }

  if (host.versionId === version) {
    // Only a boot changes the running version, so this is the reboot's completion (or an earlier one's).
    const recovery = recover(input, node);
    if (recovery) return recovery;
    return { kind: "report", status: statusFor(spec.state, status, host, input.offered), why: `running ${version}` };
  }

  if (pending) {
    const verdict = rebootVerdict(pending.before, observation(host));
    if (verdict === "rebooted") {
      return fail(
        input,
        status,
        `rebooted but running ${host.versionId}, not ${version}: ${version} failed to boot and the host rolled back`,
      );
    }
    const deadline = pending.requestedAt + settings.rebootTimeoutMs;
    if (now >= deadline) {
      return fail(
        input,
        status,
        `the host accepted the reboot into ${version} but did not reboot within ${seconds(settings.rebootTimeoutMs)}`,
      );
    }
    return wait(`waiting for the host to reboot into ${version}`, deadline);
  }

  // Nothing requested by this process (or it restarted, as every reboot restarts it): the update must still be set
  // to boot next. An uninitialised update status means the host booted after we activated the update (that is what
  // our StagedAndPerformedUpdate status says): a boot that should have landed on `version` and did not, a rollback.
  const update = host.update;
  if (update === null && status.current_state === "StagedAndPerformedUpdate") {
    return fail(
      input,
      status,
      `rebooted but running ${host.versionId}, not ${version}: ${version} failed to boot and the host rolled back ` +
        `(it has run no update action since it booted)`,
    );
  }
  if (update?.state !== "Ready" || update.stagedVersion !== version) {
    return fail(input, status, `cannot reboot into ${version}: ${describeHost(host)}` + lostUpdateHint(update));
  }
  if (settings.excludeFromLbWaitMs > 0) {
    if (!node.excludedFromLb || memory.lbExcludedAt === undefined) return { kind: "exclude-from-lb" };
    const until = memory.lbExcludedAt + settings.excludeFromLbWaitMs;
    if (now < until) return wait("letting load balancers take the node out", until);
  }
  if (memory.drainedFor !== key) return { kind: "cordon-and-drain", key };
  return { kind: "reboot", key, version, before: observation(host) };
}

function toMonitoring(input: PlanInput, spec: AgentSpec, status: AgentStatus, node: ObservedNode): AgentAction {
  const { host } = input;
  if (!host.reachable) return wait(`monitoring; host API unavailable: ${host.problem}`);
  if (spec.version !== null && host.versionId !== spec.version) {
    return fail(input, status, `running ${host.versionId}, not ${spec.version}, after the update`);
  }
  const recovery = recover(input, node);
  if (recovery) return recovery;
  return { kind: "report", status: statusFor(spec.state, status, host, input.offered), why: "node back in service" };
}

/** Undo what preparing for the reboot did, LB label first (brupop's order), each only if still needed. */
function recover(input: PlanInput, node: ObservedNode): AgentAction | undefined {
  if (input.settings.excludeFromLbWaitMs > 0 && node.excludedFromLb) return { kind: "remove-lb-exclusion" };
  if (node.unschedulable) return { kind: "uncordon" };
  return undefined;
}

function fail(input: PlanInput, status: AgentStatus, reason: string): AgentAction {
  return { kind: "report", status: failedStatus(status, input.host, reason, input.now), why: reason };
}

// ---- Status documents ----

/**
 * The status reporting `state` reached. Versions come from the host (the previous status when it is unreachable);
 * the target is the host's last offer, else the previous target, else the current version. Crash information is
 * kept, except that finishing an update (MonitoringUpdate → Idle) clears it, as brupop does.
 */
export function statusFor(
  state: BrsState,
  previous: AgentStatus | null,
  host: HostView & { reachable: true },
  offered: string | null | undefined,
): AgentStatus {
  const current = host.versionId;
  const target = offered === undefined ? (previous?.target_version ?? current) : (offered ?? current);
  const finished = state === "Idle" && previous?.current_state === "MonitoringUpdate";
  const status: AgentStatus = {
    current_version: current,
    target_version: target,
    current_state: state,
    crash_count: finished ? 0 : (previous?.crash_count ?? 0),
    state_transition_failure_timestamp: finished ? null : (previous?.state_transition_failure_timestamp ?? null),
  };
  const reason = finished ? null : (previous?.failure_reason ?? null);
  if (reason !== null) status.failure_reason = reason;
  return status;
}

/** The ErrorReset status for a failed step: crash_count + 1, failure time now, and why. */
export function failedStatus(previous: AgentStatus, host: HostView, reason: string, now: number): AgentStatus {
  return {
    current_version: host.reachable ? host.versionId : previous.current_version,
    target_version: previous.target_version,
    current_state: "ErrorReset",
    crash_count: previous.crash_count + 1,
    state_transition_failure_timestamp: formatTimestamp(new Date(now)),
    failure_reason: reason,
  };
}

// ---- Helpers ----

function observation(host: HostView & { reachable: true }): BootObservation {
  return { bootId: host.bootId, versionId: host.versionId, statusInitialised: host.update !== null };
}

export function describeHost(host: HostView & { reachable: true }): string {
  const { update } = host;
  if (update === null) return `the host runs ${host.versionId} and has run no update action since it booted`;
  const staged = update.stagedVersion === null ? "nothing staged" : `${update.stagedVersion} staged`;
  return `the host runs ${host.versionId}, update state ${update.state} (${staged})`;
}

function lostUpdateHint(update: (HostView & { reachable: true })["update"]): string {
  if (update === null)
    return "; the host rebooted without the update (a failed boot rolls back), or it was never activated";
  if (update.state === "Staged") return "; the update was deactivated (cancelled on the host?)";
  return "";
}

function seconds(ms: number): string {
  return `${Math.round(ms / 1000)} s`;
}
