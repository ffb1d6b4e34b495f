// API server: authenticated requests per second and latency with the TokenReview cache on and off. One in-process
// API server (createApiServer, as the tests build it) against the real kube-apiserver, one agent pod on a kwok node
// with a real bound token (TokenRequest) per concurrent client: each of the `concurrency` clients is a different agent
// (its own kwok node, pod and token), so with the cache off every request costs a TokenReview (the authenticator
// coalesces concurrent reviews of the SAME token, which one shared token would turn into a hidden cache).
// A bounded closed loop of GET /bottlerocket-node-resource/drain on loopback.
// That route authenticates (TokenReview or cache, then the pod/node checks against the informer caches) and answers
// from memory (404 NoDrain: no drain known), so what is measured is authentication + routing, not a kube write.
//
//   node bench/apiserver-auth.ts [--concurrency 16] [--seconds 10] [--max-requests 50000]
import { kubeClientOf } from "../sim/cluster/kube-client.ts";
import { parseArgs } from "node:util";
import { pino } from "pino";
import { AGENT_ROUTES, COMPONENT, LABEL_COMPONENT, TOKEN_AUDIENCE } from "../src/api/index.ts";
import { createApiServer } from "../src/apiserver/server.ts";
import { requestPodToken } from "../sim/cluster/tokens.ts";
import {
  createNodes,
  diffCounts,
  environment,
  log,
  percentile,
  report,
  requestCounts,
  round,
  scrapeKubeApiserver,
  startBenchCluster,
  waitUntil,
  type BenchCluster,
} from "./lib.ts";

const { values } = parseArgs({
  options: {
    concurrency: { type: "string", default: "16" },
    seconds: { type: "string", default: "10" },
    "max-requests": { type: "string", default: "50000" },
  },
});
const concurrency = Number(values.concurrency);
const seconds = Number(values.seconds);
const maxRequests = Number(values["max-requests"]);
const AGENT_SA = "brupop-agent-service-account";

interface LoopResult {
  requests: number;
  seconds: number;
  requestsPerSecond: number;
  latencyMs: { p50: number; p99: number; max: number };
  statusCodes: Record<string, number>;
  tokenReviews: number;
}

async function loop(
  cluster: BenchCluster,
  cacheTtlMs: number,
  identities: readonly Record<string, string>[],
): Promise<LoopResult> {
  const server = createApiServer({
    client: kubeClientOf(cluster.kc),
    log: pino({ level: "silent" }),
    namespace: cluster.namespace,
    agentServiceAccount: AGENT_SA,
    defaultMetrics: false,
    tokenCache: { positiveTtlMs: cacheTtlMs },
  });
  try {
    await server.startCaches();
    const base = await server.app.listen({ host: "127.0.0.1", port: 0 });
    const url = base + AGENT_ROUTES.drain;
    // Warm-up: connections, JIT, and (cache on) the one TokenReview that fills the cache.
    for (let i = 0; i < 50; i++) {
      for (const headers of identities) await (await fetch(url, { headers })).text();
    }
    const before = requestCounts(await scrapeKubeApiserver(cluster.kc));
    const latencies: number[] = [];
    const codes: Record<string, number> = {};
    const began = performance.now();
    const deadline = began + seconds * 1000;
    let issued = 0;
    const worker = async (headers: Record<string, string>): Promise<void> => {
      while (issued < maxRequests && performance.now() < deadline) {
        issued++;
        const t0 = performance.now();
        const response = await fetch(url, { headers });
        await response.arrayBuffer();
        latencies.push(performance.now() - t0);
        codes[response.status] = (codes[response.status] ?? 0) + 1;
      }
    };
    await Promise.all(identities.map(worker));
    const elapsed = (performance.now() - began) / 1000;
    const after = requestCounts(await scrapeKubeApiserver(cluster.kc));
    const diff = diffCounts(after, before);
    return {
      requests: latencies.length,
      seconds: round(elapsed, 2),
      requestsPerSecond: round(latencies.length / elapsed),
      latencyMs: {
        p50: round(percentile(latencies, 0.5), 2),
        p99: round(percentile(latencies, 0.99), 2),
        max: round(Math.max(...latencies), 2),
      },
      statusCodes: codes,
      tokenReviews: diff["POST tokenreviews"] ?? diff["CREATE tokenreviews"] ?? 0,
    };
  } finally {
    await server.shutdown();
  }
}

