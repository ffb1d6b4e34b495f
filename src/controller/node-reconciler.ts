// reconcile(node/<name>): moves one node along its update — advance, reset (a crash, a timeout, a failed health
// gate or hook), clear, restamp — checks the health gates of a node in MonitoringUpdate, calls the pre-drain and
// post-reboot hooks (docs/design/hooks.md), releases it when it is stuck, and
// garbage-collects the shadow of a node that lost its label. It never starts an update: starting uses budget, a
// fleet-wide decision (fleet-reconciler.ts).
import type { V1Node } from "@kubernetes/client-node";
import { brsName } from "../api/constants.ts";
import type { BottlerocketShadow, Condition } from "../api/bottlerocket-shadow.ts";
import { parseTimestamp } from "../api/timestamps.ts";
import { withCondition, type ConditionWanted } from "../core/conditions.ts";
import {
  evaluateGates,
  formatOutcome,
  healthCondition,
  outcomeSettled,
  recordedPass,
  unreportedOutcome,
  type GateVerdict,
} from "../core/health-gates.ts";
import { classifyCall, formatHooksRecord, recordCall } from "../core/hooks.ts";
import { decideNextSpec, type NodeDecision, type NodePolicy } from "../core/next-spec.ts";
import { ANNOTATIONS, isManaged, type NodeView, type ShadowView } from "../core/model.ts";
import { standing } from "../core/standing.ts";
import { withStuckCondition, type StuckReport } from "../core/stuck-condition.ts";
import { toShadowView } from "../core/views.ts";
import { apiMessage, statusCode } from "../kube/errors.ts";
import type { ReconcileResult } from "../kube/work-queue.ts";
import { nodeViewOf, shadowViewOf } from "./cached-views.ts";
import { BackgroundWrites } from "./background-writes.ts";
import { OwnWrites } from "./own-writes.ts";
import { hookNote, nodeSubject, releasedNote, stepNote, subjectsOf } from "./notes.ts";
import { CONFLICT_RETRY_MS, isBeingDeleted, type ControllerContext } from "./reconcile.ts";

/** How often the gates of a node in MonitoringUpdate are looked at again: its pods and Prometheus are not watched. */
export const GATE_POLL_MS = 5_000;

/** The gates' outcomes written at once after the specs that carried them, beside the workers' own writes. */
const OUTCOME_WRITES_IN_FLIGHT = 8;

export class NodeReconciler {
  readonly #ctx: ControllerContext;
  readonly #ownWrites = new OwnWrites();
  /** The gates' outcomes on status.conditions, written off the workers, keyed by node name. */
  readonly #outcomes: BackgroundWrites;
  /** Nodes to look at again once their outcome write has ended: a reconcile was put off, or the write failed. */
  readonly #lookAgain = new Set<string>();

