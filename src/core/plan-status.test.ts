import { describe, expect, it } from "vitest";
import { validateUpdatePolicyStatus } from "../api/update-policy.ts";
import { MAX_PLAN_ENTRIES } from "../api/update-policy-names.ts";
import type { FleetView } from "./model.ts";
import { buildPlan } from "./plan.ts";
import { planMessage, planShape, planStatus, publishedPlan } from "./plan-status.ts";
import { buildPolicyStatus } from "./policy-status.ts";
import { resolveFleetPolicy } from "./policy.ts";
import { selectNodesToStart } from "./select.ts";
import { T0, after, fleetPolicy, node, shadow } from "../../test/support/core-fixtures.ts";

const WANTS = { status: { current_version: "1.19.0", target_version: "1.20.0" } };

function fleetOf(count: number): FleetView {
  const names = Array.from({ length: count }, (_, i) => `node-${String(i).padStart(4, "0")}`);
  return {
    shadows: names.map((n) => shadow(n, WANTS)),
    nodes: names.map((n) => node(n, { labels: { "topology.kubernetes.io/zone": `zone-${n.slice(-1)}` } })),
    controllerNodeName: null,
  };
}

describe("the plan in the policy status", () => {
  it("stays bounded with many nodes: the first entries in plan order, with the counts; valid for the CRD", () => {
    const view = fleetOf(2000);
    const spec = { maxConcurrentUpdates: "10%", dryRun: true };
    const policy = fleetPolicy(spec);
    const plan = buildPlan(view, policy, T0, { updateSeconds: 300 });
    const resolution = resolveFleetPolicy({}, spec, T0);
    const status = buildPolicyStatus({
      shadows: view.shadows,
      managedNodes: 2000,
      updating: 0,
      resolution,
      selection: selectNodesToStart(view, policy, T0),
      now: T0,
      plan,
    });
    expect(status.dryRun).toBe(true);
    expect(status.plan).toMatchObject({ nodes: 2000, waves: 10, inFlight: 0, notPlanned: 0 });
    expect(status.plan?.entries).toHaveLength(MAX_PLAN_ENTRIES);
    expect(status.plan?.entries.map((e) => e.node)).toEqual(
      plan.starts.slice(0, MAX_PLAN_ENTRIES).map((s) => s.nodeName),
    );
    expect(validateUpdatePolicyStatus(status).ok).toBe(true);
    // The whole status stays far below an object's size limit (1.5 MiB in etcd).
    expect(JSON.stringify(status).length).toBeLessThan(64 * 1024);
    // The blocked list, too, is bounded: 200 would start now (dry run), the rest wait for budget.
    expect(status.blocked).toEqual({ "dry-run": 200, "budget-full": 1800 });
  });

  it("is replaced only when its substance changes, not as the clock moves its estimates", () => {
    const view = fleetOf(5);
    const policy = fleetPolicy({ maxConcurrentUpdates: 2, dryRun: true });
    const first = planStatus(buildPlan(view, policy, T0, { updateSeconds: 300 }));
    const later = buildPlan(view, policy, after(45), { updateSeconds: 300 });
    expect(planStatus(later).entries[2]?.start).not.toBe(first.entries[2]?.start);
    expect(publishedPlan(later, first)).toBe(first);
    // A node leaves the fleet: a new plan.
    const smaller = { ...view, shadows: view.shadows.slice(1), nodes: view.nodes.slice(1) };
    const changed = publishedPlan(buildPlan(smaller, policy, after(45), { updateSeconds: 300 }), first);
    expect(changed).not.toBe(first);
    expect(planShape(changed)).not.toBe(planShape(first));
  });

  it("the Event's message names wave 1 and says that nothing starts, within an Event's size", () => {
    const status = planStatus(buildPlan(fleetOf(300), fleetPolicy({ maxConcurrentUpdates: 50 }), T0));
    const message = planMessage(status);
    expect(message).toMatch(/^dry run: 300 nodes would update in 6 waves, assuming 10m per node/);
    expect(message).toContain("node-0000, node-0001");
    expect(message).toContain("nothing starts until spec.dryRun is false");
    expect(message.length).toBeLessThanOrEqual(1000);
  });
});
