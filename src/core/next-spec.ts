// The next spec for one node: brupop's `determine_next_node_spec` with its faults fixed
// (docs/design/state-machine.md#next-spec).
//
// Differences from brupop, all deliberate:
// - Per-state timeouts are enforced. A node that has not reached spec.state within its timeout (measured from
//   spec.state_transition_timestamp) is reset to Idle, and the timeout is recorded on the shadow so that it backs off
//   and counts towards quarantine like a crash. brupop defines these timeouts and never uses them
//   (docs/design/state-machine.md#timeouts).
// - After `quarantineAfterFailures` unacknowledged failures a node is not started again until a person acknowledges
//   them (ANNOTATIONS.acknowledgedFailures).
// - A target lower than the current version is not started unless the policy allows downgrades
//   (docs/design/state-machine.md#differences-from-brupop).
// - A shadow already reset to Idle is left alone while its agent recovers; brupop rewrote it every 2 s. An agent that
//   has not recovered within the Idle timeout leaves its node stuck: reported, and counted against the budget only
//   while the node is disrupted (src/core/standing.ts).
// - Clearing a finished spec (Idle with a version → default) is an `advance`, not a start, so it needs no budget
//   and no window; brupop spent a scheduling pick on it
//   (docs/design/state-machine.md#differences-from-brupop).
// - Unparsable versions or timestamps (user-editable fields) give a decision, never an exception.
// - MonitoringUpdate holds until the health gates pass (brupop passes straight through: a TODO in its code). A failed
//   gate is a failed update: counted like a crash, and the node is rolled back to the version it ran before
//   through the usual steps (docs/design/health-gates.md).
// - Hooks (docs/design/hooks.md): before the drain is asked for, the pre-drain hooks are called; after the gates
//   passed, the post-reboot hooks. A blocking hook that fails fails the update like a crash (pre-drain: back to Idle,
//   not drained) or a failed gate (post-reboot: rolled back).
import { successor, type BrsState, type TimedState } from "../api/state-machine.ts";
import { formatTimestamp, parseTimestamp } from "../api/timestamps.ts";
import { formatDuration } from "./duration.ts";
import { backoffUntil, isQuarantined, readFailures } from "./failures.ts";
import {
  ANNOTATIONS,
  DEFAULT_SPEC,
  isDefaultSpec,
  type AnnotationPatch,
  type ShadowSpec,
  type ShadowStatus,
  type ShadowView,
} from "./model.ts";
import { compareSemver, parseSemver, sameVersion } from "../api/semver.ts";
import { isTimedState, stepDeadline, type NodeTimeouts } from "./timeouts.ts";
import type { GateVerdict, HealthGates } from "./health-gates.ts";
import { hookVerdict, phaseWords, recordAfterFinish, type HookCall, type HookPhase, type Hooks } from "./hooks.ts";

export const DEFAULT_QUARANTINE_AFTER_FAILURES = 5;

/** The part of the fleet policy that decides a single node. */
export interface NodePolicy {
  stateTimeouts: NodeTimeouts;
  /** Unacknowledged failures after which a node is quarantined; null never quarantines (brupop's behaviour). */
  quarantineAfterFailures: number | null;
  allowDowngrade: boolean;
  /** The crash backoff's unit: 2^failures of these (brupop: one minute, DEFAULT_BACKOFF_UNIT_MS). */
  backoffUnitMs: number;
  /** What MonitoringUpdate checks before the update counts as done (health-gates.ts). */
  healthGates: HealthGates;
  /** Webhooks before the drain and after the gates (hooks.ts). */
  hooks: Hooks;
}

/** `gate-failed`: a health gate failed after the reboot; the spec rolls the node back when it can. */
export type ResetCause = "crashed" | "timed-out" | "no-status" | "gate-failed" | "hook-failed";

