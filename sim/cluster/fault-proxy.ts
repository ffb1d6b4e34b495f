// A network fault between one client and kube-apiserver: an HTTPS proxy that forwards each request as it is, and on
// demand holds new requests unanswered, silences the streams in flight (a partition), delays every answer (a slow
// network) or resets every connection (a dropped link). It terminates TLS, so it sees each request: its log is an
// outside record of what the client really sent and when (a lease renewal, a shadow write, a watch's
// resourceVersion), independent of the client's own account.
//
// Partition model: a request sent during a partition is held; when the partition heals it reaches the server late if
// its client still waits for it (TCP retransmits it), and is lost if the client gave up meanwhile (the connection was
// closed). Streams in flight pause and resume where they were.
import { readFile } from "node:fs/promises";
import type { IncomingHttpHeaders, IncomingMessage, ServerResponse } from "node:http";
import { Agent, createServer, request, type Server } from "node:https";
import { join } from "node:path";
import { KubeConfig } from "@kubernetes/client-node";
import { loadCertificateAuthority } from "../../src/pki/certificates.ts";

export interface FaultProxyOptions {
  /** kube-apiserver, `https://host:port`. */
  readonly upstream: string;
  /** The CA that signed the upstream's serving certificate. */
  readonly upstreamCaPem: string;
  /** A client certificate to present upstream; without it the client's own Authorization header is forwarded. */
  readonly upstreamIdentity?: { readonly certPem: string; readonly keyPem: string };
  /** The proxy's own serving certificate (for 127.0.0.1). */
  readonly serving: { readonly certPem: string; readonly keyPem: string };
  /**
   * Reuse upstream connections (keep-alive) instead of one per request: for counting a busy client's requests
   * without a TLS handshake each. Default false: a request's exchange is alone on its connection.
   */
  readonly upstreamKeepAlive?: boolean;
}

/** What became of one request. */
export type RequestFate = "forwarded" | "held" | "forwarded-late" | "abandoned";

export interface ProxiedRequest {
  readonly method: string;
  /** Path and query, as sent. */
  readonly url: string;
  /** Date.now() when the request reached the proxy. */
  readonly at: number;
  fate: RequestFate;
  /** The upstream's status, once its answer was passed on. */
  status?: number;
  /** Date.now() when the exchange ended (answered, or the connection closed). */
  closedAt?: number;
}

export interface FaultProxy {
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  /** Every request, in arrival order. */
  readonly log: readonly ProxiedRequest[];
  /** TLS connections clients opened to the proxy so far (a client that reuses connections opens few). */
  readonly connections: number;
  /** Holds new requests unanswered; exchanges already forwarded go on. */
  hold(): void;
  /** Holds new requests and silences every exchange in flight: nothing reaches the client any more. */
  partition(): void;
  /** Ends `hold` and `partition` (held requests whose client still waits are forwarded) and any delay. */
  heal(): void;
  /** Delays every upstream answer by `ms` before the client gets it (0: no delay). */
  delayAnswers(ms: number): void;
  /** Resets every connection in flight, as a dropped link would. */
  cut(): void;
  stop(): Promise<void>;
}

interface Exchange {
  readonly req: IncomingMessage;
  readonly res: ServerResponse;
  readonly entry: ProxiedRequest;
  upstream?: IncomingMessage;
  /** The upstream's answer is being piped to the client. */
  flowing: boolean;
}

const HOP_BY_HOP = ["connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection", "host"];

