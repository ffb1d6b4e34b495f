// The fleet as `brupop status` shows it, computed purely from one snapshot with the controller's own decisions:
// resolveFleetPolicy (environment + policy resource), selectNodesToStart (who may start, why every other node does
// not) and buildPolicyStatus (the summary the controller writes into the policy resource). Nothing here guesses
// what the controller would do; it asks the same functions.
import type { V1Node } from "@kubernetes/client-node";
import type { BottlerocketShadow } from "../api/bottlerocket-shadow.ts";
import type { BrsState } from "../api/state-machine.ts";
import type { UpdatePolicyStatus } from "../api/update-policy.ts";
import { readFailures } from "../core/failures.ts";
import { readHaltMemory } from "../core/halt.ts";
import { HEALTH_CONDITION } from "../core/health-gates.ts";
import { hostsByVersion } from "../core/metrics.ts";
import { ANNOTATIONS, type FleetView, type NodeView, type ShadowView } from "../core/model.ts";
import { resolveFleetPolicy, type PolicyResolution } from "../core/policy.ts";
import { selectNodesToStart, type NotStartedReason, type Selection } from "../core/select.ts";
import { buildPolicyStatus } from "../core/policy-status.ts";
import { NOT_STARTED, type NotStartedCode } from "../core/reasons.ts";
import { countUsingBudget } from "../core/standing.ts";
import { DEFAULT_NODE_TIMEOUTS } from "../core/timeouts.ts";
import { toNodeView, toShadowView } from "../core/views.ts";
import type { FleetSnapshot } from "./fleet.ts";

/** Why a node is where it is: selection's codes, plus `starting` (granted now) and `policy-invalid`. */
export type RowReason =
  | NotStartedReason
  | { code: "starting"; from: string; to: string; message: string }
  | { code: "policy-invalid"; message: string };

export type RowCode = RowReason["code"];

export interface NodeRow {
  node: string;
  shadow: string | null;
  /** status.current_state: what the agent last completed (null: no status yet). */
  state: BrsState | null;
  /** spec.state: what the controller asked for. */
  targetState: BrsState | null;
  version: string | null;
  /** status.target_version: what the host would install. */
  availableVersion: string | null;
  /** spec.version: what the node is updating to. */
  updatingTo: string | null;
  crashCount: number;
  /** Crashes plus step timeouts since the last successful update. */
  failures: number;
  lastFailureAt: Date | null;
  failureReason: string | null;
  /** The controller's reason for the current spec (annotation spec-reason). */
  specReason: string | null;
  cordoned: boolean | null;
  reason: RowReason;
  /** Whether the reason is one that keeps a wanted update from starting. */
  blocked: boolean;
}

export interface FleetReport {
  namespace: string;
  now: Date;
  resolution: PolicyResolution;
  /** Null when the policy is invalid. */
  selection: Selection | null;
  /** The controller's summary (nodes by state, updating, budget, window, blocked counts), computed here. */
  summary: UpdatePolicyStatus;
  versions: { version: string; nodes: number }[];
  rows: NodeRow[];
  /** Things that make the picture less certain (no controller found, policy CRD missing, …). */
  notes: string[];
}

export interface ReportOptions {
  /**
   * One-shot cron schedules only: whether the controller reports its trigger session open (policy status). The
   * session is the controller's memory; without this, a reader would always see the gate closed.
   */
  sessionOpen?: boolean;
}

