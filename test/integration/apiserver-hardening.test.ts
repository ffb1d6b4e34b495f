// Bad input against the API server as a pod runs it (its own process, HTTPS, real bound tokens, the real
// kube-apiserver): every class of an attack run is answered 4xx naming what is wrong, changes neither the shadow nor
// the Node, and the server's resident memory stays under the manifest's limit and comes back near its idle size,
// while good agent requests keep being answered (their latency is recorded per phase for the README, not asserted:
// timing goals belong in benchmarks).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFile } from "node:fs/promises";
import { connect as netConnect, type Socket } from "node:net";
import { join } from "node:path";
import { connect as tlsConnect } from "node:tls";
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type V1Pod } from "@kubernetes/client-node";
import { parseAllDocuments } from "yaml";
import { ANNOTATIONS } from "../../src/core/model.ts";
import { formatOutcome, healthCondition } from "../../src/core/health-gates.ts";
import { ensureShadowCrd } from "../support/shadow-crd.ts";
import { eventually, useCluster, type TestCluster } from "../support/cluster.ts";
import { startApiServerProcess, type Answer, type ApiServerProcess } from "../support/apiserver-process.ts";
import { GoodTraffic } from "../support/good-traffic.ts";
import { requestPodToken } from "../../sim/cluster/tokens.ts";
import { containerHeapFlags } from "../../sim/measure/container-memory.ts";
import {
  LARGEST_FLEET,
  conversionReview,
  nestedArrayReview,
  nestedArrays,
  reviewEnvelope,
} from "../../sim/measure/conversion-reviews.ts";
import {
  AGENT_ROUTES,
  API_GROUP,
  API_VERSION_V1,
  API_VERSION_V2,
  COMPONENT,
  CONVERSION_WEBHOOK_PATH,
  HEADER_AUTH_TOKEN,
  HEADER_NODE_NAME,
  HEADER_NODE_UID,
  LABEL_COMPONENT,
  LABEL_EXCLUDE_FROM_LB,
  PLURAL,
  TOKEN_AUDIENCE,
  brsName,
  validateShadowStatus,
  type BottlerocketShadow,
  type BottlerocketShadowStatus,
} from "../../src/api/index.ts";

const AGENT_SA = "brupop-agent-service-account";
const MiB = 1024 * 1024;
/**
 * "Near its idle size": what the server may still hold once the attacks are over, a quarter of its limit. What it
 * keeps is the allocator's (glibc keeps freed memory for reuse), as the second round shows: it adds at most
 * SECOND_ROUND_BYTES.
 */
const NEAR_IDLE_BYTES = 64 * MiB;
const SECOND_ROUND_BYTES = 16 * MiB;
/** "Seconds, not minutes": a connection the server should cut must be cut well before this. */
const CUT_WITHIN_MS = 60_000;

let t: TestCluster;
let custom: CustomObjectsApi;
let server: ApiServerProcess;
let node: { name: string; uid: string };
let token: string;
let memoryLimitBytes: number;
let idleRssBytes: number;
/** The shadow exactly as kube-apiserver stores it (managedFields and all), the template of realistic reviews. */
let storedShadow: BottlerocketShadow;

const GOOD_STATUS: BottlerocketShadowStatus = {
  current_version: "1.20.0",
  target_version: "1.21.0",
  current_state: "Idle",
  crash_count: 2,
  state_transition_failure_timestamp: "2024-06-21T11:55:48.896347269+00:00",
};

// ---- helpers ----

/** The API server's memory limit in the committed install manifest. */
async function manifestMemoryLimit(): Promise<number> {
  const text = await readFile(join(import.meta.dirname, "..", "..", "bottlerocket-update-operator.yaml"), "utf8");
  for (const doc of parseAllDocuments(text)) {
    const o = doc.toJSON() as {
      kind?: string;
      metadata?: { name?: string };
      spec?: { template?: { spec?: { containers?: { resources?: { limits?: { memory?: string } } }[] } } };
    };
    if (o.kind !== "Deployment" || o.metadata?.name !== "brupop-apiserver") continue;
    const memory = o.spec?.template?.spec?.containers?.[0]?.resources?.limits?.memory ?? "";
    const match = /^(\d+)Mi$/.exec(memory);
    if (match) return Number(match[1]) * MiB;
    throw new Error(`unexpected memory limit ${memory}`);
  }
  throw new Error("no brupop-apiserver Deployment in the manifest");
}

