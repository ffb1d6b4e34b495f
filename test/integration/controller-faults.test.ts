// The controller on the real control plane when nodes fail in ways the happy path never shows (issue 11):
// - a node whose agent never came back after a reset: Ready and still cordoned by the operator's drain, it is
//   uncordoned by the controller and stops holding the budget, so the others update;
// - a standby that takes over after the leader used a one-shot trigger does not open that trigger again, and a
//   trigger that finds nothing to start ends its session at its firing;
// - a node taken out of MANAGED_NODE_SELECTOR mid-update is seen through instead of hanging;
// - a crash between the spec that finishes an update and the health gates' condition loses no outcome.
// Nodes, Events, the ConfigMap and the shadows are read from the API server; the agents are stand-ins.
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type CoreV1Event } from "@kubernetes/client-node";
import { eventually, useCluster, type TestCluster } from "../support/cluster.ts";
import { installOperatorCrds, startAgents, type SimulatedAgent } from "../../sim/stand-ins/status-agents.ts";
import { testControllerConfig } from "../support/controller-config.ts";
import { API_GROUP, ANNOTATION_DRAIN, PLURAL, VERSION_V2, brsName } from "../../src/api/constants.ts";
import type { BottlerocketShadow } from "../../src/api/bottlerocket-shadow.ts";
import { formatTimestamp } from "../../src/api/timestamps.ts";
import { formatOutcome } from "../../src/core/health-gates.ts";
import { ANNOTATIONS } from "../../src/core/model.ts";
import { Controller } from "../../src/controller/controller.ts";
import { FLEET_STATE_CONFIGMAP } from "../../src/controller/fleet-state.ts";

const MERGE_PATCH = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

let t: TestCluster;
let custom: CustomObjectsApi;
const running: { controllers: Controller[]; agents: SimulatedAgent[] } = { controllers: [], agents: [] };
/** Each test's nodes: their shadows go with the test, so no test sees another's fleet. */
const nodesOfTest: string[] = [];

beforeAll(async () => {
  t = await useCluster(import.meta.url);
  custom = t.kc.makeApiClient(CustomObjectsApi);
  await installOperatorCrds(t.kc);
});
afterEach(async () => {
  await Promise.allSettled([
    ...running.controllers.splice(0).map((c) => c.stop()),
    ...running.agents.splice(0).map((a) => a.stop()),
  ]);
  await Promise.allSettled(nodesOfTest.map((n) => custom.deleteNamespacedCustomObject(ref(brsName(n)))));
  nodesOfTest.splice(0);
});

async function createNodes(n: number, options: Parameters<TestCluster["createNodes"]>[1]): Promise<string[]> {
  const names = await t.createNodes(n, options);
  nodesOfTest.push(...names);
  return names;
}
afterAll(() => t.cleanup());

const ref = (name: string) => ({ group: API_GROUP, version: VERSION_V2, namespace: t.namespace, plural: PLURAL, name });

async function shadow(node: string): Promise<BottlerocketShadow> {
  return (await custom.getNamespacedCustomObject(ref(brsName(node)))) as BottlerocketShadow;
}

async function patchShadow(node: string, body: object, status = false): Promise<void> {
  const request = { ...ref(brsName(node)), body };
  if (status) await custom.patchNamespacedCustomObjectStatus(request, MERGE_PATCH);
  else await custom.patchNamespacedCustomObject(request, MERGE_PATCH);
}

