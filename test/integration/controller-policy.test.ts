// The fleet policy resource (BottlerocketUpdatePolicy) driving a running controller: it overrides the environment,
// a pause stops new starts while updates in flight finish, an explicit window that closes mid-rollout stops new
// starts, an invalid policy stops starts and says why; the status shows it all and kubectl prints it.
//
// "Nothing started" is never checked after a sleep: it rests on a policy status the controller wrote after the change
// (observedGeneration) with nothing in flight, i.e. a fleet reconcile that had free budget and started nobody, and on
// the shadows the API server holds after that write. How fast a pause or a resume takes effect: bench/reaction.ts.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustomObjectsApi, type CoreV1Event } from "@kubernetes/client-node";
import { eventually, useCluster, type TestCluster } from "../support/cluster.ts";
import {
  ShadowTimeline,
  installOperatorCrds,
  startAgents,
  type SimulatedAgent,
} from "../../sim/stand-ins/status-agents.ts";
import { setUpdatePolicy } from "../../sim/cluster/update-policy.ts";
import { testControllerConfig } from "../support/controller-config.ts";
import { API_GROUP, PLURAL, VERSION_V2, brsName } from "../../src/api/constants.ts";
import type {
  BottlerocketUpdatePolicy,
  UpdatePolicyResourceSpec,
  UpdatePolicyStatus,
} from "../../src/api/update-policy.ts";
import {
  UPDATE_POLICY_API_VERSION,
  UPDATE_POLICY_KIND,
  UPDATE_POLICY_NAME,
  UPDATE_POLICY_PLURAL,
  UPDATE_POLICY_VERSION,
} from "../../src/api/update-policy-names.ts";
import type { BottlerocketShadow } from "../../src/api/bottlerocket-shadow.ts";
import { Controller } from "../../src/controller/controller.ts";

let t: TestCluster;
let custom: CustomObjectsApi;
beforeAll(async () => {
  t = await useCluster(import.meta.url);
  custom = t.kc.makeApiClient(CustomObjectsApi);
  await installOperatorCrds(t.kc);
});
afterAll(() => t.cleanup());

const policyApi = () => ({
  group: API_GROUP,
  version: UPDATE_POLICY_VERSION,
  namespace: t.namespace,
  plural: UPDATE_POLICY_PLURAL,
});

const setPolicy = (spec: UpdatePolicyResourceSpec): Promise<number> => setUpdatePolicy(t.kc, t.namespace, spec);

/** The policy status once the controller acted on `generation` and `holds` is true of it. */
async function statusFor(
  what: string,
  generation: number,
  holds: (status: UpdatePolicyStatus) => boolean,
): Promise<UpdatePolicyStatus> {
  return eventually(
    what,
    async () => {
      const { status } = await readPolicy();
      return status !== undefined && (status.observedGeneration ?? 0) >= generation && holds(status)
        ? status
        : undefined;
    },
    20_000,
  );
}

/** The shadows as the API server holds them now (a LIST, not a cache). */
async function listShadows(): Promise<BottlerocketShadow[]> {
  const list = (await custom.listNamespacedCustomObject({
    group: API_GROUP,
    version: VERSION_V2,
    namespace: t.namespace,
    plural: PLURAL,
  })) as { items: BottlerocketShadow[] };
  return list.items;
}

/** Nodes the controller started: in flight, or at the new version. */
const startedShadows = (shadows: readonly BottlerocketShadow[], version: string): BottlerocketShadow[] =>
  shadows.filter((s) => s.spec.state !== "Idle" || s.status?.current_version === version);

const inFlight = (shadows: readonly BottlerocketShadow[]): string[] =>
  shadows
    .filter((s) => s.spec.state !== "Idle" || s.status?.current_state !== "Idle")
    .map((s) => s.metadata.name ?? "");

async function readPolicy(): Promise<BottlerocketUpdatePolicy> {
  return (await custom.getNamespacedCustomObject({
    ...policyApi(),
    name: UPDATE_POLICY_NAME,
  })) as BottlerocketUpdatePolicy;
}

async function shadowEvents(name: string): Promise<CoreV1Event[]> {
  return (await t.core.listNamespacedEvent({ namespace: t.namespace, fieldSelector: `involvedObject.name=${name}` }))
    .items;
}

