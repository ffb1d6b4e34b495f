// Which nodes may start an update now, and for every other node why not. The controller writes the granted specs
// (with optimistic concurrency, from a fresh view) and turns the reasons into status, Events and metrics.
import { budgetLimit, describeBudget } from "./budget.ts";
import { CanaryGroup, type CanaryRollout } from "./canary.ts";
import { pastPin, pinnedMessage } from "./version-pin.ts";
import { heldForOtherDisruptors, type DisruptorHold } from "./disruptors.ts";
import { readFailures } from "./failures.ts";
import { LABEL_UPDATER_INTERFACE_VERSION, UPDATER_INTERFACE_VERSION } from "../api/constants.ts";
import {
  ANNOTATIONS,
  isManaged,
  type AnnotationPatch,
  type FleetView,
  type NodeView,
  type ShadowSpec,
  type ShadowView,
} from "./model.ts";
import { decideHalt, haltedReason, NO_HALT_MEMORY, type HaltDecision } from "./halt.ts";
import { decideNextSpec, type NodeDecision } from "./next-spec.ts";
import { orderCandidates } from "./order.ts";
import type { FleetPolicy } from "./policy.ts";
import type { NotStartedCode } from "./reasons.ts";
import { inProgress, occupiesBudget, standing } from "./standing.ts";
import {
  describeGroup,
  describeGroupBudget,
  TopologyLedger,
  topologyGroups,
  type TopologyGroup,
} from "./topology-budget.ts";
import { evaluateSchedule, type GateStatus } from "./windows.ts";

/** Why a node is not started now: a code of the catalogue (src/core/reasons.ts) with its details. */
export type NotStartedReason =
  | { code: "quarantined"; failures: number; message: string }
  | { code: "backoff"; until: Date; message: string }
  | { code: "outside-window"; nextOpen: Date | null; message: string }
  | { code: "budget-full"; inUse: number; limit: number; message: string }
  | {
      code: "topology-budget-full";
      /** The label and the node's value of it (null: the node lacks the label). */
      topologyKey: string;
      value: string | null;
      inUse: number;
      limit: number;
      message: string;
    }
  | Extract<DisruptorHold, { code: "node-too-young" }>
  // Canaries and soak: the version the node waits to install, and (soaking) when the soak ends.
  | { code: "canary-pending" | "canary-failed"; version: string; message: string }
  | { code: "soaking"; version: string; until: Date; message: string }
  | {
      code: Exclude<
        NotStartedCode,
        | "quarantined"
        | "backoff"
        | "outside-window"
        | "budget-full"
        | "topology-budget-full"
        | "node-too-young"
        | "canary-pending"
        | "canary-failed"
        | "soaking"
      >;
      message: string;
    };

export type { NotStartedCode } from "./reasons.ts";

export interface StartGrant {
  shadowName: string;
  nodeName: string;
  spec: ShadowSpec;
  annotations: AnnotationPatch;
  reason: string;
  from: string;
  to: string;
}

export interface NotStarted {
  /** Null for a labelled node that has no shadow. */
  shadowName: string | null;
  nodeName: string;
  reason: NotStartedReason;
}

export interface Selection {
  start: StartGrant[];
  notStarted: NotStarted[];
  budget: {
    /** Infinity when unlimited. */
    limit: number;
    /** Nodes out of Idle (spec or status) before these starts. */
    inUse: number;
    managed: number;
    description: string;
  };
  /** Each topology budget's groups before these starts (empty without topology budgets). */
  topology: readonly TopologyGroup[];
  gate: GateStatus;
  /** The automatic halt (policy spec.maxFailedNodes); null when the policy sets none. */
  halt: HaltDecision | null;
  /** The canary phase (policy spec.canary); null when the policy sets none. */
  canary: CanarySelection | null;
  /** Nodes that want to start and are held back only by pause, window or budget (brupop's "ready to update"). */
  ready: number;
  /**
   * One-shot schedules: the open session found nothing left to start. The controller records `now` as
   * FleetView.triggerConsumedAt, which closes the gate until the next trigger.
   */
  sessionDrained: boolean;
  /** The earliest time a timer (backoff end, window opening) may allow a start; null when only events can. */
  recheckAt: Date | null;
}

/**
 * The per-node opt-out: annotation `brupop.bottlerocket.aws/paused` on the Node. Any value but `false` opts out, so
 * that a typo errs on the side of not disrupting the node. Returns the value, or null when not opted out.
 */
export function nodeOptOut(node: NodeView): string | null {
  const value = node.annotations[ANNOTATIONS.nodePaused];
  return value === undefined || /^false$/i.test(value.trim()) ? null : value;
}

