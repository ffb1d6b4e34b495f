// Drains through the API server's routes against a real control plane: cordon, Eviction API, PodDisruptionBudgets
// (blocking then releasing, and never releasing), DaemonSet and mirror pods left alone, a StatefulSet pod recreated
// under the same name recognised as a new pod. The agent on each node is a real DaemonSet pod with a bound token.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createServer, request as httpRequest, type Server } from "node:http";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AppsV1Api, PolicyV1Api, type V1Pod } from "@kubernetes/client-node";
import { pino } from "pino";
import { eventually, useCluster, type TestCluster } from "../support/cluster.ts";
import { requestPodToken } from "../../sim/cluster/tokens.ts";
import { AGENT_ROUTES, COMPONENT, LABEL_COMPONENT, TOKEN_AUDIENCE } from "../../src/api/index.ts";
import { createApiServer, type ApiServer } from "../../src/apiserver/server.ts";
import type { DrainStatus, PodProgress } from "../../src/api/drain.ts";
import { ANNOTATION_DRAIN } from "../../src/api/constants.ts";
import { ApiServerClient, DrainFailedError } from "../../src/agent/apiserver-client.ts";

const AGENT_SA = "brupop-agent-service-account";
const fastDrain = { blockedRetryMs: 300, deletionPollMs: 200, backoffMinMs: 100, backoffMaxMs: 1_000 };

let t: TestCluster;
let apps: AppsV1Api;
let policy: PolicyV1Api;
/** Generous drain timeout (blocks then releases, DaemonSets, StatefulSets). */
let patient: { server: ApiServer; base: string };
/** A short one, for the budget that never allows. */
let hasty: { server: ApiServer; base: string };
/** Another replica, as patient as the first. */
let replicaB: { server: ApiServer; base: string };

interface Agent {
  node: { name: string; uid: string };
  token: string;
  podUid: string;
}

async function start(timeoutMs: number): Promise<{ server: ApiServer; base: string }> {
  const server = createApiServer({
    client: t.client,
    log: pino({ level: "warn" }),
    namespace: t.namespace,
    agentServiceAccount: AGENT_SA,
    defaultMetrics: false,
    drain: { ...fastDrain, timeoutMs },
  });
  await server.startCaches();
  return { server, base: await server.app.listen({ host: "127.0.0.1", port: 0 }) };
}

const byHost = (node: string) => ({ "kubernetes.io/hostname": node });

/** A DaemonSet pinned to one node, as the agent's would be there. */
async function daemonSet(name: string, node: string, labels: Record<string, string>, serviceAccountName?: string) {
  await apps.createNamespacedDaemonSet({
    namespace: t.namespace,
    body: {
      metadata: { name },
      spec: {
        selector: { matchLabels: { ds: name } },
        template: {
          metadata: { labels: { ...labels, ds: name } },
          spec: {
            nodeSelector: byHost(node),
            ...(serviceAccountName ? { serviceAccountName } : {}),
            containers: [{ name: "c", image: "c" }],
          },
        },
      },
    },
  });
  return eventually(`DaemonSet ${name} pod running`, async () => {
    const pods = await t.core.listNamespacedPod({ namespace: t.namespace, labelSelector: `ds=${name}` });
    const pod = pods.items.find((p) => p.status?.phase === "Running");
    return pod;
  });
}

/** An agent pod (DaemonSet-owned, so the drain leaves it) on `nodeName`, with a real bound token. */
async function agentOn(nodeName: string): Promise<Agent> {
  const pod = await daemonSet(
    `agent-${nodeName.slice(-3)}`,
    nodeName,
    { [LABEL_COMPONENT]: COMPONENT.agent },
    AGENT_SA,
  );
  const token = await requestPodToken(t.core, {
    namespace: t.namespace,
    serviceAccount: AGENT_SA,
    pod: { name: pod.metadata?.name ?? "", uid: pod.metadata?.uid ?? "" },
    audiences: [TOKEN_AUDIENCE],
  });
  const node = await t.core.readNode({ name: nodeName });
  return { node: { name: nodeName, uid: node.metadata?.uid ?? "" }, token, podUid: pod.metadata?.uid ?? "" };
}