describe("the BottlerocketUpdatePolicy resource", () => {
  it("is a singleton named default", async () => {
    const create = custom.createNamespacedCustomObject({
      ...policyApi(),
      body: { apiVersion: UPDATE_POLICY_API_VERSION, kind: UPDATE_POLICY_KIND, metadata: { name: "other" }, spec: {} },
    });
    await expect(create).rejects.toMatchObject({ code: 422 });
    await expect(create).rejects.toThrow(/must be named default/);
  });

  it("rejects wrongly typed fields at the API server", async () => {
    const create = custom.createNamespacedCustomObject({
      ...policyApi(),
      body: {
        apiVersion: UPDATE_POLICY_API_VERSION,
        kind: UPDATE_POLICY_KIND,
        metadata: { name: UPDATE_POLICY_NAME },
        spec: { paused: "yes", quarantineAfterFailures: -1 },
      },
    });
    await expect(create).rejects.toMatchObject({ code: 422 });
  });
});

/** Creates the policy with `spec` as written (no client-side checks): what the API server accepts is the test. */
const createPolicy = (spec: Record<string, unknown>) =>
  custom.createNamespacedCustomObject({
    ...policyApi(),
    body: {
      apiVersion: UPDATE_POLICY_API_VERSION,
      kind: UPDATE_POLICY_KIND,
      metadata: { name: UPDATE_POLICY_NAME },
      spec,
    },
  });

/** Refused with a 422 whose message names `field`, and nothing stored. */
async function expectRefused(attempt: Promise<unknown>, field: RegExp): Promise<void> {
  await expect(attempt).rejects.toMatchObject({ code: 422 });
  await expect(attempt).rejects.toThrow(field);
  await expect(readPolicy()).rejects.toMatchObject({ code: 404 });
}

describe("topology budgets at the API server", () => {
  const create = createPolicy;
  const zone = (maxConcurrentUpdates: unknown, topologyKey = "topology.kubernetes.io/zone") => ({
    topologyKey,
    maxConcurrentUpdates,
  });

  it.each([
    ["a key that is no label key", [zone(1, "not a key")], /spec\.topologyBudgets\[0\]\.topologyKey/],
    [
      "a percentage over 100",
      [zone("150%")],
      /spec\.topologyBudgets\[0\]\.maxConcurrentUpdates.*percentage from 0% to 100%/,
    ],
    ["unlimited", [zone("unlimited")], /spec\.topologyBudgets\[0\]\.maxConcurrentUpdates/],
    ["a negative count", [zone(-1)], /spec\.topologyBudgets\[0\]\.maxConcurrentUpdates.*number of nodes/],
    [
      "no budget",
      [{ topologyKey: "topology.kubernetes.io/zone" }],
      /spec\.topologyBudgets\[0\]\.maxConcurrentUpdates: Required/,
    ],
    ["the same key twice", [zone(1), zone(2)], /spec\.topologyBudgets\[1\]: Duplicate value/],
  ])("refuses %s with a 422 naming the field, and stores nothing", async (_what, topologyBudgets, field) => {
    await expectRefused(create({ topologyBudgets }), field);
  });

  it("accepts counts, percentages and several keys", async () => {
    const created = (await create({
      topologyBudgets: [zone(1), zone("25%", "example.com/rack"), zone("2", "pool")],
    })) as BottlerocketUpdatePolicy;
    expect(created.spec?.topologyBudgets).toHaveLength(3);
    await custom.deleteNamespacedCustomObject({ ...policyApi(), name: UPDATE_POLICY_NAME });
  });
});

describe("the automatic halt's limit at the API server", () => {
  const create = (maxFailedNodes: unknown) => createPolicy({ maxFailedNodes });

  it.each([
    ["a percentage over 100", "150%", /spec\.maxFailedNodes.*percentage from 0% to 100%/],
    ["a negative count", -1, /spec\.maxFailedNodes.*number of nodes ≥ 0/],
    ["unlimited", "unlimited", /spec\.maxFailedNodes/],
    ["a word", "ten", /spec\.maxFailedNodes/],
    ["a fraction", 1.5, /spec\.maxFailedNodes/],
  ])("refuses %s with a 422 naming the field, and stores nothing", async (_what, maxFailedNodes, field) => {
    await expectRefused(create(maxFailedNodes), field);
  });

  it.each([0, 3, "2", "10%"])("accepts %j", async (maxFailedNodes) => {
    const created = (await create(maxFailedNodes)) as BottlerocketUpdatePolicy;
    expect(created.spec?.maxFailedNodes).toBe(maxFailedNodes);
    await custom.deleteNamespacedCustomObject({ ...policyApi(), name: UPDATE_POLICY_NAME });
  });
});

