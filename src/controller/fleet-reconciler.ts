// reconcile(fleet): one key, so one worker at a time. Resolves the policy, selects the nodes that may start,
// writes those starts, explains every wait, and keeps the policy status and the fleet metrics.
//
// Budget is granted only from a consistent read, never from the cache alone, so a lagging cache (our own earlier
// starts not yet seen, a previous leader's writes) cannot overshoot it: the shadows are LISTed from the API server,
// and so is every Node whose stuck shadow the cache says is no longer disrupted. Each start carries the
// resourceVersion of that read: if the shadow changed since, the write fails with 409 and the fleet decides again.
//
// It also keeps the do-not-disrupt annotations (src/core/do-not-disrupt.ts): a node gets them before its start is
// written, and they are put right for every node on each pass (restart-safe). Only here, where nodes start, and only
// from a consistent read of the shadows, so that no start slips in between a "finished" and the removal.
import type { V1Node } from "@kubernetes/client-node";
import type { BottlerocketShadow } from "../api/bottlerocket-shadow.ts";
import type { BottlerocketUpdatePolicy } from "../api/update-policy.ts";
import { DEFAULT_DISRUPTOR_POLICY } from "../core/disruptors.ts";
import { guardPatch, planGuards } from "../core/do-not-disrupt.ts";
import { isManaged, type FleetView, type NodeView, type ShadowView } from "../core/model.ts";
import { buildPlan, type Plan } from "../core/plan.ts";
import { planMessage, planShape, type PlanStatus } from "../core/plan-status.ts";
import type { FleetPolicy, PolicyResolution } from "../core/policy.ts";
import { haltCondition, readHaltMemory, type HaltDecision } from "../core/halt.ts";
import { canaryEvent, describeCanaryPhase } from "../core/canary-status.ts";
import type { NodeTimeouts } from "../core/timeouts.ts";
import { buildPolicyStatus } from "../core/policy-status.ts";
import { isBlocking } from "../core/reasons.ts";
import {
  selectNodesToStart,
  type CanarySelection,
  type NotStarted,
  type Selection,
  type StartGrant,
} from "../core/select.ts";
import { countUsingBudget, standing } from "../core/standing.ts";
import { toNodeView } from "../core/views.ts";
import { apiMessage, isConflict, isNotFound } from "../kube/errors.ts";
import type { ReconcileResult } from "../kube/work-queue.ts";
import { nodeViewOf, shadowViewOf } from "./cached-views.ts";
import { canonicalJson } from "./canonical-json.ts";
import { DutyCycle } from "./duty-cycle.ts";
import type { EventSubject } from "./events.ts";
import { subjectsOf, waitNote } from "./notes.ts";
import { policySubject } from "./policy-source.ts";
import { isBeingDeleted, type ControllerContext } from "./reconcile.ts";

/** The Events of the automatic halt are recorded once per change of this key's state. */
const HALT_EVENT_KEY = "policy/halt";
/** The dry run's PlanPublished Event is recorded once per change of the published plan. */
const PLAN_EVENT_KEY = "policy/plan";
/** A dry run's plan is computed again at least this often, even when nothing it reads changed. */
const PLAN_REFRESH_MS = 60_000;
/** The canary phase's Events are recorded once per version and change of phase (`policy/canary/<version>`). */
const CANARY_EVENT_KEY = "policy/canary";
/** While nodes wait only for budget or a window, look again this often even without events. */
const WAITING_RECHECK_MS = 60_000;
/**
 * Writes of one pass (starts, annotations) in flight at once (kube-apiserver admits 200 mutating requests at a time
 * by default): the 100 annotations of a batch of finished nodes, one after another, held the fleet for 5 s.
 */
const WRITE_CONCURRENCY = 16;
/**
 * Consistent reads of every shadow take at most one part in this many of the time: in a large rollout nodes finish
 * every few milliseconds, and a quorum list per finish (1,000 shadows each) cost kube-apiserver a fifth of its CPU.
 * The pause after a read is a multiple of what the read took, so a small fleet still reads again at once
 * (docs/design/footprint.md#latency).
 */