export type KeepWhy =
  /** The agent has not reported a status yet. */
  | "no-status"
  /** Working towards spec.state within its timeout. */
  | "in-progress"
  /** Spec is Idle (after a reset or a finished update) and the agent has not reported Idle yet. */
  | "awaiting-agent"
  /**
   * As awaiting-agent, but past the Idle timeout: the node is stuck and a person should look. It uses budget only
   * while disrupted, and a Ready node still cordoned by our drain is released (src/core/standing.ts).
   */
  | "stuck"
  | "up-to-date"
  | "downgrade-refused"
  /** A version in status is not a semantic version. */
  | "invalid-status";

export type AdvanceStep =
  /** The agent reached spec.state; move to the next state. */
  | "next"
  /** MonitoringUpdate reached: back to Idle, failure bookkeeping cleared. */
  | "finish"
  /** Up to date: reset a finished spec to the default (Idle, null, null), as brupop does. */
  | "clear"
  /** spec.state_transition_timestamp is missing or invalid: stamp it so the timeout can run. */
  | "restamp"
  /** A rollback after a failed health gate reached its reboot: back to Idle, the failure kept. */
  | "rolled-back";

/**
 * What to do with one node. Kinds that carry a `spec` are writes (spec plus the annotation patch, in one update with
 * optimistic concurrency). A `start` is written only when selection grants it budget; the others are written
 * whenever they are decided. `reason` is meant for an Event and for the spec-reason annotation.
 */
export type NodeDecision =
  | { kind: "start"; spec: ShadowSpec; annotations: AnnotationPatch; reason: string; from: string; to: string }
  | { kind: "advance"; step: AdvanceStep; spec: ShadowSpec; annotations: AnnotationPatch; reason: string }
  | { kind: "reset"; cause: ResetCause; spec: ShadowSpec; annotations: AnnotationPatch; reason: string }
  /**
   * Nothing to write to the spec. `recheckAt`: when a timer could change that (a timeout), so the controller can
   * requeue. `hook`: a hook call is due; the controller makes it and records the outcome on the shadow.
   */
  | { kind: "keep"; why: KeepWhy; reason: string; recheckAt: Date | null; hook?: HookCall }
  /** Crash backoff: an update is wanted but may not start before `until`. */
  | { kind: "wait"; until: Date; reason: string }
  /** An update is wanted but too many failures are unacknowledged. */
  | { kind: "quarantined"; failures: number; reason: string };

/** The bookkeeping of one update attempt, which its end removes. */
const ATTEMPT_DONE: AnnotationPatch = {
  [ANNOTATIONS.previousVersion]: null,
  [ANNOTATIONS.updateStarted]: null,
  [ANNOTATIONS.rollbackTo]: null,
};

/** Removes the controller's failure bookkeeping: what a successful update does. */
const CLEARED_FAILURES: AnnotationPatch = {
  [ANNOTATIONS.timeouts]: null,
  [ANNOTATIONS.lastTimeout]: null,
  [ANNOTATIONS.gateFailures]: null,
  [ANNOTATIONS.lastGateFailure]: null,
  [ANNOTATIONS.hookFailures]: null,
  [ANNOTATIONS.lastHookFailure]: null,
  [ANNOTATIONS.lastFailureReason]: null,
  [ANNOTATIONS.acknowledgedFailures]: null,
  [ANNOTATIONS.rollbackFrom]: null,
  ...ATTEMPT_DONE,
};

function at(now: Date): string {
  return formatTimestamp(now);
}

function withReason(reason: string, extra: AnnotationPatch = {}): AnnotationPatch {
  return { ...extra, [ANNOTATIONS.specReason]: reason };
}

/**
 * `gates`: the health gates' verdict, evaluated by the caller for a node that reached MonitoringUpdate; without it
 * such a node is kept in progress (unless the policy has no gates: then it finishes, as brupop's does).
 */
