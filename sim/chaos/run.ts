// The chaos run: a rollout in the simulated cluster while the operator's processes are killed, nodes and hosts
// misbehave and the network fails, following a seeded plan (plan.ts, carried out by disruptions.ts); the invariant
// oracle (sim/oracle) watches what really happens throughout; then a wait until every node has an outcome, and a
// report (report.ts).
//
// Kills are SIGKILLs of the real processes: a container crash. PodRunner restarts the container after a short
// back-off, as the kubelet would. "The leader" is resolved at the moment of the kill from the controller's Lease.
import { cpus, loadavg } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { CoreV1Api, type CoreV1Event } from "@kubernetes/client-node";
import { FleetReader } from "../../src/cli/fleet.ts";
import { nodeOf, observeCluster, occupiesBudget, type FleetObserver } from "../cluster/fleet-observer.ts";
import { observedFleetReport, waitingFor } from "../cluster/fleet-report.ts";
import { bottlerocketOsImage } from "../cluster/nodes.ts";
import { FAST_AGENT_ENV, startSimulatedCluster, type SimulatedCluster } from "../cluster/simulated-cluster.ts";
import type { DurationProfile, HostDurations } from "../host/durations.ts";
import { observeWithOracle, type OracleObserver } from "../oracle/observer.ts";
import { verdictOf } from "../oracle/verdict.ts";
import { convergenceProblems } from "./convergence.ts";
import { CHAOS_WINDOW, DEFERRED_KINDS, MANAGED_LABEL, performDisruption } from "./disruptions.ts";
import { oneShotEpilogue } from "./oneshot-epilogue.ts";
import {
  FAULT_SETS,
  chaosPlan,
  defaultMaxHostFaults,
  countByKind,
  needsAPerson,
  type Disruption,
  type FaultSet,
} from "./plan.ts";
import { formatTimelineEntry, passed, type ChaosReport, type PerformedDisruption } from "./report.ts";

export interface ChaosOptions {
  readonly nodes: number;
  readonly budget: number;
  readonly seed: number;
  /** Disruptions happen during this long after publish. */
  readonly durationMs: number;
  /** Give up waiting for every node's outcome this long after publish. */
  readonly timeoutMs: number;
  readonly meanGapMs?: number;
  readonly from?: string;
  readonly to?: string;
  /** Which disruptions (plan.ts FAULT_SETS); default "default". */
  readonly faults?: FaultSet;
  /** Host faults to choose from (default: the fault set's). */
  readonly hostFaults?: readonly string[];
  readonly maxHostFaults?: number;
  /** --faults all: the operator's timeouts (default CHAOS_TIMEOUTS); keep each controller one above the agent's. */
  readonly timeouts?: ChaosTimeouts;
  /** Host step durations (default: the "demo" profile, seconds). */
  readonly profile?: DurationProfile;
  readonly durations?: Partial<HostDurations>;
  readonly keepDir?: boolean;
  /** Progress lines (the timeline as it happens). */
  readonly say?: (line: string) => void;
  /** The simulated cluster's own log lines (verbose). */
  readonly log?: (line: string) => void;
  /** Aborting stops disrupting and waiting; the report is still made, marked interrupted. */
  readonly signal?: AbortSignal;
}

/**
 * The oracle's bounds in a chaos run. A node cordoned by the operator longer than a minute must show a reason on its
 * shadow and an Event (I3); no four minutes without any node making progress while some node could (I4: longer
 * than brupop's crash backoff after a second failure, 5 min, is not needed because a node backing off has said so).
 * A node the operator disrupts carries the do-not-disrupt annotations, and those it set are gone four minutes after
 * the node is back in service at the latest (I6).
 */
export const CHAOS_ORACLE_BOUNDS = {
  reasonWithinMs: 60_000,
  stallMs: 240_000,
  doNotDisrupt: { releaseWithinMs: 240_000 },
} as const;

