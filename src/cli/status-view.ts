// How `brupop status` prints a FleetReport: a summary and a per-node table (`-o wide` adds columns), or one JSON/YAML
// document with the same content for scripts. Pure: the caller decides colours and where the text goes.
import { formatTimestamp } from "../api/timestamps.ts";
import type { UpdatePolicyStatus } from "../api/update-policy.ts";
import { describeFailedNodes } from "../core/halt.ts";
import { NOT_STARTED } from "../core/reasons.ts";
import { describeGroup } from "../core/topology-budget.ts";
import { canaryStatus } from "../core/canary-status.ts";
import type { FleetReport, NodeRow, RowReason } from "./fleet-report.ts";
import { relative, table, when, type Style } from "./render.ts";

export interface StatusView {
  namespace: string;
  time: string;
  paused: boolean;
  /** Policy spec.dryRun: nodes that would start are held; the controller publishes the plan instead. */
  dryRun: boolean;
  managedNodes: number;
  updating: number;
  budget: string;
  /** Each topology budget by label value (policy spec.topologyBudgets); empty without any. */
  topology: NonNullable<UpdatePolicyStatus["topology"]>;
  /** The automatic halt (policy spec.maxFailedNodes); null when the policy sets none. */
  halt: {
    halted: boolean;
    maxFailedNodes: string;
    limit: number;
    failedNodes: string[];
    /** What failed on each failed node whose failure is known ("health gate daemonset-pods failed"), by node. */
    failureReasons: Record<string, string>;
    versions: string[];
    /** Failures before this (the last resume the controller handled) no longer count. */
    countingSince: string | null;
  } | null;
  // ---- Canaries, soak and the version pin ----
  /** The canary phase (policy spec.canary), as the policy status shows it; null when the policy sets none. */
  canary: NonNullable<UpdatePolicyStatus["canary"]> | null;
  /** spec.maxVersion; null when the policy sets none. */
  maxVersion: string | null;
  window: { open: boolean; nextOpen: string | null; openUntil: string | null; message: string };
  nodesByState: Record<string, number>;
  versions: Record<string, number>;
  blocked: Record<string, number>;
  policy: { valid: boolean; errors: string[]; warnings: string[]; sources: Record<string, string> };
  notes: string[];
  nodes: NodeStatusView[];
}

export interface NodeStatusView {
  node: string;
  shadow: string | null;
  state: string | null;
  targetState: string | null;
  version: string | null;
  availableVersion: string | null;
  updatingTo: string | null;
  crashCount: number;
  failures: number;
  lastFailureAt: string | null;
  failureReason: string | null;
  specReason: string | null;
  cordoned: boolean | null;
  blocked: boolean;
  reason: {
    code: string;
    message: string;
    until?: string;
    nextOpen?: string | null;
    inUse?: number;
    limit?: number | null;
    /** topology-budget-full: the label and the node's value of it (null: the node lacks the label). */
    topologyKey?: string;
    value?: string | null;
    /** node-too-young: when the node is old enough to start. */
    eligibleAt?: string;
    /** canary-pending, canary-failed, soaking: the version the node waits to install. */
    version?: string;
  };
}

