// A fleet of N kwok nodes with lightweight stand-in agents (one watch for all) and the controller as its own process,
// measured idle and through a rollout: what bench/scale.ts and bench/footprint.ts share. The stand-ins write in one
// of two ways:
//   routes: each node has a real agent pod and a token bound to it (TokenRequest, audience brupop-apiserver); every
//     shadow create (POST) and status write (PUT) goes over HTTPS with brupop's headers through a real brupop API
//     server process (bench/route-stand-ins.ts), which authenticates it and writes the shadow;
//   admin: status written directly with the admin client (no API server).
import { spawn } from "node:child_process";
import { once } from "node:events";
import { loadavg } from "node:os";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeConfig } from "@kubernetes/client-node";
import { ShadowTimeline } from "../sim/stand-ins/status-agents.ts";
import { counterSum, RouteStandIns, type RouteStandInsOptions } from "./route-stand-ins.ts";
import {
  allUpdated,
  createNodes,
  diffCounts,
  histogramQuantile,
  parsePrometheus,
  latencySummary,
  launchOf,
  processCpuSeconds,
  processMemoryMiB,
  requestCounts,
  ROOT,
  round,
  sampleRss,
  scrapeKubeApiserver,
  startControllerProcess,
  StandInAgents,
  waitUntil,
  type BenchCluster,
  type ControllerProcess,
  type ControllerProcessOptions,
  type LatencySummary,
  type Sample,
  type StepDurations,
  type RssSamples,
} from "./lib.ts";

export type StandInMode = "routes" | "admin";

/** Host time per step of a fleet's rollout (short and random, so that nodes interleave). */
export const FLEET_STEPS = {
  StagedAndPerformedUpdate: [200, 500],
  RebootedIntoUpdate: [200, 500],
  MonitoringUpdate: [100, 200],
  Idle: 0,
} as const satisfies StepDurations;
export const FLEET_STEPS_TEXT = "prepare 200–500, reboot 200–500, monitor 100–200";

export interface FleetOptions {
  nodes: number;
  budget: number;
  /** Node names' prefix and the controller's node group. */
  prefix: string;
  standIns: StandInMode;
  /** Keep-alive sockets of the stand-ins to the API server (routes). */
  maxSockets: number;
  durations: StepDurations;
  /** How the controller runs (default from TypeScript source, the admin kubeconfig). */
  controller?: Pick<ControllerProcessOptions, "entry" | "kubeconfigPath" | "inCluster">;
  /** How the API server runs (routes; default from TypeScript source, the admin kubeconfig). */
  apiServer?: Pick<RouteStandInsOptions, "entry" | "kubeconfigPath" | "inCluster">;
  /** The stand-ins' client (their watch, and their writes in admin mode); default the cluster's admin client. */
  standInsKc?: KubeConfig;
}

/** A process over a window: CPU used and RSS sampled. */
export interface ProcessWindow {
  cpuSeconds: number;
  cpuPercentOfOneCore: number;
  rssMiB: RssSamples;
}

export interface IdleWindow {
  /** Date.now() at the window's start and end. */
  from: number;
  to: number;
  controller: ProcessWindow;
  apiServer?: ProcessWindow;
}

