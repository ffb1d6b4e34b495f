// The invariant oracle's decisions: a pure state machine fed with what an observer saw (Nodes, pods,
// PodDisruptionBudgets, the simulated hosts' signals, the operator's Events and the reasons its shadows show), each
// with the time it was seen. It never asks the operator what it thinks: "disrupted", "drained", "updated" and
// "stuck" are defined here (README.md), from what really happened to the nodes.
//
// Violations are recorded as they happen, on the change that shows them (or on a tick, for the bounds in time).
import { boundAtReboot, mustBeGone, type DrainScopeOptions } from "./drain-scope.ts";
import {
  DO_NOT_DISRUPT_ANNOTATIONS,
  selects,
  type EventView,
  type NodeView,
  type PdbView,
  type PodView,
} from "./views.ts";

export const INVARIANTS = {
  I1: "no host reboots while a pod its drain must evict is still bound to the node",
  I2: "nodes actually disrupted (cordoned by the operator, or in a reboot it asked for) never exceed the budget",
  I2T: "nodes actually disrupted that share a value of a budgeted node label (a zone) never exceed that budget",
  I3: "no node stays cordoned by the operator past the bound without a reason on its shadow and an Event",
  I4: "every node reaches the target or is reported stuck, is not left cordoned while Ready, and the fleet keeps going",
  I5: "updates start only while the schedule allows",
  I6:
    "a node the operator disrupts carries the do-not-disrupt annotations of Karpenter and cluster-autoscaler; " +
    "those it set are gone once the node is back in service",
  PDB: "no PodDisruptionBudget falls below its desired healthy pods while the nodes are all up",
} as const;

export type InvariantId = keyof typeof INVARIANTS;
export const INVARIANT_IDS = Object.keys(INVARIANTS) as InvariantId[];

export interface Violation {
  readonly invariant: InvariantId;
  /** ms since epoch. */
  readonly at: number;
  readonly nodes: readonly string[];
  readonly message: string;
  /** What the oracle saw of the nodes concerned, most recent last. */
  readonly evidence: readonly string[];
}

/** A number of nodes, "unlimited", or a percentage of the managed nodes ("25%"). */
export type BudgetSpec = number | "unlimited" | `${number}%`;

/**
 * The most nodes that may be disrupted at once. A percentage is of the managed nodes, rounded DOWN (never more than
 * the share asked for), and at least 1 (docs/operations.md: "a percentage of managed nodes, at least 1").
 */
export function budgetLimit(spec: BudgetSpec, managed: number): number {
  if (spec === "unlimited") return Infinity;
  if (typeof spec === "number") return spec;
  const percent = Number(spec.slice(0, -1));
  if (!Number.isFinite(percent) || percent < 0) throw new RangeError(`budget ${spec} is not a percentage`);
  return Math.max(1, Math.floor((percent * managed) / 100));
}

/** What the simulated host of a node showed. */
export type HostSignal =
  /** The host accepted a reboot through its update API: only the node's agent calls it, so the operator asked. */
  | { readonly kind: "reboot-requested" }
  /** The host's API went down: a reboot the operator asked for, or an external power cycle. */
  | { readonly kind: "down" }
  /** The host booted and runs `version`. */
  | { readonly kind: "up"; readonly version: string }
  /** A boot that will not finish by itself (no API until an external reset). */
  | { readonly kind: "boot-hung" }
  /** An update command started (refresh, prepare, activate, deactivate). */
  | { readonly kind: "command"; readonly command: string };

/** A budget per value of a node label (a zone): nodes without the label form one group of their own. */
export interface TopologyBudgetSpec {
  readonly key: string;
  readonly budget: Exclude<BudgetSpec, "unlimited">;
}

export interface OracleOptions {
  readonly budget: BudgetSpec;
  /** I2T: per-label budgets on top of `budget`; a percentage is of the managed nodes with that value. */
  readonly topologyBudgets?: readonly TopologyBudgetSpec[];
  /** I3: how long a node may stay cordoned by the operator before a reason and an Event must be visible. */
  readonly reasonWithinMs: number;
  /** I3: how long the reason may be out of sight (a shadow being rewritten) before it counts as missing. */
  readonly reasonGraceMs?: number;
  /** I4: the longest time no node may make progress while some node could. */
  readonly stallMs: number;
  /**
   * Field managers whose cordon is not the operator's (a person's `kubectl cordon`). The API server records the
   * operator's merge patches under its client's user agent, which names no component, so a cordon is taken to be
   * the operator's unless one of these set it.
   */
  readonly foreignCordonManagers?: readonly string[];
  /** Which nodes the operator manages (its node selector); default every node. */
  readonly managed?: (labels: Readonly<Record<string, string>>) => boolean;
  /** I5: whether the schedule lets updates start at time t; undefined: no schedule (always). */
  readonly scheduleOpen?: (t: number) => boolean;
  /** I5: a start may follow the schedule's closing by this much (the decision, then the agent's next sync). */
  readonly startSlackMs?: number;
  /** I5: a prepare after this long without any update activity on the node begins a new attempt (a start). */
  readonly attemptGapMs?: number;
  readonly drain?: DrainScopeOptions;
  /**
   * I6, checked when set: while the operator disrupts a node it carries DO_NOT_DISRUPT_ANNOTATIONS (or someone
   * else's value of one), and those the operator set are gone within `releaseWithinMs` of the node being updated,
   * Ready and uncordoned.
   */
  readonly doNotDisrupt?: { readonly releaseWithinMs: number };
  /** I6: field managers whose annotations are a person's, not the operator's (`kubectl annotate`). */
  readonly foreignAnnotationManagers?: readonly string[];
  /** When observation began (ms). */
  readonly startedAt: number;
}