/** The document printed by `-o json` and `-o yaml`: stable field names, timestamps as RFC 3339 strings. */
export function statusView(report: FleetReport): StatusView {
  const { summary, resolution, selection } = report;
  const gate = selection?.gate;
  const halt = selection?.halt ?? null;
  return {
    namespace: report.namespace,
    time: formatTimestamp(report.now),
    paused: summary.paused,
    dryRun: summary.dryRun === true,
    managedNodes: summary.managedNodes,
    updating: summary.updating,
    budget: summary.budget,
    topology: structuredClone(summary.topology ?? []),
    halt:
      halt === null
        ? null
        : {
            halted: halt.halted,
            maxFailedNodes: halt.maxFailedNodes,
            limit: halt.limit,
            failedNodes: [...halt.failedNodes],
            failureReasons: Object.fromEntries(halt.reasons),
            versions: [...halt.versions],
            countingSince: halt.countingSince === null ? null : formatTimestamp(halt.countingSince),
          },
    canary: selection?.canary == null ? null : canaryStatus(selection.canary),
    maxVersion: resolution.ok ? resolution.policy.maxVersion : null,
    window: {
      open: gate?.open ?? false,
      nextOpen: gate !== undefined && !gate.open && gate.nextOpen !== null ? formatTimestamp(gate.nextOpen) : null,
      openUntil: gate?.openUntil == null ? null : formatTimestamp(gate.openUntil),
      message: summary.window.message,
    },
    nodesByState: { ...summary.nodesByState },
    versions: Object.fromEntries(report.versions.map((v) => [v.version, v.nodes])),
    blocked: countBlocked(report.rows),
    policy: {
      valid: resolution.ok,
      errors: resolution.ok ? [] : [...resolution.errors],
      warnings: [...resolution.warnings],
      sources: resolution.ok ? { ...resolution.policy.sources } : {},
    },
    notes: [...report.notes],
    nodes: report.rows.map(nodeView),
  };
}

function countBlocked(rows: readonly NodeRow[]): Record<string, number> {
  const counts: Record<string, number> = {};
  for (const row of rows) if (row.blocked) counts[row.reason.code] = (counts[row.reason.code] ?? 0) + 1;
  return counts;
}

function nodeView(row: NodeRow): NodeStatusView {
  return {
    node: row.node,
    shadow: row.shadow,
    state: row.state,
    targetState: row.targetState,
    version: row.version,
    availableVersion: row.availableVersion,
    updatingTo: row.updatingTo,
    crashCount: row.crashCount,
    failures: row.failures,
    lastFailureAt: row.lastFailureAt === null ? null : formatTimestamp(row.lastFailureAt),
    failureReason: row.failureReason,
    specReason: row.specReason,
    cordoned: row.cordoned,
    blocked: row.blocked,
    reason: reasonView(row.reason),
  };
}

function reasonView(reason: RowReason): NodeStatusView["reason"] {
  const base = { code: reason.code, message: reason.message };
  switch (reason.code) {
    case "backoff":
      return { ...base, until: formatTimestamp(reason.until) };
    case "node-too-young":
      return { ...base, eligibleAt: formatTimestamp(reason.eligibleAt) };
    case "soaking":
      return { ...base, version: reason.version, until: formatTimestamp(reason.until) };
    case "canary-pending":
    case "canary-failed":
      return { ...base, version: reason.version };
    case "outside-window":
      return { ...base, nextOpen: reason.nextOpen === null ? null : formatTimestamp(reason.nextOpen) };
    case "budget-full":
      return { ...base, inUse: reason.inUse, limit: Number.isFinite(reason.limit) ? reason.limit : null };
    case "topology-budget-full":
      return {
        ...base,
        topologyKey: reason.topologyKey,
        value: reason.value,
        inUse: reason.inUse,
        limit: reason.limit,
      };
    default:
      return base;
  }
}

/** The WHY column: the reason code with the one detail that matters for it. */
export function shortReason(reason: RowReason, now: Date): string {
  switch (reason.code) {
    case "backoff":
      return `backoff (retry ${relative(reason.until, now)})`;
    case "node-too-young":
      return `node-too-young (eligible ${relative(reason.eligibleAt, now)})`;
    case "outside-window":
      return reason.nextOpen === null
        ? "outside-window (never opens)"
        : `outside-window (opens ${relative(reason.nextOpen, now)})`;
    case "budget-full":
      return `budget-full (${reason.inUse}/${Number.isFinite(reason.limit) ? reason.limit : "unlimited"})`;
    case "topology-budget-full":
      return `topology-budget-full (${describeGroup(reason.topologyKey, reason.value)} ${reason.inUse}/${reason.limit})`;
    case "quarantined":
      return `quarantined (${reason.failures} failures)`;
    case "halted":
      return "halted (brupop resume)";
    case "soaking":
      return `soaking (${reason.version}, ends ${relative(reason.until, now)})`;
    case "canary-pending":
    case "canary-failed":
      return `${reason.code} (${reason.version})`;
    case "starting":
      return `starting (${reason.from} → ${reason.to})`;
    default:
      return reason.code;
  }
}

