// Scale: N kwok nodes (default 1,000) with lightweight stand-in agents (one watch for all, writing shadow status with
// the admin client), the controller as its own process. Measures, in order:
//   1. kube-apiserver requests at steady state WITHOUT the controller (kwok heartbeats, stand-ins' watch): baseline;
//   2. the same interval WITH the controller leading and every node Idle and up to date: the difference is the
//      controller's steady-state cost, reported as requests per node per hour; its CPU and RSS over that interval;
//   3. a rollout of all N nodes to a new version under budget B with short random step times: controller CPU, peak
//      RSS, reconcile duration p50/p99 (its brupop_reconcile_duration_seconds histogram, delta over the rollout) and
//      status → next spec write latency p50/p99 (a separate watch, FleetObserver).
//
//   node bench/scale.ts [--nodes 1000] [--budget 100] [--window 60]
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { FleetObserver } from "../test/support/simulated-agent.ts";
import {
  allUpdated,
  createNodes,
  diffCounts,
  environment,
  histogramQuantile,
  log,
  parsePrometheus,
  percentile,
  processCpuSeconds,
  processMemoryMiB,
  report,
  requestCounts,
  round,
  sampleRss,
  scrapeKubeApiserver,
  startBenchCluster,
  startControllerProcess,
  StandInAgents,
  waitUntil,
  type ControllerProcess,
  type Sample,
} from "./lib.ts";

const { values } = parseArgs({
  options: {
    nodes: { type: "string", default: "1000" },
    budget: { type: "string", default: "100" },
    window: { type: "string", default: "60" },
  },
});
const nodes = Number(values.nodes);
const budget = Number(values.budget);
const windowS = Number(values.window);

const total = (counts: Record<string, number>): number => Object.values(counts).reduce((a, b) => a + b, 0);
const top = (counts: Record<string, number>, n = 12): Record<string, number> =>
  Object.fromEntries(Object.entries(counts).slice(0, n));

/** Histogram samples after minus before (same name and labels). */
function subtract(after: Sample[], before: Sample[]): Sample[] {
  const key = (s: Sample) => `${s.name}${JSON.stringify(s.labels)}`;
  const old = new Map(before.map((s) => [key(s), s.value]));
  return after.map((s) => ({ ...s, value: s.value - (old.get(key(s)) ?? 0) }));
}

async function apiserverWindow(kc: Parameters<typeof scrapeKubeApiserver>[0]): Promise<Record<string, number>> {
  const before = requestCounts(await scrapeKubeApiserver(kc));
  await sleep(windowS * 1000);
  return diffCounts(requestCounts(await scrapeKubeApiserver(kc)), before);
}