export function decideNextSpec(shadow: ShadowView, policy: NodePolicy, now: Date, gates?: GateVerdict): NodeDecision {
  const { spec } = shadow;
  const status = shadow.status ?? null;

  // Rule 1 (docs/design/state-machine.md#next-spec): no status → default spec.
  if (status === null) {
    if (isDefaultSpec(spec))
      return { kind: "keep", why: "no-status", reason: "the agent has not reported yet", recheckAt: null };
    const reason = "no status from the agent; spec back to its default";
    return { kind: "reset", cause: "no-status", spec: DEFAULT_SPEC, annotations: withReason(reason), reason };
  }

  // Rule 2: the desired state is not reached yet.
  if (status.current_state !== spec.state) {
    if (spec.state === "Idle") return awaitAgent(spec, status, policy, now);
    if (status.current_state === "ErrorReset") {
      // The agent's own explanation goes into the reason, so the Event says what failed, not only that it did.
      const why = status.failure_reason ? `: ${clip(status.failure_reason, 400)}` : "";
      const reason = `agent failed while moving to ${spec.state} (crash count ${status.crash_count})${why}; back to Idle`;
      return {
        kind: "reset",
        cause: "crashed",
        spec: { state: "Idle", state_transition_timestamp: at(now), version: spec.version },
        annotations: withReason(reason),
        reason,
      };
    }
    if (!isTimedState(spec.state)) {
      // spec.state is ErrorReset (never written by a controller): rule 3 below would take it to Idle once reached;
      // until then there is nothing to time.
      return {
        kind: "keep",
        why: "in-progress",
        reason: `waiting for the agent to reach ${spec.state}`,
        recheckAt: null,
      };
    }
    return inProgress(shadow, spec.state, status.current_state, policy, now);
  }

  // Rule 3: the desired state is reached.
  if (spec.state === "Idle") return decideIdle(shadow, status, policy, now);
  if (spec.state === "MonitoringUpdate") return afterMonitoring(shadow, policy, now, gates);
  const rollback = isRollback(shadow);
  if (rollback && spec.state === "RebootedIntoUpdate") {
    // The rollback ran the version it went back to: done, with the failure that caused it still counted, and
    // rollback-from still naming the version that failed (until the next start), for the halt (halt.ts).
    const reason = `rolled back to ${spec.version ?? "(unknown version)"} after a failed health gate or post-reboot hook`;
    return {
      kind: "advance",
      step: "rolled-back",
      spec: { state: "Idle", state_transition_timestamp: at(now), version: spec.version },
      annotations: withReason(reason, ATTEMPT_DONE),
      reason,
    };
  }
  let hooksDone = "";
  if (spec.state === "StagedAndPerformedUpdate" && policy.hooks.preDrain.length > 0) {
    const hooks = hookPhase("preDrain", shadow, policy, now);
    if (typeof hooks !== "string") return hooks;
    hooksDone = `; ${hooks}`;
  }
  const next = successor(spec.state);
  const reason = `${spec.state} reached${hooksDone}; next ${next}${rollback ? ` (rolling back to ${spec.version ?? "?"})` : ""}`;
  return {
    kind: "advance",
    step: "next",
    spec: { state: next, state_transition_timestamp: at(now), version: spec.version },
    annotations: withReason(reason),
    reason,
  };
}

/** The spec installs the version a failed update rolls back to (the controller's own annotation says so). */
function isRollback(shadow: ShadowView): boolean {
  const to = shadow.annotations?.[ANNOTATIONS.rollbackTo];
  return to !== undefined && to === shadow.spec.version;
}

