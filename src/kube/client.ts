// The controller's and the API server's Kubernetes client: JSON over node:https with kept-alive connections (one
// Agent per client, shared by its fenced copies), every request bounded by a timeout and an optional AbortSignal,
// and a streaming watch. Hand-written instead of @kubernetes/client-node, whose generated models cannot be left out
// of a bundle and make most of a component's memory (src/kube/README.md, docs/design/footprint.md).
//
// Objects travel as the wire has them: timestamps are strings (RFC 3339), not Dates.
import type * as Http from "node:http";
import type * as Https from "node:https";
import type { Connection } from "./connection.ts";

// Not `import https from "node:https"`: an ESM import of node:http(s) evaluates every lazy export, including the
// fetch/WebSocket classes that load Node's bundled undici (~9 MiB RSS); getBuiltinModule leaves them unloaded.
const http = process.getBuiltinModule("node:http");
const https = process.getBuiltinModule("node:https");
const tls = process.getBuiltinModule("node:tls");

/**
 * Connections to kube-apiserver at once, by default (watches have a pool of their own); more requests wait for one.
 * HTTP/1.1 carries one request per connection: without a bound a burst of writes (a fleet pass's starts, a drain's
 * evictions) opens as many TLS connections as it has requests.
 */
const MAX_CONNECTIONS = 32;
/** Connections kept open between bursts. */
const MAX_IDLE_CONNECTIONS = 8;

const DEFAULT_USER_AGENT = "bottlerocket-update-operator";

/** Bound on a request without its own: connect to last byte. */
const DEFAULT_TIMEOUT_MS = 30_000;
/**
 * No byte for this long: the watch's connection is dead. kube-apiserver sends a bookmark to every watch that asks
 * for them about once a minute, so silence this long means a half-open connection, not a quiet resource.
 */
const DEFAULT_WATCH_IDLE_MS = 3 * 60_000;

export type Query = Readonly<Record<string, string | number | boolean | undefined>>;

export interface RequestOptions {
  readonly query?: Query;
  readonly signal?: AbortSignal;
  readonly timeoutMs?: number;
}

/** merge: RFC 7386; strategic: Kubernetes' strategic merge; json: RFC 6902. */
export type PatchType = "merge" | "strategic" | "json";
const PATCH_CONTENT_TYPE: Record<PatchType, string> = {
  merge: "application/merge-patch+json",
  strategic: "application/strategic-merge-patch+json",
  json: "application/json-patch+json",
};

/** An HTTP error answer: `code` is the status, `body` the raw body (a metav1.Status as JSON, usually). */
export class KubeApiError extends Error {
  override readonly name = "KubeApiError";
  readonly code: number;
  readonly body: string;
  constructor(method: string, path: string, code: number, body: string) {
    super(`${method} ${path}: HTTP ${code}: ${statusMessage(body) ?? body.slice(0, 200)}`);
    this.code = code;
    this.body = body;
  }
}

function statusMessage(body: string): string | undefined {
  try {
    const message = (JSON.parse(body) as { message?: unknown }).message;
    return typeof message === "string" ? message : undefined;
  } catch {
    return undefined;
  }
}

export interface WatchEvent<T> {
  readonly type: "ADDED" | "MODIFIED" | "DELETED" | "BOOKMARK" | "ERROR";
  readonly object: T;
}

export interface WatchOptions extends RequestOptions {
  /** No byte for this long ends the watch with an error (default 3 minutes). */
  readonly idleMs?: number;
}

/** Shared by a client and its fenced copies: one pool of kept-alive connections. */
interface Transport {
  readonly connection: Connection;
  readonly userAgent: string;
  readonly base: URL;
  readonly agent: Http.Agent;
  /** Watches hold a connection each for as long as they run: their own pool, so they never wait for a request's. */
  readonly watchAgent: Http.Agent;
  readonly secure: boolean;
}

/** Module-private: how `fenced()` hands its transport to the copy. */
const SHARE = Symbol("share");
interface Shared {
  readonly transport: Transport;
  readonly fence: () => AbortSignal;
}