const LIST_DUTY_CYCLE = 4;
/**
 * Passes take at most one part in this many of the time, too, and wait at most MAX_PASS_PAUSE_MS. Every shadow and
 * Node change asks for a pass; at 1,000 nodes a pass is tens of milliseconds of the event loop, and run back to back
 * they held it for 0.2–0.7 s at a time, every node's reconcile waiting behind them (docs/design/footprint.md#latency).
 * A small fleet's pass takes a millisecond, so its next one still runs at once.
 */
const PASS_DUTY_CYCLE = 4;
/** A pass that waited on many writes (a wave of starts) is not followed by a long pause: nodes finish meanwhile. */
const MAX_PASS_PAUSE_MS = 1_000;

export class FleetReconciler {
  readonly #ctx: ControllerContext;
  readonly #reads = new DutyCycle(LIST_DUTY_CYCLE, Infinity);
  readonly #passes = new DutyCycle(PASS_DUTY_CYCLE, MAX_PASS_PAUSE_MS);
  /** How long this pass waits for its next consistent read; 0 when it needed none or had it. */
  #pacedMs = 0;
  /** Dry run: the last plan and what it was computed from. */
  #planned: { key: string; plan: Plan } | null = null;

  constructor(ctx: ControllerContext) {
    this.#ctx = ctx;
  }

  async reconcile(signal: AbortSignal): Promise<ReconcileResult | undefined> {
    const began = this.#ctx.clock().getTime();
    const pause = this.#passes.pause(began);
    if (pause > 0) return { requeueAfterMs: pause };
    try {
      return await this.#pass(signal);
    } finally {
      this.#passes.took(began, this.#ctx.clock().getTime());
    }
  }

  async #pass(signal: AbortSignal): Promise<ReconcileResult | undefined> {
    const ctx = this.#ctx;
    const now = ctx.clock();
    const resolution = ctx.policy.resolve(now);
    let nodes = managedNodes(ctx.nodes.list());
    let shadows = cachedShadows(ctx.shadows.list(ctx.namespace));
    let selection: Selection | null = null;
    let startRead: StartRead | undefined;
    let plan: Plan | null = null;
    this.#pacedMs = 0;
    // While the policy is invalid, the last valid one says whether nodes carry the annotations.
    const guarding =
      (resolution.ok ? resolution.policy : ctx.policy.lastValid())?.disruptors ?? DEFAULT_DISRUPTOR_POLICY;

