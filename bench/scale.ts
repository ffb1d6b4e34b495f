// Scale: N kwok nodes (default 1,000) with lightweight stand-in agents (one watch for all), the controller as its own
// process. The stand-ins write in one of two ways (--stand-ins):
//   routes (default): each node has a real agent pod and a token bound to it (TokenRequest, audience
//     brupop-apiserver); every shadow create (POST) and status write (PUT) goes over HTTPS with brupop's headers
//     through a real brupop API server process (bench/route-stand-ins.ts), which authenticates it (TokenReview,
//     cached; live agent pod on that node) and writes the shadow; keep-alive sockets, bounded (--sockets);
//   admin: status written directly with the admin client (the earlier numbers; no API server).
// Measures, in order:
//   1. kube-apiserver requests at steady state WITHOUT the controller (kwok heartbeats, stand-ins' watch): baseline;
//   2. the same interval WITH the controller leading and every node Idle and up to date: the difference is the
//      controller's steady-state cost, reported as requests per node per hour; its CPU and RSS over that interval;
//   3. a rollout of all N nodes to a new version under budget B with short random step times: controller CPU, peak
//      RSS, reconcile duration p50/p99 (its brupop_reconcile_duration_seconds histogram, delta over the rollout) and
//      status → next spec write latency p50/p99 (a separate watch, ShadowTimeline);
//   routes mode also: the API server's CPU and RSS (steady state and rollout), the stand-ins' PUT latency p50/p99
//   (client side), TokenReviews (the API server's uncached authentications and kube-apiserver's tokenreviews).
//
//   node bench/scale.ts [--nodes 1000] [--budget 100] [--window 60] [--stand-ins routes|admin] [--sockets 16]
import { loadavg } from "node:os";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { ShadowTimeline } from "../sim/stand-ins/status-agents.ts";
import { counterSum, RouteStandIns } from "./route-stand-ins.ts";
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
    "stand-ins": { type: "string", default: "routes" },
    sockets: { type: "string", default: "16" },
  },
});
const mode = values["stand-ins"];
if (mode !== "routes" && mode !== "admin") throw new Error(`--stand-ins must be routes or admin, not ${mode}`);
const maxSockets = Number(values.sockets);
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

const tokenReviews = (counts: Record<string, number>): number =>
  Object.entries(counts)
    .filter(([k]) => / tokenreviews$/.test(k))
    .reduce((a, [, v]) => a + v, 0);