function afterMonitoring(
  shadow: ShadowView,
  policy: NodePolicy,
  now: Date,
  gates: GateVerdict | undefined,
): NodeDecision {
  const { spec } = shadow;
  const version = spec.version ?? "(unknown version)";
  if (policy.healthGates.gates.length > 0 && gates?.kind !== "passed") {
    // The gates' timeouts count from the spec's timestamp: without one they could not end.
    if (parseTimestamp(spec.state_transition_timestamp) === undefined) return restamp(spec, "MonitoringUpdate", now);
    if (gates === undefined) {
      return { kind: "keep", why: "in-progress", reason: "checking the health gates", recheckAt: null };
    }
    if (gates.kind === "failed")
      return failedAfterReboot(shadow, `health gate ${gates.gate}`, gates.reason, now, "gate");
    const waiting = gates.results.filter((r) => r.state !== "passed");
    const reason = `health gates after the update to ${version}: waiting for ${waiting
      .map((r) => `${r.gate} (${r.message})`)
      .join(", ")}`;
    return { kind: "keep", why: "in-progress", reason, recheckAt: gates.recheckAt };
  }
  let hooksDone = "";
  if (policy.hooks.postReboot.length > 0) {
    const hooks = hookPhase("postReboot", shadow, policy, now);
    if (typeof hooks !== "string") return hooks;
    hooksDone = `; ${hooks}`;
  }
  // A finished update clears our failure bookkeeping, as the agent clears crash_count on the same transition.
  const passed = policy.healthGates.gates.length > 0 ? "; health gates passed" : "";
  const reason = `update to ${version} complete${passed}${hooksDone}`;
  // The record of a healthy finish, which a canary's soak counts from (canary.ts): on the shadow, so any leader sees it.
  const completed: AnnotationPatch =
    spec.version === null ? {} : { [ANNOTATIONS.completedVersion]: spec.version, [ANNOTATIONS.completedAt]: at(now) };
  return {
    kind: "advance",
    step: "finish",
    spec: { state: "Idle", state_transition_timestamp: at(now), version: spec.version },
    annotations: withReason(reason, {
      ...CLEARED_FAILURES,
      ...tookSeconds(shadow, now),
      ...completed,
      ...recordAfterFinish(shadow),
    }),
    reason,
  };
}

/**
 * The hooks of one phase, from their record on the shadow (hooks.ts): a call due or a wait (keep), a blocking hook
 * failed (the update fails), or done (its words, for the reason of the step that follows).
 */
function hookPhase(phase: HookPhase, shadow: ShadowView, policy: NodePolicy, now: Date): NodeDecision | string {
  const { spec } = shadow;
  const since = spec.state_transition_timestamp;
  // A hook's record is keyed by the phase's timestamp: without one no record could be kept.
  if (since === null || parseTimestamp(since) === undefined) return restamp(spec, spec.state as TimedState, now);
  const version = spec.version ?? shadow.status?.target_version ?? "";
  const verdict = hookVerdict(policy.hooks[phase], shadow, { phase, since, version }, now);
  switch (verdict.kind) {
    case "call":
      return { kind: "keep", why: "in-progress", reason: verdict.reason, recheckAt: null, hook: verdict.call };
    case "waiting":
      return { kind: "keep", why: "in-progress", reason: verdict.reason, recheckAt: verdict.recheckAt };
    case "done":
      return verdict.reason;
    case "failed":
      return phase === "preDrain"
        ? hookFailedBeforeDrain(shadow, verdict.hook, verdict.message, now)
        : failedAfterReboot(shadow, `${phaseWords(phase)} hook ${verdict.hook}`, verdict.message, now, "hook");
  }
}

/** A failure the controller counts: `what` failed, in a few words, for the halt to name (failures.ts). */
function failureWords(what: string): AnnotationPatch {
  return { [ANNOTATIONS.lastFailureReason]: clip(what, 200) };
}

function countedHookFailure(shadow: ShadowView, what: string, now: Date): AnnotationPatch {
  const failures = readFailures(shadow).hookFailures + 1;
  return {
    [ANNOTATIONS.hookFailures]: String(failures),
    [ANNOTATIONS.lastHookFailure]: at(now),
    ...failureWords(`${what} failed`),
  };
}

/** A blocking pre-drain hook failed: the node is not drained; back to Idle, counted like a crash. */
function hookFailedBeforeDrain(shadow: ShadowView, hook: string, why: string, now: Date): NodeDecision {
  const { spec } = shadow;
  const to = spec.version ?? "(unknown version)";
  const reason = `pre-drain hook ${hook} failed before the update to ${to}: ${clip(why, 400)}; not drained, back to Idle`;
  return {
    kind: "reset",
    cause: "hook-failed",
    spec: { state: "Idle", state_transition_timestamp: at(now), version: spec.version },
    annotations: withReason(reason, countedHookFailure(shadow, `pre-drain hook ${hook}`, now)),
    reason,
  };
}

