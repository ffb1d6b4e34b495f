// Carries out one node's drain: cordon, plan (src/core/drain-plan.ts), evict through the Eviction API with bounded
// concurrency, wait until every evicted pod is gone, all within one deadline. On timeout it stops and reports which
// pods were still there and why (with the budgets that refused them); what to do then is the caller's decision.
//
// Differences from brupop 1.4 (reference §5): an overall deadline (brupop waited for ever), a failed eviction fails
// the drain (brupop logged it and reported success), evictions carry a uid precondition and waits are uid-aware
// (a recreated StatefulSet pod with the same name does not hold the drain), and deletion is observed with one LIST
// of the node's pods per poll instead of one GET per pod.
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { planDrain, type DrainPod, type PodRef, type SkippedPod } from "../../core/drain-plan.ts";
import type { LabelRequirement } from "../../core/drain-plan-selector.ts";
import { classifyEviction, type EvictionOutcome } from "./eviction.ts";

/** The Kubernetes calls a drain makes (drain/kube.ts implements them with client-node). */
export interface DrainKube {
  cordon(nodeName: string): Promise<void>;
  /** Every pod bound to the node, in all namespaces. */
  listPods(nodeName: string): Promise<DrainPod[]>;
  /** POST the pod's eviction subresource, with a uid precondition; throws the API error. */
  evict(pod: PodRef, gracePeriodSeconds: number | undefined): Promise<void>;
  /** Names of the PodDisruptionBudgets in the pod's namespace whose selector matches it. */
  budgetsFor(pod: DrainPod): Promise<string[]>;
}

export interface DrainOptions {
  /** Overall bound for cordon + evictions + waiting. */
  timeoutMs: number;
  /** Eviction requests in flight at once (brupop: 5). */
  concurrency: number;
  /** deleteOptions.gracePeriodSeconds for every eviction; absent keeps each pod's own. */
  gracePeriodSeconds?: number;
  podSelector?: readonly LabelRequirement[];
  skipWaitForDeleteTimeoutSeconds?: number;
  /** Pause between attempts at an eviction a budget refused (brupop: 5 s). */
  blockedRetryMs: number;
  /** Longest pause between checks for deleted pods (brupop: 5 s); the first checks come sooner. */
  deletionPollMs: number;
  /** Exponential backoff for transient errors. */
  backoffMinMs: number;
  backoffMaxMs: number;
}

export const DEFAULT_DRAIN_OPTIONS: DrainOptions = {
  timeoutMs: 10 * 60_000,
  concurrency: 5,
  blockedRetryMs: 5_000,
  deletionPollMs: 2_000,
  backoffMinMs: 100,
  backoffMaxMs: 20_000,
};

export type DrainPhase = "cordoning" | "evicting" | "drained" | "timed-out" | "failed" | "cancelled";
export type PodDrainState = "pending" | "blocked" | "terminating" | "gone" | "failed";

export interface PodProgress extends PodRef {
  state: PodDrainState;
  /** Why it is blocked or failed. */
  message?: string;
  /** PodDisruptionBudgets that refused its eviction. */
  budgets?: string[];
  attempts: number;
}

/** A drain as the status route and logs show it. */
export interface DrainStatus {
  node: string;
  phase: DrainPhase;
  startedAt: string;
  finishedAt?: string;
  /** One line: what happened or what holds the drain. */
  message: string;
  /** Pods the drain evicts or waits for. */
  pods: PodProgress[];
  /** Pods it leaves alone, with reasons. */
  skipped: SkippedPod[];
}

export const isFinished = (phase: DrainPhase): boolean =>
  phase === "drained" || phase === "timed-out" || phase === "failed" || phase === "cancelled";

/** Pods still on the node when the drain stopped, with the budgets that held them. */
export function blockersOf(status: DrainStatus): PodProgress[] {
  return status.pods.filter((p) => p.state !== "gone");
}

function describeBlockers(pods: readonly PodProgress[]): string {
  const shown = pods.slice(0, 5).map((p) => {
    if (p.budgets?.length) {
      // Kubernetes' refusal repeats the budget's name around the one useful part: "(… needs 2 healthy pods and has 2
      // currently)". Kept short, so the reason still names every budget after the agent and the Event clip it.
      const detail = /needs \d+ healthy pods? and has \d+ currently/.exec(p.message ?? "")?.[0];
      return `${p.namespace}/${p.name} ${p.state} by PodDisruptionBudget ${p.budgets.join(", ")}${detail ? ` (${detail})` : ""}`;
    }
    return `${p.namespace}/${p.name} ${p.state}${p.message ? `: ${p.message}` : ""}`;
  });
  return shown.join("; ") + (pods.length > 5 ? `; and ${pods.length - 5} more` : "");
}

