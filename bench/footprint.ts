// Footprint (issue 17): the operator's memory, kube-apiserver traffic and speed, as the image runs it (each
// component's esbuild bundle with the manifest's node flags, a V8 heap sized to the manifest's memory limit), against
// the goal table of the issue. Parts, each on a control plane of its own unless said:
//   fleet (per --nodes size): N kwok nodes, route stand-ins through a real API server process, the controller as its
//     own process (bench/fleet.ts, as bench/scale.ts). Every request the operator's components send to kube-apiserver
//     goes through a counting proxy of its own (sim/cluster/fault-proxy.ts, TLS, counted when it arrives, watches
//     when opened): controller, API server, stand-ins. After a settle time, an idle window (--idle-window): requests
//     per hour of all components together (kwok's heartbeats are not the operator's and are not counted), the
//     controller's and API server's RSS; then a rollout of every node (budget --budget): peak RSS, node reconcile
//     p99, status → next spec write p99.
//   conversion (on the first fleet's API server, after its rollout): the conversion webhook's peak RSS while it
//     answers 8 concurrent reviews of the largest list kube-apiserver can send (5,000 stored shadows), then the
//     16 MB attack (8 concurrent 15.7 MiB reviews, a 16 MB nested array), and its RSS after (back to idle?).
//   serial: a rollout at budget 1 with zero host time (bench/lib.ts measureRollout, as bench/overhead.ts): seconds
//     per node.
//   failover: a leader and a standby with the manifest's lease timings; the leader is killed (SIGKILL), a new version
//     is offered at once: seconds until the first start the standby decides.
//   agent: bench/agent-memory.ts --mode bundle under the manifest's agent memory limit: the cgroup working set
//     through an update.
//   floor: processes that load what a component loads and idle (bench/floor.ts): the floor under the idle RSS.
//   latency-floor (on the largest fleet, after its rollout): the controller stopped, a reactor that only writes each
//     next spec (bench/latency-floor-reactor.ts) rolls a new version out: the floor under status → spec and the
//     reconcile, with the same nodes, stand-ins, watches and kube-apiserver.
// A part that fails is reported as not measured, with its error; the others still run.
//
//   node bench/footprint.ts [--nodes 100,1000] [--budget 100] [--idle-window 300] [--settle 60] [--serial-nodes 20]
//                           [--failovers 3] [--agent-seconds 20] [--entry bundle|source]
//                           [--parts fleet,conversion,serial,failover,agent,floor,latency-floor] [--cpu-prof DIR]
// --cpu-prof: the controller and the API server write V8 CPU profiles into DIR when they stop (node --cpu-prof); the
// figures then include the profiler's cost, so keep such runs out of bench/results (copy the results first).
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import { parseArgs } from "node:util";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { API_GROUP, CONVERSION_WEBHOOK_PATH, PLURAL, VERSION_V2, brsName } from "../src/api/constants.ts";
import type { BottlerocketShadow } from "../src/api/bottlerocket-shadow.ts";
import { proxyKubeApiserver, type ProxiedAccess } from "../sim/cluster/fault-proxy.ts";
import { httpsCall, type Answer } from "../sim/cluster/https-call.ts";
import { containerHeapFlags, manifestMemoryLimitBytes } from "../sim/measure/container-memory.ts";
import { LARGEST_FLEET, conversionReview, nestedArrayReview } from "../sim/measure/conversion-reviews.ts";
import { footprintGoals, type Figure, type FootprintGoalId } from "../sim/measure/footprint-goals.ts";
import {
  countByComponent,
  perHour,
  steadyRate,
  type RequestCount,
  type TimeWindow,
} from "../sim/measure/request-count.ts";
import { ShadowTimeline } from "../sim/stand-ins/status-agents.ts";
import { runAgentMemory, type AgentMemory } from "./agent-memory-result.ts";
import { startAgentWatches, type AgentWatches } from "./agent-watches.ts";
import { measureFloors } from "./floor.ts";
import { componentEntry, entryMode } from "./entry-points.ts";
import {
  Fleet,
  FLEET_STEPS,
  FLEET_STEPS_TEXT,
  type FleetRollout,
  type IdleWindow,
  type LatencyFloor,
} from "./fleet.ts";
import type { RouteStandIns } from "./route-stand-ins.ts";
import {
  allUpdated,
  createNodes,
  environment,
  log,
  measureRollout,
  processMemoryMiB,
  report,
  round,
  sampleRss,
  startBenchCluster,
  startControllerProcess,
  StandInAgents,
  waitUntil,
  type BenchCluster,
  type ControllerProcess,
  type LatencySummary,
  type RolloutMeasurement,
  type RssSamples,
} from "./lib.ts";
import { inClusterAvailable, type InClusterAccess } from "./in-cluster.ts";

const PARTS = ["fleet", "conversion", "serial", "failover", "agent", "floor", "latency-floor"] as const;
type Part = (typeof PARTS)[number];