export interface FleetRollout {
  seconds: number;
  /** 1-minute load average of the machine at the rollout's start and end. */
  machineLoad1m: { rolloutStart: number; rolloutEnd: number };
  controller: ProcessWindow & {
    peakSinceStartMiB: number;
    /**
     * Its event loop's delay over the rollout: the nodejs_eventloop_lag_* gauges read at the end, which cover the
     * time since the scrape at its start (absent from controllers without process metrics). perf_hooks counts its
     * 10 ms sampling interval in: an idle loop reads about 10 ms.
     */
    eventLoopDelayMs?: { p50: number; p99: number; max: number };
  };
  /** From the controller's brupop_reconcile_duration_seconds histogram, delta over the rollout (bucket resolution). */
  reconcileMs: Record<"node" | "fleet", { count: number; p50: number; p99: number }>;
  /** From brupop_workqueue_wait_seconds: how long keys waited ready for a worker (absent from older controllers). */
  queueWaitMs: Record<"node" | "fleet", { p50: number; p99: number }>;
  /** Status reached spec.state → the controller's next spec write, as a separate watch saw them. */
  statusToSpecMs: LatencySummary;
  /** The same, by the state the status reached (which step's reconcile the latency is). */
  statusToSpecMsByState: Record<string, LatencySummary>;
  maxActive: number;
  budgetViolations: number;
  standInWrites: number;
  standInFailedWrites: number;
  /** kube-apiserver's apiserver_request_total over the rollout, by "VERB resource", largest first. */
  kubeApiserverRequests: Record<string, number>;
  /** The Events the operator wrote in the rollout, by reason: objects created, and occurrences (their counts). */
  eventsByReason: Record<string, { objects: number; occurrences: number }>;
  /**
   * kube-apiserver's own time for the writes a step is made of, over the rollout (apiserver_request_duration_seconds,
   * bucket resolution): the controller's spec PATCH and the API server's status PATCH. A reconcile that writes cannot
   * be faster than the first.
   */
  kubeApiserverWriteMs: Record<"specPatch" | "statusPatch", { count: number; p50: number; p99: number }>;
  apiServer?: ProcessWindow & {
    peakSinceStartMiB: number;
    putStatusLatencyMs: LatencySummary;
    tokenReviewsByApiServer: number;
    tokenReviewsAtKubeApiserver: number;
  };
}

/** A rollout driven by bench/latency-floor-reactor.ts instead of the controller: the floor under status → spec. */
export interface LatencyFloor {
  seconds: number;
  machineLoad1m: { rolloutStart: number; rolloutEnd: number };
  statusToSpecMs: LatencySummary;
  statusToSpecMsByState: Record<string, LatencySummary>;
  /** Per watch event, its arrival to the end of the write it caused (0 without one): the reactor's "reconcile". */
  handledMs: LatencySummary;
  writes: number;
  conflicts: number;
  failures: number;
  maxActive: number;
  budgetViolations: number;
  kubeApiserverWriteMs: FleetRollout["kubeApiserverWriteMs"];
}

/** Histogram samples after minus before (same name and labels). */
function subtract(after: Sample[], before: Sample[]): Sample[] {
  const key = (s: Sample) => `${s.name}${JSON.stringify(s.labels)}`;
  const old = new Map(before.map((s) => [key(s), s.value]));
  return after.map((s) => ({ ...s, value: s.value - (old.get(key(s)) ?? 0) }));
}

/** kube-apiserver's PATCH latency of BottlerocketShadows (`subresource` "" or "status") from its histogram's delta. */
function writeLatency(delta: readonly Sample[], subresource: string): { count: number; p50: number; p99: number } {
  const patches = delta.filter(
    (s) =>
      s.labels.verb === "PATCH" &&
      s.labels.resource === "bottlerocketshadows" &&
      (s.labels.subresource ?? "") === subresource,
  );
  const q = (p: number) => round(histogramQuantile(patches, "apiserver_request_duration_seconds", p) * 1000, 1);
  const count = patches.filter((s) => s.labels.le === "+Inf").reduce((a, s) => a + s.value, 0);
  return { count, p50: q(0.5), p99: q(0.99) };
}

/** kube-apiserver's own time for the two writes a step is made of, from its histogram's delta. */
function writeLatencies(delta: readonly Sample[]): FleetRollout["kubeApiserverWriteMs"] {
  return { specPatch: writeLatency(delta, ""), statusPatch: writeLatency(delta, "status") };
}

/** The observer's status → spec latencies by the state reached, summarised. */
function latenciesByState(observer: ShadowTimeline): Record<string, LatencySummary> {
  return Object.fromEntries([...observer.stepLatenciesByState].map(([state, l]) => [state, latencySummary(l)]));
}

