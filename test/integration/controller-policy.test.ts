// The fleet policy resource (BottlerocketUpdatePolicy) driving a running controller: it overrides the environment,
// a pause stops new starts within a second while updates in flight finish, an explicit window that closes mid-rollout
// stops new starts, an invalid policy stops starts and says why; the status shows it all and kubectl prints it.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type CoreV1Event } from "@kubernetes/client-node";
import { eventually, useCluster, type TestCluster } from "../support/cluster.ts";
import {
  ShadowTimeline,
  installOperatorCrds,
  startAgents,
  type SimulatedAgent,
} from "../../sim/stand-ins/status-agents.ts";
import { testControllerConfig } from "../support/controller-config.ts";
import { API_GROUP, PLURAL, VERSION_V2, brsName } from "../../src/api/constants.ts";
import {
  UPDATE_POLICY_API_VERSION,
  UPDATE_POLICY_KIND,
  UPDATE_POLICY_NAME,
  UPDATE_POLICY_PLURAL,
  UPDATE_POLICY_VERSION,
  type BottlerocketUpdatePolicy,
  type UpdatePolicyResourceSpec,
} from "../../src/api/update-policy.ts";
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

/** Sets the policy's spec (a JSON patch of /spec: no resourceVersion, so the controller's status writes don't race it). */
async function setPolicy(spec: UpdatePolicyResourceSpec): Promise<void> {
  try {
    await custom.patchNamespacedCustomObject(
      { ...policyApi(), name: UPDATE_POLICY_NAME, body: [{ op: "add", path: "/spec", value: spec }] },
      setHeaderOptions("Content-Type", PatchStrategy.JsonPatch),
    );
  } catch (err) {
    if ((err as { code?: number }).code !== 404) throw err;
    await custom.createNamespacedCustomObject({
      ...policyApi(),
      body: {
        apiVersion: UPDATE_POLICY_API_VERSION,
        kind: UPDATE_POLICY_KIND,
        metadata: { name: UPDATE_POLICY_NAME },
        spec,
      },
    });
  }
}

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

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

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
      kc: t.kc,
      config: testControllerConfig(t, "replica-a", env),
      onLeadershipLost: () => undefined,
    });
    await controller.start();
    await controller.whenLeading();
    return nodes;
  }

  it("stops new starts within one second of a pause, lets updates in flight finish, and resumes", async () => {
    // The resource's budget (1) overrides MAX_CONCURRENT_UPDATE (5).
    await setPolicy({ maxConcurrentUpdates: 1 });
    const nodes = await rollout(0, 5, { MAX_CONCURRENT_UPDATE: "5" });
    const obs = observer as ShadowTimeline;
    await eventually("first start", async () => (obs.starts.length >= 1 ? true : undefined));

    const pausedAt = Date.now();
    await setPolicy({ maxConcurrentUpdates: 1, paused: true });
    await eventually("nothing in flight", async () => (obs.active() === 0 ? true : undefined), 20_000);
    await sleep(1000); // budget is free: an unpaused controller would have started the next node by now
    const late = obs.starts.filter((s) => s.at > pausedAt + 1000);
    expect(late).toEqual([]);
    expect(obs.violations).toEqual([]);
    const startedBeforePause = obs.starts.length;
    expect(startedBeforePause).toBeLessThan(nodes.length);

    const status = await eventually("paused status", async () => {
      const { status } = await readPolicy();
      return status?.paused === true && (status.blocked?.paused ?? 0) > 0 ? status : undefined;
    });
    expect(status.blocked?.paused).toBe(nodes.length - startedBeforePause);
    expect(status.blockedNodes?.[0]).toMatchObject({ reason: "paused" });
    expect(status.sources?.budget).toBe("policy");
    expect(status.budget).toBe("1");
    expect(status.window.open).toBe(true);
    const waiting = status.blockedNodes?.[0]?.node ?? "";
    expect((await shadowEvents(brsName(waiting))).map((e) => e.reason)).toContain("Paused");

    const resumedAt = Date.now();
    await setPolicy({ maxConcurrentUpdates: 1, paused: false });
    await eventually("a start after resume", async () => (obs.starts.length > startedBeforePause ? true : undefined));
    const resumedIn = (obs.starts[startedBeforePause]?.at ?? 0) - resumedAt;
    console.log(`first start ${resumedIn} ms after resuming`);
    expect(resumedIn).toBeLessThan(1000);
  });

  it("stops new starts when an explicit window closes mid-rollout; nodes in flight finish", async () => {
    await stopAll();
    const nodes = await t.createNodes(6, { from: 10 });
    // A daily window that opened at the start of this minute and closes 4 s from now.
    const now = new Date();
    const opened = new Date(now);
    opened.setUTCSeconds(0, 0);
    const seconds = Math.ceil((now.getTime() + 4000 - opened.getTime()) / 1000);
    const closesAt = opened.getTime() + seconds * 1000;
    const schedule = `${opened.getUTCMinutes()} ${opened.getUTCHours()} * * *`;
    await setPolicy({ maxConcurrentUpdates: 1, windows: [{ schedule, duration: `${seconds}s`, timeZone: "UTC" }] });

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
      kc: t.kc,
      config: testControllerConfig(t, "replica-a", {}),
      onLeadershipLost: () => undefined,
    });
    await controller.start();
    await controller.whenLeading();
    const obs = observer;

    const status = await eventually(
      "window closed in status",
      async () => {
        const { status } = await readPolicy();
        return status?.window.open === false && obs.active() === 0 ? status : undefined;
      },
      20_000,
    );
    await sleep(500);
    expect(Date.now()).toBeGreaterThan(closesAt);
    const started = obs.starts.map((s) => s.shadow);
    expect(started.length).toBeGreaterThanOrEqual(1);
    expect(started.length).toBeLessThan(nodes.length);
    expect(obs.starts.filter((s) => s.at > closesAt + 300)).toEqual([]);
    expect(obs.violations).toEqual([]);
    // Every node that started finished after the window closed.
    for (const name of started) expect(obs.get(name)?.status?.current_version).toBe("1.2.0");
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
    expect(stdout.split("\n")[0]).toMatch(/^NAME\s+PAUSED\s+UPDATING\s+BUDGET\s+WINDOW OPEN\s+NEXT WINDOW\s+BLOCKED/);
    expect(stdout).toMatch(/default\s+false\s+0\s+1\s+false\s+\S+\s+\d+ outside-window/);
  });

  it("starts nothing while the policy is invalid, and says why in status and an Event", async () => {
    await setPolicy({ maxConcurrentUpdates: "lots" });
    const status = await eventually("errors in status", async () => {
      const { status } = await readPolicy();
      return (status?.errors?.length ?? 0) > 0 ? status : undefined;
    });
    expect(status.errors?.[0]).toMatch(/maxConcurrentUpdates: "lots" is not a number of nodes/);
    const before = observer?.starts.length ?? 0;
    await sleep(1000);
    expect(observer?.starts.length).toBe(before);
    const events = await t.core.listNamespacedEvent({
      namespace: t.namespace,
      fieldSelector: `involvedObject.name=${UPDATE_POLICY_NAME},reason=InvalidPolicy`,
    });
    expect(events.items).toHaveLength(1);
  });
});
