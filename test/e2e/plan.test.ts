// End to end: the plan before it happens. Six nodes in three zones, a fleet budget of 2 and a zone budget of 1,
// the policy in dry run (spec.dryRun). A new version is published: nothing is cordoned or rebooted while the
// controller publishes its plan (policy status, a PlanPublished Event), and `bin/brupop plan`, run as a user runs it
// with credentials that can only read, prints the same waves. Then dryRun goes off and the rollout happens; what is
// compared with the plan is what the hosts saw (the order of the reboots they were asked for, each after its node was
// cordoned), never the controller's word. The invariant oracle (sim/oracle) watches throughout, per zone too.
import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  CoordinationV1Api,
  CoreV1Api,
  CustomObjectsApi,
  KubeConfig,
  RbacAuthorizationV1Api,
} from "@kubernetes/client-node";
import { API_GROUP, PLURAL } from "../../src/api/constants.ts";
import { NAMES } from "../../src/deploy/names.ts";
import { UPDATE_POLICY_NAME, UPDATE_POLICY_PLURAL, UPDATE_POLICY_VERSION } from "../../src/api/update-policy-names.ts";
import { setUpdatePolicy } from "../../sim/cluster/update-policy.ts";
import { BRUPOP, run, userEnv } from "./run-command.ts";
import {
  current,
  expectConverged,
  expectNoViolations,
  policyStatus,
  start,
  stopClustersAfterEach,
  TO,
  until,
  updated,
  type Running,
} from "./support.ts";

stopClustersAfterEach();

const ZONE = "topology.kubernetes.io/zone";
const ZONES: Readonly<Record<string, string>> = {
  "bottlerocket-1": "zone-a",
  "bottlerocket-2": "zone-a",
  "bottlerocket-3": "zone-b",
  "bottlerocket-4": "zone-b",
  "bottlerocket-5": "zone-c",
  "bottlerocket-6": "zone-c",
};
const BUDGET = 2;
const TOPOLOGY = [{ topologyKey: ZONE, maxConcurrentUpdates: 1 }];

interface PlanDocument {
  dryRun: boolean;
  duration: { seconds: number; source: string };
  assumptions: string[];
  waves: { wave: number; nodes: string[]; estimated: boolean }[];
  nodes: { wave: number; node: string; zone: string | null; from: string; to: string; why: string }[];
  notPlanned: unknown[];
}

/** What the hosts and Nodes saw: each node's first cordon and first reboot request, in the order they came. */
class Disruptions {
  readonly cordons = new Map<string, number>();
  readonly reboots = new Map<string, number>();

  watch(running: Running): void {
    for (const [node, host] of running.cluster.hosts) {
      host.onEffect((effect) => {
        if (effect.type === "reboot-requested" && !this.reboots.has(node)) this.reboots.set(node, effect.at);
      });
    }
  }

  observe({ cluster, observer }: Running): void {
    for (const node of cluster.nodeNames) {
      if (observer.node(node)?.spec?.unschedulable === true && !this.cordons.has(node)) {
        this.cordons.set(node, Date.now());
      }
    }
  }

  /** Nodes in the order their hosts were asked to reboot. */
  rebootOrder(): string[] {
    return [...this.reboots].sort((a, b) => a[1] - b[1]).map(([node]) => node);
  }

  get any(): number {
    return this.cordons.size + this.reboots.size;
  }
}

/**
 * A kubeconfig for a ServiceAccount that may only get, list and watch (what `brupop plan` reads): a write with it is
 * refused by the API server's RBAC, so a plan printed with it was made without writing.
 */
async function readOnlyKubeconfig({ cluster }: Running): Promise<{ path: string; kc: KubeConfig }> {
  const name = "plan-reader";
  const core = cluster.kc.makeApiClient(CoreV1Api);
  const rbac = cluster.kc.makeApiClient(RbacAuthorizationV1Api);
  await core.createNamespacedServiceAccount({ namespace: cluster.namespace, body: { metadata: { name } } });
  await rbac.createClusterRole({
    body: {
      metadata: { name },
      rules: [
        { apiGroups: [""], resources: ["nodes", "pods", "events"], verbs: ["get", "list", "watch"] },
        { apiGroups: ["apps"], resources: ["deployments"], verbs: ["get", "list", "watch"] },
        { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["get", "list", "watch"] },
        { apiGroups: [API_GROUP], resources: [PLURAL, UPDATE_POLICY_PLURAL], verbs: ["get", "list", "watch"] },
      ],
    },
  });
  await rbac.createClusterRoleBinding({
    body: {
      metadata: { name },
      roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
      subjects: [{ kind: "ServiceAccount", name, namespace: cluster.namespace }],
    },
  });
  const request = await core.createNamespacedServiceAccountToken({
    name,
    namespace: cluster.namespace,
    body: { spec: { audiences: [], expirationSeconds: 3600 } },
  });
  const token = request.status?.token;
  if (token === undefined) throw new Error("no token for the read-only ServiceAccount");
  const admin = cluster.kc.getCurrentCluster();
  if (admin === null) throw new Error("no cluster in the admin kubeconfig");
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [admin],
    users: [{ name, token }],
    contexts: [{ name, cluster: admin.name, user: name }],
    currentContext: name,
  });
  const dir = await mkdtemp(join(tmpdir(), "brupop-plan-"));
  const path = join(dir, "kubeconfig");
  await writeFile(path, kc.exportConfig(), { mode: 0o600 });
  return { path, kc };
}

