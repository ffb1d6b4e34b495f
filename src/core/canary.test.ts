import { describe, expect, it } from "vitest";
import { formatTimestamp } from "../api/timestamps.ts";
import { CanaryGroup, parseCanary, type CanaryPolicy } from "./canary.ts";
import { ANNOTATIONS, type FleetView, type NodeView, type ShadowView } from "./model.ts";
import type { UpdatePolicySpec } from "./policy.ts";
import { selectNodesToStart, type Selection } from "./select.ts";
import { T0, after, fleetPolicy, iso, node, shadow, type ShadowOptions } from "../../test/support/core-fixtures.ts";

const CANARY = { "example.com/canary": "true" };
const SPEC: UpdatePolicySpec = {
  canary: { selector: { matchLabels: CANARY }, soak: "30m" },
  maxConcurrentUpdates: "unlimited",
};
const WANTS: ShadowOptions = { status: { current_version: "1.19.0", target_version: "1.20.0" } };
/** Finished its update to 1.20.0 healthy `secondsAgo` ago (the controller's record), the agent back at Idle. */
function finished(secondsAgo: number, version = "1.20.0"): ShadowOptions {
  return {
    status: { current_version: version, target_version: version },
    annotations: {
      [ANNOTATIONS.completedVersion]: version,
      [ANNOTATIONS.completedAt]: formatTimestamp(after(-secondsAgo)),
    },
  };
}

function canaryNode(name: string, extra: Partial<NodeView> = {}): NodeView {
  return { ...node(name, { labels: CANARY }), ...extra };
}

function view(canaries: ShadowView[], others: ShadowView[], nodes: NodeView[] = []): FleetView {
  const given = new Map(nodes.map((n) => [n.name, n]));
  return {
    shadows: [...canaries, ...others],
    nodes: [
      ...canaries.map((s) => given.get(s.nodeName) ?? canaryNode(s.nodeName)),
      ...others.map((s) => given.get(s.nodeName) ?? node(s.nodeName)),
    ],
    controllerNodeName: null,
  };
}

function select(fleet: FleetView, spec: UpdatePolicySpec = SPEC, now = T0): Selection {
  return selectNodesToStart(fleet, fleetPolicy(spec), now);
}

function reasonOf(selection: Selection, nodeName: string) {
  return selection.notStarted.find((n) => n.nodeName === nodeName)?.reason;
}

describe("parseCanary", () => {
  const parse = (raw: unknown) => {
    const errors: string[] = [];
    return { policy: parseCanary(raw, "policy spec.canary", errors), errors };
  };

  it("reads a selector and a soak", () => {
    const { policy, errors } = parse({
      selector: { matchLabels: CANARY, matchExpressions: [{ key: "zone", operator: "In", values: ["a"] }] },
      soak: "1h30m",
    });
    expect(errors).toEqual([]);
    expect(policy?.soakSeconds).toBe(5400);
    expect(policy?.selector).toBe("example.com/canary=true,zone=a");
  });

  it("names the field of each mistake", () => {
    expect(parse({ selector: {}, soak: "1h" }).errors).toEqual([
      "policy spec.canary.selector selects every node; name the canaries with matchLabels or matchExpressions",
    ]);
    expect(parse({ selector: { matchLabels: CANARY }, soak: "soon" }).errors[0]).toMatch(/^policy spec.canary.soak: /);
    expect(parse({ selector: { matchLabels: CANARY }, soak: "31d" }).errors[0]).toMatch(/longer than 30d/);
    expect(parse({ selector: { matchLabels: { "bad key!": "x" } }, soak: "1h" }).errors[0]).toMatch(
      /^policy spec.canary.selector: /,
    );
    expect(parse({ soak: "1h" }).errors[0]).toMatch(/^policy spec.canary.selector must be a label selector/);
  });
});

