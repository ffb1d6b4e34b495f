// `brupop explain <node>`: what is known about one node (its shadow's spec and status, failures, conditions, Events,
// agent pod) as a timeline, and the exact reason it is not updating now with the next step, from the same fleet
// decision `brupop status` shows. Pure: the command reads, this explains.
import type { CoreV1Event, V1Node, V1Pod } from "@kubernetes/client-node";
import { LABEL_UPDATER_INTERFACE_VERSION, UPDATER_INTERFACE_VERSION } from "../api/constants.ts";
import type { BottlerocketShadow } from "../api/bottlerocket-shadow.ts";
import { parseTimestamp } from "../api/timestamps.ts";
import { AUTO_LABEL_OPT_OUT_ANNOTATION } from "../core/auto-label.ts";
import { readFailures } from "../core/failures.ts";
import { HEALTH_CONDITION } from "../core/health-gates.ts";
import { describeHooksRecord, readHooksRecord } from "../core/hooks.ts";
import { ANNOTATIONS } from "../core/model.ts";
import { describeGroup, describeGroupBudget } from "../core/topology-budget.ts";
import { formatDuration } from "../core/duration.ts";
import { toShadowView } from "../core/views.ts";
import { advise, type Advice, type AgentPod } from "./advice.ts";
import type { FleetReport, RowReason } from "./fleet-report.ts";
import { table, when, type Style } from "./render.ts";

export interface ExplainInput {
  nodeName: string;
  namespace: string;
  now: Date;
  node: V1Node | null;
  shadow: BottlerocketShadow | null;
  /** The fleet decision (the node's reason comes from it, so explain and status never disagree). */
  report: FleetReport;
  events: readonly CoreV1Event[];
  /** Undefined when the pods could not be listed. */
  agentPods: readonly V1Pod[] | undefined;
}

export interface TimelineEntry {
  at: Date;
  what: string;
  warning: boolean;
}

export interface Explanation {
  node: string;
  reason: RowReason;
  advice: Advice;
  facts: [string, string][];
  timeline: TimelineEntry[];
}