export const DEFAULT_FOREIGN_CORDON_MANAGERS: readonly string[] = ["kubectl-cordon", "kubectl-drain", "kubectl"];
export const DEFAULT_FOREIGN_ANNOTATION_MANAGERS: readonly string[] = [
  "kubectl-annotate",
  "kubectl-edit",
  "kubectl-client-side-apply",
  "kubectl",
];

type Outcome =
  | { readonly node: string; readonly outcome: "updated" }
  | { readonly node: string; readonly outcome: "deleted" }
  | { readonly node: string; readonly outcome: "left"; readonly why: string }
  | { readonly node: string; readonly outcome: "stuck"; readonly reason: string; readonly event: string }
  | { readonly node: string; readonly outcome: "stranded" | "lost"; readonly why: readonly string[] };
export type NodeOutcome = Outcome;

interface Track {
  readonly name: string;
  view: NodeView | undefined;
  deletedAt: number | undefined;
  operatorCordon: boolean;
  cordonManager: string | undefined;
  cordonSince: number | undefined;
  lastUncordonAt: number | undefined;
  hostUp: boolean;
  hostVersion: string | undefined;
  /** From a reboot the operator asked for until the host is up and the Node Ready again. */
  operatorReboot: boolean;
  rebootSince: number | undefined;
  /** The host went down since the operator's reboot request (so an "up" ends that reboot). */
  rebootWentDown: boolean;
  hostHung: boolean;
  reason: string | undefined;
  events: EventView[];
  lastProgressAt: number;
  lastActivityAt: number | undefined;
  attemptStartAt: number;
  /** I5: since when the shadow's spec asks the node to stage an update (undefined: it does not). */
  stageAskedAt: number | undefined;
  reasonMissingSince: number | undefined;
  i3Reported: boolean;
  /** When the Node was last observed (a reboot is judged for I6 only on a view newer than it). */
  viewAt: number | undefined;
  /** I6: disrupted when first seen (taken over from before observation: the operator has a bound to annotate it). */
  disruptedAtFirstSight: boolean;
  firstSeenAt: number | undefined;
  i6Reported: boolean;
  /** I6: since when the node is back in service with annotations the operator set. */
  lingeringSince: number | undefined;
  lingerReported: boolean;
  notes: string[];
}

interface PdbTrack {
  view: PdbView;
  armed: boolean;
  lowest: number | undefined;
}

/** The spec state that asks a node to stage an update (the wire's name). */
const STAGE = "StagedAndPerformedUpdate";
const NOTES_KEPT = 14;
const EVENTS_KEPT = 60;
// Event timestamps have a second's precision; an Event may carry a time up to this much before what it reports.
const EVENT_SLACK_MS = 2_000;

export class InvariantOracle {
  readonly violations: Violation[] = [];
  /** Most nodes disrupted at once, and the budget then. */
  maxDisrupted = 0;
  /** I2T: most nodes disrupted at once per group, by `key=value` (`key unset` for nodes without the label). */
  readonly maxDisruptedByGroup = new Map<string, number>();
  /** Changes and signals checked, by kind. */
  readonly checks = { node: 0, pod: 0, host: 0, event: 0, shadow: 0, pdb: 0, reboot: 0 };
  /**
   * Reboots whose pods were re-read after the fact (I1); candidate pods the fresh read showed gone (the cache lagged);
   * reboots whose pods could not be read again (I1 unchecked for them: a run with any is not a pass).
   */
  readonly rebootChecks = { reboots: 0, podsCachedButGone: 0, unchecked: 0 };
  /** Update attempts seen starting (I5). */
  starts = 0;
  readonly #o: OracleOptions;
  readonly #nodes = new Map<string, Track>();
  readonly #pods = new Map<string, PodView>();
  readonly #pdbs = new Map<string, PdbTrack>();
  #target: string | undefined;
  #scheduleOpen: ((t: number) => boolean) | undefined;
  #fleetProgressAt: number;
  #stallReported = false;
  #overBudget = false;
  /** I2T: the groups over their budget now (one violation per stretch). */
  readonly #overTopology = new Set<string>();
  readonly #onViolation: ((v: Violation) => void) | undefined;