describe("dry run at the API server", () => {
  it.each([
    ["a string", "true"],
    ["a number", 1],
  ])("refuses %s with a 422 naming spec.dryRun, and stores nothing", async (_what, dryRun) => {
    await expectRefused(createPolicy({ dryRun }), /spec\.dryRun/);
  });

  it("accepts true", async () => {
    const created = (await createPolicy({ dryRun: true })) as BottlerocketUpdatePolicy;
    expect(created.spec?.dryRun).toBe(true);
    await custom.deleteNamespacedCustomObject({ ...policyApi(), name: UPDATE_POLICY_NAME });
  });
});

describe("health gates at the API server", () => {
  const create = (healthGates: Record<string, unknown>) => createPolicy({ healthGates });
  const condition = { type: "NetworkUnavailable", status: "False" };

  it.each([
    ["a timeout that is no duration", { timeout: "soon" }, /spec\.healthGates\.timeout/],
    [
      "a gate's timeout that is no duration",
      { gates: [{ name: "a", timeout: "1 h", nodeCondition: condition }] },
      /spec\.healthGates\.gates\[0\]\.timeout/,
    ],
    [
      "a gate of two kinds",
      { gates: [{ name: "a", nodeCondition: condition, prometheus: { query: "up" } }] },
      /spec\.healthGates\.gates\[0\].*set exactly one of/,
    ],
    ["a gate of no kind", { gates: [{ name: "a" }] }, /spec\.healthGates\.gates\[0\].*set exactly one of/],
    [
      "a built-in gate's name",
      { gates: [{ name: "node-ready", nodeCondition: condition }] },
      /spec\.healthGates\.gates\[0\].*built-in gates' names/,
    ],
    [
      "the same name twice",
      {
        gates: [
          { name: "a", nodeCondition: condition },
          { name: "a", nodeCondition: condition },
        ],
      },
      /spec\.healthGates\.gates\[1\]: Duplicate value/,
    ],
    [
      "a prometheus gate without a URL",
      { gates: [{ name: "p", prometheus: { query: "up" } }] },
      /spec\.healthGates.*prometheus gates need prometheusUrl/,
    ],
    [
      "a condition status that is none",
      { gates: [{ name: "c", nodeCondition: { type: "X", status: "yes" } }] },
      /spec\.healthGates\.gates\[0\]\.nodeCondition\.status/,
    ],
    [
      "a selector key that is no label key",
      { gates: [{ name: "s", podsReady: { selector: { matchLabels: { "a b": "c" } } } }] },
      /spec\.healthGates\.gates\[0\]\.podsReady\.selector\.matchLabels.*label key/,
    ],
    [
      "In without values",
      { gates: [{ name: "s", podsReady: { selector: { matchExpressions: [{ key: "app", operator: "In" }] } } }] },
      /spec\.healthGates\.gates\[0\]\.podsReady\.selector\.matchExpressions.*need values/,
    ],
    ["a URL that is none", { prometheusUrl: "prometheus:9090" }, /spec\.healthGates\.prometheusUrl/],
    [
      "a job without an image",
      { gates: [{ name: "j", job: {} }] },
      /spec\.healthGates\.gates\[0\]\.job\.image: Required/,
    ],
    [
      "a job retried more than 3 times",
      { gates: [{ name: "j", job: { image: "c:1", backoffLimit: 4 } }] },
      /spec\.healthGates\.gates\[0\]\.job\.backoffLimit/,
    ],
    [
      "a job setting the controller's variables",
      { gates: [{ name: "j", job: { image: "c:1", env: [{ name: "BRUPOP_VERSION", value: "x" }] } }] },
      /spec\.healthGates\.gates\[0\]\.job\.env\[0\]\.name.*BRUPOP_\* is set by the controller/,
    ],
    [
      "a job running as the operator",
      { gates: [{ name: "j", job: { image: "c:1", serviceAccountName: "brupop-controller-service-account" } }] },
      /spec\.healthGates\.gates\[0\]\.job\.serviceAccountName.*operator's own ServiceAccounts/,
    ],
    [
      "a job and a query in one gate",
      { gates: [{ name: "j", job: { image: "c:1" }, nodeCondition: condition }] },
      /spec\.healthGates\.gates\[0\].*set exactly one of podsReady, nodeCondition, prometheus, job/,
    ],
  ])("refuses %s with a 422 naming the field, and stores nothing", async (_what, healthGates, field) => {
    await expectRefused(create(healthGates), field);
  });

  it("accepts every kind of gate", async () => {
    const created = (await create({
      timeout: "15m",
      prometheusUrl: "http://prometheus.monitoring:9090",
      gates: [
        { name: "cni", timeout: "5m", nodeCondition: condition },
        {
          name: "ingress",
          podsReady: {
            namespace: "ingress",
            selector: {
              matchLabels: { app: "ingress" },
              matchExpressions: [{ key: "canary", operator: "DoesNotExist" }],
            },
            minReady: 1,
          },
        },
        { name: "errors", prometheus: { query: 'sum(rate(errors{node="$node"}[5m])) < 1', for: "2m" } },
        {
          name: "smoke",
          job: {
            image: "registry.example.com/smoke:1",
            command: ["/smoke"],
            args: ["--quick"],
            env: [{ name: "LEVEL", value: "1" }],
            serviceAccountName: "node-checker",
            backoffLimit: 3,
          },
        },
      ],
    })) as BottlerocketUpdatePolicy;
    expect(created.spec?.healthGates?.gates).toHaveLength(4);
    await custom.deleteNamespacedCustomObject({ ...policyApi(), name: UPDATE_POLICY_NAME });
  });
});

