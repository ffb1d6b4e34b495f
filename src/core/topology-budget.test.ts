import { describe, expect, it } from "vitest";
import type { FleetView } from "./model.ts";
import type { UpdatePolicySpec } from "./policy.ts";
import { resolveFleetPolicy } from "./policy.ts";
import { selectNodesToStart, type NotStarted, type Selection } from "./select.ts";
import { labelKeyProblem } from "./topology-budget.ts";
import {
  T0,
  after,
  fleetPolicy,
  iso,
  node,
  prng,
  shadow,
  type ShadowOptions,
} from "../../test/support/core-fixtures.ts";

const ZONE = "topology.kubernetes.io/zone";
const UPDATE: ShadowOptions = { status: { current_version: "1.19.0", target_version: "1.20.0" } };
const IN_FLIGHT: ShadowOptions = {
  spec: { state: "RebootedIntoUpdate", version: "1.20.0", state_transition_timestamp: iso(after(-30)) },
  status: { current_state: "StagedAndPerformedUpdate", target_version: "1.20.0" },
};

/** Nodes by zone (undefined: no zone label), each with a shadow in `options` (default: wants the update). */
function zonal(
  layout: Record<string, string | undefined>,
  options: Record<string, ShadowOptions> = {},
  labels: Record<string, Record<string, string>> = {},
): FleetView {
  const names = Object.keys(layout);
  return {
    shadows: names.map((n) => shadow(n, options[n] ?? UPDATE)),
    nodes: names.map((n) => {
      const zone = layout[n];
      return node(n, { labels: { ...(zone === undefined ? {} : { [ZONE]: zone }), ...labels[n] } });
    }),
    controllerNodeName: null,
  };
}

function select(view: FleetView, spec: UpdatePolicySpec): Selection {
  return selectNodesToStart(view, fleetPolicy(spec), T0);
}

const started = (s: Selection) => s.start.map((g) => g.nodeName);
const held = (s: Selection, name: string): NotStarted["reason"] | undefined =>
  s.notStarted.find((n) => n.nodeName === name)?.reason;

const perZone = (max: number | string, key = ZONE) => ({ topologyKey: key, maxConcurrentUpdates: max });