const cluster = await startBenchCluster();
try {
  await cluster.core.createNamespacedServiceAccount({
    namespace: cluster.namespace,
    body: { metadata: { name: AGENT_SA } },
  });
  const nodeNames = await createNodes(cluster.core, "auth", concurrency, "1.0.0");
  const identities: Record<string, string>[] = [];
  for (const [i, nodeName] of nodeNames.entries()) {
    const node = await cluster.core.readNode({ name: nodeName });
    const pod = await cluster.core.createNamespacedPod({
      namespace: cluster.namespace,
      body: {
        metadata: { name: `agent-${i}`, labels: { [LABEL_COMPONENT]: COMPONENT.agent } },
        spec: { nodeName, serviceAccountName: AGENT_SA, containers: [{ name: "agent", image: "agent" }] },
      },
    });
    const token = await requestPodToken(cluster.core, {
      namespace: cluster.namespace,
      serviceAccount: AGENT_SA,
      pod: { name: pod.metadata?.name ?? "", uid: pod.metadata?.uid ?? "" },
      audiences: [TOKEN_AUDIENCE],
    });
    identities.push({ BrupopNodeName: nodeName, BrupopNodeUid: node.metadata?.uid ?? "", BrupopK8sAuthToken: token });
  }
  let running = 0;
  const poll = setInterval(() => {
    cluster.core
      .listNamespacedPod({ namespace: cluster.namespace })
      .then((list) => (running = list.items.filter((p) => p.status?.phase === "Running").length))
      .catch(() => undefined);
  }, 200);
  await waitUntil("agent pods Running", () => running === concurrency, 60_000).finally(() => clearInterval(poll));

  log(`apiserver-auth: cache on, ${concurrency} concurrent, ${seconds} s`);
  const on = await loop(cluster, 5 * 60_000, identities);
  log(`apiserver-auth: cache off (TTL 0: a TokenReview per request)`);
  const off = await loop(cluster, 0, identities);
  const authenticated = (r: LoopResult): boolean => Object.keys(r.statusCodes).every((c) => c === "404");
  await report({
    name: "apiserver-auth",
    title: "API server: authenticated requests with the token cache on and off",
    at: new Date().toISOString(),
    environment: await environment(),
    parameters: { concurrency, seconds, maxRequests, route: `GET ${AGENT_ROUTES.drain}` },
    results: { cacheOn: on, cacheOff: off },
    headline: {
      "Cache on: requests/s": `${on.requestsPerSecond} (${on.requests} requests)`,
      "Cache on: latency p50 / p99": `${on.latencyMs.p50} / ${on.latencyMs.p99} ms`,
      "Cache on: TokenReviews sent": String(on.tokenReviews),
      "Cache off: requests/s": `${off.requestsPerSecond} (${off.requests} requests)`,
      "Cache off: latency p50 / p99": `${off.latencyMs.p50} / ${off.latencyMs.p99} ms`,
      "Cache off: TokenReviews sent": String(off.tokenReviews),
      "Speed-up from the cache": `${round(on.requestsPerSecond / off.requestsPerSecond, 1)}×`,
    },
    goals: [
      {
        description: "every request authenticated (expected answer 404 NoDrain, never 401/403/5xx)",
        measured: `cache on ${JSON.stringify(on.statusCodes)}, off ${JSON.stringify(off.statusCodes)}`,
        met: authenticated(on) && authenticated(off),
      },
      {
        description: "throughput / p99 with cache on vs off (no numeric goal in the issue)",
        measured: `${on.requestsPerSecond} vs ${off.requestsPerSecond} req/s; p99 ${on.latencyMs.p99} vs ${off.latencyMs.p99} ms`,
        met: null,
      },
    ],
    notes: [
      "One agent identity per concurrent client (distinct kwok node, pod, bound token). Load generator (fetch, keep-alive) and API server share one Node process and the machine with kube-apiserver, etcd and kwok; logging is off (pino level silent).",
      "Plain HTTP on loopback: the API server's TLS (as deployed) is not in the loop.",
      "TokenReviews counted from kube-apiserver's apiserver_request_total (verb CREATE/POST, resource tokenreviews) before and after each loop.",
    ],
  });
} finally {
  await cluster.stop();
}
