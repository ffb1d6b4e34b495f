// The controller's plain-HTTP endpoints: /metrics (Prometheus text, like brupop's on :8080), /livez and /readyz.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import type { Registry } from "../metrics/registry.ts";

// Not `import { createServer } from "node:http"`: that ES import evaluates every lazy export of node:http and loads
// Node's bundled undici, 17 MiB of RSS this process never uses (docs/design/footprint.md).
const { createServer } = process.getBuiltinModule("node:http");

export interface HealthSource {
  /** Live: the process can do its work (workers not wedged). */
  live(): boolean;
  /** Ready: caches synced. A standby replica is ready: it can take over at once. */
  ready(): boolean;
}

export interface MetricsServer {
  readonly port: number;
  close(): Promise<void>;
}

export async function serveMetrics(
  registry: Registry,
  health: HealthSource,
  listen: { host: string; port: number },
): Promise<MetricsServer> {
  const server: Server = createServer((req, res) => {
    const path = (req.url ?? "/").split("?")[0];
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.writeHead(405, { allow: "GET, HEAD" }).end();
      return;
    }
    if (path === "/metrics") {
      registry.metrics().then(
        (text) => res.writeHead(200, { "content-type": registry.contentType }).end(text),
        (err: unknown) => res.writeHead(500, { "content-type": "text/plain" }).end(String(err)),
      );
      return;
    }
    if (path === "/livez" || path === "/readyz") {
      const ok = path === "/livez" ? health.live() : health.ready();
      res.writeHead(ok ? 200 : 503, { "content-type": "text/plain" }).end(ok ? "ok" : "not ready");
      return;
    }
    res.writeHead(404, { "content-type": "text/plain" }).end("not found");
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(listen.port, listen.host, () => resolve());
  });
  return {
    port: (server.address() as AddressInfo).port,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}
