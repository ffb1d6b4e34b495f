// A node's consecutive failures, its crash backoff and quarantine (docs/design/state-machine.md#crash-backoff).
//
// brupop counts only agent-reported crashes (status.crash_count). We also count step timeouts and failed health
// gates and blocking hooks, which the controller detects and must record itself (annotations on the shadow), so a node that keeps timing
// out or failing its gates backs off and is quarantined just like one that keeps crashing. All counts return to zero
// after a successful update: the agent resets crash_count, and the controller removes its annotations when it writes
// the finishing spec. What the latest failure was is read from the same record (the agent's failure_reason for a
// crash, the controller's last-failure-reason annotation for its own), so that the halt can name it.
import { ANNOTATIONS, type ShadowView } from "./model.ts";
import { parseTimestamp } from "../api/timestamps.ts";

/** brupop's backoff unit: after n failures a node waits 2^n of these (FAILURE_BACKOFF_UNIT changes it). */
export const DEFAULT_BACKOFF_UNIT_MS = 60_000;

/** The backoff never exceeds one day, whatever the count. */
export const MAX_BACKOFF_MINUTES = 1440;

/**
 * brupop's backoff: 2^failures whole minutes, capped at {@link MAX_BACKOFF_MINUTES}. A negative or fractional count
 * (bad data) counts as its floor, at least 0.
 */
export function backoffMinutes(failures: number): number {
  const count = Number.isFinite(failures) && failures > 0 ? Math.floor(failures) : 0;
  // 2 ** count cannot overflow in JS (it becomes Infinity); the cap applies from count 11.
  return Math.min(2 ** count, MAX_BACKOFF_MINUTES);
}

export interface FailureRecord {
  /** status.crash_count, written by the agent. */
  crashCount: number;
  /** Step timeouts recorded by the controller. */
  timeouts: number;
  /** Failed health gates recorded by the controller (docs/design/health-gates.md). */
  gateFailures: number;
  /** Failed blocking hooks recorded by the controller (docs/design/hooks.md). */
  hookFailures: number;
  /** crashCount + timeouts + gateFailures + hookFailures: consecutive failures since the last successful update. */
  failures: number;
  /** The latest of the agent's failure timestamp, the controller's last timeout, failed gate and failed hook. */
  lastFailureAt: Date | null;
  /**
   * What that latest failure was, in a few words ("crashed: …", "timed out in RebootedIntoUpdate", "health gate
   * daemonset-pods failed"); null without failures.
   */
  lastFailure: string | null;
  /** The acknowledged count in effect (an acknowledgement above `failures` is stale and ignored). */
  acknowledged: number;
  /** failures − acknowledged: what the quarantine limit is compared with. */
  unacknowledged: number;
}

function countAnnotation(value: string | undefined): number {
  // Annotations are user-editable: anything but a plain count reads as 0 rather than failing the decision.
  return value !== undefined && /^\d{1,9}$/.test(value.trim()) ? Number(value.trim()) : 0;
}