function fromDecision(decision: Exclude<NodeDecision, { kind: "start" }>): NotStartedReason {
  switch (decision.kind) {
    case "wait":
      return { code: "backoff", until: decision.until, message: decision.reason };
    case "quarantined":
      return { code: "quarantined", failures: decision.failures, message: decision.reason };
    case "advance":
      return { code: decision.step === "clear" ? "up-to-date" : "in-progress", message: decision.reason };
    case "reset":
      return { code: decision.cause === "no-status" ? "no-status" : "in-progress", message: decision.reason };
    case "keep":
      switch (decision.why) {
        case "in-progress":
        case "awaiting-agent":
          return { code: "in-progress", message: decision.reason };
        case "stuck":
        case "no-status":
        case "up-to-date":
        case "downgrade-refused":
        case "invalid-status":
          return { code: decision.why, message: decision.reason };
      }
  }
}

function earliest(a: Date | null, b: Date | null): Date | null {
  return a === null ? b : b === null || a <= b ? a : b;
}

export function selectNodesToStart(fleet: FleetView, policy: FleetPolicy, now: Date): Selection {
  const nodes = new Map(fleet.nodes.map((node) => [node.name, node]));
  const managed = fleet.nodes.filter(isManaged).length;
  const limit = budgetLimit(policy.budget, managed);
  const standings = fleet.shadows.map((shadow) => ({
    nodeName: shadow.nodeName,
    standing: standing(shadow, nodes.get(shadow.nodeName), policy.stateTimeouts, now),
  }));
  const usingBudget = standings.filter((s) => occupiesBudget(s.standing)).map((s) => s.nodeName);
  const inUse = usingBudget.length;
  const moving = standings.filter((s) => inProgress(s.standing)).length;
  const gate = evaluateSchedule(policy.schedule, now, fleet.triggerConsumedAt ?? now);
  const halt =
    policy.maxFailedNodes === null
      ? null
      : decideHalt(policy.maxFailedNodes, fleet.shadows, managed, fleet.halt ?? NO_HALT_MEMORY, now);

  const canaries =
    policy.canary === null
      ? null
      : new CanaryGroup(policy.canary, fleet.nodes, fleet.shadows, policy.quarantineAfterFailures, now);

  const notStarted: NotStarted[] = [];
  const candidates: {
    shadow: ShadowView;
    node: NodeView;
    grant: StartGrant;
    nodeName: string;
    failures: number;
  }[] = [];
  let recheckAt: Date | null = null;
  const skip = (shadow: ShadowView, reason: NotStartedReason): void => {
    notStarted.push({ shadowName: shadow.name, nodeName: shadow.nodeName, reason });
  };

  for (const shadow of fleet.shadows) {
    const decision = decideNextSpec(shadow, policy, now);
    if (decision.kind !== "start") {
      if (decision.kind === "wait") recheckAt = earliest(recheckAt, decision.until);
      skip(shadow, fromDecision(decision));
      continue;
    }
    const node = nodes.get(shadow.nodeName);
    if (node === undefined || !isManaged(node)) {
      const message =
        node === undefined
          ? `node ${shadow.nodeName} is not known to the controller`
          : `node ${shadow.nodeName} is not labelled ${LABEL_UPDATER_INTERFACE_VERSION}=${UPDATER_INTERFACE_VERSION}`;
      skip(shadow, { code: "not-managed", message });
      continue;
    }
    const optOut = nodeOptOut(node);
    if (optOut !== null) {
      skip(shadow, { code: "opted-out", message: `node annotation ${ANNOTATIONS.nodePaused}=${optOut}` });
      continue;
    }
    const held = heldForOtherDisruptors(node, policy.disruptors, now);
    if (held !== null) {
      if (held.code === "node-too-young") recheckAt = earliest(recheckAt, held.eligibleAt);
      skip(shadow, held);
      continue;
    }
    if (policy.maxVersion !== null && pastPin(decision.to, policy.maxVersion)) {
      skip(shadow, { code: "version-pinned", message: pinnedMessage(decision.to, decision.from, policy.maxVersion) });
      continue;
    }
    const waiting = canaries === null || canaries.has(node.name) ? null : canaryHold(canaries.verdict(decision.to));
    if (waiting !== null) {
      if (waiting.code === "soaking") recheckAt = earliest(recheckAt, waiting.until);
      skip(shadow, waiting);
      continue;
    }
    const grant: StartGrant = {
      shadowName: shadow.name,
      nodeName: shadow.nodeName,
      spec: decision.spec,
      annotations: decision.annotations,
      reason: decision.reason,
      from: decision.from,
      to: decision.to,
    };
    candidates.push({ shadow, node, grant, nodeName: shadow.nodeName, failures: readFailures(shadow).failures });
  }

  const withShadow = new Set(fleet.shadows.map((shadow) => shadow.nodeName));
  for (const node of fleet.nodes) {
    if (isManaged(node) && !withShadow.has(node.name)) {
      notStarted.push({
        shadowName: null,
        nodeName: node.name,
        reason: {
          code: "agent-missing",
          message: `node ${node.name} is labelled but has no BottlerocketShadow; is the agent running there?`,
        },
      });
    }
  }

  const topology = topologyGroups(policy.topologyBudgets, fleet.nodes, usingBudget);
  const ledger = new TopologyLedger(policy.topologyBudgets, topology);
  const start: StartGrant[] = [];
  // Policy spec.dryRun: the nodes that would start now, held; they count against the budgets like starts, so that
  // every other node shows the reason it would have (src/core/plan.ts projects the rest).
  let dryRunHeld = 0;
  const ordered = orderCandidates(candidates, fleet.controllerNodeName);
  for (const candidate of ordered) {
    if (halt?.halted === true) {
      skip(candidate.shadow, { code: "halted", message: haltedReason(halt) });
    } else if (policy.paused) {
      skip(candidate.shadow, { code: "paused", message: "updates are paused for the whole fleet" });
    } else if (!gate.open) {
      skip(candidate.shadow, { code: "outside-window", nextOpen: gate.nextOpen, message: gate.reason });
    } else if (inUse + start.length + dryRunHeld >= limit) {
      const busy = inUse + start.length + dryRunHeld;
      skip(candidate.shadow, {
        code: "budget-full",
        inUse: busy,
        limit,
        message: `budget full: ${busy} of ${describeLimit(limit)} nodes are updating (budget ${describeBudget(policy.budget)})`,
      });
    } else if (candidate.nodeName === fleet.controllerNodeName && moving + start.length + dryRunHeld > 0) {
      // Drained, the controller must move to another node, and with other nodes cordoned or rebooting at the
      // same time there may be none to take it (nor its PodDisruptionBudget'd API server): then no node finishes.
      // A stuck node is not waited for: it may never come back, and the fleet must go on without it.
      const busy = moving + start.length + dryRunHeld;
      skip(candidate.shadow, {
        code: "controller-node-alone",
        message: `the controller runs on this node: it updates alone, once the ${busy} other updating node${busy === 1 ? " is" : "s are"} done`,
      });
    } else {
      const full = ledger.blocking(candidate.node);
      if (full === null) {
        ledger.grant(candidate.node);
        if (policy.dryRun) {
          dryRunHeld += 1;
          const { from, to } = candidate.grant;
          skip(candidate.shadow, { code: "dry-run", message: `dry run: would start now (${from} to ${to})` });
        } else {
          start.push(candidate.grant);
        }
        continue;
      }
      const { group, inUse: groupInUse } = full;
      const name = describeGroup(group.topologyKey, group.value);
      skip(candidate.shadow, {
        code: "topology-budget-full",
        topologyKey: group.topologyKey,
        value: group.value,
        inUse: groupInUse,
        limit: group.limit,
        message: `${name} at its budget: ${groupInUse} of ${group.limit} updating (budget ${describeGroupBudget(group)})`,
      });
    }
  }
  const oneshot = policy.schedule.kind === "cron" && policy.schedule.cron.kind === "oneshot";
  // A one-shot trigger opens a session even when no node waits: look at its firing, so that a session with nothing
  // to start ends there, and a version published later waits for the next trigger rather than for whenever the
  // controller happens to look again.
  if (!policy.paused && !gate.open && (candidates.length > 0 || oneshot)) {
    recheckAt = earliest(recheckAt, gate.nextOpen);
  }
  return {
    start,
    notStarted,
    budget: { limit, inUse, managed, description: describeBudget(policy.budget) },
    topology,
    gate,
    halt,
    canary:
      canaries === null
        ? null
        : {
            selector: canaries.policy.selector,
            soakSeconds: canaries.policy.soakSeconds,
            nodes: canaries.nodes,
            rollouts: canaries.verdicts(),
          },
    ready: candidates.length,
    sessionDrained: oneshot && gate.open && candidates.length === 0,
    recheckAt,
  };
}

/** What the canary phase shows: the group, and its verdict on each version a non-canary node waits to install. */
export interface CanarySelection {
  /** The selector, as kubectl text. */
  selector: string;
  soakSeconds: number;
  /** The canary nodes (managed nodes the selector picks), sorted. */
  nodes: readonly string[];
  /** Empty when no canary exists (no canary phase) or no other node wants an update. */
  rollouts: readonly CanaryRollout[];
}

/** Why the canaries hold a node offered `verdict.version`; null when they let it go (or there are none). */
function canaryHold(verdict: CanaryRollout | null): NotStartedReason | null {
  if (verdict === null) return null;
  const { version, message } = verdict;
  switch (verdict.phase) {
    case "Passed":
      return null;
    case "Pending":
      return { code: "canary-pending", version, message };
    case "Failed":
      return { code: "canary-failed", version, message };
    case "Soaking":
      return { code: "soaking", version, until: verdict.soakEndsAt ?? new Date(0), message };
  }
}

function describeLimit(limit: number): string {
  return Number.isFinite(limit) ? String(limit) : "unlimited";
}