/**
 * A failed gate or post-reboot hook fails the update: counted (gate-failures or hook-failures, and the time) so that
 * the node backs off and counts towards quarantine, and rolled back to the version it ran before through the usual
 * steps, when that is known.
 */
function failedAfterReboot(
  shadow: ShadowView,
  what: string,
  why: string,
  now: Date,
  counter: "gate" | "hook",
): NodeDecision {
  const { spec } = shadow;
  const counted =
    counter === "gate"
      ? {
          [ANNOTATIONS.gateFailures]: String(readFailures(shadow).gateFailures + 1),
          [ANNOTATIONS.lastGateFailure]: at(now),
          ...failureWords(`${what} failed`),
        }
      : countedHookFailure(shadow, what, now);
  const failed = `${what} failed after the update to ${spec.version ?? "(unknown version)"}: ${clip(why, 400)}`;
  const previous = shadow.annotations?.[ANNOTATIONS.previousVersion];
  const current = shadow.status?.current_version;
  const to = previous !== undefined && parseSemver(previous) !== null && previous !== current ? previous : null;
  const reason =
    to === null
      ? `${failed}; not rolled back: the version it ran before is not known; back to Idle`
      : `${failed}; rolling back to ${to}`;
  return {
    kind: "reset",
    cause: counter === "gate" ? "gate-failed" : "hook-failed",
    spec:
      to === null
        ? { state: "Idle", state_transition_timestamp: at(now), version: spec.version }
        : { state: "StagedAndPerformedUpdate", state_transition_timestamp: at(now), version: to },
    annotations: withReason(
      reason,
      to === null
        ? counted
        : { ...counted, [ANNOTATIONS.rollbackTo]: to, [ANNOTATIONS.rollbackFrom]: spec.version ?? current ?? null },
    ),
    reason,
  };
}

/** How long the update took, for the plan's estimate (src/core/plan.ts); nothing when its start is not known. */
function tookSeconds(shadow: ShadowView, now: Date): AnnotationPatch {
  const started = parseTimestamp(shadow.annotations?.[ANNOTATIONS.updateStarted]);
  if (started === undefined || started > now) return {};
  return { [ANNOTATIONS.lastUpdateSeconds]: String(Math.round((now.getTime() - started.getTime()) / 1000)) };
}

function awaitAgent(spec: ShadowSpec, status: ShadowStatus, policy: NodePolicy, now: Date): NodeDecision {
  const deadline = stepDeadline("Idle", spec.state_transition_timestamp, policy.stateTimeouts);
  if (deadline === undefined) return restamp(spec, "Idle", now);
  const current = status.current_state;
  if (now >= deadline) {
    const lastWords = status.failure_reason ? `; its last failure: ${clip(status.failure_reason, 300)}` : "";
    return {
      kind: "keep",
      why: "stuck",
      reason:
        `stuck: the agent has not reported Idle within ${formatDuration(policy.stateTimeouts.Idle)} ` +
        `(it still reports ${current}${lastWords}); check the agent and the host API on this node`,
      // Nothing the controller waits for; the node's and the shadow's events bring it back.
      recheckAt: null,
    };
  }
  return {
    kind: "keep",
    why: "awaiting-agent",
    reason: `waiting for the agent to go from ${current} to Idle`,
    recheckAt: deadline,
  };
}

/** Without a start time no timeout can run; stamp one rather than guess (every wait must be bounded). */
function restamp(spec: ShadowSpec, timer: TimedState | "Idle", now: Date): NodeDecision {
  const reason = `spec.state_transition_timestamp is missing or invalid; restarting the ${timer} timeout`;
  return {
    kind: "advance",
    step: "restamp",
    spec: { ...spec, state_transition_timestamp: at(now) },
    annotations: withReason(reason),
    reason,
  };
}