export function explainNode(input: ExplainInput): Explanation {
  const { nodeName: name, node, shadow, report, now } = input;
  const row = report.rows.find((r) => r.node === name);
  const labelValue = node?.metadata?.labels?.[LABEL_UPDATER_INTERFACE_VERSION];
  const labelled = labelValue === UPDATER_INTERFACE_VERSION;
  const reason: RowReason = row?.reason ?? {
    code: "not-managed",
    message: node === null ? `node ${name} does not exist` : `node ${name} is not managed`,
  };
  const view = shadow === null ? undefined : toShadowView(shadow);
  const failures = view === undefined ? null : readFailures(view);
  const pods: AgentPod[] | undefined = input.agentPods?.map((pod) => ({
    name: pod.metadata?.name ?? "",
    phase: pod.status?.phase ?? "Unknown",
    ready: pod.status?.conditions?.some((c) => c.type === "Ready" && c.status === "True") === true,
  }));
  const updatingNodes = report.rows
    .filter((r) => r.targetState !== null && (r.targetState !== "Idle" || (r.state !== null && r.state !== "Idle")))
    .map((r) => r.node);
  const sources = report.resolution.ok ? report.resolution.policy.sources : undefined;
  const advice = advise(reason, {
    node: name,
    namespace: input.namespace,
    now,
    failures: failures?.failures ?? 0,
    failureReason: shadow?.status?.failure_reason ?? null,
    targetState: shadow?.spec.state ?? null,
    state: shadow?.status?.current_state ?? null,
    ...(sources === undefined ? {} : { sources }),
    ...(pods === undefined ? {} : { agentPods: pods }),
    updatingNodes,
    halt: report.selection?.halt ?? null,
    nodeExists: node !== null,
    nodeLabelled: labelled,
    ...(node?.status?.nodeInfo?.osImage === undefined ? {} : { osImage: node.status.nodeInfo.osImage }),
  });

  const facts: [string, string][] = [];
  if (node === null) facts.push(["Node", `${name} (does not exist)`]);
  else {
    facts.push(["Node", `${name}, ${node.status?.nodeInfo?.osImage ?? "OS image not reported"}`]);
    facts.push([
      "Label",
      labelValue === undefined
        ? `not labelled ${LABEL_UPDATER_INTERFACE_VERSION}`
        : `${LABEL_UPDATER_INTERFACE_VERSION}=${labelValue}`,
    ]);
    facts.push(["Cordoned", node.spec?.unschedulable === true ? "yes" : "no"]);
    // The node's group under each topology budget, and how full it is (before the starts of this pass).
    const labels = node.metadata?.labels ?? {};
    for (const g of report.selection?.topology ?? []) {
      if ((labels[g.topologyKey] ?? null) !== g.value) continue;
      facts.push([
        "Topology",
        `${describeGroup(g.topologyKey, g.value)}: ${g.inUse} of ${g.limit} updating (budget ${describeGroupBudget(g)})`,
      ]);
    }
    // The canary group (policy spec.canary): whether this node is in it, and where the phase stands.
    const canary = report.selection?.canary ?? null;
    if (canary !== null) {
      const member = canary.nodes.includes(name);
      const phases = canary.rollouts.map((r) => `${r.version} ${r.phase}`).join(", ");
      facts.push([
        "Canary",
        `${member ? "yes" : "no"} (selector ${canary.selector}, ${canary.nodes.length} canar${canary.nodes.length === 1 ? "y" : "ies"}, soak ${formatDuration(canary.soakSeconds)})${phases === "" ? "" : `: ${phases}`}`,
      ]);
    }
    const annotations = node.metadata?.annotations ?? {};
    const paused = annotations[ANNOTATIONS.nodePaused];
    if (paused !== undefined) facts.push(["Paused", `${ANNOTATIONS.nodePaused}=${paused}`]);
    const optOut = annotations[AUTO_LABEL_OPT_OUT_ANNOTATION];
    if (optOut !== undefined) facts.push(["Auto-label", `${AUTO_LABEL_OPT_OUT_ANNOTATION}=${optOut}`]);
  }
  if (shadow === null) facts.push(["Shadow", "none"]);
  else {
    const status = shadow.status;
    facts.push(["Shadow", `${input.namespace}/${shadow.metadata.name ?? ""}`]);
    facts.push([
      "State",
      status == null
        ? `no status yet; spec ${shadow.spec.state}`
        : status.current_state === shadow.spec.state
          ? status.current_state
          : `${status.current_state}, asked for ${shadow.spec.state}`,
    ]);
    if (status != null) {
      facts.push(["Version", `${status.current_version} (host's chosen update: ${status.target_version})`]);
    }
    if (shadow.spec.version != null) facts.push(["Updating to", shadow.spec.version]);
    if (failures !== null) {
      const parts = [`${failures.crashCount} crash${failures.crashCount === 1 ? "" : "es"}`];
      if (failures.timeouts > 0) parts.push(`${failures.timeouts} timeout${failures.timeouts === 1 ? "" : "s"}`);
      if (failures.gateFailures > 0) {
        parts.push(`${failures.gateFailures} failed health gate${failures.gateFailures === 1 ? "" : "s"}`);
      }
      if (failures.hookFailures > 0) {
        parts.push(`${failures.hookFailures} failed hook${failures.hookFailures === 1 ? "" : "s"}`);
      }
      if (failures.acknowledged > 0) parts.push(`${failures.acknowledged} acknowledged`);
      facts.push(["Failures", parts.join(", ")]);
      if (failures.lastFailureAt !== null) facts.push(["Last failure", when(failures.lastFailureAt, now)]);
    }
    if (status?.failure_reason != null) facts.push(["Failure reason", status.failure_reason]);
    // The last update's health gates (docs/design/health-gates.md), and a rollback under way.
    const health = status?.conditions?.find((c) => c.type === HEALTH_CONDITION);
    if (health !== undefined) facts.push(["Health gates", `${health.reason}: ${health.message}`]);
    if (view !== undefined) facts.push(...describeHooksRecord(readHooksRecord(view)));
    const completed = shadow.metadata.annotations?.[ANNOTATIONS.completedVersion];
    const completedAt = parseTimestamp(shadow.metadata.annotations?.[ANNOTATIONS.completedAt]);
    if (completed !== undefined && completedAt !== undefined) {
      facts.push(["Last healthy update", `${completed}, finished ${when(completedAt, now)}`]);
    }
    const rollbackTo = shadow.metadata.annotations?.[ANNOTATIONS.rollbackTo];
    if (rollbackTo !== undefined) facts.push(["Rolling back to", rollbackTo]);
    const specReason = shadow.metadata.annotations?.[ANNOTATIONS.specReason];
    if (specReason !== undefined) facts.push(["Spec reason", elider(status?.failure_reason)(specReason)]);
  }
  if (pods !== undefined) {
    facts.push([
      "Agent pod",
      pods.length === 0
        ? "none on this node"
        : pods.map((p) => `${p.name} (${p.phase}${p.ready ? ", ready" : ", not ready"})`).join(", "),
    ]);
  }

  return { node: name, reason, advice, facts, timeline: timeline(shadow, input.events) };
}

/** Where a long failure text appears again (a spec reason, Events), it is shown once and referred to elsewhere. */
const FAILURE_REASON_REF = "[the failure reason]";

function elider(failureReason: string | null | undefined): (text: string) => string {
  const reason = failureReason?.trim();
  return reason === undefined || reason === "" ? (text) => text : (text) => text.split(reason).join(FAILURE_REASON_REF);
}

function toDate(value: unknown): Date | undefined {
  if (value instanceof Date) return Number.isNaN(value.getTime()) ? undefined : value;
  return parseTimestamp(value);
}

/**
 * The shadow's timestamps and the Events, oldest first. The failure reason (shown in full with the details) is
 * referred to, not repeated, and an Event the controller recorded on both the shadow and its Node is one entry.
 */