export function readFailures(shadow: ShadowView): FailureRecord {
  const annotations = shadow.annotations ?? {};
  const rawCrash = shadow.status?.crash_count ?? 0;
  const crashCount = Number.isSafeInteger(rawCrash) && rawCrash > 0 ? rawCrash : 0;
  const timeouts = countAnnotation(annotations[ANNOTATIONS.timeouts]);
  const gateFailures = countAnnotation(annotations[ANNOTATIONS.gateFailures]);
  const hookFailures = countAnnotation(annotations[ANNOTATIONS.hookFailures]);
  const failures = crashCount + timeouts + gateFailures + hookFailures;
  const crashedAt = parseTimestamp(shadow.status?.state_transition_failure_timestamp) ?? null;
  const timedOutAt = timeouts > 0 ? (parseTimestamp(annotations[ANNOTATIONS.lastTimeout]) ?? null) : null;
  const gateFailedAt = gateFailures > 0 ? (parseTimestamp(annotations[ANNOTATIONS.lastGateFailure]) ?? null) : null;
  const hookFailedAt = hookFailures > 0 ? (parseTimestamp(annotations[ANNOTATIONS.lastHookFailure]) ?? null) : null;
  const lastFailureAt = latest(latest(latest(crashedAt, timedOutAt), gateFailedAt), hookFailedAt);
  const controllerAt = latest(latest(timedOutAt, gateFailedAt), hookFailedAt);
  // The agent's crash when it is the latest (or the only) failure; otherwise what the controller recorded with its own.
  const crashedLast = crashCount > 0 && (controllerAt === null || (crashedAt !== null && crashedAt >= controllerAt));
  const lastFailure =
    failures === 0
      ? null
      : crashedLast
        ? crashed(shadow.status?.failure_reason)
        : controllerFailure(annotations[ANNOTATIONS.lastFailureReason], [
            { at: timedOutAt, count: timeouts, what: "timed out" },
            { at: gateFailedAt, count: gateFailures, what: "a health gate failed" },
            { at: hookFailedAt, count: hookFailures, what: "a blocking hook failed" },
          ]);
  const ack = countAnnotation(annotations[ANNOTATIONS.acknowledgedFailures]);
  const acknowledged = ack <= failures ? ack : 0;
  return {
    crashCount,
    timeouts,
    gateFailures,
    hookFailures,
    failures,
    lastFailureAt,
    lastFailure,
    acknowledged,
    unacknowledged: failures - acknowledged,
  };
}

/** Words for a failure as a message names it; bounded, as an agent's reason or an annotation may be long. */
export const MAX_FAILURE_WORDS = 100;

function clip(text: string): string {
  const line = text.replace(/\s+/g, " ").trim();
  return line.length <= MAX_FAILURE_WORDS ? line : `${line.slice(0, MAX_FAILURE_WORDS - 1)}…`;
}

function crashed(reason: string | null | undefined): string {
  return clip(reason === null || reason === undefined || reason.trim() === "" ? "crashed" : `crashed: ${reason}`);
}

/** The controller's own words; without them (written by an older controller, or removed) the kind of the latest. */
function controllerFailure(
  words: string | undefined,
  kinds: readonly { at: Date | null; count: number; what: string }[],
): string {
  if (words !== undefined && words.trim() !== "") return clip(words);
  const counted = kinds.filter((k) => k.count > 0);
  const last = counted.reduce<(typeof counted)[number] | undefined>(
    (a, b) => (a === undefined || (b.at !== null && (a.at === null || b.at > a.at)) ? b : a),
    undefined,
  );
  return last?.what ?? "failed";
}

function latest(a: Date | null, b: Date | null): Date | null {
  return a === null ? b : b === null || a >= b ? a : b;
}

/**
 * When a failed node may start again, or null when it may start now. brupop allows a retry once the *whole* minutes
 * since the failure exceed min(2^failures, 1440); so the earliest instant is failure + (that + 1) minutes: with one
 * failure an update is refused at exactly 2 minutes (and at 2:59) and allowed at 3:00. `unitMs` scales the minute
 * (FAILURE_BACKOFF_UNIT; brupop's is one minute), the formula stays brupop's. No failure timestamp means no
 * backoff, whatever the count (brupop does the same); an unparsable one too (brupop panics on it): the retry either
 * succeeds or the agent writes a fresh, valid failure time, so a bad value cannot hold a node for ever.
 */
export function backoffUntil(
  failures: number,
  lastFailureAt: Date | null,
  now: Date,
  unitMs: number = DEFAULT_BACKOFF_UNIT_MS,
): Date | null {
  if (lastFailureAt === null) return null;
  const until = new Date(lastFailureAt.getTime() + (backoffMinutes(failures) + 1) * unitMs);
  return now < until ? until : null;
}

/** Quarantined once `limit` failures have not been acknowledged by a person; a null limit never quarantines. */
export function isQuarantined(record: FailureRecord, limit: number | null): boolean {
  return limit !== null && limit > 0 && record.unacknowledged >= limit;
}
