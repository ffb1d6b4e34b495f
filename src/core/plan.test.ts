import { describe, expect, it } from "vitest";
import { ANNOTATIONS, type FleetView, type NodeView, type ShadowView } from "./model.ts";
import { buildPlan, DEFAULT_UPDATE_SECONDS, estimateUpdateDuration, waitEndsAt, type Plan } from "./plan.ts";
import type { UpdatePolicySpec } from "./policy.ts";
import { selectNodesToStart } from "./select.ts";
import { T0, after, fleetPolicy, iso, node, shadow, type ShadowOptions } from "../../test/support/core-fixtures.ts";

const WANTS: ShadowOptions = { status: { current_version: "1.19.0", target_version: "1.20.0" } };
const MINUTE = 60;
const ZONE = "topology.kubernetes.io/zone";

function fleet(shadows: ShadowView[], nodes?: NodeView[], extra: Partial<FleetView> = {}): FleetView {
  return { shadows, nodes: nodes ?? shadows.map((s) => node(s.nodeName)), controllerNodeName: null, ...extra };
}

function wanting(...names: string[]): ShadowView[] {
  return names.map((n) => shadow(n, WANTS));
}

function plan(view: FleetView, spec: UpdatePolicySpec, updateSeconds = 10 * MINUTE, now = T0): Plan {
  return buildPlan(view, fleetPolicy(spec), now, { updateSeconds });
}

/** Each wave as "<offset in minutes from T0>: nodes". */
function waves(p: Plan): string[] {
  return p.waves.map((w) => `${(w.at.getTime() - T0.getTime()) / 60_000}m: ${w.nodes.join(",")}`);
}

describe("waves under the fleet budget", () => {
  it("wave 1 is what selection grants now; later waves follow the assumed duration", () => {
    const view = fleet(wanting("a", "b", "c", "d", "e"));
    const p = plan(view, { maxConcurrentUpdates: 2 });
    expect(waves(p)).toEqual(["0m: a,b", "10m: c,d", "20m: e"]);
    // Wave 1 is exactly selection's answer, and is not an estimate.
    const now = selectNodesToStart(view, fleetPolicy({ maxConcurrentUpdates: 2 }), T0);
    expect(p.waves[0]?.nodes).toEqual(now.start.map((s) => s.nodeName));
    expect(p.waves.map((w) => w.estimated)).toEqual([false, true, true]);
    expect(p.starts.find((s) => s.nodeName === "c")).toMatchObject({
      wave: 2,
      from: "1.19.0",
      to: "1.20.0",
      waited: { code: "budget-full" },
      why: "update budget full until a, b finish (estimated)",
    });
    expect(p.starts[0]?.why).toMatch(/^nothing holds it/);
    expect(p.expectedEnd).toEqual(after(30 * MINUTE));
    expect(p.notPlanned).toEqual([]);
    expect(p.truncated).toBe(false);
  });

  it("hooks are assumed to pass, as the gates are: the same waves as without them", () => {
    const hooks = {
      preDrain: [{ name: "db", url: "http://db:8080/pre-drain" }],
      postReboot: [{ name: "smoke", url: "http://smoke:8080/" }],
    };
    const view = fleet(wanting("a", "b", "c"));
    const withHooks = plan(view, { maxConcurrentUpdates: 1, hooks });
    expect(waves(withHooks)).toEqual(waves(plan(view, { maxConcurrentUpdates: 1 })));
    expect(waves(withHooks)).toEqual(["0m: a", "10m: b", "20m: c"]);
    expect(withHooks.truncated).toBe(false);
  });

  it("canaries go first; the others wait for them to finish and the soak to pass", () => {
    const shadows = wanting("a", "b", "c", "d");
    const nodes = shadows.map((s) =>
      node(s.nodeName, { labels: s.nodeName === "c" ? { "brupop.example/canary": "true" } : {} }),
    );
    const canary = { selector: { matchLabels: { "brupop.example/canary": "true" } }, soak: "30m" };
    const p = plan(fleet(shadows, nodes), { maxConcurrentUpdates: 2, canary });
    // c updates alone (0–10 min), soaks 30 min, then the rest go two at a time.
    expect(waves(p)).toEqual(["0m: c", "40m: a,b", "50m: d"]);
    expect(p.starts.find((s) => s.nodeName === "a")?.waited?.code).toBe("soaking");
    expect(p.notPlanned).toEqual([]);
  });

  it("the version pin: a node offered a version past spec.maxVersion is not planned, with its reason", () => {
    const pastPin = shadow("c", { status: { current_version: "1.19.0", target_version: "1.21.0" } });
    const p = plan(fleet([...wanting("a", "b"), pastPin]), { maxConcurrentUpdates: 1, maxVersion: "1.20.0" });
    expect(waves(p)).toEqual(["0m: a", "10m: b"]);
    expect(p.notPlanned.map((n) => [n.nodeName, n.reason.code])).toEqual([["c", "version-pinned"]]);
  });

  it("a percentage budget and unlimited", () => {
    expect(waves(plan(fleet(wanting("a", "b", "c", "d")), { maxConcurrentUpdates: "50%" }))).toEqual([
      "0m: a,b",
      "10m: c,d",
    ]);
    expect(waves(plan(fleet(wanting("a", "b", "c")), { maxConcurrentUpdates: "unlimited" }))).toEqual(["0m: a,b,c"]);
  });

  it("nodes already updating finish after what is left of their duration, and free the budget then", () => {
    const inFlight = shadow("a", {
      spec: { state: "RebootedIntoUpdate", version: "1.20.0", state_transition_timestamp: iso(after(-60)) },
      status: { current_state: "StagedAndPerformedUpdate", current_version: "1.19.0", target_version: "1.20.0" },
      annotations: { [ANNOTATIONS.updateStarted]: iso(after(-4 * MINUTE)) },
    });
    const p = plan(fleet([inFlight, ...wanting("b", "c")]), { maxConcurrentUpdates: 1 });
    expect(p.inFlight).toEqual([{ nodeName: "a", to: "1.20.0", finishAt: after(6 * MINUTE) }]);
    expect(waves(p)).toEqual(["6m: b", "16m: c"]);
    expect(p.waves[0]?.estimated).toBe(true);
  });

  it("the fixed order: fewest failures first, the controller's own node last, then by name (order.ts)", () => {
    const flaky = shadow("a", { status: { ...WANTS.status, crash_count: 1 } });
    const p = buildPlan(
      fleet([flaky, ...wanting("b", "c", "d")], undefined, { controllerNodeName: "b" }),
      fleetPolicy({ maxConcurrentUpdates: 1 }),
      T0,
      { updateSeconds: 10 * MINUTE },
    );
    expect(p.starts.map((s) => s.nodeName)).toEqual(["c", "d", "a", "b"]);
  });
});