const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: "100,1000" },
    budget: { type: "string", default: "100" },
    "idle-window": { type: "string", default: "300" },
    settle: { type: "string", default: "60" },
    "serial-nodes": { type: "string", default: "20" },
    failovers: { type: "string", default: "3" },
    "agent-seconds": { type: "string", default: "20" },
    entry: { type: "string", default: "bundle" },
    parts: { type: "string", default: PARTS.join(",") },
    "cpu-prof": { type: "string" },
  },
});
const positive = (name: string, value: string): number => {
  const n = Number(value);
  if (!(n > 0)) throw new Error(`--${name} must be a positive number, not ${value}`);
  return n;
};
const sizes = values.nodes
  .split(",")
  .map((n) => positive("nodes", n))
  .sort((a, b) => a - b);
const budget = positive("budget", values.budget);
const idleWindowS = positive("idle-window", values["idle-window"]);
const settleS = Number(values.settle);
if (!(settleS >= 0)) throw new Error(`--settle must be a number of seconds, not ${values.settle}`);
const serialNodes = positive("serial-nodes", values["serial-nodes"]);
const failovers = positive("failovers", values.failovers);
const agentSeconds = positive("agent-seconds", values["agent-seconds"]);
const entry = entryMode(values.entry);
const parts = new Set(
  values.parts.split(",").map((p) => {
    if (!(PARTS as readonly string[]).includes(p)) throw new Error(`--parts: ${p} is not one of ${PARTS.join(", ")}`);
    return p as Part;
  }),
);

const MiB = 1024 * 1024;
const COMPONENTS = ["controller", "apiserver", "stand-ins", "agents"] as const;
type Counted = (typeof COMPONENTS)[number];

const limitBytes = {
  controller: manifestMemoryLimitBytes("controller"),
  apiserver: manifestMemoryLimitBytes("apiserver"),
  agent: manifestMemoryLimitBytes("agent"),
};
const mib = (bytes: number | null): number | null => (bytes === null ? null : round(bytes / MiB, 1));
const profileFlags = values["cpu-prof"] === undefined ? [] : ["--cpu-prof", `--cpu-prof-dir=${values["cpu-prof"]}`];
/** A container's V8 heap under its component's limit (none when the manifest sets none), and --cpu-prof's flags. */
const heapFlags = (bytes: number | null): string[] => [
  ...(bytes === null ? [] : containerHeapFlags(bytes)),
  ...profileFlags,
];
const controllerEntry = await componentEntry("controller", entry, heapFlags(limitBytes.controller));
const apiServerEntry = await componentEntry("apiserver", entry, heapFlags(limitBytes.apiserver));

const message = (err: unknown): string => (err instanceof Error ? err.message : String(err));

/** Runs a part; on failure logs it and returns its error's message instead. */
async function attempt<T>(name: string, work: () => Promise<T>): Promise<T | { failed: string }> {
  try {
    return await work();
  } catch (err) {
    log(`footprint: ${name} FAILED: ${message(err)}`);
    return { failed: message(err) };
  }
}
const failed = (x: unknown): x is { failed: string } => typeof x === "object" && x !== null && "failed" in x;

// ---- Requests counted at the wire ----

interface CountingProxies {
  access: Record<Counted, ProxiedAccess>;
  /** Each component's kubeconfig file through its proxy. */
  paths: Record<Counted, string>;
  logs: Record<Counted, ProxiedAccess["proxy"]["log"]>;
  stop(): Promise<void>;
}

/** One counting proxy per component in front of kube-apiserver (keep-alive upstream, the admin identity). */
async function countingProxies(cluster: BenchCluster): Promise<CountingProxies> {
  const access = {} as Record<Counted, ProxiedAccess>;
  const paths = {} as Record<Counted, string>;
  const logs = {} as Record<Counted, ProxiedAccess["proxy"]["log"]>;
  try {
    for (const c of COMPONENTS) {
      access[c] = await proxyKubeApiserver({
        server: cluster.cp.server,
        caPem: cluster.cp.caPem,
        pkiDir: join(cluster.cp.dir, "pki"),
        kc: cluster.kc,
        asAdmin: true,
        upstreamKeepAlive: true,
      });
      paths[c] = join(cluster.cp.dir, `footprint-${c}.kubeconfig`);
      await writeFile(paths[c], access[c].kc.exportConfig(), { mode: 0o600 });
      logs[c] = access[c].proxy.log;
    }
  } catch (err) {
    for (const a of Object.values(access)) await a.proxy.stop();
    throw err;
  }
  return {
    access,
    paths,
    logs,
    async stop() {
      for (const a of Object.values(access)) await a.proxy.stop();
    },
  };
}

interface WindowRequests {
  seconds: number;
  total: number;
  /** The window's count scaled to an hour. */
  perHour: number;
  /** At rest: held watches counted at the rate they are re-opened (sim/measure/request-count.ts steadyRate). */
  steadyPerHour: number;
  byComponent: Record<
    string,
    { total: number; perHour: number; steadyPerHour: number; heldWatches: number; byKind: Record<string, number> }
  >;
}

