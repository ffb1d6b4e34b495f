// The chaos run's report: what the JSON holds, whether the run passed, and the human-readable summary. Pure.
import type { Violation } from "../cluster/fleet-observer.ts";
import { DISRUPTION_KINDS, type DisruptionKind } from "./plan.ts";

export interface PerformedDisruption {
  /** Milliseconds after publish, when it was carried out. */
  readonly atMs: number;
  readonly kind: DisruptionKind;
  /** What it hit: a pod name (kills) or a node name (host faults). */
  readonly target?: string;
  /** e.g. the fault spec, the pid killed, the node of an agent, the state the node was in. */
  readonly detail?: string;
  /** Set when there was nothing to disrupt at that moment (no running replica, no node left to update). */
  readonly skipped?: string;
}

export interface ChaosReport {
  readonly seed: number;
  readonly nodes: number;
  readonly budget: number;
  readonly from: string;
  readonly to: string;
  readonly durationMs: number;
  readonly timeoutMs: number;
  readonly meanGapMs: number;
  readonly hostFaults: readonly string[];
  /** Why the settings are what they are (also in --help). */
  readonly settings: readonly string[];
  readonly startedAt: string;
  readonly machine: {
    readonly cpus: number;
    readonly node: string;
    readonly loadavgAtPublish: readonly number[];
    readonly loadavgAtEnd: readonly number[];
  };
  readonly clusterStartMs: number;
  readonly planned: number;
  readonly performed: Readonly<Record<DisruptionKind, number>>;
  readonly skipped: number;
  readonly timeline: readonly PerformedDisruption[];
  readonly interrupted: boolean;
  readonly converged: boolean;
  /** From publish until every node converged (and stayed so until the end); null if it never did. */
  readonly convergeMs: number | null;
  readonly violations: readonly Violation[];
  readonly checks: { readonly shadow: number; readonly node: number; readonly pod: number };
  readonly lost: readonly { readonly node: string; readonly why: readonly string[] }[];
  /** The agent and API server log lines about the nodes lost (what a failed run needs to be explained). */
  readonly lostNodeLogs?: string;
  readonly maxOutOfIdle: number;
  /** Stretches of time a node spent out of Idle (one update or failed attempt each): median and the longest. */
  readonly outOfIdle: {
    readonly stretches: number;
    readonly medianMs: number | null;
    readonly longest: readonly { readonly node: string; readonly ms: number }[];
  };
  readonly reboots: number;
  readonly evictedPods: number;
  /** The operator's Events about shadows and nodes, counted by reason. */
  readonly events: Readonly<Record<string, number>>;
  /** Nodes whose update failed at least once on the way (recovered or not), with the reasons reported. */
  readonly failedOnTheWay: readonly {
    readonly node: string;
    readonly failures: number;
    readonly reasons: readonly string[];
  }[];
  /** Host faults armed that never fired (the node got past that step before, or never reached it). */
  readonly faultsNotFired: readonly { readonly node: string; readonly fault: string }[];
  readonly workloads: readonly {
    readonly name: string;
    readonly replicas: number;
    readonly minAvailable: number;
    readonly lowestReady: number | null;
    readonly readyAtEnd: number;
  }[];
  readonly passed: boolean;
}

export function passed(r: Pick<ChaosReport, "violations" | "lost" | "converged" | "interrupted">): boolean {
  return !r.interrupted && r.converged && r.violations.length === 0 && r.lost.length === 0;
}

const secs = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

export function formatTimelineEntry(d: PerformedDisruption): string {
  const what = d.skipped ? `skipped (${d.skipped})` : [d.target, d.detail].filter(Boolean).join(" ");
  return `t+${secs(d.atMs).padStart(8)}  ${d.kind.padEnd(23)} ${what}`;
}

export function formatReport(r: ChaosReport): string {
  const lines: string[] = [];
  const performedTotal = DISRUPTION_KINDS.reduce((n, k) => n + r.performed[k], 0);
  lines.push(
    "Chaos report",
    `  seed                   ${r.seed}  (repeat with --seed ${r.seed})`,
    `  cluster                ${r.nodes} nodes, budget ${r.budget}, ${r.from} -> ${r.to}; started in ${secs(r.clusterStartMs)}`,
    `  machine                ${r.machine.cpus} CPUs, load ${fmtLoad(r.machine.loadavgAtPublish)} at publish, ` +
      `${fmtLoad(r.machine.loadavgAtEnd)} at the end (Node ${r.machine.node})`,
    `  disruptions            ${performedTotal} performed over ${secs(r.durationMs)} (${r.planned} planned, ${r.skipped} skipped)`,
  );
  for (const kind of DISRUPTION_KINDS) lines.push(`                           ${kind.padEnd(23)} ${r.performed[kind]}`);
  lines.push(
    `  converged              ${
      r.converged && r.convergeMs !== null
        ? `yes, ${secs(r.convergeMs)} after publishing`
        : `NO${r.interrupted ? " (interrupted)" : ` within ${secs(r.timeoutMs)}`}`
    }`,
    `  invariant violations   ${r.violations.length}  (checked on ${r.checks.shadow} shadow, ${r.checks.node} node and ${r.checks.pod} pod changes)`,
  );
  for (const v of r.violations.slice(0, 20)) lines.push(`    ${v.kind}: ${v.message}`);
  lines.push(`  nodes lost             ${r.lost.length}`);
  for (const l of r.lost) lines.push(`    ${l.node}: ${l.why.join("; ")}`);
  if (r.lostNodeLogs) lines.push("  logs of the nodes lost:", ...r.lostNodeLogs.split("\n").map((l) => `    ${l}`));
  lines.push(
    `  budget                 at most ${r.maxOutOfIdle} node(s) out of Idle at once (budget ${r.budget})`,
    `  time out of Idle       median ${r.outOfIdle.medianMs === null ? "-" : secs(r.outOfIdle.medianMs)} per update ` +
      `(${r.outOfIdle.stretches} stretches); longest ${r.outOfIdle.longest.map((x) => `${x.node} ${secs(x.ms)}`).join(", ") || "-"}`,
    `  host reboots           ${r.reboots} (${r.nodes} needed)`,
    `  pods evicted           ${r.evictedPods}`,
  );
  for (const w of r.workloads) {
    lines.push(
      `  workload ${w.name.padEnd(14)}${w.replicas} replicas, minAvailable ${w.minAvailable}, lowest Ready ${w.lowestReady ?? "?"}, Ready at the end ${w.readyAtEnd}`,
    );
  }
  if (r.failedOnTheWay.length > 0) {
    lines.push(`  failed and retried     ${r.failedOnTheWay.length} node(s)`);
    for (const f of r.failedOnTheWay) lines.push(`    ${f.node}: ${f.failures} failure(s): ${f.reasons.join(" | ")}`);
  }
  if (r.faultsNotFired.length > 0) {
    lines.push(`  faults never fired     ${r.faultsNotFired.map((f) => `${f.node}:${f.fault}`).join(", ")}`);
  }
  const events = Object.entries(r.events)
    .sort(([a], [b]) => a.localeCompare(b))
    .map(([k, v]) => `${k} ${v}`);
  if (events.length > 0) lines.push(`  operator events        ${events.join(", ")}`);
  lines.push(`  result                 ${r.passed ? "PASSED" : "FAILED"}`);
  return lines.join("\n");
}

function fmtLoad(l: readonly number[]): string {
  return l.map((x) => x.toFixed(2)).join(" ");
}
