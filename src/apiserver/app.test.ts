// The app's answers with fake services (app.inject): the codes the integration tests cannot easily provoke.
import { describe, expect, it } from "vitest";
import { pino } from "pino";
import { buildApiServer, ROUTES, type ApiServerAppOptions } from "./app.ts";
import type { AuthenticationResult } from "./auth/authenticator.ts";
import type { DrainStatus } from "../api/drain.ts";
import { DrainRegistry, type DrainRunner } from "./drain/registry.ts";
import { ApiServerMetrics } from "./metrics.ts";
import { RateLimiter } from "./rate-limit.ts";

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
    const response = await a.inject({ method: "POST", url: ROUTES.uncordon, headers });
    expect(response.statusCode).toBe(503);
    expect(response.headers["retry-after"]).toBe("1");
    expect(response.json()).toMatchObject({ reason: "ShuttingDown" });
    expect((await a.inject({ method: "GET", url: "/readyz" })).statusCode).toBe(503);
  });

  it("answers 429 with Retry-After past the per-node rate", async () => {
    const { app: a } = app({ rateLimiter: new RateLimiter({ burst: 1, perMinute: 1 }) });
    expect((await a.inject({ method: "POST", url: ROUTES.uncordon, headers })).statusCode).toBe(200);
    const limited = await a.inject({ method: "POST", url: ROUTES.uncordon, headers });
    expect(limited.statusCode).toBe(429);
    expect(limited.headers["retry-after"]).toBe("60");
  });

  it("passes authentication verdicts on (401, 403, 503)", async () => {
    for (const status of [401, 403, 503] as const) {
      const { app: a } = app({ authenticate: async () => ({ ok: false, status, reason: "R", message: "m" }) });
      const response = await a.inject({ method: "POST", url: ROUTES.shadow, headers });
      expect(response.statusCode).toBe(status);
      expect(response.json()).toEqual({ code: status, reason: "R", message: "m" });
    }
  });

  it("hides internal errors behind a generic 500", async () => {
    const response = await app().app.inject({ method: "POST", url: ROUTES.shadow, headers });
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
      url: ROUTES.excludeFromLb,
      headers: { ...headers, "content-type": "application/json" },
      payload: "",
    });
    expect(response.statusCode).toBe(200);
    expect(calls).toEqual(["exclude node-1 true"]);
  });

  it("answers the synchronous drain 200 when drained and 504 while it still runs", async () => {
    expect((await app().app.inject({ method: "POST", url: ROUTES.cordonAndDrain, headers })).statusCode).toBe(200);
    const slow = app(
      {},
      (drain, signal) => new Promise((resolve) => signal.addEventListener("abort", () => resolve(drained(drain)))),
    );
    const response = await slow.app.inject({ method: "POST", url: ROUTES.cordonAndDrain, headers });
    expect(response.statusCode).toBe(504);
    expect(response.json()).toMatchObject({ reason: "DrainInProgress" });
  });

  it("cancels a running drain on uncordon; the waiting caller gets 409", async () => {
    const { app: a, calls } = app(
      { syncDrainTimeoutMs: 5_000 },
      (drain, signal) =>
        new Promise((resolve) =>
          signal.addEventListener("abort", () =>
            resolve({ ...drained(drain), phase: "cancelled", message: `cancelled: ${String(signal.reason)}` }),
          ),
        ),
    );
    const draining = a.inject({ method: "POST", url: ROUTES.cordonAndDrain, headers });
    await new Promise((r) => setTimeout(r, 50));
    expect((await a.inject({ method: "POST", url: ROUTES.uncordon, headers })).statusCode).toBe(200);
    const response = await draining;
    expect(response.statusCode).toBe(409);
    expect(response.json()).toMatchObject({ reason: "DrainCancelled" });
    expect(calls).toEqual(["unschedulable node-1 false"]);
  });

  it("reports 404 for a drain it does not know, then the status of one it ran", async () => {
    const { app: a } = app();
    expect((await a.inject({ method: "GET", url: ROUTES.drain, headers })).statusCode).toBe(404);
    const started = await a.inject({ method: "POST", url: ROUTES.drain, headers });
    expect(started.statusCode).toBe(202);
    expect(started.headers.location).toBe(ROUTES.drain);
    await new Promise((r) => setTimeout(r, 10));
    const status = await a.inject({ method: "GET", url: ROUTES.drain, headers });
    expect(status.json()).toMatchObject({ drain: { node: "node-1", phase: "drained" }, blockers: [] });
  });
});
