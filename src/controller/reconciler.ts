// reconcile(node) and reconcile(fleet): level-triggered, from the informer caches, through the pure decisions in
// src/core, to writes with optimistic concurrency.
//
// - A node key moves one node along: advance, reset (crash, timeout), clear, restamp; or garbage-collects the shadow
//   of a node that lost its label. It never starts an update: starting uses budget, which is a fleet-wide decision.
// - The fleet key (one key, so one worker at a time) resolves the policy, selects the nodes that may start, and
//   writes those starts. Budget is granted only from a consistent LIST of the shadows, never from the cache alone,
//   so a lagging cache (our own earlier starts not yet seen, a previous leader's writes) cannot overshoot the budget.
//   Each start carries the resourceVersion of that read: if the shadow changed since, the write fails with 409.
import type { V1Node } from "@kubernetes/client-node";
import { API_VERSION_V2, KIND, brsName } from "../api/constants.ts";
import type { BottlerocketShadow } from "../api/bottlerocket-shadow.ts";
import { parseTimestamp } from "../api/timestamps.ts";
import { UPDATE_POLICY_API_VERSION, UPDATE_POLICY_KIND, type BottlerocketUpdatePolicy } from "../api/update-policy.ts";
import { DEFAULT_NODE_TIMEOUTS, DEFAULT_QUARANTINE_AFTER_FAILURES, decideNextSpec } from "../core/next-spec.ts";
import type { NodeDecision, NodePolicy } from "../core/next-spec.ts";
import { isManaged, type NodeView, type ShadowView } from "../core/model.ts";
import { resolveFleetPolicy, type ControllerEnv, type FleetPolicy, type PolicyResolution } from "../core/policy.ts";
import { selectNodesToStart, type NotStarted, type Selection, type StartGrant } from "../core/select.ts";
import type { ReconcileResult } from "../kube/work-queue.ts";
import { apiMessage, isConflict, isNotFound } from "../kube/errors.ts";
import type { EventNote, EventRecorder, EventSubject } from "./events.ts";
import type { ControllerMetrics } from "./metrics.ts";
import { buildPolicyStatus, isBlocking } from "../core/policy-status.ts";
import type { ShadowClient } from "./shadow-client.ts";
import { toNodeView, toShadowView } from "../core/views.ts";
import { canonicalJson } from "./canonical-json.ts";

export const FLEET_KEY = "fleet";
export type ReconcileKey = typeof FLEET_KEY | `node/${string}`;

export function nodeKey(nodeName: string): ReconcileKey {
  return `node/${nodeName}`;
}

/** Read access to an informer cache. */
export interface Cache<T> {
  get(name: string, namespace?: string): T | undefined;
  list(namespace?: string): readonly T[];
}

export interface Logger {
  info(message: string): void;
  warn(message: string): void;
}

export interface ReconcilerDeps {
  namespace: string;
  controllerNodeName: string | null;
  env: ControllerEnv;
  shadows: Cache<BottlerocketShadow>;
  /** Managed nodes only (label-selected). */
  nodes: Cache<V1Node>;
  /** The policy singleton (at most one object). */
  policies: Cache<BottlerocketUpdatePolicy>;
  client: ShadowClient;
  /** A fresh GET of a Node; undefined when it does not exist. */
  readNode: (name: string) => Promise<V1Node | undefined>;
  events: EventRecorder;
  metrics: ControllerMetrics;
  log: Logger;
  clock?: () => Date;
  /** Called when a node decision may have changed what the fleet can do (a node freed budget). */
  enqueueFleet: () => void;
}

/** When the policy is invalid and was never valid: brupop's timeouts and our default quarantine, no downgrades. */
const FALLBACK_NODE_POLICY: NodePolicy = {
  stateTimeouts: DEFAULT_NODE_TIMEOUTS,
  quarantineAfterFailures: DEFAULT_QUARANTINE_AFTER_FAILURES,
  allowDowngrade: false,
};

/** A 409 on a spec write: someone changed the shadow; decide again once the cache has the new version. */
const CONFLICT_RETRY_MS = 50;
/** While nodes wait only for budget or a window, look again this often even without events. */
const WAITING_RECHECK_MS = 60_000;

export class Reconciler {
  readonly #d: ReconcilerDeps;
  readonly #clock: () => Date;
  #lastGoodPolicy: FleetPolicy | null = null;
  /** One-shot schedules: brupop waits for the next trigger after a start, so a session begins only after this. */
  #triggerConsumedAt: Date;

  constructor(deps: ReconcilerDeps) {
    this.#d = deps;
    this.#clock = deps.clock ?? (() => new Date());
    this.#triggerConsumedAt = this.#clock();
  }

  async reconcile(key: ReconcileKey): Promise<ReconcileResult | undefined> {
    if (key === FLEET_KEY) return this.reconcileFleet();
    return this.reconcileNode(key.slice("node/".length));
  }

