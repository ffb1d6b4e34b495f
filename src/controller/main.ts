// Entry point of the controller Deployment: `node src/controller/main.ts`. Parses the environment (all problems at
// once, then exit 1), checks the fleet policy variables, runs the controller, exits on a lost lease, and on
// SIGTERM/SIGINT stops gracefully (releasing the lease so the other replica takes over at once).
import { setFlagsFromString } from "node:v8";
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { KubeClient } from "../kube/client.ts";
import { loadConnection } from "../kube/connection.ts";
import { pino } from "pino";
import { formattedDestination } from "../logging/format.ts";
import { parseLogSettings } from "../logging/settings.ts";
import { resolveFleetPolicy } from "../core/policy.ts";
import { registerProcessMetrics } from "../metrics/process.ts";
import { ConfigError, parseControllerConfig } from "./config.ts";
import { Controller } from "./controller.ts";
import { autoLabellerFromEnv } from "./auto-label.ts";

const SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";

function serviceAccountNamespace(): string | undefined {
  try {
    return readFileSync(SERVICE_ACCOUNT_NAMESPACE, "utf8").trim() || undefined;
  } catch {
    return undefined; // not in a cluster
  }
}

// V8 sizes its heap for memory rather than speed: 2 MiB less at rest. Set here because the image's `#!` launchers
// carry one node flag only, --max-opt=1 (docs/adr/0009-runtime-flags.md).
setFlagsFromString("--optimize-for-size");

async function main(): Promise<void> {
  // brupop's LOGGING_FORMATTER, LOGGING_ANSI_ENABLED, TRACING_FILTER_DIRECTIVE, and LOG_LEVEL (src/logging).
  const logging = parseLogSettings(process.env, "controller");
  const logger = logging.ok
    ? pino(
        { name: "brupop-controller", level: logging.settings.level },
        formattedDestination(logging.settings.formatter, logging.settings.ansi),
      )
    : pino({ name: "brupop-controller" });
  if (!logging.ok) {
    logger.fatal(`invalid logging configuration: ${logging.errors.join("; ")}`);
    process.exit(1);
  }
  const log = {
    info: (m: string) => logger.info(m),
    warn: (m: string) => logger.warn(m),
    error: (m: string) => logger.error(m),
  };
  let config;
  try {
    config = parseControllerConfig(process.env, {
      ...(serviceAccountNamespace() === undefined ? {} : { serviceAccountNamespace: serviceAccountNamespace() }),
      hostname: hostname(),
    });
  } catch (err) {
    if (!(err instanceof ConfigError)) throw err;
    logger.fatal(err.message);
    process.exit(1);
  }
  // The policy resource may override (and so fix) a bad variable; still say at startup what is wrong with them.
  const envOnly = resolveFleetPolicy(process.env, null, new Date());
  for (const warning of envOnly.warnings) log.warn(warning);
  if (!envOnly.ok) {
    log.warn(
      `fleet policy variables: ${envOnly.errors.join("; ")} (no update starts unless the policy resource overrides them)`,
    );
  }

  const client = new KubeClient(await loadConnection(), { userAgent: "brupop-controller" });
  const controller = new Controller({
    client,
    config,
    log,
    onLeadershipLost: () => {
      // Another replica may already act; exit at once and let Kubernetes restart us as a standby.
      process.exit(1);
    },
  });

  // The process's own metrics (memory, CPU, event loop delay) beside the controller's, as the API server has them.
  registerProcessMetrics(controller.metrics.registry);

  // Off unless AUTO_LABEL_NODES=true; a bad value is a startup error naming the variable.
  const labeller = autoLabellerFromEnv(process.env, {
    client,
    log,
    events: controller.events,
    nodeSelector: config.extraNodeSelector,
  });

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.info(`${signal}: stopping, releasing the lease`);
    const force = setTimeout(() => process.exit(1), 20_000);
    force.unref();
    Promise.all([controller.stop(), labeller?.stop()]).then(
      () => process.exit(0),
      (err: unknown) => {
        log.error(`stopping: ${String(err)}`);
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => shutdown("SIGTERM"));
  process.on("SIGINT", () => shutdown("SIGINT"));

  await controller.start();
  log.info(
    `caches synced in namespace ${config.namespace}; metrics on :${controller.metricsPort ?? config.metrics.port}`,
  );
  // A SIGTERM before this replica leads (a standby's usual end) is a clean stop: shutdown() exits with 0.
  await controller.whenLeading().catch((err: unknown) => {
    if (!stopping) throw err;
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