  constructor(options: OracleOptions, onViolation?: (v: Violation) => void) {
    this.#o = options;
    this.#fleetProgressAt = options.startedAt;
    this.#scheduleOpen = options.scheduleOpen;
    this.#onViolation = onViolation;
  }

  /** The schedule changed (e.g. a policy set a new one): from now on, starts are checked against `open` (I5). */
  schedule(open: ((t: number) => boolean) | undefined): void {
    this.#scheduleOpen = open;
  }

  get target(): string | undefined {
    return this.#target;
  }

  /** A new version was offered to the hosts at `at`: from now on every node must reach it (I4). */
  publish(at: number, version: string): void {
    this.#target = version;
    this.#fleetProgressAt = at;
    this.#stallReported = false;
  }

  // ---- Observations

  node(at: number, view: NodeView): void {
    this.checks.node++;
    const t = this.#track(view.name);
    const before = t.view;
    t.view = view;
    t.viewAt = at;
    t.deletedAt = undefined;
    const byOperator = view.unschedulable && !this.#foreign(view.cordonManager);
    if (byOperator && !t.operatorCordon) {
      t.operatorCordon = true;
      t.cordonSince = at;
      t.cordonManager = view.cordonManager;
      this.#activity(at, t);
      this.#progress(at, t, `cordoned by ${view.cordonManager ?? "an unnamed manager"}`);
    } else if (!byOperator && t.operatorCordon) {
      t.operatorCordon = false;
      t.cordonSince = undefined;
      t.lastUncordonAt = at;
      t.i3Reported = false;
      t.reasonMissingSince = undefined;
      this.#activity(at, t);
      this.#progress(at, t, view.unschedulable ? `cordon taken over by ${view.cordonManager ?? "?"}` : "uncordoned");
    }
    if (before !== undefined && before.osVersion !== view.osVersion) {
      this.#progress(at, t, `Node shows ${view.osVersion ?? "no Bottlerocket version"}`);
    }
    if (before?.ready !== view.ready) {
      if (before !== undefined) this.#note(at, t, `Ready ${String(view.ready)}`);
      if (view.ready === false) this.#disarmPdbs();
    }
    if (t.operatorReboot && t.rebootWentDown && t.hostUp && view.ready !== false) this.#rebootOver(at, t);
    if (t.firstSeenAt === undefined) {
      t.firstSeenAt = at;
      t.disruptedAtFirstSight = this.#isDisrupted(t);
    }
    this.#checkBudget(at);
    this.#checkCordons(at);
    this.#checkDoNotDisrupt(at, t);
  }

  nodeDeleted(at: number, name: string): void {
    this.checks.node++;
    const t = this.#track(name);
    t.view = undefined;
    t.deletedAt = at;
    t.operatorCordon = false;
    t.operatorReboot = false;
    t.cordonSince = undefined;
    this.#note(at, t, "Node deleted");
    this.#disarmPdbs();
    this.#checkBudget(at);
  }

  pod(at: number, view: PodView): void {
    this.checks.pod++;
    this.#pods.set(view.uid, view);
    this.#checkPdbs(at);
  }

