// The app's answers with fake services (app.inject): the codes the integration tests cannot easily provoke.
import { describe, expect, it } from "vitest";
import { pino } from "pino";
import { AGENT_ROUTES } from "../api/constants.ts";
import { buildApiServer, type ApiServerAppOptions } from "./app.ts";
import type { AuthenticationResult } from "./auth/authenticator.ts";
import type { DrainStatus } from "../api/drain.ts";
import { DrainRegistry, type DrainRunner } from "./drain/registry.ts";
import { ApiServerMetrics } from "./metrics.ts";

const headers = {
  brupopnodename: "node-1",
  brupopnodeuid: "uid-1",
  brupopk8sauthtoken: "aaa.bbb.ccc",
};
const allowed: AuthenticationResult = {
  ok: true,
  agent: { nodeName: "node-1", nodeUid: "uid-1", username: "u", podName: "agent", podUid: "p" },
};

function drained({ node, id }: { node: string; id: string }): DrainStatus {
  return { id, node, phase: "drained", startedAt: "", message: "drained", pods: [], skipped: [] };
}

function app(overrides: Partial<ApiServerAppOptions> = {}, run: DrainRunner = async (drain) => drained(drain)) {
  const calls: string[] = [];
  const built = buildApiServer({
    log: pino({ level: "silent" }),
    authenticate: async () => allowed,
    shadows: {
      create: async () => {
        throw new Error("boom: not for callers to see");
      },
      replaceStatus: async () => "7",
    },
    nodes: {
      uncordon: async (name) => void calls.push(`unschedulable ${name} false`),
      setExcludedFromLoadBalancers: async (name, value) => void calls.push(`exclude ${name} ${value}`),
    },
    drains: new DrainRegistry({ run }),
    metrics: new ApiServerMetrics({ defaultMetrics: false }),
    syncDrainTimeoutMs: 200,
    notReadyReason: () => undefined,
    ...overrides,
  });
  return { ...built, calls };
}