describe("topology budgets", () => {
  it("one node per zone at a time under a fleet budget of 2: zones side by side, a zone's nodes one by one", () => {
    const zones: Record<string, string> = { a1: "a", a2: "a", b1: "b", b2: "b", c1: "c", c2: "c" };
    const names = Object.keys(zones);
    const view = fleet(
      wanting(...names),
      names.map((n) => node(n, { labels: { [ZONE]: zones[n] ?? "" } })),
    );
    const p = plan(view, {
      maxConcurrentUpdates: 2,
      topologyBudgets: [{ topologyKey: ZONE, maxConcurrentUpdates: 1 }],
    });
    expect(waves(p)).toEqual(["0m: a1,b1", "10m: a2,b2", "20m: c1", "30m: c2"]);
    expect(p.zoneKey).toBe(ZONE);
    expect(p.starts.find((s) => s.nodeName === "c2")).toMatchObject({
      zone: "c",
      waited: { code: "topology-budget-full" },
    });
    // Never more than one of a zone in one wave, nor more than the fleet budget.
    for (const wave of p.waves) {
      expect(wave.nodes.length).toBeLessThanOrEqual(2);
      expect(new Set(wave.nodes.map((n) => zones[n])).size).toBe(wave.nodes.length);
    }
  });
});

describe("windows", () => {
  it("waits for the window, and a wave that would start after it closes waits for the next one", () => {
    // T0 is Monday 10:00 UTC; the window opens daily at 02:00 for an hour.
    const p = plan(
      fleet(wanting("a", "b", "c")),
      {
        maxConcurrentUpdates: 1,
        windows: [{ schedule: "0 2 * * *", duration: "1h" }],
      },
      40 * MINUTE,
    );
    const tuesday2 = new Date("2024-06-04T02:00:00Z");
    const wednesday2 = new Date("2024-06-05T02:00:00Z");
    expect(p.waves.map((w) => [w.at, w.nodes])).toEqual([
      [tuesday2, ["a"]],
      [new Date("2024-06-04T02:40:00Z"), ["b"]],
      [wednesday2, ["c"]],
    ]);
    // The first opening is known, not estimated; the first wave waited for it.
    expect(p.waves[0]?.estimated).toBe(false);
    expect(p.starts[0]).toMatchObject({ waited: { code: "outside-window" } });
    expect(p.starts[0]?.why).toBe("outside the update window until 2024-06-04T02:00:00+00:00");
    expect(p.starts[2]?.why).toBe("outside the update window until 2024-06-05T02:00:00+00:00");
  });
});