/** The halt line: why the rollout halted and what ends it, or how far it is from halting. */
function haltText(halt: NonNullable<StatusView["halt"]>, style: Style): string {
  const failed = `${halt.failedNodes.length} node${halt.failedNodes.length === 1 ? "" : "s"} failed`;
  const to = halt.versions.length > 0 ? ` updating to ${halt.versions.join(", ")}` : "";
  if (!halt.halted) {
    const since = halt.countingSince === null ? "" : ` since the resume at ${halt.countingSince}`;
    return `no: ${failed}${to}${since}; halts when more than ${halt.limit} have (spec.maxFailedNodes ${halt.maxFailedNodes})`;
  }
  const named = describeFailedNodes(halt.failedNodes, new Map(Object.entries(halt.failureReasons)));
  return style.red(
    `${failed}${to}, more than ${halt.limit} (spec.maxFailedNodes ${halt.maxFailedNodes}): ${named}. ` +
      "No new update starts; find out why they failed (brupop explain <node>), then: brupop resume",
  );
}

/** The canary line: the group, then each version's phase (a failure in red, the soak's end when soaking). */
function canaryText(canary: NonNullable<StatusView["canary"]>, now: Date, style: Style): string {
  if (canary.canaryNodes === 0) return style.yellow(canary.message);
  const group = `${canary.canaryNodes} node${canary.canaryNodes === 1 ? "" : "s"} (${canary.selector}), soak ${canary.soak}`;
  if (canary.rollouts.length === 0) return `${group}; no other node waits for a version`;
  const phases = canary.rollouts.map((r) => {
    const ends = r.soakEndsAt === undefined ? undefined : new Date(r.soakEndsAt);
    switch (r.phase) {
      case "Failed":
        return style.red(`${r.version} Failed: ${r.message}`);
      case "Soaking":
        return style.yellow(`${r.version} Soaking until ${ends === undefined ? "?" : when(ends, now)}`);
      case "Pending":
        return style.yellow(`${r.version} Pending (canaries updating)`);
      case "Passed":
        return `${r.version} Passed`;
    }
  });
  return `${group}: ${phases.join("; ")}`;
}

/** One topology budget: `topology.kubernetes.io/zone at most 1: a 1/1, b 0/1` (a full group in yellow). */
function topologyLine(t: StatusView["topology"][number], style: Style): string {
  const shown = t.groups.slice(0, MAX_TOPOLOGY_GROUPS_SHOWN).map((g) => {
    const text = `${g.value ?? "(unset)"} ${g.updating}/${g.limit}`;
    return g.updating >= g.limit ? style.yellow(text) : text;
  });
  const more = t.groups.length - shown.length;
  return `${t.topologyKey} at most ${t.budget} per value: ${shown.join(", ")}${more > 0 ? `, … ${more} more` : ""}`;
}

const MAX_TOPOLOGY_GROUPS_SHOWN = 12;

function colourReason(text: string, row: NodeRow, style: Style): string {
  if (row.reason.code === "up-to-date") return style.green(text);
  if (row.reason.code === "in-progress" || row.reason.code === "starting") return style.cyan(text);
  const { code } = row.reason;
  if (code === "policy-invalid" || NOT_STARTED[code].attention === "person") {
    return style.red(text);
  }
  return row.blocked ? style.yellow(text) : text;
}

function stateText(row: NodeRow): string {
  if (row.state === null) return "-";
  // The arrow shows a step in flight: the agent is working towards the state the controller asked for.
  return row.targetState !== null && row.targetState !== row.state ? `${row.state} → ${row.targetState}` : row.state;
}