function transport(connection: Connection, userAgent: string, maxConnections: number): Transport {
  const base = new URL(connection.server);
  const secure = base.protocol === "https:";
  const pool = { keepAlive: true, maxSockets: maxConnections, maxFreeSockets: MAX_IDLE_CONNECTIONS };
  if (!secure) {
    const agent = new http.Agent(pool);
    return { connection, userAgent, base, secure, agent, watchAgent: new http.Agent({ keepAlive: true }) };
  }
  // One TLS context for every connection: given ca/cert/key instead, each new socket parses them into a context
  // of its own (native memory, and CPU in every burst of new connections).
  const secureContext = tls.createSecureContext({
    ...(connection.ca === undefined ? {} : { ca: connection.ca }),
    ...(connection.cert === undefined ? {} : { cert: connection.cert }),
    ...(connection.key === undefined ? {} : { key: connection.key }),
  });
  const agentOptions: Https.AgentOptions = {
    keepAlive: true,
    secureContext,
    ...(connection.tlsServerName === undefined ? {} : { servername: connection.tlsServerName }),
    rejectUnauthorized: connection.insecureSkipTlsVerify !== true,
  };
  return {
    connection,
    userAgent,
    base,
    secure,
    agent: new https.Agent({ ...agentOptions, ...pool }),
    watchAgent: new https.Agent(agentOptions),
  };
}

export class KubeClient {
  readonly #transport: Transport;
  readonly #fence: (() => AbortSignal) | undefined;
  readonly #timeoutMs: number;

  /**
   * `userAgent` names the component in kube-apiserver's audit log and, for writes without a fieldManager, in the
   * objects' managedFields (e.g. who cordoned a Node).
   */
  constructor(
    connection: Connection,
    options: { timeoutMs?: number; userAgent?: string; maxConnections?: number; [SHARE]?: Shared } = {},
  ) {
    this.#timeoutMs = options.timeoutMs ?? DEFAULT_TIMEOUT_MS;
    const shared = options[SHARE];
    this.#fence = shared?.fence;
    this.#transport =
      shared?.transport ??
      transport(connection, options.userAgent ?? DEFAULT_USER_AGENT, options.maxConnections ?? MAX_CONNECTIONS);
  }

