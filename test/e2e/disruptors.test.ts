// End to end: coordination with other disruptors (Karpenter, cluster-autoscaler). What is checked is what happened to
// the Nodes, as a watch of them (client-node's own informer, not the operator's) and the simulated hosts saw it:
// - a node carries karpenter.sh/do-not-disrupt and cluster-autoscaler's scale-down-disabled from before the operator
//   cordons it until after it is uncordoned, at its reboot too, and loses them after; also when the controller
//   leader is killed while nodes are disrupted (the replica that takes over removes them once those nodes finish);
// - a person's own do-not-disrupt annotation (set with kubectl annotate) is still there, untouched, at the end;
// - a node carrying Karpenter's karpenter.sh/disrupted taint is not started while tainted, and is once it is removed.
// The oracle checks I6 (the same annotations, on every disrupted node) on every change throughout.
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { describe, expect, it } from "vitest";
import { CoreV1Api, makeInformer, type V1Node } from "@kubernetes/client-node";
import type { HostEffect } from "../../sim/host/host-state.ts";
import type { SimulatedCluster } from "../../sim/cluster/simulated-cluster.ts";
import { setUpdatePolicy } from "../../sim/cluster/update-policy.ts";
import {
  eventsOf,
  expectConverged,
  expectNoViolations,
  start,
  stopClustersAfterEach,
  TO,
  until,
  updated,
} from "./support.ts";

stopClustersAfterEach();

const KARPENTER = "karpenter.sh/do-not-disrupt";
const CA = "cluster-autoscaler.kubernetes.io/scale-down-disabled";
const TAINT = "karpenter.sh/disrupted";
/** The node whose owner set Karpenter's annotation themselves. */
const USERS_NODE = "bottlerocket-3";

/** One Node as the watch delivered it: when, whether cordoned, which of the two annotations it carried. */
interface Seen {
  at: number;
  cordoned: boolean;
  annotations: Partial<Record<typeof KARPENTER | typeof CA, string>>;
}

/** Every change of each Node's cordon and do-not-disrupt annotations, in the watch's order; the hosts' effects. */
class Timeline {
  readonly nodes = new Map<string, Seen[]>();
  readonly host = new Map<string, HostEffect[]>();
  readonly #informer;
  readonly #off: (() => void)[] = [];

  constructor(cluster: SimulatedCluster) {
    const core = cluster.kc.makeApiClient(CoreV1Api);
    this.#informer = makeInformer<V1Node>(cluster.kc, "/api/v1/nodes", () => core.listNode());
    const see = (node: V1Node) => {
      const name = node.metadata?.name ?? "";
      const annotations = node.metadata?.annotations ?? {};
      const seen: Seen = {
        at: Date.now(),
        cordoned: node.spec?.unschedulable === true,
        annotations: {
          ...(annotations[KARPENTER] === undefined ? {} : { [KARPENTER]: annotations[KARPENTER] }),
          ...(annotations[CA] === undefined ? {} : { [CA]: annotations[CA] }),
        },
      };
      const list = this.nodes.get(name) ?? [];
      const last = list.at(-1);
      if (last?.cordoned !== seen.cordoned || JSON.stringify(last.annotations) !== JSON.stringify(seen.annotations)) {
        list.push(seen);
      }
      this.nodes.set(name, list);
    };
    this.#informer.on("add", see);
    this.#informer.on("update", see);
    for (const [name, host] of cluster.hosts) {
      this.host.set(name, []);
      this.#off.push(host.onEffect((effect) => this.host.get(name)?.push(effect)));
    }
  }

  async start(): Promise<void> {
    await this.#informer.start();
  }

