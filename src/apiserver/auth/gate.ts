// The gate in front of every agent route, whose checks run before a body is read (shutting down 503, headers 400,
// token 401, identity 403, per-node rate 429) and that hands the handler the agent's proven identity. Routes are
// registered through it (AgentRoutes), so a handler's request type carries that identity: a route outside the gate
// has no way to get one.
import type { IncomingHttpHeaders } from "node:http";
import type { Static, TSchema } from "typebox";
import { SHADOW_VALIDATOR_OPTIONS } from "../../api/bottlerocket-shadow.ts";
import { compileValidator } from "../../api/validation.ts";
import { HttpError } from "../errors.ts";
import type { HttpApp } from "../http/app.ts";
import type { Reply } from "../http/reply.ts";
import type { Request } from "../http/request.ts";
import { shuttingDown, type Lifecycle } from "../lifecycle.ts";
import type { AuthenticatedAgent, AuthenticationResult, NodeIdentity } from "./authenticator.ts";
import { parseAgentHeaders, type AgentCredentials } from "./headers.ts";
import { NodeRateLimiter, type RateLimit } from "./rate-limit.ts";

/** What the gate proved about the caller. */
export interface AgentIdentity {
  /** The agent pod and the token's service account. */
  readonly agent: AuthenticatedAgent;
  /** The Node that pod runs on, as checked against the live pod and Node: the only Node the request may act on. */
  readonly node: NodeIdentity;
}

/** What a route validates, by src/api's validator (Kubernetes' nullable, messages that name the field). */
export interface AgentRouteSchema {
  body?: TSchema;
  headers?: TSchema;
}

type Validated<T> = T extends TSchema ? Static<T> : unknown;

/** A request that passed the gate, with its body and headers typed by the route's schema once validated. */
export type AgentRequest<S extends AgentRouteSchema = AgentRouteSchema> = Omit<Request, "body" | "headers"> &
  AgentIdentity & {
    readonly body: Validated<S["body"]>;
    readonly headers: IncomingHttpHeaders & Validated<S["headers"]>;
  };

export interface AgentRoute<S extends AgentRouteSchema> {
  method: "GET" | "POST" | "PUT";
  url: string;
  /** `none`: any body is refused (400) before it is read; `json`: an application/json body (empty is none). */
  body: "none" | "json";
  schema?: S;
  handler: (request: AgentRequest<S>, reply: Reply) => unknown;
}

export interface AgentRoutes {
  route<S extends AgentRouteSchema>(route: AgentRoute<S>): void;
}

/** A route module: registers its routes behind the gate. */
export type AgentRouteModule = (routes: AgentRoutes) => void;

/** Per node, counted after authentication (a refused request costs the node nothing): a token bucket. */
export type AgentRateLimit = RateLimit;

export interface AgentGateOptions {
  authenticate: (credentials: AgentCredentials) => Promise<AuthenticationResult>;
  lifecycle: Lifecycle;
  rateLimit?: AgentRateLimit;
  routes: readonly AgentRouteModule[];
}

/** Nodes remembered by the rate limit (least recently seen are forgotten, i.e. start afresh). */
const RATE_LIMIT_NODES = 10_000;

function validator(schema: TSchema | undefined, part: "body" | "headers") {
  if (schema === undefined) return undefined;
  const compiled = compileValidator(schema, SHADOW_VALIDATOR_OPTIONS);
  return (request: Request): HttpError | undefined => {
    // fastify handed its validators null for a missing part; the messages say so.
    const result = compiled.validate(request[part] ?? null);
    if (!result.ok) return new HttpError(400, "Invalid", `${part}: ${result.message}`);
    if (part === "body") request.body = result.value;
    return undefined;
  };
}

/** Registers the agent routes of `options.routes` on `app`, each behind the gate. */
export function agentGate(app: HttpApp, options: AgentGateOptions): void {
  const limiter =
    options.rateLimit === undefined ? undefined : new NodeRateLimiter(options.rateLimit, RATE_LIMIT_NODES);

  const admit = async (request: Request): Promise<AgentIdentity> => {
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
    request.log = request.log.child({ pod: agent.podName });
    const verdict = limiter?.take(identity.node.name, performance.now());
    if (verdict !== undefined && !verdict.ok) {
      throw new HttpError(429, "TooManyRequests", `too many requests for node ${identity.node.name}`, {
        retryAfterSeconds: verdict.retryAfterSeconds,
      });
    }
    return identity;
  };

  const routes: AgentRoutes = {
    route<S extends AgentRouteSchema>(route: AgentRoute<S>) {
      const identities = new WeakMap<Request, AgentIdentity>();
      const validateBody = validator(route.schema?.body, "body");
      const validateHeaders = validator(route.schema?.headers, "headers");
      app.route({
        method: route.method,
        url: route.url,
        body: route.body,
        onRequest: async (request) => void identities.set(request, await admit(request)),
        validate: (request) => validateBody?.(request) ?? validateHeaders?.(request),
        handler: (request, reply) => {
          const identity = identities.get(request);
          // The gate ran before every handler of its routes: without an identity there is no way here.
          if (identity === undefined) throw new Error(`${route.method} ${route.url}: no identity from the gate`);
          return route.handler(Object.assign(request, identity) as unknown as AgentRequest<S>, reply);
        },
      });
    },
  };
  for (const register of options.routes) register(routes);
}
