// Stand-in agents that speak the real routes: every node gets a real agent pod (agent label, the agent's service
// account, bound to the node), a token from TokenRequest bound to that pod with audience `brupop-apiserver`, and its
// writes (POST create, PUT status) go over HTTPS with brupop's headers to a real brupop API server process
// (its entry point from source or the image's bundle, bench/entry-points.ts; TLS from files: a serving certificate
// issued by the control plane's CA, as the simulated cluster runs it). The API server authenticates each request (TokenReview, cached), checks the pod is a
// live agent pod on that node, then writes the shadow. Reading stays one shared watch (StandInAgents in lib.ts).
//
// Why a separate process and not createApiServer in-process: main.ts is the code path that runs in a cluster (HTTPS
// server, config from the environment, metrics on their own port), and a process of its own gives the API server's
// CPU and RSS apart from the bench's.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent, request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";
import {
  AGENT_ROUTES,
  COMPONENT,
  HEADER_AUTH_TOKEN,
  HEADER_NODE_NAME,
  HEADER_NODE_UID,
  LABEL_COMPONENT,
  TOKEN_AUDIENCE,
} from "../src/api/constants.ts";
import type { BottlerocketShadowStatus } from "../src/api/bottlerocket-shadow.ts";
import { AGENT_SERVICE_ACCOUNT } from "../src/apiserver/config.ts";
import { apiServerProcessEnv, writeApiServerTlsFiles } from "../sim/cluster/apiserver-tls.ts";
import { freePort } from "../sim/control-plane/ports.ts";
import { requestPodToken } from "../sim/cluster/tokens.ts";
import type { ComponentEntry } from "./entry-points.ts";
import {
  latencySummary,
  launchOf,
  log,
  pool,
  ROOT,
  round,
  type BenchCluster,
  type LatencySummary,
  type ShadowWriter,
} from "./lib.ts";
import type { InClusterAccess } from "./in-cluster.ts";

interface Identity {
  nodeUid: string;
  token: string;
}

export interface RouteStandInStats {
  /** Per HTTP exchange (each attempt), from asking the keep-alive agent for a socket to the end of the answer. */
  latencyMs: { create: LatencySummary; putStatus: LatencySummary };
  statusCodes: Record<string, number>;
  retries: number;
  failures: number;
  /** Sockets the keep-alive agent opened in all (at most maxSockets at once; idle ones close after the server's keep-alive timeout). */
  socketsOpened: number;
}

export interface RouteStandInsOptions {
  /** Keep-alive sockets to the API server, shared by all stand-ins. */
  maxSockets: number;
  /** Extra API server environment (e.g. TOKEN_CACHE_TTL). */
  env?: Record<string, string>;
  /** How to start the API server (bench/entry-points.ts); default from TypeScript source. */
  entry?: ComponentEntry;
  /** The API server's kubeconfig (e.g. through a counting proxy); default the control plane's admin kubeconfig. */
  kubeconfigPath?: string;
  /** Started in-cluster through this instead of a kubeconfig, as its pod (bench/in-cluster.ts). */
  inCluster?: InClusterAccess;
}

/** The API server process plus the per-node identities; `writer` plugs into StandInAgents. */
export class RouteStandIns implements ShadowWriter {
  readonly #identities = new Map<string, Identity>();
  readonly #agent: Agent;
  readonly #latency = { create: [] as number[], putStatus: [] as number[] };
  readonly #codes: Record<string, number> = {};
  #retries = 0;
  #failures = 0;
  readonly #sockets = new WeakSet<object>();
  #socketsOpened = 0;
  readonly child: ChildProcess;
  readonly pid: number;
  readonly url: string;
  readonly metricsUrl: string;
  readonly #dir: string;
  readonly #exited: Promise<void>;

  private constructor(
    child: ChildProcess,
    url: string,
    metricsUrl: string,
    caPem: string,
    dir: string,
    o: RouteStandInsOptions,
  ) {
    this.child = child;
    this.pid = child.pid ?? 0;
    this.url = url;
    this.metricsUrl = metricsUrl;
    this.#dir = dir;
    this.#exited = new Promise((done) => child.once("exit", () => done()));
    this.#agent = new Agent({ keepAlive: true, maxSockets: o.maxSockets, maxFreeSockets: o.maxSockets, ca: caPem });
  }