function windowRequests(logs: CountingProxies["logs"], window: TimeWindow): WindowRequests {
  const ms = window.to - window.from;
  const counted = countByComponent(logs, window);
  const top = (c: RequestCount) => Object.fromEntries(Object.entries(c.byKind).slice(0, 12));
  const steady = Object.fromEntries(Object.entries(logs).map(([c, l]) => [c, steadyRate(l, window)]));
  return {
    seconds: round(ms / 1000, 1),
    total: counted.total,
    perHour: round(perHour(counted.total, ms), 1),
    steadyPerHour: round(
      Object.values(steady).reduce((sum, r) => sum + r.perHour, 0),
      1,
    ),
    byComponent: Object.fromEntries(
      Object.entries(counted.byComponent).map(([c, n]) => [
        c,
        {
          total: n.total,
          perHour: round(perHour(n.total, ms), 1),
          steadyPerHour: round(steady[c]?.perHour ?? 0, 1),
          heldWatches: steady[c]?.heldWatches ?? 0,
          byKind: top(n),
        },
      ]),
    ),
  };
}

// ---- The conversion webhook ----

interface ConversionCase {
  case: string;
  /** Answers by HTTP status (or "transport" for a connection that failed). */
  answers: Record<string, number>;
  peakMiB: number;
}

interface ConversionFootprint {
  limitMiB: number | null;
  /** Review sizes sent. */
  reviewMiB: { largest: number; attack: number };
  idleMiB: number;
  cases: ConversionCase[];
  peakMiB: number;
  /** How the peak was read: the kernel's peak (VmHWM, reset before each case), or sampled every 20 ms. */
  peakFrom: string;
  afterMiB: number;
  /** How long the RSS took to come back within `nearIdleMiB` of idle (or the bound, if it did not). */
  afterSeconds: number;
  nearIdleMiB: number;
  backToIdle: boolean;
}

/** The process's peak RSS while `work` runs: VmHWM reset first (root: clear_refs 5), and sampled as well. */
async function peakDuring(pid: number, work: () => Promise<void>): Promise<{ peakMiB: number; kernel: boolean }> {
  const kernel = await writeFile(`/proc/${pid}/clear_refs`, "5").then(
    () => true,
    () => false,
  );
  const sampler = sampleRss(pid, 20);
  await work();
  const sampled = sampler.stop().maxMiB; // NaN when `work` ended before the first sample
  const after = await processMemoryMiB(pid);
  const seen = [after.rss, ...(kernel ? [after.peak] : []), ...(Number.isNaN(sampled) ? [] : [sampled])];
  return { peakMiB: Math.max(...seen), kernel };
}

async function measureConversion(cluster: BenchCluster, routes: RouteStandIns, nodeName: string) {
  const custom = cluster.kc.makeApiClient(CustomObjectsApi);
  // A shadow exactly as kube-apiserver stores it, managedFields of the API server and the controller and all.
  const stored = (await custom.getNamespacedCustomObject({
    group: API_GROUP,
    version: VERSION_V2,
    plural: PLURAL,
    namespace: cluster.namespace,
    name: brsName(nodeName),
  })) as BottlerocketShadow;
  const convert = (body: string | Buffer): Promise<Answer> =>
    httpsCall(routes.url, cluster.cp.caPem, {
      method: "POST",
      path: CONVERSION_WEBHOOK_PATH,
      headers: { "content-type": "application/json" },
      body,
    });
  const warm = await convert(conversionReview(stored, 1));
  if (warm.status !== 200) throw new Error(`a one-shadow review answered ${warm.status}: ${warm.text.slice(0, 200)}`);
  const pid = routes.pid;
  const quiet = sampleRss(pid, 500);
  await sleep(10_000);
  const idleMiB = quiet.stop().meanMiB;

  const largest = Buffer.from(conversionReview(stored, LARGEST_FLEET));
  const attackCount = Math.ceil((15.7 * MiB) / JSON.stringify(stored).length);
  const attack = Buffer.from(conversionReview(stored, attackCount));
  const nested = nestedArrayReview(8_000_000);
  const cases: ConversionCase[] = [];
  const peakFrom = { kernel: true };
  const run = async (name: string, bodies: (string | Buffer)[]) => {
    const answers: Record<string, number> = {};
    const { peakMiB, kernel } = await peakDuring(pid, async () => {
      for (const a of await Promise.all(bodies.map((b) => convert(b).catch(() => undefined)))) {
        const key = a === undefined ? "transport" : String(a.status);
        answers[key] = (answers[key] ?? 0) + 1;
      }
    });
    peakFrom.kernel &&= kernel;
    cases.push({ case: name, answers, peakMiB });
    log(`footprint: conversion ${name}: peak ${peakMiB} MiB, answers ${JSON.stringify(answers)}`);
  };
  await run(`8 × the largest review (${LARGEST_FLEET} stored shadows, ${round(largest.length / MiB, 1)} MiB)`, [
    ...Array<Buffer>(8).fill(largest),
  ]);
  await run(`8 × ${round(attack.length / MiB, 1)} MiB reviews (${attackCount} shadows)`, [
    ...Array<Buffer>(8).fill(attack),
  ]);
  await run(`a ${round(nested.length / 1e6, 1)} MB nested-array review`, [nested]);

  // Back near its idle size: the hardening test's bound, a quarter of the limit (glibc keeps freed memory for reuse).
  const nearIdleMiB = limitBytes.apiserver === null ? 64 : round(limitBytes.apiserver / MiB / 4, 1);
  const since = Date.now();
  let afterMiB = (await processMemoryMiB(pid)).rss;
  while (afterMiB > idleMiB + nearIdleMiB && Date.now() - since < 60_000) {
    await sleep(1000);
    afterMiB = (await processMemoryMiB(pid)).rss;
  }
  const result: ConversionFootprint = {
    limitMiB: mib(limitBytes.apiserver),
    reviewMiB: { largest: round(largest.length / MiB, 1), attack: round(attack.length / MiB, 1) },
    idleMiB,
    cases,
    peakMiB: Math.max(...cases.map((c) => c.peakMiB)),
    peakFrom: peakFrom.kernel ? "VmHWM reset before each case (and sampled every 20 ms)" : "RSS sampled every 20 ms",
    afterMiB,
    afterSeconds: round((Date.now() - since) / 1000, 1),
    nearIdleMiB,
    backToIdle: afterMiB <= idleMiB + nearIdleMiB,
  };
  return result;
}

