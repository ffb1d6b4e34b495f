// The API server's HTTP application: the fastify instance, what every request shares (JSON bodies bounded before they
// are parsed, validation with messages naming the field, JSON errors, request metrics, connection timeouts), and the
// route modules: probes and the conversion webhook without a token, brupop 1.4's agent routes
// (docs/design/brupop-compatibility.md#routes-and-headers) plus an asynchronous drain (docs/design/drain.md) behind
// the agent gate. Transport-agnostic: main.ts supplies the HTTPS server
// (serverFactory); tests may use plain HTTP or app.inject().
//
// Errors are JSON {code, reason, message, details?}; a 500 means a bug or a misconfiguration of ours, never bad input.
import type { IncomingMessage, ServerResponse } from "node:http";
import Fastify, { type FastifyInstance, type FastifyServerFactory, type RawServerDefault } from "fastify";
import type { TSchema } from "typebox";
import type { Logger } from "pino";
import { SHADOW_VALIDATOR_OPTIONS, compileValidator } from "../api/index.ts";
import { agentGate, type AgentRateLimit } from "./auth/plugin.ts";
import type { AgentCredentials } from "./auth/headers.ts";
import type { AuthenticationResult } from "./auth/authenticator.ts";
import type { DrainRegistry } from "./drain/registry.ts";
import { HttpError, jsonBoundsError, toHttpError } from "./errors.ts";
import { checkJsonBounds } from "./json-bounds.ts";
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
  serverFactory?: FastifyServerFactory;
}

export function buildApiServer(options: ApiServerAppOptions): { app: ApiServerApp; lifecycle: Lifecycle } {
  const lifecycle: Lifecycle = { shuttingDown: false };
  const { metrics, drains } = options;
  const app = Fastify({
    loggerInstance: options.log,
    bodyLimit: options.bodyLimitBytes ?? AGENT_BODY_LIMIT_BYTES,
    return503OnClosing: true,
    // Every log line of a request carries the node it is about (the header is only a label here, not trusted).
    childLoggerFactory: (logger, bindings, opts, raw) => {
      const node = raw.headers["brupopnodename"];
      return logger.child({ ...bindings, ...(typeof node === "string" ? { node: node.slice(0, 253) } : {}) }, opts);
    },
    ...(options.serverFactory ? { serverFactory: options.serverFactory } : {}),
  });
  applyServerTimeouts(app.server);

  // Schemas are validated by src/api's validator: Kubernetes' nullable, and messages that name the field.
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const validator = compileValidator(schema as TSchema, SHADOW_VALIDATOR_OPTIONS);
    return (data: unknown) => {
      const result = validator.validate(data);
      return result.ok
        ? { value: result.value }
        : { error: new HttpError(400, "Invalid", `${httpPart ?? "request"}: ${result.message}`) };
    };
  });

  // JSON only, its depth and size checked on the bytes before anything is built from them. brupop agents POST
  // without a body but may still say application/json: an empty body is no body.
  const secureJson = app.getDefaultJsonParser("error", "ignore");
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", { parseAs: "buffer" }, (request, body, done) => {
    const bytes = typeof body === "string" ? Buffer.from(body) : body;
    const text = bytes.toString("utf8");
    if (!/\S/.test(text)) {
      done(null, undefined);
      return;
    }
    const violation = checkJsonBounds(bytes, JSON_BOUNDS);
    if (violation === undefined) void secureJson(request, text, done);
    else done(jsonBoundsError(violation, JSON_BOUNDS));
  });

  app.setErrorHandler((err, request, reply) => {
    const http = toHttpError(err);
    // Only our own failures get a stack; refusals and drain verdicts are expected answers.
    if (http.reason === "InternalError") request.log.error({ err }, http.message);
    else if (http.statusCode >= 500) request.log.warn({ code: http.statusCode, reason: http.reason }, http.message);
    else request.log.info({ code: http.statusCode, reason: http.reason }, http.message);
    if (http.retryAfterSeconds !== undefined) void reply.header("retry-after", String(http.retryAfterSeconds));
    // A body refused unread (413, 429): fastify would close the connection, and Node does after 64 KB, so a client
    // still sending reads a reset instead of the answer. Reading and discarding the rest instead (within the request
    // timeout), as nginx's lingering close does, lets it read the answer.
    if (http.statusCode < 500 && !request.raw.complete) {
      reply.removeHeader("connection");
      reply.raw.shouldKeepAlive = true;
      request.raw.resume();
    }
    return reply.code(http.statusCode).send(http.toBody());
  });
  app.setNotFoundHandler((request, reply) =>
    reply.code(404).send(new HttpError(404, "NotFound", `no route ${request.method} ${request.url}`).toBody()),
  );

  app.addHook("onResponse", async (request, reply) => {
    const route = request.routeOptions.url ?? "unmatched";
    metrics.requests.inc({ route, method: request.method, code: String(reply.statusCode) });
    metrics.requestDuration.observe({ route, method: request.method }, reply.elapsedTime / 1000);
  });

  void app.register(probes, { lifecycle, notReadyReason: options.notReadyReason });
  void app.register(conversionWebhook, {
    limits: CONVERSION_LIMITS,
    bounds: JSON_BOUNDS,
    ...(options.conversionGroup === undefined ? {} : { group: options.conversionGroup }),
  });
  void app.register(agentGate, {
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

/** The app as built (plain fastify typing; routes carry their own type provider). */
export type ApiServerApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>;
