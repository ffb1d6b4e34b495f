import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Agent, createServer, request, type Server } from "node:https";
import type { AddressInfo } from "node:net";
import { createCertificateAuthority, type CertificateAuthority } from "../../src/pki/certificates.ts";
import { startFaultProxy, type FaultProxy } from "../cluster/fault-proxy.ts";
import {
  countByComponent,
  countRequests,
  perHour,
  requestKind,
  SERVER_DEFAULT_WATCH_SECONDS,
  steadyRate,
} from "./request-count.ts";

describe("requestKind: the audit log's verb and resource", () => {
  it.each([
    ["GET", "/api/v1/nodes?limit=500", "LIST nodes"],
    ["GET", "/api/v1/nodes?watch=1&resourceVersion=12", "WATCH nodes"],
    ["GET", "/api/v1/nodes?watch=true", "WATCH nodes"],
    ["GET", "/api/v1/nodes?watch=false", "LIST nodes"],
    ["GET", "/api/v1/nodes/node-1", "GET nodes"],
    ["PATCH", "/api/v1/nodes/node-1/status", "PATCH nodes/status"],
    ["GET", "/api/v1/namespaces/ns/pods?labelSelector=a%3Db", "LIST pods"],
    ["POST", "/api/v1/namespaces/ns/pods/p/eviction", "POST pods/eviction"],
    ["GET", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/lead", "GET leases"],
    ["PUT", "/apis/coordination.k8s.io/v1/namespaces/ns/leases/lead", "PUT leases"],
    ["GET", "/apis/brupop.bottlerocket.aws/v2/namespaces/ns/bottlerocketshadows?watch=1", "WATCH bottlerocketshadows"],
    [
      "PUT",
      "/apis/brupop.bottlerocket.aws/v2/namespaces/ns/bottlerocketshadows/brs-a/status",
      "PUT bottlerocketshadows/status",
    ],
    ["POST", "/apis/authentication.k8s.io/v1/tokenreviews", "POST tokenreviews"],
    ["GET", "/api/v1/namespaces/ns", "GET namespaces"],
    ["GET", "/api/v1/namespaces", "LIST namespaces"],
    ["DELETE", "/api/v1/namespaces/ns/pods", "DELETECOLLECTION pods"],
    ["GET", "/apis", "GET /apis"],
    ["GET", "/version", "GET /version"],
  ])("%s %s is %s", (method, url, kind) => {
    expect(requestKind(method, url)).toBe(kind);
  });
});

describe("counting over a window", () => {
  const log = [
    { method: "GET", url: "/api/v1/nodes?watch=1", at: 999 },
    { method: "GET", url: "/api/v1/nodes?watch=1", at: 1_000 },
    { method: "PUT", url: "/apis/coordination.k8s.io/v1/namespaces/n/leases/l", at: 1_500 },
    { method: "PUT", url: "/apis/coordination.k8s.io/v1/namespaces/n/leases/l", at: 1_999 },
    { method: "GET", url: "/apis/coordination.k8s.io/v1/namespaces/n/leases/l", at: 2_000 },
  ];

  it("counts requests that arrived in [from, to), by kind, largest first", () => {
    expect(countRequests(log, { from: 1_000, to: 2_000 })).toEqual({
      total: 3,
      byKind: { "PUT leases": 2, "WATCH nodes": 1 },
    });
    expect(Object.keys(countRequests(log, { from: 1_000, to: 2_000 }).byKind)).toEqual(["PUT leases", "WATCH nodes"]);
    expect(countRequests(log, { from: 3_000, to: 4_000 })).toEqual({ total: 0, byKind: {} });
  });

  it("adds up the components, each counted on its own", () => {
    const counted = countByComponent({ controller: log, apiserver: log.slice(0, 2) }, { from: 0, to: 1_600 });
    expect(counted.total).toBe(5);
    expect(counted.byComponent.controller?.total).toBe(3);
    expect(counted.byComponent.apiserver).toEqual({ total: 2, byKind: { "WATCH nodes": 2 } });
  });

  it("scales a window's count to an hour", () => {
    expect(perHour(5, 300_000)).toBe(60);
    expect(perHour(0, 60_000)).toBe(0);
    expect(perHour(1, 3_600_000)).toBe(1);
    expect(() => perHour(1, 0)).toThrow(/no rate/);
  });
});

describe("the rate at rest, watches counted by the timeout they asked for", () => {
  const hour = 3_600_000;
  const window = { from: hour, to: hour + 360_000 }; // 6 minutes: a tenth of an hour
  const lease = (at: number) => ({ method: "PUT", url: "/apis/coordination.k8s.io/v1/namespaces/n/leases/l", at });

  it("counts a watch held across the window once per its timeout, not once per window", () => {
    const log = [
      { method: "GET", url: "/api/v1/nodes?watch=1&timeoutSeconds=1800", at: 0 }, // opened before, still open
      { method: "GET", url: "/api/v1/pods?watch=1&timeoutSeconds=43200", at: hour + 1, closedAt: undefined },
      { method: "GET", url: "/api/v1/nodes?watch=1", at: 0 }, // no timeout asked: the server's default
      lease(hour + 10),
      lease(hour + 20),
    ];
    const rate = steadyRate(log, window);
    expect(rate.heldWatches).toBe(3);
    expect(rate.watchesPerHour).toBeCloseTo(2 + 1 / 12 + 3600 / SERVER_DEFAULT_WATCH_SECONDS, 9);
    // The two lease writes at the window's rate (20 an hour); the watch opened inside it is not counted twice.
    expect(rate.perHour).toBeCloseTo(20 + rate.watchesPerHour, 9);
  });

  it("counts a watch that ended within the window, and any request after it, at the window's rate", () => {
    const log = [
      { method: "GET", url: "/api/v1/nodes?watch=1&timeoutSeconds=30", at: hour + 5, closedAt: hour + 35_000 },
      { method: "GET", url: "/api/v1/nodes?watch=1&timeoutSeconds=30", at: hour + 400_000 }, // after the window
      lease(hour - 1), // before the window
    ];
    expect(steadyRate(log, window)).toEqual({ perHour: 10, heldWatches: 0, watchesPerHour: 0 });
  });
});

describe("counting at the wire: one proxy per component", () => {
  let ca: CertificateAuthority;
  let upstream: Server;
  let upstreamConnections = 0;
  let proxies: Record<"controller" | "apiserver", FaultProxy>;

  beforeAll(async () => {
    ca = await createCertificateAuthority("request-count test");
    const serving = await ca.issue({ commonName: "127.0.0.1", ipAddresses: ["127.0.0.1"], usages: ["server"] });
    // A kube-apiserver stand-in for the wire only: a watch gets its first event and stays open; the rest get {}.
    upstream = createServer({ cert: serving.certPem, key: serving.keyPem }, (req, res) => {
      res.writeHead(200, { "content-type": "application/json" });
      if ((req.url ?? "").includes("watch=1")) res.write('{"type":"ADDED"}\n');
      else res.end("{}");
    });
    upstream.on("secureConnection", () => upstreamConnections++);
    await new Promise<void>((done) => upstream.listen(0, "127.0.0.1", done));
    const url = `https://127.0.0.1:${(upstream.address() as AddressInfo).port}`;
    const start = () => startFaultProxy({ upstream: url, upstreamCaPem: ca.certPem, serving, upstreamKeepAlive: true });
    proxies = { controller: await start(), apiserver: await start() };
  });

  afterAll(async () => {
    await Promise.all(Object.values(proxies).map((p) => p.stop()));
    upstream.closeAllConnections();
    await new Promise((done) => upstream.close(done));
  });

  /** One request through `proxy` on a keep-alive client; resolves with the first chunk of the answer. */
  function send(proxy: FaultProxy, agent: Agent, method: string, path: string): Promise<string> {
    return new Promise((resolve, reject) => {
      const req = request(new URL(path, proxy.url), { method, ca: ca.certPem, agent }, (res) => {
        res.once("data", (chunk: Buffer) => resolve(chunk.toString()));
        res.resume();
      });
      req.on("error", reject);
      req.end();
    });
  }

  it("counts each component's requests, a watch as soon as it is opened, over kept-alive upstream connections", async () => {
    const from = Date.now();
    const controllerAgent = new Agent({ keepAlive: true, maxSockets: 1 });
    const apiserverAgent = new Agent({ keepAlive: true, maxSockets: 1 });
    const watchAgent = new Agent({ keepAlive: false });
    try {
      const lease = "/apis/coordination.k8s.io/v1/namespaces/n/leases/l";
      for (let i = 0; i < 3; i++) {
        await send(proxies.controller, controllerAgent, "GET", lease);
        await send(proxies.controller, controllerAgent, "PUT", lease);
      }
      // Still open when counted: its first event arrived, its stream has not ended.
      expect(await send(proxies.controller, watchAgent, "GET", "/api/v1/nodes?watch=1")).toContain("ADDED");
      await send(proxies.apiserver, apiserverAgent, "POST", "/apis/authentication.k8s.io/v1/tokenreviews");

      const counted = countByComponent(
        { controller: proxies.controller.log, apiserver: proxies.apiserver.log },
        { from, to: Date.now() + 1 },
      );
      expect(counted).toEqual({
        total: 8,
        byComponent: {
          controller: { total: 7, byKind: { "GET leases": 3, "PUT leases": 3, "WATCH nodes": 1 } },
          apiserver: { total: 1, byKind: { "POST tokenreviews": 1 } },
        },
      });
      // Kept alive upstream: the six lease requests and then the watch shared one connection, the token review its own.
      expect(upstreamConnections).toBe(2);
    } finally {
      controllerAgent.destroy();
      apiserverAgent.destroy();
      watchAgent.destroy();
    }
  });
});