async function call(base: string, agent: Agent, method: string, path: string) {
  const response = await fetch(base + path, {
    method,
    headers: { BrupopNodeName: agent.node.name, BrupopNodeUid: agent.node.uid, BrupopK8sAuthToken: agent.token },
  });
  const text = await response.text();
  return { status: response.status, json: (text ? JSON.parse(text) : {}) as Record<string, unknown> };
}

async function barePod(name: string, node: string, labels: Record<string, string> = {}): Promise<V1Pod> {
  const pod = await t.core.createNamespacedPod({
    namespace: t.namespace,
    body: { metadata: { name, labels }, spec: { nodeName: node, containers: [{ name: "c", image: "c" }] } },
  });
  await eventually(`${name} running`, async () => {
    const p = await t.core.readNamespacedPod({ name, namespace: t.namespace });
    return p.status?.phase === "Running" ? p : undefined;
  });
  return pod;
}

async function budget(name: string, app: string, minAvailable: number): Promise<void> {
  await policy.createNamespacedPodDisruptionBudget({
    namespace: t.namespace,
    body: { metadata: { name }, spec: { minAvailable, selector: { matchLabels: { app } } } },
  });
  await eventually(`${name} observed`, async () => {
    const pdb = await policy.readNamespacedPodDisruptionBudget({ name, namespace: t.namespace });
    return pdb.status?.observedGeneration === pdb.metadata?.generation && pdb.status?.currentHealthy === 1
      ? true
      : undefined;
  });
}

const podUids = async (node: string) =>
  new Map(
    (await t.core.listPodForAllNamespaces({ fieldSelector: `spec.nodeName=${node}` })).items.map((p) => [
      p.metadata?.name ?? "",
      p.metadata?.uid ?? "",
    ]),
  );

beforeAll(async () => {
  t = await useCluster(import.meta.url);
  apps = t.kc.makeApiClient(AppsV1Api);
  policy = t.kc.makeApiClient(PolicyV1Api);
  await t.core.createNamespacedServiceAccount({ namespace: t.namespace, body: { metadata: { name: AGENT_SA } } });
  await t.createNodes(6);
  [patient, hasty, replicaB] = await Promise.all([start(60_000), start(3_000), start(60_000)]);
});

afterAll(async () => {
  await Promise.all([patient.server.shutdown(), hasty.server.shutdown(), replicaB.server.shutdown()]);
  await t.cleanup();
});