  async stop(): Promise<void> {
    for (const off of this.#off) off();
    await this.#informer.stop();
  }

  latest(node: string): Seen | undefined {
    return this.nodes.get(node)?.at(-1);
  }

  /** The host's reboot requests and update commands other than refresh, by time. */
  effects(node: string, type: HostEffect["type"]): HostEffect[] {
    return (this.host.get(node) ?? []).filter(
      (e) => e.type === type && (e.type !== "command-started" || e.command !== "refresh"),
    );
  }
}

const guarded = (s: Seen | undefined) => s?.annotations[KARPENTER] === "true" && s.annotations[CA] === "true";

/**
 * A node's history shows the annotations exactly while it was disrupted: present on every view of it cordoned and
 * on the last view before each reboot request, first seen before its first cordon, gone after its last uncordon.
 * Returns how long after that uncordon they went (ms).
 */
function expectGuardedWhileDisrupted(timeline: Timeline, node: string, userOwnsKarpenter = false): number {
  const seen = timeline.nodes.get(node) ?? [];
  const ours = (s: Seen) => (userOwnsKarpenter ? s.annotations[CA] === "true" : guarded(s));
  const firstCordon = seen.findIndex((s) => s.cordoned);
  const lastCordon = seen.findLastIndex((s) => s.cordoned);
  expect(firstCordon, `${node} was cordoned`).toBeGreaterThan(0);
  const firstGuard = seen.findIndex(ours);
  expect(firstGuard, `${node}: annotated before its first cordon`).toBeGreaterThanOrEqual(0);
  expect(firstGuard, `${node}: annotated before its first cordon`).toBeLessThan(firstCordon);
  for (const s of seen.filter((x) => x.cordoned)) expect(guarded(s), `${node} cordoned at ${s.at}`).toBe(true);
  const reboots = timeline.effects(node, "reboot-requested");
  expect(reboots.length, `${node} rebooted`).toBeGreaterThan(0);
  for (const reboot of reboots) {
    const before = seen.findLast((s) => s.at <= reboot.at);
    expect(guarded(before), `${node} at its reboot request`).toBe(true);
  }
  const uncordon = seen[lastCordon + 1];
  const released = seen.findIndex((s, i) => i > lastCordon && !ours(s));
  expect(uncordon, `${node} uncordoned`).toBeDefined();
  expect(released, `${node}: the annotations went after its last uncordon`).toBeGreaterThan(lastCordon);
  expect(guarded(seen[lastCordon]), `${node}: still annotated at its last cordoned view`).toBe(true);
  return (seen[released]?.at ?? 0) - (uncordon?.at ?? 0);
}

/** SIGKILLs the controller replica holding the Lease (bounded: a minute for one to hold it and run). */
async function killLeader(cluster: SimulatedCluster): Promise<{ leader: string; killedAt: number }> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const leader = await cluster.controllerLeader();
    if (leader !== undefined && leader !== "" && cluster.runners.controller.crash(leader) !== undefined) {
      return { leader, killedAt: Date.now() };
    }
    if (Date.now() > deadline) throw new Error(`no running controller leader to kill (lease holder "${leader ?? ""}")`);
    await sleep(200);
  }
}

/** `kubectl` against the simulated cluster's control plane, as a person would run it. */
function kubectl(cluster: SimulatedCluster, ...args: string[]): Promise<{ stdout: string }> {
  return promisify(execFile)(join(cluster.cp.binDir, "kubectl"), ["--kubeconfig", cluster.cp.kubeconfigPath, ...args]);
}

