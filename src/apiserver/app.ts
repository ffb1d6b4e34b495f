// The API server's HTTP application: brupop 1.4's agent routes (docs/design/brupop-compatibility.md#routes-and-headers)
// plus an asynchronous drain (docs/design/drain.md#asynchronous-route), the CRD conversion webhook and probes.
// Transport-agnostic: main.ts supplies the HTTPS server (serverFactory), tests may use plain HTTP or app.inject().
//
// Every agent request is authenticated before its body is parsed: headers (400), token (401), identity (403),
// per-node rate (429), shutting down (503). Errors are JSON {code, reason, message, details?}; a 500 means a bug or
// a misconfiguration of ours, never bad input.
import type { IncomingMessage, ServerResponse } from "node:http";
import Fastify, {
  type FastifyInstance,
  type FastifyRequest,
  type FastifyServerFactory,
  type RawServerDefault,
} from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import Type, { type TSchema } from "typebox";
import type { Logger } from "pino";
import { setTimeout as sleep } from "node:timers/promises";
import {
  BottlerocketShadowStatusSchema,
  AGENT_ROUTES,
  CONVERSION_WEBHOOK_PATH,
  SEMVER_PATTERN,
  compileValidator,
} from "../api/index.ts";
import type { AuthenticatedAgent, AuthenticationResult } from "./auth/authenticator.ts";
import { parseAgentHeaders, type AgentCredentials } from "./auth/headers.ts";
import { handleConversionReview } from "./conversion.ts";
import { blockersOf, type DrainStatus } from "../api/drain.ts";
import type { DrainRegistry } from "./drain/registry.ts";
import { HttpError, fromKubernetesError } from "./errors.ts";
import type { ApiServerMetrics } from "./metrics.ts";
import type { RateLimiter } from "./rate-limit.ts";
import type { NodeSelector, ShadowStore } from "./shadows.ts";

export const ROUTES = { ...AGENT_ROUTES, convert: CONVERSION_WEBHOOK_PATH } as const;

export interface NodeActions {
  /** Uncordons the node and ends any drain's hold on it (ANNOTATION_DRAIN). */
  uncordon(nodeName: string): Promise<void>;
  setExcludedFromLoadBalancers(nodeName: string, excluded: boolean): Promise<void>;
}

export interface ApiServerAppOptions {
  log: Logger;
  authenticate: (credentials: AgentCredentials) => Promise<AuthenticationResult>;
  shadows: Pick<ShadowStore, "create" | "replaceStatus">;
  nodes: NodeActions;
  drains: DrainRegistry;
  metrics: ApiServerMetrics;
  /** How long the synchronous cordon-and-drain route waits for the drain before answering 504. */
  syncDrainTimeoutMs: number;
  /** Agent request bodies (default 64 KiB). */
  bodyLimitBytes?: number;
  /** ConversionReview bodies (default 16 MiB: a list of shadows converts in one review). */
  conversionBodyLimitBytes?: number;
  rateLimiter?: RateLimiter;
  /** Group of the CRD the conversion webhook serves (default brupop's; tests use a copy). */
  conversionGroup?: string;
  /** undefined when ready to serve agents, else why not (e.g. caches not synced). */
  notReadyReason: () => string | undefined;
  serverFactory?: FastifyServerFactory;
}

/** Set once shutdown begins: agent routes answer 503 so agents retry on another replica. */
export interface Lifecycle {
  shuttingDown: boolean;
}

const agents = new WeakMap<FastifyRequest, AuthenticatedAgent>();

function agentOf(request: FastifyRequest): NodeSelector & AuthenticatedAgent {
  const agent = agents.get(request);
  if (!agent) throw new Error("agent route without authentication (a wiring bug)");
  return { ...agent, name: agent.nodeName, uid: agent.nodeUid };
}

const FASTIFY_REASONS: Readonly<Record<string, string>> = {
  FST_ERR_CTP_BODY_TOO_LARGE: "BodyTooLarge",
  FST_ERR_CTP_INVALID_MEDIA_TYPE: "UnsupportedMediaType",
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: "BadRequest",
  FST_ERR_CTP_EMPTY_JSON_BODY: "InvalidJson",
  FST_ERR_CTP_INVALID_JSON_BODY: "InvalidJson",
  FST_ERR_VALIDATION: "Invalid",
};

function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  const e = err as { statusCode?: unknown; code?: unknown; message?: unknown };
  if (typeof e.statusCode === "number" && e.statusCode >= 400 && e.statusCode < 500) {
    const code = typeof e.code === "string" ? e.code : "";
    return new HttpError(e.statusCode, FASTIFY_REASONS[code] ?? "BadRequest", String(e.message));
  }
  return new HttpError(500, "InternalError", "internal error (see the API server's log)");
}

