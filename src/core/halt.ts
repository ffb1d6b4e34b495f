// The automatic halt (policy spec.maxFailedNodes): when more nodes than the limit have failed in the current rollout,
// no new update starts until a person resumes; nodes already updating go on (docs/design/halt.md).
//
// - A failure is whatever failures.ts counts (agent-reported failures, step timeouts, failed health gates): a node's
//   failure is seen when its failure record shows one newer than the last one seen of it, while the record is fresh
//   (the spec back at Idle after the reset, the agent reporting ErrorReset, or a failed health gate being rolled back,
//   its rollback-from annotation naming the version), so that the version it failed to install is known, and what
//   failed (the record's words: "health gate daemonset-pods failed", "timed out in RebootedIntoUpdate", "crashed").
// - A node has failed in the current rollout when the last failure seen of it was an attempt to install the version
//   it is offered now (status.target_version) and happened after the last resume.
// - The last failure seen of each node lives in the policy status (lastFailures): a later success clears the node's
//   own record, and a new controller must know it too.
// - A halt holds until a resume (the Halted condition is the latch): `brupop resume` writes a new value to the
//   policy's resume annotation; the controller records that value and its own time (countingSince), and failures
//   from before then no longer count.
import type { Condition } from "../api/bottlerocket-shadow.ts";
import { parseSemver, sameVersion } from "../api/semver.ts";
import { formatTimestamp, parseTimestamp } from "../api/timestamps.ts";
import type { UpdatePolicyStatus } from "../api/update-policy.ts";
import { BudgetError, describeBudget, parseBudget, type UpdateBudget } from "./budget.ts";
import { readFailures } from "./failures.ts";
import { ANNOTATIONS, type ShadowView } from "./model.ts";

export const HALTED_CONDITION = "Halted";
/** The policy field, as messages name it. */
const FIELD = "spec.maxFailedNodes";
/** Failures kept in the policy status; one per node, so only a fleet larger than this forgets any. */
export const MAX_FAILURES_RECORDED = 1000;
/** Failed nodes listed in the status (their count is always there). */
export const MAX_FAILED_NODES_LISTED = 100;
/** Failed nodes named, each with what failed, in the condition and the Event (short: the rest are counted). */
export const MAX_FAILED_NODES_NAMED = 5;

/** How many failed nodes the rollout tolerates: a count, or a percentage of the managed nodes. */
export type FailureLimit = Exclude<UpdateBudget, { kind: "unlimited" }>;

/** The last failure seen of one node. */
export interface FailureSeen {
  readonly node: string;
  /** The version it failed to install. */
  readonly version: string;
  readonly at: Date;
  /** What failed, in a few words (failures.ts); null when not known (recorded by an older controller). */
  readonly reason: string | null;
}

/** What earlier passes left in the cluster (the policy's status and its resume annotation). */
export interface HaltMemory {
  /** Whether a halt status was recorded at all (spec.maxFailedNodes was in force before). */
  readonly recorded: boolean;
  readonly lastFailures: readonly FailureSeen[];
  /** The Halted condition is True. */
  readonly halted: boolean;
  readonly failedNodes: readonly string[];
  readonly countingSince: Date | null;
  /** The resume request last handled. */
  readonly resumeHandled: string | null;
  /** The policy's resume annotation now; null when absent. */
  readonly resumeRequested: string | null;
}

export const NO_HALT_MEMORY: HaltMemory = {
  recorded: false,
  lastFailures: [],
  halted: false,
  failedNodes: [],
  countingSince: null,
  resumeHandled: null,
  resumeRequested: null,
};

export interface HaltDecision {
  /** spec.maxFailedNodes as written ("2", "10%"). */
  readonly maxFailedNodes: string;
  /** Failed nodes tolerated now; more halt. */
  readonly limit: number;
  /** The nodes failed in the current rollout, by name (while halted, every node failed since the halt began too). */
  readonly failedNodes: readonly string[];
  /** The versions they failed to install. */
  readonly versions: readonly string[];
  /** What failed on each of the failed nodes whose failure is known, by node name. */
  readonly reasons: ReadonlyMap<string, string>;
  readonly halted: boolean;
  /** The halt began in this decision. */
  readonly tripped: boolean;
  /** A resume request was handled in this decision: record it before starting anything. */
  readonly resumed: boolean;
  readonly countingSince: Date | null;
  readonly resumeHandled: string | null;
  readonly lastFailures: readonly FailureSeen[];
}

/**
 * Parses spec.maxFailedNodes (an unknown value: the API server's schema is checked again here, for a CRD installed
 * before the field existed). Null when unset or invalid (an error naming the field is added then).
 */
