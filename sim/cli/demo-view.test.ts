import { describe, expect, it } from "vitest";
import type { CoreV1Event } from "@kubernetes/client-node";
import { buildFleetReport } from "../../src/cli/fleet-report.ts";
import { NOW, brs, k8sNode, minutesBefore, snapshot } from "../../test/support/cli-fixtures.ts";
import { demoRows, eventLine, renderScreen, rowLine } from "./demo-view.ts";
import { LiveOutput } from "./live-output.ts";

// n1 updating (cordoned, rebooting), n2 waiting for the budget, n3 done, n4 backing off, n5 quarantined.
function report() {
  return buildFleetReport(
    snapshot({
      shadows: [
        brs("n1", {
          spec: { state: "RebootedIntoUpdate", version: "1.26.0", state_transition_timestamp: minutesBefore(1) },
          status: { current_state: "StagedAndPerformedUpdate", target_version: "1.26.0" },
        }),
        brs("n2", { status: { target_version: "1.26.0" } }),
        brs("n3", { status: { current_version: "1.26.0", target_version: "1.26.0" } }),
        brs("n4", {
          status: {
            target_version: "1.26.0",
            crash_count: 1,
            state_transition_failure_timestamp: new Date(NOW.getTime() - 60_000).toISOString(),
          },
        }),
        brs("n5", {
          status: { target_version: "1.26.0", crash_count: 5, state_transition_failure_timestamp: minutesBefore(90) },
        }),
      ],
      nodes: ["n1", "n2", "n3", "n4", "n5"].map((n) => k8sNode(n, { unschedulable: n === "n1" })),
      controller: { env: { MAX_CONCURRENT_UPDATE: "1" }, found: "deployment" },
    }),
    NOW,
  );
}

const facts = { to: "1.26.0", rebooting: new Set(["n1"]) };

describe("demoRows", () => {
  it("each node's state, version and why, as brupop status decides it", () => {
    const rows = demoRows(report(), facts, "absolute");
    expect(rows.map((r) => [r.node, r.state, r.version, r.why, r.flags.join(",")])).toEqual([
      ["n1", "StagedAndPerformedUpdate → RebootedIntoUpdate", "1.25.0", "in-progress", "cordoned,rebooting"],
      ["n2", "Idle", "1.25.0", "budget-full (1/1)", ""],
      ["n3", "Idle", "1.26.0", "up-to-date", ""],
      ["n4", "Idle", "1.25.0", "backoff until 10:02:00, 1 failure", ""],
      ["n5", "Idle", "1.25.0", "quarantined after 5 failures", ""],
    ]);
    expect(rows.filter((r) => r.updated).map((r) => r.node)).toEqual(["n3"]);
    expect(rows.filter((r) => r.quarantined).map((r) => r.node)).toEqual(["n5"]);
  });

  it("a redrawn screen says when a backoff ends relative to now", () => {
    expect(demoRows(report(), facts, "relative")[3]?.why).toBe("backoff (retry in 2m, 1 failure)");
  });
});

describe("rowLine and renderScreen", () => {
  const event = (reason: string, message: string): CoreV1Event => ({
    metadata: { uid: reason, creationTimestamp: NOW },
    involvedObject: { kind: "BottlerocketShadow", name: "brs-n4" },
    reason,
    message,
    type: "Warning",
  });

  it("a pipe gets one aligned line per node", () => {
    const [first] = demoRows(report(), facts, "absolute");
    expect(first && rowLine(first)).toBe(
      "n1              StagedAndPerformedUpdate → RebootedIntoUpdate  1.25.0   in-progress [cordoned, rebooting]",
    );
  });

  it("the screen: title, table, counts and as many recent Events as fit", () => {
    const events = Array.from({ length: 30 }, (_, i) => event(`Reason${i}`, `line one\nline two ${i}`));
    const screen = renderScreen({
      title: "Rollout 1.25.0 → 1.26.0",
      notes: ["crash backoff compressed"],
      rows: demoRows(report(), facts, "relative"),
      evictedPods: 3,
      events,
      height: 24,
      width: 100,
    });
    expect(screen.length).toBeLessThanOrEqual(24);
    expect(screen.slice(0, 5)).toEqual([
      "Rollout 1.25.0 → 1.26.0",
      "crash backoff compressed",
      "",
      "NODE  STATE                                          VERSION  WHY",
      "n1    StagedAndPerformedUpdate → RebootedIntoUpdate  1.25.0   in-progress [cordoned, rebooting]",
    ]);
    expect(screen).toContain("updated 1/5   updating 1   quarantined 1   pods evicted 3");
    expect(screen.at(-1)).toMatch(/Reason29 +brs-n4 +line one line two 29$/);
    expect(screen.every((l) => l.length <= 100)).toBe(true);
  });

  it("on an 80-column terminal, a changing node's STATE is where it is going, and every WHY fits", () => {
    const rows = demoRows(report(), facts, "relative");
    const screen = renderScreen({ title: "t", notes: [], rows, evictedPods: 0, events: [], height: 24, width: 80 });
    expect(screen[2]).toBe("NODE  STATE                 VERSION  WHY");
    expect(screen[3]).toBe("n1    → RebootedIntoUpdate  1.25.0   in-progress [cordoned, rebooting]");
    for (const row of rows) expect(screen.some((l) => l.startsWith(`${row.node} `) && l.includes(row.why))).toBe(true);
    expect(screen.filter((l) => l.endsWith("…"))).toEqual([]);
    // Longer node names: the columns close up rather than cut WHY.
    const long = rows.map((r) => ({ ...r, node: `bottlerocket-${r.node}` }));
    const closer = renderScreen({
      title: "t",
      notes: [],
      rows: long,
      evictedPods: 0,
      events: [],
      height: 24,
      width: 80,
    });
    expect(closer[3]).toBe("bottlerocket-n1 → RebootedIntoUpdate 1.25.0  in-progress [cordoned, rebooting]");
    expect(closer.every((l) => l.length < 80)).toBe(true);
  });

  it("an Event on one line", () => {
    expect(eventLine(event("UpdateFailed", "a\n  b"))).toBe(
      "10:00:00 Warning UpdateFailed                 brs-n4               a b",
    );
  });
});

describe("LiveOutput", () => {
  function stream(isTTY: boolean) {
    const writes: string[] = [];
    return { writes, isTTY, rows: 5, columns: 20, write: (t: string) => writes.push(t) };
  }

  it("on a terminal, redraws the block in place under the permanent lines", () => {
    const out = stream(true);
    const live = new LiveOutput(out);
    live.block(["a", "b"]);
    live.line("step");
    live.block(["c"]);
    expect(out.writes).toEqual(["a\nb\n", "\u001b[2F\u001b[Jstep\na\nb\n", "\u001b[2F\u001b[Jc\n"]);
  });

  it("keeps the block within the terminal", () => {
    const out = stream(true);
    new LiveOutput(out).block(["1", "2", "3", "4", "5", "6", "a line longer than twenty"]);
    expect(out.writes).toEqual(["1\n2\n3\n4\n"]);
  });

  it("elsewhere, only the permanent lines", () => {
    const out = stream(false);
    const live = new LiveOutput(out);
    live.block(["a"]);
    live.line("step");
    expect(out.writes).toEqual(["step\n"]);
  });
});