  // ---- One node ----

  async reconcileNode(nodeName: string): Promise<ReconcileResult | undefined> {
    let name: string;
    try {
      name = brsName(nodeName);
    } catch {
      return undefined; // a node whose name cannot have a shadow has none to reconcile
    }
    const shadow = this.#d.shadows.get(name, this.#d.namespace);
    if (shadow === undefined || isBeingDeleted(shadow)) return undefined;
    const node = this.#d.nodes.get(nodeName);
    if (node === undefined) {
      await this.#collectIfUnlabelled(shadow, nodeName);
      return undefined;
    }
    const view = toShadowView(shadow);
    if (view === undefined) return undefined;
    const now = this.#clock();
    const decision = decideNextSpec(view, this.#nodePolicy(now), now);
    switch (decision.kind) {
      case "advance":
      case "reset":
        return this.#writeStep(shadow, view, decision, now);
      case "keep":
        return decision.recheckAt === null
          ? undefined
          : { requeueAfterMs: decision.recheckAt.getTime() - now.getTime() };
      case "start":
      case "wait":
      case "quarantined":
        // Starting is the fleet's decision (budget, window, pause, order).
        this.#d.enqueueFleet();
        return undefined;
    }
  }

  async #writeStep(
    shadow: BottlerocketShadow,
    view: ShadowView,
    decision: Extract<NodeDecision, { kind: "advance" | "reset" }>,
    now: Date,
  ): Promise<ReconcileResult | undefined> {
    try {
      await this.#d.client.writeSpec({
        name: view.name,
        resourceVersion: shadow.metadata.resourceVersion ?? "",
        spec: decision.spec,
        annotations: decision.annotations,
      });
    } catch (err) {
      if (isConflict(err)) return { requeueAfterMs: CONFLICT_RETRY_MS };
      if (isNotFound(err)) return undefined;
      throw err;
    }
    const since = parseTimestamp(view.spec.state_transition_timestamp);
    const seconds = since === undefined ? null : (now.getTime() - since.getTime()) / 1000;
    if (decision.kind === "reset" || decision.step !== "restamp") {
      this.#d.metrics.transition(
        view.spec.state,
        decision.spec.state,
        decision.kind === "advance" && decision.step === "clear" ? null : seconds,
      );
    }
    if (decision.kind === "reset" && decision.cause !== "no-status") this.#d.metrics.failure(decision.cause);
    const note = stepNote(decision);
    if (note !== null) this.#d.events.record(this.#subjects(shadow, view.nodeName), note);
    this.#d.log.info(`${view.name}: ${decision.reason}`);
    // A node leaving the active set frees budget; one reaching Idle may be startable again later.
    this.#d.enqueueFleet();
    return undefined;
  }

  /**
   * brupop deletes the shadow of a node that lost its label. The managed-node cache cannot tell "lost its label"
   * from "deleted" or "not yet seen", so ask the API server: only an existing Node without the label loses its
   * shadow. A deleted Node's shadow goes by owner-reference garbage collection.
   */
  async #collectIfUnlabelled(shadow: BottlerocketShadow, nodeName: string): Promise<void> {
    const fresh = await this.#d.readNode(nodeName);
    if (fresh === undefined) return;
    const view = toNodeView(fresh);
    if (view === undefined || isManaged(view)) return; // labelled: our cache lags, or it is outside our selector
    const name = shadow.metadata.name ?? "";
    try {
      await this.#d.client.delete(name, shadow.metadata.uid ?? "");
    } catch (err) {
      if (isNotFound(err) || isConflict(err)) return;
      throw err;
    }
    this.#d.log.info(`${name}: deleted, node ${nodeName} no longer carries the updater-interface label`);
    this.#d.events.record([nodeSubject(nodeName, fresh.metadata?.uid)], {
      type: "Normal",
      reason: "ShadowDeleted",
      action: "Delete",
      message: `node is no longer labelled bottlerocket.aws/updater-interface-version=2.0.0; deleted ${this.#d.namespace}/${name}`,
    });
  }

  // ---- The fleet ----

  async reconcileFleet(): Promise<ReconcileResult | undefined> {
    const now = this.#clock();
    const policyObject = this.#policyObject();
    const resolution = this.#resolve(policyObject, now);
    const nodes = this.#d.nodes
      .list()
      .map(toNodeView)
      .filter((n): n is NodeView => n !== undefined);
    let shadows = this.#cachedShadows();
    let selection: Selection | null = null;

    if (resolution.ok) {
      const policy = resolution.policy;
      selection = this.#select(shadows, nodes, policy, now);
      if (selection.start.length > 0) {
        // Grant budget from a consistent read only.
        const fresh = await this.#d.client.list();
        const versions = new Map(fresh.map((s) => [s.metadata.name ?? "", s.metadata.resourceVersion ?? ""]));
        shadows = fresh
          .filter((s) => !isBeingDeleted(s))
          .map(toShadowView)
          .filter(isDefined);
        selection = this.#select(shadows, nodes, policy, now);
        const conflict = await this.#start(selection.start, versions, fresh);
        if (conflict) return { requeueAfterMs: CONFLICT_RETRY_MS };
      }
      if (selection.sessionDrained) this.#triggerConsumedAt = now;
      this.#explainWaits(selection.notStarted);
    }

    this.#d.metrics.observeFleet(shadows, selection);
    await this.#writePolicyStatus(policyObject, shadows, nodes, resolution, selection);
    return { requeueAfterMs: this.#fleetRecheck(selection, now) };
  }

  #select(shadows: ShadowView[], nodes: NodeView[], policy: FleetPolicy, now: Date): Selection {
    return selectNodesToStart(
      { shadows, nodes, controllerNodeName: this.#d.controllerNodeName, triggerConsumedAt: this.#triggerConsumedAt },
      policy,
      now,
    );
  }

  /** Writes the granted starts; true when one hit a conflict (the rest are not attempted: decide again). */
  async #start(
    grants: readonly StartGrant[],
    versions: ReadonlyMap<string, string>,
    fresh: readonly BottlerocketShadow[],
  ): Promise<boolean> {
    for (const grant of grants) {
      try {
        await this.#d.client.writeSpec({
          name: grant.shadowName,
          resourceVersion: versions.get(grant.shadowName) ?? "",
          spec: grant.spec,
          annotations: grant.annotations,
        });
      } catch (err) {
        if (isConflict(err) || isNotFound(err)) return true;
        throw err;
      }
      this.#d.metrics.transition("Idle", grant.spec.state, null);
      this.#d.events.forget(grant.nodeName);
      const shadow = fresh.find((s) => s.metadata.name === grant.shadowName);
      this.#d.events.record(this.#subjects(shadow, grant.nodeName), {
        type: "Normal",
        reason: "UpdateStarted",
        action: "Start",
        message: grant.reason,
      });
      this.#d.log.info(`${grant.shadowName}: ${grant.reason}`);
    }
    return false;
  }

  /** One Event per node and reason: a node that waits for the same reason for an hour is explained once. */
  #explainWaits(notStarted: readonly NotStarted[]): void {
    for (const entry of notStarted) {
      const { code } = entry.reason;
      if (!isBlocking(code)) {
        this.#d.events.forget(entry.nodeName);
        continue;
      }
      const shadow = entry.shadowName === null ? undefined : this.#d.shadows.get(entry.shadowName, this.#d.namespace);
      this.#d.events.recordOnChange(entry.nodeName, code, this.#subjects(shadow, entry.nodeName), {
        type: WARNING_CODES.has(code) ? "Warning" : "Normal",
        reason: NOT_STARTED_REASONS[code] ?? "NotStarted",
        action: "Skip",
        message: `update not started: ${entry.reason.message}`,
      });
    }
  }

  #fleetRecheck(selection: Selection | null, now: Date): number {
    let at = now.getTime() + WAITING_RECHECK_MS;
    if (selection !== null) {
      if (selection.recheckAt !== null) at = Math.min(at, selection.recheckAt.getTime());
      // The status shows whether the window is open: look again when it closes.
      if (selection.gate.openUntil !== null) at = Math.min(at, selection.gate.openUntil.getTime());
    }
    return Math.max(0, at - now.getTime());
  }

  // ---- Policy ----

  #policyObject(): BottlerocketUpdatePolicy | undefined {
    return this.#d.policies.list(this.#d.namespace)[0];
  }

  #resolve(policyObject: BottlerocketUpdatePolicy | undefined, now: Date): PolicyResolution {
    const resolution = resolveFleetPolicy(this.#d.env, policyObject?.spec ?? null, now);
    if (resolution.ok) {
      this.#lastGoodPolicy = resolution.policy;
      this.#d.events.forget("policy/errors");
    } else {
      const subject: EventSubject[] =
        policyObject === undefined ? [] : [policySubject(policyObject, this.#d.namespace)];
      if (
        this.#d.events.recordOnChange("policy/errors", resolution.errors.join("\n"), subject, {
          type: "Warning",
          reason: "InvalidPolicy",
          action: "Validate",
          message: `no update starts until the policy is fixed: ${resolution.errors.join("; ")}`,
        })
      ) {
        this.#d.log.warn(`invalid update policy, no update starts: ${resolution.errors.join("; ")}`);
      }
    }
    return resolution;
  }

  /** Node steps go on with the last valid policy (or defaults) while the policy is invalid: only starts stop. */
  #nodePolicy(now: Date): NodePolicy {
    const resolution = resolveFleetPolicy(this.#d.env, this.#policyObject()?.spec ?? null, now);
    if (resolution.ok) return resolution.policy;
    return this.#lastGoodPolicy ?? FALLBACK_NODE_POLICY;
  }

  async #writePolicyStatus(
    policyObject: BottlerocketUpdatePolicy | undefined,
    shadows: readonly ShadowView[],
    nodes: readonly NodeView[],
    resolution: PolicyResolution,
    selection: Selection | null,
  ): Promise<void> {
    if (policyObject === undefined) return;
    const status = buildPolicyStatus({
      shadows,
      managedNodes: nodes.filter(isManaged).length,
      resolution,
      selection,
      ...(policyObject.metadata.generation === undefined
        ? {}
        : { observedGeneration: policyObject.metadata.generation }),
    });
    if (canonicalJson(status) === canonicalJson(policyObject.status ?? null)) return;
    try {
      await this.#d.client.writePolicyStatus(policyObject, status);
    } catch (err) {
      // A conflict means a newer policy is on its way to the cache; its event brings us back here.
      if (!isConflict(err) && !isNotFound(err)) this.#d.log.warn(`policy status: ${apiMessage(err)}`);
    }
  }

  // ---- helpers ----

  #cachedShadows(): ShadowView[] {
    return this.#d.shadows
      .list(this.#d.namespace)
      .filter((s) => !isBeingDeleted(s))
      .map(toShadowView)
      .filter(isDefined);
  }

  #subjects(shadow: BottlerocketShadow | undefined, nodeName: string): EventSubject[] {
    const node = this.#d.nodes.get(nodeName);
    const subjects: EventSubject[] = [nodeSubject(nodeName, node?.metadata?.uid)];
    if (shadow?.metadata.name !== undefined) {
      subjects.unshift({
        kind: KIND,
        apiVersion: API_VERSION_V2,
        name: shadow.metadata.name,
        namespace: this.#d.namespace,
        ...(shadow.metadata.uid === undefined ? {} : { uid: shadow.metadata.uid }),
      });
    }
    return subjects;
  }
}