  /**
   * Creates the agent service account, one agent pod per node (bound to it, the agent label), a bound token per pod
   * (TokenRequest, audience brupop-apiserver), the API server's serving certificate, and starts the API server.
   */
  static async start(cluster: BenchCluster, nodes: readonly string[], o: RouteStandInsOptions): Promise<RouteStandIns> {
    const { core, namespace } = cluster;
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name: AGENT_SERVICE_ACCOUNT } } });
    const began = Date.now();
    const pods = new Map<string, { name: string; uid: string; nodeUid: string }>();
    await pool(nodes, 16, async (nodeName) => {
      const node = await core.readNode({ name: nodeName });
      const pod = await core.createNamespacedPod({
        namespace,
        body: {
          metadata: { name: `brupop-agent-${nodeName}`, labels: { [LABEL_COMPONENT]: COMPONENT.agent } },
          spec: {
            nodeName,
            serviceAccountName: AGENT_SERVICE_ACCOUNT,
            automountServiceAccountToken: false,
            containers: [{ name: "agent", image: "brupop-agent" }],
          },
        },
      });
      pods.set(nodeName, {
        name: pod.metadata?.name ?? "",
        uid: pod.metadata?.uid ?? "",
        nodeUid: node.metadata?.uid ?? "",
      });
      if (pods.size % 250 === 0) log(`route stand-ins: ${pods.size}/${nodes.length} agent pods created`);
    });
    const identities = new Map<string, Identity>();
    await pool(nodes, 16, async (nodeName) => {
      const pod = pods.get(nodeName);
      if (!pod) throw new Error(`no agent pod for ${nodeName}`);
      const token = await requestPodToken(core, {
        namespace,
        serviceAccount: AGENT_SERVICE_ACCOUNT,
        pod: { name: pod.name, uid: pod.uid },
        audiences: [TOKEN_AUDIENCE],
        expirationSeconds: 2 * 3600,
      });
      identities.set(nodeName, { nodeUid: pod.nodeUid, token });
    });
    log(`route stand-ins: ${nodes.length} agent pods and bound tokens in ${round((Date.now() - began) / 1000, 1)} s`);

    // kwok marks the pods Running; the API server accepts any pod that has not finished, but wait as a kubelet would.
    const deadline = Date.now() + 10 * 60_000;
    for (;;) {
      const list = await core.listNamespacedPod({ namespace, labelSelector: `${LABEL_COMPONENT}=${COMPONENT.agent}` });
      const running = list.items.filter((p) => p.status?.phase === "Running").length;
      if (running === nodes.length) break;
      if (Date.now() > deadline) throw new Error(`only ${running}/${nodes.length} agent pods Running after 10 min`);
      await sleep(1000);
    }
    log(`route stand-ins: agent pods Running after ${round((Date.now() - began) / 1000, 1)} s`);

    const dir = await mkdtemp(join(tmpdir(), "brupop-bench-apiserver-"));
    const tls = await writeApiServerTlsFiles(cluster.cp, { dir, namespace, clusterDomain: "cluster.local" });
    const [port, metricsPort] = [await freePort(), await freePort()];
    const launch = await launchOf(
      o.entry?.args ?? [join(ROOT, "src/apiserver/main.ts")],
      {
        ...apiServerProcessEnv({
          kubeconfigPath: o.kubeconfigPath ?? cluster.cp.kubeconfigPath,
          namespace,
          port,
          metricsPort,
          tls,
          terminationLog: join(dir, "termination-log"),
        }),
        ...o.entry?.env,
        ...o.env,
      },
      o.inCluster,
    );
    const child = spawn(launch.command, launch.args, { env: launch.env, stdio: ["ignore", "ignore", "inherit"] });
    const self = new RouteStandIns(
      child,
      `https://127.0.0.1:${port}`,
      `http://127.0.0.1:${metricsPort}/metrics`,
      cluster.cp.caPem,
      dir,
      o,
    );
    for (const [k, v] of identities) self.#identities.set(k, v);
    try {
      const ready = Date.now() + 120_000;
      for (;;) {
        if (child.exitCode !== null) throw new Error(`API server exited with ${child.exitCode}`);
        const status = await self.#exchange("GET", "/readyz", {}, undefined).then(
          (r) => r.status,
          () => 0,
        );
        if (status === 200) break;
        if (Date.now() > ready) throw new Error("API server not ready after 120 s");
        await sleep(100);
      }
    } catch (err) {
      await self.stop();
      throw err;
    }
    log(`route stand-ins: API server (pid ${self.pid}) ready on ${self.url}`);
    return self;
  }

  async create(nodeName: string): Promise<void> {
    const id = this.#id(nodeName);
    await this.#call(
      "create",
      "POST",
      nodeName,
      JSON.stringify({ node_selector: { node_name: nodeName, node_uid: id.nodeUid } }),
    );
  }

  async writeStatus(nodeName: string, status: BottlerocketShadowStatus): Promise<void> {
    await this.#call("putStatus", "PUT", nodeName, JSON.stringify(status));
  }

  stats(): RouteStandInStats {
    return {
      latencyMs: { create: latencySummary(this.#latency.create), putStatus: latencySummary(this.#latency.putStatus) },
      statusCodes: { ...this.#codes },
      retries: this.#retries,
      failures: this.#failures,
      socketsOpened: this.#socketsOpened,
    };
  }

  /** PUT status latencies recorded from now on only (e.g. for the rollout); create latencies are kept. */
  resetPutLatencies(): void {
    this.#latency.putStatus.length = 0;
  }

  async metrics(): Promise<string> {
    return (await fetch(this.metricsUrl)).text();
  }

  async stop(): Promise<void> {
    this.#agent.destroy();
    if (this.child.exitCode === null && this.child.signalCode === null) {
      this.child.kill("SIGTERM");
      const killer = setTimeout(() => this.child.kill("SIGKILL"), 30_000);
      await this.#exited;
      clearTimeout(killer);
    }
    await rm(this.#dir, { recursive: true, force: true });
  }

  #id(nodeName: string): Identity {
    const id = this.#identities.get(nodeName);
    if (!id) throw new Error(`no identity for node ${nodeName}`);
    return id;
  }

  /** The agent's retry policy (src/agent/apiserver-client.ts): transport errors, 429 and 5xx, 100 ms doubling, 5 tries. */
  async #call(op: "create" | "putStatus", method: string, nodeName: string, body: string): Promise<void> {
    const id = this.#id(nodeName);
    const headers = {
      [HEADER_NODE_NAME]: nodeName,
      [HEADER_NODE_UID]: id.nodeUid,
      [HEADER_AUTH_TOKEN]: id.token,
      "content-type": "application/json",
    };
    let pause = 100;
    for (let attempt = 1; ; attempt++) {
      let failure: Error;
      const t0 = performance.now();
      try {
        const r = await this.#exchange(method, AGENT_ROUTES.shadow, headers, body);
        this.#latency[op].push(performance.now() - t0);
        this.#codes[r.status] = (this.#codes[r.status] ?? 0) + 1;
        if (r.status >= 200 && r.status < 300) return;
        failure = new Error(`${method} ${AGENT_ROUTES.shadow} for ${nodeName}: ${r.status} ${r.body.slice(0, 300)}`);
        if (r.status !== 429 && r.status < 500) {
          this.#failures++;
          throw failure;
        }
      } catch (err) {
        if (!(err instanceof TransportError)) throw err;
        this.#codes.transport = (this.#codes.transport ?? 0) + 1;
        failure = err;
      }
      if (attempt >= 5) {
        this.#failures++;
        throw failure;
      }
      this.#retries++;
      await sleep(pause);
      pause = Math.min(pause * 2, 10_000);
    }
  }

  #exchange(
    method: string,
    path: string,
    headers: Record<string, string>,
    body: string | undefined,
  ): Promise<{ status: number; body: string }> {
    return new Promise((done, fail) => {
      const req = httpsRequest(
        new URL(path, this.url),
        { method, headers, agent: this.#agent, timeout: 30_000 },
        (res) => {
          const chunks: Buffer[] = [];
          res.on("data", (c: Buffer) => chunks.push(c));
          res.on("end", () => done({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }));
          res.on("error", (e) => fail(new TransportError(e.message)));
        },
      );
      req.on("socket", (socket) => {
        if (this.#sockets.has(socket)) return;
        this.#sockets.add(socket);
        this.#socketsOpened++;
      });
      req.on("timeout", () => req.destroy(new Error("timed out")));
      req.on("error", (e) => fail(new TransportError(e.message)));
      req.end(body);
    });
  }
}

class TransportError extends Error {
  override readonly name = "TransportError";
}

/** Sum of a counter's samples in Prometheus text matching `labels`. */
export function counterSum(text: string, name: string, labels: Record<string, string> = {}): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    if (!line.startsWith(`${name}{`) && !line.startsWith(`${name} `)) continue;
    if (!Object.entries(labels).every(([k, v]) => line.includes(`${k}="${v}"`))) continue;
    sum += Number(line.slice(line.lastIndexOf(" ") + 1));
  }
  return sum;
}