describe("the API server app", () => {
  it("answers 503 with Retry-After once shutting down, and readyz says so", async () => {
    const { app: a, lifecycle } = app();
    lifecycle.shuttingDown = true;
    const response = await a.inject({ method: "POST", url: AGENT_ROUTES.uncordon, headers });
    expect(response.statusCode).toBe(503);
    expect(response.headers["retry-after"]).toBe("1");
    expect(response.json()).toMatchObject({ reason: "ShuttingDown" });
    expect((await a.inject({ method: "GET", url: "/readyz" })).statusCode).toBe(503);
  });

  it("answers 429 with Retry-After past the per-node rate", async () => {
    const { app: a } = app({ rateLimit: { burst: 1, perMinute: 1 } });
    expect((await a.inject({ method: "POST", url: AGENT_ROUTES.uncordon, headers })).statusCode).toBe(200);
    const limited = await a.inject({ method: "POST", url: AGENT_ROUTES.uncordon, headers });
    expect(limited.statusCode).toBe(429);
    expect(limited.headers["retry-after"]).toBe("60");
  });

  it("counts the rate per node after authentication: refused requests cost the node nothing", async () => {
    let allow = false;
    const { app: a } = app({
      rateLimit: { burst: 1, perMinute: 1 },
      authenticate: async () => (allow ? allowed : { ok: false, status: 401, reason: "R", message: "m" }),
    });
    for (let i = 0; i < 3; i++) {
      expect((await a.inject({ method: "POST", url: AGENT_ROUTES.uncordon, headers })).statusCode).toBe(401);
    }
    allow = true;
    expect((await a.inject({ method: "POST", url: AGENT_ROUTES.uncordon, headers })).statusCode).toBe(200);
    const limited = await a.inject({ method: "POST", url: AGENT_ROUTES.uncordon, headers });
    const body = limited.json<{ code: number; reason: string; message: string }>();
    expect(body).toMatchObject({ code: 429, reason: "TooManyRequests" });
    expect(body.message).toContain("node-1");
  });

  it("refuses a body on routes that take none, before doing anything", async () => {
    const { app: a, calls } = app();
    for (const [url, type, payload] of [
      [AGENT_ROUTES.uncordon, "application/json", '{"x":1}'],
      [AGENT_ROUTES.excludeFromLb, "text/plain", "now"],
      [AGENT_ROUTES.cordonAndDrain, "application/octet-stream", "\u0000"],
    ] as const) {
      const response = await a.inject({ method: "POST", url, headers: { ...headers, "content-type": type }, payload });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ reason: "BodyNotAllowed", message: `POST ${url} takes no body` });
    }
    expect(calls).toEqual([]);
  });

  it("refuses deep JSON naming where, too many values, and bodies that are not JSON", async () => {
    const { app: a } = app();
    const put = (payload: string, type = "application/json") =>
      a.inject({ method: "PUT", url: AGENT_ROUTES.shadow, headers: { ...headers, "content-type": type }, payload });
    const deep = await put(`{"crash_count":${"[".repeat(30_000)}${"]".repeat(30_000)}}`);
    expect(deep.statusCode).toBe(400);
    expect(deep.json<{ reason: string; message: string }>().reason).toBe("Invalid");
    expect(deep.json<{ message: string }>().message).toMatch(/^body: crash_count\[0\]/);
    const { app: roomy } = app({ bodyLimitBytes: 4 * 1024 * 1024 });
    const dense = await roomy.inject({
      method: "PUT",
      url: AGENT_ROUTES.shadow,
      headers: { ...headers, "content-type": "application/json" },
      payload: `[${Array(1_000_001).fill("0").join(",")}]`,
    });
    expect(dense.statusCode).toBe(413);
    expect((await put("crash_count=1", "text/plain")).statusCode).toBe(415);
    expect((await put('{"__proto__":{"x":1}}')).statusCode).toBe(400);
  });

  it("passes authentication verdicts on (401, 403, 503)", async () => {
    for (const status of [401, 403, 503] as const) {
      const { app: a } = app({ authenticate: async () => ({ ok: false, status, reason: "R", message: "m" }) });
      const response = await a.inject({ method: "POST", url: AGENT_ROUTES.shadow, headers });
      expect(response.statusCode).toBe(status);
      expect(response.json()).toEqual({ code: status, reason: "R", message: "m" });
    }
  });

  it("hides internal errors behind a generic 500", async () => {
    const response = await app().app.inject({ method: "POST", url: AGENT_ROUTES.shadow, headers });
    expect(response.statusCode).toBe(500);
    expect(response.json()).toEqual({
      code: 500,
      reason: "InternalError",
      message: "internal error (see the API server's log)",
    });
  });

  it("accepts brupop's body-less POSTs even when they claim JSON", async () => {
    const { app: a, calls } = app();
    const response = await a.inject({
      method: "POST",
      url: AGENT_ROUTES.excludeFromLb,
      headers: { ...headers, "content-type": "application/json" },
      payload: "",
    });
    expect(response.statusCode).toBe(200);
    expect(calls).toEqual(["exclude node-1 true"]);
  });

  it("answers the synchronous drain 200 when drained and 504 while it still runs", async () => {
    expect((await app().app.inject({ method: "POST", url: AGENT_ROUTES.cordonAndDrain, headers })).statusCode).toBe(
      200,
    );
    const slow = app(
      {},
      (drain, signal) => new Promise((resolve) => signal.addEventListener("abort", () => resolve(drained(drain)))),
    );
    const response = await slow.app.inject({ method: "POST", url: AGENT_ROUTES.cordonAndDrain, headers });
    expect(response.statusCode).toBe(504);
    expect(response.json()).toMatchObject({ reason: "DrainInProgress" });
  });

  it("cancels a running drain on uncordon; the waiting caller gets 409", async () => {
    const running = Promise.withResolvers<undefined>();
    const { app: a, calls } = app({ syncDrainTimeoutMs: 5_000 }, (drain, signal) => {
      running.resolve(undefined);
      return new Promise((resolve) =>
        signal.addEventListener("abort", () =>
          resolve({ ...drained(drain), phase: "cancelled", message: `cancelled: ${String(signal.reason)}` }),
        ),
      );
    });
    const draining = a.inject({ method: "POST", url: AGENT_ROUTES.cordonAndDrain, headers });
    await running.promise; // the drain has begun: the uncordon below cancels it, not a drain yet to come
    expect((await a.inject({ method: "POST", url: AGENT_ROUTES.uncordon, headers })).statusCode).toBe(200);
    const response = await draining;
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ reason: "DrainCancelled" });
    expect(calls).toEqual(["unschedulable node-1 false"]);
  });

  it("reports 404 for a drain it does not know, then the status of one it ran", async () => {
    const finished = Promise.withResolvers<undefined>();
    const { app: a } = app({}, async (drain) => {
      setImmediate(() => finished.resolve(undefined)); // once the registry has recorded what this returns
      return drained(drain);
    });
    expect((await a.inject({ method: "GET", url: AGENT_ROUTES.drain, headers })).statusCode).toBe(404);
    const started = await a.inject({ method: "POST", url: AGENT_ROUTES.drain, headers });
    expect(started.statusCode).toBe(202);
    expect(started.headers.location).toBe(AGENT_ROUTES.drain);
    await finished.promise;
    const status = await a.inject({ method: "GET", url: AGENT_ROUTES.drain, headers });
    expect(status.json()).toMatchObject({ drain: { node: "node-1", phase: "drained" }, blockers: [] });
  });
});
