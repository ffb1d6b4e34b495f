// Canaries and soak (policy spec.canary, docs/design/canary.md): the managed nodes the selector picks update first;
// every other node waits to install a version until each canary has run that version, healthy, for the soak period.
//
// - "A version" is the one a waiting node is offered (status.target_version): each is decided on its own, so nodes
//   offered different versions are held or let go by what the canaries did with theirs.
// - A canary has proven a version once its update to it finished healthy: the controller writes
//   `completed-version`/`completed-at` on its shadow with the finish (health gates passed), and the soak runs from the
//   latest such time among the canaries. A canary that runs the version without that record (it booted with it, or
//   another controller updated it) has run it since its Node was created.
// - A canary failed the version when its last failure, still fresh, was an attempt at it (the halt's own notion,
//   halt.ts), or when it is quarantined. Nothing latches: a retry that succeeds proves the version and starts the
//   soak; a new release is decided afresh.
// - Everything is read from the shadows and Nodes as they are, so a restarted controller or a new leader computes
//   the same soak end.
import { formatTimestamp, parseTimestamp } from "../api/timestamps.ts";
import { MAX_SOAK } from "../api/update-policy-names.ts";
import {
  LabelSelectorError,
  formatLabelSelector,
  labelSelectorRequirements,
  matchesLabels,
  type LabelRequirement,
} from "./drain-plan-selector.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { isQuarantined, readFailures } from "./failures.ts";
import { freshFailure, sameVersionText as same } from "./halt.ts";
import type { LabelSelectorSpec } from "./health-gates.ts";
import { ANNOTATIONS, isManaged, type NodeView, type ShadowView } from "./model.ts";

/** The longest soak (the API server refuses more; checked again here for a CRD installed before its rule). */
export const MAX_SOAK_SECONDS = MAX_SOAK.seconds;
/** Canary nodes named in a message; the rest are counted. */
const NAMED = 5;

/** As written in the policy resource. */
export interface CanarySpec {
  selector: LabelSelectorSpec;
  soak: string;
}

export interface CanaryPolicy {
  readonly requirements: readonly LabelRequirement[];
  /** kubectl's text of the selector, for messages and status. */
  readonly selector: string;
  readonly soakSeconds: number;
}

/** Parses spec.canary (unknown: the API server's schema is checked again here). Null when unset or invalid. */
export function parseCanary(raw: unknown, where: string, errors: string[]): CanaryPolicy | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== "object" || Array.isArray(raw)) {
    errors.push(`${where} must be an object with a selector and a soak`);
    return null;
  }
  const { selector, soak } = raw as Record<string, unknown>;
  let requirements: LabelRequirement[] | null = null;
  if (typeof selector !== "object" || selector === null || Array.isArray(selector)) {
    errors.push(`${where}.selector must be a label selector (matchLabels and/or matchExpressions)`);
  } else {
    try {
      requirements = labelSelectorRequirements(selector);
      if (requirements.length === 0) {
        errors.push(`${where}.selector selects every node; name the canaries with matchLabels or matchExpressions`);
        requirements = null;
      }
    } catch (error) {
      if (!(error instanceof LabelSelectorError)) throw error;
      errors.push(`${where}.selector: ${error.message}`);
    }
  }
  let soakSeconds: number | null = null;
  if (typeof soak !== "string") {
    errors.push(`${where}.soak must be a duration such as "30m"`);
  } else {
    try {
      soakSeconds = parseDuration(soak);
      if (soakSeconds > MAX_SOAK_SECONDS) {
        errors.push(`${where}.soak: "${soak}" is longer than ${formatDuration(MAX_SOAK_SECONDS)}`);
        soakSeconds = null;
      }
    } catch (error) {
      errors.push(`${where}.soak: ${error instanceof Error ? error.message : String(error)}`);
    }
  }
  if (requirements === null || soakSeconds === null) return null;
  return { requirements, selector: formatLabelSelector(requirements), soakSeconds };
}

