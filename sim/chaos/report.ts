// The chaos run's report: what the JSON holds, whether the run passed, and the human-readable summary. Pure.
import { formatVerdict, type OracleVerdict } from "../oracle/verdict.ts";
import type { OneShotEpilogue } from "./oneshot-epilogue.ts";
import { DISRUPTION_KINDS, type DisruptionKind, type FaultSet } from "./plan.ts";

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
  readonly faults: FaultSet;
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
  /** The whole run, from the first line to the report (cluster start and stop included, but not its stop). */
  readonly runMs: number;
  readonly planned: number;
  readonly performed: Readonly<Record<DisruptionKind, number>>;
  readonly skipped: number;
  readonly timeline: readonly PerformedDisruption[];
  readonly interrupted: boolean;
  /** Every node reached its outcome (updated, deleted, or stuck where a fault allows it) before the timeout. */
  readonly converged: boolean;
  /** From publish until every node had its outcome (and kept it until the end); null if that never happened. */
  readonly convergeMs: number | null;
  /** The invariant oracle's verdict (sim/oracle): violations per invariant, each node's outcome. */
  readonly oracle: OracleVerdict;
  /** When the new version was published (ms since epoch); violation times are shown relative to it. */
  readonly publishedAt: number;
  /** Nodes neither updated nor reported stuck (or reported but left cordoned while Ready): what the oracle saw,
   * what the operator shows on the node's shadow, and what hit the node. */
  readonly lost: readonly {
    readonly node: string;
    readonly outcome: "lost" | "stranded";
    readonly why: readonly string[];
    readonly operatorShows: readonly string[];
    readonly hits: readonly string[];
    /** The operator's last Events about the node's shadow. */
    readonly events: readonly string[];
  }[];
  /** Nodes reported stuck, with the reason shown and what hit them; legitimate only after a fault no operator
   * repairs alone (plan.ts needsAPerson, or a deleted node). */
  readonly stuck: readonly {
    readonly node: string;
    readonly reason: string;
    readonly event: string;
    readonly hits: readonly string[];
    readonly legitimate: boolean;
    readonly operatorShows: readonly string[];
    readonly events: readonly string[];
  }[];
  /** `--faults all`: the failover around a one-shot trigger at the end (oneshot-epilogue.ts). */
  readonly oneShot?: OneShotEpilogue | { readonly skipped: string };
  /** What hit each node. */
  readonly hits: Readonly<Record<string, readonly string[]>>;
  /** The agent and API server log lines about the nodes with a problem (lost, wrongly stuck, in a violation). */
  readonly nodeLogs?: string;
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

/** No oracle violation, no node lost, every stuck node stuck for a reason that allows it, not interrupted. */
export function passed(r: Pick<ChaosReport, "oracle" | "lost" | "stuck" | "interrupted">): boolean {
  return !r.interrupted && r.oracle.passed && r.lost.length === 0 && r.stuck.every((s) => s.legitimate);
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
    `  faults                 ${r.faults}; the whole run took ${secs(r.runMs)}`,
    `  machine                ${r.machine.cpus} CPUs, load ${fmtLoad(r.machine.loadavgAtPublish)} at publish, ` +
      `${fmtLoad(r.machine.loadavgAtEnd)} at the end (Node ${r.machine.node})`,
    `  disruptions            ${performedTotal} performed over ${secs(r.durationMs)} (${r.planned} planned, ${r.skipped} skipped)`,
  );
  for (const kind of DISRUPTION_KINDS) lines.push(`                           ${kind.padEnd(23)} ${r.performed[kind]}`);
  const updated = r.oracle.outcomes?.filter((x) => x.outcome === "updated").length ?? 0;
  lines.push(
    `  outcome                ${
      r.converged && r.convergeMs !== null
        ? `every node settled ${secs(r.convergeMs)} after publishing`
        : `NOT every node settled${r.interrupted ? " (interrupted)" : ` within ${secs(r.timeoutMs)}`}`
    }: ${updated} updated, ${r.stuck.length} stuck, ${r.lost.length} lost`,
    ...formatVerdict(r.oracle, { since: r.publishedAt }).map((l) => `  ${l}`),
    `  nodes stuck            ${r.stuck.length}`,
  );
  for (const s of r.stuck) {
    lines.push(
      `    ${s.node}: ${s.legitimate ? "" : "NOT JUSTIFIED: "}reported "${s.reason}" (Event ${s.event}); ` +
        `hit by: ${s.hits.join(", ") || "nothing"}`,
    );
    if (!s.legitimate) {
      lines.push(`      the operator shows: ${s.operatorShows.join("; ") || "nothing wrong"}`);
      for (const e of s.events) lines.push(`      event ${e}`);
    }
  }
  lines.push(`  nodes lost             ${r.lost.length}`);
  for (const l of r.lost) {
    lines.push(`    ${l.node} (${l.outcome}): ${l.why.join("; ")}`);
    lines.push(`      the operator shows: ${l.operatorShows.join("; ") || "nothing wrong"}`);
    lines.push(`      hit by: ${l.hits.join(", ") || "nothing"}`);
    for (const e of l.events) lines.push(`      event ${e}`);
  }
  if (r.oneShot && "skipped" in r.oneShot && r.oneShot.skipped !== undefined) {
    lines.push(`  one-shot failover      not done: ${r.oneShot.skipped}`);
  } else if (r.oneShot && "cron" in r.oneShot) {
    const e = r.oneShot;
    lines.push(
      `  one-shot failover      trigger "${e.cron}" fired ${e.firedAt.slice(11, 19)}Z with nothing to start; ` +
        `${e.published} published; leader ${e.killedLeader ?? "-"} killed, now ${e.leaderAfter ?? "-"}; ` +
        `${e.startsAfter.length} update(s) started before the next trigger` +
        (e.startsAfter.length > 0
          ? `: ${e.startsAfter.map((x) => `${x.node} at +${secs(x.atMs)} (Lease holder ${x.leader ?? "-"})`).join(", ")}`
          : ""),
    );
    if (e.setAside.length > 0) lines.push(`                         set aside first (stuck): ${e.setAside.join(", ")}`);
  }
  if (r.nodeLogs) lines.push("  logs of the nodes with a problem:", ...r.nodeLogs.split("\n").map((l) => `    ${l}`));
  lines.push(
    `  budget                 at most ${r.oracle.maxDisrupted} node(s) disrupted at once (budget ${r.budget}); ` +
      `the operator showed at most ${r.maxOutOfIdle} shadow(s) out of Idle`,
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

/** One line per run of a many-seed verdict (`npm run chaos -- --seeds A..B`): seed, wall time, result, and why. */
export function formatSeedTable(reports: readonly ChaosReport[]): string[] {
  const lines = ["seed        wall  result  violations  updated  stuck (reason)                          lost"];
  for (const r of reports) {
    const updated = r.oracle.outcomes?.filter((x) => x.outcome === "updated").length ?? 0;
    const stuck = r.stuck.map((s) => `${s.node}: ${s.reason.slice(0, 40)}`).join("; ") || "-";
    lines.push(
      `${String(r.seed).padEnd(8)} ${secs(r.runMs).padStart(8)}  ${(r.passed ? "pass" : "FAIL").padEnd(6)}  ` +
        `${String(r.oracle.violations.length).padStart(10)}  ${String(updated).padStart(7)}  ${stuck.padEnd(40)}  ` +
        (r.lost.map((l) => l.node).join(", ") || "-"),
    );
  }
  const failed = reports.filter((r) => !r.passed).length;
  lines.push(`${reports.length} run(s), ${failed} failed`);
  return lines;
}