describe("the canaries go first", () => {
  it("starts the canaries and holds the others with canary-pending", () => {
    const selection = select(view([shadow("c1", WANTS)], [shadow("n1", WANTS), shadow("n2", WANTS)]));
    expect(selection.start.map((s) => s.nodeName)).toEqual(["c1"]);
    expect(reasonOf(selection, "n1")).toMatchObject({ code: "canary-pending", version: "1.20.0" });
    expect(reasonOf(selection, "n1")?.message).toMatch(/c1 runs 1\.19\.0/);
  });

  it("holds the others while a canary is in its health gates (running the version, update not finished)", () => {
    const gating: ShadowOptions = {
      spec: { state: "MonitoringUpdate", version: "1.20.0", state_transition_timestamp: iso(after(-10)) },
      status: { current_state: "MonitoringUpdate", current_version: "1.20.0", target_version: "1.20.0" },
    };
    const selection = select(view([shadow("c1", gating)], [shadow("n1", WANTS)]));
    expect(reasonOf(selection, "n1")).toMatchObject({ code: "canary-pending" });
    expect(reasonOf(selection, "n1")?.message).toMatch(/c1 is finishing its update \(MonitoringUpdate\)/);
  });

  it("soaks from the last canary's healthy finish, and lets the others go when the soak has passed", () => {
    const fleet = view([shadow("c1", finished(600)), shadow("c2", finished(60))], [shadow("n1", WANTS)]);
    const soaking = select(fleet);
    const ends = after(-60 + 1800);
    expect(reasonOf(soaking, "n1")).toMatchObject({ code: "soaking", version: "1.20.0", until: ends });
    expect(soaking.recheckAt).toEqual(ends);
    expect(soaking.canary?.rollouts).toEqual([
      expect.objectContaining({ version: "1.20.0", phase: "Soaking", soakStartedAt: after(-60), soakEndsAt: ends }),
    ]);
    // One second before the end it still soaks; at the end it has passed.
    expect(reasonOf(select(fleet, SPEC, after(-1, ends)), "n1")?.code).toBe("soaking");
    const passed = select(fleet, SPEC, ends);
    expect(passed.start.map((s) => s.nodeName)).toEqual(["n1"]);
    expect(passed.canary?.rollouts[0]?.phase).toBe("Passed");
  });

  it("holds the others when a canary's Node is not Ready at the end of the soak, without restarting it", () => {
    const fleet = view([shadow("c1", finished(3600))], [shadow("n1", WANTS)], [canaryNode("c1", { ready: false })]);
    expect(reasonOf(select(fleet), "n1")?.message).toMatch(/c1 is not Ready/);
  });

  it("counts a canary that runs the version without a record (it booted with it) from its Node's creation", () => {
    const fleet = view(
      [shadow("c1", { status: { current_version: "1.20.0", target_version: "1.20.0" } })],
      [shadow("n1", WANTS)],
      [canaryNode("c1", { createdAt: after(-300) })],
    );
    expect(reasonOf(select(fleet), "n1")).toMatchObject({ code: "soaking", until: after(1500) });
  });

  it("decides each offered version on its own: a node offered another version waits for the canaries to run it", () => {
    const fleet = view(
      [shadow("c1", finished(3600))],
      [shadow("n1", WANTS), shadow("n2", { status: { current_version: "1.19.0", target_version: "1.21.0" } })],
    );
    const selection = select(fleet);
    expect(selection.start.map((s) => s.nodeName)).toEqual(["n1"]);
    expect(reasonOf(selection, "n2")).toMatchObject({ code: "canary-pending", version: "1.21.0" });
    expect(selection.canary?.rollouts.map((r) => [r.version, r.phase])).toEqual([
      ["1.20.0", "Passed"],
      ["1.21.0", "Pending"],
    ]);
  });

  it("has no canary phase when the selector matches no managed node (and says so)", () => {
    const selection = select(view([], [shadow("n1", WANTS)]));
    expect(selection.start.map((s) => s.nodeName)).toEqual(["n1"]);
    expect(selection.canary).toEqual({
      selector: "example.com/canary=true",
      soakSeconds: 1800,
      nodes: [],
      rollouts: [],
    });
  });

  it("still applies the fleet budget to the canaries", () => {
    const selection = select(view([shadow("c1", WANTS), shadow("c2", WANTS)], [shadow("n1", WANTS)]), {
      ...SPEC,
      maxConcurrentUpdates: 1,
    });
    expect(selection.start.map((s) => s.nodeName)).toEqual(["c1"]);
    expect(reasonOf(selection, "c2")?.code).toBe("budget-full");
    expect(reasonOf(selection, "n1")?.code).toBe("canary-pending");
  });
});

