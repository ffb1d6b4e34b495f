// Entry point of the API server process: configuration from the environment (config.ts), TLS from files or the
// built-in CA, the HTTPS app, /metrics on its own plain port, certificate reload without restart, and a graceful
// shutdown on SIGTERM (agents are told to retry elsewhere; running drains are cancelled, nodes stay cordoned).
import { readFileSync, writeFileSync } from "node:fs";
import type { Server as HttpServer } from "node:http";
import type { Server as HttpsServer } from "node:https";
import closeWithGrace from "close-with-grace";
import { KubeClient } from "../kube/client.ts";
import { loadConnection } from "../kube/connection.ts";
import { pino, type Logger } from "pino";
import { formattedDestination } from "../logging/format.ts";
import { parseApiServerConfig, type ApiServerConfig } from "./config.ts";
import { SERVER_TIMEOUTS } from "./limits.ts";
import { createApiServer } from "./server.ts";
import { ensureBuiltinTls } from "./tls/builtin.ts";
import { readTlsFiles, watchTlsFiles } from "./tls/files.ts";
import { nextCheckDelayMs } from "./tls/rotation.ts";
import type { TlsMaterial } from "./tls/material.ts";
import type { ApiServerMetrics } from "./metrics.ts";

// Not ES imports of node:http(s): they evaluate every lazy export and load Node's bundled undici, 17 MiB of RSS
// this process never uses (docs/design/footprint.md).
const { createServer: createHttpServer } = process.getBuiltinModule("node:http");
const { createServer: createHttpsServer } = process.getBuiltinModule("node:https");

const SERVICE_ACCOUNT_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