  /**
   * A copy on the same connections whose every request first asks `fence` for the signal that ends the right to
   * send it (`fence` throws once that right has ended), and is aborted by that signal in flight.
   */
  fenced(fence: () => AbortSignal): KubeClient {
    const transport = this.#transport;
    return new KubeClient(transport.connection, { timeoutMs: this.#timeoutMs, [SHARE]: { transport, fence } });
  }

  /** Closes idle kept-alive connections (at shutdown; requests after it open new ones). */
  close(): void {
    this.#transport.agent.destroy();
    this.#transport.watchAgent.destroy();
  }

  get<T>(path: string, options?: RequestOptions): Promise<T> {
    return this.request<T>("GET", path, undefined, options);
  }

  create<T>(path: string, body: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>("POST", path, body, options);
  }

  replace<T>(path: string, body: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>("PUT", path, body, options);
  }

  patch<T>(path: string, type: PatchType, body: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>("PATCH", path, body, options, PATCH_CONTENT_TYPE[type]);
  }

  /** DELETE, with an optional body (DeleteOptions: preconditions, propagationPolicy, gracePeriodSeconds). */
  delete<T = unknown>(path: string, body?: unknown, options?: RequestOptions): Promise<T> {
    return this.request<T>("DELETE", path, body, options);
  }

  /** One JSON exchange; rejects with KubeApiError on a status ≥ 400, with a transport error, or on abort. */
  async request<T>(
    method: string,
    path: string,
    body: unknown,
    options: RequestOptions = {},
    contentType = "application/json",
  ): Promise<T> {
    const timeoutMs = options.timeoutMs ?? this.#timeoutMs;
    const timeout = AbortSignal.timeout(timeoutMs);
    const signal = this.#signal(options.signal, timeout);
    const payload = body === undefined ? undefined : JSON.stringify(body);
    try {
      const res = await this.#open(method, path, options.query, payload, contentType, signal);
      const chunks: Buffer[] = [];
      for await (const chunk of res) chunks.push(chunk as Buffer);
      const text = Buffer.concat(chunks).toString("utf8");
      const code = res.statusCode ?? 0;
      if (code >= 400) throw new KubeApiError(method, path, code, text);
      return (text === "" ? undefined : JSON.parse(text)) as T;
    } catch (err) {
      throw this.#failure(err, method, path, signal, timeout, timeoutMs);
    }
  }

  /**
   * Watches `path` (a collection) and calls `onEvent` for every event, in order. Resolves when the server ends the
   * watch (its timeoutSeconds passed); rejects with KubeApiError for an HTTP error or an ERROR event (410 Gone:
   * re-list), with a transport error, after `idleMs` without a byte, or with the abort reason.
   */
  async watch<T>(path: string, onEvent: (event: WatchEvent<T>) => void, options: WatchOptions = {}): Promise<void> {
    const idle = new AbortController();
    const signal = this.#signal(options.signal, idle.signal);
    const idleMs = options.idleMs ?? DEFAULT_WATCH_IDLE_MS;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => idle.abort(new Error(`watch ${path}: no byte for ${idleMs} ms`)), idleMs);
      timer.unref();
    };
    arm();
    try {
      const res = await this.#open("GET", path, { ...options.query, watch: true }, undefined, "", signal, true);
      const code = res.statusCode ?? 0;
      if (code >= 400) {
        const chunks: Buffer[] = [];
        for await (const chunk of res) chunks.push(chunk as Buffer);
        throw new KubeApiError("GET", path, code, Buffer.concat(chunks).toString("utf8"));
      }
      res.setEncoding("utf8"); // a character split across chunks is decoded whole
      let rest = "";
      for await (const chunk of res) {
        arm();
        const lines = (rest + (chunk as string)).split("\n");
        rest = lines.pop() ?? "";
        for (const line of lines) {
          if (line.trim() === "") continue;
          const event = JSON.parse(line) as WatchEvent<T>;
          if (event.type === "ERROR") {
            const status = event.object as { code?: unknown };
            throw new KubeApiError("GET", path, typeof status.code === "number" ? status.code : 500, line);
          }
          onEvent(event);
        }
      }
    } catch (err) {
      throw this.#failure(err, "WATCH", path, signal, idle.signal, idleMs);
    } finally {
      clearTimeout(timer);
    }
  }

  #signal(own: AbortSignal | undefined, bound: AbortSignal): AbortSignal {
    const fence = this.#fence?.(); // throws when the right to send has ended
    return AbortSignal.any([bound, ...(own === undefined ? [] : [own]), ...(fence === undefined ? [] : [fence])]);
  }

  #failure(err: unknown, method: string, path: string, signal: AbortSignal, bound: AbortSignal, ms: number): unknown {
    if (err instanceof KubeApiError) return err;
    if (signal.aborted && !bound.aborted) return signal.reason; // the caller's abort, or the fence's
    const where = `${method} ${path.split("?")[0] ?? path}`;
    if (bound.aborted) {
      const reason: unknown = bound.reason;
      return new Error(
        reason instanceof Error && method === "WATCH" ? reason.message : `${where}: no answer within ${ms} ms`,
        {
          cause: err,
        },
      );
    }
    return new Error(`${where}: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }

  async #open(
    method: string,
    path: string,
    query: Query | undefined,
    body: string | undefined,
    contentType: string,
    signal: AbortSignal,
    watch = false,
  ): Promise<Http.IncomingMessage> {
    const { base, secure, connection } = this.#transport;
    const agent = watch ? this.#transport.watchAgent : this.#transport.agent;
    const url = new URL(base.pathname.replace(/\/$/, "") + path, base);
    for (const [key, value] of Object.entries(query ?? {})) {
      if (value !== undefined) url.searchParams.set(key, String(value));
    }
    const headers: Record<string, string | number> = {
      accept: "application/json",
      "user-agent": this.#transport.userAgent,
    };
    const token = await connection.token?.();
    if (token !== undefined) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) {
      headers["content-type"] = contentType;
      headers["content-length"] = Buffer.byteLength(body);
    }
    signal.throwIfAborted();
    return new Promise((resolve, reject) => {
      const req = (secure ? https : http).request(url, { method, headers, agent, signal }, resolve);
      req.on("error", reject);
      req.end(body);
    });
  }
}