// ---- A fleet: idle, then a rollout ----

interface FleetFootprint {
  nodes: number;
  idle: IdleWindow & { requests: WindowRequests };
  rollout: FleetRollout & { requests: WindowRequests; connectionsOpened: Record<Counted, number> };
  conversion?: ConversionFootprint | { failed: string };
  latencyFloor?: (LatencyFloor & { connectionsOpened: Record<Counted, number> }) | { failed: string };
}

/**
 * TLS connections each component opened to its proxy during `run`: a client whose kept-alive connections serve its
 * bursts opens few; one that closes them between bursts pays a handshake for each new one.
 */
async function countingConnections<T>(
  proxies: CountingProxies,
  run: () => Promise<T>,
): Promise<{ result: T; connectionsOpened: Record<Counted, number> }> {
  const counts = () => Object.fromEntries(COMPONENTS.map((c) => [c, proxies.access[c].proxy.connections]));
  const before = counts();
  const result = await run();
  const after = counts();
  return {
    result,
    connectionsOpened: Object.fromEntries(COMPONENTS.map((c) => [c, (after[c] ?? 0) - (before[c] ?? 0)])) as Record<
      Counted,
      number
    >,
  };
}

/** In-cluster through its proxy, as its pod runs, where this machine allows it; else its kubeconfig. */
function connection(
  proxies: CountingProxies,
  component: "controller" | "apiserver",
  caPem: string,
): { inCluster: InClusterAccess } | { kubeconfigPath: string } {
  return inClusterAvailable()
    ? { inCluster: { url: proxies.access[component].proxy.url, caPem } }
    : { kubeconfigPath: proxies.paths[component] };
}

async function measureFleet(
  nodes: number,
  withConversion: boolean,
  withLatencyFloor: boolean,
): Promise<FleetFootprint> {
  const cluster = await startBenchCluster();
  let proxies: CountingProxies | undefined;
  let fleet: Fleet | undefined;
  let agentWatches: AgentWatches | undefined;
  try {
    proxies = await countingProxies(cluster);
    log(`footprint: ${nodes} nodes, route stand-ins, every component through its counting proxy`);
    fleet = await Fleet.start(cluster, {
      nodes,
      budget,
      prefix: "footprint",
      standIns: "routes",
      maxSockets: 16,
      durations: FLEET_STEPS,
      controller: { entry: controllerEntry, ...connection(proxies, "controller", cluster.cp.caPem) },
      apiServer: { entry: apiServerEntry, ...connection(proxies, "apiserver", cluster.cp.caPem) },
      standInsKc: proxies.access["stand-ins"].kc,
    });
    agentWatches = await startAgentWatches(proxies.access.agents, cluster.namespace, fleet.names);
    await fleet.startController();
    log(`footprint: ${nodes} nodes: controller leading; settling ${settleS} s, then idle for ${idleWindowS} s`);
    await sleep(settleS * 1000);
    const idle = await fleet.idle(idleWindowS * 1000);
    const idleRequests = windowRequests(proxies.logs, idle);
    log(
      `footprint: ${nodes} nodes idle: ${idleRequests.steadyPerHour} requests/hour at rest ` +
        `(${idleRequests.perHour} in the window), rollout next`,
    );
    const from = Date.now();
    const ready = fleet;
    const { result: rollout, connectionsOpened } = await countingConnections(proxies, () =>
      ready.rollout("2.0.0", 30 * 60_000),
    );
    const rolloutRequests = windowRequests(proxies.logs, { from, to: Date.now() });
    const routes = fleet.routes;
    const first = fleet.names[0];
    let conversion: FleetFootprint["conversion"];
    if (withConversion && routes && first !== undefined) {
      conversion = await attempt("conversion", () => measureConversion(cluster, routes, first));
    }
    const counted = proxies;
    const latencyFloor = withLatencyFloor
      ? await attempt("latency floor", async () => {
          const floor = await countingConnections(counted, () => ready.floorRollout("3.0.0", 30 * 60_000));
          return { ...floor.result, connectionsOpened: floor.connectionsOpened };
        })
      : undefined;
    return {
      nodes,
      idle: { ...idle, requests: idleRequests },
      rollout: { ...rollout, requests: rolloutRequests, connectionsOpened },
      ...(conversion ? { conversion } : {}),
      ...(latencyFloor ? { latencyFloor } : {}),
    };
  } finally {
    await agentWatches?.stop();
    await fleet?.stop();
    await proxies?.stop();
    await cluster.stop();
  }
}