function readOptional(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

/** Writes a fatal error where Kubernetes shows it (`kubectl describe pod`), as brupop did. */
function fatal(message: string, terminationLogPath = process.env.TERMINATION_LOG ?? "/dev/termination-log"): never {
  process.stderr.write(`${message}\n`);
  try {
    writeFileSync(terminationLogPath, message);
  } catch {
    // not in a pod: stderr is enough
  }
  process.exit(1);
}

/** The TLS material now, and a way to keep it current in the running server. */
async function startTls(
  config: ApiServerConfig,
  client: KubeClient,
  log: Logger,
): Promise<{ material: TlsMaterial; watch: (apply: (m: TlsMaterial) => void) => () => void }> {
  const { tls } = config;
  if (tls.mode === "files") {
    const material = await readTlsFiles(tls);
    return { material, watch: (apply) => watchTlsFiles(tls, material, tls.reloadIntervalMs, apply, log) };
  }
  const service = tls.serviceName;
  const ns = config.namespace;
  const builtin = {
    client,
    namespace: ns,
    caSecret: tls.caSecret,
    servingSecret: tls.servingSecret,
    publishSecret: tls.publishSecret,
    dnsNames: [service, `${service}.${ns}`, `${service}.${ns}.svc`, `${service}.${ns}.svc.${tls.clusterDomain}`],
    // What agents and kube-apiserver connect to; brupop's cert-manager certificate (*.<ns>.svc...) covers them.
    requiredDnsNames: [`${service}.${ns}.svc`, `${service}.${ns}.svc.${tls.clusterDomain}`],
    ...(tls.adoptCaSecret === "" ? {} : { adoptCaSecret: tls.adoptCaSecret }),
    crdNames: tls.crdNames,
    caPropagationDelayMs: tls.caPropagationDelayMs,
    log,
  };
  const first = await ensureBuiltinTls(builtin);
  return {
    material: first.material,
    // Re-checked every interval, and sooner when something falls due (a CA rotation's switch, a renewal, an
    // expiry); new material goes into the running server without a restart.
    watch: (apply) => {
      let current = first.material;
      let timer: ReturnType<typeof setTimeout> | undefined;
      let stopped = false;
      const schedule = (recheckAt: Date | undefined, failed = false) => {
        if (stopped) return;
        timer = setTimeout(check, nextCheckDelayMs(recheckAt, new Date(), tls.checkIntervalMs, failed));
        timer.unref();
      };
      const check = () => {
        ensureBuiltinTls(builtin).then(
          ({ material, recheckAt }) => {
            if (material.cert !== current.cert || material.key !== current.key) {
              current = material;
              apply(material);
              log.info("TLS certificate reloaded from the built-in CA");
            }
            schedule(recheckAt);
          },
          (err: unknown) => {
            log.warn({ err: String(err) }, "built-in certificate check failed; will retry");
            schedule(undefined, true);
          },
        );
      };
      schedule(first.recheckAt);
      return () => {
        stopped = true;
        clearTimeout(timer);
      };
    },
  };
}

function startMetricsServer(metrics: ApiServerMetrics, host: string, port: number, log: Logger): HttpServer {
  const server = createHttpServer((req, res) => {
    if (req.method !== "GET" || req.url?.split("?")[0] !== "/metrics") {
      res.writeHead(404, { "content-type": "application/json" }).end('{"code":404,"reason":"NotFound"}');
      return;
    }
    metrics.registry
      .metrics()
      .then((text) => res.writeHead(200, { "content-type": metrics.registry.contentType }).end(text))
      .catch((err: unknown) => {
        log.error({ err }, "collecting metrics failed");
        res.writeHead(500).end();
      });
  });
  server.listen(port, host);
  return server;
}

async function main(): Promise<void> {
  const parsed = parseApiServerConfig(process.env, readOptional(SERVICE_ACCOUNT_NAMESPACE_FILE));
  if (!parsed.ok) fatal(`invalid configuration:\n  ${parsed.errors.join("\n  ")}`);
  const { config } = parsed;
  const { level, formatter, ansi } = config.logging;
  const log = pino({ level, base: { component: "apiserver" } }, formattedDestination(formatter, ansi));
  const client = new KubeClient(await loadConnection(), { userAgent: "brupop-apiserver" });

  let tls: Awaited<ReturnType<typeof startTls>>;
  try {
    tls = await startTls(config, client, log);
  } catch (err) {
    fatal(`cannot set up TLS: ${err instanceof Error ? err.message : String(err)}`, config.terminationLogPath);
  }
  let https: HttpsServer | undefined;
  const server = createApiServer({
    client,
    log,
    namespace: config.namespace,
    agentServiceAccount: config.agentServiceAccount,
    drain: config.drain,
    syncDrainTimeoutMs: config.syncDrainTimeoutMs,
    tokenCache: config.tokenCache,
    ...(config.rateLimit ? { rateLimit: config.rateLimit } : {}),
    bodyLimitBytes: config.bodyLimitBytes,
    // The other timeouts (headers, request, keep-alive) are the app's to set (limits.ts); these two only exist here.
    serverFactory: (handler) => {
      https = createHttpsServer(
        {
          cert: tls.material.cert,
          key: tls.material.key,
          handshakeTimeout: SERVER_TIMEOUTS.tlsHandshakeMs,
          connectionsCheckingInterval: SERVER_TIMEOUTS.checkIntervalMs,
        },
        handler,
      );
      return https;
    },
  });
  const stopTlsWatch = tls.watch((material) => https?.setSecureContext({ cert: material.cert, key: material.key }));
  const metricsServer = startMetricsServer(server.metrics, config.host, config.metricsPort, log);

  closeWithGrace({ delay: config.shutdownGraceMs }, async ({ signal, err }) => {
    if (err) log.error({ err }, "shutting down after an error");
    else log.info({ signal }, "shutting down");
    stopTlsWatch();
    await server.shutdown();
    await new Promise<void>((resolve) => metricsServer.close(() => resolve()));
  });

  await server.app.listen({ host: config.host, port: config.port });
  log.info(
    { port: config.port, metricsPort: config.metricsPort, namespace: config.namespace, tls: config.tls.mode },
    "API server listening",
  );
  // Serving starts at once (probes, conversion webhook); agent requests pass once the caches are synced.
  server.startCaches().then(
    () => log.info("agent pod and node caches synced"),
    (err: unknown) => log.error({ err }, "caches failed to start"),
  );
}

await main();
