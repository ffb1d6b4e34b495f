// The app's answers with fake services, over real HTTP on loopback: the codes the integration tests cannot easily
// provoke, and what the HTTP layer itself answers (unknown routes, bodies refused unread, metrics).
import { afterEach, describe, expect, it } from "vitest";
import { request as httpRequest, type IncomingHttpHeaders } from "node:http";
import { connect } from "node:net";
import { pino } from "pino";
import { AGENT_ROUTES } from "../api/constants.ts";
import { buildApiServer, type ApiServerAppOptions } from "./app.ts";
import type { AuthenticationResult } from "./auth/authenticator.ts";
import type { DrainStatus } from "../api/drain.ts";
import { DrainRegistry, type DrainRunner } from "./drain/registry.ts";
import { ApiServerMetrics } from "./metrics.ts";
import type { HttpApp } from "./http/app.ts";

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

interface Answer {
  statusCode: number;
  headers: IncomingHttpHeaders;
  body: string;
  json(): { code?: number; reason?: string; message?: string } & Record<string, unknown>;
}

interface Call {
  method: string;
  url: string;
  headers?: Record<string, string>;
  payload?: string;
}

const listening = new Map<HttpApp, Promise<string>>();

afterEach(async () => {
  const apps = [...listening.keys()];
  listening.clear();
  await Promise.all(apps.map((a) => a.close()));
});