export function parseFailureLimit(raw: unknown, where: string, errors: string[]): FailureLimit | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== "number" && typeof raw !== "string") {
    errors.push(`${where} must be a number of nodes or a percentage such as "10%"`);
    return null;
  }
  try {
    const limit = parseBudget(raw);
    if (limit.kind !== "unlimited") return limit;
    errors.push(`${where}: "unlimited" would never halt; remove the field instead`);
  } catch (error) {
    if (!(error instanceof BudgetError)) throw error;
    errors.push(`${where}: ${error.message}`);
  }
  return null;
}

/** Failed nodes tolerated: the count, or the percentage of the managed nodes rounded down (0 halts at the first). */
export function failureLimit(limit: FailureLimit, managedNodes: number): number {
  return limit.kind === "count" ? limit.max : Math.floor((limit.percent * managedNodes) / 100);
}

/** The memory of earlier passes, read from the policy object (user-editable: anything unreadable is left out). */
export function readHaltMemory(
  policy:
    { metadata?: { annotations?: Readonly<Record<string, string>> }; status?: UpdatePolicyStatus } | null | undefined,
): HaltMemory {
  const requested = policy?.metadata?.annotations?.[ANNOTATIONS.resumeRequested];
  const resumeRequested = requested === undefined || requested === "" ? null : requested;
  const halt = policy?.status?.halt;
  if (halt === undefined) return { ...NO_HALT_MEMORY, resumeRequested };
  const lastFailures: FailureSeen[] = [];
  for (const entry of halt.lastFailures) {
    const at = parseTimestamp(entry.at);
    const reason = typeof entry.reason === "string" && entry.reason !== "" ? entry.reason : null;
    if (at !== undefined) lastFailures.push({ node: entry.node, version: entry.version, at, reason });
  }
  const condition = policy?.status?.conditions?.find((c) => c.type === HALTED_CONDITION);
  return {
    recorded: true,
    lastFailures,
    halted: condition?.status === "True",
    failedNodes: halt.failedNodes,
    countingSince: parseTimestamp(halt.countingSince) ?? null,
    resumeHandled: halt.resumeRequest ?? null,
    resumeRequested,
  };
}

/** brupop's "same version" for two texts; texts that are not versions are compared as they are. */
export function sameVersionText(a: string, b: string): boolean {
  const pa = parseSemver(a);
  const pb = parseSemver(b);
  return pa !== null && pb !== null ? sameVersion(pa, pb) : a === b;
}

/**
 * The failure the node's record shows, if it is fresh enough to tell the version it failed to install: the spec is
 * back at Idle (after the reset, still naming that version) or the agent reports ErrorReset. A record seen only
 * during a later attempt is an older failure, whose version that attempt no longer names.
 */
export function freshFailure(shadow: ShadowView): { version: string; at: Date | null; reason: string | null } | null {
  const status = shadow.status;
  if (status === undefined || status === null) return null;
  const record = readFailures(shadow);
  if (record.failures === 0) return null;
  // A failed health gate being rolled back: the spec names the older version, the annotation the one that failed.
  const rolledBackFrom = shadow.annotations?.[ANNOTATIONS.rollbackFrom];
  const { lastFailureAt: at, lastFailure: reason } = record;
  if (rolledBackFrom !== undefined) return { version: rolledBackFrom, at, reason };
  if (shadow.spec.state !== "Idle" && status.current_state !== "ErrorReset") return null;
  return { version: shadow.spec.version ?? status.target_version, at, reason };
}