describe("hooks at the API server", () => {
  const create = (hooks: Record<string, unknown>) => createPolicy({ hooks });
  const hook = { name: "db", url: "http://db-operator.db:8080/pre-drain" };

  it.each([
    ["a URL that is none", { preDrain: [{ ...hook, url: "db-operator:8080" }] }, /spec\.hooks\.preDrain\[0\]\.url/],
    ["a URL without a host", { postReboot: [{ ...hook, url: "http:///x" }] }, /spec\.hooks\.postReboot\[0\]\.url/],
    [
      "a timeout that is no duration",
      { preDrain: [{ ...hook, timeout: "soon" }] },
      /spec\.hooks\.preDrain\[0\]\.timeout/,
    ],
    [
      "a timeout of 0s",
      { preDrain: [{ ...hook, timeout: "0s" }] },
      /spec\.hooks\.preDrain\[0\]\.timeout.*from 1s to 60s/,
    ],
    [
      "a timeout over a minute",
      { preDrain: [{ ...hook, timeout: "2m" }] },
      /spec\.hooks\.preDrain\[0\]\.timeout.*from 1s to 60s/,
    ],
    ["a mode that is none", { preDrain: [{ ...hook, mode: "Optional" }] }, /spec\.hooks\.preDrain\[0\]\.mode/],
    ["no attempt", { preDrain: [{ ...hook, attempts: 0 }] }, /spec\.hooks\.preDrain\[0\]\.attempts/],
    ["a maxWait over an hour", { postReboot: [{ ...hook, maxWait: "2h" }] }, /spec\.hooks\.postReboot\[0\]\.maxWait/],
    [
      "a caBundle that is no base64",
      { preDrain: [{ ...hook, caBundle: "not base64!" }] },
      /spec\.hooks\.preDrain\[0\]\.caBundle/,
    ],
    ["a hook without a URL", { preDrain: [{ name: "db" }] }, /spec\.hooks\.preDrain\[0\]\.url/],
    ["the same name twice", { preDrain: [hook, hook] }, /spec\.hooks\.preDrain\[1\]: Duplicate value/],
    [
      "three hooks in a phase",
      { preDrain: ["a", "b", "c"].map((name) => ({ ...hook, name })) },
      /spec\.hooks\.preDrain/,
    ],
  ])("refuses %s with a 422 naming the field, and stores nothing", async (_what, hooks, field) => {
    await expectRefused(create(hooks), field);
  });

  it("accepts every field", async () => {
    const created = (await create({
      preDrain: [{ ...hook, mode: "Blocking", timeout: "30s", attempts: 5, maxWait: "15m" }],
      postReboot: [
        {
          name: "smoke",
          url: "https://smoke.tests.svc/check",
          mode: "Advisory",
          caBundle: btoa("-----BEGIN CERTIFICATE-----"),
        },
      ],
    })) as BottlerocketUpdatePolicy;
    expect(created.spec?.hooks?.preDrain).toHaveLength(1);
    expect(created.spec?.hooks?.postReboot?.[0]?.mode).toBe("Advisory");
    await custom.deleteNamespacedCustomObject({ ...policyApi(), name: UPDATE_POLICY_NAME });
  });
});