/** One request on a connection of its own to `a`, listening on loopback (from its first request on). */
async function call(a: HttpApp, { method, url, headers = {}, payload }: Call): Promise<Answer> {
  let address = listening.get(a);
  if (address === undefined) {
    address = a.listen({ host: "127.0.0.1", port: 0 });
    listening.set(a, address);
  }
  const base = await address;
  return new Promise((resolve, reject) => {
    const req = httpRequest(
      new URL(url, base),
      {
        method,
        agent: false,
        headers: {
          ...(payload === undefined ? {} : { "content-length": String(Buffer.byteLength(payload)) }),
          ...headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const body = Buffer.concat(chunks).toString("utf8");
          resolve({
            statusCode: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json: () => JSON.parse(body) as ReturnType<Answer["json"]>,
          });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
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
    const response = await call(a, { method: "POST", url: AGENT_ROUTES.uncordon, headers });
    expect(response.statusCode).toBe(503);
    expect(response.headers["retry-after"]).toBe("1");
    expect(response.json()).toMatchObject({ reason: "ShuttingDown" });
    expect((await call(a, { method: "GET", url: "/readyz" })).statusCode).toBe(503);
  });

  it("answers 429 with Retry-After past the per-node rate", async () => {
    const { app: a } = app({ rateLimit: { burst: 1, perMinute: 1 } });
    expect((await call(a, { method: "POST", url: AGENT_ROUTES.uncordon, headers })).statusCode).toBe(200);
    const limited = await call(a, { method: "POST", url: AGENT_ROUTES.uncordon, headers });
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
      expect((await call(a, { method: "POST", url: AGENT_ROUTES.uncordon, headers })).statusCode).toBe(401);
    }
    allow = true;
    expect((await call(a, { method: "POST", url: AGENT_ROUTES.uncordon, headers })).statusCode).toBe(200);
    const limited = await call(a, { method: "POST", url: AGENT_ROUTES.uncordon, headers });
    const body = limited.json();
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
      const response = await call(a, { method: "POST", url, headers: { ...headers, "content-type": type }, payload });
      expect(response.statusCode).toBe(400);
      expect(response.json()).toMatchObject({ reason: "BodyNotAllowed", message: `POST ${url} takes no body` });
    }
    expect(calls).toEqual([]);
  });

  it("refuses deep JSON naming where, too many values, and bodies that are not JSON", async () => {
    const { app: a } = app();
    const put = (payload: string, type = "application/json") =>
      call(a, { method: "PUT", url: AGENT_ROUTES.shadow, headers: { ...headers, "content-type": type }, payload });
    const deep = await put(`{"crash_count":${"[".repeat(30_000)}${"]".repeat(30_000)}}`);
    expect(deep.statusCode).toBe(400);
    expect(deep.json().reason).toBe("Invalid");
    expect(deep.json().message).toMatch(/^body: crash_count\[0\]/);
    const { app: roomy } = app({ bodyLimitBytes: 4 * 1024 * 1024 });
    const dense = await call(roomy, {
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
      const response = await call(a, { method: "POST", url: AGENT_ROUTES.shadow, headers });
      expect(response.statusCode).toBe(status);
      expect(response.json()).toEqual({ code: status, reason: "R", message: "m" });
    }
  });

  it("hides internal errors behind a generic 500", async () => {
    const response = await call(app().app, { method: "POST", url: AGENT_ROUTES.shadow, headers });
    expect(response.statusCode).toBe(500);
    expect(response.json()).toEqual({
      code: 500,
      reason: "InternalError",
      message: "internal error (see the API server's log)",
    });
  });

  it("accepts brupop's body-less POSTs even when they claim JSON", async () => {
    const { app: a, calls } = app();
    const response = await call(a, {
      method: "POST",
      url: AGENT_ROUTES.excludeFromLb,
      headers: { ...headers, "content-type": "application/json" },
      payload: "",
    });
    expect(response.statusCode).toBe(200);
    expect(calls).toEqual(["exclude node-1 true"]);
  });

  it("answers the synchronous drain 200 when drained and 504 while it still runs", async () => {
    expect((await call(app().app, { method: "POST", url: AGENT_ROUTES.cordonAndDrain, headers })).statusCode).toBe(200);
    const slow = app(
      {},
      (drain, signal) => new Promise((resolve) => signal.addEventListener("abort", () => resolve(drained(drain)))),
    );
    const response = await call(slow.app, { method: "POST", url: AGENT_ROUTES.cordonAndDrain, headers });
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
    const draining = call(a, { method: "POST", url: AGENT_ROUTES.cordonAndDrain, headers });
    await running.promise; // the drain has begun: the uncordon below cancels it, not a drain yet to come
    expect((await call(a, { method: "POST", url: AGENT_ROUTES.uncordon, headers })).statusCode).toBe(200);
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
    expect((await call(a, { method: "GET", url: AGENT_ROUTES.drain, headers })).statusCode).toBe(404);
    const started = await call(a, { method: "POST", url: AGENT_ROUTES.drain, headers });
    expect(started.statusCode).toBe(202);
    expect(started.headers.location).toBe(AGENT_ROUTES.drain);
    await finished.promise;
    const status = await call(a, { method: "GET", url: AGENT_ROUTES.drain, headers });
    expect(status.json()).toMatchObject({ drain: { node: "node-1", phase: "drained" }, blockers: [] });
  });
});

describe("the HTTP layer", () => {
  it("answers unknown routes and wrong methods 404 in JSON, and HEAD like GET without a body", async () => {
    const { app: a } = app();
    for (const [method, url] of [
      ["GET", "/nope?x=1"],
      ["DELETE", AGENT_ROUTES.shadow],
      ["GET", AGENT_ROUTES.uncordon],
      ["GET", "/ping/"],
    ] as const) {
      const response = await call(a, { method, url, headers });
      expect(response.statusCode, `${method} ${url}`).toBe(404);
      expect(response.json()).toEqual({ code: 404, reason: "NotFound", message: `no route ${method} ${url}` });
    }
    const head = await call(a, { method: "HEAD", url: "/livez" });
    expect({ status: head.statusCode, length: head.headers["content-length"], body: head.body }).toEqual({
      status: 200,
      length: String('{"status":"ok"}'.length),
      body: "",
    });
    expect((await call(a, { method: "GET", url: "/ping?probe=1" })).body).toBe("pong");
    const bad = await call(a, { method: "GET", url: "/%zz" });
    expect({ status: bad.statusCode, reason: bad.json().reason }).toEqual({ status: 400, reason: "BadRequest" });
  });

  it("echoes the status with an ETag and passes If-Match on", async () => {
    const seen: (string | undefined)[] = [];
    const { app: a } = app({
      shadows: {
        create: async () => ({}) as never,
        replaceStatus: async (_node, _status, ifMatch) => {
          seen.push(ifMatch);
          return "42";
        },
      },
    });
    const status = { current_version: "1.20.0", target_version: "1.21.0", current_state: "Idle", crash_count: 0 };
    const response = await call(a, {
      method: "PUT",
      url: AGENT_ROUTES.shadow,
      headers: { ...headers, "content-type": "application/json", "if-match": '"41"' },
      payload: JSON.stringify(status),
    });
    expect({ status: response.statusCode, etag: response.headers.etag, body: response.json() }).toEqual({
      status: 200,
      etag: '"42"',
      body: status,
    });
    expect(seen).toEqual(["41"]);
  });

  it("reads a body refused unread (413, 429) and keeps the connection, rather than cutting the client still sending", async () => {
    const { app: a } = app({ rateLimit: { burst: 1, perMinute: 1 } });
    const base = new URL(await a.listen({ host: "127.0.0.1", port: 0 }));
    listening.set(a, Promise.resolve(base.href));
    const socket = connect({ host: base.hostname, port: Number(base.port) });
    let received = "";
    const waiting: { fact: () => boolean; resolve: () => void }[] = [];
    socket.on("data", (chunk: Buffer) => {
      received += chunk.toString("latin1");
      for (const w of waiting.filter((w) => w.fact())) w.resolve();
    });
    const closed = new Promise<never>((_resolve, reject) =>
      socket.once("close", () => reject(new Error(`connection closed after:\n${received}`))),
    );
    closed.catch(() => undefined); // the test's own destroy() at the end
    const until = (fact: () => boolean) =>
      Promise.race([closed, new Promise<void>((resolve) => (fact() ? resolve() : waiting.push({ fact, resolve })))]);
    const head = (length: number) =>
      `PUT ${AGENT_ROUTES.shadow} HTTP/1.1\r\nhost: x\r\n` +
      Object.entries({ ...headers, "content-type": "application/json", "content-length": String(length) })
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join("") +
      "\r\n";
    const size = 1024 * 1024; // over the 64 KiB limit: 413 from the header alone
    socket.write(head(size) + "x".repeat(1024));
    // The answer comes before the body; the rest follows it, then more requests on the same connection.
    await until(() => received.includes("413"));
    socket.write("x".repeat(size - 1024));
    socket.write(head(size) + "y".repeat(size)); // the node's token is spent: 429, its body read and dropped
    socket.write("GET /ping HTTP/1.1\r\nhost: x\r\n\r\n");
    await until(() => received.endsWith("pong"));
    socket.destroy();
    const statuses = [...received.matchAll(/HTTP\/1\.1 (\d+)/g)].map((m) => m[1]);
    expect(statuses).toEqual(["413", "429", "200"]);
    expect(received).toMatch(/retry-after: 60/i);
  });

  it("counts answers by route pattern, 'unmatched' for none", async () => {
    const metrics = new ApiServerMetrics({ defaultMetrics: false });
    const { app: a } = app({ metrics });
    await call(a, { method: "GET", url: "/ping?x=1" });
    await call(a, { method: "GET", url: "/nope" });
    await call(a, { method: "POST", url: AGENT_ROUTES.uncordon, headers });
    const counted = metrics.requests.family().samples.map((sample) => Object.fromEntries(sample.labels));
    expect(counted).toEqual(
      expect.arrayContaining([
        { route: "/ping", method: "GET", code: "200" },
        { route: "unmatched", method: "GET", code: "404" },
        { route: AGENT_ROUTES.uncordon, method: "POST", code: "200" },
      ]),
    );
    expect(counted).toHaveLength(3);
  });
});