describe("drain", () => {
  it("is held by a PodDisruptionBudget, reports it, and finishes once the budget allows", async () => {
    const node = t.nodeName(0);
    const agent = await agentOn(node);
    await barePod("guarded", node, { app: "guarded" });
    await budget("guarded-pdb", "guarded", 1);

    const started = await call(patient.base, agent, "POST", AGENT_ROUTES.drain);
    expect(started.status).toBe(202);
    expect(started.json).toMatchObject({ started: true });

    const blocked = await eventually("drain reports the budget", async () => {
      const { json } = await call(patient.base, agent, "GET", AGENT_ROUTES.drain);
      const blockers = json.blockers as PodProgress[] | undefined;
      return blockers?.some((b) => b.state === "blocked") ? (json.drain as DrainStatus) : undefined;
    });
    expect(blocked.phase).toBe("evicting");
    expect(blocked.pods).toMatchObject([{ name: "guarded", state: "blocked", budgets: ["guarded-pdb"] }]);
    expect((await t.core.readNode({ name: node })).spec?.unschedulable).toBe(true);

    await policy.patchNamespacedPodDisruptionBudget({
      name: "guarded-pdb",
      namespace: t.namespace,
      body: [{ op: "replace", path: "/spec/minAvailable", value: 0 }],
    });
    const done = await eventually(
      "drain finished",
      async () => {
        const drain = (await call(patient.base, agent, "GET", AGENT_ROUTES.drain)).json.drain as DrainStatus;
        return drain.phase === "evicting" || drain.phase === "cordoning" ? undefined : drain;
      },
      30_000,
    );
    expect(done.phase).toBe("drained");
    expect((await podUids(node)).has("guarded")).toBe(false);
    // The agent's own DaemonSet pod was left where it was.
    expect([...(await podUids(node)).values()]).toContain(agent.podUid);
  });

  it("times out on a budget that never allows, naming it, and leaves the node cordoned", async () => {
    const node = t.nodeName(1);
    const agent = await agentOn(node);
    await barePod("stubborn", node, { app: "stubborn" });
    await budget("stubborn-pdb", "stubborn", 1);

    const response = await call(hasty.base, agent, "POST", AGENT_ROUTES.cordonAndDrain); // brupop's synchronous route
    expect(response.status).toBe(504);
    expect(response.json).toMatchObject({ code: 504, reason: "DrainTimedOut" });
    // The replica's own 3 s deadline ended it (not the patient replicas' 60 s, nor the client's).
    expect(String(response.json.message)).toMatch(/^not drained after 3 s\b/);
    expect(String(response.json.message)).toMatch(/stubborn.*PodDisruptionBudget stubborn-pdb/);
    const details = response.json.details as { blockers: PodProgress[] };
    expect(details.blockers).toMatchObject([{ name: "stubborn", state: "blocked", budgets: ["stubborn-pdb"] }]);
    expect((await podUids(node)).has("stubborn")).toBe(true);
    expect((await t.core.readNode({ name: node })).spec?.unschedulable).toBe(true);
  });

  it("leaves DaemonSet and mirror pods alone and evicts the rest", async () => {
    const node = t.nodeName(2);
    const agent = await agentOn(node);
    const other = await daemonSet("logging", node, { app: "logging" });
    const mirror = await t.core.createNamespacedPod({
      namespace: t.namespace,
      body: {
        metadata: {
          name: `static-${node}`,
          annotations: { "kubernetes.io/config.mirror": "hash", "kubernetes.io/config.source": "file" },
          ownerReferences: [{ apiVersion: "v1", kind: "Node", name: node, uid: agent.node.uid, controller: true }],
        },
        spec: { nodeName: node, containers: [{ name: "c", image: "c" }] },
      },
    });
    await barePod("worker", node);
    const before = await podUids(node);

    const response = await call(patient.base, agent, "POST", AGENT_ROUTES.cordonAndDrain);
    expect(response.status).toBe(200);
    const after = await podUids(node);
    expect(after.has("worker")).toBe(false);
    for (const pod of [other, mirror]) {
      expect(after.get(pod.metadata?.name ?? "")).toBe(before.get(pod.metadata?.name ?? ""));
    }
    expect([...after.values()]).toContain(agent.podUid);
    const status = (await call(patient.base, agent, "GET", AGENT_ROUTES.drain)).json.drain as DrainStatus;
    expect(status.skipped.map((s) => s.reason).sort()).toEqual(["daemonset", "daemonset", "mirror"]);
  });

  it("recognises a StatefulSet pod recreated under the same name as a new pod", async () => {
    const node = t.nodeName(3);
    const agent = await agentOn(node);
    await apps.createNamespacedStatefulSet({
      namespace: t.namespace,
      body: {
        metadata: { name: "db" },
        spec: {
          replicas: 1,
          serviceName: "db",
          selector: { matchLabels: { app: "db" } },
          template: {
            metadata: { labels: { app: "db" } },
            spec: {
              nodeSelector: byHost(node),
              // Comes back onto the cordoned node, so the namesake is there while the drain waits.
              tolerations: [{ key: "node.kubernetes.io/unschedulable", operator: "Exists", effect: "NoSchedule" }],
              containers: [{ name: "db", image: "db" }],
            },
          },
        },
      },
    });
    const first = await eventually("db-0 running", async () => {
      const p = await t.core.readNamespacedPod({ name: "db-0", namespace: t.namespace }).catch(() => undefined);
      return p?.status?.phase === "Running" ? p : undefined;
    });

    const response = await call(patient.base, agent, "POST", AGENT_ROUTES.cordonAndDrain);
    expect(response.status).toBe(200);
    const again = await eventually("db-0 recreated", async () => {
      const p = await t.core.readNamespacedPod({ name: "db-0", namespace: t.namespace }).catch(() => undefined);
      return p && p.metadata?.uid !== first.metadata?.uid ? p : undefined;
    });
    expect(again.metadata?.uid).not.toBe(first.metadata?.uid);
    const status = (await call(patient.base, agent, "GET", AGENT_ROUTES.drain)).json.drain as DrainStatus;
    expect(status.pods).toMatchObject([{ name: "db-0", uid: first.metadata?.uid, state: "gone" }]);
  });
});

