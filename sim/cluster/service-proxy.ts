// The simulated cluster's stand-in for a ClusterIP Service with `sessionAffinity: ClientIP` (as the manifest's
// brupop-apiserver Service): a TCP proxy on 127.0.0.1 that sends a client to the same live backend (an API server
// process) every time, the way kube-proxy pins a client IP to one ready endpoint, and fails over to the next one
// when that backend is gone. Service IPs are not routable here, so agents (and the CRD's conversion webhook) use this address.
// A backend that refuses the connection is skipped (a process being restarted or stopped), as kube-proxy's endpoints
// would drop it; TLS passes through untouched, so clients verify the API server's own certificate.
import { connect, createServer, type Server, type Socket } from "node:net";

export interface ServiceProxy {
  readonly port: number;
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  /** Connections accepted and failed (no backend could be reached) so far. */
  readonly stats: { readonly accepted: number; readonly failed: number };
  stop(): Promise<void>;
}

export interface ServiceProxyOptions {
  /** Backend ports right now (called for each connection). */
  readonly backends: () => readonly number[];
  /** Port to listen on; 0 (default) lets the OS pick. */
  readonly port?: number;
  readonly log?: (line: string) => void;
}

export async function startServiceProxy(options: ServiceProxyOptions): Promise<ServiceProxy> {
  const stats = { accepted: 0, failed: 0 };
  const sockets = new Set<Socket>();
  const track = (s: Socket) => {
    sockets.add(s);
    s.on("close", () => sockets.delete(s));
  };

  // An outage (no backend accepts connections: all of them starting or stopped) is logged once when it begins and
  // once when it ends, not once per refused client: the agents retry, and a line each would read like errors.
  let outage: { since: number; refused: number } | undefined;
  const refused = (known: number) => {
    if (outage !== undefined) {
      outage.refused++;
      return;
    }
    outage = { since: Date.now(), refused: 1 };
    options.log?.(
      `no backend accepts connections (${known} known, starting or stopping): refusing clients until one does`,
    );
  };
  const served = () => {
    if (outage === undefined) return;
    const { since, refused: count } = outage;
    outage = undefined;
    options.log?.(
      `a backend accepts connections again after ${((Date.now() - since) / 1000).toFixed(1)} s ` +
        `(${count} connection${count === 1 ? "" : "s"} refused meanwhile)`,
    );
  };

  const server: Server = createServer((client) => {
    stats.accepted++;
    track(client);
    client.pause();
    client.on("error", () => undefined);
    const ports = [...options.backends()].sort((a, b) => a - b);
    const start = affinityIndex(client.remoteAddress ?? "", ports.length);
    const attempt = (i: number): void => {
      if (client.destroyed) return;
      if (i >= ports.length) {
        stats.failed++;
        // No endpoints at all is normal while the Deployment starts; say so only when known backends all failed.
        if (ports.length > 0) refused(ports.length);
        client.destroy();
        return;
      }
      const port = ports[(start + i) % ports.length];
      if (port === undefined) return attempt(i + 1);
      const upstream = connect({ host: "127.0.0.1", port });
      track(upstream);
      const onConnectError = () => {
        upstream.destroy();
        attempt(i + 1);
      };
      upstream.once("error", onConnectError);
      upstream.once("connect", () => {
        served();
        upstream.off("error", onConnectError);
        upstream.on("error", () => client.destroy());
        client.on("error", () => upstream.destroy());
        upstream.on("close", () => client.destroy());
        client.on("close", () => upstream.destroy());
        client.pipe(upstream);
        upstream.pipe(client);
        client.resume();
      });
    };
    attempt(0);
  });

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(options.port ?? 0, "127.0.0.1", () => {
      server.off("error", reject);
      resolve();
    });
  });
  const address = server.address();
  const port = address !== null && typeof address === "object" ? address.port : 0;
  return {
    port,
    url: `https://127.0.0.1:${port}`,
    stats,
    async stop() {
      const closed = new Promise<void>((resolve) => server.close(() => resolve()));
      for (const s of sockets) s.destroy();
      await closed;
    },
  };
}

/** The client's backend among `count`: a stable hash of its address, as ClientIP affinity pins it. */
function affinityIndex(address: string, count: number): number {
  let hash = 0;
  for (const char of address) hash = (hash * 31 + char.charCodeAt(0)) >>> 0;
  return count === 0 ? 0 : hash % count;
}