/** `If-Match: "123"`, `W/"123"` or `123` → 123. */
function ifMatchVersion(header: string | undefined): string | undefined {
  if (header === undefined || header.trim() === "" || header.trim() === "*") return undefined;
  return header
    .trim()
    .replace(/^W\//, "")
    .replace(/^"(.*)"$/, "$1");
}

/** The sync route's answer for a finished drain. */
function drainAnswer(status: DrainStatus, lifecycle: Lifecycle): HttpError | undefined {
  const details = { drain: status, blockers: blockersOf(status) };
  switch (status.phase) {
    case "drained":
      return undefined;
    case "timed-out":
      return new HttpError(504, "DrainTimedOut", status.message, { details });
    case "failed":
      return new HttpError(502, "DrainFailed", status.message, { details });
    case "cancelled":
      return lifecycle.shuttingDown
        ? new HttpError(503, "ShuttingDown", status.message, { details, retryAfterSeconds: 1 })
        : new HttpError(409, "DrainCancelled", status.message, { details });
    default:
      return new HttpError(500, "InternalError", `drain ended in phase ${status.phase}`);
  }
}

export function buildApiServer(options: ApiServerAppOptions): {
  app: ApiServerApp;
  lifecycle: Lifecycle;
} {
  const lifecycle: Lifecycle = { shuttingDown: false };
  const { metrics, drains } = options;
  const app = Fastify({
    loggerInstance: options.log,
    bodyLimit: options.bodyLimitBytes ?? 64 * 1024,
    return503OnClosing: true,
    // Every log line of a request carries the node it is about (the header is only a label here, not trusted).
    childLoggerFactory: (logger, bindings, opts, raw) => {
      const node = raw.headers["brupopnodename"];
      return logger.child({ ...bindings, ...(typeof node === "string" ? { node: node.slice(0, 253) } : {}) }, opts);
    },
    ...(options.serverFactory ? { serverFactory: options.serverFactory } : {}),
  });

  // Schemas are validated by src/api's validator: Kubernetes' nullable, and messages that name the field.
  app.setValidatorCompiler(({ schema, httpPart }) => {
    const validator = compileValidator(schema as TSchema, {
      patternNames: { [SEMVER_PATTERN]: "a semantic version such as 1.20.3" },
    });
    return (data: unknown) => {
      const result = validator.validate(data);
      return result.ok
        ? { value: result.value }
        : { error: new HttpError(400, "Invalid", `${httpPart ?? "request"}: ${result.message}`) };
    };
  });

  // brupop agents POST without a body but may still say application/json: an empty body is no body.
  const defaultJson = app.getDefaultJsonParser("error", "ignore");
  app.addContentTypeParser("application/json", { parseAs: "string" }, (request, body, done) => {
    if (typeof body === "string" && body.trim() === "") {
      done(null, undefined);
      return;
    }
    void defaultJson(request, typeof body === "string" ? body : body.toString("utf8"), done);
  });

  app.setErrorHandler((err, request, reply) => {
    const http = toHttpError(err);
    // Only our own failures get a stack; refusals and drain verdicts are expected answers.
    if (http.reason === "InternalError") request.log.error({ err }, http.message);
    else if (http.statusCode >= 500) request.log.warn({ code: http.statusCode, reason: http.reason }, http.message);
    else request.log.info({ code: http.statusCode, reason: http.reason }, http.message);
    if (http.retryAfterSeconds !== undefined) void reply.header("retry-after", String(http.retryAfterSeconds));
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

  // ---- Probes and the webhook: no agent token ----
  app.get("/ping", (_request, reply) => reply.type("text/plain").send("pong"));
  app.get("/livez", (_request, reply) => reply.send({ status: "ok" }));
  app.get("/readyz", (_request, reply) => {
    const why = lifecycle.shuttingDown ? "shutting down" : options.notReadyReason();
    if (why === undefined) return reply.send({ status: "ok" });
    return reply.code(503).send(new HttpError(503, "NotReady", why).toBody());
  });
  app.post(ROUTES.convert, { bodyLimit: options.conversionBodyLimitBytes ?? 16 * 1024 * 1024 }, (request, reply) => {
    const response = handleConversionReview(request.body, options.conversionGroup);
    const result = response.response.result;
    request.log.info(
      { uid: response.response.uid, result: result.status, ...("message" in result ? { reason: result.message } : {}) },
      "conversion review",
    );
    return reply.send(response);
  });

  // ---- Agent routes ----
  void app.register((plugin, _options, registered) => {
    const agentRoutes = plugin.withTypeProvider<TypeBoxTypeProvider>();
    agentRoutes.addHook("onRequest", async (request, reply) => {
      if (lifecycle.shuttingDown) {
        throw new HttpError(503, "ShuttingDown", "the API server is shutting down; retry", { retryAfterSeconds: 1 });
      }
      const headers = parseAgentHeaders(request.headers);
      if (!headers.ok) throw new HttpError(headers.status, headers.reason, headers.message);
      const result = await options.authenticate(headers.credentials);
      if (!result.ok) {
        throw new HttpError(
          result.status,
          result.reason,
          result.message,
          result.status === 503 ? { retryAfterSeconds: 5 } : {},
        );
      }
      const rate = options.rateLimiter?.take(result.agent.nodeName);
      if (rate && !rate.allowed) {
        void reply.header("retry-after", String(rate.retryAfterSeconds));
        throw new HttpError(429, "TooManyRequests", `too many requests for node ${result.agent.nodeName}`, {
          retryAfterSeconds: rate.retryAfterSeconds,
        });
      }
      agents.set(request, result.agent);
      request.log = request.log.child({ pod: result.agent.podName });
    });

    agentRoutes.post(ROUTES.shadow, async (request) => options.shadows.create(agentOf(request)));

    agentRoutes.put(
      ROUTES.shadow,
      {
        schema: {
          body: BottlerocketShadowStatusSchema,
          headers: Type.Object({ "if-match": Type.Optional(Type.String()) }),
        },
      },
      async (request, reply) => {
        const version = await options.shadows.replaceStatus(
          agentOf(request),
          request.body,
          ifMatchVersion(request.headers["if-match"]),
        );
        void reply.header("etag", `"${version}"`);
        return request.body; // brupop echoes the status
      },
    );

    agentRoutes.post(ROUTES.cordonAndDrain, async (request, reply) => {
      const { name } = agentOf(request);
      const drain = startDrain(name);
      const finished = await Promise.race([drain.done, sleep(options.syncDrainTimeoutMs, undefined, { ref: false })]);
      if (finished === undefined) {
        throw new HttpError(504, "DrainInProgress", `the drain of ${name} is still running; poll GET ${ROUTES.drain}`, {
          details: { drain: drain.status() },
        });
      }
      const failure = drainAnswer(finished, lifecycle);
      if (failure) throw failure;
      return reply.code(200).send();
    });

    agentRoutes.post(ROUTES.drain, async (request, reply) => {
      const drain = startDrain(agentOf(request).name);
      return reply.code(202).header("location", ROUTES.drain).send({ started: drain.started, drain: drain.status() });
    });

    agentRoutes.get(ROUTES.drain, (request, reply) => {
      const { name } = agentOf(request);
      const status = drains.status(name);
      if (!status) throw new HttpError(404, "NoDrain", `no drain of ${name} is known to this replica`);
      return reply.send({ drain: status, blockers: blockersOf(status) });
    });

    agentRoutes.post(ROUTES.uncordon, async (request, reply) => {
      const { name } = agentOf(request);
      // An uncordon ends any drain of the node: the agent has given up on it or finished with the node.
      await drains.cancel(name, "the agent asked to uncordon the node");
      await kube(() => options.nodes.uncordon(name), `uncordoning ${name}`);
      return reply.code(200).send();
    });

    for (const [route, excluded] of [
      [ROUTES.excludeFromLb, true],
      [ROUTES.removeExclusionFromLb, false],
    ] as const) {
      agentRoutes.post(route, async (request, reply) => {
        const { name } = agentOf(request);
        await kube(() => options.nodes.setExcludedFromLoadBalancers(name, excluded), `labelling ${name}`);
        return reply.code(200).send();
      });
    }
    registered();
  });

  function startDrain(node: string): ReturnType<DrainRegistry["start"]> {
    if (lifecycle.shuttingDown) {
      throw new HttpError(503, "ShuttingDown", "the API server is shutting down; retry", { retryAfterSeconds: 1 });
    }
    return drains.start(node);
  }

  return { app, lifecycle };
}

async function kube<T>(call: () => Promise<T>, what: string): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw fromKubernetesError(err, what);
  }
}

/** The app as built (plain fastify typing; routes carry their own type provider). */
export type ApiServerApp = FastifyInstance<RawServerDefault, IncomingMessage, ServerResponse, Logger>;