describe("a canary that fails", () => {
  const crashed: ShadowOptions = {
    spec: { state: "Idle", version: "1.20.0", state_transition_timestamp: iso(after(-30)) },
    status: {
      current_state: "Idle",
      current_version: "1.19.0",
      target_version: "1.20.0",
      crash_count: 1,
      state_transition_failure_timestamp: iso(after(-40)),
    },
  };

  it("holds the others with canary-failed, naming it", () => {
    const selection = select(view([shadow("c1", crashed)], [shadow("n1", WANTS)]));
    expect(reasonOf(selection, "n1")).toMatchObject({ code: "canary-failed", version: "1.20.0" });
    expect(reasonOf(selection, "n1")?.message).toMatch(/^canary c1 failed updating to 1\.20\.0: c1 failed at /);
    expect(selection.canary?.rollouts[0]).toMatchObject({ phase: "Failed", holding: ["c1"] });
  });

  it("counts a failed health gate, rolled back, against the version that failed", () => {
    const rolledBack: ShadowOptions = {
      spec: { state: "Idle", version: "1.19.0", state_transition_timestamp: iso(after(-30)) },
      status: { current_version: "1.19.0", target_version: "1.20.0" },
      annotations: {
        [ANNOTATIONS.gateFailures]: "1",
        [ANNOTATIONS.lastGateFailure]: iso(after(-100)),
        [ANNOTATIONS.rollbackFrom]: "1.20.0",
      },
    };
    expect(reasonOf(select(view([shadow("c1", rolledBack)], [shadow("n1", WANTS)])), "n1")?.code).toBe("canary-failed");
  });

  it("is pending again while it retries, and proves the version when the retry succeeds", () => {
    const retrying: ShadowOptions = {
      spec: { state: "StagedAndPerformedUpdate", version: "1.20.0", state_transition_timestamp: iso(after(-5)) },
      status: { ...crashed.status, current_state: "Idle" },
    };
    expect(reasonOf(select(view([shadow("c1", retrying)], [shadow("n1", WANTS)])), "n1")?.code).toBe("canary-pending");
    expect(reasonOf(select(view([shadow("c1", finished(10))], [shadow("n1", WANTS)])), "n1")?.code).toBe("soaking");
  });

  it("a quarantined canary fails every version until someone acknowledges it", () => {
    const quarantined: ShadowOptions = {
      status: { current_version: "1.19.0", target_version: "1.21.0", crash_count: 5 },
    };
    expect(reasonOf(select(view([shadow("c1", quarantined)], [shadow("n1", WANTS)])), "n1")?.message).toMatch(
      /c1 is quarantined after 5 failures/,
    );
  });

  it("an older version's failure does not fail a new release", () => {
    const failedOlder: ShadowOptions = { ...crashed, status: { ...crashed.status, target_version: "1.21.0" } };
    const offered: ShadowOptions = { status: { current_version: "1.19.0", target_version: "1.21.0" } };
    expect(reasonOf(select(view([shadow("c1", failedOlder)], [shadow("n1", offered)])), "n1")?.code).toBe(
      "canary-pending",
    );
  });
});

describe("CanaryGroup", () => {
  const policy: CanaryPolicy = {
    requirements: [{ key: "example.com/canary", operator: "In", values: ["true"] }],
    selector: "example.com/canary=true",
    soakSeconds: 60,
  };

  it("leaves unmanaged nodes out of the group, even when they match", () => {
    const group = new CanaryGroup(
      policy,
      [canaryNode("c1"), node("c2", { labels: CANARY, labelled: false })],
      [],
      5,
      T0,
    );
    expect(group.nodes).toEqual(["c1"]);
    expect(group.verdict("1.20.0")?.message).toMatch(/c1 has not reported/);
  });

  it("gives the same soak end to any controller that reads the same shadows (no memory of its own)", () => {
    const shadows = [shadow("c1", finished(30))];
    const a = new CanaryGroup(policy, [canaryNode("c1")], shadows, 5, T0).verdict("1.20.0");
    const b = new CanaryGroup(policy, [canaryNode("c1")], shadows, 5, after(10)).verdict("1.20.0");
    expect(a?.soakEndsAt).toEqual(after(30));
    expect(b?.soakEndsAt).toEqual(a?.soakEndsAt);
  });
});