async function brupop(kubeconfig: string, namespace: string, ...args: string[]): Promise<string> {
  const done = await run(BRUPOP, [...args, "-n", namespace], {
    env: userEnv({ KUBECONFIG: kubeconfig, NO_COLOR: "1" }),
    timeoutMs: 60_000,
  });
  expect(done.code, `brupop ${args.join(" ")}: ${done.stderr}`).toBe(0);
  return done.stdout;
}

describe("brupop plan and a dry run: six nodes, three zones, budget 2, one node per zone at a time", () => {
  it("the dry run starts nothing and publishes the plan; the rollout then follows the plan's waves", async () => {
    const disruptions = new Disruptions();
    const running = await start({
      nodes: 6,
      budget: BUDGET,
      // No workloads to drain: every node's update then takes about as long as any other's, which is what the
      // plan's waves assume (the controller starts the next node as soon as one finishes).
      workloads: false,
      labelsOf: (node) => ({ [ZONE]: ZONES[node] ?? "none" }),
      topologyBudgets: [{ key: ZONE, budget: 1 }],
      onChange: () => {
        const now = current();
        if (now) disruptions.observe(now);
      },
    });
    const { cluster, observer } = running;
    disruptions.watch(running);
    const generation = await setUpdatePolicy(cluster.kc, cluster.namespace, {
      dryRun: true,
      topologyBudgets: TOPOLOGY,
    });
    await policyStatus(cluster.kc, cluster.namespace, "the controller in dry run", (s) => {
      return (s.observedGeneration ?? 0) >= generation && s.dryRun === true;
    });

    // A new version: every node wants it; the controller plans instead of starting. Until the dry run ends the
    // oracle holds the fleet to "no update starts" (I5), as for a closed window, and expects no progress meanwhile.
    const hold = { from: Date.now(), until: Infinity };
    running.oracle.oracle.schedule((t) => t < hold.from || t >= hold.until);
    cluster.publish(TO);
    const published = await policyStatus(
      cluster.kc,
      cluster.namespace,
      "the plan for all six nodes in the policy status",
      (s) => s.plan?.nodes === 6,
      120_000,
    );
    // The controller's own node goes last (src/core/order.ts): where the leader runs, as the API server says.
    const lease = await cluster.kc
      .makeApiClient(CoordinationV1Api)
      .readNamespacedLease({ name: NAMES.controllerLease, namespace: cluster.namespace });
    const leader = await cluster.kc
      .makeApiClient(CoreV1Api)
      .readNamespacedPod({ name: lease.spec?.holderIdentity ?? "", namespace: cluster.namespace });
    const controllerNode = leader.spec?.nodeName ?? "";
    expect(cluster.nodeNames).toContain(controllerNode);
    const waves = (published.plan?.entries ?? []).reduce<string[][]>((all, e) => {
      (all[e.wave - 1] ??= []).push(e.node);
      return all;
    }, []);
    // The waves keep both budgets: at most two nodes, never two of a zone; every node once, the controller's last
    // and alone.
    for (const wave of waves) {
      expect(wave.length).toBeLessThanOrEqual(BUDGET);
      expect(new Set(wave.map((n) => ZONES[n])).size).toBe(wave.length);
    }
    expect(waves.flat().sort()).toEqual([...cluster.nodeNames].sort());
    expect(waves.flat().at(-1)).toBe(controllerNode);
    expect(waves.at(-1), "the controller's node updates alone").toEqual([controllerNode]);
    expect(waves[0]).toHaveLength(2);
    expect(published.blocked).toMatchObject({ "dry-run": 2 });
    // One PlanPublished Event per change of the plan: this one names all six.
    const planEvent = new RegExp(`^dry run: 6 nodes would update in ${waves.length} waves`);
    await until("the PlanPublished Event of the plan for six nodes", 30_000, () =>
      observer
        .events()
        .some(
          (e) =>
            e.reason === "PlanPublished" &&
            e.involvedObject.name === UPDATE_POLICY_NAME &&
            planEvent.test(e.message ?? ""),
        ),
    );

    // brupop plan, as a user runs it, with credentials that cannot write.
    const reader = await readOnlyKubeconfig(running);
    const custom = reader.kc.makeApiClient(CustomObjectsApi);
    const refused = await custom
      .patchNamespacedCustomObject({
        group: API_GROUP,
        version: UPDATE_POLICY_VERSION,
        namespace: cluster.namespace,
        plural: UPDATE_POLICY_PLURAL,
        name: UPDATE_POLICY_NAME,
        body: [{ op: "add", path: "/spec/paused", value: true }],
      })
      .then(
        () => 200,
        (err: unknown) => (err as { code?: number }).code,
      );
    expect(refused, "the read-only identity may not write").toBe(403);
    const planned = JSON.parse(await brupop(reader.path, cluster.namespace, "plan", "-o", "json")) as PlanDocument;
    expect(planned.dryRun).toBe(true);
    // The same plan as the controller's.
    expect(planned.waves.map((w) => w.nodes)).toEqual(waves);
    expect(planned.waves.map((w) => w.estimated)).toEqual(waves.map((_, i) => i > 0));
    expect(planned.nodes.map((n) => [n.node, n.zone, n.from, n.to])).toEqual(
      waves.flat().map((n) => [n, ZONES[n], "1.25.0", TO]),
    );
    for (const n of planned.nodes.filter((p) => p.wave > 1)) {
      const waitsFor =
        n.node === controllerNode
          ? "the controller's node updates alone, after the others"
          : "update budget full|topology budget full .*";
      expect(n.why).toMatch(new RegExp(`^(${waitsFor}) until .* finish(es)? \\(estimated\\)$`));
    }
    expect(planned.notPlanned).toEqual([]);
    expect(planned.assumptions[0]).toMatch(/^each update takes /);
    const table = await brupop(reader.path, cluster.namespace, "plan");
    console.log(`brupop plan (dry run):\n${table}`);
    expect(table).toMatch(/^Dry run {5}yes/);
    expect(table).toMatch(
      new RegExp(`\n1 +now +${waves[0]?.[0] ?? "?"} +zone-. +1\\.25\\.0 → 1\\.26\\.0 +nothing holds it`),
    );
    const status = await brupop(reader.path, cluster.namespace, "status");
    expect(status).toMatch(/\nDry run {3}yes: no new update starts/);

    // Nothing was disrupted while the plan stood; the hosts still run the old version.
    expect(disruptions.any, "no node cordoned or rebooted during the dry run").toBe(0);
    for (const host of cluster.hosts.values()) expect(host.bootCount).toBe(1);

    // Dry run off: the rollout, as planned.
    hold.until = Date.now();
    await setUpdatePolicy(cluster.kc, cluster.namespace, { dryRun: false, topologyBudgets: TOPOLOGY });
    await until("every node updated", 600_000, () => cluster.nodeNames.every((n) => updated(observer, n)));
    await expectConverged(running);
    await expectNoViolations(running); // I2 (budget 2) and I2T (one per zone) among them

    const order = disruptions.rebootOrder();
    const waveOf = new Map(waves.flatMap((nodes, i) => nodes.map((n) => [n, i + 1] as const)));
    console.log(`reboot order: ${order.map((n) => `${n} (wave ${waveOf.get(n) ?? "?"})`).join(", ")}`);
    expect(order).toHaveLength(6);
    // Each node was cordoned for its update (the oracle's I1 checks that its drain came before the reboot).
    expect([...disruptions.cordons.keys()].sort()).toEqual([...order].sort());
    // The waves in the order they really went: never a node of a later wave before one of an earlier wave ...
    const waveSequence = order.map((n) => waveOf.get(n) ?? 0);
    expect(waveSequence).toEqual([...waveSequence].sort((a, b) => a - b));
    // ... and within a zone, exactly the plan's order.
    for (const zone of ["zone-a", "zone-b", "zone-c"]) {
      const planOrder = planned.nodes.filter((n) => n.zone === zone).map((n) => n.node);
      expect(
        order.filter((n) => ZONES[n] === zone),
        zone,
      ).toEqual(planOrder);
    }
    // Each finished update recorded how long it took: the next plan assumes the fleet's median.
    const next = JSON.parse(await brupop(reader.path, cluster.namespace, "plan", "-o", "json")) as PlanDocument;
    expect(next.duration).toMatchObject({ source: "fleet", samples: 6 });
    expect(next.waves).toEqual([]);
    // The status no longer carries a plan.
    const after = await policyStatus(cluster.kc, cluster.namespace, "the plan gone from the status", (s) => {
      return s.plan === undefined && s.dryRun === undefined;
    });
    expect(after.blocked?.["dry-run"]).toBeUndefined();
  }, 900_000);
});
