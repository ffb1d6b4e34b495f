// The chaos run: a rollout in the simulated cluster while the operator's processes are killed and host faults are
// injected, following a seeded plan (plan.ts); then a wait for convergence and a report (report.ts).
//
// Kills are SIGKILLs of the real processes: a container crash. PodRunner restarts the container after a short
// back-off, as the kubelet would. "The leader" is resolved at the moment of the kill from the controller's Lease.
// Host faults are armed on the simulated host of a node still to update and fire once.
import { cpus, loadavg } from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import { CoreV1Api, type CoreV1Event } from "@kubernetes/client-node";
import { FleetReader } from "../../src/cli/fleet.ts";
import { nodeOf, observeCluster, occupiesBudget, type FleetObserver } from "../cluster/fleet-observer.ts";
import { observedFleetReport, waitingFor } from "../cluster/fleet-report.ts";
import { bottlerocketOsImage } from "../cluster/nodes.ts";
import {
  FAST_AGENT_ENV,
  startSimulatedCluster,
  type ComponentName,
  type SimulatedCluster,
} from "../cluster/simulated-cluster.ts";
import type { DurationProfile, HostDurations } from "../host/durations.ts";
import { convergenceProblems } from "./convergence.ts";
import { DEFAULT_HOST_FAULTS, chaosPlan, countByKind, resolveDraw, type Disruption } from "./plan.ts";
import { formatTimelineEntry, passed, type ChaosReport, type PerformedDisruption } from "./report.ts";