/**
 * --faults all: the operator's bounds scaled to the run's seconds-long host steps, in the order the operator
 * requires (docs/operations.md, STATE_TIMEOUTS): each controller timeout exceeds what the agent allows itself in that
 * state, so a live agent still reports its own failure first. The drain keeps room for Kubernetes' 2-minute hold on
 * an evicted StatefulSet pod's budget. Shipped defaults (15/30/5 min) would keep a node whose boot hangs in
 * RebootedIntoUpdate for 30 minutes before anyone may call it stuck.
 */
export interface ChaosTimeouts {
  readonly agent: { readonly DRAIN_TIMEOUT_SECONDS: string; readonly REBOOT_TIMEOUT_SECONDS: string };
  readonly controller: { readonly STATE_TIMEOUTS: string };
}

export const CHAOS_TIMEOUTS: ChaosTimeouts = {
  agent: { DRAIN_TIMEOUT_SECONDS: "150", REBOOT_TIMEOUT_SECONDS: "60" },
  /** Lock wait 2 min + seconds of prepare; drain 150 s + reboot 60 s; uncordon and report take seconds. */
  controller: { STATE_TIMEOUTS: "StagedAndPerformedUpdate=3m,RebootedIntoUpdate=4m,MonitoringUpdate=2m" },
};

/** What the run chooses, and why; printed by --help and kept in the report. */
export const chaosSettings = (timeouts: ChaosTimeouts = CHAOS_TIMEOUTS): readonly string[] => [
  'host step durations: the "demo" profile (prepare 3 s, reboot 5 s), agents syncing every 2 s (FAST_AGENT_ENV)',
  "controller: its shipped defaults (but --faults all's timeouts, below), so brupop's crash backoff applies (a first failure waits 3 min, a second 5 min) " +
    "and quarantine after 5 failures, which one-shot faults never reach",
  "default faults: process kills and one-shot host faults the operator recovers from alone; a failed node retries " +
    "after its backoff. --faults all: every kind, each at least once, including faults that need a person (a boot " +
    "that never comes back, a wedged host API, a deleted node), which may leave a node stuck, reported",
  "--faults all also runs with an update window (SCHEDULER_CRON_EXPRESSION 0-44 * * * * *: 45 s of every minute), " +
    `MANAGED_NODE_SELECTOR ${MANAGED_LABEL}=true on every node, and a network link per node that can be cut`,
  `--faults all also scales the operator's timeouts to the run's seconds-long host steps, in the order the operator ` +
    `requires: agent DRAIN_TIMEOUT_SECONDS ${timeouts.agent.DRAIN_TIMEOUT_SECONDS}, REBOOT_TIMEOUT_SECONDS ` +
    `${timeouts.agent.REBOOT_TIMEOUT_SECONDS}; controller STATE_TIMEOUTS ${timeouts.controller.STATE_TIMEOUTS}, ` +
    "states not named keep their default (Idle 2 min): a node whose boot hangs is reported stuck within minutes, " +
    "not after half an hour",
  "a fault is armed on a node still to update, so that it can fire; a killed agent is preferably one mid-update",
];

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const from = o.from ?? "1.25.0";
  const to = o.to ?? "1.26.0";
  const meanGapMs = o.meanGapMs ?? 5_000;
  const faultSet = o.faults ?? "default";
  const set = FAULT_SETS[faultSet];
  const hostFaults = o.hostFaults ?? set.hostFaults;
  const all = faultSet === "all";
  const timeouts = o.timeouts ?? CHAOS_TIMEOUTS;
  const say = o.say ?? (() => undefined);
  const startedAt = new Date();
  const t0 = Date.now();
  const nodeNames = Array.from({ length: o.nodes }, (_, i) => `bottlerocket-${i + 1}`);
  const plan = chaosPlan({
    seed: o.seed,
    nodes: nodeNames,
    durationMs: o.durationMs,
    meanGapMs,
    hostFaults,
    weights: set.weights,
    coverAll: set.coverAll,
    ...(set.coverAll ? { firstHostFaults: FAULT_SETS.all.firstHostFaults } : {}),
    // --faults all: a third of the nodes, so that besides the five issue 11 names one more fault is drawn.
    maxHostFaults: o.maxHostFaults ?? (all ? Math.max(1, Math.floor(o.nodes / 3)) : defaultMaxHostFaults(o.nodes)),
  });
  const planned = countByKind(plan);
  say(
    `seed ${o.seed}: ${plan.length} disruptions planned over ${o.durationMs / 1000} s (` +
      Object.entries(planned)
        .filter(([, n]) => n > 0)
        .map(([k, n]) => `${k} ${n}`)
        .join(", ") +
      ")",
  );
  say(`starting a simulated cluster: ${o.nodes} nodes at ${from}, budget ${o.budget}, faults ${faultSet}`);
  const cluster = await startSimulatedCluster({
    nodes: o.nodes,
    fromVersion: from,
    budget: o.budget,
    profile: o.profile ?? "demo",
    ...(o.durations ? { durations: o.durations } : {}),
    env: {
      agent: { ...FAST_AGENT_ENV, ...(all ? timeouts.agent : {}) },
      ...(all
        ? {
            controller: {
              SCHEDULER_CRON_EXPRESSION: CHAOS_WINDOW.cron,
              MANAGED_NODE_SELECTOR: `${MANAGED_LABEL}=true`,
              ...timeouts.controller,
            },
          }
        : {}),
    },
    ...(all ? { nodeLabels: { [MANAGED_LABEL]: "true" }, nodeLinks: true } : {}),
    ...(o.keepDir ? { keepDir: true } : {}),
    ...(o.log ? { log: o.log } : {}),
  });
  const clusterStartMs = Date.now() - t0;
  const observer = observeCluster(cluster);
  const oracle = observeWithOracle(
    cluster,
    {
      budget: o.budget,
      ...CHAOS_ORACLE_BOUNDS,
      ...(all ? { managed: (labels: Readonly<Record<string, string>>) => labels[MANAGED_LABEL] === "true" } : {}),
      ...(all ? { scheduleOpen: CHAOS_WINDOW.open } : {}),
    },
    {
      onViolation: (v) => say(`ORACLE ${v.invariant}: ${v.message}`),
      ...(o.log ? { log: o.log } : {}),
    },
  );
  try {
    await Promise.all([observer.start(), oracle.start()]);
    return await rollOutUnderChaos({
      o,
      cluster,
      observer,
      oracle,
      plan,
      from,
      to,
      meanGapMs,
      hostFaults,
      startedAt,
      clusterStartMs,
      faultSet,
    });
  } finally {
    await oracle.stop().catch(() => undefined);
    await observer.stop().catch(() => undefined);
    await cluster.stop();
    say(o.keepDir ? `cluster stopped; logs kept in ${cluster.dir}` : "cluster stopped and cleaned up");
  }
}

