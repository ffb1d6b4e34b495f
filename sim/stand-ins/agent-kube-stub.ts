// Test support for the agent: ONE HTTPS server standing in for both the Kubernetes API (list + watch of the brs and
// the Node, with resourceVersions, bookmarks, 410s and 429s) and brupop's API server routes (recorded, header-checked,
// status bodies validated with the real v2 schema). A tiny "controller" can advance the spec the way src/core does
// on the happy path. This is a stub for the agent's unit tests; the real API server is tested in the simulated
// cluster.
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import type { IncomingMessage, ServerResponse } from "node:http";
import https from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { validateShadowStatus } from "../../src/api/bottlerocket-shadow.ts";
import {
  API_GROUP,
  brsName,
  HEADER_AUTH_TOKEN,
  HEADER_NODE_NAME,
  HEADER_NODE_UID,
  PLURAL,
} from "../../src/api/constants.ts";
import { successor } from "../../src/api/state-machine.ts";
import { formatTimestamp } from "../../src/api/timestamps.ts";
import { createCertificateAuthority } from "../../src/pki/certificates.ts";
import { DEFAULT_TIMING, type AgentConfig } from "../../src/agent/config.ts";
import type { AgentSpec, AgentStatus } from "../../src/agent/observed.ts";

export const KUBE_TOKEN = "kube-token";
export const APISERVER_TOKEN = "agent-projected-token";

interface Stored {
  apiVersion: string;
  kind: string;
  metadata: { name: string; namespace?: string; uid: string; resourceVersion: string; labels?: Record<string, string> };
  spec: Record<string, unknown>;
  status?: unknown;
}

export interface RecordedCall {
  method: string;
  path: string;
  /** The query string, without "?". */
  query: string;
  body: unknown;
  /** Date.now() when the request arrived. */
  at: number;
}

type Hook = (call: RecordedCall) => Promise<number | undefined> | number | undefined;

export interface StubOptions {
  nodeName?: string;
  namespace?: string;
  /** Start with this brs (spec and optional status); by default there is none and the agent must create it. */
  shadow?: { spec: AgentSpec; status?: AgentStatus };
  /** Drive the spec like the controller's happy path (one update, then stay Idle). Default true. */
  controller?: boolean;
  /** Offer our API server's asynchronous drain (POST/GET /drain). Default false: brupop's routes only. */
  asyncDrain?: boolean;
}

/** The stub's asynchronous drain: phase after `polls` GETs. */
export interface StubDrain {
  id: string;
  phase: string;
  message: string;
  polls: number;
}

interface Watcher {
  kind: "brs" | "node";
  res: ServerResponse;
}

export class StubCluster {
  readonly nodeName: string;
  readonly namespace: string;
  readonly calls: RecordedCall[] = [];
  /** Every status the agent PUT, in order. */
  readonly statuses: AgentStatus[] = [];
  /** Returns an HTTP status to answer instead (e.g. 500), or undefined to proceed; may delay. */
  hook: Hook | undefined;
  controller: boolean;
  asyncDrain: boolean;
  /** How the next asynchronous drain ends, and after how many polls; `blockers` as the real server lists them. */
  drainOutcome: { phase: string; message: string; afterPolls: number; blockers?: unknown[] } = {
    phase: "drained",
    message: "drained",
    afterPolls: 2,
  };
  #drain: StubDrain | undefined;
  #drains = 0;
  /**
   * Set: every GET answers with this drain instead, as another API server replica answers with an older drain of
   * the node it still remembers (or pass an `id` the agent never started).
   */
  staleDrain: StubDrain | undefined;
  /** The projected token the brupop routes accept; change it to check the agent re-reads its token file. */
  apiServerToken = APISERVER_TOKEN;
  #started = false;
  #rv = 1;
  #brs: Stored | null = null;
  readonly #node: Stored;
  readonly #watchers = new Set<Watcher>();
  #goneNext = 0;
  #busyNext = { times: 0, retryAfterSeconds: 1 };
  server!: https.Server;
  dir!: string;
  caFile!: string;
  url!: string;