describe("canaries and the version pin at the API server", () => {
  const selector = { matchLabels: { "example.com/canary": "true" } };

  it.each([
    ["an empty selector", { canary: { selector: {}, soak: "30m" } }, /spec\.canary\.selector.*picks every node/],
    [
      "a selector key that is no label key",
      { canary: { selector: { matchLabels: { "a b": "c" } }, soak: "30m" } },
      /spec\.canary\.selector\.matchLabels.*label key/,
    ],
    [
      "In without values",
      { canary: { selector: { matchExpressions: [{ key: "canary", operator: "In" }] }, soak: "30m" } },
      /spec\.canary\.selector\.matchExpressions.*need values/,
    ],
    ["a soak that is no duration", { canary: { selector, soak: "half an hour" } }, /spec\.canary\.soak/],
    ["no soak", { canary: { selector } }, /spec\.canary\.soak: Required/],
    // The controller would refuse these (and start nothing); the CRD's rule refuses them first.
    ["a soak over a month", { canary: { selector, soak: "31d" } }, /spec\.canary\.soak.*must be at most 30d/],
    ["a soak a second over a month", { canary: { selector, soak: "720h1s" } }, /spec\.canary\.soak.*at most 30d/],
    ["a version that is none", { maxVersion: "v1.26" }, /spec\.maxVersion/],
    ["a version of two parts", { maxVersion: "1.26" }, /spec\.maxVersion/],
  ])("refuses %s with a 422 naming the field, and stores nothing", async (_what, spec, field) => {
    await expectRefused(createPolicy(spec), field);
  });

  it("accepts a canary group and a pin", async () => {
    const created = (await createPolicy({
      canary: {
        selector: { ...selector, matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }] },
        soak: "1h30m",
      },
      maxVersion: "1.26.0",
    })) as BottlerocketUpdatePolicy;
    expect(created.spec?.canary?.soak).toBe("1h30m");
    expect(created.spec?.maxVersion).toBe("1.26.0");
    await custom.deleteNamespacedCustomObject({ ...policyApi(), name: UPDATE_POLICY_NAME });
  });

  it.each(["30d", "720h", "29d23h59m60s"])("accepts a soak of %s (at most a month)", async (soak) => {
    const created = (await createPolicy({ canary: { selector, soak } })) as BottlerocketUpdatePolicy;
    expect(created.spec?.canary?.soak).toBe(soak);
    await custom.deleteNamespacedCustomObject({ ...policyApi(), name: UPDATE_POLICY_NAME });
  });
});