const setupBegan = Date.now();
const cluster = await startBenchCluster();
const durations = {
  StagedAndPerformedUpdate: [200, 500],
  RebootedIntoUpdate: [200, 500],
  MonitoringUpdate: [100, 200],
  Idle: 0,
} as const;
const observer = new ShadowTimeline(cluster.kc, cluster.namespace, budget);
let controller: ControllerProcess | undefined;
let routes: RouteStandIns | undefined;
let agents: StandInAgents | undefined;
try {
  const names = await createNodes(cluster.core, "scale", nodes, "1.0.0");
  if (mode === "routes") routes = await RouteStandIns.start(cluster, names, { maxSockets });
  agents = new StandInAgents(cluster.kc, cluster.namespace, durations, routes);
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
  const brupopCpuSteady0 = routes ? await processCpuSeconds(routes.pid) : 0;
  const brupopRssSteady = routes ? sampleRss(routes.pid, 1000) : undefined;
  const steady = await apiserverWindow(cluster.kc);
  const cpuSteady = (await processCpuSeconds(pid)) - cpuSteady0;
  const steadyMem = rssSteady.stop();
  const brupopCpuSteady = routes ? (await processCpuSeconds(routes.pid)) - brupopCpuSteady0 : NaN;
  const brupopSteadyMem = brupopRssSteady?.stop();
  const controllerRequests = total(steady) - total(baseline);
  const perNodePerHour = (controllerRequests / nodes) * (3600 / windowS);

  log(`scale: rollout of ${nodes} nodes to 2.0.0, budget ${budget}`);
  const metricsBefore = parsePrometheus(await controller.metrics());
  const kubeBefore = requestCounts(await scrapeKubeApiserver(cluster.kc));
  const brupopMetricsBefore = routes ? await routes.metrics() : "";
  const brupopCpuRollout0 = routes ? await processCpuSeconds(routes.pid) : 0;
  const brupopRssRollout = routes ? sampleRss(routes.pid) : undefined;
  routes?.resetPutLatencies();
  const cpuRollout0 = await processCpuSeconds(pid);
  const rssRollout = sampleRss(pid);
  const loadAtRolloutStart = round(loadavg()[0] ?? NaN, 2);
  const rolloutBegan = Date.now();
  const standIns = agents;
  await standIns.offer("2.0.0");
  await waitUntil("rollout done", () => allUpdated(observer.shadows(), nodes, "2.0.0"), 30 * 60_000, 100);
  const rolloutMs = Date.now() - rolloutBegan;
  const loadAtRolloutEnd = round(loadavg()[0] ?? NaN, 2);
  const cpuRollout = (await processCpuSeconds(pid)) - cpuRollout0;
  const rolloutMem = rssRollout.stop();
  const brupopCpuRollout = routes ? (await processCpuSeconds(routes.pid)) - brupopCpuRollout0 : NaN;
  const brupopRolloutMem = brupopRssRollout?.stop();
  const rolloutRequests = diffCounts(requestCounts(await scrapeKubeApiserver(cluster.kc)), kubeBefore);
  const reconciles = subtract(parsePrometheus(await controller.metrics()), metricsBefore);
  const q = (kind: string, p: number) =>
    round(histogramQuantile(reconciles, "brupop_reconcile_duration_seconds", p, { kind }) * 1000, 1);
  const count = (kind: string) =>
    reconciles
      .filter((s) => s.name === "brupop_reconcile_duration_seconds_count" && s.labels.kind === kind)
      .reduce((a, s) => a + s.value, 0);
  const lat = observer.stepLatencies;
  const finalMem = await processMemoryMiB(pid);
  let apiServer: Record<string, unknown> | undefined;
  if (routes) {
    const text = await routes.metrics();
    const uncached = (t: string) => counterSum(t, "brupop_apiserver_authentications_total", { cached: "false" });
    const allowed = (t: string) => counterSum(t, "brupop_apiserver_authentications_total", { result: "allowed" });
    const denied = (t: string) => counterSum(t, "brupop_apiserver_authentications_total") - allowed(t);
    const stats = routes.stats();
    const peak = await processMemoryMiB(routes.pid);
    apiServer = {
      process: "node src/apiserver/main.ts (own process, HTTPS, TLS from files issued by the control plane CA)",
      keepAliveMaxSockets: maxSockets,
      socketsOpened: stats.socketsOpened,
      steadyState: {
        cpuPercentOfOneCore: round((brupopCpuSteady / windowS) * 100, 2),
        rssMiB: brupopSteadyMem,
      },
      rollout: {
        cpuSeconds: round(brupopCpuRollout, 2),
        cpuPercentOfOneCore: round((brupopCpuRollout / (rolloutMs / 1000)) * 100, 1),
        rssMiB: { ...brupopRolloutMem, peakSinceStart: peak.peak },
        putStatusLatencyMs: stats.latencyMs.putStatus,
        tokenReviewsByApiServer: uncached(text) - uncached(brupopMetricsBefore),
        tokenReviewsAtKubeApiserver: tokenReviews(rolloutRequests),
      },
      sinceStart: {
        createLatencyMs: stats.latencyMs.create,
        tokenReviewsByApiServer: uncached(text),
        authenticationsAllowed: allowed(text),
        authenticationsDenied: denied(text),
        statusCodes: stats.statusCodes,
        retries: stats.retries,
        failures: stats.failures,
      },
    };
  }

  const results = {
    setupSeconds: round(setupS),
    /** 1-minute load average of the machine (2 CPUs, shared with other work). */
    machineLoad1m: { rolloutStart: loadAtRolloutStart, rolloutEnd: loadAtRolloutEnd },
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
      standInWrites: standIns.writes,
      standInFailedWrites: standIns.failedWrites,
      kubeApiserverRequestsByVerbResource: top(rolloutRequests),
    },
    ...(apiServer ? { apiServer } : {}),
  };
  const r = results.rollout;
  const a = apiServer as
    | undefined
    | {
        socketsOpened: number;
        steadyState: { cpuPercentOfOneCore: number; rssMiB?: { meanMiB: number; maxMiB: number } };
        rollout: {
          cpuSeconds: number;
          cpuPercentOfOneCore: number;
          rssMiB: { maxMiB?: number };
          putStatusLatencyMs: { n: number; p50: number; p99: number; max: number };
          tokenReviewsByApiServer: number;
          tokenReviewsAtKubeApiserver: number;
        };
        sinceStart: {
          tokenReviewsByApiServer: number;
          authenticationsDenied: number;
          statusCodes: Record<string, number>;
          failures: number;
          retries: number;
        };
      };
  const modeLine =
    mode === "routes"
      ? `routes: real agent pods + bound tokens, writes through the brupop API server over HTTPS (${maxSockets} keep-alive sockets, ${a?.socketsOpened ?? "?"} opened)`
      : "admin: status written with the admin client (no API server)";
  const apiServerHeadline: Record<string, string> = a
    ? {
        "Steady state: API server CPU / RSS (mean / max)": `${a.steadyState.cpuPercentOfOneCore} % of one core; ${a.steadyState.rssMiB?.meanMiB} / ${a.steadyState.rssMiB?.maxMiB} MiB`,
        "Rollout: API server CPU / RSS (max)": `${a.rollout.cpuSeconds} s (${a.rollout.cpuPercentOfOneCore} % of one core); ${a.rollout.rssMiB.maxMiB} MiB`,
        "Rollout: PUT status latency p50 / p99 / max (client side)": `${a.rollout.putStatusLatencyMs.p50} / ${a.rollout.putStatusLatencyMs.p99} / ${a.rollout.putStatusLatencyMs.max} ms over ${a.rollout.putStatusLatencyMs.n} requests`,
        "TokenReviews: rollout / since start (API server's uncached authentications)": `${a.rollout.tokenReviewsByApiServer} / ${a.sinceStart.tokenReviewsByApiServer} (kube-apiserver counted ${a.rollout.tokenReviewsAtKubeApiserver} in the rollout)`,
        "Stand-in requests: answers, retries, failures": `${JSON.stringify(a.sinceStart.statusCodes)}, ${a.sinceStart.retries} retries, ${a.sinceStart.failures} failed`,
      }
    : {};
  await report({
    name: "scale",
    title: `Scale: ${nodes} kwok nodes, stand-in agents via ${mode === "routes" ? "the API server's routes" : "the admin client"}`,
    at: new Date().toISOString(),
    environment: await environment(),
    parameters: {
      nodes,
      budget,
      windowSeconds: windowS,
      standIns: mode,
      ...(mode === "routes" ? { keepAliveSockets: maxSockets } : {}),
      stepMs: "prepare 200–500, reboot 200–500, monitor 100–200",
    },
    results,
    headline: {
      "Stand-in agents": modeLine,
      "Steady state: controller CPU": `${results.steadyState.controllerCpuPercentOfOneCore} % of one core`,
      "Steady state: controller RSS (mean / max)": `${steadyMem.meanMiB} / ${steadyMem.maxMiB} MiB`,
      "Steady state: kube-apiserver requests by the controller": `${round(perNodePerHour, 2)} per node per hour (${controllerRequests} in ${windowS} s over a ${total(baseline)}-request baseline)`,
      "Rollout of all nodes": `${r.seconds} s at budget ${budget} (max out of Idle ${r.maxActive}, violations ${r.budgetViolations})`,
      "Rollout: controller CPU": `${r.controllerCpuSeconds} s (${r.controllerCpuPercentOfOneCore} % of one core)`,
      "Rollout: controller RSS (max)": `${rolloutMem.maxMiB} MiB`,
      "Reconcile duration p50 / p99 (node keys)": `${r.reconcileMs.node.p50} / ${r.reconcileMs.node.p99} ms (${r.reconcileMs.node.count} reconciles)`,
      "Reconcile duration p50 / p99 (fleet key)": `${r.reconcileMs.fleet.p50} / ${r.reconcileMs.fleet.p99} ms (${r.reconcileMs.fleet.count} reconciles)`,
      "Status → next spec write p50 / p99": `${r.statusToSpecMs.p50} / ${r.statusToSpecMs.p99} ms over ${r.statusToSpecMs.n} steps`,
      ...apiServerHeadline,
    },
    goals: [
      {
        description: `${nodes} nodes (${mode} stand-ins): budget never exceeded during the rollout`,
        measured: `max ${r.maxActive} out of Idle, ${r.budgetViolations} violations`,
        met: r.budgetViolations === 0,
      },
      {
        description:
          "controller CPU / memory / reconcile latency / requests per node per hour (no numeric goal in the issue)",
        measured: `${results.steadyState.controllerCpuPercentOfOneCore} % CPU idle, ${steadyMem.maxMiB} MiB, node reconcile p99 ${r.reconcileMs.node.p99} ms, ${round(perNodePerHour, 2)} req/node/h`,
        met: null,
      },
      ...(a
        ? [
            {
              description:
                "routes: every stand-in write authenticated and accepted by the API server (no 401/403, none failed)",
              measured: `${JSON.stringify(a.sinceStart.statusCodes)}, ${a.sinceStart.authenticationsDenied} denied, ${a.sinceStart.failures} failed`,
              met: a.sinceStart.authenticationsDenied === 0 && a.sinceStart.failures === 0,
            },
            {
              description:
                "routes: API server CPU / memory / PUT status latency / TokenReviews (no numeric goal in the issue)",
              measured: `${a.steadyState.cpuPercentOfOneCore} % CPU idle, ${a.rollout.cpuPercentOfOneCore} % in the rollout, ${a.rollout.rssMiB.maxMiB} MiB, PUT p99 ${a.rollout.putStatusLatencyMs.p99} ms, ${a.sinceStart.tokenReviewsByApiServer} TokenReviews for ${nodes} tokens`,
              met: null,
            },
          ]
        : []),
    ],
    notes: [
      mode === "routes"
        ? "Agents are stand-ins: one shared watch reads all shadows (a real agent watches its own shadow), but every write is a real agent's: POST/PUT /bottlerocket-node-resource over HTTPS with BrupopNodeName/BrupopNodeUid/BrupopK8sAuthToken, each node's token a TokenRequest bound to its own agent pod (agent label and service account, on that kwok node), through the brupop API server process, which authenticates (TokenReview, cached 5 min; live agent pod on that node) and writes the shadow (a GET and a PUT of the status). The stand-ins do not poll the API server, drain or uncordon (no pods to drain); their watch is in the baseline."
        : "Agents are stand-ins (one shared watch, status written with the admin client; --stand-ins admin): their requests are in the baseline and the rollout, not a real agent's. The real agent's own traffic goes to the brupop API server; see the default --stand-ins routes.",
      "Requests per node per hour = (requests in the window with the controller − requests in an equal window without it) / nodes × 3600 / window; kube-apiserver's apiserver_request_total counts a WATCH when it ends, so long watches are not in it. Baseline noise (kwok heartbeats) can make small numbers negative.",
      "Reconcile quantiles are interpolated inside the controller's histogram buckets (1, 5, 10, 25, 50, 100, 250 ms, …), so they are bucket-resolution estimates.",
      "The controller runs from TypeScript source (node type stripping, ~17 MiB of RSS on its own per the agent benchmark's note); a compiled image would use less.",
      `Everything (kube-apiserver, etcd, kwok, controller, ${mode === "routes" ? "brupop API server, " : ""}stand-ins) shares one machine, itself shared with other work: 1-minute load average ${loadAtRolloutStart} at the rollout's start, ${loadAtRolloutEnd} at its end, on 2 CPUs. The 1,000-node rollout is bound by the controller and the machine, not by the budget (max out of Idle well under the budget; the physical limit is ~8.5 s: 10 waves × ~0.85 s of stand-in host time).`,
      ...(mode === "routes"
        ? [
            "API server: `node src/apiserver/main.ts` as its own process (the code path a pod runs: configuration from the environment, HTTPS with TLS from files, a serving certificate issued by the control plane's CA, metrics on their own port), with the admin kubeconfig, from TypeScript source like the controller; its own process so its CPU and RSS are its own. Its RSS includes its informer caches of every Node and agent pod (1,000 each here).",
            "PUT status latency is per HTTP exchange on the stand-ins' side: from asking the shared keep-alive pool for a socket to the end of the answer, so it includes waiting for one of the pool's sockets behind the other stand-ins (up to ~budget of them writing at once, plus the 1,000 offers at the start). Each write costs kube-apiserver a GET and a PUT of the shadow's status (in the rollout's requests).",
            "TokenReviews = the API server's authentications whose verdict was not in its cache (brupop_apiserver_authentications_total{cached=\"false\"}); kube-apiserver's tokenreviews count in the rollout is shown beside it. One per token when the stand-ins registered; the 5-minute verdict cache covers the rest unless the rollout outlives it.",
            "Stand-ins retry as the agent does (transport errors, 429, 5xx; 100 ms doubling, 5 tries). Sockets opened counts every TLS connection: at most the pool's size at once; the server closes idle keep-alive sockets (Node's 5 s default), so quiet periods reopen them, and a request racing such a close is a transport error, retried.",
          ]
        : []),
    ],
  });
} finally {
  await controller?.stop();
  await agents?.stop();
  await routes?.stop();
  await observer.stop();
  await cluster.stop();
}