// ---- Serial rollout and failover (each on a control plane of its own) ----

interface FailoverRound {
  /** SIGKILL of the leader → the standby's /metrics says it leads. */
  leadingSeconds: number | null;
  /** SIGKILL of the leader → the first start the standby decided, as a watch saw it. */
  decisionSeconds: number;
}

async function measureFailover(cluster: BenchCluster): Promise<FailoverRound[]> {
  const prefix = "failover";
  const nodes = 3;
  const names = await createNodes(cluster.core, prefix, nodes, "1.0.0");
  const agents = new StandInAgents(cluster.kc, cluster.namespace, {});
  const observer = new ShadowTimeline(cluster.kc, cluster.namespace, 1);
  const controllers: ControllerProcess[] = [];
  const start = async (identity: string, until: "leading" | "serving") => {
    const c = await startControllerProcess(cluster, { MAX_CONCURRENT_UPDATE: "1" }, prefix, {
      identity,
      until,
      entry: controllerEntry,
    });
    controllers.push(c);
    return c;
  };
  const rounds: FailoverRound[] = [];
  try {
    await observer.start();
    await agents.register(cluster.core, names, "1.0.0", "1.0.0");
    await waitUntil("stand-ins registered", () => observer.shadows().length === nodes, 60_000);
    let leader = await start("replica-0", "leading");
    for (let i = 0; i < failovers; i++) {
      const standby = await start(`replica-${i + 1}`, "serving");
      const target = `${i + 2}.0.0`;
      const startsBefore = observer.starts.length;
      const killedAt = Date.now();
      leader.child.kill("SIGKILL"); // a crash: the Lease is neither released nor renewed
      await leader.exited;
      await agents.offer(target); // a decision to make, which only a leader alive can make
      const leading: { at: number | null } = { at: null };
      const decided = () => observer.starts.slice(startsBefore).find((s) => s.at >= killedAt);
      await waitUntil(
        "the standby's first decision",
        () => {
          if (leading.at === null) {
            void standby.leading().then((yes) => {
              if (yes) leading.at ??= Date.now();
            });
          }
          return decided() !== undefined;
        },
        120_000,
        100,
      );
      const decisionSeconds = round(((decided()?.at ?? NaN) - killedAt) / 1000, 2);
      rounds.push({
        leadingSeconds: leading.at === null ? null : round((leading.at - killedAt) / 1000, 2),
        decisionSeconds,
      });
      log(`footprint: failover ${i + 1}: first decision ${decisionSeconds} s after the kill`);
      await waitUntil("the new version everywhere", () => allUpdated(observer.shadows(), nodes, target), 120_000, 50);
      leader = standby;
    }
    return rounds;
  } finally {
    for (const c of controllers) await c.stop();
    await agents.stop();
    await observer.stop();
  }
}

/** `work` on a control plane of its own. */
async function onOwnCluster<T>(work: (cluster: BenchCluster) => Promise<T>): Promise<T> {
  const cluster = await startBenchCluster();
  try {
    return await work(cluster);
  } finally {
    await cluster.stop();
  }
}

async function measureSerial(cluster: BenchCluster): Promise<RolloutMeasurement & { secondsPerNode: number }> {
  log(`footprint: serial rollout of ${serialNodes} nodes, steps take 0 ms`);
  const m = await measureRollout(cluster, {
    nodes: serialNodes,
    budget: 1,
    durations: {},
    prefix: "serial",
    timeoutMs: 120_000 + serialNodes * 5_000,
    controller: { entry: controllerEntry },
  });
  return { ...m, secondsPerNode: round(m.totalMs / serialNodes / 1000, 3) };
}

// ---- The run ----

const fleets = new Map<number, FleetFootprint | { failed: string }>();
if (parts.has("fleet")) {
  for (const [i, n] of sizes.entries()) {
    const largest = n === Math.max(...sizes);
    fleets.set(
      n,
      await attempt(`fleet of ${n}`, () =>
        measureFleet(n, i === 0 && parts.has("conversion"), largest && parts.has("latency-floor")),
      ),
    );
  }
}
const serial = parts.has("serial") ? await attempt("serial", () => onOwnCluster(measureSerial)) : undefined;
const failover = parts.has("failover") ? await attempt("failover", () => onOwnCluster(measureFailover)) : undefined;
const agentLimitMiB = mib(limitBytes.agent);
const agent: AgentMemory | { failed: string } | undefined = parts.has("agent")
  ? await attempt("agent", () =>
      runAgentMemory([
        "--mode",
        entry === "bundle" ? "bundle" : "ts",
        "--seconds",
        String(agentSeconds),
        "--memory-limit",
        agentLimitMiB === null ? "none" : String(agentLimitMiB),
      ]),
    )
  : undefined;

