// Why a node does not start an update now: the one catalogue of reasons. Each code is a stable identifier (the
// `reason` label of brupop_nodes_not_started, the policy status's blocked counts, `brupop status -o json`); the
// entry says what the controller and the CLI do with it, so a new reason is added here once.
//
// - `blocks`: the node wants to update and something holds it back (a wait worth explaining: an Event once per
//   change, the policy status's blocked list, `brupop status`'s Blocked line). Not for nodes that need nothing
//   (up to date), are already moving (in progress) or have not reported yet.
// - `attention`: "person" when nothing changes until someone acts (a Warning Event, red in `brupop status`);
//   "policy" when the fleet's own policy holds the node (budget, window, pause, backoff); "none" otherwise.
// - `event`: the Event reason recorded for a blocking wait, or null when none is recorded.
// - `title`: the CLI's words for it.

export type ReasonAttention = "none" | "policy" | "person";

export interface ReasonInfo {
  readonly blocks: boolean;
  readonly attention: ReasonAttention;
  readonly event: string | null;
  readonly title: string;
}

export const NOT_STARTED = {
  "not-managed": { blocks: true, attention: "person", event: "NotManaged", title: "not managed by this controller" },
  // Seen only in `brupop status`: a labelled node whose agent never created its shadow. Not an Event: every node
  // is briefly in this state while the agent DaemonSet starts.
  "agent-missing": { blocks: false, attention: "person", event: null, title: "no agent has reported" },
  "no-status": { blocks: false, attention: "none", event: null, title: "the agent has not reported yet" },
  "invalid-status": {
    blocks: true,
    attention: "person",
    event: "InvalidStatus",
    title: "the agent's status is invalid",
  },
  "in-progress": { blocks: false, attention: "none", event: null, title: "updating" },
  stuck: { blocks: true, attention: "person", event: "NodeStuck", title: "stuck: the agent did not finish" },
  "up-to-date": { blocks: false, attention: "none", event: null, title: "up to date" },
  "downgrade-refused": { blocks: true, attention: "person", event: "DowngradeRefused", title: "downgrade refused" },
  quarantined: { blocks: true, attention: "person", event: "Quarantined", title: "quarantined after failures" },
  "opted-out": { blocks: true, attention: "policy", event: "OptedOut", title: "opted out by a node annotation" },
  // Karpenter deletes the node or, giving up, removes its taint: either way it ends without anyone acting.
  "karpenter-disrupting": {
    blocks: true,
    attention: "none",
    event: "KarpenterDisrupting",
    title: "Karpenter is disrupting the node",
  },
  "node-too-young": { blocks: true, attention: "policy", event: "NodeTooYoung", title: "younger than minNodeAge" },
  backoff: { blocks: true, attention: "policy", event: "BackingOff", title: "backing off after a failure" },
  // The fleet halted itself after too many failed nodes (src/core/halt.ts): only `brupop resume` ends it.
  halted: { blocks: true, attention: "person", event: "Halted", title: "rollout halted after failed nodes" },
  paused: { blocks: true, attention: "policy", event: "Paused", title: "updates paused" },
  "outside-window": { blocks: true, attention: "policy", event: "OutsideWindow", title: "outside the update window" },
  "budget-full": { blocks: true, attention: "policy", event: "BudgetFull", title: "update budget full" },
  // The controller runs on this node: it updates alone, once no other node is (src/core/select.ts).
  "controller-node-alone": {
    blocks: true,
    attention: "none",
    event: "ControllerNodeWaits",
    title: "the controller's node updates alone, after the others",
  },
  "topology-budget-full": {
    blocks: true,
    attention: "policy",
    event: "TopologyBudgetFull",
    title: "topology budget full (its zone or label value)",
  },
  // Policy spec.dryRun (src/core/plan.ts): the node would start now; the controller publishes the plan instead. No
  // Event per node: the policy's PlanPublished Event names them.
  "dry-run": { blocks: true, attention: "policy", event: null, title: "dry run: would start now" },
  // ---- Canaries, soak and the version pin (src/core/canary.ts, version-pin.ts) ----
  // The host offers a version past spec.maxVersion: held until it offers one at or below it.
  "version-pinned": {
    blocks: true,
    attention: "policy",
    event: "VersionPinned",
    title: "offered a version past maxVersion",
  },
  // The canaries have not all run the version yet: ends by itself as they update.
  "canary-pending": {
    blocks: true,
    attention: "policy",
    event: "CanaryPending",
    title: "waiting for the canaries to update",
  },
  // Carries the soak's end (`until`).
  soaking: { blocks: true, attention: "policy", event: "Soaking", title: "waiting for the canaries' soak" },
  // A canary failed the version (or is quarantined): a person looks, though a canary's retry that succeeds ends it.
  "canary-failed": { blocks: true, attention: "person", event: "CanaryFailed", title: "a canary failed this version" },
} as const satisfies Record<string, ReasonInfo>;

export type NotStartedCode = keyof typeof NOT_STARTED;

/** Every code, in catalogue order (metrics export each, zeros included). */
export const NOT_STARTED_CODES = Object.keys(NOT_STARTED) as NotStartedCode[];

export function reasonInfo(code: NotStartedCode): ReasonInfo {
  return NOT_STARTED[code];
}

/** Whether a wait for this reason is explained (Event, policy status, CLI). */
export function isBlocking(code: NotStartedCode): boolean {
  return NOT_STARTED[code].blocks;
}

/** The Event type for a blocking wait: a Warning when only a person can end it. */
export function eventType(code: NotStartedCode): "Normal" | "Warning" {
  return NOT_STARTED[code].attention === "person" ? "Warning" : "Normal";
}
