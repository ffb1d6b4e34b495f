// The API server's HTTP application: the HTTP layer (http/), what every request shares (JSON bodies bounded before
// they are parsed, JSON errors, request metrics, connection timeouts), and the route modules: probes and the
// conversion webhook without a token, brupop 1.4's agent routes (docs/design/brupop-compatibility.md#routes-and-headers)
// plus an asynchronous drain (docs/design/drain.md) behind the agent gate. Transport-agnostic: main.ts supplies the
// HTTPS server (serverFactory); tests use plain HTTP.
//
// Errors are JSON {code, reason, message, details?}; a 500 means a bug or a misconfiguration of ours, never bad input.
import type { RequestListener, Server as HttpServer } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { Logger } from "pino";
import { agentGate, type AgentRateLimit } from "./auth/gate.ts";
import type { AgentCredentials } from "./auth/headers.ts";
import type { AuthenticationResult } from "./auth/authenticator.ts";
import type { DrainRegistry } from "./drain/registry.ts";
import { HttpApp } from "./http/app.ts";
import { parseJsonBody } from "./http/json-body.ts";
import type { Lifecycle } from "./lifecycle.ts";
import { AGENT_BODY_LIMIT_BYTES, CONVERSION_LIMITS, JSON_BOUNDS, applyServerTimeouts } from "./limits.ts";
import type { ApiServerMetrics } from "./metrics.ts";
import type { NodeActions } from "./node-actions.ts";
import { conversionWebhook } from "./routes/conversion.ts";
import { drainRoutes } from "./routes/drain.ts";
import { nodeRoutes } from "./routes/node.ts";
import { probes } from "./routes/probes.ts";
import { shadowRoutes } from "./routes/shadow.ts";
import type { ShadowStore } from "./shadows.ts";

export interface ApiServerAppOptions {
  log: Logger;
  authenticate: (credentials: AgentCredentials) => Promise<AuthenticationResult>;
  shadows: Pick<ShadowStore, "create" | "replaceStatus">;
  nodes: NodeActions;
  drains: DrainRegistry;
  metrics: ApiServerMetrics;
  /** How long the synchronous cordon-and-drain route waits for the drain before answering 504. */
  syncDrainTimeoutMs: number;
  /** Agent request bodies (default limits.ts'). */
  bodyLimitBytes?: number;
  rateLimit?: AgentRateLimit;
  /** Group of the CRD the conversion webhook serves (default brupop's; tests use a copy). */
  conversionGroup?: string;
  /** undefined when ready to serve agents, else why not (e.g. caches not synced). */
  notReadyReason: () => string | undefined;
  /** The server to answer on (main.ts: HTTPS); plain HTTP by default. */
  serverFactory?: (handler: RequestListener) => HttpServer | HttpsServer;
}

/** The app as built: routes, `listen`, `close`, and its Node server. */
export type ApiServerApp = HttpApp;

export function buildApiServer(options: ApiServerAppOptions): { app: ApiServerApp; lifecycle: Lifecycle } {
  const lifecycle: Lifecycle = { shuttingDown: false };
  const { metrics, drains } = options;
  const app = new HttpApp({
    log: options.log,
    bodyLimitBytes: options.bodyLimitBytes ?? AGENT_BODY_LIMIT_BYTES,
    // JSON only, its depth and size checked on the bytes before anything is built from them.
    parseJson: (bytes) => parseJsonBody(bytes, JSON_BOUNDS),
    onAnswered: ({ route, method, statusCode, seconds }) => {
      metrics.requests.inc({ route, method, code: String(statusCode) });
      metrics.requestDuration.observe({ route, method }, seconds);
    },
    ...(options.serverFactory ? { serverFactory: options.serverFactory } : {}),
  });
  applyServerTimeouts(app.server);

  probes(app, { lifecycle, notReadyReason: options.notReadyReason });
  conversionWebhook(app, {
    limits: CONVERSION_LIMITS,
    bounds: JSON_BOUNDS,
    ...(options.conversionGroup === undefined ? {} : { group: options.conversionGroup }),
  });
  agentGate(app, {
    authenticate: options.authenticate,
    lifecycle,
    ...(options.rateLimit === undefined ? {} : { rateLimit: options.rateLimit }),
    routes: [
      shadowRoutes(options.shadows),
      drainRoutes({ drains, lifecycle, syncDrainTimeoutMs: options.syncDrainTimeoutMs }),
      nodeRoutes(options.nodes, drains),
    ],
  });
  return { app, lifecycle };
}