  podDeleted(at: number, uid: string): void {
    this.checks.pod++;
    const pod = this.#pods.get(uid);
    this.#pods.delete(uid);
    const t = pod?.nodeName === undefined ? undefined : this.#nodes.get(pod.nodeName);
    if (pod && t?.operatorCordon && mustBeGone(pod, t.name, at, this.#o.drain)) {
      this.#progress(at, t, `pod ${pod.namespace}/${pod.name} gone`);
    }
    this.#checkPdbs(at);
  }

  pdb(at: number, view: PdbView): void {
    this.checks.pdb++;
    const key = `${view.namespace}/${view.name}`;
    const known = this.#pdbs.get(key);
    if (known) known.view = view;
    else this.#pdbs.set(key, { view, armed: false, lowest: undefined });
    this.#checkPdbs(at);
  }

  pdbDeleted(namespace: string, name: string): void {
    this.#pdbs.delete(`${namespace}/${name}`);
  }

  host(at: number, node: string, signal: HostSignal): void {
    this.checks.host++;
    const t = this.#track(node);
    switch (signal.kind) {
      case "reboot-requested":
        t.operatorReboot = true;
        t.rebootSince = at;
        t.rebootWentDown = false;
        this.#activity(at, t);
        this.#progress(at, t, "reboot requested through the host API");
        break;
      case "down":
        t.hostUp = false;
        if (t.operatorReboot) t.rebootWentDown = true;
        this.#note(at, t, t.operatorReboot ? "host down (reboot)" : "host down (not asked for by the operator)");
        break;
      case "up":
        t.hostUp = true;
        t.hostHung = false;
        t.hostVersion = signal.version;
        this.#progress(at, t, `host up, running ${signal.version}`);
        if (t.operatorReboot && t.rebootWentDown && t.view?.ready !== false) this.#rebootOver(at, t);
        break;
      case "boot-hung":
        t.hostHung = true;
        this.#note(at, t, "boot hung: no host API until an external reset");
        break;
      case "command":
        if (signal.command === "refresh") break;
        this.#progress(at, t, `host ${signal.command} started`);
        if (signal.command === "prepare") this.#maybeStart(at, t);
        this.#activity(at, t);
        break;
    }
    this.#checkBudget(at);
  }

  /** The host's state when observation begins. */
  hostInitially(node: string, up: boolean, version: string): void {
    const t = this.#track(node);
    t.hostUp = up;
    t.hostVersion = version;
  }

  /**
   * I1, once the pods of a node that rebooted at `at` have been read again after the fact: `cachedAtReboot` is what
   * the observer's cache showed bound to the node at `at`, `listedAfter` a fresh consistent list of its pods.
   */
  rebootChecked(at: number, node: string, cachedAtReboot: readonly PodView[], listedAfter: readonly PodView[]): void {
    this.checks.reboot++;
    this.rebootChecks.reboots++;
    const candidates = cachedAtReboot.filter((p) => mustBeGone(p, node, at, this.#o.drain));
    const bound = boundAtReboot(node, at, cachedAtReboot, listedAfter, this.#o.drain);
    this.rebootChecks.podsCachedButGone += candidates.length - bound.length;
    if (bound.length === 0) return;
    const t = this.#track(node);
    const pods = bound.map(
      (p) =>
        `${p.namespace}/${p.name} (${p.phase ?? "no phase"}${p.deletingSince === undefined ? "" : `, terminating for ${secs(at - p.deletingSince)}`})`,
    );
    this.#violate(
      "I1",
      at,
      [node],
      `${node} rebooted with ${bound.length} pod(s) its drain must evict still bound: ${pods.join(", ")}` +
        (t.operatorCordon ? "" : "; the node was not even cordoned"),
    );
  }

  /** The pods of a node that rebooted at `at` could not be read again: I1 could not be checked for that reboot. */
  rebootUnchecked(at: number, node: string, error: string): void {
    this.rebootChecks.unchecked++;
    this.#note(at, this.#track(node), `reboot NOT checked for pods still bound: ${error}`);
  }

  /** The reason the node's shadow shows now (undefined: none, or no shadow). Read only for I3 and I4's "reported". */
  shadowReason(at: number, node: string, reason: string | undefined): void {
    this.checks.shadow++;
    this.#track(node).reason = reason;
    this.#checkCordons(at);
  }

  /**
   * The state the node's shadow asks for now (spec.state; undefined: no shadow). A start is the operator's decision:
   * I5 dates a prepare that begins an attempt from when the spec first asked to stage, if it still does, since the
   * host may act on the request late (its API down, the agent restarting).
   */
  shadowSpec(at: number, node: string, state: string | undefined): void {
    const t = this.#track(node);
    if (state !== STAGE) t.stageAskedAt = undefined;
    else t.stageAskedAt ??= at;
  }

  event(at: number, e: EventView): void {
    this.checks.event++;
    const t = this.#track(e.node);
    t.events.push(e);
    if (t.events.length > EVENTS_KEPT) t.events.shift();
    this.#checkCordons(at);
  }

  /** Time passing: the bounds of I3 and I4. Call it every second or so. */
  tick(at: number): void {
    this.#checkCordons(at);
    this.#checkStall(at);
    for (const t of this.#nodes.values()) this.#checkDoNotDisrupt(at, t);
  }

  // ---- Verdicts

  /** The nodes disrupted now (cordoned by the operator, or in a reboot it asked for). */
  disrupted(): string[] {
    return [...this.#nodes.values()].filter((t) => this.#isDisrupted(t)).map((t) => t.name);
  }

  /** Whether a node runs the target, shows it on its Node, and is back in service (not cordoned by the operator). */
  updated(node: string): boolean {
    const t = this.#nodes.get(node);
    return t !== undefined && this.#isUpdated(t);
  }

  /** Whether the operator reports the node stuck: a Warning Event since its last attempt began and a shown reason. */
  reportedStuck(node: string): boolean {
    const t = this.#nodes.get(node);
    return t !== undefined && this.#lastWarning(t) !== undefined && t.reason !== undefined;
  }

  /** Each node's outcome now; `finish` records the I4 violations they show. */
  outcomes(): NodeOutcome[] {
    return [...this.#nodes.values()]
      .sort((a, b) => a.name.localeCompare(b.name, undefined, { numeric: true }))
      .map((t) => this.#outcome(t));
  }

  /** The end of a run: every node must have an outcome that is not "lost" or "stranded" (I4). */
  finish(at: number): NodeOutcome[] {
    this.tick(at);
    const outcomes = this.outcomes();
    for (const o of outcomes) {
      if (o.outcome === "lost") {
        this.#violate(
          "I4",
          at,
          [o.node],
          `${o.node} neither reached ${this.#target ?? "?"} nor was reported stuck: ${o.why.join("; ")}`,
        );
      } else if (o.outcome === "stranded") {
        this.#violate(
          "I4",
          at,
          [o.node],
          `${o.node} is reported stuck but left cordoned while Ready: ${o.why.join("; ")}`,
        );
      }
    }
    return outcomes;
  }

  /** Recent observations of a node, for a report. */
  notes(node: string): readonly string[] {
    return this.#nodes.get(node)?.notes ?? [];
  }

  /** Lowest healthy count seen per PodDisruptionBudget (namespace/name) while it was checked. */
  pdbLowest(): Map<string, number> {
    return new Map([...this.#pdbs].flatMap(([k, p]) => (p.lowest === undefined ? [] : [[k, p.lowest] as const])));
  }

  // ---- Internals

  #track(name: string): Track {
    let t = this.#nodes.get(name);
    if (!t) {
      t = {
        name,
        view: undefined,
        deletedAt: undefined,
        operatorCordon: false,
        cordonManager: undefined,
        cordonSince: undefined,
        lastUncordonAt: undefined,
        hostUp: true,
        hostVersion: undefined,
        operatorReboot: false,
        rebootSince: undefined,
        rebootWentDown: false,
        hostHung: false,
        reason: undefined,
        events: [],
        lastProgressAt: this.#o.startedAt,
        lastActivityAt: undefined,
        attemptStartAt: this.#o.startedAt,
        stageAskedAt: undefined,
        reasonMissingSince: undefined,
        i3Reported: false,
        viewAt: undefined,
        disruptedAtFirstSight: false,
        firstSeenAt: undefined,
        i6Reported: false,
        lingeringSince: undefined,
        lingerReported: false,
        notes: [],
      };
      this.#nodes.set(name, t);
    }
    return t;
  }

  #foreign(manager: string | undefined): boolean {
    return (this.#o.foreignCordonManagers ?? DEFAULT_FOREIGN_CORDON_MANAGERS).includes(manager ?? "");
  }

  #managed(t: Track): boolean {
    return t.view !== undefined && (this.#o.managed?.(t.view.labels) ?? true);
  }

  #isDisrupted(t: Track): boolean {
    return t.view !== undefined && (t.operatorCordon || t.operatorReboot);
  }

  #isUpdated(t: Track): boolean {
    const target = this.#target;
    return (
      target !== undefined &&
      t.view !== undefined &&
      t.hostUp &&
      t.hostVersion === target &&
      t.view.osVersion === target &&
      !t.operatorCordon
    );
  }

  #lastWarning(t: Track): EventView | undefined {
    return t.events.findLast((e) => e.type === "Warning" && e.at >= t.attemptStartAt - EVENT_SLACK_MS);
  }

  #rebootOver(at: number, t: Track): void {
    t.operatorReboot = false;
    t.rebootSince = undefined;
    t.rebootWentDown = false;
    this.#note(at, t, "reboot over: host up and Node Ready");
  }

  #note(at: number, t: Track, what: string): void {
    t.notes.push(`t+${secs(at - this.#o.startedAt)} ${what}`);
    if (t.notes.length > NOTES_KEPT) t.notes.shift();
  }

  #progress(at: number, t: Track, what: string): void {
    t.lastProgressAt = at;
    this.#fleetProgressAt = at;
    this.#stallReported = false;
    this.#note(at, t, what);
  }