  constructor(ctx: ControllerContext) {
    this.#ctx = ctx;
    this.#outcomes = new BackgroundWrites({
      inFlight: OUTCOME_WRITES_IN_FLIGHT,
      onSettled: (nodeName) => {
        if (this.#lookAgain.delete(nodeName)) ctx.enqueueNode(nodeName);
      },
    });
  }

  /** Resolves once the outcome writes under way have ended (graceful shutdown: before the lease goes). */
  outcomesWritten(): Promise<void> {
    return this.#outcomes.settled();
  }

  async reconcile(nodeName: string, signal: AbortSignal): Promise<ReconcileResult | undefined> {
    const ctx = this.#ctx;
    let name: string;
    try {
      name = brsName(nodeName);
    } catch {
      return undefined; // a node whose name cannot have a shadow has none to reconcile
    }
    // Its gates' outcome is still being written after the spec that carried it: one writer per shadow at a time, so
    // the node is put off until the write ends.
    if (this.#outcomes.pending(nodeName)) {
      this.#lookAgain.add(nodeName);
      return undefined;
    }
    const cachedShadow = ctx.shadows.get(name, ctx.namespace);
    if (cachedShadow === undefined) this.#ownWrites.forget(name);
    if (cachedShadow === undefined || isBeingDeleted(cachedShadow)) return undefined;
    // Our last spec write is not in the cache yet: its watch event brings the node back.
    if (this.#ownWrites.behind(cachedShadow)) return undefined;
    const shadow = cachedShadow;
    const view = shadowViewOf(shadow);
    if (view === undefined) return undefined;

    // The managed-node cache cannot tell "lost its label" from "deleted", "outside MANAGED_NODE_SELECTOR" or "not
    // seen yet": ask the API server about a node it does not hold.
    const cached = ctx.nodes.get(nodeName);
    const node = cached ?? (await ctx.nodeClient.read(nodeName));
    if (node === undefined) return undefined; // deleted: owner-reference garbage collection takes the shadow
    const nodeView = nodeViewOf(node);
    if (nodeView === undefined) return undefined;
    if (!isManaged(nodeView)) {
      await this.#collect(shadow, nodeName, node, signal);
      return undefined;
    }
    const unreported = this.#unreported(shadow);
    const now = ctx.clock();
    // Labelled but outside MANAGED_NODE_SELECTOR: an update this controller started is seen through (advanced,
    // timed out, released), so it neither hangs nor holds budget; an idle node is not this controller's.
    if (cached === undefined && isIdle(view)) {
      if (unreported !== null) await this.#report(shadow, null, now, signal, unreported);
      return undefined;
    }

    const policy = ctx.policy.nodePolicy(now);
    const generation = shadow.metadata.generation;
    const version = view.spec.version ?? "(unknown version)";
    // A pass already on the shadow (recorded while post-reboot hooks are called) stands: the gates are not read again.
    const recorded = inMonitoring(view) ? recordedPass(shadow.status?.conditions, generation) : null;
    const gates = recorded ?? (await this.#checkGates(shadow, view, node, policy, now, signal));
    const outcome = gates === undefined || recorded !== null ? null : healthCondition(gates, version, generation);
    const decision = decideNextSpec(view, policy, now, gates);
    switch (decision.kind) {
      case "advance":
      case "reset": {
        // The spec that acts on the gates' outcome carries it, and status.conditions get it just after, off the
        // worker: the finish waits for one write, not two, and a crash in between is made good from the annotation
        // (health-gates.md).
        // brupop's clear of a finished spec drops it once the conditions say it, or every shadow at rest would carry it.
        const carried =
          gates === undefined || generation === undefined ? undefined : formatOutcome(gates, version, generation);
        const settled =
          decision.kind === "advance" &&
          decision.step === "clear" &&
          outcomeSettled(shadow.metadata.annotations?.[ANNOTATIONS.updateHealthy], shadow.status?.conditions);
        const step =
          carried === undefined && !settled
            ? decision
            : { ...decision, annotations: { ...decision.annotations, [ANNOTATIONS.updateHealthy]: carried ?? null } };
        const written = await this.#writeStep(shadow, view, node, step, now, signal);
        const health = outcome ?? unreported;
        if (health !== null) this.#reportOutcomeLater(nodeName, written, health, now, signal);
        return undefined;
      }
      case "keep": {
        await this.#report(
          shadow,
          decision.why === "stuck" ? decision.reason : null,
          now,
          signal,
          outcome ?? unreported,
        );
        if (decision.hook !== undefined) return this.#callHook(view, node, policy, gates, signal);
        if (decision.why === "stuck") {
          const s = standing(view, nodeView, policy.stateTimeouts, now);
          if (s.kind === "stuck" && s.release) await this.#release(shadow, nodeView, node, decision.reason, signal);
        }
        const recheckMs = decision.recheckAt === null ? null : decision.recheckAt.getTime() - now.getTime();
        // Pods and Prometheus are not watched: look at waiting gates again soon.
        const pollMs = gates?.kind === "waiting" ? Math.min(GATE_POLL_MS, recheckMs ?? GATE_POLL_MS) : recheckMs;
        return pollMs === null ? undefined : { requeueAfterMs: Math.max(0, pollMs) };
      }
      case "start":
      case "wait":
      case "quarantined":
        await this.#report(shadow, null, now, signal, unreported);
        // Starting is the fleet's decision (budget, window, pause, order).
        ctx.enqueueFleet();
        return undefined;
    }
  }

  /**
   * The health gates' verdict for a node whose agent reached MonitoringUpdate (docs/design/health-gates.md);
   * undefined for any other node, or when the policy has no gates (brupop's pass-through).
   */
  async #checkGates(
    shadow: BottlerocketShadow,
    view: ShadowView,
    node: V1Node,
    policy: NodePolicy,
    now: Date,
    signal: AbortSignal,
  ): Promise<GateVerdict | undefined> {
    const { spec } = view;
    if (!inMonitoring(view) || policy.healthGates.gates.length === 0) return undefined;
    const since = parseTimestamp(spec.state_transition_timestamp);
    if (since === undefined) return undefined; // restamped first (next-spec.ts)
    const observed = await this.#ctx.gateObserver.observe(
      policy.healthGates,
      {
        nodeName: view.nodeName,
        node,
        version: spec.version ?? view.status?.current_version ?? "",
        shadow: { name: shadow.metadata.name ?? view.name, uid: shadow.metadata.uid ?? "" },
        attempt: spec.state_transition_timestamp ?? "",
        since,
        now,
      },
      signal,
    );
    const started = parseTimestamp(view.annotations?.[ANNOTATIONS.updateStarted]) ?? null;
    return evaluateGates(policy.healthGates, observed, { since, updateStartedAt: started, now });
  }

  /**
   * Calls the hook the decision names, at least once: the decision is made again from the shadow as the API server
   * holds it (the cache may not have the last call's record yet, and calling on it would call twice), the call is
   * made, its outcome recorded on the shadow conditional on that read, then the node is looked at again at once.
   * A crash or a conflict between the call and the record calls again; a hook is never skipped.
   */
  async #callHook(
    cached: ShadowView,
    node: V1Node,
    policy: NodePolicy,
    gates: GateVerdict | undefined,
    signal: AbortSignal,
  ): Promise<ReconcileResult | undefined> {
    const ctx = this.#ctx;
    const fresh = await ctx.shadowClient.read(cached.name);
    const view = fresh === undefined ? undefined : toShadowView(fresh);
    if (fresh === undefined || view === undefined) return undefined;
    const decision = decideNextSpec(view, policy, ctx.clock(), gates);
    // Already called (the cache was behind): decide again once it has caught up.
    if (decision.kind !== "keep" || decision.hook === undefined) return { requeueAfterMs: CONFLICT_RETRY_MS };
    const { hook: call } = decision;
    const since = view.spec.state_transition_timestamp ?? "";
    const phase = { phase: call.phase, since, version: call.request.toVersion };
    ctx.log.info(`${view.name}: ${decision.reason}`);
    const result = await ctx.callHook(call, ctx.namespace, signal);
    const now = ctx.clock();
    const recorded = recordCall(view, phase, call.hook, classifyCall(result), now);
    signal.throwIfAborted();
    await ctx.shadowClient.writeAnnotations(view.name, fresh.metadata.resourceVersion ?? "", {
      [ANNOTATIONS.hooks]: formatHooksRecord(recorded.record),
    });
    const state = recorded.entry.state;
    ctx.metrics.hookCalled(call.phase, call.hook.name, state);
    ctx.events.record(subjectsOf(fresh, view.nodeName, node, ctx.namespace), hookNote(state, recorded.message));
    ctx.log.info(`${view.name}: ${recorded.message}`);
    return { requeueAfterMs: 0 };
  }

  async #writeStep(
    shadow: BottlerocketShadow,
    view: ShadowView,
    node: V1Node,
    decision: Extract<NodeDecision, { kind: "advance" | "reset" }>,
    now: Date,
    signal: AbortSignal,
  ): Promise<BottlerocketShadow> {
    const ctx = this.#ctx;
    signal.throwIfAborted();
    const written = await ctx.shadowClient.writeSpec({
      name: view.name,
      resourceVersion: shadow.metadata.resourceVersion ?? "",
      spec: decision.spec,
      annotations: decision.annotations,
    });
    this.#ownWrites.wrote(written);
    const since = parseTimestamp(view.spec.state_transition_timestamp);
    const seconds = since === undefined ? null : (now.getTime() - since.getTime()) / 1000;
    if (decision.kind === "reset" || decision.step !== "restamp") {
      ctx.metrics.transition(
        view.spec.state,
        decision.spec.state,
        decision.kind === "advance" && decision.step === "clear" ? null : seconds,
      );
    }
    if (decision.kind === "reset" && decision.cause !== "no-status") ctx.metrics.failure(decision.cause);
    const note = stepNote(decision);
    if (note !== null) ctx.events.record(subjectsOf(shadow, view.nodeName, node, ctx.namespace), note);
    ctx.log.info(`${view.name}: ${decision.reason}`);
    // A node leaving the active set frees budget; one reaching Idle may be startable again later.
    ctx.enqueueFleet();
    return written;
  }

  /**
   * The gates' outcome the shadow's last finishing or rollback spec carried and its conditions do not say yet (a crash
   * or a failed write after the spec), unless this controller wrote it already and the cache is behind.
   */
  #unreported(shadow: BottlerocketShadow): ConditionWanted | null {
    const recorded = shadow.metadata.annotations?.[ANNOTATIONS.updateHealthy];
    // Without a status there is nowhere to write it (the CRD requires the agent's fields): its first report makes one.
    if (recorded === undefined || shadow.status == null || this.#ownWrites.hasReported(shadow, recorded)) return null;
    return unreportedOutcome(recorded, shadow.status.conditions);
  }

  /**
   * The gates' outcome on status.conditions, just after the spec write that carried it, in the background: the
   * node's reconciles are put off until it ends (one writer per shadow). Left to the annotation when the shadow has no status yet
   * (the CRD requires the agent's fields: its first report brings the node back). When the write fails, or the spec
   * moved on meanwhile (422: a start, say), the node is looked at again and its reconcile writes it from the
   * annotation; when the lease is lost, whoever leads next does.
   */
  #reportOutcomeLater(
    nodeName: string,
    written: BottlerocketShadow,
    health: ConditionWanted,
    now: Date,
    signal: AbortSignal,
  ): void {
    if (written.status == null) return;
    const conditions = withCondition(written.status.conditions, health, now);
    // Only what the write needs waits with it, not the whole shadow (a burst of finishes queues up to a budget's worth).
    const { name = "", uid = "", generation } = written.metadata;
    const recorded = written.metadata.annotations?.[ANNOTATIONS.updateHealthy];
    const log = this.#ctx.log;
    const added = this.#outcomes.add(nodeName, async () => {
      try {
        if (conditions !== null) {
          signal.throwIfAborted();
          await this.#ctx.shadowClient.writeConditionsAfter({ metadata: { name, uid, generation } }, conditions);
        }
        if (recorded !== undefined) this.#ownWrites.reported(name, uid, recorded);
      } catch (error) {
        if (signal.aborted) return;
        this.#lookAgain.add(nodeName);
        if (statusCode(error) === 422)
          log.info(`${name}: the spec moved on; the gates' outcome is left to its annotation`);
        else log.warn(`${name}: the gates' outcome not written (${apiMessage(error)}); looked at again`);
      }
    });
    // Not while one is pending (its reconciles are put off): should it happen, the annotation's path writes it.
    if (!added) this.#lookAgain.add(nodeName);
  }

  #noteReported(shadow: BottlerocketShadow): void {
    const recorded = shadow.metadata.annotations?.[ANNOTATIONS.updateHealthy];
    const { name, uid } = shadow.metadata;
    if (recorded !== undefined && name !== undefined && uid !== undefined)
      this.#ownWrites.reported(name, uid, recorded);
  }

  /**
   * The shadow's conditions, written when they change: Stuck, and UpdateHealthy when the gates were looked at or an
   * outcome is to be made good; conditional on the resourceVersion of the shadow they were decided from.
   */
  async #report(
    shadow: BottlerocketShadow,
    stuck: string | null,
    now: Date,
    signal: AbortSignal,
    health: ConditionWanted | null = null,
  ): Promise<void> {
    const report: StuckReport = stuck === null ? null : { reason: "AgentUnresponsive", message: stuck };
    let conditions: Condition[] | null = withStuckCondition(shadow.status?.conditions, report, now);
    if (health !== null) conditions = withCondition(conditions ?? shadow.status?.conditions, health, now) ?? conditions;
    if (conditions !== null) {
      signal.throwIfAborted();
      await this.#ctx.shadowClient.writeConditions(
        shadow.metadata.name ?? "",
        shadow.metadata.resourceVersion ?? "",
        conditions,
      );
    }
    if (health !== null) this.#noteReported(shadow);
  }

  /** A stuck node, Ready and still cordoned by the operator's drain: uncordon it, since its agent does not. */
  async #release(
    shadow: BottlerocketShadow,
    nodeView: NodeView,
    node: V1Node,
    reason: string,
    signal: AbortSignal,
  ): Promise<void> {
    const ctx = this.#ctx;
    signal.throwIfAborted();
    await ctx.nodeClient.release(nodeView.name, node.metadata?.resourceVersion ?? "");
    ctx.events.record(subjectsOf(shadow, nodeView.name, node, ctx.namespace), releasedNote(reason));
    ctx.log.warn(`${nodeView.name}: uncordoned by the controller (${reason})`);
    ctx.enqueueFleet(); // no longer disrupted: its budget is free
  }

  /**
   * brupop deletes the shadow of a node that lost its label; only an existing Node without the label loses its
   * shadow (a deleted Node's shadow goes by owner-reference garbage collection).
   */
  async #collect(shadow: BottlerocketShadow, nodeName: string, node: V1Node, signal: AbortSignal): Promise<void> {
    const ctx = this.#ctx;
    const name = shadow.metadata.name ?? "";
    signal.throwIfAborted();
    await ctx.shadowClient.delete(name, shadow.metadata.uid ?? "");
    ctx.log.info(`${name}: deleted, node ${nodeName} no longer carries the updater-interface label`);
    ctx.events.record([nodeSubject(nodeName, node.metadata?.uid)], {
      type: "Normal",
      reason: "ShadowDeleted",
      action: "Delete",
      message: `node is no longer labelled bottlerocket.aws/updater-interface-version=2.0.0; deleted ${ctx.namespace}/${name}`,
    });
  }
}

function isIdle(view: ShadowView): boolean {
  return view.spec.state === "Idle" && (view.status == null || view.status.current_state === "Idle");
}

/** The agent reached the MonitoringUpdate the controller asked for: the health gates' turn. */
function inMonitoring({ spec, status }: ShadowView): boolean {
  return spec.state === "MonitoringUpdate" && status?.current_state === "MonitoringUpdate";
}