function inProgress(
  shadow: ShadowView,
  step: TimedState,
  current: BrsState,
  policy: NodePolicy,
  now: Date,
): NodeDecision {
  const { spec } = shadow;
  const deadline = stepDeadline(step, spec.state_transition_timestamp, policy.stateTimeouts);
  if (deadline === undefined) return restamp(spec, step, now);
  const timeout = policy.stateTimeouts[step];
  if (now < deadline) {
    return {
      kind: "keep",
      why: "in-progress",
      reason: `moving to ${step} (agent reports ${current})`,
      recheckAt: deadline,
    };
  }
  const reason = `timed out in ${step} after ${formatDuration(timeout)} (agent still reports ${current}); back to Idle`;
  const timeouts = readFailures(shadow).timeouts + 1;
  return {
    kind: "reset",
    cause: "timed-out",
    spec: { state: "Idle", state_transition_timestamp: at(now), version: spec.version },
    annotations: withReason(reason, {
      [ANNOTATIONS.timeouts]: String(timeouts),
      [ANNOTATIONS.lastTimeout]: at(now),
      ...failureWords(`timed out in ${step}`),
    }),
    reason,
  };
}

function decideIdle(shadow: ShadowView, status: ShadowStatus, policy: NodePolicy, now: Date): NodeDecision {
  const { spec } = shadow;
  const current = parseSemver(status.current_version);
  const target = parseSemver(status.target_version);
  if (current === null || target === null) {
    const bad =
      current === null ? `current_version "${status.current_version}"` : `target_version "${status.target_version}"`;
    return { kind: "keep", why: "invalid-status", reason: `status.${bad} is not a semantic version`, recheckAt: null };
  }

  if (sameVersion(current, target)) {
    if (isDefaultSpec(spec)) {
      return { kind: "keep", why: "up-to-date", reason: `up to date at ${status.current_version}`, recheckAt: null };
    }
    const reason = `up to date at ${status.current_version}; clearing the finished spec`;
    // Up to date is a success, however it came about: the failure bookkeeping of this update ends here, or it
    // would count against the next one.
    return {
      kind: "advance",
      step: "clear",
      spec: DEFAULT_SPEC,
      annotations: withReason(reason, CLEARED_FAILURES),
      reason,
    };
  }

  if (compareSemver(target, current) < 0 && !policy.allowDowngrade) {
    return {
      kind: "keep",
      why: "downgrade-refused",
      reason: `target ${status.target_version} is lower than current ${status.current_version} and the policy does not allow downgrades`,
      recheckAt: null,
    };
  }

  const failures = readFailures(shadow);
  if (isQuarantined(failures, policy.quarantineAfterFailures)) {
    return {
      kind: "quarantined",
      failures: failures.failures,
      reason:
        `quarantined after ${failures.unacknowledged} unacknowledged failures; ` +
        `set annotation ${ANNOTATIONS.acknowledgedFailures}=${failures.failures} on ${shadow.name} to retry`,
    };
  }

  const until = backoffUntil(failures.failures, failures.lastFailureAt, now, policy.backoffUnitMs);
  if (until !== null) {
    return {
      kind: "wait",
      until,
      reason: `backing off after ${failures.failures} consecutive failures until ${formatTimestamp(until)}`,
    };
  }

  const reason = `updating from ${status.current_version} to ${status.target_version}`;
  return {
    kind: "start",
    // Pin the version now: the agent must install this one, not whatever the host picks later
    // (docs/design/state-machine.md#one-update).
    spec: { state: "StagedAndPerformedUpdate", state_transition_timestamp: at(now), version: status.target_version },
    // What a rollback would go back to, and since when pods may have been disrupted by this update.
    annotations: withReason(reason, {
      [ANNOTATIONS.previousVersion]: status.current_version,
      [ANNOTATIONS.updateStarted]: at(now),
      [ANNOTATIONS.rollbackTo]: null,
      [ANNOTATIONS.rollbackFrom]: null,
      [ANNOTATIONS.hooks]: null,
    }),
    reason,
    from: status.current_version,
    to: status.target_version,
  };
}

function clip(text: string, max: number): string {
  return text.length <= max ? text : `${text.slice(0, max - 1)}…`;
}