export interface ChaosOptions {
  readonly nodes: number;
  readonly budget: number;
  readonly seed: number;
  /** Disruptions happen during this long after publish. */
  readonly durationMs: number;
  /** Give up waiting for convergence this long after publish. */
  readonly timeoutMs: number;
  readonly meanGapMs?: number;
  readonly from?: string;
  readonly to?: string;
  readonly hostFaults?: readonly string[];
  readonly maxHostFaults?: number;
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

/** What the run chooses, and why; printed by --help and kept in the report. */
export const CHAOS_SETTINGS: readonly string[] = [
  'host step durations: the "demo" profile (prepare 3 s, reboot 5 s), agents syncing every 2 s (FAST_AGENT_ENV)',
  "controller: its shipped defaults, so brupop's crash backoff applies (a first failure waits 3 min, a second 5 min) " +
    "and quarantine after 5 failures, which one-shot faults never reach",
  "host faults fire once, at most one per node and a quarter of the nodes in all, and only faults the operator can " +
    "recover from alone (no hung boot or wedged host API, which need a person); a failed node retries after its backoff",
  "a fault is armed on a node still to update, so that it can fire; a killed agent is preferably one mid-update",
];

export async function runChaos(o: ChaosOptions): Promise<ChaosReport> {
  const from = o.from ?? "1.25.0";
  const to = o.to ?? "1.26.0";
  const meanGapMs = o.meanGapMs ?? 5_000;
  const hostFaults = o.hostFaults ?? DEFAULT_HOST_FAULTS;
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
    ...(o.maxHostFaults === undefined ? {} : { maxHostFaults: o.maxHostFaults }),
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
  say(`starting a simulated cluster: ${o.nodes} nodes at ${from}, budget ${o.budget}`);
  const cluster = await startSimulatedCluster({
    nodes: o.nodes,
    fromVersion: from,
    budget: o.budget,
    profile: o.profile ?? "demo",
    ...(o.durations ? { durations: o.durations } : {}),
    env: { agent: FAST_AGENT_ENV },
    ...(o.keepDir ? { keepDir: true } : {}),
    ...(o.log ? { log: o.log } : {}),
  });
  const clusterStartMs = Date.now() - t0;
  const observer = observeCluster(cluster, { budget: o.budget });
  try {
    await observer.start();
    return await rollOutUnderChaos({
      o,
      cluster,
      observer,
      plan,
      from,
      to,
      meanGapMs,
      hostFaults,
      startedAt,
      clusterStartMs,
    });
  } finally {
    await observer.stop().catch(() => undefined);
    await cluster.stop();
    say(o.keepDir ? `cluster stopped; logs kept in ${cluster.dir}` : "cluster stopped and cleaned up");
  }
}

interface RunContext {
  readonly o: ChaosOptions;
  readonly cluster: SimulatedCluster;
  readonly observer: FleetObserver;
  readonly plan: readonly Disruption[];
  readonly from: string;
  readonly to: string;
  readonly meanGapMs: number;
  readonly hostFaults: readonly string[];
  readonly startedAt: Date;
  readonly clusterStartMs: number;
}

async function rollOutUnderChaos(c: RunContext): Promise<ChaosReport> {
  const { o, cluster, observer, plan, to } = c;
  const say = o.say ?? (() => undefined);
  const aborted = () => o.signal?.aborted === true;
  const osImage = bottlerocketOsImage(to);
  const timeline: PerformedDisruption[] = [];
  const faulted = new Map<string, string>();

  // `n`: the Node as last seen by the observer, unless the caller read it from the API.
  const problemsOf = (node: string, n = observer.node(node)): string[] => {
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
  const convergedNow = () => cluster.nodeNames.every((n) => problemsOf(n).length === 0);
  const updatedCount = () => cluster.nodeNames.filter((n) => problemsOf(n).length === 0).length;

  const leader = () => cluster.controllerLeader();
  const running = (component: ComponentName): string[] =>
    [...cluster.runners[component].processes()]
      .filter(([, p]) => p?.running())
      .map(([pod]) => pod)
      .sort((a, b) => a.localeCompare(b));

  const perform = async (d: Disruption, atMs: number): Promise<PerformedDisruption> => {
    const base = { atMs, kind: d.kind };
    switch (d.kind) {
      case "kill-controller-leader": {
        const holder = await leader().catch(() => undefined);
        if (holder === undefined) return { ...base, skipped: "no leader in the Lease" };
        const pid = cluster.runners.controller.crash(holder);
        if (pid === undefined) return { ...base, skipped: `leader ${holder} not running` };
        return { ...base, target: holder, detail: `(pid ${pid}, the Lease holder)` };
      }
      case "kill-controller":
      case "kill-apiserver": {
        const component = d.kind === "kill-controller" ? "controller" : "apiserver";
        const pick = resolveDraw(running(component), d.draw);
        const holder = component === "controller" ? await leader().catch(() => undefined) : undefined;
        const pid = pick === undefined ? undefined : cluster.runners[component].crash(pick);
        if (pick === undefined || pid === undefined) return { ...base, skipped: `no ${component} process running` };
        return { ...base, target: pick, detail: `(pid ${pid}${holder === pick ? ", the leader" : ""})` };
      }
      case "kill-agent": {
        const byNode = new Map(observer.shadows().map((s) => [nodeOf(s), s]));
        const agents = cluster.nodeNames.flatMap((node) => {
          const pod = cluster.runners.agent.podOn(node);
          return pod === undefined ? [] : [{ node, pod, shadow: byNode.get(node) }];
        });
        const busy = agents.filter((a) => a.shadow !== undefined && occupiesBudget(a.shadow));
        const pick = resolveDraw(d.prefer === "busy" && busy.length > 0 ? busy : agents, d.draw);
        const pid = pick === undefined ? undefined : cluster.runners.agent.crash(pick.pod);
        if (pick === undefined || pid === undefined) return { ...base, skipped: "no agent running" };
        const state = pick.shadow
          ? `spec ${pick.shadow.spec.state}, status ${pick.shadow.status?.current_state ?? "-"}`
          : "no shadow";
        return { ...base, target: pick.pod, detail: `on ${pick.node} (pid ${pid}; ${state})` };
      }
      case "host-fault": {
        const fault = d.fault ?? "prepare";
        // A node that has not started yet, so that the fault can still fire; else any node still to update.
        const byNode = new Map(observer.shadows().map((x) => [nodeOf(x), x]));
        const toUpdate = cluster.nodeNames.filter(
          (n) => !faulted.has(n) && cluster.hosts.get(n)?.runningVersion !== to,
        );
        const notStarted = toUpdate.filter((n) => {
          const x = byNode.get(n);
          return x !== undefined && !occupiesBudget(x);
        });
        const node = resolveDraw(notStarted.length > 0 ? notStarted : toUpdate, d.draw);
        const host = node === undefined ? undefined : cluster.hosts.get(node);
        if (node === undefined || host === undefined) return { ...base, skipped: "no node left to update" };
        host.inject(fault);
        faulted.set(node, fault);
        const s = observer.shadows().find((x) => nodeOf(x) === node);
        return { ...base, target: node, detail: `${fault} (node ${s?.status?.current_state ?? "?"})` };
      }
    }
  };

  // ---- Publish, then disrupt on schedule while watching for convergence.
  // The controller's settings as `brupop status` reads them, to say why awaited nodes wait.
  const controller = await new FleetReader(cluster.kc, cluster.namespace).controllerSettings();
  const loadavgAtPublish = loadavg();
  say(`publishing Bottlerocket ${to} on every host`);
  const publishedAt = Date.now();
  cluster.publish(to);
  const since = () => Date.now() - publishedAt;
  const stamp = () => `t+${`${(since() / 1000).toFixed(1)} s`.padStart(8)} `;

  let convergedSince: number | undefined;
  let lastProgress = 0;
  // Each stretch a node spends out of Idle (an update, or a failed attempt), to show a step that stalls.
  const busySince = new Map<string, number>();
  const stretches: { node: string; ms: number }[] = [];
  const watch = () => {
    const now = Date.now();
    for (const s of observer.shadows()) {
      const node = nodeOf(s);
      const since = busySince.get(node);
      if (occupiesBudget(s)) {
        if (since === undefined) busySince.set(node, now);
      } else if (since !== undefined) {
        stretches.push({ node, ms: now - since });
        busySince.delete(node);
      }
    }
    if (convergedNow()) convergedSince ??= now;
    else convergedSince = undefined;
    if (now - lastProgress >= 15_000) {
      lastProgress = now;
      const out = observer.shadows().filter(occupiesBudget).length;
      const awaited = cluster.nodeNames.filter((n) => problemsOf(n).length > 0);
      const report = observedFleetReport(observer, cluster.namespace, controller, new Date());
      say(
        `${stamp()} progress: ${updatedCount()}/${cluster.nodeNames.length} converged, ${out} out of Idle, ` +
          `${cluster.down.size} rebooting, ${observer.violations.length} violation(s)` +
          (awaited.length > 0 ? `; waiting for ${waitingFor(report, awaited, problemsOf)}` : ""),
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

  for (const d of plan) {
    await pause(publishedAt + d.atMs - Date.now());
    if (aborted()) break;
    let done: PerformedDisruption;
    try {
      done = await perform(d, since());
    } catch (err) {
      done = { atMs: since(), kind: d.kind, skipped: `failed: ${err instanceof Error ? err.message : String(err)}` };
    }
    timeline.push(done);
    say(formatTimelineEntry(done));
  }
  await pause(publishedAt + o.durationMs - Date.now());
  if (!aborted()) say(`${stamp()} disruption period over; waiting for convergence`);

  // ---- Converged: every node, and still so after the cordon check's confirmation window.
  const deadline = publishedAt + o.timeoutMs;
  while (!aborted() && Date.now() < deadline) {
    watch();
    if (convergedSince !== undefined && Date.now() - convergedSince >= 2_000) break;
    await sleep(250);
  }
  watch();
  const converged = convergedSince !== undefined && !aborted();
  const convergeMs = converged && convergedSince !== undefined ? convergedSince - publishedAt : null;
  if (converged) {
    say(`${stamp()} converged ${((convergeMs ?? 0) / 1000).toFixed(1)} s after publishing`);
    // Workloads Ready again (replacements of evicted pods scheduled on updated nodes), bounded.
    const until = Date.now() + 30_000;
    while (!aborted() && Date.now() < until && cluster.workloads.some((w) => observer.ready(w) < w.replicas)) {
      await sleep(250);
    }
  }

  // ---- The final word on each node comes from the API, not the observer's cache.
  const core = cluster.kc.makeApiClient(CoreV1Api);
  const nodes = new Map(
    (await core.listNode().catch(() => ({ items: [] }))).items.map((n) => [n.metadata?.name ?? "", n]),
  );
  const lost = cluster.nodeNames.flatMap((node) => {
    const why = problemsOf(node, nodes.get(node));
    return why.length === 0 ? [] : [{ node, why }];
  });

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
  const faultsNotFired = [...faulted]
    .filter(([node]) => (cluster.hosts.get(node)?.state.faults.length ?? 0) > 0)
    .map(([node, fault]) => ({ node, fault }));

  const performed = countByKind(timeline.filter((d) => !d.skipped));
  const report: Omit<ChaosReport, "passed"> = {
    seed: o.seed,
    nodes: o.nodes,
    budget: o.budget,
    from: c.from,
    to,
    durationMs: o.durationMs,
    timeoutMs: o.timeoutMs,
    meanGapMs: c.meanGapMs,
    hostFaults: c.hostFaults,
    settings: CHAOS_SETTINGS,
    startedAt: c.startedAt.toISOString(),
    machine: { cpus: cpus().length, node: process.version, loadavgAtPublish, loadavgAtEnd: loadavg() },
    clusterStartMs: c.clusterStartMs,
    planned: plan.length,
    performed,
    skipped: timeline.filter((d) => d.skipped).length,
    timeline,
    interrupted: aborted(),
    converged,
    convergeMs,
    violations: [...observer.violations],
    checks: { ...observer.checks },
    lost,
    ...(lost.length > 0 ? { lostNodeLogs: await cluster.logsAbout(lost.map((l) => l.node)) } : {}),
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

function median(xs: readonly number[]): number | null {
  if (xs.length === 0) return null;
  const sorted = [...xs].sort((a, b) => a - b);
  return sorted[Math.floor(sorted.length / 2)] ?? null;
}
