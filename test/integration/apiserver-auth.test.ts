// The API server's agent gateway against a real kube-apiserver, with real bound tokens (TokenRequest) and real
// TokenReviews: who may act on which node, the brupop routes and their status codes, and logs carrying the node.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Writable } from "node:stream";
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type V1Pod } from "@kubernetes/client-node";
import { pino } from "pino";
import { ensureShadowCrd } from "../support/shadow-crd.ts";
import { eventually, useCluster, type TestCluster } from "../support/cluster.ts";
import { signBoundToken } from "../support/tokens.ts";
import { requestPodToken } from "../../sim/cluster/tokens.ts";
import {
  AGENT_ROUTES,
  API_GROUP,
  CRD_NAME,
  COMPONENT,
  LABEL_COMPONENT,
  PLURAL,
  TOKEN_AUDIENCE,
  brsName,
  type BottlerocketShadow,
  type BottlerocketShadowStatus,
} from "../../src/api/index.ts";
import { createApiServer, type ApiServer } from "../../src/apiserver/server.ts";
import { kubeClientOf } from "../../sim/cluster/kube-client.ts";
import { proxyToApiServer, type ProxiedAccess } from "../support/fault-proxy.ts";

const AGENT_SA = "brupop-agent-service-account";

let t: TestCluster;
/** Every request the API server sends to kube-apiserver goes through it (its log). */
let access: ProxiedAccess;
let server: ApiServer;
let base: string;
let nodes: { name: string; uid: string }[];
const logLines: Record<string, unknown>[] = [];

async function createAgentPod(namespace: string, name: string, nodeName: string): Promise<V1Pod> {
  return t.core.createNamespacedPod({
    namespace,
    body: {
      metadata: { name, labels: { [LABEL_COMPONENT]: COMPONENT.agent } },
      spec: { nodeName, serviceAccountName: AGENT_SA, containers: [{ name: "agent", image: "agent" }] },
    },
  });
}

async function tokenFor(pod: V1Pod, audiences = [TOKEN_AUDIENCE]): Promise<string> {
  return requestPodToken(t.core, {
    namespace: pod.metadata?.namespace ?? "",
    serviceAccount: AGENT_SA,
    pod: { name: pod.metadata?.name ?? "", uid: pod.metadata?.uid ?? "" },
    audiences,
  });
}

interface Call {
  method?: string;
  path?: string;
  node?: { name: string; uid: string };
  token?: string;
  bearer?: boolean;
  body?: unknown;
  headers?: Record<string, string>;
}

async function call({ method = "POST", path = AGENT_ROUTES.shadow, node, token, bearer, body, headers = {} }: Call) {
  const response = await fetch(base + path, {
    method,
    headers: {
      ...(node ? { BrupopNodeName: node.name, BrupopNodeUid: node.uid } : {}),
      ...(token === undefined ? {} : bearer ? { Authorization: `Bearer ${token}` } : { BrupopK8sAuthToken: token }),
      ...(body === undefined ? {} : { "content-type": "application/json" }),
      ...headers,
    },
    ...(body === undefined ? {} : { body: typeof body === "string" ? body : JSON.stringify(body) }),
  });
  const text = await response.text();
  let json: { reason?: string; message?: string } & Record<string, unknown> = {};
  try {
    json = JSON.parse(text) as typeof json;
  } catch {
    // empty or text bodies
  }
  return { status: response.status, json, text, headers: response.headers };
}

let agent0: V1Pod;
let token0: string;

beforeAll(async () => {
  t = await useCluster(import.meta.url);
  await t.core.createNamespacedServiceAccount({ namespace: t.namespace, body: { metadata: { name: AGENT_SA } } });
  const names = await t.createNodes(2);
  nodes = await Promise.all(
    names.map(async (name) => ({ name, uid: (await t.core.readNode({ name })).metadata?.uid ?? "" })),
  );
  await ensureShadowCrd(t.kc, t.namespace);
  expect(CRD_NAME).toBe(`${PLURAL}.${API_GROUP}`);
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString("utf8").split("\n").filter(Boolean)) {
        logLines.push(JSON.parse(line) as Record<string, unknown>);
      }
      done();
    },
  });
  access = await proxyToApiServer(t, { asAdmin: true });
  server = createApiServer({
    client: kubeClientOf(access.kc),
    log: pino({ level: "info" }, sink),
    namespace: t.namespace,
    agentServiceAccount: AGENT_SA,
    defaultMetrics: false,
    bodyLimitBytes: 4096,
  });
  await server.startCaches();
  const address = await server.app.listen({ host: "127.0.0.1", port: 0 });
  base = address;
  agent0 = await createAgentPod(t.namespace, "agent-0", nodes[0]?.name ?? "");
  token0 = await tokenFor(agent0);
});