/** CPU and RSS of a process from now until the returned function is called. */
async function watchProcess(pid: number, everyMs: number): Promise<() => Promise<ProcessWindow>> {
  const began = Date.now();
  const cpu0 = await processCpuSeconds(pid);
  const rss = sampleRss(pid, everyMs);
  return async () => {
    const cpu = (await processCpuSeconds(pid)) - cpu0;
    const mem = rss.stop();
    const seconds = (Date.now() - began) / 1000;
    return {
      cpuSeconds: round(cpu, 2),
      cpuPercentOfOneCore: round((cpu / seconds) * 100, 2),
      rssMiB: mem,
    };
  };
}

/** The operator's Events (every namespace) first seen at or after `since`, by reason, most frequent first. */
async function eventsSince(
  core: BenchCluster["core"],
  since: number,
): Promise<Record<string, { objects: number; occurrences: number }>> {
  const tally = new Map<string, { objects: number; occurrences: number }>();
  for (const event of (await core.listEventForAllNamespaces()).items) {
    const first = event.firstTimestamp ?? event.eventTime ?? event.metadata.creationTimestamp;
    if (first === undefined || new Date(first).getTime() < since - 1000) continue;
    const component = event.reportingComponent || event.source?.component || "";
    if (!component.includes("brupop")) continue;
    const key = event.reason ?? "";
    const entry = tally.get(key) ?? { objects: 0, occurrences: 0 };
    entry.objects += 1;
    entry.occurrences += event.count ?? 1;
    tally.set(key, entry);
  }
  return Object.fromEntries([...tally].sort(([, a], [, b]) => b.occurrences - a.occurrences));
}

export const tokenReviews = (counts: Record<string, number>): number =>
  Object.entries(counts)
    .filter(([k]) => / tokenreviews$/.test(k))
    .reduce((a, [, v]) => a + v, 0);

export class Fleet {
  readonly cluster: BenchCluster;
  readonly o: FleetOptions;
  readonly names: readonly string[];
  readonly routes: RouteStandIns | undefined;
  readonly agents: StandInAgents;
  readonly observer: ShadowTimeline;
  controller: ControllerProcess | undefined;

  private constructor(
    cluster: BenchCluster,
    o: FleetOptions,
    names: readonly string[],
    routes: RouteStandIns | undefined,
    agents: StandInAgents,
    observer: ShadowTimeline,
  ) {
    this.cluster = cluster;
    this.o = o;
    this.names = names;
    this.routes = routes;
    this.agents = agents;
    this.observer = observer;
  }

  /** Nodes, stand-ins (and the API server in routes mode) and an observer; every shadow Idle at 1.0.0. */
  static async start(cluster: BenchCluster, o: FleetOptions): Promise<Fleet> {
    const names = await createNodes(cluster.core, o.prefix, o.nodes, "1.0.0");
    const routes =
      o.standIns === "routes"
        ? await RouteStandIns.start(cluster, names, { maxSockets: o.maxSockets, ...o.apiServer })
        : undefined;
    const agents = new StandInAgents(o.standInsKc ?? cluster.kc, cluster.namespace, o.durations, routes);
    const observer = new ShadowTimeline(cluster.kc, cluster.namespace, o.budget);
    const fleet = new Fleet(cluster, o, names, routes, agents, observer);
    try {
      await observer.start();
      await agents.register(cluster.core, names, "1.0.0", "1.0.0");
      await waitUntil("stand-ins registered", () => observer.shadows().length === o.nodes, 60_000);
    } catch (err) {
      await fleet.stop();
      throw err;
    }
    return fleet;
  }

  /** Starts the controller (budget from the options) and resolves once it leads. */
  async startController(): Promise<ControllerProcess> {
    this.controller = await startControllerProcess(
      this.cluster,
      { MAX_CONCURRENT_UPDATE: String(this.o.budget) },
      this.o.prefix,
      this.o.controller,
    );
    return this.controller;
  }