/** A counting semaphore: bounds eviction requests in flight, not the per-pod retry loops. */
function semaphore(size: number): <T>(task: () => Promise<T>) => Promise<T> {
  let free = Math.max(1, size);
  const waiting: (() => void)[] = [];
  return async (task) => {
    if (free > 0) free--;
    else await new Promise<void>((resolve) => waiting.push(resolve));
    try {
      return await task();
    } finally {
      const next = waiting.shift();
      if (next) next();
      else free++;
    }
  };
}

/** Resolves after `ms`, or early (false) when the signal aborts. */
async function pause(ms: number, signal: AbortSignal): Promise<boolean> {
  try {
    await sleep(ms, undefined, { signal });
    return true;
  } catch {
    return false;
  }
}

export interface DrainRun {
  node: string;
  kube: DrainKube;
  options: DrainOptions;
  log: Logger;
  /** Aborting it cancels the drain (shutdown, uncordon); `signal.reason` becomes the message. */
  signal: AbortSignal;
  /** Called after every change of the status (the object is live; copy it to keep it). */
  onUpdate?: (status: DrainStatus) => void;
  now?: () => Date;
}

export async function drainNode(run: DrainRun): Promise<DrainStatus> {
  const { node, kube, options, log } = run;
  const now = run.now ?? (() => new Date());
  const status: DrainStatus = {
    node,
    phase: "cordoning",
    startedAt: now().toISOString(),
    message: "cordoning",
    pods: [],
    skipped: [],
  };
  const update = () => run.onUpdate?.(status);
  const deadline = AbortSignal.timeout(options.timeoutMs);
  const stop = AbortSignal.any([run.signal, deadline]);
  const finish = (phase: DrainPhase, message: string): DrainStatus => {
    status.phase = phase;
    status.message = message;
    status.finishedAt = now().toISOString();
    update();
    return status;
  };
  let setupError = "";
  const stopped = (): DrainStatus => {
    const blockers = blockersOf(status);
    const during = status.phase === "cordoning" ? ` while cordoning${setupError ? ` (${setupError})` : ""}` : "";
    if (run.signal.aborted) {
      const reason: unknown = run.signal.reason;
      return finish("cancelled", `cancelled${during}: ${reason instanceof Error ? reason.message : String(reason)}`);
    }
    return finish(
      "timed-out",
      `not drained after ${Math.round(options.timeoutMs / 1000)} s${during}; ${blockers.length} pod(s) remain` +
        (blockers.length > 0 ? `: ${describeBlockers(blockers)}` : ""),
    );
  };
  update();

  // Cordon and list, retrying transient failures until the deadline.
  const pods = await withRetry(
    options,
    stop,
    (err) => {
      setupError = err instanceof Error ? err.message : String(err);
      log.warn({ err: setupError }, "cordon or pod list failed; retrying");
    },
    async () => {
      await kube.cordon(node);
      return kube.listPods(node);
    },
  );
  if (pods === undefined) return stopped();

  const plan = planDrain(pods, options, now());
  const byUid = new Map(pods.map((p) => [p.uid, p]));
  status.skipped = plan.skip;
  status.pods = [
    ...plan.evict.map((p): PodProgress => ({ ...p, state: "pending", attempts: 0 })),
    ...plan.awaitDeletion.map((p): PodProgress => ({ ...p, state: "terminating", attempts: 0 })),
  ];
  status.phase = "evicting";
  status.message = `evicting ${plan.evict.length} pod(s), waiting for ${plan.awaitDeletion.length} terminating`;
  log.info({ evict: plan.evict.length, await: plan.awaitDeletion.length, skip: plan.skip.length }, "drain planned");
  update();

  const limit = semaphore(options.concurrency);
  const evictOne = async (progress: PodProgress): Promise<void> => {
    let backoffMs = options.backoffMinMs;
    while (!stop.aborted) {
      progress.attempts++;
      const outcome: EvictionOutcome = await limit(() =>
        kube.evict(progress, options.gracePeriodSeconds).then(
          () => classifyEviction(undefined),
          (err: unknown) => classifyEviction(err),
        ),
      );
      switch (outcome.kind) {
        case "evicted":
          progress.state = "terminating";
          delete progress.message;
          log.info({ pod: `${progress.namespace}/${progress.name}` }, "pod evicted");
          update();
          return;
        case "gone":
          progress.state = "gone";
          update();
          return;
        case "failed":
          progress.state = "failed";
          progress.message = outcome.message;
          log.error({ pod: `${progress.namespace}/${progress.name}`, reason: outcome.message }, "eviction failed");
          update();
          return;
        case "blocked": {
          const first = progress.state !== "blocked";
          // The budgets first: the status route may read this progress at any await, and a blocked pod is reported
          // with what blocks it.
          const pod = byUid.get(progress.uid);
          if (outcome.budgets.length > 0) progress.budgets = outcome.budgets;
          else if (progress.budgets === undefined && pod) {
            progress.budgets = await kube.budgetsFor(pod).catch(() => []);
          }
          progress.state = "blocked";
          progress.message = outcome.message;
          if (first) {
            log.warn(
              { pod: `${progress.namespace}/${progress.name}`, budgets: progress.budgets, reason: outcome.message },
              "eviction refused; retrying",
            );
          }
          update();
          const waitMs = Math.max(options.blockedRetryMs, (outcome.retryAfterSeconds ?? 0) * 1000);
          if (!(await pause(waitMs, stop))) return;
          break;
        }
        case "retry":
          progress.message = outcome.message;
          log.warn({ pod: `${progress.namespace}/${progress.name}`, reason: outcome.message }, "eviction error");
          if (!(await pause(backoffMs, stop))) return;
          backoffMs = Math.min(options.backoffMaxMs, backoffMs * 2);
          break;
      }
    }
  };

  await Promise.all([
    ...status.pods.filter((p) => p.state === "pending").map(evictOne),
    waitForDeletion(run, status, stop, update),
  ]);
  if (stop.aborted) return stopped();

  const failed = status.pods.filter((p) => p.state === "failed");
  if (failed.length > 0)
    return finish("failed", `could not evict ${failed.length} pod(s): ${describeBlockers(failed)}`);
  return finish(
    "drained",
    `drained: ${status.pods.length} pod(s) gone, ${status.skipped.length} left alone (DaemonSet, mirror or not selected)`,
  );
}

