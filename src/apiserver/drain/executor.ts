// Carries out one node's drain: cordon, plan (src/core/drain-plan.ts), evict through the Eviction API with bounded
// concurrency, wait until every evicted pod is gone, all within one deadline. On timeout it stops and reports which
// pods were still there and why (with the budgets that refused them); what to do then is the caller's decision.
//
// Differences from brupop 1.4 (docs/design/drain.md#brupops-drain): an overall deadline (brupop waited for ever), a
// failed eviction fails the drain (brupop logged it and reported success), evictions carry a uid precondition and waits
// are uid-aware (a recreated StatefulSet pod with the same name does not hold the drain), deletion is observed with one
// LIST of the node's pods per poll instead of one GET per pod, and a drain has an identity on the Node: it stops as
// soon as the node was uncordoned or another drain took it over, whichever API server replica that went through.
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import {
  blockersOf,
  describeBlockers,
  type DrainPhase,
  type DrainStatus,
  type PodProgress,
  type PodRef,
} from "../../api/drain.ts";
import { planDrain, type DrainPod } from "../../core/drain-plan.ts";
import type { LabelRequirement } from "../../core/drain-plan-selector.ts";
import { classifyEviction, type EvictionOutcome } from "./eviction.ts";

/** The Kubernetes calls a drain makes (drain/kube.ts implements them with src/kube/client.ts). */
export interface DrainKube {
  /** Cordons the node and marks it with the drain's identity (ANNOTATION_DRAIN). */
  cordon(nodeName: string, drainId: string): Promise<void>;
  /** The identity of the drain that holds the node now (its ANNOTATION_DRAIN); undefined when none does. */
  holder(nodeName: string): Promise<string | undefined>;
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

export interface DrainSettings {
  id: string;
  node: string;
  kube: DrainKube;
  options: DrainOptions;
  log: Logger;
  /** Called after every change of the status (with a copy). */
  onUpdate?: (status: DrainStatus) => void;
  now?: () => Date;
}

/** One drain of one node. Its state is its own: readers get copies (status()). */
export class Drain {
  readonly id: string;
  readonly node: string;
  readonly #s: DrainSettings;
  readonly #now: () => Date;
  readonly #status: DrainStatus;
  /** Aborted when the node is no longer this drain's (uncordoned, or taken over by another drain). */
  readonly #lost = new AbortController();
  #setupError = "";

  constructor(settings: DrainSettings) {
    this.#s = settings;
    this.id = settings.id;
    this.node = settings.node;
    this.#now = settings.now ?? (() => new Date());
    this.#status = {
      id: this.id,
      node: this.node,
      phase: "cordoning",
      startedAt: this.#now().toISOString(),
      message: "cordoning",
      pods: [],
      skipped: [],
    };
  }