/** A "Service" that sends POSTs to one replica and everything else to another (a remap between the two). */
async function splitService(targets: {
  post: string;
  other: string;
}): Promise<{ url: string; close(): Promise<void> }> {
  const server: Server = createServer((req, res) => {
    const target = new URL(req.url ?? "/", req.method === "POST" ? targets.post : targets.other);
    const upstream = httpRequest(target, { method: req.method, headers: req.headers }, (answer) => {
      res.writeHead(answer.statusCode ?? 502, answer.headers);
      answer.pipe(res);
    });
    upstream.on("error", () => res.writeHead(502).end());
    req.pipe(upstream);
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  const port = typeof address === "object" && address !== null ? address.port : 0;
  return { url: `http://127.0.0.1:${port}`, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

describe("a drain's identity across API server replicas", () => {
  it("an agent never takes another drain's 'drained' for its own, when its polls land on another replica", async () => {
    const node = t.nodeName(4);
    const agent = await agentOn(node);
    // Replica A drained the node once before (nothing was on it then) and still remembers that drain.
    expect((await call(patient.base, agent, "POST", AGENT_ROUTES.drain)).status).toBe(202);
    await eventually("A's earlier drain finished", async () => {
      const drain = (await call(patient.base, agent, "GET", AGENT_ROUTES.drain)).json.drain as DrainStatus;
      return drain.phase === "drained" ? true : undefined;
    });
    expect((await call(patient.base, agent, "POST", AGENT_ROUTES.uncordon)).status).toBe(200);
    // Now a pod the drain must evict, held by a budget that never allows it.
    await barePod("held", node, { app: "held" });
    await budget("held-pdb", "held", 1);

    const service = await splitService({ post: replicaB.base, other: patient.base });
    const dir = await mkdtemp(join(tmpdir(), "brupop-drain-identity-"));
    try {
      const tokenFile = join(dir, "token");
      await writeFile(tokenFile, agent.token);
      const client = new ApiServerClient({
        access: { url: service.url, caFile: null, tokenFile },
        nodeName: node,
        nodeUid: () => agent.node.uid,
        requestTimeoutMs: 5_000,
        drainTimeoutMs: 8_000,
        drainPollIntervalMs: 250,
      });
      const outcome = await client.cordonAndDrain().then(
        () => "drained",
        (error: unknown) => error,
      );
      expect(outcome).toBeInstanceOf(DrainFailedError);
      expect(String(outcome)).toMatch(/did not finish within 8 s/);
    } finally {
      await service.close();
      await rm(dir, { recursive: true, force: true });
    }
    expect((await podUids(node)).has("held")).toBe(true); // the pod is still there: "drained" would have been a lie
  });

  it("an uncordon through one replica ends the drain another replica runs; the node stays uncordoned", async () => {
    const node = t.nodeName(5);
    const agent = await agentOn(node);
    await barePod("pinned", node, { app: "pinned" });
    await budget("pinned-pdb", "pinned", 1);
    expect((await call(patient.base, agent, "POST", AGENT_ROUTES.drain)).status).toBe(202);
    const running = await eventually("A's drain blocked by the budget", async () => {
      const { json } = await call(patient.base, agent, "GET", AGENT_ROUTES.drain);
      const blockers = json.blockers as PodProgress[] | undefined;
      return blockers?.some((b) => b.state === "blocked") ? (json.drain as DrainStatus) : undefined;
    });
    const cordoned = await t.core.readNode({ name: node });
    expect(cordoned.spec?.unschedulable).toBe(true);
    expect(cordoned.metadata?.annotations?.[ANNOTATION_DRAIN]).toBe(running.id);

    expect((await call(replicaB.base, agent, "POST", AGENT_ROUTES.uncordon)).status).toBe(200);
    const ended = await eventually(
      "A's drain ended",
      async () => {
        const drain = (await call(patient.base, agent, "GET", AGENT_ROUTES.drain)).json.drain as DrainStatus;
        return drain.phase === "evicting" || drain.phase === "cordoning" ? undefined : drain;
      },
      20_000,
    );
    expect(ended).toMatchObject({ id: running.id, phase: "cancelled" });
    expect(ended.message).toMatch(/the node was uncordoned/);
    const after = await t.core.readNode({ name: node });
    expect(after.spec?.unschedulable).toBeFalsy();
    expect(after.metadata?.annotations?.[ANNOTATION_DRAIN]).toBeUndefined();
    expect((await podUids(node)).has("pinned")).toBe(true);
  });
});