  constructor(options: StubOptions) {
    this.nodeName = options.nodeName ?? "node-1";
    this.namespace = options.namespace ?? "brupop-bottlerocket-aws";
    this.controller = options.controller ?? true;
    this.asyncDrain = options.asyncDrain ?? false;
    this.#node = {
      apiVersion: "v1",
      kind: "Node",
      metadata: { name: this.nodeName, uid: "node-uid-1", resourceVersion: "0", labels: {} },
      spec: {},
    };
    this.#bump(this.#node);
    if (options.shadow) {
      this.#brs = this.#newShadow(options.shadow.spec);
      if (options.shadow.status) this.#brs.status = options.shadow.status;
    }
  }

  get shadow(): { spec: AgentSpec; status: AgentStatus | undefined } | null {
    return this.#brs ? { spec: this.#brs.spec as unknown as AgentSpec, status: this.#brs.status as AgentStatus } : null;
  }

  get unschedulable(): boolean {
    return this.#node.spec.unschedulable === true;
  }

  get nodeLabels(): Record<string, string> {
    return this.#node.metadata.labels ?? {};
  }

  /** Paths of the brupop routes called, in order. */
  get routes(): string[] {
    return this.calls
      .filter((c) => c.path.startsWith("/bottlerocket-node-resource"))
      .map((c) => `${c.method} ${c.path}`);
  }

  setSpec(spec: Partial<AgentSpec>): void {
    if (!this.#brs) throw new Error("no brs yet");
    this.#brs.spec = { ...this.#brs.spec, ...spec };
    this.#changed("brs");
  }

  /** The next N watch requests answer 410 Gone (compacted history). */
  goneOnNextWatch(times = 1): void {
    this.#goneNext = times;
  }

  /** The next N watch requests answer 429 with Retry-After (kube-apiserver shedding load). */
  busyOnNextWatch(times = 1, retryAfterSeconds = 1): void {
    this.#busyNext = { times, retryAfterSeconds };
  }

  /** This replica forgets the running drain (as another API server replica would not know it). */
  forgetDrain(): void {
    this.#drain = undefined;
  }

  /** Ends every open watch stream (as an API server restart would). */
  dropWatches(): void {
    for (const w of this.#watchers) w.res.destroy();
    this.#watchers.clear();
  }

  /** Sends a bookmark on every open watch. */
  bookmark(): void {
    this.#rv++;
    for (const w of this.#watchers) {
      const object = {
        kind: w.kind === "brs" ? "BottlerocketShadow" : "Node",
        metadata: { resourceVersion: String(this.#rv) },
      };
      w.res.write(`${JSON.stringify({ type: "BOOKMARK", object })}\n`);
    }
  }

  get openWatches(): number {
    return this.#watchers.size;
  }

  /** Waits until `check` holds. */
  async until(check: () => boolean, timeoutMs = 10_000, what = "condition"): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!check()) {
      if (Date.now() > deadline) {
        throw new Error(
          `${what} not met within ${timeoutMs} ms; routes: ${this.routes.join(", ")}; states: ${this.statuses.map((s) => s.current_state).join(" → ")}`,
        );
      }
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  #newShadow(spec: AgentSpec): Stored {
    const stored: Stored = {
      apiVersion: `${API_GROUP}/v2`,
      kind: "BottlerocketShadow",
      metadata: { name: brsName(this.nodeName), namespace: this.namespace, uid: "brs-uid-1", resourceVersion: "0" },
      spec: { ...spec },
    };
    this.#bump(stored);
    return stored;
  }

  #bump(object: Stored): void {
    object.metadata.resourceVersion = String(++this.#rv);
  }

  #changed(kind: "brs" | "node", type: "MODIFIED" | "ADDED" = "MODIFIED"): void {
    const object = kind === "brs" ? this.#brs : this.#node;
    if (!object) return;
    this.#bump(object);
    for (const w of this.#watchers) if (w.kind === kind) w.res.write(`${JSON.stringify({ type, object })}\n`);
    if (kind === "brs") this.#control();
  }

  /** The happy path of src/core's decideNextSpec, for one update. */
  #control(): void {
    if (!this.controller || !this.#brs) return;
    const spec = this.#brs.spec as unknown as AgentSpec;
    const status = this.#brs.status as AgentStatus | undefined;
    if (!status) return;
    const now = formatTimestamp(new Date());
    let next: AgentSpec | undefined;
    if (status.current_state === "ErrorReset" && spec.state !== "Idle") {
      next = { state: "Idle", version: spec.version, state_transition_timestamp: now };
    } else if (status.current_state === spec.state) {
      if (spec.state === "Idle") {
        if (!this.#started && status.target_version !== status.current_version) {
          this.#started = true;
          next = { state: "StagedAndPerformedUpdate", version: status.target_version, state_transition_timestamp: now };
        }
      } else {
        next = { state: successor(spec.state), version: spec.version, state_transition_timestamp: now };
      }
    }
    if (next) setImmediate(() => this.setSpec(next));
  }

  async start(): Promise<void> {
    this.dir = await mkdtemp(join(tmpdir(), "brupop-agent-"));
    const ca = await createCertificateAuthority("stub-ca");
    const leaf = await ca.issue({
      commonName: "localhost",
      dnsNames: ["localhost"],
      ipAddresses: ["127.0.0.1"],
      usages: ["server"],
    });
    this.caFile = join(this.dir, "ca.crt");
    await writeFile(this.caFile, ca.certPem);
    await writeFile(join(this.dir, "kube-token"), `${KUBE_TOKEN}\n`);
    await writeFile(join(this.dir, "apiserver-token"), `${APISERVER_TOKEN}\n`);
    this.server = https.createServer({ cert: leaf.certPem, key: leaf.keyPem }, (req, res) => {
      this.#serve(req, res).catch((error: unknown) => {
        if (!res.headersSent) res.writeHead(500).end(String(error));
      });
    });
    await new Promise<void>((resolve) => this.server.listen(0, "127.0.0.1", resolve));
    this.url = `https://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
    this.#control(); // a pre-seeded brs may already call for the next spec
  }

  async stop(): Promise<void> {
    this.dropWatches();
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
    await rm(this.dir, { recursive: true, force: true });
  }

  /** An agent configuration pointing at this stub and the given host socket, with millisecond timings. */
  /** The environment of an agent process (`node src/agent/main.ts`) talking to this stub and to `host`. */
  agentProcessEnv(host: { socketPath: string; bootIdPath: string }): Record<string, string> {
    return {
      PATH: process.env.PATH ?? "",
      MY_NODE_NAME: this.nodeName,
      POD_NAMESPACE: this.namespace,
      KUBE_API_URL: this.url,
      KUBE_TOKEN_FILE: join(this.dir, "kube-token"),
      KUBE_CA_FILE: this.caFile,
      APISERVER_URL: this.url,
      APISERVER_TOKEN_FILE: join(this.dir, "apiserver-token"),
      APISERVER_CA_FILE: this.caFile,
      HOST_API_SOCKET: host.socketPath,
      HOST_BOOT_ID_PATH: host.bootIdPath,
      TERMINATION_LOG: join(this.dir, "termination-log"),
    };
  }

  agentConfig(hostSocketPath: string, bootIdPath: string | null, overrides: Partial<AgentConfig> = {}): AgentConfig {
    return {
      nodeName: this.nodeName,
      namespace: this.namespace,
      kube: { url: this.url, tokenFile: join(this.dir, "kube-token"), caFile: this.caFile },
      apiServer: { url: this.url, tokenFile: join(this.dir, "apiserver-token"), caFile: this.caFile },
      hostSocketPath,
      bootIdPath,
      excludeFromLbWaitMs: 0,
      terminationLogPath: join(this.dir, "termination-log"),
      healthPort: null,
      timing: {
        ...DEFAULT_TIMING,
        syncIntervalMs: 20,
        updateCheckIntervalMs: 100,
        requestTimeoutMs: 3_000,
        drainTimeoutMs: 3_000,
        drainPollIntervalMs: 20,
        rebootTimeoutMs: 3_000,
        watchTimeoutSeconds: 5,
      },
      ...overrides,
    };
  }

  async #serve(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const text = Buffer.concat(chunks).toString("utf8");
    const url = new URL(req.url ?? "/", "https://stub");
    const call: RecordedCall = {
      method: req.method ?? "GET",
      path: url.pathname,
      query: url.search.slice(1),
      body: text === "" ? undefined : (JSON.parse(text) as unknown),
      at: Date.now(),
    };
    this.calls.push(call);
    if (url.pathname.startsWith("/bottlerocket-node-resource")) return this.#brupop(req, res, call);
    if (req.headers.authorization !== `Bearer ${KUBE_TOKEN}`) return void res.writeHead(401).end();
    const brsPath = `/apis/${API_GROUP}/v2/namespaces/${this.namespace}/${PLURAL}`;
    const kind = url.pathname === brsPath ? "brs" : url.pathname === "/api/v1/nodes" ? "node" : undefined;
    if (kind === undefined || req.method !== "GET") return void res.writeHead(404).end();
    const expected = `metadata.name=${kind === "brs" ? brsName(this.nodeName) : this.nodeName}`;
    if (url.searchParams.get("fieldSelector") !== expected)
      return void res.writeHead(400).end("field selector required");
    const object = kind === "brs" ? this.#brs : this.#node;
    if (url.searchParams.get("watch") !== "1") {
      const list = { kind: "List", metadata: { resourceVersion: String(this.#rv) }, items: object ? [object] : [] };
      return void res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify(list));
    }
    if (this.#goneNext > 0) {
      this.#goneNext--;
      return void res.writeHead(410).end();
    }
    if (this.#busyNext.times > 0) {
      this.#busyNext.times--;
      return void res.writeHead(429, { "retry-after": String(this.#busyNext.retryAfterSeconds) }).end();
    }
    res.writeHead(200, { "content-type": "application/json" });
    const from = Number(url.searchParams.get("resourceVersion"));
    // Anything newer than the client's resourceVersion is replayed, as the API server does from its watch cache.
    if (object && Number(object.metadata.resourceVersion) > from)
      res.write(`${JSON.stringify({ type: "MODIFIED", object })}\n`);
    const watcher: Watcher = { kind, res };
    this.#watchers.add(watcher);
    res.on("close", () => this.#watchers.delete(watcher));
  }

  async #brupop(req: IncomingMessage, res: ServerResponse, call: RecordedCall): Promise<void> {
    const header = (name: string): string | undefined => {
      const value = req.headers[name.toLowerCase()];
      return typeof value === "string" ? value : undefined;
    };
    if (header(HEADER_AUTH_TOKEN) !== this.apiServerToken) return void res.writeHead(403).end("bad token");
    if (header(HEADER_NODE_NAME) !== this.nodeName || header(HEADER_NODE_UID) !== this.#node.metadata.uid) {
      return void res.writeHead(403).end("node mismatch");
    }
    const override = await this.hook?.(call);
    if (override !== undefined) return void res.writeHead(override).end("injected failure");
    const route = `${call.method} ${call.path}`;
    switch (route) {
      case "POST /bottlerocket-node-resource":
        if (this.#brs) return void res.writeHead(500).end("already exists");
        this.#brs = this.#newShadow({ state: "Idle", version: null, state_transition_timestamp: null });
        this.#changed("brs", "ADDED");
        return void res.writeHead(200).end(JSON.stringify(this.#brs));
      case "PUT /bottlerocket-node-resource": {
        const checked = validateShadowStatus(call.body);
        if (!checked.ok) return void res.writeHead(400).end(checked.message);
        if (!this.#brs) return void res.writeHead(500).end("no brs");
        this.#brs.status = call.body;
        this.statuses.push(call.body as AgentStatus);
        this.#changed("brs");
        return void res.writeHead(200).end(JSON.stringify(call.body));
      }
      case "POST /bottlerocket-node-resource/cordon-and-drain":
      case "POST /bottlerocket-node-resource/uncordon":
        this.#node.spec.unschedulable = route.endsWith("cordon-and-drain");
        this.#changed("node");
        return void res.writeHead(200).end();
      case "POST /bottlerocket-node-resource/exclude-from-lb":
      case "POST /bottlerocket-node-resource/remove-exclusion-from-lb": {
        const labels = { ...this.#node.metadata.labels };
        if (route.endsWith("/exclude-from-lb"))
          labels["node.kubernetes.io/exclude-from-external-load-balancers"] = "True";
        else delete labels["node.kubernetes.io/exclude-from-external-load-balancers"];
        this.#node.metadata.labels = labels;
        this.#changed("node");
        return void res.writeHead(200).end();
      }
      case "POST /bottlerocket-node-resource/drain":
        if (!this.asyncDrain) return void res.writeHead(404).end();
        this.#drain ??= { id: `drain-${++this.#drains}`, phase: "evicting", message: "evicting 1 pod", polls: 0 };
        this.#node.spec.unschedulable = true;
        this.#changed("node");
        return void res.writeHead(202).end(JSON.stringify({ started: true, drain: this.#drain }));
      case "GET /bottlerocket-node-resource/drain": {
        if (this.asyncDrain && this.staleDrain) {
          return void res.writeHead(200).end(JSON.stringify({ drain: this.staleDrain, blockers: [] }));
        }
        const drain = this.#drain;
        if (!this.asyncDrain || !drain) return void res.writeHead(404).end(JSON.stringify({ code: "NoDrain" }));
        if (++drain.polls >= this.drainOutcome.afterPolls) {
          drain.phase = this.drainOutcome.phase;
          drain.message = this.drainOutcome.message;
          this.#drain = undefined; // finished: the next POST starts a new one
        }
        return void res.writeHead(200).end(JSON.stringify({ drain, blockers: this.drainOutcome.blockers ?? [] }));
      }
      default:
        return void res.writeHead(404).end();
    }
  }
}

export async function startStubCluster(options: StubOptions = {}): Promise<StubCluster> {
  const stub = new StubCluster(options);
  await stub.start();
  return stub;
}