function byName(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

export function decideHalt(
  limitSpec: FailureLimit,
  shadows: readonly ShadowView[],
  managedNodes: number,
  memory: HaltMemory,
  now: Date,
): HaltDecision {
  // A resume request is new when it differs from the one handled; one found when the halt is first set up was made
  // before the halt existed, and only marks where the next one must differ.
  const resumed = memory.recorded && memory.resumeRequested !== null && memory.resumeRequested !== memory.resumeHandled;
  const countingSince = resumed ? now : memory.countingSince;
  const resumeHandled = memory.recorded
    ? resumed
      ? memory.resumeRequested
      : memory.resumeHandled
    : memory.resumeRequested;
  const wasHalted = memory.recorded && memory.halted && !resumed;

  const seen = new Map(memory.lastFailures.map((f) => [f.node, f]));
  const byNode = new Map(shadows.map((s) => [s.nodeName, s]));
  for (const shadow of shadows) {
    const failure = freshFailure(shadow);
    if (failure === null) continue;
    const previous = seen.get(shadow.nodeName);
    if (previous !== undefined && (failure.at === null || failure.at <= previous.at)) continue; // seen already
    if (countingSince !== null && (failure.at === null || failure.at <= countingSince)) continue; // before the resume
    seen.set(shadow.nodeName, {
      node: shadow.nodeName,
      version: failure.version,
      at: failure.at ?? now,
      reason: failure.reason,
    });
  }

  const counts = (f: FailureSeen): boolean => {
    const target = byNode.get(f.node)?.status?.target_version;
    return (
      target !== undefined && sameVersionText(f.version, target) && (countingSince === null || f.at > countingSince)
    );
  };
  const counted = [...seen.values()].filter(counts);
  // Kept: what counts, and what the node's own record still shows (so that it is not taken for a new failure).
  const kept = [...seen.values()]
    .filter((f) => {
      const shadow = byNode.get(f.node);
      return shadow !== undefined && (counts(f) || readFailures(shadow).failures > 0);
    })
    .sort((a, b) => b.at.getTime() - a.at.getTime() || byName(a.node, b.node))
    .slice(0, MAX_FAILURES_RECORDED)
    .sort((a, b) => byName(a.node, b.node));

  const limit = failureLimit(limitSpec, managedNodes);
  const halted = wasHalted || counted.length > limit;
  const names = new Set(counted.map((f) => f.node));
  if (wasHalted) for (const node of memory.failedNodes) names.add(node);
  const failedNodes = [...names].sort(byName);
  const versions = [...new Set(failedNodes.flatMap((node) => seen.get(node)?.version ?? []))].sort(byName);
  const reasons = new Map<string, string>();
  for (const node of failedNodes) {
    const reason = seen.get(node)?.reason ?? null;
    if (reason !== null) reasons.set(node, reason);
  }
  return {
    maxFailedNodes: describeBudget(limitSpec),
    limit,
    failedNodes,
    versions,
    reasons,
    halted,
    tripped: halted && !wasHalted,
    resumed,
    countingSince,
    resumeHandled,
    lastFailures: kept,
  };
}

function nodes(count: number): string {
  return `${count} node${count === 1 ? "" : "s"}`;
}

/**
 * The failed nodes, each with what failed ("bottlerocket-2: health gate daemonset-pods failed; bottlerocket-3: timed
 * out in RebootedIntoUpdate"), at most `max` of them, then how many more. Shared with `brupop status`.
 */
export function describeFailedNodes(
  failedNodes: readonly string[],
  reasons: ReadonlyMap<string, string>,
  max: number = MAX_FAILED_NODES_NAMED,
): string {
  const shown = failedNodes.slice(0, max).map((node) => {
    const reason = reasons.get(node);
    return reason === undefined ? node : `${node}: ${reason}`;
  });
  const more = failedNodes.length - shown.length;
  return `${shown.join("; ")}${more > 0 ? ` and ${more} more` : ""}`;
}

function namesOf(decision: HaltDecision): string {
  return describeFailedNodes(decision.failedNodes, decision.reasons);
}

function failedUpdating(decision: HaltDecision): string {
  const versions = decision.versions.length === 0 ? "" : ` updating to ${decision.versions.join(", ")}`;
  const since =
    decision.countingSince === null ? "" : ` since the resume at ${formatTimestamp(decision.countingSince)}`;
  return `${nodes(decision.failedNodes.length)} failed${versions}${since}`;
}

/** Why a waiting node does not start (one line, the same for every node while the halt holds). */
export function haltedReason(decision: HaltDecision): string {
  return (
    `updates halted: ${failedUpdating(decision)}, more than ${FIELD} allows (${decision.limit}); ` +
    "brupop resume lets updates start again"
  );
}

/** The policy's Halted condition. */
export function haltCondition(decision: HaltDecision): Pick<Condition, "status" | "reason" | "message"> {
  if (decision.halted) {
    return {
      status: "True",
      reason: "TooManyFailedNodes",
      message:
        `Updates halted: ${failedUpdating(decision)}, more than ${FIELD} allows (${decision.limit}): ` +
        `${namesOf(decision)}. Nodes already updating finish; no other node starts. Find out why they failed ` +
        "(brupop explain <node>), then run brupop resume: failures from before it no longer count.",
    };
  }
  return {
    status: "False",
    reason: "FailuresWithinLimit",
    message:
      `${failedUpdating(decision)} in this rollout; the rollout halts when more than ${decision.limit} ` +
      `(${FIELD} ${decision.maxFailedNodes}) have`,
  };
}

/** status.halt. */
export function haltStatus(decision: HaltDecision): NonNullable<UpdatePolicyStatus["halt"]> {
  return {
    maxFailedNodes: decision.maxFailedNodes,
    limit: decision.limit,
    failed: decision.failedNodes.length,
    failedNodes: decision.failedNodes.slice(0, MAX_FAILED_NODES_LISTED),
    ...(decision.countingSince === null ? {} : { countingSince: formatTimestamp(decision.countingSince) }),
    ...(decision.resumeHandled === null ? {} : { resumeRequest: decision.resumeHandled }),
    lastFailures: decision.lastFailures.map((f) => ({
      node: f.node,
      version: f.version,
      at: formatTimestamp(f.at),
      ...(f.reason === null ? {} : { reason: f.reason }),
    })),
  };
}