describe("topology budgets: the decision", () => {
  it("starts at most N per zone while the fleet budget has room, and names the zone of each node held back", () => {
    const view = zonal({ a1: "a", a2: "a", a3: "a", b1: "b", b2: "b", c1: "c" });
    const result = select(view, { maxConcurrentUpdates: 5, topologyBudgets: [perZone(1)] });
    expect(started(result)).toEqual(["a1", "b1", "c1"]);
    expect(held(result, "a2")).toEqual({
      code: "topology-budget-full",
      topologyKey: ZONE,
      value: "a",
      inUse: 1,
      limit: 1,
      message: `${ZONE}=a at its budget: 1 of 1 updating (budget 1)`,
    });
    expect(held(result, "a3")).toMatchObject({ code: "topology-budget-full", value: "a" });
    expect(held(result, "b2")).toMatchObject({ code: "topology-budget-full", value: "b" });
    expect(result.topology).toEqual([
      { topologyKey: ZONE, value: "a", nodes: 3, limit: 1, inUse: 0, description: "1" },
      { topologyKey: ZONE, value: "b", nodes: 2, limit: 1, inUse: 0, description: "1" },
      { topologyKey: ZONE, value: "c", nodes: 1, limit: 1, inUse: 0, description: "1" },
    ]);
  });

  it("counts the nodes already using budget in the zone, by the fleet budget's rule", () => {
    const returning: ShadowOptions = {
      spec: { state: "Idle", version: "1.20.0", state_transition_timestamp: iso(after(-30)) },
      status: { current_state: "ErrorReset", crash_count: 1, target_version: "1.20.0" },
    };
    const view = zonal({ a1: "a", a2: "a", b1: "b", b2: "b", c1: "c" }, { a1: IN_FLIGHT, b1: returning });
    const result = select(view, { maxConcurrentUpdates: 4, topologyBudgets: [perZone(1)] });
    expect(started(result)).toEqual(["c1"]);
    expect(held(result, "a2")).toMatchObject({ code: "topology-budget-full", value: "a", inUse: 1, limit: 1 });
    expect(held(result, "b2")).toMatchObject({ code: "topology-budget-full", value: "b", inUse: 1, limit: 1 });
  });

  it("a stuck node counts in its zone only while it is disrupted, as in the fleet budget", () => {
    const stuck: ShadowOptions = {
      spec: { state: "Idle", version: "1.20.0", state_transition_timestamp: iso(after(-600)) },
      status: { current_state: "ErrorReset", crash_count: 1, target_version: "1.20.0" },
    };
    const fleet = (cordoned: boolean): FleetView => {
      const view = zonal({ a1: "a", a2: "a" }, { a1: stuck });
      return { ...view, nodes: view.nodes.map((n) => (n.name === "a1" ? { ...n, unschedulable: cordoned } : n)) };
    };
    expect(started(select(fleet(false), { maxConcurrentUpdates: 2, topologyBudgets: [perZone(1)] }))).toEqual(["a2"]);
    const cordoned = select(fleet(true), { maxConcurrentUpdates: 2, topologyBudgets: [perZone(1)] });
    expect(started(cordoned)).toEqual([]);
    expect(held(cordoned, "a2")).toMatchObject({ code: "topology-budget-full", inUse: 1 });
  });

  it("a percentage is of the zone's managed nodes, rounded down, at least 1; 0% starts nothing", () => {
    const view = zonal({ a1: "a", a2: "a", a3: "a", a4: "a", b1: "b", b2: "b", b3: "b", c1: "c" });
    const half = select(view, { maxConcurrentUpdates: "unlimited", topologyBudgets: [perZone("50%")] });
    // a: 50% of 4 = 2; b: 50% of 3 = 1.5 → 1; c: 50% of 1 = 0.5 → at least 1.
    expect(started(half)).toEqual(["a1", "a2", "b1", "c1"]);
    expect(held(half, "b2")).toMatchObject({
      limit: 1,
      message: `${ZONE}=b at its budget: 1 of 1 updating (budget 50% of 3 nodes)`,
    });
    const none = select(view, { maxConcurrentUpdates: "unlimited", topologyBudgets: [perZone("0%")] });
    expect(started(none)).toEqual([]);
    expect(none.notStarted.every((n) => n.reason.code === "topology-budget-full")).toBe(true);
    expect(started(select(view, { maxConcurrentUpdates: "unlimited", topologyBudgets: [perZone(0)] }))).toEqual([]);
  });

  it("unmanaged nodes are not counted in a zone's size", () => {
    const view = zonal({ a1: "a", a2: "a" });
    const withUnmanaged: FleetView = {
      ...view,
      nodes: [...view.nodes, ...["x1", "x2"].map((n) => node(n, { labelled: false, labels: { [ZONE]: "a" } }))],
    };
    const result = select(withUnmanaged, { maxConcurrentUpdates: "unlimited", topologyBudgets: [perZone("50%")] });
    expect(result.topology).toEqual([
      { topologyKey: ZONE, value: "a", nodes: 2, limit: 1, inUse: 0, description: "50%" },
    ]);
    expect(started(result)).toEqual(["a1"]);
  });

  it("nodes without the label form one group of their own, with the same limit", () => {
    const view = zonal({ a1: "a", n1: undefined, n2: undefined, n3: undefined });
    const result = select(view, { maxConcurrentUpdates: "unlimited", topologyBudgets: [perZone(1)] });
    expect(started(result)).toEqual(["a1", "n1"]);
    expect(held(result, "n2")).toMatchObject({
      code: "topology-budget-full",
      value: null,
      message: `${ZONE} unset at its budget: 1 of 1 updating (budget 1)`,
    });
    expect(result.topology.at(-1)).toMatchObject({ value: null, nodes: 3 });
  });

  it("every topology budget applies: a node starts only if each of its groups has room", () => {
    const RACK = "example.com/rack";
    const view = zonal(
      { a1: "a", a2: "a", b1: "b", b2: "b" },
      {},
      { a1: { [RACK]: "r1" }, a2: { [RACK]: "r2" }, b1: { [RACK]: "r1" }, b2: { [RACK]: "r2" } },
    );
    const result = select(view, { maxConcurrentUpdates: 4, topologyBudgets: [perZone(1), perZone(1, RACK)] });
    // a1 takes zone a and rack r1; b1 is in zone b but rack r1 is full; b2 is in zone b and rack r2.
    expect(started(result)).toEqual(["a1", "b2"]);
    expect(held(result, "a2")).toMatchObject({ topologyKey: ZONE, value: "a" });
    expect(held(result, "b1")).toMatchObject({ topologyKey: RACK, value: "r1" });
  });

  it("the fleet budget comes first: a node it holds back is budget-full, not topology-budget-full", () => {
    const view = zonal({ a1: "a", a2: "a", b1: "b", c1: "c" });
    const result = select(view, { maxConcurrentUpdates: 2, topologyBudgets: [perZone(1)] });
    expect(started(result)).toEqual(["a1", "b1"]);
    expect(held(result, "a2")?.code).toBe("topology-budget-full");
    expect(held(result, "c1")?.code).toBe("budget-full");
  });

  it("a zone over its limit (the budget was lowered) starts nothing there", () => {
    const view = zonal({ a1: "a", a2: "a", a3: "a", b1: "b" }, { a1: IN_FLIGHT, a2: IN_FLIGHT });
    const result = select(view, { maxConcurrentUpdates: 10, topologyBudgets: [perZone(1)] });
    expect(started(result)).toEqual(["b1"]);
    expect(held(result, "a3")).toMatchObject({ inUse: 2, limit: 1 });
  });

  it("pause and the window still come first", () => {
    const view = zonal({ a1: "a", a2: "a" });
    const paused = select(view, { paused: true, topologyBudgets: [perZone(1)] });
    expect(paused.notStarted.map((n) => n.reason.code)).toEqual(["paused", "paused"]);
  });

  describe("holds for random fleets (restated independently of src/core)", () => {
    const ZONES = ["a", "b", "c", undefined];
    const MAXES: (number | string)[] = [0, 1, 2, "1%", "34%", "50%", "100%"];

    it("never more than the limit per zone, and every node held by its zone has a full zone", () => {
      const random = prng(20261206);
      const pick = <T>(items: readonly T[]): T => items[Math.floor(random() * items.length)] as T;
      for (let run = 0; run < 1000; run++) {
        const count = 1 + Math.floor(random() * 12);
        const layout: Record<string, string | undefined> = {};
        const options: Record<string, ShadowOptions> = {};
        for (let i = 0; i < count; i++) {
          const name = `n${String(i).padStart(2, "0")}`;
          layout[name] = pick(ZONES);
          options[name] = random() < 0.3 ? IN_FLIGHT : random() < 0.2 ? {} : UPDATE;
        }
        const view = zonal(layout, options);
        const zoneMax = pick(MAXES);
        const spec: UpdatePolicySpec = {
          maxConcurrentUpdates: pick([1, 3, "unlimited"]),
          topologyBudgets: [perZone(zoneMax)],
        };
        const result = select(view, spec);
        const context = `run ${run}: ${JSON.stringify({ layout, spec })}`;

        const zoneOf = (n: string) => layout[n] ?? null;
        const size = (z: string | null) => Object.keys(layout).filter((n) => zoneOf(n) === z).length;
        const limit = (z: string | null) => {
          if (typeof zoneMax === "number") return zoneMax;
          const percent = Number(zoneMax.slice(0, -1));
          return percent === 0 ? 0 : Math.max(1, Math.floor((percent * size(z)) / 100));
        };
        const inFlight = (z: string | null) =>
          Object.keys(layout).filter((n) => zoneOf(n) === z && options[n] === IN_FLIGHT).length;
        const starts = (z: string | null) => started(result).filter((n) => zoneOf(n) === z).length;
        for (const z of new Set(Object.keys(layout).map(zoneOf))) {
          expect(inFlight(z) + starts(z), `${context} zone ${z}`).toBeLessThanOrEqual(Math.max(limit(z), inFlight(z)));
        }
        for (const entry of result.notStarted.filter((n) => n.reason.code === "topology-budget-full")) {
          const z = zoneOf(entry.nodeName);
          expect(entry.reason, context).toMatchObject({ value: z, limit: limit(z) });
          expect(inFlight(z) + starts(z), `${context} ${entry.nodeName}`).toBeGreaterThanOrEqual(limit(z));
        }
      }
    });
  });
});