const setupBegan = Date.now();
const cluster = await startBenchCluster();
const agents = new StandInAgents(cluster.kc, cluster.namespace, {
  StagedAndPerformedUpdate: [200, 500],
  RebootedIntoUpdate: [200, 500],
  MonitoringUpdate: [100, 200],
  Idle: 0,
});
const observer = new FleetObserver(cluster.kc, cluster.namespace, budget);
let controller: ControllerProcess | undefined;
try {
  const names = await createNodes(cluster.core, "scale", nodes, "1.0.0");
  await observer.start();
  await agents.register(cluster.core, names, "1.0.0", "1.0.0");
  await waitUntil("stand-ins registered", () => observer.shadows().length === nodes, 60_000);
  const setupS = (Date.now() - setupBegan) / 1000;
  log(`scale: ${nodes} nodes and shadows ready after ${round(setupS)} s; baseline window ${windowS} s`);

  const baseline = await apiserverWindow(cluster.kc);

  controller = await startControllerProcess(cluster, { MAX_CONCURRENT_UPDATE: String(budget) }, "scale");
  const pid = controller.pid;
  log("scale: controller leading; settling 15 s, then the steady-state window");
  await sleep(15_000);
  const cpuSteady0 = await processCpuSeconds(pid);
  const rssSteady = sampleRss(pid, 1000);
  const steady = await apiserverWindow(cluster.kc);
  const cpuSteady = (await processCpuSeconds(pid)) - cpuSteady0;
  const steadyMem = rssSteady.stop();
  const controllerRequests = total(steady) - total(baseline);
  const perNodePerHour = (controllerRequests / nodes) * (3600 / windowS);

  log(`scale: rollout of ${nodes} nodes to 2.0.0, budget ${budget}`);
  const metricsBefore = parsePrometheus(await controller.metrics());
  const cpuRollout0 = await processCpuSeconds(pid);
  const rssRollout = sampleRss(pid);
  const rolloutBegan = Date.now();
  await agents.offer("2.0.0");
  await waitUntil("rollout done", () => allUpdated(observer.shadows(), nodes, "2.0.0"), 30 * 60_000, 100);
  const rolloutMs = Date.now() - rolloutBegan;
  const cpuRollout = (await processCpuSeconds(pid)) - cpuRollout0;
  const rolloutMem = rssRollout.stop();
  const reconciles = subtract(parsePrometheus(await controller.metrics()), metricsBefore);
  const q = (kind: string, p: number) =>
    round(histogramQuantile(reconciles, "brupop_reconcile_duration_seconds", p, { kind }) * 1000, 1);
  const count = (kind: string) =>
    reconciles
      .filter((s) => s.name === "brupop_reconcile_duration_seconds_count" && s.labels.kind === kind)
      .reduce((a, s) => a + s.value, 0);
  const lat = observer.stepLatencies;
  const finalMem = await processMemoryMiB(pid);

  const results = {
    setupSeconds: round(setupS),
    steadyState: {
      windowSeconds: windowS,
      apiserverRequestsWithoutController: total(baseline),
      apiserverRequestsWithController: total(steady),
      controllerRequests,
      requestsPerNodePerHour: round(perNodePerHour, 2),
      baselineByVerbResource: top(baseline),
      withControllerByVerbResource: top(steady),
      controllerCpuPercentOfOneCore: round((cpuSteady / windowS) * 100, 2),
      controllerRssMiB: steadyMem,
    },
    rollout: {
      seconds: round(rolloutMs / 1000, 1),
      controllerCpuSeconds: round(cpuRollout, 2),
      controllerCpuPercentOfOneCore: round((cpuRollout / (rolloutMs / 1000)) * 100, 1),
      controllerRssMiB: { ...rolloutMem, peakSinceStart: finalMem.peak },
      reconcileMs: {
        node: { count: count("node"), p50: q("node", 0.5), p99: q("node", 0.99) },
        fleet: { count: count("fleet"), p50: q("fleet", 0.5), p99: q("fleet", 0.99) },
      },
      statusToSpecMs: { n: lat.length, p50: percentile(lat, 0.5), p99: percentile(lat, 0.99), max: Math.max(...lat) },
      maxActive: observer.maxActive,
      budgetViolations: observer.violations.length,
      standInWrites: agents.writes,
    },
  };
  const r = results.rollout;
  await report({
    name: "scale",
    title: `Scale: ${nodes} kwok nodes`,
    at: new Date().toISOString(),
    environment: await environment(),
    parameters: { nodes, budget, windowSeconds: windowS, stepMs: "prepare 200–500, reboot 200–500, monitor 100–200" },
    results,
    headline: {
      "Steady state: controller CPU": `${results.steadyState.controllerCpuPercentOfOneCore} % of one core`,
      "Steady state: controller RSS (mean / max)": `${steadyMem.meanMiB} / ${steadyMem.maxMiB} MiB`,
      "Steady state: kube-apiserver requests by the controller": `${round(perNodePerHour, 2)} per node per hour (${controllerRequests} in ${windowS} s over a ${total(baseline)}-request baseline)`,
      "Rollout of all nodes": `${r.seconds} s at budget ${budget} (max out of Idle ${r.maxActive}, violations ${r.budgetViolations})`,
      "Rollout: controller CPU": `${r.controllerCpuSeconds} s (${r.controllerCpuPercentOfOneCore} % of one core)`,
      "Rollout: controller RSS (max)": `${rolloutMem.maxMiB} MiB`,
      "Reconcile duration p50 / p99 (node keys)": `${r.reconcileMs.node.p50} / ${r.reconcileMs.node.p99} ms (${r.reconcileMs.node.count} reconciles)`,
      "Reconcile duration p50 / p99 (fleet key)": `${r.reconcileMs.fleet.p50} / ${r.reconcileMs.fleet.p99} ms (${r.reconcileMs.fleet.count} reconciles)`,
      "Status → next spec write p50 / p99": `${r.statusToSpecMs.p50} / ${r.statusToSpecMs.p99} ms over ${r.statusToSpecMs.n} steps`,
    },
    goals: [
      {
        description: `${nodes} nodes: budget never exceeded during the rollout`,
        measured: `max ${r.maxActive} out of Idle, ${r.budgetViolations} violations`,
        met: r.budgetViolations === 0,
      },
      {
        description:
          "controller CPU / memory / reconcile latency / requests per node per hour (no numeric goal in the issue)",
        measured: `${results.steadyState.controllerCpuPercentOfOneCore} % CPU idle, ${steadyMem.maxMiB} MiB, node reconcile p99 ${r.reconcileMs.node.p99} ms, ${round(perNodePerHour, 2)} req/node/h`,
        met: null,
      },
    ],
    notes: [
      "Agents are stand-ins (one shared watch, status written with the admin client): their requests are in the baseline and the rollout, not a real agent's. The real agent's own traffic goes to the brupop API server; see the agent benchmark.",
      "Requests per node per hour = (requests in the window with the controller − requests in an equal window without it) / nodes × 3600 / window; kube-apiserver's apiserver_request_total counts a WATCH when it ends, so long watches are not in it. Baseline noise (kwok heartbeats) can make small numbers negative.",
      "Reconcile quantiles are interpolated inside the controller's histogram buckets (1, 5, 10, 25, 50, 100, 250 ms, …), so they are bucket-resolution estimates.",
      "The controller runs from TypeScript source (node type stripping, ~17 MiB of RSS on its own per the agent benchmark's note); a compiled image would use less.",
      "Everything (kube-apiserver, etcd, kwok, controller, stand-ins) shares one machine. On the 2-CPU machine of the first run (shared with other test runs, load ~6) the 1,000-node rollout was bound by the controller, not by the budget: at most ~half the budget in use, status → spec p50 ~0.7 s, far from the ~8.5 s physical limit (10 waves × ~0.85 s of stand-in host time).",
    ],
  });
} finally {
  await controller?.stop();
  await agents.stop();
  await observer.stop();
  await cluster.stop();
}