// The floor under the controller's and API server's memory, with the controller's node flags (both are the same).
const floors = parts.has("floor")
  ? await attempt("floor", () => measureFloors(controllerEntry.nodeFlags, controllerEntry.env))
  : undefined;
const floorText =
  floors === undefined || failed(floors)
    ? ""
    : `; floors: ${floors.map((f) => `${f.what} ${f.rssMiB}`).join(", ")} MiB`;

// ---- The goals ----

const figures: Partial<Record<FootprintGoalId, Figure>> = {};
/** The figure of a fleet of `n` nodes, or why there is none. */
function fromFleet(n: number, pick: (f: FleetFootprint) => Figure): Figure {
  const f = fleets.get(n);
  if (!parts.has("fleet")) return { why: "the fleet part was not run (--parts)" };
  if (f === undefined) return { why: `no ${n}-node fleet in this run (--nodes ${sizes.join(",")})` };
  if (failed(f)) return { why: `the ${n}-node fleet failed: ${f.failed}` };
  return pick(f);
}
/** The largest sample's anonymous memory and file pages (the node binary's code and data, clean and reclaimable). */
const split = (r: RssSamples): string =>
  r.atMax === undefined ? "" : ` (at the max: anonymous ${r.atMax.anonymousMiB}, file pages ${r.atMax.fileMiB})`;
const idleRss = (w: IdleWindow, which: "controller" | "apiServer", n: number): Figure => {
  const p = w[which];
  return p
    ? {
        value: p.rssMiB.maxMiB,
        detail: `max over a ${idleWindowS} s idle window, mean ${p.rssMiB.meanMiB}, ${n} nodes${split(p.rssMiB)}${floorText}`,
      }
    : { why: "no API server in this fleet" };
};
figures["controller-idle-rss-100"] = fromFleet(100, (f) => idleRss(f.idle, "controller", 100));
figures["apiserver-idle-rss-100"] = fromFleet(100, (f) => idleRss(f.idle, "apiServer", 100));
figures["controller-rollout-rss-1000"] = fromFleet(1000, (f) => ({
  value: f.rollout.controller.rssMiB.maxMiB,
  detail: `sampled every 250 ms over a ${f.rollout.seconds} s rollout${split(f.rollout.controller.rssMiB)}; VmHWM since start ${f.rollout.controller.peakSinceStartMiB}`,
}));
figures["apiserver-rollout-rss-1000"] = fromFleet(1000, (f) =>
  f.rollout.apiServer
    ? {
        value: f.rollout.apiServer.rssMiB.maxMiB,
        detail: `sampled every 250 ms over the rollout${split(f.rollout.apiServer.rssMiB)}; VmHWM since start ${f.rollout.apiServer.peakSinceStartMiB}`,
      }
    : { why: "no API server in this fleet" },
);
for (const n of [100, 1000] as const) {
  figures[`idle-requests-per-hour-${n}`] = fromFleet(n, (f) => {
    const r = f.idle.requests;
    const by = COMPONENTS.map(
      (c) => `${c} ${r.byComponent[c]?.steadyPerHour ?? 0} (${r.byComponent[c]?.heldWatches ?? 0} watches held)`,
    ).join(", ");
    return {
      value: r.steadyPerHour,
      detail:
        `${r.total} requests in a ${r.seconds} s window (${r.perHour} per hour), and every watch held across it ` +
        `counted once per the timeout it asked for; per hour: ${by}`,
    };
  });
}
/** kube-apiserver's own time for one write of the step, in the same rollout: the floor under a reconcile that writes. */
const kubeWrite = (f: FleetFootprint, which: "specPatch" | "statusPatch", what: string) => {
  const w = f.rollout.kubeApiserverWriteMs[which];
  return `kube-apiserver's own time for ${what} in the same rollout: p50 / p99 ${w.p50} / ${w.p99} ms over ${w.count}`;
};
/** p50 / p99 by the state the status reached, as "State p50 / p99, …". */
const byStateText = (byState: Record<string, LatencySummary>): string =>
  Object.entries(byState)
    .map(([state, l]) => `${state} ${l.p50} / ${l.p99}`)
    .join(", ");