describe("coordination with other disruptors", () => {
  it("do-not-disrupt annotations exactly while a node is disrupted, across a leader crash; a user's own stays", async () => {
    const running = await start({ nodes: 4, budget: 2 });
    const { cluster, observer } = running;
    const timeline = new Timeline(cluster);
    await timeline.start();
    try {
      await kubectl(cluster, "annotate", "node", USERS_NODE, `${KARPENTER}=true`);
      await until(
        "the user's annotation seen",
        30_000,
        () => timeline.latest(USERS_NODE)?.annotations[KARPENTER] === "true",
      );
      for (const n of cluster.nodeNames.filter((x) => x !== USERS_NODE)) {
        expect(timeline.latest(n)?.annotations, `${n} before the rollout`).toEqual({});
      }

      const publishedAt = Date.now();
      cluster.publish(TO);
      // Kill the leader while a node is disrupted: it cannot finish (Monitoring → Idle is the controller's) until the
      // other replica takes over, and its annotations must outlast the crash and then go.
      await until("a node cordoned by the operator", 300_000, () =>
        cluster.nodeNames.some((n) => timeline.latest(n)?.cordoned === true),
      );
      // The leader's own node may be the one drained (its pod evicted, the Lease released): kill whoever leads next.
      const { leader, killedAt } = await killLeader(cluster);
      // In the operator's hands when it died: annotated (started, maybe cordoned or rebooting by now). The user's node
      // counts too, by the annotation that is the operator's there: it may be the only node started when the first
      // cordon is seen (the nodes become eligible one by one, as each agent hears of the update).
      const disruptedAtKill = cluster.nodeNames.filter((n) => guarded(timeline.latest(n)));
      const views = cluster.nodeNames.map((n) => `${n} ${JSON.stringify(timeline.latest(n) ?? null)}`).join("; ");
      expect(disruptedAtKill.length, `a node in flight when the leader was killed: ${views}`).toBeGreaterThan(0);
      await until("every node updated after the leader was killed", 600_000, () =>
        cluster.nodeNames.every((n) => updated(observer, n)),
      );
      await expectConverged(running);
      await expectNoViolations(running); // I6 among them, on every change
      await until("the operator's annotations gone from every node", 60_000, () =>
        cluster.nodeNames.every((n) => {
          const annotations = timeline.latest(n)?.annotations ?? {};
          return annotations[CA] === undefined && (n === USERS_NODE || annotations[KARPENTER] === undefined);
        }),
      );

      const delays = new Map<string, number>();
      for (const n of cluster.nodeNames) delays.set(n, expectGuardedWhileDisrupted(timeline, n, n === USERS_NODE));
      // The nodes in flight at the kill kept them through the crash, and lost them only after the takeover.
      for (const n of disruptedAtKill) {
        const seen = timeline.nodes.get(n) ?? [];
        const atKill = seen.findLast((s) => s.at <= killedAt);
        expect(guarded(atKill), `${n} annotated when the leader was killed`).toBe(true);
        expect(
          seen.find((s) => s.at > killedAt && s.annotations[CA] === undefined),
          `${n} released`,
        ).toBeDefined();
      }
      // The user's own annotation: from when it was set, throughout and after, with the user's value.
      const usersSeen = timeline.nodes.get(USERS_NODE) ?? [];
      for (const s of usersSeen.slice(usersSeen.findIndex((x) => x.annotations[KARPENTER] !== undefined))) {
        expect(s.annotations[KARPENTER], `${USERS_NODE} at ${s.at}`).toBe("true");
      }
      const users = await cluster.kc.makeApiClient(CoreV1Api).readNode({ name: USERS_NODE });
      expect(users.metadata?.annotations?.[KARPENTER]).toBe("true");
      const owner = users.metadata?.managedFields?.find(
        (f) =>
          (f.fieldsV1 as Record<string, Record<string, Record<string, unknown>>>)["f:metadata"]?.["f:annotations"]?.[
            `f:${KARPENTER}`
          ],
      );
      expect(owner?.manager).toBe("kubectl-annotate");
      console.log(
        `4 nodes, budget 2, leader ${leader} killed ${((killedAt - publishedAt) / 1000).toFixed(1)} s in while ` +
          `${disruptedAtKill.join(", ")} were disrupted; annotations removed after each last uncordon: ` +
          [...delays].map(([n, ms]) => `${n} ${(ms / 1000).toFixed(1)} s`).join(", "),
      );
    } finally {
      await timeline.stop();
    }
  }, 900_000);

  it("a node Karpenter is disrupting is not started while tainted, and is once the taint is gone", async () => {
    const running = await start({ nodes: 3, budget: 3 });
    const { cluster, observer } = running;
    const TAINTED = "bottlerocket-1";
    const timeline = new Timeline(cluster);
    await timeline.start();
    try {
      // A policy object, so that the controller writes its status (which shows the wait).
      await setUpdatePolicy(cluster.kc, cluster.namespace, {});
      await kubectl(cluster, "taint", "nodes", TAINTED, `${TAINT}:NoSchedule`);
      cluster.publish(TO);
      const others = cluster.nodeNames.filter((n) => n !== TAINTED);
      await until("the untainted nodes updated", 300_000, () => others.every((n) => updated(observer, n)));
      // Budget 3 had room for it all along: only the taint held it. Its host was never asked to do anything.
      expect(timeline.effects(TAINTED, "command-started")).toEqual([]);
      expect(timeline.effects(TAINTED, "reboot-requested")).toEqual([]);
      expect((timeline.nodes.get(TAINTED) ?? []).some((s) => s.cordoned)).toBe(false);
      expect(cluster.hosts.get(TAINTED)?.runningVersion).not.toBe(TO);
      await until("the wait explained in an Event", 60_000, () =>
        eventsOf(observer, TAINTED).some((e) => e.reason === "KarpenterDisrupting"),
      );

      const untaintedAt = Date.now();
      await kubectl(cluster, "taint", "nodes", TAINTED, `${TAINT}:NoSchedule-`);
      await until("the formerly tainted node updated", 300_000, () => updated(observer, TAINTED));
      const prepared = timeline.effects(TAINTED, "command-started")[0];
      expect(prepared?.at).toBeGreaterThan(untaintedAt);
      await expectConverged(running);
      await expectNoViolations(running);
      expectGuardedWhileDisrupted(timeline, TAINTED);
    } finally {
      await timeline.stop();
    }
  }, 900_000);
});
