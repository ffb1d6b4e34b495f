// The gate in front of every agent route: a fastify plugin whose hooks run before a body is read (shutting down 503,
// headers 400, token 401, identity 403, per-node rate 429) and that decorates the request with the agent's proven
// identity. Routes are registered through it (AgentRoutes), so a handler's request type carries that identity: a
// route outside the gate has no way to get one.
import type { IncomingMessage } from "node:http";
import type {
  FastifyPluginAsync,
  FastifyReply,
  FastifyRequest,
  FastifySchema,
  RawServerDefault,
  preParsingHookHandler,
  RouteOptions,
  RouteGenericInterface,
} from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import fastifyRateLimit from "@fastify/rate-limit";
import { HttpError } from "../errors.ts";
import { shuttingDown, type Lifecycle } from "../lifecycle.ts";
import type { AuthenticatedAgent, AuthenticationResult, NodeIdentity } from "./authenticator.ts";
import { parseAgentHeaders, type AgentCredentials } from "./headers.ts";

/** What the gate proved about the caller. */
export interface AgentIdentity {
  /** The agent pod and the token's service account. */
  readonly agent: AuthenticatedAgent;
  /** The Node that pod runs on, as checked against the live pod and Node: the only Node the request may act on. */
  readonly node: NodeIdentity;
}

/** A request that passed the gate, with the route's schema types (body, headers) resolved by TypeBox. */
export type AgentRequest<S extends FastifySchema = FastifySchema> = FastifyRequest<
  RouteGenericInterface,
  RawServerDefault,
  IncomingMessage,
  S,
  TypeBoxTypeProvider
> &
  AgentIdentity;

export interface AgentRoute<S extends FastifySchema> {
  method: "GET" | "POST" | "PUT";
  url: string;
  /** `none`: any body is refused (400) before it is read; `json`: an application/json body (empty is none). */
  body: "none" | "json";
  schema?: S;
  handler: (request: AgentRequest<S>, reply: FastifyReply) => unknown;
}

export interface AgentRoutes {
  route<S extends FastifySchema>(route: AgentRoute<S>): void;
}

/** A route module: registers its routes behind the gate. */
export type AgentRouteModule = (routes: AgentRoutes) => void;

/**
 * Per node, counted after authentication (a refused request costs the node nothing). `burst` requests per window of
 * `burst / perMinute` minutes: the sustained rate is `perMinute`, as with a token bucket of that burst.
 */
export interface AgentRateLimit {
  burst: number;
  perMinute: number;
}

export interface AgentGateOptions {
  authenticate: (credentials: AgentCredentials) => Promise<AuthenticationResult>;
  lifecycle: Lifecycle;
  rateLimit?: AgentRateLimit;
  routes: readonly AgentRouteModule[];
}

/** Before the body is read: a route that takes none refuses one, whatever its type. */
function refuseBody(route: { method: string; url: string }): preParsingHookHandler {
  return (request, _reply, payload, done) => {
    if (hasBody(request)) done(new HttpError(400, "BodyNotAllowed", `${route.method} ${route.url} takes no body`));
    else done(null, payload);
  };
}

/** Nodes remembered by the rate limit (least recently seen are forgotten, i.e. start afresh). */
const RATE_LIMIT_KEYS = 10_000;

function hasBody(request: FastifyRequest): boolean {
  const length = request.headers["content-length"];
  return (length !== undefined && length !== "0") || request.headers["transfer-encoding"] !== undefined;
}

export const agentGate: FastifyPluginAsync<AgentGateOptions> = async (scope, options) => {
  scope.decorateRequest("agent", null);
  scope.decorateRequest("node", null);

  scope.addHook("onRequest", async (request) => {
    if (options.lifecycle.shuttingDown) throw shuttingDown();
    const headers = parseAgentHeaders(request.headers);
    if (!headers.ok) throw new HttpError(headers.status, headers.reason, headers.message);
    const result = await options.authenticate(headers.credentials);
    if (!result.ok) {
      const retry = result.status === 503 ? { retryAfterSeconds: 5 } : {};
      throw new HttpError(result.status, result.reason, result.message, retry);
    }
    const { agent } = result;
    const identity: AgentIdentity = { agent, node: { name: agent.nodeName, uid: agent.nodeUid } };
    Object.assign(request, identity);
    request.log = request.log.child({ pod: agent.podName });
  });

  if (options.rateLimit !== undefined) {
    const { burst, perMinute } = options.rateLimit;
    if (!(burst >= 1) || !(perMinute > 0)) throw new RangeError("rate limit needs burst >= 1 and perMinute > 0");
    await scope.register(fastifyRateLimit, {
      global: false,
      cache: RATE_LIMIT_KEYS,
      // Only Retry-After, on a 429: the limit is a guard, not something agents plan around.
      addHeaders: {
        "x-ratelimit-limit": false,
        "x-ratelimit-remaining": false,
        "x-ratelimit-reset": false,
        "retry-after": true,
      },
      addHeadersOnExceeding: { "x-ratelimit-limit": false, "x-ratelimit-remaining": false, "x-ratelimit-reset": false },
    });
    // Added after the authentication hook, so it runs after it and counts per proven node.
    scope.addHook(
      "onRequest",
      scope.rateLimit({
        max: burst,
        timeWindow: Math.round((burst / perMinute) * 60_000),
        keyGenerator: (request) => (request as FastifyRequest & AgentIdentity).node.name,
        errorResponseBuilder: (request, context) =>
          new HttpError(
            429,
            "TooManyRequests",
            `too many requests for node ${(request as FastifyRequest & AgentIdentity).node.name}`,
            { retryAfterSeconds: Math.max(1, Math.ceil(context.ttl / 1000)) },
          ),
      }),
    );
  }

  const routes: AgentRoutes = {
    route<S extends FastifySchema>(route: AgentRoute<S>) {
      // Plain route options: the schema is validated by the app's validator compiler, and typed by AgentRequest<S>.
      const options: RouteOptions = {
        method: route.method,
        url: route.url,
        ...(route.schema === undefined ? {} : { schema: route.schema }),
        ...(route.body === "none" ? { preParsing: refuseBody(route) } : {}),
        // The gate's hooks ran before any handler of this scope: the request carries the identity they proved.
        handler: (request, reply) => route.handler(request as unknown as AgentRequest<S>, reply),
      };
      scope.route(options);
    },
  };
  for (const register of options.routes) register(routes);
};