interface RunContext {
  readonly o: ChaosOptions;
  readonly cluster: SimulatedCluster;
  readonly observer: FleetObserver;
  readonly oracle: OracleObserver;
  readonly plan: readonly Disruption[];
  readonly from: string;
  readonly to: string;
  readonly meanGapMs: number;
  readonly hostFaults: readonly string[];
  readonly startedAt: Date;
  readonly clusterStartMs: number;
  readonly faultSet: FaultSet;
}

async function rollOutUnderChaos(c: RunContext): Promise<ChaosReport> {
  const { o, cluster, observer, oracle, plan, to } = c;
  const say = o.say ?? (() => undefined);
  const aborted = () => o.signal?.aborted === true;
  const timeline: PerformedDisruption[] = [];
  /** What hit each node (host faults, kubelet down, partitions, ...). */
  const hits = new Map<string, string[]>();
  /** Disruptions still in effect (a kubelet down, a partition) or still to take effect (the next drain). */
  const lasting = new Set<Promise<unknown>>();

  /** A node may end stuck only when something hit it that no operator repairs alone. */
  const mayBeStuck = (node: string) =>
    (hits.get(node) ?? []).some((h) => h === "deleted" || (h.startsWith("host fault ") && needsAPerson(h.slice(11))));
  // Done: every node updated, gone, or stuck (reported, and not left cordoned while Ready) where it may be.
  const outcomes = () => oracle.oracle.outcomes();
  const doneNow = () =>
    lasting.size === 0 &&
    outcomes().every(
      (x) => x.outcome === "updated" || x.outcome === "deleted" || (x.outcome === "stuck" && mayBeStuck(x.node)),
    );
  const updatedCount = () => outcomes().filter((x) => x.outcome === "updated").length;

  // ---- Publish, then disrupt on schedule while watching.
  // The controller's settings as `brupop status` reads them, to say why awaited nodes wait.
  const controller = await new FleetReader(cluster.kc, cluster.namespace).controllerSettings();
  const loadavgAtPublish = loadavg();
  say(`publishing Bottlerocket ${to} on every host`);
  const publishedAt = Date.now();
  cluster.publish(to);
  oracle.published(to);
  const since = () => Date.now() - publishedAt;
  const stamp = () => `t+${`${(since() / 1000).toFixed(1)} s`.padStart(8)} `;
  const drains = new Map<string, number>();
  const context = { cluster, observer, hits, to, say, since, aborted, drains };

  let doneSince: number | undefined;
  let lastProgress = 0;
  // Each stretch a node spends out of Idle (an update, or a failed attempt), to show a step that stalls.
  const busySince = new Map<string, number>();
  const stretches: { node: string; ms: number }[] = [];
  const cordoned = new Set<string>();
  const watch = () => {
    const now = Date.now();
    for (const node of cluster.nodeNames) {
      const on = observer.node(node)?.spec?.unschedulable === true;
      if (on && !cordoned.has(node)) drains.set(node, (drains.get(node) ?? 0) + 1);
      if (on) cordoned.add(node);
      else cordoned.delete(node);
    }
    for (const s of observer.shadows()) {
      const node = nodeOf(s);
      const start = busySince.get(node);
      if (occupiesBudget(s)) {
        if (start === undefined) busySince.set(node, now);
      } else if (start !== undefined) {
        stretches.push({ node, ms: now - start });
        busySince.delete(node);
      }
    }
    if (doneNow()) doneSince ??= now;
    else doneSince = undefined;
    if (now - lastProgress >= 15_000) {
      lastProgress = now;
      const awaited = outcomes()
        .filter((x) => x.outcome !== "updated" && x.outcome !== "deleted")
        .map((x) => x.node);
      const report = observedFleetReport(observer, cluster.namespace, controller, new Date());
      say(
        `${stamp()} progress: ${updatedCount()}/${cluster.nodeNames.length} updated, ` +
          `${oracle.oracle.disrupted().length} disrupted, ${cluster.down.size} rebooting, ` +
          `${oracle.oracle.violations.length} oracle violation(s)` +
          (awaited.length > 0
            ? `; waiting for ${waitingFor(report, awaited, (n) => oracle.oracle.notes(n).slice(-1))}`
            : ""),
      );
    }
  };
  const pause = async (ms: number) => {
    const until = Date.now() + ms;
    while (!aborted() && Date.now() < until) {
      watch();
      await sleep(Math.min(250, Math.max(0, until - Date.now())));
    }
  };
  const record = (done: PerformedDisruption) => {
    timeline.push(done);
    say(formatTimelineEntry(done));
  };
  const failed = (d: Disruption, err: unknown): PerformedDisruption => ({
    atMs: since(),
    kind: d.kind,
    skipped: `failed: ${err instanceof Error ? err.message : String(err)}`,
  });

  for (const d of plan) {
    await pause(publishedAt + d.atMs - Date.now());
    if (aborted()) break;
    const done = performDisruption(context, d, lasting).catch((err: unknown) => failed(d, err));
    if (DEFERRED_KINDS.has(d.kind)) {
      const settled = done.then(record);
      lasting.add(settled);
      void settled.finally(() => lasting.delete(settled));
    } else {
      record(await done);
    }
  }
  await pause(publishedAt + o.durationMs - Date.now());
  if (!aborted()) say(`${stamp()} disruption period over; waiting for every node's outcome`);

  // ---- Done: every node has its outcome, and still so after a couple of seconds.
  const deadline = publishedAt + o.timeoutMs;
  while (!aborted() && Date.now() < deadline) {
    watch();
    if (doneSince !== undefined && Date.now() - doneSince >= 2_000) break;
    await sleep(250);
  }
  watch();
  const converged = doneSince !== undefined && !aborted();
  const convergeMs = converged && doneSince !== undefined ? doneSince - publishedAt : null;
  if (converged) {
    say(`${stamp()} every node has its outcome ${((convergeMs ?? 0) / 1000).toFixed(1)} s after publishing`);
    // Workloads Ready again (replacements of evicted pods scheduled on updated nodes), bounded.
    const until = Date.now() + 30_000;
    while (!aborted() && Date.now() < until && cluster.workloads.some((w) => observer.ready(w) < w.replicas)) {
      await sleep(250);
    }
  }
  // Whatever still lasts is undone before the verdict (bounded: the longest lasts 90 s).
  await Promise.race([Promise.allSettled([...lasting]), sleep(120_000)]);

  // ---- The oracle's verdict. Each node's outcome; a lost or stranded one is an I4 violation.
  const finalOutcomes = await oracle.finish();
  // Then a failover around a one-shot trigger (its session over, a newer version out): nothing may start (I5).
  const oneShot =
    c.faultSet === "all" && !aborted()
      ? await oneShotEpilogue({ cluster, oracle, next: nextMinor(to), say }).catch((err: unknown) => ({
          skipped: `failed: ${err instanceof Error ? err.message : String(err)}`,
        }))
      : undefined;
  await oracle.settled();
  const verdict = verdictOf(oracle.oracle, o.budget, finalOutcomes);
  const core = cluster.kc.makeApiClient(CoreV1Api);
  const nodes = new Map(
    (await core.listNode().catch(() => ({ items: [] }))).items.map((n) => [n.metadata?.name ?? "", n]),
  );
  const osImage = bottlerocketOsImage(to);
  // What the operator shows about a node (its shadow): evidence for a report, never the verdict.
  const shows = (node: string): string[] => {
    const n = nodes.get(node);
    const host = cluster.hosts.get(node);
    return convergenceProblems(
      {
        node,
        shadow: observer.shadows().find((s) => nodeOf(s) === node),
        nodeObject: n && { unschedulable: n.spec?.unschedulable === true, osImage: n.status?.nodeInfo?.osImage },
        host: host && { runningVersion: host.runningVersion, up: host.apiUp && !cluster.down.has(node) },
      },
      to,
      osImage,
    );
  };
  // The operator's Events about a node's shadow, oldest first: what it said, for a node with a problem.
  const eventsAbout = (node: string): string[] =>
    observer
      .events()
      .filter((e) => e.involvedObject.name === `brs-${node}`)
      .slice(-12)
      .map(
        (e) => `${e.reason ?? "?"}${(e.count ?? 1) > 1 ? ` x${e.count ?? 1}` : ""}: ${(e.message ?? "").slice(0, 160)}`,
      );
  const lost = finalOutcomes.flatMap((x) =>
    x.outcome === "lost" || x.outcome === "stranded"
      ? [
          {
            node: x.node,
            outcome: x.outcome,
            why: x.why,
            operatorShows: shows(x.node),
            hits: hits.get(x.node) ?? [],
            events: eventsAbout(x.node),
          },
        ]
      : [],
  );
  const stuck = finalOutcomes.flatMap((x) =>
    x.outcome === "stuck"
      ? [
          {
            node: x.node,
            reason: x.reason,
            event: x.event,
            hits: hits.get(x.node) ?? [],
            legitimate: mayBeStuck(x.node),
            operatorShows: shows(x.node),
            events: eventsAbout(x.node),
          },
        ]
      : [],
  );
  const evidenceNodes = [
    ...new Set([
      ...lost.map((l) => l.node),
      ...stuck.filter((s) => !s.legitimate).map((s) => s.node),
      ...verdict.violations.flatMap((v) => v.nodes),
    ]),
  ];

  const operatorEvents = observer
    .events()
    .filter((e) => e.involvedObject.kind === "BottlerocketShadow" || e.involvedObject.kind === "Node");
  const events: Record<string, number> = {};
  for (const e of operatorEvents) events[e.reason ?? "?"] = (events[e.reason ?? "?"] ?? 0) + (e.count ?? 1);
  const failures = new Map<string, CoreV1Event[]>();
  for (const e of operatorEvents) {
    if (e.reason !== "UpdateFailed" && e.reason !== "UpdateTimedOut") continue;
    const node = (e.involvedObject.name ?? "").replace(/^brs-/, "");
    failures.set(node, [...(failures.get(node) ?? []), e]);
  }
  const failedOnTheWay = [...failures]
    .sort(([a], [b]) => a.localeCompare(b, undefined, { numeric: true }))
    .map(([node, list]) => ({
      node,
      failures: list.reduce((n, e) => n + (e.count ?? 1), 0),
      reasons: [...new Set(list.map((e) => `${e.reason ?? ""}: ${e.message ?? ""}`))],
    }));
  const faultsNotFired = [...hits]
    .filter(
      ([node, what]) =>
        what.some((h) => h.startsWith("host fault ")) && (cluster.hosts.get(node)?.state.faults.length ?? 0) > 0,
    )
    .map(([node, what]) => ({ node, fault: what.filter((h) => h.startsWith("host fault ")).join(", ") }));

  const performed = countByKind(timeline.filter((d) => !d.skipped));
  const report: Omit<ChaosReport, "passed"> = {
    seed: o.seed,
    nodes: o.nodes,
    budget: o.budget,
    from: c.from,
    to,
    faults: c.faultSet,
    durationMs: o.durationMs,
    timeoutMs: o.timeoutMs,
    meanGapMs: c.meanGapMs,
    hostFaults: c.hostFaults,
    settings: chaosSettings(o.timeouts),
    startedAt: c.startedAt.toISOString(),
    machine: { cpus: cpus().length, node: process.version, loadavgAtPublish, loadavgAtEnd: loadavg() },
    clusterStartMs: c.clusterStartMs,
    runMs: Date.now() - c.startedAt.getTime(),
    planned: plan.length,
    performed,
    skipped: timeline.filter((d) => d.skipped).length,
    timeline,
    interrupted: aborted(),
    converged,
    convergeMs,
    oracle: verdict,
    publishedAt,
    lost,
    stuck,
    ...(oneShot ? { oneShot } : {}),
    hits: Object.fromEntries([...hits].sort(([a], [b]) => a.localeCompare(b, undefined, { numeric: true }))),
    ...(evidenceNodes.length > 0 ? { nodeLogs: await cluster.logsAbout(evidenceNodes) } : {}),
    maxOutOfIdle: observer.maxOutOfIdle,
    outOfIdle: {
      stretches: stretches.length,
      medianMs: median(stretches.map((x) => x.ms)),
      longest: [...stretches].sort((a, b) => b.ms - a.ms).slice(0, 3),
    },
    reboots: [...cluster.hosts.values()].reduce((n, h) => n + h.bootCount - 1, 0),
    evictedPods: observer.evictedPods.size,
    events,
    failedOnTheWay,
    faultsNotFired,
    workloads: cluster.workloads.map((w) => ({
      name: w.name,
      replicas: w.replicas,
      minAvailable: w.minAvailable,
      lowestReady: observer.minReady.get(w.name) ?? null,
      readyAtEnd: observer.ready(w),
    })),
  };
  return { ...report, passed: passed(report) };
}

/** 1.26.0 → 1.27.0 */
function nextMinor(version: string): string {
  const [major = "1", minor = "0"] = version.split(".");
  return `${major}.${Number(minor) + 1}.0`;
}

function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? null;
}