function agentHeaders(as: { name: string; uid: string } = node, bearer = token): Record<string, string> {
  return { [HEADER_NODE_NAME]: as.name, [HEADER_NODE_UID]: as.uid, [HEADER_AUTH_TOKEN]: bearer };
}

const json = { "content-type": "application/json" };

function putStatus(body: string | Buffer): Promise<Answer> {
  return server.call({ method: "PUT", path: AGENT_ROUTES.shadow, headers: { ...agentHeaders(), ...json }, body });
}

function convert(body: string | Buffer): Promise<Answer> {
  return server.call({ method: "POST", path: CONVERSION_WEBHOOK_PATH, headers: json, body });
}

/** What a request must not change: the shadow (resourceVersion included) and what the API server may set on the Node. */
async function snapshot() {
  const shadow = (await custom.getNamespacedCustomObject({
    group: API_GROUP,
    version: "v2",
    plural: PLURAL,
    namespace: t.namespace,
    name: brsName(node.name),
  })) as BottlerocketShadow;
  const n = await t.core.readNode({ name: node.name });
  return {
    shadow: { resourceVersion: shadow.metadata.resourceVersion, spec: shadow.spec, status: shadow.status },
    node: { labels: n.metadata?.labels, unschedulable: n.spec?.unschedulable ?? false, taints: n.spec?.taints ?? [] },
  };
}

/** Runs `attack`, then checks that nothing changed and that the server never went over its memory limit. */
async function refused<T>(attack: () => Promise<T>): Promise<T> {
  const before = await snapshot();
  const result = await attack();
  // Soft: the caller's checks of the answer still run, so a failure shows every way it went wrong.
  expect.soft(await snapshot()).toEqual(before);
  const memory = await server.memory();
  expect.soft(memory.peakRssBytes, `peak RSS ${mib(memory.peakRssBytes)} MiB`).toBeLessThan(memoryLimitBytes);
  return result;
}

function expectRefusal(answer: Answer, status: number, field?: string | RegExp): void {
  expect({ status: answer.status, code: answer.json.code }, answer.text.slice(0, 300)).toEqual({
    status,
    code: status,
  });
  if (field !== undefined) expect(answer.json.message).toMatch(field);
}

const mib = (bytes: number) => Math.round((bytes / MiB) * 10) / 10;

function nestedObjects(depth: number): string {
  return '{"a":'.repeat(depth) + "0" + "}".repeat(depth);
}

function statusWith(fields: Record<string, unknown>): string {
  return JSON.stringify({ ...GOOD_STATUS, ...fields });
}

/** A ConversionReview as kube-apiserver sends one: `count` stored shadows (distinct names) to `desired`. */
function review(count: number, desired = API_VERSION_V1): string {
  return conversionReview(storedShadow, count, desired);
}

// ---- good traffic, measured per phase ----

let traffic: GoodTraffic;

/**
 * Good traffic while `work` runs (and for at least 3 answers), recorded under `phase`. Only then: every request the
 * server makes to kube-apiserver costs it a new TLS client context that lives until V8's next full collection
 * (client-node's), so a constant stream would measure that rather than the attack.
 */
async function during<T>(phase: string, work: Promise<T>): Promise<T> {
  traffic.phase(phase);
  try {
    return await work;
  } finally {
    await traffic.until(phase, 3);
    traffic.pause();
  }
}

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))] ?? NaN;
}

// ---- raw connections ----

/** Resolves with the raw bytes the server sent and how long until it closed the connection (gives up at the bound). */
function untilClosed(socket: Socket): Promise<{ received: string; afterMs: number }> {
  const began = performance.now();
  let received = "";
  socket.on("data", (chunk: Buffer) => {
    received += chunk.toString("latin1");
  });
  socket.on("error", () => undefined);
  const bound = setTimeout(() => socket.destroy(), CUT_WITHIN_MS);
  return new Promise((resolve) => {
    socket.once("close", () => {
      clearTimeout(bound);
      resolve({ received, afterMs: performance.now() - began });
    });
  });
}