  #leader(): ControllerProcess {
    if (!this.controller) throw new Error("the fleet's controller is not running");
    return this.controller;
  }

  /** Waits `windowMs` with nothing to do, sampling the controller's (and API server's) CPU and RSS every second. */
  async idle(windowMs: number): Promise<IdleWindow> {
    const controller = await watchProcess(this.#leader().pid, 1000);
    const apiServer = this.routes ? await watchProcess(this.routes.pid, 1000) : undefined;
    const from = Date.now();
    await sleep(windowMs);
    const to = Date.now();
    return {
      from,
      to,
      controller: await controller(),
      ...(apiServer ? { apiServer: await apiServer() } : {}),
    };
  }

  /** Offers `target` to every stand-in and measures until every node runs it, Idle. */
  async rollout(target: string, timeoutMs: number): Promise<FleetRollout> {
    const leader = this.#leader();
    const { routes, observer, agents, o } = this;
    const kc = this.cluster.kc;
    const metricsBefore = parsePrometheus(await leader.metrics());
    const kubeBefore = await scrapeKubeApiserver(kc);
    const apiMetricsBefore = routes ? await routes.metrics() : "";
    const apiServerWindow = routes ? await watchProcess(routes.pid, 250) : undefined;
    routes?.resetPutLatencies();
    const controllerWindow = await watchProcess(leader.pid, 250);
    const loadAtStart = round(loadavg()[0] ?? NaN, 2);
    const began = Date.now();
    await agents.offer(target);
    await waitUntil("rollout done", () => allUpdated(observer.shadows(), o.nodes, target), timeoutMs, 100);
    const ms = Date.now() - began;
    const loadAtEnd = round(loadavg()[0] ?? NaN, 2);
    const controller = await controllerWindow();
    const apiServerUse = await apiServerWindow?.();
    const kubeAfter = await scrapeKubeApiserver(kc);
    const kubeRequests = diffCounts(requestCounts(kubeAfter), requestCounts(kubeBefore));
    const kubeWrites = subtract(kubeAfter, kubeBefore);
    const metricsAfter = parsePrometheus(await leader.metrics());
    const reconciles = subtract(metricsAfter, metricsBefore);
    const lagMs = (quantile: string) => {
      const seconds = metricsAfter.find((s) => s.name === `nodejs_eventloop_lag_${quantile}_seconds`)?.value;
      return seconds === undefined ? undefined : round(seconds * 1000, 1);
    };
    const [lagP50, lagP99, lagMax] = [lagMs("p50"), lagMs("p99"), lagMs("max")];
    const quantile = (metric: string) => (kind: string, p: number) =>
      round(histogramQuantile(reconciles, metric, p, { kind }) * 1000, 1);
    const q = quantile("brupop_reconcile_duration_seconds");
    const wait = quantile("brupop_workqueue_wait_seconds");
    const count = (kind: string) =>
      reconciles
        .filter((s) => s.name === "brupop_reconcile_duration_seconds_count" && s.labels.kind === kind)
        .reduce((a, s) => a + s.value, 0);
    const lat = observer.stepLatencies;
    let apiServer: FleetRollout["apiServer"];
    if (routes && apiServerUse) {
      const uncached = (t: string) => counterSum(t, "brupop_apiserver_authentications_total", { cached: "false" });
      apiServer = {
        ...apiServerUse,
        cpuPercentOfOneCore: round((apiServerUse.cpuSeconds / (ms / 1000)) * 100, 1),
        peakSinceStartMiB: (await processMemoryMiB(routes.pid)).peak,
        putStatusLatencyMs: routes.stats().latencyMs.putStatus,
        tokenReviewsByApiServer: uncached(await routes.metrics()) - uncached(apiMetricsBefore),
        tokenReviewsAtKubeApiserver: tokenReviews(kubeRequests),
      };
    }
    return {
      seconds: round(ms / 1000, 1),
      machineLoad1m: { rolloutStart: loadAtStart, rolloutEnd: loadAtEnd },
      controller: {
        ...controller,
        cpuPercentOfOneCore: round((controller.cpuSeconds / (ms / 1000)) * 100, 1),
        peakSinceStartMiB: (await processMemoryMiB(leader.pid)).peak,
        ...(lagP50 === undefined || lagP99 === undefined || lagMax === undefined
          ? {}
          : { eventLoopDelayMs: { p50: lagP50, p99: lagP99, max: lagMax } }),
      },
      reconcileMs: {
        node: { count: count("node"), p50: q("node", 0.5), p99: q("node", 0.99) },
        fleet: { count: count("fleet"), p50: q("fleet", 0.5), p99: q("fleet", 0.99) },
      },
      queueWaitMs: {
        node: { p50: wait("node", 0.5), p99: wait("node", 0.99) },
        fleet: { p50: wait("fleet", 0.5), p99: wait("fleet", 0.99) },
      },
      statusToSpecMs: latencySummary(lat),
      statusToSpecMsByState: latenciesByState(observer),
      maxActive: observer.maxActive,
      budgetViolations: observer.violations.length,
      standInWrites: agents.writes,
      standInFailedWrites: agents.failedWrites,
      kubeApiserverRequests: kubeRequests,
      eventsByReason: await eventsSince(this.cluster.core, began),
      kubeApiserverWriteMs: writeLatencies(kubeWrites),
      ...(apiServer ? { apiServer } : {}),
    };
  }

  /**
   * Stops the controller and rolls `target` out with the latency floor's reactor in its place, connected as the
   * controller was: the same nodes, stand-ins, watches and kube-apiserver, with the least a controller can do.
   */
  async floorRollout(target: string, timeoutMs: number): Promise<LatencyFloor> {
    const { observer, agents, o } = this;
    await this.controller?.stop();
    this.controller = undefined;
    const launch = await launchOf(
      [join(ROOT, "bench/latency-floor-reactor.ts")],
      {
        PATH: process.env.PATH ?? "",
        KUBECONFIG: o.controller?.kubeconfigPath ?? this.cluster.cp.kubeconfigPath,
        BRUPOP_NAMESPACE: this.cluster.namespace,
        BUDGET: String(o.budget),
      },
      o.controller?.inCluster,
    );
    const reactor = spawn(launch.command, launch.args, { env: launch.env, stdio: ["ignore", "pipe", "inherit"] });
    const lines = createInterface({ input: reactor.stdout })[Symbol.asyncIterator]();
    const exited = once(reactor, "exit");
    try {
      const ready = await lines.next();
      if (ready.value !== "ready") throw new Error("the latency floor's reactor did not start");
      observer.resetLatencies();
      const kubeBefore = await scrapeKubeApiserver(this.cluster.kc);
      const loadAtStart = round(loadavg()[0] ?? NaN, 2);
      const began = Date.now();
      await agents.offer(target);
      const done = (): boolean => {
        if (reactor.exitCode !== null) throw new Error(`the latency floor's reactor exited (${reactor.exitCode})`);
        return allUpdated(observer.shadows(), o.nodes, target);
      };
      await waitUntil("floor rollout done", done, timeoutMs, 100);
      const ms = Date.now() - began;
      const loadAtEnd = round(loadavg()[0] ?? NaN, 2);
      const kubeWrites = subtract(await scrapeKubeApiserver(this.cluster.kc), kubeBefore);
      reactor.kill("SIGTERM");
      const report = await lines.next();
      const r = JSON.parse(String(report.value)) as {
        handledMs: number[];
        writes: number;
        conflicts: number;
        failures: number;
      };
      return {
        seconds: round(ms / 1000, 1),
        machineLoad1m: { rolloutStart: loadAtStart, rolloutEnd: loadAtEnd },
        statusToSpecMs: latencySummary(observer.stepLatencies),
        statusToSpecMsByState: latenciesByState(observer),
        handledMs: latencySummary(r.handledMs),
        writes: r.writes,
        conflicts: r.conflicts,
        failures: r.failures,
        maxActive: observer.maxActive,
        budgetViolations: observer.violations.length,
        kubeApiserverWriteMs: writeLatencies(kubeWrites),
      };
    } finally {
      if (reactor.exitCode === null && reactor.signalCode === null) reactor.kill("SIGKILL");
      await exited;
    }
  }

  async stop(): Promise<void> {
    await this.controller?.stop();
    await this.agents.stop();
    await this.routes?.stop();
    await this.observer.stop();
  }
}