export function buildFleetReport(snapshot: FleetSnapshot, now: Date, options: ReportOptions = {}): FleetReport {
  const notes: string[] = [];
  if (snapshot.controller.found === "missing") {
    notes.push(
      `controller Deployment not found in ${snapshot.namespace}: nothing will start; environment settings are shown as unset`,
    );
  } else if (snapshot.controller.found === "unreadable") {
    notes.push(
      "the controller Deployment is not readable with your credentials; environment settings are shown as unset",
    );
  }
  if (snapshot.policy === undefined)
    notes.push("the BottlerocketUpdatePolicy CRD is not installed (policy resource ignored)");

  const shadows = snapshot.shadows.filter((s) => !beingDeleted(s));
  const nodesByName = new Map(snapshot.nodes.map((n) => [n.metadata?.name ?? "", n]));
  const { resolution, fleet } = fleetInputs(snapshot, now, options);
  const views = fleet.shadows;
  const nodeViews = fleet.nodes;
  const selection = resolution.ok ? selectNodesToStart(fleet, resolution.policy, now) : null;
  const summary = buildPolicyStatus({
    shadows: views,
    managedNodes: nodeViews.length,
    updating:
      selection?.budget.inUse ??
      countUsingBudget(views, new Map(nodeViews.map((n) => [n.name, n])), DEFAULT_NODE_TIMEOUTS, now),
    resolution,
    selection,
    previous: snapshot.policy?.status,
    now,
  });

  const reasons = new Map<string, RowReason>();
  if (selection === null) {
    const message = `the update policy is invalid, no update starts: ${resolution.ok ? "" : resolution.errors.join("; ")}`;
    for (const v of views) reasons.set(v.nodeName, { code: "policy-invalid", message });
    for (const n of nodeViews) if (!reasons.has(n.name)) reasons.set(n.name, { code: "policy-invalid", message });
  } else {
    for (const grant of selection.start) {
      reasons.set(grant.nodeName, {
        code: "starting",
        from: grant.from,
        to: grant.to,
        message: `nothing blocks it; the controller starts it on its next pass (${grant.reason})`,
      });
    }
    for (const entry of selection.notStarted) reasons.set(entry.nodeName, entry.reason);
  }

  const rows: NodeRow[] = [];
  const seen = new Set<string>();
  for (const view of views) {
    seen.add(view.nodeName);
    const failures = readFailures(view);
    const raw = shadows.find((s) => s.metadata.name === view.name);
    const reason = withGateProgress(reasons.get(view.nodeName) ?? { code: "no-status", message: "not evaluated" }, raw);
    rows.push({
      node: view.nodeName,
      shadow: view.name,
      state: view.status?.current_state ?? null,
      targetState: view.spec.state,
      version: view.status?.current_version ?? null,
      availableVersion: view.status?.target_version ?? null,
      updatingTo: view.spec.version,
      crashCount: failures.crashCount,
      failures: failures.failures,
      lastFailureAt: failures.lastFailureAt,
      failureReason: raw?.status?.failure_reason ?? null,
      specReason: view.annotations?.[ANNOTATIONS.specReason] ?? null,
      cordoned: cordoned(nodesByName.get(view.nodeName)),
      reason,
      blocked: isBlockedReason(reason.code),
    });
  }
  for (const node of nodeViews) {
    if (seen.has(node.name)) continue;
    const reason = reasons.get(node.name) ?? { code: "agent-missing", message: "no BottlerocketShadow" };
    rows.push({
      node: node.name,
      shadow: null,
      state: null,
      targetState: null,
      version: null,
      availableVersion: null,
      updatingTo: null,
      crashCount: 0,
      failures: 0,
      lastFailureAt: null,
      failureReason: null,
      specReason: null,
      cordoned: node.unschedulable,
      reason,
      blocked: isBlockedReason(reason.code),
    });
  }
  rows.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));

  const versions = hostsByVersion(views).map((s) => ({ version: s.labels.bottlerocket_version, nodes: s.value }));
  return { namespace: snapshot.namespace, now, resolution, selection, summary, versions, rows, notes };
}

/** What the controller decides from, as it would see it in this snapshot: the resolved policy and the fleet view. */
export function fleetInputs(
  snapshot: FleetSnapshot,
  now: Date,
  options: ReportOptions = {},
): { resolution: PolicyResolution; fleet: FleetView } {
  const views = snapshot.shadows
    .filter((s) => !beingDeleted(s))
    .map(toShadowView)
    .filter((v): v is ShadowView => v !== undefined);
  const nodeViews = snapshot.nodes.map(toNodeView).filter((n): n is NodeView => n !== undefined);
  const resolution = resolveFleetPolicy(snapshot.controller.env, snapshot.policy?.spec ?? null, now);
  const oneshot =
    resolution.ok && resolution.policy.schedule.kind === "cron" && resolution.policy.schedule.cron.kind === "oneshot";
  return {
    resolution,
    fleet: {
      shadows: views,
      nodes: nodeViews,
      controllerNodeName: null,
      // An open session is one whose trigger fired after the last consumption: the epoch makes any fire count.
      triggerConsumedAt: oneshot && options.sessionOpen === true ? new Date(0) : now,
      halt: readHaltMemory(snapshot.policy),
    },
  };
}

/**
 * Blocked in `brupop status`: a wait the controller explains, and anything that needs a person (a missing agent
 * too, which the controller does not count: nothing waits there). An invalid policy blocks every node.
 */
export function isBlockedReason(code: RowCode): boolean {
  if (code === "starting") return false;
  if (code === "policy-invalid") return true;
  const info = NOT_STARTED[code satisfies NotStartedCode];
  return info.blocks || info.attention === "person";
}

function cordoned(node: V1Node | undefined): boolean | null {
  return node === undefined ? null : node.spec?.unschedulable === true;
}

function beingDeleted(shadow: BottlerocketShadow): boolean {
  const meta = shadow.metadata as { deletionTimestamp?: unknown };
  return meta.deletionTimestamp !== undefined && meta.deletionTimestamp !== null;
}

/** Whether the controller's own status (in the policy resource) says a one-shot trigger session is open. */
export function controllerSessionOpen(snapshot: FleetSnapshot): boolean {
  return snapshot.policy?.status?.window.open === true;
}

/**
 * A node whose health gates are being checked: what the controller last saw of each gate (the shadow's UpdateHealthy
 * condition), rather than that the gates are being checked.
 */
function withGateProgress(reason: RowReason, shadow: BottlerocketShadow | undefined): RowReason {
  if (reason.code !== "in-progress" || shadow?.spec.state !== "MonitoringUpdate") return reason;
  const health = shadow.status?.conditions?.find((c) => c.type === HEALTH_CONDITION);
  return health?.status === "Unknown" ? { ...reason, message: health.message } : reason;
}