function withoutHopByHop(headers: IncomingHttpHeaders): IncomingHttpHeaders {
  return Object.fromEntries(Object.entries(headers).filter(([name]) => !HOP_BY_HOP.includes(name)));
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const upstream = new URL(options.upstream);
  const log: ProxiedRequest[] = [];
  const exchanges = new Set<Exchange>();
  const held: Exchange[] = [];
  let holding = false;
  let silenced = false;
  let delayMs = 0;
  const identity =
    options.upstreamIdentity === undefined
      ? {}
      : { cert: options.upstreamIdentity.certPem, key: options.upstreamIdentity.keyPem };
  const upstreamAgent =
    options.upstreamKeepAlive === true ? new Agent({ keepAlive: true, ca: options.upstreamCaPem, ...identity }) : false;

  const pass = (x: Exchange) => {
    const answer = x.upstream;
    if (answer === undefined || x.flowing || x.res.destroyed) return;
    x.flowing = true;
    if (!x.res.headersSent) {
      x.entry.status = answer.statusCode ?? 0;
      x.res.writeHead(answer.statusCode ?? 502, withoutHopByHop(answer.headers));
    }
    answer.pipe(x.res);
  };

  const forward = (x: Exchange) => {
    const up = request(
      {
        hostname: upstream.hostname,
        port: upstream.port,
        method: x.req.method ?? "GET",
        path: x.req.url ?? "/",
        headers: withoutHopByHop(x.req.headers),
        ca: options.upstreamCaPem,
        agent: upstreamAgent,
        ...identity,
      },
      (answer) => {
        x.upstream = answer;
        answer.pause();
        const deliver = () => {
          if (!silenced) pass(x);
        };
        if (delayMs > 0) setTimeout(deliver, delayMs);
        else deliver();
      },
    );
    up.on("error", () => x.res.destroy());
    x.res.on("close", () => up.destroy());
    x.req.pipe(up);
  };

  const server: Server = createServer({ cert: options.serving.certPem, key: options.serving.keyPem }, (req, res) => {
    const entry: ProxiedRequest = {
      method: req.method ?? "GET",
      url: req.url ?? "/",
      at: Date.now(),
      fate: holding ? "held" : "forwarded",
    };
    log.push(entry);
    const x: Exchange = { req, res, entry, flowing: false };
    exchanges.add(x);
    res.on("close", () => {
      entry.closedAt = Date.now();
      exchanges.delete(x);
      if (entry.fate === "held") entry.fate = "abandoned";
    });
    req.on("error", () => res.destroy());
    if (holding) held.push(x);
    else forward(x);
  });

  let connections = 0;
  server.on("secureConnection", () => connections++);

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = address !== null && typeof address === "object" ? address.port : 0;

  return {
    url: `https://127.0.0.1:${port}`,
    log,
    get connections() {
      return connections;
    },
    hold() {
      holding = true;
    },
    partition() {
      holding = true;
      silenced = true;
      for (const x of exchanges) {
        if (x.upstream === undefined || !x.flowing) continue;
        x.flowing = false;
        x.upstream.unpipe(x.res);
        x.upstream.pause();
      }
    },
    heal() {
      holding = false;
      silenced = false;
      delayMs = 0;
      for (const x of held.splice(0)) {
        if (x.res.destroyed || x.entry.fate !== "held") continue;
        x.entry.fate = "forwarded-late";
        forward(x);
      }
      for (const x of exchanges) pass(x);
    },
    delayAnswers(ms) {
      delayMs = ms;
    },
    cut() {
      server.closeAllConnections();
    },
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      server.closeAllConnections();
      if (upstreamAgent) upstreamAgent.destroy();
      await closed;
    },
  };
}

export interface ProxiedAccess {
  readonly proxy: FaultProxy;
  /** `kc`, through the proxy. */
  readonly kc: KubeConfig;
  /** PEM file of the CA that signed the proxy's (and kube-apiserver's) serving certificate. */
  readonly caFile: string;
}

/**
 * A fault proxy in front of a control plane of sim/control-plane (its CA signs the proxy's certificate). With
 * `asAdmin` it presents the client certificate of `kc` upstream (for clients of the returned `kc`); without it, it
 * forwards the client's own bearer token.
 */
export async function proxyKubeApiserver(options: {
  readonly server: string;
  readonly caPem: string;
  /** The control plane's pki directory (ca.crt, ca.key). */
  readonly pkiDir: string;
  readonly kc: KubeConfig;
  readonly asAdmin?: boolean;
  readonly upstreamKeepAlive?: boolean;
}): Promise<ProxiedAccess> {
  const caFile = join(options.pkiDir, "ca.crt");
  const ca = await loadCertificateAuthority(
    await readFile(caFile, "utf8"),
    await readFile(join(options.pkiDir, "ca.key"), "utf8"),
  );
  const serving = await ca.issue({ commonName: "fault-proxy", usages: ["server"], ipAddresses: ["127.0.0.1"] });
  const user = options.kc.getCurrentUser();
  const pem = (base64: string | undefined) => Buffer.from(base64 ?? "", "base64").toString("utf8");
  const proxy = await startFaultProxy({
    upstream: options.server,
    upstreamCaPem: options.caPem,
    serving,
    ...(options.upstreamKeepAlive === undefined ? {} : { upstreamKeepAlive: options.upstreamKeepAlive }),
    ...(options.asAdmin === true
      ? { upstreamIdentity: { certPem: pem(user?.certData), keyPem: pem(user?.keyData) } }
      : {}),
  });
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: options.kc.clusters.map((c) => ({ ...c, server: proxy.url })),
    users: options.kc.users,
    contexts: options.kc.contexts,
    currentContext: options.kc.currentContext,
  });
  return { proxy, kc, caFile };
}