async function eventsAbout(name: string, namespace: string): Promise<CoreV1Event[]> {
  return (await t.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${name}` })).items;
}

function controller(identity: string, env: Record<string, string>, extraSelector?: string): Controller {
  const config = testControllerConfig(t, identity, env);
  const c = new Controller({
    client: t.client,
    config:
      extraSelector === undefined
        ? config
        : { ...config, extraNodeSelector: `${config.extraNodeSelector},${extraSelector}` },
    onLeadershipLost: () => undefined,
  });
  running.controllers.push(c);
  return c;
}

async function agents(
  nodes: string[],
  from: string,
  to: string,
  stepDelayMs: [number, number] = [20, 100],
): Promise<SimulatedAgent[]> {
  const started = await startAgents(nodes, {
    kc: t.kc,
    core: t.core,
    namespace: t.namespace,
    currentVersion: from,
    targetVersion: to,
    stepDelayMs,
  });
  running.agents.push(...started);
  return started;
}

describe("a stuck node (its agent never came back after a reset)", () => {
  it("is uncordoned by the controller, stops holding the budget, and the other node updates", async () => {
    const [stuck = "", other = ""] = await createNodes(2, { from: 0 });
    // The stuck node: reset a day ago mid-reboot, its agent gone, the node Ready and still cordoned by our drain.
    const [stuckAgent] = await agents([stuck], "1.0.0", "1.1.0");
    await stuckAgent?.stop();
    const aDayAgo = formatTimestamp(new Date(Date.now() - 86_400_000));
    await patchShadow(stuck, { spec: { state: "Idle", version: "1.1.0", state_transition_timestamp: aDayAgo } });
    await patchShadow(stuck, { status: { current_state: "RebootedIntoUpdate", crash_count: 1 } }, true);
    await t.core.patchNode(
      {
        name: stuck,
        body: { metadata: { annotations: { [ANNOTATION_DRAIN]: "lost-drain" } }, spec: { unschedulable: true } },
      },
      MERGE_PATCH,
    );
    await agents([other], "1.0.0", "1.1.0");

    const c = controller("stuck-a", { MAX_CONCURRENT_UPDATE: "1" });
    await c.start();
    await c.whenLeading();

    await eventually(
      "the other node updated",
      async () => {
        const s = await shadow(other);
        return s.status?.current_version === "1.1.0" && s.status.current_state === "Idle" ? true : undefined;
      },
      60_000,
    );
    const node = await t.core.readNode({ name: stuck });
    expect(node.spec?.unschedulable).toBeFalsy();
    expect(node.metadata?.annotations?.[ANNOTATION_DRAIN]).toBeUndefined();
    const nodeEvents = await eventsAbout(stuck, "default");
    expect(nodeEvents.map((e) => e.reason)).toEqual(expect.arrayContaining(["NodeReleased", "NodeStuck"]));
    expect(nodeEvents.find((e) => e.reason === "NodeStuck")?.message).toMatch(/stuck: the agent has not reported Idle/);
    // Still reported, still not Idle: a person has to look at it.
    expect((await shadow(stuck)).status?.current_state).toBe("RebootedIntoUpdate");
    // On the shadow itself too (kubectl wait --for=condition=Stuck).
    const stuckCondition = async (status: "True" | "False") =>
      (await shadow(stuck)).status?.conditions?.find((c) => c.type === "Stuck" && c.status === status);
    const set = await eventually("Stuck=True on the shadow", () => stuckCondition("True"), 30_000);
    expect(set).toMatchObject({ reason: "AgentUnresponsive" });
    expect(set.message).toMatch(/stuck: the agent has not reported Idle/);

    // Its agent comes back and reports Idle: the condition turns False and stays as the record of what happened.
    await patchShadow(stuck, { status: { current_state: "Idle", crash_count: 0 } }, true);
    const cleared = await eventually("Stuck=False on the shadow", () => stuckCondition("False"), 30_000);
    expect(cleared).toMatchObject({ reason: "AgentReporting" });
  });
});

describe("a one-shot schedule across a failover", () => {
  it("a standby that takes over does not reopen the trigger the leader used", async () => {
    const nodes = await createNodes(2, { from: 2 });
    // A trigger a few seconds from now, then daily.
    const fire = new Date(Date.now() + 6_000);
    const cron = `${fire.getUTCSeconds()} ${fire.getUTCMinutes()} ${fire.getUTCHours()} * * *`;
    const env = { MAX_CONCURRENT_UPDATE: "2", SCHEDULER_CRON_EXPRESSION: cron };
    // The standby starts before the trigger: its own start time lies before the trigger.
    const a = controller("oneshot-a", env);
    const b = controller("oneshot-b", env);
    await a.start();
    await a.whenLeading();
    await b.start();
    await agents(nodes, "1.0.0", "1.1.0");

    await eventually(
      "the session updated both nodes",
      async () => {
        const all = await Promise.all(nodes.map(shadow));
        return all.every(
          (s) => s.status?.current_version === "1.1.0" && s.status.current_state === "Idle" && s.spec.state === "Idle",
        )
          ? true
          : undefined;
      },
      60_000,
    );
    const consumed = await eventually("the leader recorded the session as used", async () => {
      const cm = await t.core.readNamespacedConfigMap({ name: FLEET_STATE_CONFIGMAP, namespace: t.namespace });
      const at = Date.parse(cm.data?.oneshotTriggerConsumedAt ?? "");
      return at >= fire.getTime() - 1000 ? at : undefined;
    });
    expect(consumed).toBeGreaterThanOrEqual(fire.getTime() - 1000);

    // A newer version appears after the session; the leader dies; the standby takes over.
    for (const node of nodes) await patchShadow(node, { status: { target_version: "1.2.0" } }, true);
    await a.kill();
    await b.whenLeading();
    // The standby has decided about the fleet: it explains the wait (an Event with its own identity).
    await eventually(
      "the standby explains that the nodes wait for the next trigger",
      async () => {
        const waits = await Promise.all(nodes.map((n) => eventsAbout(brsName(n), t.namespace)));
        return waits.every((list) =>
          list.some((e) => e.reason === "OutsideWindow" && e.reportingInstance === "oneshot-b"),
        )
          ? true
          : undefined;
      },
      60_000,
    );
    const after = await Promise.all(nodes.map(shadow));
    expect(after.map((s) => s.spec.state)).toEqual(["Idle", "Idle"]);
  });
});

describe("a one-shot trigger that finds nothing to start", () => {
  it("ends its session at the firing: a version published after it waits for the next trigger", async () => {
    const nodes = await createNodes(2, { from: 6 });
    const fire = new Date(Math.floor(Date.now() / 1000) * 1000 + 8_000); // a whole second, as cron fires
    const cron = `${fire.getUTCSeconds()} ${fire.getUTCMinutes()} ${fire.getUTCHours()} * * *`;
    const c = controller("oneshot-dry", { MAX_CONCURRENT_UPDATE: "2", SCHEDULER_CRON_EXPRESSION: cron });
    await c.start();
    await c.whenLeading();
    await agents(nodes, "1.1.0", "1.1.0"); // up to date: the session will find nothing to start
    // Nothing else happens around the firing; the controller must look at it by itself (well before its 60 s recheck).
    const consumed = await eventually(
      "the session recorded as used at its firing",
      async () => {
        const cm = await t.core
          .readNamespacedConfigMap({ name: FLEET_STATE_CONFIGMAP, namespace: t.namespace })
          .catch(() => undefined);
        const at = Date.parse(cm?.data?.oneshotTriggerConsumedAt ?? "");
        return at >= fire.getTime() ? at : undefined;
      },
      fire.getTime() + 20_000 - Date.now(),
    );
    expect(consumed - fire.getTime()).toBeLessThan(20_000);

    for (const node of nodes) await patchShadow(node, { status: { target_version: "1.2.0" } }, true);
    await eventually(
      "both nodes told they wait for the next trigger",
      async () => {
        const waits = await Promise.all(nodes.map((n) => eventsAbout(brsName(n), t.namespace)));
        return waits.every((list) => list.some((e) => e.reason === "OutsideWindow")) ? true : undefined;
      },
      60_000,
    );
    expect((await Promise.all(nodes.map(shadow))).map((s) => s.spec.state)).toEqual(["Idle", "Idle"]);
  });
});

describe("a node taken out of MANAGED_NODE_SELECTOR mid-update", () => {
  it("is seen through to the end of the update it started", async () => {
    const [node = ""] = await createNodes(1, { from: 4, labels: { pool: "a" } });
    // Slow steps, so the node is still mid-update when it leaves the selector.
    const [agent] = await agents([node], "1.0.0", "1.1.0", [2_000, 2_000]);
    const c = controller("selector-a", { MAX_CONCURRENT_UPDATE: "1" }, "pool=a");
    await c.start();
    await c.whenLeading();
    await eventually("the update started", async () => ((await shadow(node)).spec.state !== "Idle" ? true : undefined));
    expect((await shadow(node)).status?.current_state).not.toBe("MonitoringUpdate");
    await t.core.patchNode({ name: node, body: { metadata: { labels: { pool: "b" } } } }, MERGE_PATCH);
    await eventually(
      "the update finished after the node left the selector",
      async () => {
        const s = await shadow(node);
        return s.spec.state === "Idle" && s.status?.current_state === "Idle" && s.status.current_version === "1.1.0"
          ? true
          : undefined;
      },
      60_000,
    );
    expect(agent?.reported).toEqual(expect.arrayContaining(["RebootedIntoUpdate", "MonitoringUpdate", "Idle"]));
  });
});

describe("a controller that crashed between the finishing spec and the gates' condition", () => {
  it("writes the outcome the spec carried, when it or the next leader starts", async () => {
    const [node = ""] = await createNodes(1, { from: 5 });
    // The shadow as the crash left it: MonitoringUpdate (generation 2) checked, Unknown on the shadow; the finishing
    // spec written (generation 3) with the pass it carries; the agent answered it; the condition never written.
    const [agent] = await agents([node], "1.1.0", "1.1.0");
    await agent?.stop();
    const at = formatTimestamp(new Date());
    await patchShadow(node, { spec: { state: "MonitoringUpdate", version: "1.1.0", state_transition_timestamp: at } });
    expect((await shadow(node)).metadata.generation).toBe(2);
    const pending = {
      type: "UpdateHealthy",
      status: "Unknown",
      reason: "GatesPending",
      message: "checking the health gates after the update to 1.1.0: daemonset-pods waiting",
      lastTransitionTime: at,
      observedGeneration: 2,
    };
    await patchShadow(node, { status: { current_state: "MonitoringUpdate", conditions: [pending] } }, true);
    const carried = formatOutcome({ kind: "passed", results: [] }, "1.1.0", 2);
    await patchShadow(node, {
      metadata: { annotations: { [ANNOTATIONS.updateHealthy]: carried } },
      spec: { state: "Idle", version: "1.1.0", state_transition_timestamp: at },
    });
    await patchShadow(node, { status: { current_state: "Idle" } }, true);

    const c = controller("outcome-a", { MAX_CONCURRENT_UPDATE: "1" });
    await c.start();
    await c.whenLeading();
    const healed = await eventually("UpdateHealthy=True on the shadow", async () => {
      const current = await shadow(node);
      const healthy = current.status?.conditions?.find((c) => c.type === "UpdateHealthy" && c.status === "True");
      return healthy === undefined ? undefined : { current, healthy };
    });
    expect(healed.healthy).toMatchObject({
      reason: "GatesPassed",
      message: "health gates passed after the update to 1.1.0",
      observedGeneration: 2,
    });
    expect(healed.current.status?.current_state).toBe("Idle"); // the agent's report kept
  });
});
