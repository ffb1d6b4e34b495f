// The controller on the real control plane with simulated agents: a 10-node rollout under a budget of 3, the budget
// checked on every observed change; a node whose agent never progresses is timed out while the others finish;
// every status change is followed by the next spec write (how fast: bench/makespan.ts); Events, metrics and garbage
// collection.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CustomObjectsApi, type CoreV1Event } from "@kubernetes/client-node";
import { eventually, useCluster, type TestCluster } from "../support/cluster.ts";
import {
  ShadowTimeline,
  installOperatorCrds,
  SimulatedAgent,
  startAgents,
  summarize,
} from "../../sim/stand-ins/status-agents.ts";
import { testControllerConfig } from "../support/controller-config.ts";
import { API_GROUP, PLURAL, VERSION_V2, brsName } from "../../src/api/constants.ts";
import { ANNOTATIONS } from "../../src/core/model.ts";
import { Controller } from "../../src/controller/controller.ts";

let t: TestCluster;
beforeAll(async () => {
  t = await useCluster(import.meta.url);
  await installOperatorCrds(t.kc);
});
afterAll(() => t.cleanup());

async function events(namespace: string, objectName: string): Promise<CoreV1Event[]> {
  const list = await t.core.listNamespacedEvent({ namespace, fieldSelector: `involvedObject.name=${objectName}` });
  return list.items;
}

async function metrics(port: number): Promise<string> {
  const response = await fetch(`http://127.0.0.1:${port}/metrics`);
  return response.text();
}