describe("topology budgets: the policy", () => {
  const resolve = (topologyBudgets: unknown) =>
    resolveFleetPolicy({}, { topologyBudgets } as unknown as UpdatePolicySpec, T0);
  const errors = (topologyBudgets: unknown): string[] => {
    const r = resolve(topologyBudgets);
    return r.ok ? [] : r.errors;
  };

  it("resolves counts and percentages per key; none by default", () => {
    const r = resolve([perZone(1), perZone("25%", "example.com/rack")]);
    expect(r.ok && r.policy.topologyBudgets).toEqual([
      { topologyKey: ZONE, budget: { kind: "count", max: 1 } },
      { topologyKey: "example.com/rack", budget: { kind: "percent", percent: 25 } },
    ]);
    const none = resolveFleetPolicy({}, {}, T0);
    expect(none.ok && none.policy.topologyBudgets).toEqual([]);
    expect(none.warnings).toEqual([]);
  });

  it("reports every bad entry, naming the field", () => {
    expect(errors("zone")).toEqual(["policy spec.topologyBudgets must be a list"]);
    expect(
      errors([
        perZone(1),
        perZone(2),
        perZone("unlimited", "a/b"),
        perZone(-1, "x"),
        perZone("150%", "y"),
        { topologyKey: "not a key!", maxConcurrentUpdates: 1 },
        { maxConcurrentUpdates: 1 },
        "zone",
      ]),
    ).toEqual([
      `policy spec.topologyBudgets[1].topologyKey: "${ZONE}" has a budget already; give each key one`,
      'policy spec.topologyBudgets[2].maxConcurrentUpdates: "unlimited" bounds nothing; remove the topology budget instead',
      "policy spec.topologyBudgets[3].maxConcurrentUpdates: -1 is not a whole number of nodes ≥ 0",
      'policy spec.topologyBudgets[4].maxConcurrentUpdates: "150%" is more than 100%',
      "policy spec.topologyBudgets[5].topologyKey: \"not a key!\" is not a label key: its name must be 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit",
      "policy spec.topologyBudgets[6].topologyKey must be a node label key such as topology.kubernetes.io/zone",
      "policy spec.topologyBudgets[7] must be an object with topologyKey and maxConcurrentUpdates",
    ]);
  });

  it("label keys as Kubernetes defines them", () => {
    for (const ok of [ZONE, "zone", "example.com/rack_1", "a.b-c/X.y_z", `${"p".repeat(253)}/${"n".repeat(63)}`]) {
      expect(labelKeyProblem(ok), ok).toBeNull();
    }
    for (const bad of ["", "/zone", "Example.com/zone", "zone-", "-zone", "a/b/c", "n".repeat(64)]) {
      expect(labelKeyProblem(bad), bad).not.toBeNull();
    }
    expect(labelKeyProblem(`${"p".repeat(254)}/zone`)).toMatch(/prefix/);
  });
});