export function isCanary(node: NodeView, policy: CanaryPolicy): boolean {
  return isManaged(node) && matchesLabels(policy.requirements, node.labels);
}

export type CanaryPhase =
  /** Some canary has not yet finished its update to the version (or has not reported, or is not Ready). */
  | "Pending"
  /** Every canary runs the version, healthy; the soak has not ended. */
  | "Soaking"
  /** The soak ended: the other nodes may install the version. */
  | "Passed"
  /** A canary failed to install the version, or is quarantined. */
  | "Failed";

/** The canaries' verdict on one version. */
export interface CanaryRollout {
  readonly version: string;
  readonly phase: CanaryPhase;
  /** When the last canary finished healthy (Soaking, Passed); null otherwise or when no canary records it. */
  readonly soakStartedAt: Date | null;
  /** soakStartedAt + soak (Soaking, Passed). */
  readonly soakEndsAt: Date | null;
  /** The canaries that hold the phase (the failed ones, the pending ones); empty when Soaking or Passed. */
  readonly holding: readonly string[];
  readonly message: string;
}

/** The canary group as it stands: who is in it, and a verdict per version (computed on demand, once each). */
export class CanaryGroup {
  readonly policy: CanaryPolicy;
  /** The canary nodes' names, sorted. */
  readonly nodes: readonly string[];
  readonly #shadows: Map<string, ShadowView>;
  readonly #nodeViews: Map<string, NodeView>;
  readonly #quarantineAfter: number | null;
  readonly #now: Date;
  readonly #verdicts = new Map<string, CanaryRollout>();

  constructor(
    policy: CanaryPolicy,
    nodes: readonly NodeView[],
    shadows: readonly ShadowView[],
    quarantineAfterFailures: number | null,
    now: Date,
  ) {
    this.policy = policy;
    const canaries = nodes.filter((n) => isCanary(n, policy));
    this.nodes = canaries.map((n) => n.name).sort();
    this.#nodeViews = new Map(canaries.map((n) => [n.name, n]));
    this.#shadows = new Map(shadows.filter((s) => this.#nodeViews.has(s.nodeName)).map((s) => [s.nodeName, s]));
    this.#quarantineAfter = quarantineAfterFailures;
    this.#now = now;
  }

  has(nodeName: string): boolean {
    return this.#nodeViews.has(nodeName);
  }

  /** The verdict on `version`; null when no node is a canary (no canary phase). */
  verdict(version: string): CanaryRollout | null {
    if (this.nodes.length === 0) return null;
    let verdict = this.#verdicts.get(version);
    if (verdict === undefined) {
      verdict = this.#decide(version);
      this.#verdicts.set(version, verdict);
    }
    return verdict;
  }