describe("controller rollout with simulated agents", () => {
  let controller: Controller;
  let observer: ShadowTimeline;
  let agents: SimulatedAgent[];
  let nodes: string[];

  afterAll(async () => {
    await controller.stop();
    await observer.stop();
    await Promise.all(agents.map((a) => a.stop()));
  });

  it("updates 10 nodes with never more than 3 out of Idle, times out the stuck one, and finishes the rest", async () => {
    nodes = await t.createNodes(10);
    const stuck = nodes[0] ?? "";
    observer = new ShadowTimeline(t.kc, t.namespace, 3);
    await observer.start();
    // Node 0 (first in name order, so it starts at once) never progresses; the others move at random speeds.
    // It runs 1.0.1 so that 1.0.0 disappears from brupop_hosts_version once the others are updated.
    const common = { kc: t.kc, core: t.core, namespace: t.namespace, targetVersion: "2.0.0" };
    const stuckAgent = new SimulatedAgent({ ...common, nodeName: stuck, currentVersion: "1.0.1", behaviour: "stuck" });
    await stuckAgent.start();
    agents = [
      stuckAgent,
      ...(await startAgents(nodes.slice(1), { ...common, currentVersion: "1.0.0", stepDelayMs: [20, 400] })),
    ];

    controller = new Controller({
      client: t.client,
      config: testControllerConfig(t, "replica-a", {
        MAX_CONCURRENT_UPDATE: "3",
        STATE_TIMEOUTS: "StagedAndPerformedUpdate=3s",
      }),
      onLeadershipLost: () => undefined,
    });
    const startedAt = Date.now();
    await controller.start();
    await controller.whenLeading();

    const normal = nodes.slice(1).map(brsName);
    await eventually(
      "all normal nodes updated and their specs cleared",
      async () => {
        const done = normal.every((name) => {
          const s = observer.get(name);
          return (
            s?.status?.current_version === "2.0.0" &&
            s.status.current_state === "Idle" &&
            s.spec.state === "Idle" &&
            s.spec.version == null
          );
        });
        return done ? true : undefined;
      },
      60_000,
    );
    const elapsed = Date.now() - startedAt;

    // The invariant, on every observed change.
    expect(observer.violations).toEqual([]);
    expect(observer.maxActive).toBe(3); // and the budget was actually used
    // The stuck node was timed out, reset, and is backing off (not restarted).
    const stuckShadow = observer.get(brsName(stuck));
    expect(stuckShadow?.spec.state).toBe("Idle");
    expect(stuckShadow?.metadata.annotations?.[ANNOTATIONS.timeouts]).toBe("1");
    expect(stuckShadow?.metadata.annotations?.[ANNOTATIONS.specReason]).toMatch(
      /timed out in StagedAndPerformedUpdate/,
    );
    expect(observer.starts.filter((s) => s.shadow === brsName(stuck))).toHaveLength(1);
    expect(observer.starts).toHaveLength(10);

    const latency = summarize(observer.stepLatencies);
    console.log(
      `rollout of 9 nodes (+1 stuck) in ${elapsed} ms; status→spec latency over ${latency.n} steps: ` +
        `median ${latency.median} ms, p95 ${latency.p95} ms, max ${latency.max} ms`,
    );
    expect(latency.n).toBeGreaterThanOrEqual(27); // 3 steps × 9 nodes, each followed by the next spec write
  });

  it("explains its decisions with Events on the shadow and on the Node, without repeating a blocking reason", async () => {
    const stuck = nodes[0] ?? "";
    await eventually("timeout events", async () => {
      const onShadow = await events(t.namespace, brsName(stuck));
      const onNode = await events("default", stuck);
      const reasons = (list: CoreV1Event[]) => list.map((e) => e.reason);
      return reasons(onShadow).includes("UpdateTimedOut") &&
        reasons(onNode).includes("UpdateTimedOut") &&
        reasons(onShadow).includes("BackingOff")
        ? true
        : undefined;
    });
    const last = nodes[9] ?? "";
    const shadowEvents = await events(t.namespace, brsName(last));
    const reasons = shadowEvents.map((e) => e.reason);
    expect(reasons).toContain("UpdateStarted");
    expect(reasons).toContain("RequestedRebootedIntoUpdate");
    expect(reasons).toContain("UpdateSucceeded");
    // n9 is last in order: it waited for budget, and was told so once, not on every pass.
    expect(reasons.filter((r) => r === "BudgetFull")).toHaveLength(1);
    const nodeEvents = await events("default", last);
    expect(nodeEvents.map((e) => e.reason)).toEqual(expect.arrayContaining(["UpdateStarted", "UpdateSucceeded"]));
    const started = shadowEvents.find((e) => e.reason === "UpdateStarted");
    expect(started?.message).toBe("updating from 1.0.0 to 2.0.0");
    expect(started?.involvedObject.namespace).toBe(t.namespace);
  });

  it("exports brupop's gauges without stale versions, plus transitions, failures and reconcile metrics", async () => {
    const port = controller.metricsPort ?? 0;
    const text = await metrics(port);
    expect(text).toMatch(/^brupop_hosts_state\{state="Idle"\} 10$/m);
    expect(text).toMatch(/^brupop_hosts_state\{state="RebootedIntoUpdate"\} 0$/m);
    expect(text).toMatch(/^brupop_hosts_version\{bottlerocket_version="2\.0\.0"\} 9$/m);
    expect(text).toMatch(/^brupop_hosts_version\{bottlerocket_version="1\.0\.1"\} 1$/m);
    expect(text).not.toMatch(/bottlerocket_version="1\.0\.0"/); // vanished, so removed (brupop kept it at 0)
    expect(text).toMatch(/^brupop_update_failures_total\{reason="timed-out"\} 1$/m);
    expect(text).toMatch(/^brupop_state_transitions_total\{from="Idle",to="StagedAndPerformedUpdate"\} 10$/m);
    expect(text).toMatch(/^brupop_state_transitions_total\{from="MonitoringUpdate",to="Idle"\} 9$/m);
    expect(text).toMatch(/^brupop_state_duration_seconds_count\{state="RebootedIntoUpdate"\} 9$/m);
    expect(text).toMatch(/^brupop_nodes_not_started\{reason="backoff"\} 1$/m);
    expect(text).toMatch(/^brupop_reconcile_duration_seconds_count\{kind="fleet",result="ok"\} \d+$/m);
    expect(text).toMatch(/^brupop_workqueue_depth \d+$/m);
    // Every node key a worker took waited some time ready (at least one of them: ten nodes went through the queue).
    expect(text).toMatch(/^brupop_workqueue_wait_seconds_count\{kind="node"\} [1-9]\d*$/m);
    expect(text).toMatch(/^brupop_controller_leader 1$/m);
    expect((await fetch(`http://127.0.0.1:${port}/livez`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/readyz`)).status).toBe(200);
  });

  it("deletes the shadow of a node that lost its label, and says so on the Node", async () => {
    const node = nodes[5] ?? "";
    await agents[5]?.stop(); // the DaemonSet would remove the agent pod too
    await t.core.patchNode({
      name: node,
      body: [{ op: "remove", path: "/metadata/labels/bottlerocket.aws~1updater-interface-version" }],
    });
    const custom = t.kc.makeApiClient(CustomObjectsApi);
    await eventually("shadow deleted", async () => {
      try {
        await custom.getNamespacedCustomObject({
          group: API_GROUP,
          version: VERSION_V2,
          namespace: t.namespace,
          plural: PLURAL,
          name: brsName(node),
        });
        return undefined;
      } catch (err) {
        return (err as { code?: number }).code === 404 ? true : undefined;
      }
    });
    await eventually("ShadowDeleted event", async () =>
      (await events("default", node)).some((e) => e.reason === "ShadowDeleted") ? true : undefined,
    );
    // A labelled node's shadow is left alone.
    expect(observer.get(brsName(nodes[6] ?? ""))).toBeDefined();
  });
});