/** The controller's side of its requests over the rollout: its event loop delay, when exported, and new connections. */
const controllerSideText = (f: FleetFootprint): string => {
  const d = f.rollout.controller.eventLoopDelayMs;
  const loop =
    d === undefined
      ? ""
      : `the controller's event loop delay p50 / p99 / max ${d.p50} / ${d.p99} / ${d.max} ms (10 ms sampling included), `;
  return `${loop}${f.rollout.connectionsOpened.controller} TLS connections opened by it; `;
};
/** What the latency floor's reactor measured in the same fleet (its rollout followed the controller's). */
const latencyFloorText = (f: FleetFootprint, figure: (l: LatencyFloor) => string): string => {
  const l = f.latencyFloor;
  if (l === undefined) return "";
  if (failed(l)) return `; the latency floor failed: ${l.failed}`;
  return (
    `; the floor, a reactor that only writes each next spec (no queue, no decision but a count, ` +
    `bench/latency-floor-reactor.ts), in the same fleet right after: ${figure(l)} in a ${l.seconds} s rollout ` +
    `(kube-apiserver's spec PATCH p50 / p99 ${l.kubeApiserverWriteMs.specPatch.p50} / ` +
    `${l.kubeApiserverWriteMs.specPatch.p99} ms, ${l.conflicts} conflicts, ${l.failures} failures, ` +
    `at most ${l.maxActive} in flight, ${l.connectionsOpened.controller} TLS connections opened)`
  );
};
figures["reconcile-p99-ms-1000"] = fromFleet(1000, (f) => ({
  value: f.rollout.reconcileMs.node.p99,
  detail:
    `${f.rollout.reconcileMs.node.count} node reconciles, bucket-interpolated; before each, a p50 / p99 wait ` +
    `for a worker of ${f.rollout.queueWaitMs.node.p50} / ${f.rollout.queueWaitMs.node.p99} ms; ` +
    controllerSideText(f) +
    kubeWrite(f, "specPatch", "the spec PATCH a reconcile makes") +
    latencyFloorText(
      f,
      (l) => `per watch event (to the end of its write, if any) p50 / p99 ${l.handledMs.p50} / ${l.handledMs.p99} ms`,
    ),
}));
figures["status-to-spec-p99-ms-1000"] = fromFleet(1000, (f) => ({
  value: f.rollout.statusToSpecMs.p99,
  detail:
    `over ${f.rollout.statusToSpecMs.n} steps (p50 ${f.rollout.statusToSpecMs.p50} ms; p50 / p99 by the state ` +
    `reached: ${byStateText(f.rollout.statusToSpecMsByState)} ms); ` +
    kubeWrite(f, "statusPatch", "the agent's status PATCH (through the API server)") +
    latencyFloorText(
      f,
      (l) =>
        `status → spec p50 / p99 ${l.statusToSpecMs.p50} / ${l.statusToSpecMs.p99} ms ` +
        `(${byStateText(l.statusToSpecMsByState)})`,
    ),
}));
{
  const first = fleets.get(sizes[0] ?? 0);
  const c = first && !failed(first) ? first.conversion : undefined;
  figures["conversion-peak-rss"] = !parts.has("conversion")
    ? { why: "the conversion part was not run (--parts)" }
    : !parts.has("fleet")
      ? { why: "the conversion part runs on a fleet's API server, and the fleet part was not run" }
      : first === undefined || failed(first)
        ? { why: `the ${sizes[0] ?? "?"}-node fleet it runs on failed${first ? `: ${first.failed}` : ""}` }
        : c === undefined
          ? { why: "not run" }
          : failed(c)
            ? { why: `failed: ${c.failed}` }
            : {
                value: c.peakMiB,
                detail: `idle ${c.idleMiB} MiB, after ${c.afterMiB} MiB (${c.afterSeconds} s later)`,
                also: { met: c.backToIdle, what: `back within ${c.nearIdleMiB} MiB of idle` },
              };
}
figures["serial-seconds-per-node"] =
  serial === undefined
    ? { why: "the serial part was not run (--parts)" }
    : failed(serial)
      ? { why: `failed: ${serial.failed}` }
      : { value: serial.secondsPerNode, detail: `${serialNodes} nodes, budget 1` };
figures["failover-seconds"] =
  failover === undefined
    ? { why: "the failover part was not run (--parts)" }
    : failed(failover)
      ? { why: `failed: ${failover.failed}` }
      : {
          value: Math.max(...failover.map((r) => r.decisionSeconds)),
          detail: `max of ${failover.length} failovers (${failover.map((r) => r.decisionSeconds).join(", ")} s), the manifest's lease timings`,
        };
figures["agent-working-set"] =
  agent === undefined
    ? { why: "the agent part was not run (--parts)" }
    : failed(agent)
      ? { why: `failed: ${agent.failed}` }
      : !agent.cgroup.used
        ? { why: `no memory cgroup here (${agent.cgroup.reason}): no working set to measure` }
        : {
            value: agent.measuredMiB,
            detail: `under a ${agent.cgroup.memoryLimitMiB ?? "no"} MiB cgroup limit, RSS ${agent.rssMiB.max} MiB`,
            also: {
              met: agent.healthy,
              what: "no OOM kill, update done, ready, clean exit",
            },
          };
const goals = footprintGoals(figures, mib(limitBytes.apiserver));

// ---- The report ----