  status(): DrainStatus {
    return structuredClone(this.#status);
  }

  /** Runs the drain to its end; aborting `signal` cancels it (shutdown, uncordon), its reason the message. */
  async run(signal: AbortSignal): Promise<DrainStatus> {
    const { kube, options, log } = this.#s;
    const stop = AbortSignal.any([signal, this.#lost.signal, AbortSignal.timeout(options.timeoutMs)]);
    this.#update();

    // Cordon (with this drain's identity) and list, retrying transient failures until the deadline.
    const pods = await withRetry(
      options,
      stop,
      (err) => {
        this.#setupError = err instanceof Error ? err.message : String(err);
        log.warn({ err: this.#setupError }, "cordon or pod list failed; retrying");
      },
      async () => {
        await kube.cordon(this.node, this.id);
        return kube.listPods(this.node);
      },
    );
    if (pods === undefined) return this.#stopped(signal);

    const plan = planDrain(pods, options, this.#now());
    const byUid = new Map(pods.map((p) => [p.uid, p]));
    const status = this.#status;
    status.skipped = plan.skip;
    status.pods = [
      ...plan.evict.map((p): PodProgress => ({ ...p, state: "pending", attempts: 0 })),
      ...plan.awaitDeletion.map((p): PodProgress => ({ ...p, state: "terminating", attempts: 0 })),
    ];
    status.phase = "evicting";
    status.message = `evicting ${plan.evict.length} pod(s), waiting for ${plan.awaitDeletion.length} terminating`;
    log.info({ evict: plan.evict.length, await: plan.awaitDeletion.length, skip: plan.skip.length }, "drain planned");
    this.#update();

    const limit = semaphore(options.concurrency);
    await Promise.all([
      ...status.pods.filter((p) => p.state === "pending").map((p) => this.#evict(p, byUid.get(p.uid), limit, stop)),
      this.#awaitDeletion(stop),
    ]);
    // "drained" only while the node is still this drain's: an uncordon through another replica ends it.
    if (!stop.aborted) await this.#checkHolder();
    if (stop.aborted) return this.#stopped(signal);

    const failed = status.pods.filter((p) => p.state === "failed");
    if (failed.length > 0)
      return this.#finish("failed", `could not evict ${failed.length} pod(s): ${describeBlockers(failed)}`);
    return this.#finish(
      "drained",
      `drained: ${status.pods.length} pod(s) gone, ${status.skipped.length} left alone (DaemonSet, mirror or not selected)`,
    );
  }

  #update(): void {
    this.#s.onUpdate?.(this.status());
  }

  #finish(phase: DrainPhase, message: string): DrainStatus {
    this.#status.phase = phase;
    this.#status.message = message;
    this.#status.finishedAt = this.#now().toISOString();
    this.#update();
    return this.status();
  }

  #stopped(signal: AbortSignal): DrainStatus {
    const { options } = this.#s;
    const blockers = blockersOf(this.#status);
    const during =
      this.#status.phase === "cordoning" ? ` while cordoning${this.#setupError ? ` (${this.#setupError})` : ""}` : "";
    for (const cause of [signal, this.#lost.signal]) {
      if (!cause.aborted) continue;
      const reason: unknown = cause.reason;
      return this.#finish(
        "cancelled",
        `cancelled${during}: ${reason instanceof Error ? reason.message : String(reason)}`,
      );
    }
    return this.#finish(
      "timed-out",
      `not drained after ${Math.round(options.timeoutMs / 1000)} s${during}; ${blockers.length} pod(s) remain` +
        (blockers.length > 0 ? `: ${describeBlockers(blockers)}` : ""),
    );
  }

  /** Stops the drain when the Node no longer carries its identity. A failed read changes nothing. */
  async #checkHolder(): Promise<void> {
    let holder: string | undefined;
    try {
      holder = await this.#s.kube.holder(this.node);
    } catch (err) {
      this.#s.log.warn({ err: String(err) }, "reading the node's drain annotation failed; will retry");
      return;
    }
    if (holder === this.id) return;
    this.#lost.abort(
      new Error(
        holder === undefined ? "the node was uncordoned (or is gone)" : `another drain (${holder}) took the node over`,
      ),
    );
  }

  async #evict(
    progress: PodProgress,
    pod: DrainPod | undefined,
    limit: ReturnType<typeof semaphore>,
    stop: AbortSignal,
  ): Promise<void> {
    const { kube, options, log } = this.#s;
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
          this.#update();
          return;
        case "gone":
          progress.state = "gone";
          this.#update();
          return;
        case "failed":
          progress.state = "failed";
          progress.message = outcome.message;
          log.error({ pod: `${progress.namespace}/${progress.name}`, reason: outcome.message }, "eviction failed");
          this.#update();
          return;
        case "blocked": {
          const first = progress.state !== "blocked";
          // The budgets first: a blocked pod is reported with what blocks it.
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
          this.#update();
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
  }

  /**
   * Polls the node's pods until every tracked pod is gone (by uid) or failed, or `stop` aborts; checks at each
   * poll that the node is still this drain's.
   */
  async #awaitDeletion(stop: AbortSignal): Promise<void> {
    const { kube, options, log } = this.#s;
    const status = this.#status;
    const overdueMs = (options.skipWaitForDeleteTimeoutSeconds ?? 0) * 1000;
    // Most pods go within a second or two of their eviction: check early, then back off to deletionPollMs, so a
    // quick drain is not held up by a fixed poll and a slow one does not cost extra requests.
    let pauseMs = Math.min(250, options.deletionPollMs);
    for (;;) {
      // Pending and blocked pods are still open, so this also waits for the eviction loops.
      if (status.pods.every((p) => p.state === "gone" || p.state === "failed")) return;
      if (!(await pause(pauseMs, stop))) return;
      pauseMs = Math.min(pauseMs * 2, options.deletionPollMs);
      await this.#checkHolder();
      if (stop.aborted) return;
      if (!status.pods.some((p) => p.state === "terminating")) continue;
      let present: Map<string, DrainPod>;
      try {
        present = new Map((await kube.listPods(this.node)).map((p) => [p.uid, p]));
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
        } else if (overdueMs > 0 && since !== undefined && this.#now().getTime() - since > overdueMs) {
          // kubectl's --skip-wait-for-delete-timeout: deletion began long ago; stop waiting for this one.
          progress.state = "gone";
          progress.message = "still terminating; no longer waited for (skip-wait-for-delete timeout)";
          changed = true;
        }
      }
      if (changed) this.#update();
    }
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