afterAll(async () => {
  await server.shutdown();
  await access.proxy.stop();
  await t.cleanup();
});

const node0 = () => nodes[0] ?? { name: "", uid: "" };
/** node 0's shadow, for the custom-objects API. */
const shadowRef = () => ({
  group: API_GROUP,
  version: "v2",
  plural: PLURAL,
  namespace: t.namespace,
  name: brsName(node0().name),
});
const node1 = () => nodes[1] ?? { name: "", uid: "" };

describe("authentication and authorisation", () => {
  it("lets an agent create and report on its own node's shadow, owned by the Node", async () => {
    const created = await call({ node: node0(), token: token0, body: { node_selector: {} } });
    expect(created.status).toBe(200);
    const shadow = created.json as unknown as BottlerocketShadow;
    expect(shadow.metadata.name).toBe(brsName(node0().name));
    expect(shadow.metadata.ownerReferences).toEqual([
      { apiVersion: "v1", kind: "Node", name: node0().name, uid: node0().uid },
    ]);
    expect(shadow.spec).toEqual({ state: "Idle", state_transition_timestamp: null, version: null });

    // Create is idempotent: the agent may retry after a lost answer.
    const again = await call({ node: node0(), token: token0 });
    expect(again.status).toBe(200);
    expect((again.json as unknown as BottlerocketShadow).metadata.uid).toBe(shadow.metadata.uid);

    const status: BottlerocketShadowStatus = {
      current_version: "1.20.0",
      target_version: "1.21.0",
      current_state: "Idle",
      crash_count: 0,
      state_transition_failure_timestamp: null,
    };
    const put = await call({ method: "PUT", node: node0(), token: token0, body: status, bearer: true });
    expect(put.status).toBe(200);
    expect(put.json).toEqual(status);
    const etag = put.headers.get("etag") ?? "";
    expect(etag).toMatch(/^"\d+"$/);
    const stored = (await t.kc
      .makeApiClient(CustomObjectsApi)
      .getNamespacedCustomObject(shadowRef())) as BottlerocketShadow;
    expect(stored.status).toEqual(status);
    expect(`"${stored.metadata.resourceVersion ?? ""}"`).toBe(etag);

    // A write based on an old resourceVersion is refused; one based on the current one passes.
    const stale = await call({
      method: "PUT",
      node: node0(),
      token: token0,
      body: status,
      headers: { "if-match": '"1"' },
    });
    expect(stale.status).toBe(409);
    expect(stale.json.reason).toBe("Conflict");
    const current = await call({
      method: "PUT",
      node: node0(),
      token: token0,
      body: status,
      headers: { "if-match": etag },
    });
    expect(current.status).toBe(200);
  });

  it("keeps the controller's conditions when an agent replaces its status", async () => {
    const custom = t.kc.makeApiClient(CustomObjectsApi);
    const ref = shadowRef();
    const stuck = {
      type: "Stuck",
      status: "True",
      reason: "AgentUnresponsive",
      message: "stuck",
      lastTransitionTime: "2026-12-05T10:00:00+00:00",
    };
    await custom.patchNamespacedCustomObjectStatus(
      { ...ref, body: { status: { conditions: [stuck] } } },
      setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
    );
    const status: BottlerocketShadowStatus = {
      current_version: "1.21.0",
      target_version: "1.21.0",
      current_state: "Idle",
      crash_count: 0,
      state_transition_failure_timestamp: null,
    };
    // An agent (brupop's too) sends no conditions, or tries to set its own: the controller's stay.
    for (const body of [status, { ...status, conditions: [{ ...stuck, status: "False" }] }]) {
      const put = await call({ method: "PUT", node: node0(), token: token0, body, bearer: true });
      expect(put.status).toBe(200);
      const stored = (await custom.getNamespacedCustomObject(ref)) as BottlerocketShadow;
      expect(stored.status).toEqual({ ...status, conditions: [stuck] });
    }
  });

  it("writes a report in one request, and drops the fields a later report leaves out", async () => {
    const custom = t.kc.makeApiClient(CustomObjectsApi);
    const ref = shadowRef();
    const failed: BottlerocketShadowStatus = {
      current_version: "1.21.0",
      target_version: "1.22.0",
      current_state: "Idle",
      crash_count: 1,
      state_transition_failure_timestamp: "2026-12-05T10:00:00Z",
      failure_reason: "the download failed",
    };
    expect((await call({ method: "PUT", node: node0(), token: token0, body: failed, bearer: true })).status).toBe(200);
    const {
      state_transition_failure_timestamp: _at,
      failure_reason: _why,
      ...recovered
    } = {
      ...failed,
      crash_count: 0,
    };
    const before = access.proxy.log.length;
    const put = await call({ method: "PUT", node: node0(), token: token0, body: recovered, bearer: true });
    expect(put.status).toBe(200);
    const sent = access.proxy.log.slice(before).filter((r) => r.url.includes(`/${PLURAL}/`));
    expect(sent.map((r) => `${r.method} ${r.url.split("?")[0]?.split(`/${PLURAL}/`)[1] ?? ""}`)).toEqual([
      `PATCH ${ref.name}/status`,
    ]);
    const stored = (await custom.getNamespacedCustomObject(ref)) as BottlerocketShadow;
    expect({ ...stored.status, conditions: undefined }).toEqual({ ...recovered, conditions: undefined });
    expect(`"${stored.metadata.resourceVersion ?? ""}"`).toBe(put.headers.get("etag"));
  });

  it("refuses a report on a shadow another Node owns (409), changing nothing", async () => {
    const custom = t.kc.makeApiClient(CustomObjectsApi);
    const ref = shadowRef();
    const owners = (await custom.getNamespacedCustomObject(ref)) as BottlerocketShadow;
    // Another Node that exists: an owner kube-apiserver cannot find would have the garbage collector delete the
    // shadow meanwhile.
    const earlier = [{ apiVersion: "v1", kind: "Node", name: node1().name, uid: node1().uid }];
    const merge = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
    await custom.patchNamespacedCustomObject({ ...ref, body: { metadata: { ownerReferences: earlier } } }, merge);
    try {
      const held = (await custom.getNamespacedCustomObject(ref)) as BottlerocketShadow;
      const status: BottlerocketShadowStatus = {
        current_version: "1.22.0",
        target_version: "1.22.0",
        current_state: "Idle",
        crash_count: 0,
      };
      const put = await call({ method: "PUT", node: node0(), token: token0, body: status, bearer: true });
      expect(put.status).toBe(409);
      expect(put.json.reason).toBe("OwnedByAnotherNode");
      const after = (await custom.getNamespacedCustomObject(ref)) as BottlerocketShadow;
      expect(after.metadata.resourceVersion).toBe(held.metadata.resourceVersion);
    } finally {
      const body = { metadata: { ownerReferences: owners.metadata.ownerReferences ?? [] } };
      await custom.patchNamespacedCustomObject({ ...ref, body }, merge);
    }
  });

  it("refuses the agent acting on another node (403)", async () => {
    const response = await call({ node: node1(), token: token0 });
    expect(response.status).toBe(403);
    expect(response.json).toMatchObject({ code: 403, reason: "NodeMismatch" });
    expect(response.json.message).toContain(node1().name);
  });

  it("refuses a forged node uid (403)", async () => {
    const response = await call({
      node: { name: node0().name, uid: "6f1c1e4e-0000-4000-8000-000000000000" },
      token: token0,
    });
    expect(response.status).toBe(403);
    expect(response.json.reason).toBe("NodeUidMismatch");
  });

  it("refuses a token for another audience (401)", async () => {
    const token = await tokenFor(agent0, ["someone-else"]);
    const response = await call({ node: node0(), token });
    expect(response.status).toBe(401);
    expect(response.json.reason).toBe("TokenRejected");
  });

  it("refuses an expired token (401)", async () => {
    const sa = await t.core.readNamespacedServiceAccount({ name: AGENT_SA, namespace: t.namespace });
    const token = await signBoundToken(t.info, {
      namespace: t.namespace,
      serviceAccount: { name: AGENT_SA, uid: sa.metadata?.uid ?? "" },
      pod: { name: "agent-0", uid: agent0.metadata?.uid ?? "" },
      audiences: [TOKEN_AUDIENCE],
      issuedAt: new Date(Date.now() - 7_200_000),
      expiresAt: new Date(Date.now() - 3_600_000),
    });
    const response = await call({ node: node0(), token });
    expect(response.status).toBe(401);
    expect(response.json.message).toMatch(/expired/i);
  });

  it("refuses a same-named agent pod in another namespace (403)", async () => {
    const other = `${t.namespace}-x`;
    await t.core.createNamespace({ body: { metadata: { name: other } } });
    try {
      await t.core.createNamespacedServiceAccount({ namespace: other, body: { metadata: { name: AGENT_SA } } });
      const impostor = await eventually("impostor pod created", () => createAgentPod(other, "agent-0", node0().name));
      const token = await tokenFor(impostor);
      const response = await call({ node: node0(), token });
      expect(response.status).toBe(403);
      expect(response.json.reason).toBe("NotTheAgent");
    } finally {
      await t.core.deleteNamespace({ name: other });
    }
  });

  it("refuses a token whose pod was deleted, at once even after the token was accepted and cached", async () => {
    const pod = await createAgentPod(t.namespace, "agent-short-lived", node1().name);
    const token = await tokenFor(pod);
    expect((await call({ node: node1(), token })).status).toBe(200);
    expect((await call({ node: node1(), token })).status).toBe(200); // cached verdict
    await t.core.deleteNamespacedPod({ name: "agent-short-lived", namespace: t.namespace, gracePeriodSeconds: 0 });
    await eventually("pod gone", async () =>
      (await t.core.listNamespacedPod({ namespace: t.namespace })).items.some(
        (p) => p.metadata?.name === "agent-short-lived",
      )
        ? undefined
        : true,
    );
    const response = await eventually(
      "refused",
      async () => {
        const r = await call({ node: node1(), token });
        return r.status === 200 ? undefined : r;
      },
      3_000,
    );
    expect([401, 403]).toContain(response.status);
  });

  it("counts authentications, with cached verdicts", async () => {
    const text = await server.metrics.registry.metrics();
    expect(text).toMatch(
      /brupop_apiserver_authentications_total\{result="allowed",reason="Allowed",cached="true"\} [1-9]/,
    );
    expect(text).toMatch(
      /brupop_apiserver_authentications_total\{result="denied",reason="NodeMismatch",cached="(true|false)"\} [1-9]/,
    );
  });
});