export function timeline(shadow: BottlerocketShadow | null, events: readonly CoreV1Event[]): TimelineEntry[] {
  const elide = elider(shadow?.status?.failure_reason);
  const entries: TimelineEntry[] = [];
  if (shadow !== null) {
    const specAt = parseTimestamp(shadow.spec.state_transition_timestamp);
    const specReason = shadow.metadata.annotations?.[ANNOTATIONS.specReason];
    if (specAt !== undefined) {
      entries.push({
        at: specAt,
        what: `controller set spec ${shadow.spec.state}${specReason === undefined ? "" : `: ${elide(specReason)}`}`,
        warning: false,
      });
    }
    const status = shadow.status;
    const failedAt = parseTimestamp(status?.state_transition_failure_timestamp);
    if (status != null && failedAt !== undefined) {
      entries.push({
        at: failedAt,
        what: `agent reported a failure (crash count ${status.crash_count})${status.failure_reason == null ? "" : `: ${FAILURE_REASON_REF}`}`,
        warning: true,
      });
    }
    const timedOutAt = parseTimestamp(shadow.metadata.annotations?.[ANNOTATIONS.lastTimeout]);
    if (timedOutAt !== undefined)
      entries.push({ at: timedOutAt, what: "controller recorded a step timeout", warning: true });
    const gateFailedAt = parseTimestamp(shadow.metadata.annotations?.[ANNOTATIONS.lastGateFailure]);
    if (gateFailedAt !== undefined)
      entries.push({ at: gateFailedAt, what: "controller recorded a failed health gate", warning: true });
    const hookFailedAt = parseTimestamp(shadow.metadata.annotations?.[ANNOTATIONS.lastHookFailure]);
    if (hookFailedAt !== undefined)
      entries.push({ at: hookFailedAt, what: "controller recorded a failed blocking hook", warning: true });
    for (const condition of status?.conditions ?? []) {
      const at = parseTimestamp(condition.lastTransitionTime);
      if (at === undefined) continue;
      entries.push({
        at,
        what: `condition ${condition.type}=${condition.status} (${condition.reason}): ${condition.message}`,
        warning: false,
      });
    }
  }
  // The controller records a node's Events on its shadow and on the Node: one entry for both.
  const merged = new Map<string, { at: Date; on: Set<string>; event: CoreV1Event }>();
  for (const event of events) {
    const at = toDate(event.lastTimestamp) ?? toDate(event.eventTime) ?? toDate(event.firstTimestamp);
    if (at === undefined) continue;
    const key = JSON.stringify([Math.floor(at.getTime() / 1000), event.reason, event.message, event.count ?? 1]);
    const entry = merged.get(key) ?? { at, on: new Set<string>(), event };
    entry.on.add(event.involvedObject.kind === "Node" ? "node" : "shadow");
    merged.set(key, entry);
  }
  for (const { at, on, event } of merged.values()) {
    const count = event.count !== undefined && event.count > 1 ? ` (×${event.count})` : "";
    entries.push({
      at,
      what: `${event.reason ?? "Event"} on ${[...on].sort().reverse().join(" and ")}: ${elide(event.message ?? "")}${count}`,
      warning: event.type === "Warning",
    });
  }
  return entries.sort((a, b) => a.at.getTime() - b.at.getTime());
}

export function renderExplanation(explanation: Explanation, options: { style: Style; now: Date }): string {
  const { style, now } = options;
  const lines: string[] = [];
  const blocked = explanation.reason.code !== "starting" && explanation.reason.code !== "in-progress";
  const why = explanation.reason.code === "up-to-date" ? style.green : blocked ? style.yellow : style.cyan;
  lines.push(`${style.bold(`Node ${explanation.node}`)}: ${why(explanation.advice.why)}`);
  if (explanation.advice.next.length > 0) {
    lines.push("", style.bold("Next step:"));
    for (const step of explanation.advice.next) lines.push(`  - ${step}`);
  }
  lines.push("", style.bold("Details:"));
  const width = Math.max(...explanation.facts.map(([k]) => k.length)) + 2;
  for (const [key, value] of explanation.facts) {
    // A multi-line value (a failure's output) stays in its column.
    lines.push(`  ${`${key}:`.padEnd(width)}${value.split("\n").join(`\n  ${" ".repeat(width)}`)}`);
  }
  lines.push("", style.bold("History:"));
  if (explanation.timeline.length === 0)
    lines.push("  (no recorded transitions or Events; Events expire after an hour by default)");
  else {
    const rows = explanation.timeline.map((e) => [
      e.at.toISOString().replace(/\.\d{3}Z$/, "Z"),
      relativeShort(e.at, now),
      e.warning ? style.yellow(e.what) : e.what,
    ]);
    lines.push(
      table(["time", "age", "what"], rows)
        .split("\n")
        .map((l) => `  ${l}`)
        .join("\n"),
    );
  }
  return lines.join("\n") + "\n";
}

function relativeShort(at: Date, now: Date): string {
  const seconds = Math.max(0, Math.round((now.getTime() - at.getTime()) / 1000));
  if (seconds < 60) return `${seconds}s`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)}m`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)}h`;
  return `${Math.floor(seconds / 86_400)}d`;
}
