// Entry point of the node agent (DaemonSet): `node src/agent/main.ts`. Imports only the agent's own modules, the
// host client and pure API constants: no Kubernetes client library, no TypeBox, no undici (RSS budget 50 MiB).
// Exits 0 on SIGTERM/SIGINT after stopping cleanly; exits 1 with the reason in TERMINATION_LOG on a fatal error.
import { readFileSync, writeFileSync } from "node:fs";
import { Agent } from "./agent.ts";
import { AgentConfigError, parseAgentConfig } from "./config.ts";
import { parseLogSettings } from "../logging/settings.ts";
import { agentLogger, type Logger } from "./log.ts";
import { startHealthServer } from "./health.ts";

/** A stop that takes longer than this (a request ignoring its abort) ends the process anyway. */
const STOP_GRACE_MS = 10_000;

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, "utf8");
  } catch {
    return undefined;
  }
}

function fatal(log: Logger, message: string, path: string): never {
  log.error(message);
  try {
    writeFileSync(path, message);
  } catch {
    // No termination log mounted (e.g. run by hand): the log line is enough.
  }
  process.exit(1);
}

function main(): void {
  const terminationLog = process.env.TERMINATION_LOG ?? "/dev/termination-log";
  let log = agentLogger({ component: "agent" });
  const logging = parseLogSettings(process.env, "agent");
  if (!logging.ok) fatal(log, logging.errors.join("; "), terminationLog);
  log = agentLogger({ component: "agent" }, logging.settings);
  let config;
  try {
    config = parseAgentConfig(process.env, readText);
  } catch (error) {
    const message = error instanceof AgentConfigError || error instanceof Error ? error.message : String(error);
    fatal(log, message, terminationLog);
  }
  log = agentLogger({ component: "agent", node: config.nodeName }, logging.settings);
  const agent = new Agent({ config, log });

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    log.info("stopping", { signal });
    setTimeout(
      () => fatal(log, `did not stop within ${STOP_GRACE_MS} ms`, config.terminationLogPath),
      STOP_GRACE_MS,
    ).unref();
    agent.stop().then(
      () => process.exit(0),
      (error: unknown) => fatal(log, `stopping failed: ${String(error)}`, config.terminationLogPath),
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));

  if (config.healthPort !== null) {
    startHealthServer(config.healthPort, () => agent.ready).catch((error: unknown) =>
      fatal(log, `health server on port ${config.healthPort}: ${String(error)}`, config.terminationLogPath),
    );
  }
  agent.run().catch((error: unknown) => fatal(log, `agent failed: ${String(error)}`, config.terminationLogPath));
}

main();