    if (resolution.ok) {
      const policy = resolution.policy;
      const triggerConsumedAt = await this.#triggerConsumedAt(policy, now);
      const select = () => this.#select(shadows, nodes, policy, triggerConsumedAt, now);
      selection = select();
      if (selection.halt?.resumed === true) {
        // Record the resume (and so when failures began to count again) before anything starts.
        await this.#writePolicyStatus(shadows, nodes, resolution, selection, {
          updating: selection.budget.inUse,
          signal,
          now,
          strict: true,
        });
        this.#explainResume(selection.halt);
      }
      // Grant budget from a consistent read only.
      const fresh = selection.start.length > 0 ? await this.#consistentRead() : null;
      if (fresh !== null) {
        shadows = fresh.map(shadowViewOf).filter(isDefined);
        nodes = await this.#confirmReleased(shadows, nodes, policy, now);
        selection = select();
        startRead = { shadows: fresh, started: new Set(selection.start.map((grant) => grant.nodeName)) };
        await this.#start(selection.start, fresh, guarding.annotateDoNotDisrupt, signal);
      }
      if (selection.sessionDrained) {
        signal.throwIfAborted();
        await ctx.fleetState.consumeTrigger(now);
      }
      this.#explainWaits(selection.notStarted);
      if (selection.halt !== null) this.#explainHalt(selection.halt);
      plan = policy.dryRun ? this.#plan(shadows, nodes, policy, triggerConsumedAt, now) : null;
      if (!policy.dryRun) this.#planned = null;
      if (selection.canary !== null) this.#explainCanary(selection.canary);
    }

    const timeouts = resolution.ok ? resolution.policy.stateTimeouts : ctx.policy.nodePolicy(now).stateTimeouts;
    const guardFailure = await this.#keepGuards(
      shadows,
      startRead,
      guarding.annotateDoNotDisrupt,
      timeouts,
      now,
      signal,
    );
    const byName = new Map(nodes.map((n) => [n.name, n]));
    ctx.metrics.observeFleet(shadows, selection);
    await this.#writePolicyStatus(shadows, nodes, resolution, selection, {
      updating: selection?.budget.inUse ?? countUsingBudget(shadows, byName, timeouts, now),
      signal,
      now,
      plan,
    });
    // Not before: a node whose annotations cannot be written now must not keep the others from starting.
    if (guardFailure !== undefined) throw guardFailure;
    // Paced: what this pass could not read consistently is decided again once a read is due.
    return { requeueAfterMs: this.#pacedMs > 0 ? this.#pacedMs : recheckAfter(selection, now) };
  }

  /** An Event on the policy when the fleet halts itself (once per halt). */
  #explainHalt(halt: HaltDecision): void {
    if (!halt.tripped) return;
    const { message } = haltCondition(halt);
    const note = { type: "Warning", reason: "UpdatesHalted", action: "Halt", message } as const;
    if (this.#ctx.events.recordOnChange(HALT_EVENT_KEY, "halted", this.#policySubjects(), note)) {
      this.#ctx.log.warn(message);
    }
  }

  /**
   * Events on the policy for the canary phase: one per version and change of phase (CanariesUpdating, SoakStarted,
   * SoakPassed, CanaryFailed), and one when the selector picks no node while some node waits for a version.
   */
  #explainCanary(canary: CanarySelection): void {
    const subjects = this.#policySubjects();
    if (canary.nodes.length === 0) {
      const message = describeCanaryPhase(canary);
      const note = { type: "Normal", reason: "NoCanaries", action: "Canary", message } as const;
      this.#ctx.events.recordOnChange(CANARY_EVENT_KEY, `none:${canary.selector}`, subjects, note);
      return;
    }
    this.#ctx.events.forget(CANARY_EVENT_KEY);
    for (const rollout of canary.rollouts) {
      const { type, reason, message } = canaryEvent(rollout);
      const note = { type, reason, action: "Canary", message };
      if (this.#ctx.events.recordOnChange(`${CANARY_EVENT_KEY}/${rollout.version}`, rollout.phase, subjects, note)) {
        if (type === "Warning") this.#ctx.log.warn(message);
        else this.#ctx.log.info(message);
      }
    }
  }

  /** An Event on the policy once a resume is recorded (before any start: a start may fail the pass). */
  #explainResume(halt: HaltDecision): void {
    const message =
      `updates resumed (request ${halt.resumeHandled ?? "?"}): any halt is lifted, and only failures from now on ` +
      "count towards spec.maxFailedNodes";
    const note = { type: "Normal", reason: "UpdatesResumed", action: "Resume", message } as const;
    const state = `resumed:${halt.resumeHandled ?? ""}`;
    if (this.#ctx.events.recordOnChange(HALT_EVENT_KEY, state, this.#policySubjects(), note)) {
      this.#ctx.log.info(message);
    }
  }

  #policySubjects(): EventSubject[] {
    const policyObject = this.#ctx.policy.object();
    return policyObject === undefined ? [] : [policySubject(policyObject, this.#ctx.namespace)];
  }

  /**
   * Dry run: the plan (src/core/plan.ts), computed again when what it is computed from changes, and at least every
   * PLAN_REFRESH_MS (the clock moves waits along): a large fleet's plan runs selection once per wave.
   */
  #plan(
    shadows: readonly ShadowView[],
    nodes: readonly NodeView[],
    policy: FleetPolicy,
    triggerConsumedAt: Date | undefined,
    now: Date,
  ): Plan {
    const generation = this.#ctx.policy.object()?.metadata.generation ?? null;
    const key = canonicalJson({ shadows, nodes, generation });
    const cached = this.#planned;
    if (cached !== null && cached.key === key && now.getTime() - cached.plan.now.getTime() < PLAN_REFRESH_MS) {
      return cached.plan;
    }
    const plan = buildPlan(this.#fleetView(shadows, nodes, triggerConsumedAt), policy, now);
    this.#planned = { key, plan };
    return plan;
  }

  /** One PlanPublished Event on the policy per change of the published plan (not per pass). */
  #explainPlan(plan: PlanStatus): void {
    const message = planMessage(plan);
    const note = { type: "Normal", reason: "PlanPublished", action: "Plan", message } as const;
    if (this.#ctx.events.recordOnChange(PLAN_EVENT_KEY, planShape(plan), this.#policySubjects(), note)) {
      this.#ctx.log.info(message);
    }
  }

  #fleetView(
    shadows: readonly ShadowView[],
    nodes: readonly NodeView[],
    triggerConsumedAt: Date | undefined,
  ): FleetView {
    return {
      shadows,
      nodes,
      controllerNodeName: this.#ctx.controllerNodeName,
      ...(triggerConsumedAt === undefined ? {} : { triggerConsumedAt }),
      halt: readHaltMemory(this.#ctx.policy.object()),
    };
  }

  #select(
    shadows: readonly ShadowView[],
    nodes: readonly NodeView[],
    policy: FleetPolicy,
    triggerConsumedAt: Date | undefined,
    now: Date,
  ): Selection {
    return selectNodesToStart(this.#fleetView(shadows, nodes, triggerConsumedAt), policy, now);
  }

  /** Only one-shot schedules consume triggers; their record lives in the cluster (fleet-state.ts). */
  async #triggerConsumedAt(policy: FleetPolicy, now: Date): Promise<Date | undefined> {
    const oneshot = policy.schedule.kind === "cron" && policy.schedule.cron.kind === "oneshot";
    return oneshot ? this.#ctx.fleetState.triggerConsumedAt(now) : undefined;
  }

  /**
   * A stuck node stops using budget once it is Ready and uncordoned. Before that frees budget for a start, make sure
   * of it from the API server rather than the cache: re-read every such Node.
   */
  async #confirmReleased(
    shadows: readonly ShadowView[],
    nodes: NodeView[],
    policy: FleetPolicy,
    now: Date,
  ): Promise<NodeView[]> {
    const byName = new Map(nodes.map((n) => [n.name, n]));
    for (const shadow of shadows) {
      const s = standing(shadow, byName.get(shadow.nodeName), policy.stateTimeouts, now);
      if (s.kind !== "stuck" || s.disrupted || !byName.has(shadow.nodeName)) continue;
      const fresh = await this.#ctx.nodeClient.read(shadow.nodeName);
      const view = fresh === undefined ? undefined : toNodeView(fresh);
      if (view === undefined || !isManaged(view)) byName.delete(shadow.nodeName);
      else byName.set(shadow.nodeName, view);
    }
    return [...byName.values()];
  }

  /**
   * Writes the granted starts, up to WRITE_CONCURRENCY at a time, so a fleet's starts land together rather than one
   * round trip after another (each is guarded by its own resourceVersion, so their order does not matter). A failure
   * (a conflict) ends the pass once the writes in flight have settled: the error policy decides again at once.
   */
  async #start(
    grants: readonly StartGrant[],
    fresh: readonly BottlerocketShadow[],
    guard: boolean,
    signal: AbortSignal,
  ): Promise<void> {
    const byName = new Map(fresh.map((s) => [s.metadata.name, s]));
    const failures: unknown[] = [];
    await inLanes(
      grants,
      async (grant) => {
        try {
          await this.#startOne(grant, byName.get(grant.shadowName), guard, signal);
        } catch (err) {
          failures.push(err);
        }
      },
      () => failures.length > 0,
    );
    if (failures.length > 0) throw failures[0];
  }

  async #startOne(
    grant: StartGrant,
    shadow: BottlerocketShadow | undefined,
    guard: boolean,
    signal: AbortSignal,
  ): Promise<void> {
    const ctx = this.#ctx;
    signal.throwIfAborted();
    // The annotations first: a node is never disrupted without them, whatever happens after this write.
    if (guard) await this.#guard(grant.nodeName, true, signal);
    signal.throwIfAborted();
    await ctx.shadowClient.writeSpec({
      name: grant.shadowName,
      resourceVersion: shadow?.metadata.resourceVersion ?? "",
      spec: grant.spec,
      annotations: grant.annotations,
    });
    ctx.metrics.transition("Idle", grant.spec.state, null);
    ctx.events.forget(grant.nodeName);
    ctx.events.record(subjectsOf(shadow, grant.nodeName, ctx.nodes.get(grant.nodeName), ctx.namespace), {
      type: "Normal",
      reason: "UpdateStarted",
      action: "Start",
      message: grant.reason,
    });
    ctx.log.info(`${grant.shadowName}: ${grant.reason}`);
  }

  /**
   * Puts every managed node's do-not-disrupt annotations right (src/core/do-not-disrupt.ts). When anything needs
   * writing, the decision is made again from a consistent read: unlike the cache, it shows every start written, so
   * a node just started is never taken for a finished one. The read this pass granted its starts from serves, with
   * those starts kept guarded; otherwise the shadows are read again (or, paced, at the next read). A failed write
   * does not stop the others; the first failure is returned, for the error policy.
   */
  async #keepGuards(
    cached: readonly ShadowView[],
    startRead: StartRead | undefined,
    enabled: boolean,
    timeouts: NodeTimeouts,
    now: Date,
    signal: AbortSignal,
  ): Promise<Error | undefined> {
    const ctx = this.#ctx;
    const nodes = managedNodes(ctx.nodes.list());
    if (planGuards(cached, nodes, enabled, timeouts, now).length === 0) return undefined;
    let failure: Error | undefined;
    try {
      const fresh = startRead?.shadows ?? (await this.#consistentRead());
      if (fresh === null) return undefined;
      const shadows = cachedShadows(fresh);
      // Started after that read: still guarded.
      const changes = planGuards(shadows, nodes, enabled, timeouts, now).filter(
        (change) => change.guard || startRead?.started.has(change.nodeName) !== true,
      );
      await inLanes(changes, async (change) => {
        try {
          await this.#guard(change.nodeName, change.guard, signal);
        } catch (err) {
          if (!isNotFound(err)) failure ??= asError(err);
        }
      });
    } catch (err) {
      failure ??= asError(err);
    }
    return failure;
  }

  /**
   * Every shadow not being deleted, from a quorum read; null when the last read was too recent (LIST_DUTY_CYCLE),
   * and the pass is then looked at again when the next one is due.
   */
  async #consistentRead(): Promise<BottlerocketShadow[] | null> {
    const clock = () => this.#ctx.clock().getTime();
    const began = clock();
    const pause = this.#reads.pause(began);
    if (pause > 0) {
      this.#pacedMs = pause;
      return null;
    }
    const shadows = (await this.#ctx.shadowClient.list()).filter((s) => !isBeingDeleted(s));
    this.#reads.took(began, clock());
    return shadows;
  }

  /**
   * Adds the do-not-disrupt annotations to a node (`guard`), or removes the operator's own, as decided from the
   * cached Node, conditional on that Node's resourceVersion: a Node changed since (someone else's annotation) is
   * decided again after the 409.
   */
  async #guard(nodeName: string, guard: boolean, signal: AbortSignal): Promise<void> {
    const ctx = this.#ctx;
    const node = ctx.nodes.get(nodeName) ?? (await ctx.nodeClient.read(nodeName));
    const view = node === undefined ? undefined : toNodeView(node);
    if (node === undefined || view === undefined) throw new Error(`node ${nodeName} not found`);
    const patch = guardPatch(view, guard);
    if (patch === null) return;
    signal.throwIfAborted();
    await ctx.nodeClient.annotate(nodeName, node.metadata?.resourceVersion ?? "", patch);
    ctx.log.info(
      guard
        ? `${nodeName}: annotated do-not-disrupt (${Object.keys(patch).join(", ")})`
        : `${nodeName}: do-not-disrupt annotations removed (${Object.keys(patch).join(", ")})`,
    );
  }

  /** One Event per node and reason: a node that waits for the same reason for an hour is explained once. */
  #explainWaits(notStarted: readonly NotStarted[]): void {
    const ctx = this.#ctx;
    for (const entry of notStarted) {
      const { code } = entry.reason;
      // Most of a large fleet waits for the same reason pass after pass: nothing to build for them.
      if (isBlocking(code) && ctx.events.hasRecorded(entry.nodeName, code)) continue;
      const note = waitNote(entry.reason);
      if (!isBlocking(code) || note === null) {
        ctx.events.forget(entry.nodeName);
        continue;
      }
      const shadow = entry.shadowName === null ? undefined : ctx.shadows.get(entry.shadowName, ctx.namespace);
      ctx.events.recordOnChange(
        entry.nodeName,
        code,
        subjectsOf(shadow, entry.nodeName, ctx.nodes.get(entry.nodeName), ctx.namespace),
        note,
      );
    }
  }

  async #writePolicyStatus(
    shadows: readonly ShadowView[],
    nodes: readonly NodeView[],
    resolution: PolicyResolution,
    selection: Selection | null,
    o: { updating: number; signal: AbortSignal; now: Date; strict?: boolean; plan?: Plan | null },
  ): Promise<void> {
    const ctx = this.#ctx;
    const policyObject: BottlerocketUpdatePolicy | undefined = ctx.policy.object();
    if (policyObject === undefined) return;
    const status = buildPolicyStatus({
      shadows,
      managedNodes: nodes.filter(isManaged).length,
      updating: o.updating,
      resolution,
      selection,
      previous: policyObject.status,
      now: o.now,
      plan: o.plan ?? null,
      ...(policyObject.metadata.generation === undefined
        ? {}
        : { observedGeneration: policyObject.metadata.generation }),
    });
    if (status.plan !== undefined) this.#explainPlan(status.plan);
    if (canonicalJson(status) === canonicalJson(policyObject.status ?? null)) return;
    o.signal.throwIfAborted();
    try {
      await ctx.shadowClient.writePolicyStatus(policyObject, status);
    } catch (err) {
      if (o.strict === true) throw err;
      // A conflict means a newer policy is on its way to the cache; its event brings us back here.
      if (!isConflict(err) && !isNotFound(err)) ctx.log.warn(`policy status: ${apiMessage(err)}`);
    }
  }
}