export function renderStatus(report: FleetReport, options: { wide: boolean; style: Style }): string {
  const { style } = options;
  const view = statusView(report);
  const lines: string[] = [];
  const label = (name: string) => style.bold(name.padEnd(10));

  // A halt needs a person: it comes first, in red.
  if (view.halt?.halted === true)
    lines.push(`${style.red(style.bold("HALTED".padEnd(10)))}${haltText(view.halt, style)}`);
  lines.push(
    `${label("Fleet")}${view.managedNodes} managed node${view.managedNodes === 1 ? "" : "s"}, ${view.updating} updating, budget ${view.budget} (namespace ${view.namespace})`,
  );
  for (const t of view.topology) lines.push(`${label("Topology")}${topologyLine(t, style)}`);
  lines.push(`${label("Paused")}${view.paused ? style.yellow("yes: no new update starts") : "no"}`);
  if (view.dryRun) {
    lines.push(
      `${label("Dry run")}${style.yellow(`yes: no new update starts; the controller publishes its plan (brupop plan -n ${view.namespace})`)}`,
    );
  }
  if (view.halt !== null && !view.halt.halted) lines.push(`${label("Halted")}${haltText(view.halt, style)}`);
  if (view.canary !== null) lines.push(`${label("Canary")}${canaryText(view.canary, report.now, style)}`);
  if (view.maxVersion !== null)
    lines.push(`${label("Pin")}no node is started past ${view.maxVersion} (spec.maxVersion)`);
  const gate = report.selection?.gate;
  let windowText = view.window.message;
  if (gate !== undefined) {
    windowText = gate.open
      ? `open${gate.openUntil === null ? "" : ` until ${when(gate.openUntil, report.now)}`}`
      : gate.nextOpen === null
        ? style.red("closed, and never opens again")
        : `closed; next opens at ${when(gate.nextOpen, report.now)}`;
  }
  lines.push(`${label("Window")}${windowText}`);
  const states = Object.entries(view.nodesByState).map(([state, n]) => `${state} ${n}`);
  lines.push(`${label("States")}${states.length === 0 ? "-" : states.join(", ")}`);
  const versions = Object.entries(view.versions).map(([version, n]) => `${version} (${n})`);
  lines.push(`${label("Versions")}${versions.length === 0 ? "-" : versions.join(", ")}`);
  const blocked = Object.entries(view.blocked)
    .sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))
    .map(([code, n]) => `${n} ${code}`);
  lines.push(`${label("Blocked")}${blocked.length === 0 ? "none" : style.yellow(blocked.join(", "))}`);
  for (const error of view.policy.errors) lines.push(style.red(`policy error: ${error}`));
  for (const warning of view.policy.warnings) lines.push(style.yellow(`policy warning: ${warning}`));
  for (const note of view.notes) lines.push(style.yellow(`note: ${note}`));

  if (report.rows.length === 0) {
    lines.push("", "No managed nodes. Label Bottlerocket nodes with: brupop label --all-bottlerocket");
    return lines.join("\n") + "\n";
  }
  const head = options.wide
    ? ["node", "state", "version", "available", "updating to", "failures", "cordoned", "why", "message"]
    : ["node", "state", "version", "available", "failures", "why"];
  const rows = report.rows.map((row) => {
    const why = colourReason(shortReason(row.reason, report.now), row, style);
    const failures = row.failures > 0 ? style.yellow(String(row.failures)) : "0";
    return options.wide
      ? [
          row.node,
          stateText(row),
          row.version ?? "-",
          row.availableVersion ?? "-",
          row.updatingTo ?? "-",
          failures,
          row.cordoned === null ? "-" : row.cordoned ? "yes" : "no",
          why,
          row.failureReason !== null && row.failures > 0
            ? `${row.reason.message}; last failure: ${row.failureReason}`
            : row.reason.message,
        ]
      : [row.node, stateText(row), row.version ?? "-", row.availableVersion ?? "-", failures, why];
  });
  lines.push("", table(head, rows));
  return lines.join("\n") + "\n";
}