/** Opens TLS, sends `head`, then one byte of `trickle` per second until the server answers or closes. */
async function trickle(head: string, drip: string): Promise<{ received: string; afterMs: number }> {
  const url = new URL(server.url);
  const socket = tlsConnect({ host: url.hostname, port: Number(url.port), ca: server.caPem });
  await new Promise<void>((resolve, reject) => {
    socket.once("secureConnect", () => resolve());
    socket.once("error", reject);
  });
  const closed = untilClosed(socket);
  socket.write(head);
  let i = 0;
  const timer = setInterval(() => {
    if (socket.destroyed || i >= drip.length) return;
    socket.write(drip[i++] ?? "");
  }, 1_000);
  try {
    return await closed;
  } finally {
    clearInterval(timer);
  }
}

// ---- setup ----

beforeAll(async () => {
  t = await useCluster(import.meta.url);
  custom = t.kc.makeApiClient(CustomObjectsApi);
  memoryLimitBytes = await manifestMemoryLimit();
  await t.core.createNamespacedServiceAccount({ namespace: t.namespace, body: { metadata: { name: AGENT_SA } } });
  const [name = ""] = await t.createNodes(1);
  node = { name, uid: (await t.core.readNode({ name })).metadata?.uid ?? "" };
  await ensureShadowCrd(t.kc, t.namespace);
  const pod: V1Pod = await t.core.createNamespacedPod({
    namespace: t.namespace,
    body: {
      metadata: { name: "agent-0", labels: { [LABEL_COMPONENT]: COMPONENT.agent } },
      spec: { nodeName: name, serviceAccountName: AGENT_SA, containers: [{ name: "agent", image: "agent" }] },
    },
  });
  token = await requestPodToken(t.core, {
    namespace: t.namespace,
    serviceAccount: AGENT_SA,
    pod: { name: "agent-0", uid: pod.metadata?.uid ?? "" },
    audiences: [TOKEN_AUDIENCE],
  });
  server = await startApiServerProcess(t, {
    agentServiceAccount: AGENT_SA,
    nodeFlags: containerHeapFlags(memoryLimitBytes),
    // Good traffic comes from one agent throughout: the per-node limit is not what is tested here.
    env: { AGENT_RATE_LIMIT_PER_MINUTE: "1000000", AGENT_RATE_LIMIT_BURST: "1000000" },
  });

  const created = await server.call({ method: "POST", path: AGENT_ROUTES.shadow, headers: agentHeaders() });
  expect(created.status, created.text).toBe(200);
  expect((await putStatus(JSON.stringify(GOOD_STATUS))).status).toBe(200);
  // The controller's writes at the end of an update (its spec with the reason annotation, then the health gates'
  // condition on status), so the stored shadow is as large as after a rollout, with the managedFields of every writer.
  await custom.patchNamespacedCustomObject(
    {
      group: API_GROUP,
      version: "v2",
      plural: PLURAL,
      namespace: t.namespace,
      name: brsName(name),
      body: {
        // What the controller's finish writes: its reason, the canary soak's record, the plan's estimate, the
        // gates' outcome (a record of hooks that all passed goes with the finish).
        metadata: {
          annotations: {
            [ANNOTATIONS.specReason]: "update to 1.21.0 complete; health gates passed; post-reboot hooks passed",
            [ANNOTATIONS.completedVersion]: "1.21.0",
            [ANNOTATIONS.completedAt]: "2024-06-21T11:56:12Z",
            [ANNOTATIONS.lastUpdateSeconds]: "412",
            [ANNOTATIONS.updateHealthy]: formatOutcome({ kind: "passed", results: [] }, "1.21.0", 2),
          },
        },
        spec: { state: "Idle", state_transition_timestamp: "2024-06-21T11:55:48.896+00:00", version: "1.21.0" },
      },
      fieldManager: "brupop-controller",
    },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
  await custom.patchNamespacedCustomObjectStatus(
    {
      group: API_GROUP,
      version: "v2",
      plural: PLURAL,
      namespace: t.namespace,
      name: brsName(name),
      body: {
        status: {
          conditions: [
            healthCondition(
              {
                kind: "passed",
                results: [
                  { gate: "node-ready", state: "passed", message: "Ready and schedulable" },
                  { gate: "daemonset-pods", state: "passed", message: "3 DaemonSet pods Ready" },
                ],
              },
              "1.21.0",
              2,
            ),
          ].map((c) => ({ ...c, lastTransitionTime: "2024-06-21T11:56:12Z" })),
        },
      },
      fieldManager: "brupop-controller",
    },
    setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
  );
  storedShadow = (await custom.getNamespacedCustomObject({
    group: API_GROUP,
    version: "v2",
    plural: PLURAL,
    namespace: t.namespace,
    name: brsName(name),
  })) as BottlerocketShadow;

  // The agent's most frequent write, again and again (a no-op for kube-apiserver: the same status each time).
  traffic = new GoodTraffic({
    url: server.url,
    caPem: server.caPem,
    request: {
      method: "PUT",
      path: AGENT_ROUTES.shadow,
      headers: { ...agentHeaders(), ...json },
      body: JSON.stringify(GOOD_STATUS),
    },
  });
  // Warm up (TLS, token cache, conversion code), then take the idle size.
  traffic.phase("warm-up");
  await traffic.until("warm-up", 10);
  expect((await convert(review(1))).status).toBe(200);
  traffic.phase("idle");
  await traffic.until("idle", 30);
  traffic.pause();
  idleRssBytes = (await server.memory()).rssBytes;
});

afterAll(async () => {
  // Each is undefined when beforeAll failed before making it.
  await (traffic as GoodTraffic | undefined)?.stop();
  await (server as ApiServerProcess | undefined)?.stop();
  await (t as TestCluster | undefined)?.cleanup();
});

// ---- the classes ----

describe("status writes that break the schema", () => {
  it.each<[string, Record<string, unknown>, RegExp]>([
    ["crash_count 2^32", { crash_count: 4294967296 }, /crash_count/],
    ["a negative crash_count", { crash_count: -1 }, /crash_count/],
    ["a fractional crash_count", { crash_count: 1.5 }, /crash_count/],
    [
      "a timestamp that is not one",
      { state_transition_failure_timestamp: "not a timestamp" },
      /state_transition_failure_timestamp/,
    ],
    [
      "month 13, day 45, hour 99",
      { state_transition_failure_timestamp: "2024-13-45T99:99:99Z" },
      /state_transition_failure_timestamp/,
    ],
    ["a word", { state_transition_failure_timestamp: "yesterday" }, /state_transition_failure_timestamp/],
    [
      "February 30th",
      { state_transition_failure_timestamp: "2024-02-30T10:00:00Z" },
      /state_transition_failure_timestamp/,
    ],
    [
      "an offset of 24 hours",
      { state_transition_failure_timestamp: "2024-06-21T11:55:48+24:00" },
      /state_transition_failure_timestamp/,
    ],
  ])("refuses %s (400 naming the field), changing nothing", async (_, fields, field) => {
    const answer = await refused(() => putStatus(statusWith(fields)));
    expectRefusal(answer, 400, field);
    expect(answer.json.reason).toBe("Invalid");
  });

  it("keeps refusing other nodes, forged uids and missing tokens, changing nothing", async () => {
    const other = { name: `${node.name}-other`, uid: node.uid };
    const forged = { name: node.name, uid: "6f1c1e4e-0000-4000-8000-000000000000" };
    const body = JSON.stringify(GOOD_STATUS);
    const answers = await refused(() =>
      Promise.all([
        server.call({ method: "PUT", path: AGENT_ROUTES.shadow, headers: { ...agentHeaders(other), ...json }, body }),
        server.call({ method: "PUT", path: AGENT_ROUTES.shadow, headers: { ...agentHeaders(forged), ...json }, body }),
        server.call({
          method: "PUT",
          path: AGENT_ROUTES.shadow,
          headers: { ...agentHeaders(node, ""), ...json },
          body,
        }),
      ]),
    );
    expect(answers.map((a) => a.status)).toEqual([403, 403, 401]);
  });
});

describe("the CRD and the server's validator agree", () => {
  // What brupop (chrono) writes, what we write, and the ways to get an RFC 3339 timestamp wrong.
  const timestamps = [
    "2024-06-21T11:55:48.896347269+00:00",
    "2024-06-21T11:55:48.896+00:00",
    "2024-06-21T11:55:48+00:00",
    "2024-06-21T11:55:48Z",
    "2024-06-21t11:55:48z",
    "2024-06-21T11:55:48.5-07:30",
    "2024-02-29T00:00:00Z",
    "2023-02-29T00:00:00Z",
    "2024-02-30T10:00:00Z",
    "2024-06-21T11:55:60Z",
    "2024-06-21T24:00:00Z",
    "2024-06-21T11:55:48+24:00",
    "2024-06-21T11:55:48+00:60",
    "2024-06-21 11:55:48Z",
    "2024-06-21T11:55:48",
    "2024-06-21",
    "2024-13-45T99:99:99Z",
    "not a timestamp",
    "",
  ];

  /** kube-apiserver's verdict on `status` alone: a dry run through the status subresource, nothing is stored. */
  async function kubeAccepts(status: Record<string, unknown>): Promise<boolean> {
    const ref = { group: API_GROUP, version: "v2", plural: PLURAL, namespace: t.namespace, name: brsName(node.name) };
    const current = (await custom.getNamespacedCustomObject(ref)) as BottlerocketShadow;
    try {
      await custom.replaceNamespacedCustomObjectStatus({ ...ref, body: { ...current, status }, dryRun: "All" });
      return true;
    } catch (err) {
      if ((err as { code?: number }).code !== 422) throw err;
      return false;
    }
  }

  it("on every timestamp: kube-apiserver stores exactly what the server's validator accepts", async () => {
    const verdicts: Record<string, { kube: boolean; ours: boolean }> = {};
    for (const value of timestamps) {
      const status = { ...GOOD_STATUS, state_transition_failure_timestamp: value };
      verdicts[value] = { kube: await kubeAccepts(status), ours: validateShadowStatus(status).ok };
    }
    for (const [value, { kube, ours }] of Object.entries(verdicts)) {
      expect({ value, ours }).toEqual({ value, ours: kube });
    }
    // brupop's own writes stay valid in both.
    expect(verdicts["2024-06-21T11:55:48.896347269+00:00"]).toEqual({ kube: true, ours: true });
    expect(verdicts["not a timestamp"]).toEqual({ kube: false, ours: false });
  });

  it("kube-apiserver refuses crash_count 2^32 and -1, accepts 2^32-1 (the CRD, not only the server)", async () => {
    expect(await kubeAccepts({ ...GOOD_STATUS, crash_count: 4294967296 })).toBe(false);
    expect(await kubeAccepts({ ...GOOD_STATUS, crash_count: -1 })).toBe(false);
    expect(await kubeAccepts({ ...GOOD_STATUS, crash_count: 4294967295 })).toBe(true);
  });

  it("accepts what brupop writes through the server: fractional seconds and null", async () => {
    for (const value of ["2024-06-21T11:55:48.896347269+00:00", "2025-01-01T00:00:00Z", null]) {
      const answer = await putStatus(statusWith({ state_transition_failure_timestamp: value }));
      expect(answer.status, answer.text).toBe(200);
    }
    expect((await putStatus(JSON.stringify(GOOD_STATUS))).status).toBe(200);
  });
});

describe("deep and large agent bodies", () => {
  it("refuses 30,000 nested arrays (60 KB) in a field (400 naming it)", async () => {
    const body = statusWith({ crash_count: "@" }).replace('"@"', nestedArrays(30_000));
    expect(body.length).toBeLessThan(64 * 1024);
    expectRefusal(await refused(() => putStatus(body)), 400, /crash_count/);
  });

  it("refuses 6,000 nested objects (400)", async () => {
    expectRefusal(await refused(() => putStatus(nestedObjects(6_000))), 400, /nest|deep/i);
  });

  it("refuses a valid status with a 30,000-deep extra field (400 naming it, not 503)", async () => {
    const body = statusWith({ extra: "@" }).replace('"@"', nestedArrays(30_000));
    const answer = await refused(() => putStatus(body));
    expectRefusal(answer, 400, /extra/);
    expect(answer.headers["retry-after"]).toBeUndefined();
  });

  it("refuses deep nesting on the create route too (400)", async () => {
    const answer = await refused(() =>
      server.call({
        method: "POST",
        path: AGENT_ROUTES.shadow,
        headers: { ...agentHeaders(), ...json },
        body: `{"node_selector":${nestedArrays(20_000)}}`,
      }),
    );
    expectRefusal(answer, 400, /node_selector/);
  });

  it("refuses a body over the agent limit (413)", async () => {
    const answer = await refused(() => putStatus(statusWith({ failure_reason: "x".repeat(128 * 1024) })));
    expectRefusal(answer, 413);
  });
});

describe("routes that take no body", () => {
  it("refuse one of any type and do nothing; an empty one (brupop's) is still fine", async () => {
    await t.core.patchNode({ name: node.name, body: [{ op: "add", path: "/spec/unschedulable", value: true }] });
    await taintFollows(true);
    const post = (path: string, headers: Record<string, string>, body?: string) =>
      server.call({
        method: "POST",
        path,
        headers: { ...agentHeaders(), ...headers },
        ...(body === undefined ? {} : { body }),
      });
    const answers = await refused(() =>
      Promise.all([
        post(AGENT_ROUTES.uncordon, json, '{"x":1}'),
        post(AGENT_ROUTES.uncordon, { "content-type": "text/plain" }, "please"),
        post(AGENT_ROUTES.uncordon, { "content-type": "application/octet-stream" }, "\u0000\u0001"),
        post(AGENT_ROUTES.excludeFromLb, json, "{}"),
        post(AGENT_ROUTES.removeExclusionFromLb, json, "[]"),
        post(AGENT_ROUTES.drain, json, '{"force":true}'),
        post(AGENT_ROUTES.cordonAndDrain, { "content-type": "text/plain" }, "now"),
      ]),
    );
    for (const answer of answers) {
      expect(answer.status, answer.text).toBeGreaterThanOrEqual(400);
      expect(answer.status, answer.text).toBeLessThan(500);
      expect(answer.json.message).toMatch(/body/i);
    }
    const n = await t.core.readNode({ name: node.name });
    expect(n.spec?.unschedulable).toBe(true);
    expect(n.metadata?.labels?.[LABEL_EXCLUDE_FROM_LB]).toBeUndefined();
    // brupop's agent: a POST with no body but `content-type: application/json`.
    const uncordoned = await post(AGENT_ROUTES.uncordon, { ...json, "content-length": "0" });
    expect(uncordoned.status, uncordoned.text).toBe(200);
    expect((await t.core.readNode({ name: node.name })).spec?.unschedulable ?? false).toBe(false);
    await taintFollows(false);
  });
});

/**
 * Waits until kube-controller-manager's taint follows the Node's unschedulable field (it adds and removes
 * `node.kubernetes.io/unschedulable` a moment later), so that a snapshot of the Node does not change under a test.
 */
async function taintFollows(unschedulable: boolean): Promise<void> {
  await eventually(`the unschedulable taint ${unschedulable ? "added" : "removed"}`, async () => {
    const taints = (await t.core.readNode({ name: node.name })).spec?.taints ?? [];
    return taints.some((taint) => taint.key === "node.kubernetes.io/unschedulable") === unschedulable
      ? true
      : undefined;
  });
}

describe("the conversion webhook (no token, as kube-apiserver calls it)", () => {
  it("refuses an unknown desiredAPIVersion even with no objects", async () => {
    const answer = await refused(() =>
      convert(
        JSON.stringify({
          apiVersion: "apiextensions.k8s.io/v1",
          kind: "ConversionReview",
          request: { uid: "u-1", desiredAPIVersion: "brupop.bottlerocket.aws/v9", objects: [] },
        }),
      ),
    );
    expect(answer.status).toBe(200); // the ConversionReview protocol: the verdict is in the body
    expect(answer.json).toMatchObject({ response: { uid: "u-1", result: { status: "Failure" } } });
    expect(JSON.stringify(answer.json)).toMatch(/v9/);
  });

  it("refuses a 16 MB nested-array review (4xx), within the memory limit", async () => {
    const answer = await refused(() => during("nested 16 MB review", convert(nestedArrayReview(8_000_000))));
    expect(answer.status, answer.text.slice(0, 300)).toBeGreaterThanOrEqual(400);
    expect(answer.status).toBeLessThan(500);
  });

  it("refuses an object whose metadata nests 5,000 deep (4xx naming it, not 500)", async () => {
    const deep = JSON.stringify({
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "ConversionReview",
      request: {
        uid: "x",
        desiredAPIVersion: API_VERSION_V1,
        objects: [{ ...storedShadow, metadata: { ...storedShadow.metadata, annotations: "@" } }],
      },
    }).replace('"@"', nestedObjects(5_000));
    const answer = await refused(() => convert(deep));
    expectRefusal(answer, 400, /annotations/);
  });

  it("refuses 8 concurrent 15.7 MiB reviews (413) without going over the memory limit", async () => {
    const count = Math.ceil((15.7 * MiB) / JSON.stringify(storedShadow).length);
    const body = Buffer.from(review(count));
    const answers = await refused(() =>
      during("8 × 15.7 MiB reviews", Promise.all(Array.from({ length: 8 }, () => convert(body)))),
    );
    for (const answer of answers) expectRefusal(answer, 413);
  });

  it("refuses dense reviews (a million empty objects, as objects or inside one) within the memory limit", async () => {
    const envelope = (objects: string) => reviewEnvelope(API_VERSION_V1, objects);
    const million = Array(1_000_001).fill("{}").join(",");
    const answers = await refused(() =>
      during(
        "dense reviews",
        Promise.all([convert(envelope(`[${million}]`)), convert(envelope(`[{"metadata":{"labels":[${million}]}}]`))]),
      ),
    );
    expectRefusal(answers[0], 413, /request\.objects: more than 10000 elements/);
    expectRefusal(answers[1], 413, /more than 1000000 values/);
  });

  it(`converts the largest real review (${LARGEST_FLEET} stored shadows) sent 8 at once, or tells it to retry`, async () => {
    const body = Buffer.from(review(LARGEST_FLEET));
    const answers = await refused(() =>
      during(`8 × ${LARGEST_FLEET}-shadow reviews`, Promise.all(Array.from({ length: 8 }, () => convert(body)))),
    );
    let converted = 0;
    for (const answer of answers) {
      if (answer.status === 429) {
        expect(answer.headers["retry-after"]).toBe("1");
        continue;
      }
      expect(answer.status, answer.text.slice(0, 300)).toBe(200);
      const response = answer.json.response as { result: { status: string }; convertedObjects: unknown[] };
      expect(response.result.status).toBe("Success");
      expect(response.convertedObjects).toHaveLength(LARGEST_FLEET);
      converted++;
    }
    expect(converted).toBeGreaterThanOrEqual(1);
    console.info(`a review of ${LARGEST_FLEET} stored shadows: ${mib(body.length)} MiB; ${converted} of 8 converted`);
  });

  it("still converts a review kube-apiserver sends after all that", async () => {
    const answer = await convert(review(3, API_VERSION_V1));
    expect(answer.status).toBe(200);
    expect(answer.json).toMatchObject({ response: { result: { status: "Success" } } });
    const back = await convert(
      JSON.stringify({
        apiVersion: "apiextensions.k8s.io/v1",
        kind: "ConversionReview",
        request: {
          uid: "b",
          desiredAPIVersion: API_VERSION_V2,
          objects: (answer.json.response as { convertedObjects: unknown[] }).convertedObjects,
        },
      }),
    );
    expect(back.json).toMatchObject({ response: { result: { status: "Success" } } });
  });
});

describe("slow and silent connections are cut in seconds", () => {
  it("closes a TCP connection that never starts TLS", { timeout: CUT_WITHIN_MS + 10_000 }, async () => {
    const url = new URL(server.url);
    const socket = netConnect({ host: url.hostname, port: Number(url.port) });
    const { afterMs } = await untilClosed(socket);
    expect(afterMs).toBeLessThan(CUT_WITHIN_MS);
  });

  it("answers 408 to headers sent a byte a second", { timeout: CUT_WITHIN_MS + 10_000 }, async () => {
    const { received, afterMs } = await trickle("GET /ping HTTP/1.1\r\nHost: localhost\r\n", "X-Slow: ".repeat(30));
    expect(afterMs).toBeLessThan(CUT_WITHIN_MS);
    expect(received).toMatch(/^HTTP\/1\.1 408/);
  });

  it(
    "answers 408 to a status body sent a byte a second with a valid token, changing nothing",
    { timeout: CUT_WITHIN_MS + 20_000 },
    async () => {
      const body = JSON.stringify({ ...GOOD_STATUS, crash_count: 0 });
      const headers = Object.entries({
        ...agentHeaders(),
        ...json,
        host: "localhost",
        "content-length": String(body.length),
      })
        .map(([k, v]) => `${k}: ${v}\r\n`)
        .join("");
      const { received, afterMs } = await refused(() =>
        trickle(`PUT ${AGENT_ROUTES.shadow} HTTP/1.1\r\n${headers}\r\n`, body),
      );
      expect(afterMs).toBeLessThan(CUT_WITHIN_MS);
      expect(received).toMatch(/^HTTP\/1\.1 408/);
    },
  );
});

describe("the server through all of it", () => {
  it("stayed under the manifest's memory limit, comes back near its idle size, and kept answering agents", async () => {
    const peak = (await server.memory()).peakRssBytes;
    expect(peak).toBeLessThan(memoryLimitBytes);
    // V8 and the allocator give memory back after their next collections; wait for RSS under a ceiling (bounded),
    // with the server quiet. `what` names the reference the ceiling is measured from, for a failure's message.
    const rssDownTo = (ceilingBytes: number, what: string, referenceBytes: number) =>
      eventually(
        `RSS back to ${what}`,
        async () => {
          const { rssBytes } = await server.memory();
          return rssBytes <= ceilingBytes ? rssBytes : undefined;
        },
        60_000,
      ).catch(async (err: unknown) => {
        const { rssBytes } = await server.memory();
        throw new Error(`${String(err)} (RSS ${mib(rssBytes)} MiB, ${what} ${mib(referenceBytes)} MiB)`);
      });
    const settled = await rssDownTo(idleRssBytes + NEAR_IDLE_BYTES, "idle", idleRssBytes);

    // What the allocator kept is reused, not added to: the heaviest attack again leaves the server where it was.
    const largest = Buffer.from(review(LARGEST_FLEET));
    const again = await during(
      "8 × 5000-shadow reviews, again",
      Promise.all(Array.from({ length: 8 }, () => convert(largest))),
    );
    expect(again.map((a) => a.status).filter((s) => s !== 200 && s !== 429)).toEqual([]);
    // Back to where the first round left it (bounded): a leak would keep it above for good.
    const afterAgain = await rssDownTo(settled + SECOND_ROUND_BYTES, "after the first round", settled);
    expect((await server.memory()).peakRssBytes).toBeLessThan(memoryLimitBytes);

    traffic.phase("after");
    await traffic.until("after", 10);
    traffic.pause();
    const phases = Object.entries(await traffic.stop());
    for (const [phase, { statuses }] of phases) {
      expect({ phase, statuses: statuses.filter((s) => s !== 200) }).toEqual({ phase, statuses: [] });
    }
    const rows = phases.map(
      ([phase, { latenciesMs }]) =>
        `| ${phase} | ${latenciesMs.length} | ${percentile(latenciesMs, 50).toFixed(0)} | ${percentile(latenciesMs, 95).toFixed(0)} | ${Math.max(...latenciesMs).toFixed(0)} |`,
    );
    const { peakRssBytes } = await server.memory();
    console.info(
      [
        `memory: limit ${mib(memoryLimitBytes)} MiB, idle ${mib(idleRssBytes)} MiB, peak ${mib(peakRssBytes)} MiB, ` +
          `after ${mib(settled)} MiB, after a second round ${mib(afterAgain)} MiB`,
        "| phase | good requests | p50 ms | p95 ms | max ms |",
        "| --- | --- | --- | --- | --- |",
        ...rows,
      ].join("\n"),
    );
  });
});
