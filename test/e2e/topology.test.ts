// End to end: a topology budget (spec.topologyBudgets) on six nodes in three zones, with a fleet budget larger than
// any zone's. The oracle (sim/oracle) counts per zone, from what it saw happen to the nodes (operator cordons,
// reboots the agents asked their hosts for), how many of a zone's nodes were disrupted at once (I2T); the
// controller's decisions are not consulted.
import { describe, expect, it } from "vitest";
import { setUpdatePolicy } from "../../sim/cluster/update-policy.ts";
import {
  expectConverged,
  expectNoViolations,
  policyStatus,
  start,
  stopClustersAfterEach,
  TO,
  until,
  updated,
} from "./support.ts";

stopClustersAfterEach();

const ZONE = "topology.kubernetes.io/zone";
/** Zones in name order, so that the first nodes the fleet budget would pick share a zone. */
const ZONES: Readonly<Record<string, string>> = {
  "bottlerocket-1": "zone-a",
  "bottlerocket-2": "zone-a",
  "bottlerocket-3": "zone-a",
  "bottlerocket-4": "zone-b",
  "bottlerocket-5": "zone-b",
  "bottlerocket-6": "zone-c",
};
const FLEET_BUDGET = 4;
/** 50% of a zone: 1 of zone-a's 3 (rounded down), 1 of zone-b's 2, 1 of zone-c's 1 (at least 1). */
const ZONE_BUDGET = "50%";

describe("a zone budget of 50% under a fleet budget of 4, six nodes in three zones", () => {
  it("never disrupts more than one node of a zone at once, runs zones side by side, and completes", async () => {
    const running = await start({
      nodes: 6,
      budget: FLEET_BUDGET,
      labelsOf: (node) => ({ [ZONE]: ZONES[node] ?? "none" }),
      topologyBudgets: [{ key: ZONE, budget: ZONE_BUDGET }],
    });
    const { cluster, observer, oracle } = running;
    const generation = await setUpdatePolicy(cluster.kc, cluster.namespace, {
      topologyBudgets: [{ topologyKey: ZONE, maxConcurrentUpdates: ZONE_BUDGET }],
    });
    const acted = await policyStatus(cluster.kc, cluster.namespace, "the controller acted on the policy", (s) => {
      return (s.observedGeneration ?? 0) >= generation;
    });
    expect(acted.errors ?? []).toEqual([]);

    const publishedAt = Date.now();
    cluster.publish(TO);
    await until("every node updated", 600_000, () => cluster.nodeNames.every((n) => updated(observer, n)));
    const byZone = oracle.oracle.maxDisruptedByGroup;
    console.log(
      `zone budget ${ZONE_BUDGET}, fleet budget ${FLEET_BUDGET}: 6 nodes updated in ` +
        `${((Date.now() - publishedAt) / 1000).toFixed(1)} s; at most ${oracle.oracle.maxDisrupted} disrupted at once; ` +
        `per zone: ${[...byZone].map(([zone, n]) => `${zone} ${n}`).join(", ")}`,
    );
    await expectConverged(running);
    await expectNoViolations(running); // I2T among them: never more than the zone's limit disrupted at once

    // The oracle watched each zone's nodes disrupted, and never two of one zone at once.
    expect([...byZone.keys()].sort()).toEqual(["zone-a", "zone-b", "zone-c"].map((z) => `${ZONE}=${z}`));
    for (const [zone, n] of byZone) expect(n, zone).toBe(1);
    // The zones went side by side: the fleet budget let more than one node go at once, the zone budget held them.
    expect(oracle.oracle.maxDisrupted).toBeGreaterThanOrEqual(2);
    expect(oracle.oracle.maxDisrupted).toBeLessThanOrEqual(3);
    // The controller said why the other nodes of a zone waited.
    const held = observer.events().filter((e) => e.reason === "TopologyBudgetFull");
    expect(held.length).toBeGreaterThan(0);
    expect(held[0]?.message).toMatch(new RegExp(`${ZONE.replaceAll(".", "\\.")}=zone-[ab] at its budget: 1 of 1`));
    for (const host of cluster.hosts.values()) expect(host.bootCount).toBe(2); // one reboot each
    // The policy status (accepted by the API server's schema) shows each zone, none updating now.
    const done = await policyStatus(cluster.kc, cluster.namespace, "the zones idle in the policy status", (s) =>
      (s.topology?.[0]?.groups ?? []).every((g) => g.updating === 0),
    );
    expect(done.topology).toEqual([
      {
        topologyKey: ZONE,
        budget: ZONE_BUDGET,
        groups: [
          { value: "zone-a", managedNodes: 3, limit: 1, updating: 0 },
          { value: "zone-b", managedNodes: 2, limit: 1, updating: 0 },
          { value: "zone-c", managedNodes: 1, limit: 1, updating: 0 },
        ],
      },
    ]);
  }, 900_000);
});