describe("waits that carry their end", () => {
  it("a node backing off after a failure starts when its backoff ends", () => {
    // One failure a minute ago: brupop's backoff allows a retry 3 minutes after it.
    const failed = shadow("a", {
      status: { ...WANTS.status, crash_count: 1, state_transition_failure_timestamp: iso(after(-MINUTE)) },
    });
    const p = plan(fleet([failed, ...wanting("b")]), { maxConcurrentUpdates: 2 });
    expect(waves(p)).toEqual(["0m: b", "2m: a"]);
    expect(p.starts[1]).toMatchObject({ waited: { code: "backoff" }, estimated: false });
  });

  it("a node younger than minNodeAge starts when it is old enough", () => {
    const young: NodeView = { ...node("a"), createdAt: after(-10 * MINUTE) };
    const p = plan(fleet(wanting("a"), [young]), { minNodeAge: "1h" });
    expect(waves(p)).toEqual(["50m: a"]);
    expect(p.starts[0]?.waited?.code).toBe("node-too-young");
  });

  it("any reason with a Date in it: its earliest", () => {
    expect(waitEndsAt({ code: "backoff", until: after(5), message: "" })).toEqual(after(5));
    expect(waitEndsAt({ code: "outside-window", nextOpen: null, message: "" })).toBeNull();
    expect(waitEndsAt({ code: "paused", message: "" })).toBeNull();
  });
});

describe("what is not planned", () => {
  it("paused: nothing starts; every waiting node is named with its reason", () => {
    const p = plan(fleet(wanting("a", "b")), { paused: true });
    expect(p.starts).toEqual([]);
    expect(p.notPlanned.map((n) => [n.nodeName, n.reason.code])).toEqual([
      ["a", "paused"],
      ["b", "paused"],
    ]);
    expect(p.expectedEnd).toBeNull();
  });

  it("quarantined and opted-out nodes stay out; up-to-date nodes are counted", () => {
    const quarantined = shadow("q", { status: { ...WANTS.status, crash_count: 5 } });
    const optedOut = node("o", { annotations: { [ANNOTATIONS.nodePaused]: "true" } });
    const p = plan(
      fleet(
        [quarantined, shadow("o", WANTS), shadow("u"), shadow("w", WANTS)],
        [node("q"), optedOut, node("u"), node("w")],
      ),
      {},
    );
    expect(p.starts.map((s) => s.nodeName)).toEqual(["w"]);
    expect(p.notPlanned.map((n) => [n.nodeName, n.reason.code])).toEqual([
      ["o", "opted-out"],
      ["q", "quarantined"],
    ]);
    expect(p.upToDate).toBe(1);
  });
});

describe("dry run", () => {
  it("selection holds the nodes that would start (reason dry-run); the plan is the rollout without it", () => {
    const view = fleet(wanting("a", "b", "c"));
    const held = selectNodesToStart(view, fleetPolicy({ maxConcurrentUpdates: 2, dryRun: true }), T0);
    expect(held.start).toEqual([]);
    expect(held.notStarted.map((n) => [n.nodeName, n.reason.code])).toEqual([
      ["a", "dry-run"],
      ["b", "dry-run"],
      ["c", "budget-full"],
    ]);
    expect(waves(plan(view, { maxConcurrentUpdates: 2, dryRun: true }))).toEqual(
      waves(plan(view, { maxConcurrentUpdates: 2 })),
    );
  });
});

describe("the assumed duration", () => {
  it("given, else the median of the fleet's recorded updates, else the default", () => {
    expect(estimateUpdateDuration([], 90)).toMatchObject({ seconds: 90, source: "given" });
    expect(estimateUpdateDuration([shadow("a")])).toMatchObject({
      seconds: DEFAULT_UPDATE_SECONDS,
      source: "default",
    });
    const took = (n: string, s: string) => shadow(n, { annotations: { [ANNOTATIONS.lastUpdateSeconds]: s } });
    expect(estimateUpdateDuration([took("a", "300"), took("b", "420"), took("c", "9000"), took("d", "x")])).toEqual({
      seconds: 420,
      source: "fleet",
      samples: 3,
      description: "7m per node (the median of the last update of 3 nodes)",
    });
    // The plan uses it when none is given.
    const p = buildPlan(fleet([took("a", "300"), ...wanting("b", "c")]), fleetPolicy({}), T0);
    expect(waves(p)).toEqual(["0m: b", "5m: c"]);
  });
});

describe("bounds", () => {
  it("a thousand nodes, one at a time, daily one-hour windows: done, within the horizon", () => {
    const names = Array.from({ length: 1000 }, (_, i) => `n${String(i).padStart(4, "0")}`);
    const p = plan(
      fleet(wanting(...names)),
      {
        maxConcurrentUpdates: 1,
        windows: [{ schedule: "0 2 * * *", duration: "1h" }],
      },
      20 * MINUTE,
    );
    // Three a night (02:00, 02:20, 02:40), from Tuesday: the 1000th is the first of night 333.
    expect(p.starts).toHaveLength(1000);
    expect(p.waves).toHaveLength(1000);
    expect(p.starts[999]?.at).toEqual(new Date(Date.UTC(2024, 5, 4 + 333, 2)));
    expect(p.starts[998]?.at).toEqual(new Date(Date.UTC(2024, 5, 4 + 332, 2, 40)));
    expect(p.truncated).toBe(false);
  });
});