function recheckAfter(selection: Selection | null, now: Date): number {
  let at = now.getTime() + WAITING_RECHECK_MS;
  if (selection !== null) {
    if (selection.recheckAt !== null) at = Math.min(at, selection.recheckAt.getTime());
    // The status shows whether the window is open: look again when it closes.
    if (selection.gate.openUntil !== null) at = Math.min(at, selection.gate.openUntil.getTime());
  }
  return Math.max(0, at - now.getTime());
}

function managedNodes(nodes: readonly V1Node[]): NodeView[] {
  return nodes.map(nodeViewOf).filter(isDefined);
}

function cachedShadows(shadows: readonly BottlerocketShadow[]): ShadowView[] {
  return shadows
    .filter((s) => !isBeingDeleted(s))
    .map(shadowViewOf)
    .filter(isDefined);
}

/** The consistent read a pass granted its starts from, and the nodes it started after it. */
interface StartRead {
  shadows: readonly BottlerocketShadow[];
  started: ReadonlySet<string>;
}

/**
 * Runs `work` on each item, WRITE_CONCURRENCY at a time, so a pass's writes land together rather than one round
 * trip after another; no item is taken once `stop()` holds.
 */
async function inLanes<T>(items: readonly T[], work: (item: T) => Promise<void>, stop = () => false): Promise<void> {
  let next = 0;
  const lane = async (): Promise<void> => {
    for (let item = items[next]; item !== undefined && !stop(); item = items[next]) {
      next++;
      await work(item);
    }
  };
  await Promise.all(Array.from({ length: Math.min(WRITE_CONCURRENCY, items.length) }, lane));
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function isDefined<T>(value: T | undefined): value is T {
  return value !== undefined;
}