  /** Every verdict computed so far, by version. */
  verdicts(): CanaryRollout[] {
    return [...this.#verdicts.values()].sort((a, b) => (a.version < b.version ? -1 : a.version > b.version ? 1 : 0));
  }

  #decide(version: string): CanaryRollout {
    const failed: string[] = [];
    const pending: string[] = [];
    const failedWhy: string[] = [];
    const pendingWhy: string[] = [];
    let soakStartedAt: Date | null = null;
    for (const name of this.nodes) {
      const state = this.#canaryState(name, version);
      if (state.kind === "failed") {
        failed.push(name);
        failedWhy.push(state.why);
      } else if (state.kind === "pending") {
        pending.push(name);
        pendingWhy.push(state.why);
      } else if (state.since !== null && (soakStartedAt === null || state.since > soakStartedAt)) {
        soakStartedAt = state.since;
      }
    }
    const soak = formatDuration(this.policy.soakSeconds);
    if (failed.length > 0) {
      return {
        version,
        phase: "Failed",
        soakStartedAt: null,
        soakEndsAt: null,
        holding: failed,
        message:
          `canary ${named(failed)} failed updating to ${version}: ${failedWhy.slice(0, NAMED).join("; ")}; the other ` +
          "nodes wait until every canary runs it healthy (a retry that succeeds) and the soak has passed",
      };
    }
    if (pending.length > 0) {
      return {
        version,
        phase: "Pending",
        soakStartedAt: null,
        soakEndsAt: null,
        holding: pending,
        message:
          `waiting for the canaries to run ${version} healthy, then a soak of ${soak}: ` +
          pendingWhy.slice(0, NAMED).join("; ") +
          (pending.length > NAMED ? `; and ${pending.length - NAMED} more` : ""),
      };
    }
    const endsAt = soakStartedAt === null ? null : new Date(soakStartedAt.getTime() + this.policy.soakSeconds * 1000);
    if (endsAt !== null && this.#now < endsAt) {
      return {
        version,
        phase: "Soaking",
        soakStartedAt,
        soakEndsAt: endsAt,
        holding: [],
        message:
          `${count(this.nodes.length, "canary", "canaries")} run ${version} healthy since ` +
          `${formatTimestamp(soakStartedAt ?? endsAt)}; soaking for ${soak} until ${formatTimestamp(endsAt)}`,
      };
    }
    return {
      version,
      phase: "Passed",
      soakStartedAt,
      soakEndsAt: endsAt,
      holding: [],
      message:
        `${count(this.nodes.length, "canary", "canaries")} ran ${version} healthy for the soak of ${soak}` +
        (endsAt === null ? "" : ` (ended ${formatTimestamp(endsAt)})`),
    };
  }

  #canaryState(name: string, version: string): CanaryState {
    const shadow = this.#shadows.get(name);
    const status = shadow?.status;
    if (shadow === undefined || status === undefined || status === null) {
      return { kind: "pending", why: `${name} has not reported (no agent status)` };
    }
    const record = readFailures(shadow);
    if (isQuarantined(record, this.#quarantineAfter)) {
      return { kind: "failed", why: `${name} is quarantined after ${record.failures} failures` };
    }
    const failure = freshFailure(shadow);
    if (failure !== null && same(failure.version, version)) {
      const at = failure.at === null ? "" : ` at ${formatTimestamp(failure.at)}`;
      return { kind: "failed", why: `${name} failed${at}` };
    }
    if (!same(status.current_version, version)) {
      return { kind: "pending", why: `${name} runs ${status.current_version}` };
    }
    const annotations = shadow.annotations ?? {};
    const completed = annotations[ANNOTATIONS.completedVersion];
    const completedAt = parseTimestamp(annotations[ANNOTATIONS.completedAt]);
    if (completed !== undefined && same(completed, version) && completedAt !== undefined) {
      return this.#ready(name, completedAt);
    }
    // Running it, but no finished update to it on record: in flight (health gates pending), or never updated by us.
    if (shadow.spec.state !== "Idle" || status.current_state !== "Idle") {
      return { kind: "pending", why: `${name} is finishing its update (${status.current_state})` };
    }
    return this.#ready(name, this.#nodeViews.get(name)?.createdAt ?? null);
  }

  /** A canary that runs the version healthy: its Node must be Ready too. */
  #ready(name: string, since: Date | null): CanaryState {
    if (this.#nodeViews.get(name)?.ready === false) return { kind: "pending", why: `${name} is not Ready` };
    return { kind: "proven", since };
  }
}

/** One canary's standing towards a version. `since`: when it began to run it healthy (null: unknown). */
type CanaryState =
  { kind: "failed"; why: string } | { kind: "pending"; why: string } | { kind: "proven"; since: Date | null };

function named(names: readonly string[]): string {
  const shown = names.slice(0, NAMED).join(", ");
  return names.length > NAMED ? `${shown} and ${names.length - NAMED} more` : shown;
}

function count(n: number, one: string, many: string): string {
  return `${n} ${n === 1 ? one : many}`;
}