const fleetResults = Object.fromEntries([...fleets].map(([n, f]) => [String(n), f]));
const headline: Record<string, string> = {
  "Entry points": `${controllerEntry.what}; ${apiServerEntry.what}`,
  "Memory limits in the manifest": `controller ${mib(limitBytes.controller) ?? "none"}, API server ${mib(limitBytes.apiserver) ?? "none"}, agent ${agentLimitMiB ?? "none"} MiB`,
};
for (const [n, f] of fleets) {
  if (failed(f)) {
    headline[`${n} nodes`] = `failed: ${f.failed}`;
    continue;
  }
  const req = f.idle.requests;
  headline[`${n} nodes, idle: requests per hour (${COMPONENTS.join(" / ")})`] =
    `${req.steadyPerHour} (${COMPONENTS.map((c) => req.byComponent[c]?.steadyPerHour ?? 0).join(" / ")})`;
  headline[`${n} nodes, idle: controller / API server RSS max`] =
    `${f.idle.controller.rssMiB.maxMiB} / ${f.idle.apiServer?.rssMiB.maxMiB ?? "n/a"} MiB`;
  headline[`${n} nodes, rollout: controller / API server RSS max`] =
    `${f.rollout.controller.rssMiB.maxMiB} / ${f.rollout.apiServer?.rssMiB.maxMiB ?? "n/a"} MiB in ${f.rollout.seconds} s`;
  headline[`${n} nodes, rollout: node reconcile p99 / status → spec p99`] =
    `${f.rollout.reconcileMs.node.p99} / ${f.rollout.statusToSpecMs.p99} ms`;
  headline[`${n} nodes, rollout: requests (${COMPONENTS.join(" / ")})`] = COMPONENTS.map(
    (c) => f.rollout.requests.byComponent[c]?.total ?? 0,
  ).join(" / ");
}
await report({
  name: "footprint",
  title: "Footprint: memory, kube-apiserver requests and speed, as the image runs the operator",
  at: new Date().toISOString(),
  environment: await environment(),
  parameters: {
    nodes: sizes,
    budget,
    idleWindowSeconds: idleWindowS,
    settleSeconds: settleS,
    serialNodes,
    failovers,
    agentSeconds,
    entry,
    parts: [...parts],
    stepMs: `${FLEET_STEPS_TEXT} (fleet); 0 (serial, failover)`,
  },
  results: {
    entryPoints: { controller: controllerEntry.what, apiserver: apiServerEntry.what, agent: agentEntryWhat(agent) },
    memoryLimitsMiB: {
      controller: mib(limitBytes.controller),
      apiserver: mib(limitBytes.apiserver),
      agent: agentLimitMiB,
    },
    fleets: fleetResults,
    ...(serial ? { serial } : {}),
    ...(failover ? { failover } : {}),
    ...(agent ? { agent } : {}),
    ...(floors ? { floors } : {}),
  },
  headline,
  goals,
  notes: [
    "Requests are counted at the wire: each component (controller, API server, stand-ins, agents) talks to kube-apiserver through a TLS proxy of its own (sim/cluster/fault-proxy.ts, upstream connections kept alive), which counts a request when it arrives, a watch when it is opened; kwok's heartbeats and the bench's own observer do not go through them. Requests per hour at rest = the idle window's requests scaled to an hour, except that a watch held across the window's end counts 3600 / the timeoutSeconds it asked for (the server's default, 2,700 s on average, if none): it is re-opened that often at rest, which a window shorter than its timeout would not see.",
    "The stand-ins stand for the agents' writes (through the API server's routes) and share one watch of every shadow; the agents' own reads are counted apart ('agents'): two watches per node (its shadow, its Node), the agent's SingleObjectWatch with the agent's default timing (bench/agent-watches.ts).",
    "The counting proxies run in the bench process, in the path of every request of the operator's components, through the rollout too: reconcile and status → spec latencies include that hop.",
    inClusterAvailable()
      ? "The fleets' controller and API server run in-cluster, as their pods do (the service account's files in a mount namespace of their own, bench/in-cluster.ts), so they load what a pod loads."
      : "The fleets' controller and API server run from a kubeconfig (this machine does not let the benchmark make mount namespaces): their memory includes the YAML parser (0.6 MiB) that a pod, in-cluster, never loads.",
    "Memory: RSS of the process (/proc VmRSS), sampled; the controller and API server run with a V8 heap sized to their manifest limit (the flags Node's cgroup-aware sizing amounts to), not in a cgroup. The agent runs under a cgroup limit (bench/agent-memory.ts) and its goal is the kubelet's working set.",
    "Conversion webhook: on the first fleet's API server after its rollout (its idle RSS taken then, over 10 s), 8 concurrent reviews of the largest list kube-apiserver can send (5,000 stored shadows, each a real stored shadow with its managedFields), then 8 concurrent 15.7 MiB reviews and a 16 MB nested array (the attacks test/integration/apiserver-hardening.test.ts refuses); peak RSS per case from VmHWM reset before it (clear_refs), RSS after read until back within a quarter of the limit of idle (the hardening test's bound) or 60 s.",
    "Failover: a leader and a standby with the manifest's lease timings (the controller's defaults); the leader is killed with SIGKILL (its Lease is not released) and a new version offered at once, so the first start after the kill is the standby's.",
  ],
});

function agentEntryWhat(a: typeof agent): string {
  if (a === undefined || failed(a)) return entry === "bundle" ? "the image's bundle" : "TypeScript source";
  return `${a.mode === "bundle" ? "node dist/agent/main.js (the image's esbuild bundle)" : `--mode ${a.mode}`} with ${a.nodeFlags.join(" ") || "no flags"}`;
}
