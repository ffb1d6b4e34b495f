// The hook call against real HTTP and HTTPS servers on loopback: what is sent, and every bound (the timeout, the
// answer's size), and the CA bundle.
import { createServer as createHttpServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { afterEach, describe, expect, it } from "vitest";
import { createCertificateAuthority } from "../pki/certificates.ts";
import type { Hook, HookCall } from "../core/hooks.ts";
import { callHook } from "./hook-caller.ts";

const servers: Server[] = [];
afterEach(async () => {
  for (const server of servers.splice(0)) {
    server.closeAllConnections();
    await new Promise((resolve) => server.close(resolve));
  }
});

type Handler = (req: IncomingMessage, body: string, res: ServerResponse) => void;

async function listen(server: Server, handler: Handler): Promise<number> {
  server.on("request", (req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => handler(req, Buffer.concat(chunks).toString("utf8"), res));
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  return (server.address() as AddressInfo).port;
}

function call(url: string, extra: Partial<Hook> = {}): HookCall {
  return {
    phase: "preDrain",
    hook: {
      name: "db",
      url,
      mode: "Blocking",
      timeoutSeconds: 5,
      attempts: 3,
      maxWaitSeconds: 600,
      caBundle: null,
      ...extra,
    },
    request: {
      apiVersion: "brupop.bottlerocket.aws/v1alpha1",
      kind: "UpdateHook",
      phase: "preDrain",
      hook: "db",
      node: "n1",
      shadow: { name: "brs-n1" },
      fromVersion: "1.25.0",
      toVersion: "1.26.0",
      rollback: false,
      attempt: 1,
      idempotencyKey: "brs-n1/preDrain/1.26.0/t/db",
    },
  };
}

const live = () => new AbortController().signal;

describe("callHook", () => {
  it("POSTs the request as JSON with its idempotency key, and returns the answer", async () => {
    let seen: { method?: string; key?: string; type?: string; body?: unknown } = {};
    const port = await listen(createHttpServer(), (req, body, res) => {
      seen = {
        method: req.method,
        key: req.headers["idempotency-key"] as string,
        type: req.headers["content-type"],
        body: JSON.parse(body),
      };
      res.writeHead(503, { "retry-after": "30" }).end("busy");
    });
    const result = await callHook(call(`http://127.0.0.1:${port}/x`), "ops", live());
    expect(result).toEqual({ kind: "answered", status: 503, retryAfter: "30", body: "busy" });
    expect(seen).toMatchObject({ method: "POST", key: "brs-n1/preDrain/1.26.0/t/db", type: "application/json" });
    expect(seen.body).toMatchObject({ node: "n1", shadow: { namespace: "ops", name: "brs-n1" }, toVersion: "1.26.0" });
  });

  it("gives up at the hook's timeout, closing the connection", async () => {
    let closed = false;
    const port = await listen(createHttpServer(), (_req, _body, res) => {
      res.on("close", () => (closed = true)); // never answered
    });
    const result = await callHook(call(`http://127.0.0.1:${port}/`, { timeoutSeconds: 1 }), "ops", live());
    expect(result).toEqual({ kind: "error", message: "no answer within 1s (timeout)" });
    await expect.poll(() => closed).toBe(true);
  });

  it("reads at most 4 KiB of an answer and does not wait for the rest", async () => {
    const port = await listen(createHttpServer(), (_req, _body, res) => {
      res.writeHead(500);
      res.write("x".repeat(64 * 1024)); // and never ends
    });
    const result = await callHook(call(`http://127.0.0.1:${port}/`), "ops", live());
    expect(result.kind === "answered" && result.status).toBe(500);
    expect(result.kind === "answered" && result.body.length).toBe(4096);
  });

  it("reports a refused connection as an error", async () => {
    const port = await listen(createHttpServer(), () => undefined);
    await new Promise((resolve) => servers.pop()?.close(resolve));
    const result = await callHook(call(`http://127.0.0.1:${port}/`), "ops", live());
    expect(result.kind === "error" && result.message).toMatch(/ECONNREFUSED/);
  });

  it("trusts an https receiver signed by the hook's CA bundle, and not without it", async () => {
    const ca = await createCertificateAuthority("hook test CA");
    const leaf = await ca.issue({ commonName: "receiver", ipAddresses: ["127.0.0.1"], usages: ["server"] });
    const server = createHttpsServer({ cert: leaf.certPem, key: leaf.keyPem });
    const port = await listen(server, (_req, _body, res) => res.writeHead(204).end());
    const url = `https://127.0.0.1:${port}/`;
    expect(await callHook(call(url, { caBundle: ca.certPem }), "ops", live())).toMatchObject({ status: 204 });
    const untrusted = await callHook(call(url), "ops", live());
    expect(untrusted.kind).toBe("error");
  });

  it("rejects when the reconcile is aborted (leadership lost), so that nothing is recorded", async () => {
    const port = await listen(createHttpServer(), () => undefined);
    const abort = new AbortController();
    const pending = callHook(call(`http://127.0.0.1:${port}/`), "ops", abort.signal);
    abort.abort(new Error("lost the lease"));
    await expect(pending).rejects.toThrow();
  });
});