describe("requests and answers", () => {
  it.each<[string, Call, number, string]>([
    ["no headers", {}, 400, "MissingHeader"],
    ["no node uid", { headers: { BrupopNodeName: "n" } }, 400, "MissingHeader"],
    ["no token", { node: { name: "n", uid: "u" } }, 401, "MissingToken"],
    ["a junk token", { node: { name: "n", uid: "u" }, token: "junk" }, 401, "MalformedToken"],
  ])("answers %s", async (_, request, status, reason) => {
    const response = await call(request);
    expect(response.status).toBe(status);
    expect(response.json).toMatchObject({ code: status, reason });
  });

  it("refuses a status body that breaks the schema (400), naming the field", async () => {
    const response = await call({
      method: "PUT",
      node: node0(),
      token: token0,
      body: { current_version: "1.2", target_version: "1.2.0", current_state: "Sleeping", crash_count: 0 },
    });
    expect(response.status).toBe(400);
    expect(response.json.reason).toBe("Invalid");
    expect(response.json.message).toMatch(/current_version: must be a semantic version/);
    expect(response.json.message).toMatch(/current_state: must be one of/);
  });

  it("refuses malformed JSON (400) and an oversized body (413)", async () => {
    const malformed = await call({ method: "PUT", node: node0(), token: token0, body: "{" });
    expect(malformed.status).toBe(400);
    expect(malformed.json.reason).toBe("InvalidJson");
    const big = await call({ method: "PUT", node: node0(), token: token0, body: { pad: "x".repeat(10_000) } });
    expect(big.status).toBe(413);
    expect(big.json.reason).toBe("BodyTooLarge");
  });

  it("answers unknown routes with a JSON 404 and probes without a token", async () => {
    const missing = await call({ method: "GET", path: "/nope" });
    expect(missing.status).toBe(404);
    expect(missing.json.reason).toBe("NotFound");
    expect((await call({ method: "GET", path: "/ping" })).text).toBe("pong");
    expect((await call({ method: "GET", path: "/livez" })).status).toBe(200);
    expect((await call({ method: "GET", path: "/readyz" })).status).toBe(200);
  });

  it("sets and clears the load-balancer exclusion label, and uncordons", async () => {
    expect((await call({ path: AGENT_ROUTES.excludeFromLb, node: node0(), token: token0 })).status).toBe(200);
    let node = await t.core.readNode({ name: node0().name });
    expect(node.metadata?.labels?.["node.kubernetes.io/exclude-from-external-load-balancers"]).toBe("True");
    expect((await call({ path: AGENT_ROUTES.removeExclusionFromLb, node: node0(), token: token0 })).status).toBe(200);
    await t.core.patchNode({ name: node0().name, body: [{ op: "add", path: "/spec/unschedulable", value: true }] });
    expect((await call({ path: AGENT_ROUTES.uncordon, node: node0(), token: token0 })).status).toBe(200);
    node = await t.core.readNode({ name: node0().name });
    expect(node.metadata?.labels?.["node.kubernetes.io/exclude-from-external-load-balancers"]).toBeUndefined();
    expect(node.spec?.unschedulable ?? false).toBe(false);
  });

  it("logs the node name on every line of a request", async () => {
    logLines.length = 0;
    await call({ node: node1(), token: token0 }); // a refused request logs several lines
    const lines = logLines.filter((l) => l.reqId !== undefined);
    expect(lines.length).toBeGreaterThanOrEqual(3);
    for (const line of lines) expect(line.node).toBe(node1().name);
  });
});