/** Polls the node's pods until every tracked pod is gone (by uid) or failed, or `stop` aborts. */
async function waitForDeletion(
  run: DrainRun,
  status: DrainStatus,
  stop: AbortSignal,
  update: () => void,
): Promise<void> {
  const { kube, node, options, log } = run;
  const overdueMs = (options.skipWaitForDeleteTimeoutSeconds ?? 0) * 1000;
  const now = run.now ?? (() => new Date());
  // Most pods go within a second or two of their eviction: check early, then back off to deletionPollMs, so a quick
  // drain is not held up by a fixed poll and a slow one does not cost extra requests.
  let pauseMs = Math.min(250, options.deletionPollMs);
  for (;;) {
    // Pending and blocked pods are still open, so this also waits for the eviction loops.
    if (status.pods.every((p) => p.state === "gone" || p.state === "failed")) return;
    if (!(await pause(pauseMs, stop))) return;
    pauseMs = Math.min(pauseMs * 2, options.deletionPollMs);
    if (!status.pods.some((p) => p.state === "terminating")) continue;
    let present: Map<string, DrainPod>;
    try {
      present = new Map((await kube.listPods(node)).map((p) => [p.uid, p]));
    } catch (err) {
      log.warn({ err: String(err) }, "listing the node's pods failed; will retry");
      continue;
    }
    let changed = false;
    for (const progress of status.pods) {
      if (progress.state !== "terminating") continue;
      const pod = present.get(progress.uid);
      const since = pod?.deletionTimestamp?.getTime();
      if (pod === undefined) {
        progress.state = "gone";
        changed = true;
      } else if (overdueMs > 0 && since !== undefined && now().getTime() - since > overdueMs) {
        // kubectl's --skip-wait-for-delete-timeout: deletion began long ago; stop waiting for this one.
        progress.state = "gone";
        progress.message = "still terminating; no longer waited for (skip-wait-for-delete timeout)";
        changed = true;
      }
    }
    if (changed) update();
  }
}

/** Runs `task` until it succeeds, backing off between failures; undefined when `stop` aborts first. */
async function withRetry<T>(
  options: DrainOptions,
  stop: AbortSignal,
  onError: (err: unknown) => void,
  task: () => Promise<T>,
): Promise<T | undefined> {
  let backoffMs = options.backoffMinMs;
  while (!stop.aborted) {
    try {
      return await task();
    } catch (err) {
      onError(err);
      if (!(await pause(backoffMs, stop))) return undefined;
      backoffMs = Math.min(options.backoffMaxMs, backoffMs * 2);
    }
  }
  return undefined;
}