  #activity(at: number, t: Track): void {
    t.lastActivityAt = at;
  }

  #violate(invariant: InvariantId, at: number, nodes: readonly string[], message: string): void {
    const evidence = nodes.flatMap((n) => (this.#nodes.get(n)?.notes ?? []).map((line) => `${n}: ${line}`));
    const v: Violation = { invariant, at, nodes: [...nodes], message, evidence };
    this.violations.push(v);
    this.#onViolation?.(v);
  }

  #checkBudget(at: number): void {
    const tracks = [...this.#nodes.values()];
    const disrupted = tracks.filter((t) => this.#isDisrupted(t));
    this.#checkTopology(at, tracks, disrupted);
    const limit = budgetLimit(this.#o.budget, tracks.filter((t) => this.#managed(t)).length);
    this.maxDisrupted = Math.max(this.maxDisrupted, disrupted.length);
    if (disrupted.length <= limit) {
      this.#overBudget = false;
      return;
    }
    if (this.#overBudget) return;
    this.#overBudget = true;
    this.#violate(
      "I2",
      at,
      disrupted.map((t) => t.name),
      `${disrupted.length} nodes disrupted at once, budget ${String(this.#o.budget)}` +
        (typeof this.#o.budget === "string" && this.#o.budget.endsWith("%") ? ` (${limit} nodes)` : "") +
        `: ${disrupted.map(disruptedHow(at)).join(", ")}`,
    );
  }

  /** I2T: per budgeted label, the disrupted nodes of each value against that value's own limit. */
  #checkTopology(at: number, tracks: readonly Track[], disrupted: readonly Track[]): void {
    for (const { key, budget } of this.#o.topologyBudgets ?? []) {
      const groupOf = (t: Track) => {
        const value = t.view?.labels[key];
        return value === undefined ? `${key} unset` : `${key}=${value}`;
      };
      const sizes = new Map<string, number>();
      for (const t of tracks) if (this.#managed(t)) sizes.set(groupOf(t), (sizes.get(groupOf(t)) ?? 0) + 1);
      const byGroup = new Map<string, Track[]>();
      for (const t of disrupted) byGroup.set(groupOf(t), [...(byGroup.get(groupOf(t)) ?? []), t]);
      for (const group of new Set([...sizes.keys(), ...byGroup.keys(), ...this.#overTopology])) {
        if (group !== `${key} unset` && !group.startsWith(`${key}=`)) continue; // another key's (label keys have no "=")
        const nodes = byGroup.get(group) ?? [];
        this.maxDisruptedByGroup.set(group, Math.max(this.maxDisruptedByGroup.get(group) ?? 0, nodes.length));
        const limit = budgetLimit(budget, sizes.get(group) ?? 0);
        if (nodes.length <= limit) {
          this.#overTopology.delete(group);
          continue;
        }
        if (this.#overTopology.has(group)) continue;
        this.#overTopology.add(group);
        this.#violate(
          "I2T",
          at,
          nodes.map((t) => t.name),
          `${nodes.length} nodes of ${group} disrupted at once, budget ${String(budget)}` +
            (typeof budget === "string" ? ` (${limit} of its ${sizes.get(group) ?? 0} nodes)` : "") +
            `: ${nodes.map(disruptedHow(at)).join(", ")}`,
        );
      }
    }
  }

  #checkCordons(at: number): void {
    for (const t of this.#nodes.values()) {
      if (!t.operatorCordon || t.cordonSince === undefined || t.view === undefined) continue;
      const since = t.lastUncordonAt ?? this.#o.startedAt;
      const event = t.events.findLast((e) => e.at >= since - EVENT_SLACK_MS);
      const missing = [
        ...(t.reason === undefined ? ["no reason on its shadow"] : []),
        ...(event === undefined
          ? [`no Event about it since ${t.lastUncordonAt === undefined ? "observation began" : "its last uncordon"}`]
          : []),
      ];
      if (missing.length === 0) {
        t.reasonMissingSince = undefined;
        continue;
      }
      t.reasonMissingSince ??= at;
      const grace = Math.min(this.#o.reasonGraceMs ?? 5_000, this.#o.reasonWithinMs);
      if (t.i3Reported || at - t.cordonSince < this.#o.reasonWithinMs || at - t.reasonMissingSince < grace) continue;
      t.i3Reported = true;
      this.#violate(
        "I3",
        at,
        [t.name],
        `${t.name} cordoned by ${t.cordonManager ?? "?"} for ${secs(at - t.cordonSince)} with ${missing.join(" and ")}`,
      );
    }
  }

  /**
   * I6. A disrupted node must carry each annotation with its "do not disrupt" value, unless a person set it to
   * something else (their choice stands). Judged on a view of the Node newer than the disruption: the operator's
   * cordon is on the same view; a reboot's start is the host's, heard before the Node's watch delivers anything
   * after it. A node already disrupted when first seen may get them within `reasonWithinMs`. Once the node is
   * updated, Ready and not cordoned, what the operator set must go within `releaseWithinMs`.
   */
  #checkDoNotDisrupt(at: number, t: Track): void {
    const rule = this.#o.doNotDisrupt;
    const view = t.view;
    if (rule === undefined || view === undefined) return;
    const foreign = (manager: string | undefined) =>
      (this.#o.foreignAnnotationManagers ?? DEFAULT_FOREIGN_ANNOTATION_MANAGERS).includes(manager ?? "");
    const annotations = view.doNotDisrupt ?? {};
    if (this.#isDisrupted(t)) {
      t.lingeringSince = undefined;
      t.lingerReported = false;
      const current = t.operatorCordon || (t.viewAt ?? 0) >= (t.rebootSince ?? Infinity);
      if (t.i6Reported || !current) return;
      if (t.disruptedAtFirstSight && at - (t.firstSeenAt ?? at) < this.#o.reasonWithinMs) return;
      const missing = Object.entries(DO_NOT_DISRUPT_ANNOTATIONS)
        .filter(([key, value]) => {
          const seen = annotations[key];
          return seen === undefined || (seen.value !== value && !foreign(seen.manager));
        })
        .map(([key]) => key);
      if (missing.length === 0) return;
      t.i6Reported = true;
      this.#violate(
        "I6",
        at,
        [t.name],
        `${disruptedHow(at)(t)} without ${missing.map((key) => `${key}=${DO_NOT_DISRUPT_ANNOTATIONS[key]}`).join(" and ")}`,
      );
      return;
    }
    t.i6Reported = false;
    t.disruptedAtFirstSight = false;
    const operators = Object.keys(annotations).filter((key) => !foreign(annotations[key]?.manager));
    if (operators.length === 0 || !this.#isUpdated(t) || view.ready !== true) {
      t.lingeringSince = undefined;
      t.lingerReported = false;
      return;
    }
    t.lingeringSince ??= at;
    if (t.lingerReported || at - t.lingeringSince <= rule.releaseWithinMs) return;
    t.lingerReported = true;
    this.#violate(
      "I6",
      at,
      [t.name],
      `${t.name} updated, Ready and uncordoned for ${secs(at - t.lingeringSince)} still carries ` +
        `${operators.join(" and ")} set by ${[...new Set(operators.map((k) => annotations[k]?.manager ?? "?"))].join(", ")}`,
    );
  }

  #checkStall(at: number): void {
    if (this.#target === undefined) return;
    if (this.#scheduleOpen !== undefined && !this.#scheduleOpen(at)) {
      // Outside the schedule nothing may start: not a stall.
      this.#fleetProgressAt = at;
      return;
    }
    const tracks = [...this.#nodes.values()];
    const reported = (t: Track) => this.#lastWarning(t) !== undefined && t.reason !== undefined;
    const heldInGroup = this.#heldByStuckGroups(tracks, reported);
    const could = tracks.filter((t) => this.#managed(t) && !this.#isUpdated(t) && !reported(t) && !heldInGroup(t));
    // Disrupted nodes reported stuck keep their place in the budget (I2 before progress): when they fill it, the
    // others wait on purpose, and said why. A disrupted node nobody reported does not excuse a stall.
    const heldByStuck = tracks.filter((t) => this.#isDisrupted(t) && reported(t)).length;
    const budgetFull = heldByStuck >= budgetLimit(this.#o.budget, tracks.filter((t) => this.#managed(t)).length);
    if (could.length === 0 || budgetFull) {
      this.#fleetProgressAt = at;
      this.#stallReported = false;
      return;
    }
    if (this.#stallReported || at - this.#fleetProgressAt <= this.#o.stallMs) return;
    this.#stallReported = true;
    const disrupted = this.disrupted();
    this.#violate(
      "I4",
      at,
      [...could.map((t) => t.name), ...disrupted.filter((n) => !could.some((t) => t.name === n))],
      `no node made progress for ${secs(at - this.#fleetProgressAt)} while ${could.length} could ` +
        `(${could.map((t) => t.name).join(", ")}); disrupted meanwhile: ${disrupted.join(", ") || "none"}`,
    );
  }

  /**
   * Whether a node waits on purpose for its group: for some topology budget, disrupted nodes reported stuck fill its
   * label value's limit (as for the fleet budget, I2T before progress).
   */
  #heldByStuckGroups(tracks: readonly Track[], reported: (t: Track) => boolean): (t: Track) => boolean {
    const budgets = this.#o.topologyBudgets ?? [];
    if (budgets.length === 0) return () => false;
    const value = (t: Track, key: string) => t.view?.labels[key] ?? null;
    return (t) =>
      budgets.some(({ key, budget }) => {
        const mine = value(t, key);
        const group = tracks.filter((o) => this.#managed(o) && value(o, key) === mine);
        const stuck = group.filter((o) => this.#isDisrupted(o) && reported(o)).length;
        return stuck > 0 && stuck >= budgetLimit(budget, group.length);
      });
  }

  #maybeStart(at: number, t: Track): void {
    const gap = this.#o.attemptGapMs ?? 60_000;
    if (t.lastActivityAt !== undefined && at - t.lastActivityAt <= gap) return;
    this.starts++;
    t.attemptStartAt = at;
    const open = this.#scheduleOpen;
    if (open === undefined) return;
    const slack = this.#o.startSlackMs ?? 10_000;
    const decided = t.stageAskedAt ?? at;
    for (let s = decided; s >= decided - slack; s -= 250) if (open(s)) return;
    const asked = t.stageAskedAt === undefined ? "" : `, asked for ${secs(at - decided)} earlier`;
    this.#violate("I5", at, [t.name], `${t.name} started an update (host prepare${asked}) outside the schedule`);
  }

  #nodeGone(name: string | undefined): boolean {
    return name !== undefined && this.#nodes.get(name)?.deletedAt !== undefined;
  }

  #disarmPdbs(): void {
    // A node that is NotReady or gone takes its pods' readiness with it: an involuntary disruption, which a
    // PodDisruptionBudget does not protect against. Check again once each budget's pods are all healthy.
    for (const p of this.#pdbs.values()) p.armed = false;
  }

  #checkPdbs(at: number): void {
    for (const [key, p] of this.#pdbs) {
      const selected = [...this.#pods.values()].filter(
        (pod) => pod.namespace === p.view.namespace && selects(p.view.selector, pod.labels),
      );
      // A pod whose Node was deleted runs nowhere, though the API lists it Ready until pod GC removes it (40 s or
      // more later): counted down from the deletion, so its late removal is not taken for a new disruption.
      const isHealthy = (pod: PodView) => pod.ready && pod.deletingSince === undefined && !this.#nodeGone(pod.nodeName);
      const healthy = selected.filter(isHealthy).length;
      const expected = p.view.expectedPods;
      if (!p.armed) {
        if (expected === undefined || expected <= 0 || healthy < expected) continue;
        p.armed = true;
      }
      p.lowest = Math.min(p.lowest ?? healthy, healthy);
      const desired = p.view.desiredHealthy;
      if (desired !== undefined && healthy < desired) {
        p.armed = false;
        // Which pods are down, and where: the evidence is those nodes' notes.
        const down = selected.filter((pod) => !isHealthy(pod));
        const why = (pod: PodView) =>
          pod.deletingSince !== undefined ? "terminating" : this.#nodeGone(pod.nodeName) ? "node deleted" : "not Ready";
        const where = (pod: PodView) => `${pod.name} on ${pod.nodeName ?? "no node"} (${why(pod)})`;
        this.#violate(
          "PDB",
          at,
          [...new Set(down.flatMap((pod) => (pod.nodeName === undefined ? [] : [pod.nodeName])))],
          `${key}: ${healthy} healthy pod(s), below the ${desired} its budget keeps; down: ${down.map(where).join(", ")}`,
        );
      }
    }
  }

  #outcome(t: Track): NodeOutcome {
    const node = t.name;
    if (t.view === undefined) return { node, outcome: "deleted" };
    if (this.#isUpdated(t)) return { node, outcome: "updated" };
    const cordonedWhileUp = t.operatorCordon && t.view.ready !== false && t.hostUp;
    if (!this.#managed(t) && !t.operatorCordon) return { node, outcome: "left", why: "outside the managed nodes" };
    const warning = this.#lastWarning(t);
    const why = this.#why(t);
    if (warning !== undefined && t.reason !== undefined) {
      if (cordonedWhileUp) return { node, outcome: "stranded", why };
      return { node, outcome: "stuck", reason: t.reason, event: `${warning.reason}: ${warning.message}` };
    }
    return { node, outcome: "lost", why };
  }

  #why(t: Track): string[] {
    const why: string[] = [];
    if (!t.hostUp) why.push(t.hostHung ? "its host hangs at boot" : "its host is down");
    else if (t.hostVersion !== this.#target) why.push(`its host runs ${t.hostVersion ?? "?"}`);
    if (t.view?.osVersion !== this.#target)
      why.push(`its Node shows ${t.view?.osVersion ?? "no Bottlerocket version"}`);
    if (t.operatorCordon) why.push(`cordoned by ${t.cordonManager ?? "?"}`);
    if (t.view?.ready === false) why.push("NotReady");
    why.push(t.reason === undefined ? "no reason on its shadow" : `shadow: ${t.reason}`);
    const warning = this.#lastWarning(t);
    if (warning === undefined) why.push("no Warning Event since its last attempt began");
    return why;
  }
}

/** A disrupted node and why it counts, for a violation's message. */
function disruptedHow(at: number): (t: Track) => string {
  return (t) => {
    const why: string[] = [];
    if (t.operatorCordon) why.push(`cordoned by ${t.cordonManager ?? "?"} for ${secs(at - (t.cordonSince ?? at))}`);
    if (t.operatorReboot) why.push(`in a reboot for ${secs(at - (t.rebootSince ?? at))}`);
    return `${t.name} (${why.join(", ")})`;
  };
}

function secs(ms: number): string {
  return `${(ms / 1000).toFixed(1)} s`;
}
