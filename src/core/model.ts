// What the decisions read: minimal structural views of a BottlerocketShadow (wire field names, snake_case) and of a
// Node, plus the annotation and label names the decisions interpret. The controller maps its cache objects onto these.
import {
  ANNOTATION_ROLLBACK_TO,
  LABEL_UPDATER_INTERFACE_VERSION,
  UPDATER_INTERFACE_VERSION,
} from "../api/constants.ts";
import type { BrsState } from "../api/state-machine.ts";
import type { HaltMemory } from "./halt.ts";

export interface ShadowSpec {
  state: BrsState;
  /** The version the node is updating to; pinned from status.target_version when the update starts. */
  version: string | null;
  /** RFC 3339; when this desired state was set. Timeouts are measured from it. */
  state_transition_timestamp: string | null;
}

export interface ShadowStatus {
  current_version: string;
  target_version: string;
  current_state: BrsState;
  crash_count: number;
  state_transition_failure_timestamp?: string | null;
  /** The agent's explanation of its last failure (our addition to brupop's status). */
  failure_reason?: string | null;
}

export interface ShadowView {
  /** `brs-<node>`. */
  name: string;
  /** From the first owner reference. */
  nodeName: string;
  annotations?: Readonly<Record<string, string>>;
  spec: ShadowSpec;
  /** Absent until the agent first reports. */
  status?: ShadowStatus | null;
}

export interface NodeView {
  name: string;
  labels: Readonly<Record<string, string>>;
  annotations: Readonly<Record<string, string>>;
  unschedulable: boolean;
  /** The Ready condition: true, false, or null when unknown (no condition, or status Unknown). */
  ready: boolean | null;
  /** Cordoned by the operator's drain: the Node carries its drain annotation (ANNOTATION_DRAIN). */
  drainedByOperator: boolean;
  /** The keys of the Node's taints (a node another disruptor is taking away: disruptors.ts). */
  taintKeys?: readonly string[];
  /** metadata.creationTimestamp; null or absent when unknown. */
  createdAt?: Date | null;
}

/** What selection needs to see of the fleet at one instant. */
export interface FleetView {
  shadows: readonly ShadowView[];
  /** Nodes the controller knows; labelled nodes without a shadow are reported as "agent missing". */
  nodes: readonly NodeView[];
  /** `MY_NODE_NAME`: the controller's own node is started last. */
  controllerNodeName: string | null;
  /**
   * One-shot schedules only: when the controller last saw a trigger's session run dry (no node left to start).
   * A session is open while some fire time lies after this instant and at or before now. The controller sets it to
   * its start time (brupop waits for the next trigger after a restart) and to `now` whenever selection reports
   * `sessionDrained`. Omitted means "now": no session is open.
   */
  triggerConsumedAt?: Date;
  /** The automatic halt's memory (src/core/halt.ts): the policy's status and resume annotation. Omitted: none. */
  halt?: HaltMemory;
}

/** A merge patch for metadata.annotations: a string sets, null removes. */
export type AnnotationPatch = Readonly<Record<string, string | null>>;

/**
 * Annotation names. Nodes carry what a person sets about the node; shadows carry the failure bookkeeping that the
 * controller keeps because it cannot write status (status belongs to the agent).
 */