describe("a controller following the policy resource", () => {
  let controller: Controller | undefined;
  let observer: ShadowTimeline | undefined;
  let agents: SimulatedAgent[] = [];

  /** Stops this test's controller, observer and agents and deletes their shadows, so the next test starts clean. */
  async function stopAll(): Promise<void> {
    await controller?.stop();
    await observer?.stop();
    controller = undefined;
    observer = undefined;
    await Promise.all(agents.map((a) => a.stop()));
    await custom.deleteCollectionNamespacedCustomObject({
      group: API_GROUP,
      version: VERSION_V2,
      namespace: t.namespace,
      plural: PLURAL,
    });
    agents = [];
  }
  afterAll(stopAll);

  async function rollout(from: number, count: number, env: Record<string, string>): Promise<string[]> {
    const nodes = await t.createNodes(count, { from });
    observer = new ShadowTimeline(t.kc, t.namespace, 1);
    await observer.start();
    agents = await startAgents(nodes, {
      kc: t.kc,
      core: t.core,
      namespace: t.namespace,
      currentVersion: "1.0.0",
      targetVersion: "1.2.0",
      stepDelayMs: [250, 400],
    });
    controller = new Controller({
      client: t.client,
      config: testControllerConfig(t, "replica-a", env),
      onLeadershipLost: () => undefined,
    });
    await controller.start();
    await controller.whenLeading();
    return nodes;
  }

  it("stops new starts once paused, lets updates in flight finish, and resumes", async () => {
    // The resource's budget (1) overrides MAX_CONCURRENT_UPDATE (5).
    await setPolicy({ maxConcurrentUpdates: 1 });
    const nodes = await rollout(0, 5, { MAX_CONCURRENT_UPDATE: "5" });
    const obs = observer as ShadowTimeline;
    await eventually("first start", async () => (obs.starts.length >= 1 ? true : undefined));

    const paused = await setPolicy({ maxConcurrentUpdates: 1, paused: true });
    // A fleet reconcile under the pause with the budget free (nothing updating) that left every other node paused.
    const status = await statusFor(
      "a paused fleet with nothing in flight",
      paused,
      (s) => s.paused && s.updating === 0 && (s.blocked?.paused ?? 0) > 0,
    );
    // After that reconcile: the nodes started before the pause all finished, and no other node was started.
    const shadows = await listShadows();
    const started = startedShadows(shadows, "1.2.0").map((s) => s.metadata.name ?? "");
    expect(inFlight(shadows)).toEqual([]);
    expect(started.length).toBeLessThan(nodes.length);
    expect(status.blocked?.paused).toBe(nodes.length - started.length);
    expect(obs.violations).toEqual([]);
    expect(status.blockedNodes?.[0]).toMatchObject({ reason: "paused" });
    expect(status.sources?.budget).toBe("policy");
    expect(status.budget).toBe("1");
    expect(status.window.open).toBe(true);
    const waiting = status.blockedNodes?.[0]?.node ?? "";
    expect(started).not.toContain(brsName(waiting));
    expect((await shadowEvents(brsName(waiting))).map((e) => e.reason)).toContain("Paused");

    await setPolicy({ maxConcurrentUpdates: 1, paused: false });
    const resumed = await eventually("a start after resume", async () => {
      const now = startedShadows(await listShadows(), "1.2.0").map((s) => s.metadata.name ?? "");
      return now.length > started.length ? now : undefined;
    });
    expect(resumed).toEqual(expect.arrayContaining(started));
  });

  it("stops new starts when an explicit window closes mid-rollout; nodes in flight finish", async () => {
    await stopAll();
    const nodes = await t.createNodes(6, { from: 10 });
    // A daily window that opened at the start of this minute, open for an hour for now; once the rollout has
    // started it is cut to close a second later, so it closes mid-rollout however long the start took.
    const opened = new Date();
    opened.setUTCSeconds(0, 0);
    const schedule = `${opened.getUTCMinutes()} ${opened.getUTCHours()} * * *`;
    const window = (seconds: number) => [{ schedule, duration: `${seconds}s`, timeZone: "UTC" }];
    await setPolicy({ maxConcurrentUpdates: 1, windows: window(3600) });

    observer = new ShadowTimeline(t.kc, t.namespace, 1);
    await observer.start();
    agents = await startAgents(nodes, {
      kc: t.kc,
      core: t.core,
      namespace: t.namespace,
      currentVersion: "1.0.0",
      targetVersion: "1.2.0",
      // Each node takes at least 3 × 400 ms: the window closes while most of them still wait.
      stepDelayMs: [400, 600],
    });
    controller = new Controller({
      client: t.client,
      config: testControllerConfig(t, "replica-a", {}),
      onLeadershipLost: () => undefined,
    });
    await controller.start();
    await controller.whenLeading();
    const obs = observer;
    await eventually("first start", async () => (obs.starts.length >= 1 ? true : undefined));
    const seconds = Math.ceil((Date.now() + 1000 - opened.getTime()) / 1000);
    const closesAt = opened.getTime() + seconds * 1000;
    const cut = await setPolicy({ maxConcurrentUpdates: 1, windows: window(seconds) });

    // A fleet reconcile after the window closed, with nothing in flight, that left every other node outside it.
    const status = await statusFor(
      "window closed, nothing in flight",
      cut,
      (s) => !s.window.open && s.updating === 0 && (s.blocked?.["outside-window"] ?? 0) > 0,
    );
    expect(Date.now()).toBeGreaterThan(closesAt);
    const shadows = await listShadows();
    const started = startedShadows(shadows, "1.2.0").map((s) => s.metadata.name ?? "");
    expect(inFlight(shadows)).toEqual([]); // every node that started finished, after the window closed too
    expect(started.length).toBeGreaterThanOrEqual(1);
    expect(started.length).toBeLessThan(nodes.length);
    // Each start was decided while the window was open (the controller stamps its decision on the spec).
    await eventually("the observer saw every start", async () =>
      obs.starts.length === started.length ? true : undefined,
    );
    expect(obs.starts.map((s) => s.shadow).sort()).toEqual([...started].sort());
    for (const start of obs.starts) expect(Date.parse(start.decidedAt ?? ""), start.shadow).toBeLessThan(closesAt);
    expect(obs.violations).toEqual([]);
    expect(status.window.nextOpen).toBeDefined();
    expect(new Date(status.window.nextOpen ?? "").getTime()).toBeGreaterThan(Date.now() + 23 * 3600_000);
    expect(status.blocked?.["outside-window"]).toBe(nodes.length - started.length);
    expect(status.blockedSummary).toBe(`${nodes.length - started.length} outside-window`);
    const waiting = nodes.map(brsName).find((n) => !started.includes(n)) ?? "";
    await eventually("OutsideWindow event", async () =>
      (await shadowEvents(waiting)).some((e) => e.reason === "OutsideWindow") ? true : undefined,
    );

    // kubectl shows the policy with its columns.
    const { stdout } = await promisify(execFile)(join(t.info.binDir, "kubectl"), [
      "--kubeconfig",
      t.info.kubeconfigPath,
      "get",
      "bottlerocketupdatepolicy",
      "--namespace",
      t.namespace,
    ]);
    expect(stdout.split("\n")[0]).toMatch(
      /^NAME\s+PAUSED\s+HALTED\s+UPDATING\s+BUDGET\s+WINDOW OPEN\s+NEXT WINDOW\s+BLOCKED/,
    );
    expect(stdout).toMatch(/default\s+false\s+0\s+1\s+false\s+\S+\s+\d+ outside-window/);
  });

  it("starts nothing while the policy is invalid, and says why in status and an Event", async () => {
    const before = startedShadows(await listShadows(), "1.2.0").length;
    // Without a window (the last test's has closed) a controller that ignored the invalid policy would start nodes.
    const invalid = await setPolicy({ maxConcurrentUpdates: "lots" });
    const status = await statusFor("errors in status", invalid, (s) => (s.errors?.length ?? 0) > 0);
    expect(status.errors?.[0]).toMatch(/maxConcurrentUpdates: "lots" is not a number of nodes/);
    // The controller wrote that status after deciding about the fleet under the invalid policy: what the API server
    // holds now includes any start it made.
    const shadows = await listShadows();
    expect(inFlight(shadows)).toEqual([]);
    expect(startedShadows(shadows, "1.2.0")).toHaveLength(before);
    expect(before).toBeLessThan(shadows.length); // nodes were left to start
    const events = await t.core.listNamespacedEvent({
      namespace: t.namespace,
      fieldSelector: `involvedObject.name=${UPDATE_POLICY_NAME},reason=InvalidPolicy`,
    });
    expect(events.items).toHaveLength(1);
  });

  it("reports a topology key the schema lets through but Kubernetes would not (a prefix over 253) as invalid", async () => {
    const topologyKey = `${"p".repeat(254)}/zone`;
    const generation = await setPolicy({ topologyBudgets: [{ topologyKey, maxConcurrentUpdates: 1 }] });
    const status = await statusFor("errors in status", generation, (s) => (s.errors?.length ?? 0) > 0);
    expect(status.errors).toEqual([
      `policy spec.topologyBudgets[0].topologyKey: "${topologyKey}" is not a label key: its prefix must be a DNS subdomain of at most 253 characters`,
    ]);
    expect(inFlight(await listShadows())).toEqual([]);
  });
});