function isDefined<T>(value: T | undefined): value is T {
  return value !== undefined;
}

function isBeingDeleted(object: { metadata: object }): boolean {
  // ObjectMeta leaves deletionTimestamp out (client-node types it as Date, the wire has a string).
  const meta = object.metadata as { deletionTimestamp?: unknown };
  return meta.deletionTimestamp !== undefined && meta.deletionTimestamp !== null;
}

function nodeSubject(name: string, uid: string | undefined): EventSubject {
  return { kind: "Node", apiVersion: "v1", name, ...(uid === undefined ? {} : { uid }) };
}

function policySubject(policy: BottlerocketUpdatePolicy, namespace: string): EventSubject {
  return {
    kind: UPDATE_POLICY_KIND,
    apiVersion: UPDATE_POLICY_API_VERSION,
    name: policy.metadata.name ?? "",
    namespace,
    ...(policy.metadata.uid === undefined ? {} : { uid: policy.metadata.uid }),
  };
}

/** The Event for a node step; null for bookkeeping nobody asks about (clearing a finished spec). */
function stepNote(decision: Extract<NodeDecision, { kind: "advance" | "reset" }>): EventNote | null {
  if (decision.kind === "reset") {
    switch (decision.cause) {
      case "crashed":
        return { type: "Warning", reason: "UpdateFailed", action: "Reset", message: decision.reason };
      case "timed-out":
        return { type: "Warning", reason: "UpdateTimedOut", action: "Reset", message: decision.reason };
      case "no-status":
        return { type: "Normal", reason: "SpecReset", action: "Reset", message: decision.reason };
    }
  }
  switch (decision.step) {
    case "next":
      return { type: "Normal", reason: `Requested${decision.spec.state}`, action: "Advance", message: decision.reason };
    case "finish":
      return { type: "Normal", reason: "UpdateSucceeded", action: "Finish", message: decision.reason };
    case "restamp":
      return { type: "Warning", reason: "TimerRestarted", action: "Restamp", message: decision.reason };
    case "clear":
      return null;
  }
}

const NOT_STARTED_REASONS: Partial<Record<NotStarted["reason"]["code"], string>> = {
  "not-managed": "NotManaged",
  "invalid-status": "InvalidStatus",
  "agent-unresponsive": "AgentUnresponsive",
  "downgrade-refused": "DowngradeRefused",
  quarantined: "Quarantined",
  "opted-out": "OptedOut",
  backoff: "BackingOff",
  paused: "Paused",
  "outside-window": "OutsideWindow",
  "budget-full": "BudgetFull",
};

const WARNING_CODES: ReadonlySet<string> = new Set([
  "invalid-status",
  "agent-unresponsive",
  "downgrade-refused",
  "quarantined",
]);