export const ANNOTATIONS = {
  /** Node, set by a person: `"true"` keeps the node from starting updates (in-flight updates finish). */
  nodePaused: "brupop.bottlerocket.aws/paused",
  /** Shadow, controller: consecutive step timeouts since the last successful update (decimal). */
  timeouts: "brupop.bottlerocket.aws/timeouts",
  /** Shadow, controller: RFC 3339 time of the last timeout; backoff counts from it like from a crash. */
  lastTimeout: "brupop.bottlerocket.aws/last-timeout",
  /**
   * Shadow, controller, written with each failure it counts (timeout, failed gate, failed blocking hook): what failed,
   * in a few words ("health gate daemonset-pods failed"), for the automatic halt to name (src/core/halt.ts).
   */
  lastFailureReason: "brupop.bottlerocket.aws/last-failure-reason",
  /**
   * Shadow, set by a person (or `brupop unquarantine`): the failure count already looked at. A node is quarantined
   * once its failures beyond this number reach the policy's limit; writing the current count releases it.
   */
  acknowledgedFailures: "brupop.bottlerocket.aws/acknowledged-failures",
  /** Shadow, controller: why the current spec was written (the visible reason for a cordon or a reset). */
  specReason: "brupop.bottlerocket.aws/spec-reason",
  /**
   * Policy, set by `brupop resume`: a new value (the time of the request) lifts an automatic halt, and failures from
   * before the controller handled it no longer count (src/core/halt.ts). Only a change of value matters.
   */
  resumeRequested: "brupop.bottlerocket.aws/resume-requested-at",
  /** Shadow, controller, written with a start: the version the node ran before (what a rollback goes back to). */
  previousVersion: "brupop.bottlerocket.aws/previous-version",
  /** Shadow, controller, written with a start: when the update started (RFC 3339). */
  updateStarted: "brupop.bottlerocket.aws/update-started",
  /** Shadow, controller: failed health gates since the last successful update (decimal); counted like crashes. */
  gateFailures: "brupop.bottlerocket.aws/gate-failures",
  /** Shadow, controller: RFC 3339 time of the last failed health gate; backoff counts from it. */
  lastGateFailure: "brupop.bottlerocket.aws/last-gate-failure",
  /**
   * Shadow, controller, written with the spec that acts on the health gates' outcome (the finish or the rollback): the
   * outcome (JSON: status, the message's first words, observedGeneration), then written whole as the UpdateHealthy
   * condition; a crash between the two is made good from it (health-gates.ts formatOutcome).
   */
  updateHealthy: "brupop.bottlerocket.aws/update-healthy",
  /**
   * Shadow, controller, read by the agent: the spec installs this older version to roll back a failed update, so the
   * agent may pin the host's version-lock to it while it stages it (docs/design/health-gates.md#rollback).
   */
  rollbackTo: ANNOTATION_ROLLBACK_TO,
  /** Shadow, controller, with rollback-to: the version whose health gate failed (what the halt counts it against). */
  rollbackFrom: "brupop.bottlerocket.aws/rollback-from",
  /**
   * Shadow, controller, written when an update finishes: how long it took from its start, in whole seconds. What
   * `brupop plan` and a dry run assume of the next updates (src/core/plan.ts).
   */
  lastUpdateSeconds: "brupop.bottlerocket.aws/last-update-seconds",
  // ---- Hooks (docs/design/hooks.md) ----
  /** Shadow, controller: the calls of the pre-drain and post-reboot hooks of the current update (JSON). */
  hooks: "brupop.bottlerocket.aws/hooks",
  /** Shadow, controller: failed blocking hooks since the last successful update (decimal); counted like crashes. */
  hookFailures: "brupop.bottlerocket.aws/hook-failures",
  /** Shadow, controller: RFC 3339 time of the last failed blocking hook; backoff counts from it. */
  lastHookFailure: "brupop.bottlerocket.aws/last-hook-failure",
  // ---- Canaries and soak (src/core/canary.ts) ----
  /** Shadow, controller, written with a finish (health gates passed): the version the update installed. */
  completedVersion: "brupop.bottlerocket.aws/completed-version",
  /** Shadow, controller, with completed-version: when the update finished healthy (RFC 3339); the soak counts from it. */
  completedAt: "brupop.bottlerocket.aws/completed-at",
} as const;

/** The controller's environment variable with extra label selector terms for the nodes it manages. */
export const MANAGED_NODE_SELECTOR_ENV = "MANAGED_NODE_SELECTOR";

/** The managed-node label selector, with the configured extra terms (`MANAGED_NODE_SELECTOR`). */
export function managedNodeSelector(extra: string | null): string {
  const base = `${LABEL_UPDATER_INTERFACE_VERSION}=${UPDATER_INTERFACE_VERSION}`;
  return extra === null ? base : `${base},${extra}`;
}

/** Managed: labelled `bottlerocket.aws/updater-interface-version=2.0.0`, exactly (brupop 1.4). */
export function isManaged(node: NodeView): boolean {
  return node.labels[LABEL_UPDATER_INTERFACE_VERSION] === UPDATER_INTERFACE_VERSION;
}

export function isDefaultSpec(spec: ShadowSpec): boolean {
  return spec.state === "Idle" && spec.version === null && spec.state_transition_timestamp === null;
}

export const DEFAULT_SPEC: ShadowSpec = { state: "Idle", version: null, state_transition_timestamp: null };
