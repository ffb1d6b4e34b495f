import { describe, expect, it } from "vitest";
import { FOOTPRINT_GOAL_IDS, footprintGoalCells, footprintGoals } from "./footprint-goals.ts";

describe("footprint goals", () => {
  it("has one entry per row of the issue's table, with exactly its ids, in its order", () => {
    const goals = footprintGoals({}, 256);
    expect(goals.map((g) => g.id)).toEqual([
      "controller-idle-rss-100",
      "controller-rollout-rss-1000",
      "apiserver-idle-rss-100",
      "apiserver-rollout-rss-1000",
      "agent-working-set",
      "idle-requests-per-hour-100",
      "idle-requests-per-hour-1000",
      "failover-seconds",
      "reconcile-p99-ms-1000",
      "status-to-spec-p99-ms-1000",
      "serial-seconds-per-node",
      "conversion-peak-rss",
    ]);
    expect(new Set(FOOTPRINT_GOAL_IDS).size).toBe(12);
  });

  it("carries the issue's bounds and units; the conversion webhook's is the limit it is given", () => {
    const bounds = Object.fromEntries(footprintGoals({}, 200).map((g) => [g.id, `${g.goal} ${g.unit}`]));
    expect(bounds).toEqual({
      "controller-idle-rss-100": "64 MiB",
      "controller-rollout-rss-1000": "128 MiB",
      "apiserver-idle-rss-100": "64 MiB",
      "apiserver-rollout-rss-1000": "128 MiB",
      "agent-working-set": "24 MiB",
      "idle-requests-per-hour-100": "300 requests/hour",
      "idle-requests-per-hour-1000": "300 requests/hour",
      "failover-seconds": "45 s",
      "reconcile-p99-ms-1000": "100 ms",
      "status-to-spec-p99-ms-1000": "1000 ms",
      "serial-seconds-per-node": "0.3 s",
      "conversion-peak-rss": "200 MiB",
    });
  });

  it("meets a goal at or under its bound, not over it", () => {
    const goals = footprintGoals(
      {
        "controller-idle-rss-100": { value: 64 },
        "controller-rollout-rss-1000": { value: 128.1 },
        "serial-seconds-per-node": { value: 0.27, detail: "20 nodes" },
      },
      256,
    );
    const byId = new Map(goals.map((g) => [g.id, g]));
    expect(byId.get("controller-idle-rss-100")).toMatchObject({ measured: 64, met: true });
    expect(byId.get("controller-rollout-rss-1000")).toMatchObject({ measured: 128.1, met: false });
    expect(byId.get("serial-seconds-per-node")).toMatchObject({ measured: 0.27, met: true, detail: "20 nodes" });
  });

  it("needs the further condition too (back to idle size), and says how it went", () => {
    const [back, stuck] = [true, false].map(
      (met) =>
        footprintGoals({ "conversion-peak-rss": { value: 180, also: { met, what: "back to idle size" } } }, 256).at(
          -1,
        ) ?? {},
    );
    expect(back).toMatchObject({ measured: 180, met: true, detail: "back to idle size: yes" });
    expect(stuck).toMatchObject({ measured: 180, met: false, detail: "back to idle size: no" });
  });

  it("reports a part that could not run, or gave no number, as not measured with the reason: never a number", () => {
    const goals = footprintGoals(
      {
        "failover-seconds": { why: "the standby never led" },
        "reconcile-p99-ms-1000": { value: NaN },
      },
      null,
    );
    const byId = new Map(goals.map((g) => [g.id, g]));
    expect(byId.get("failover-seconds")).toMatchObject({ measured: null, met: null, why: "the standby never led" });
    expect(byId.get("reconcile-p99-ms-1000")).toMatchObject({ measured: null, met: null, why: /NaN/ });
    expect(byId.get("agent-working-set")).toMatchObject({ measured: null, met: null, why: "not measured in this run" });
    expect(byId.get("conversion-peak-rss")).toMatchObject({ measured: null, met: null, why: /no memory limit/ });
    for (const g of goals) expect(g.measured).toBeNull();
  });

  it("renders the summary's cells: the bound beside the goal, the number with its unit, or why there is none", () => {
    const [measured, missing] = footprintGoals(
      {
        "controller-idle-rss-100": { value: 58.2, detail: "max over a 300 s idle window" },
        "controller-rollout-rss-1000": { why: "the 1,000-node part was not run (--nodes 100)" },
      },
      256,
    );
    expect(measured && footprintGoalCells(measured)).toEqual({
      description: "controller RSS, idle, 100 nodes: ≤ 64 MiB",
      measured: "58.2 MiB (max over a 300 s idle window)",
    });
    expect(missing && footprintGoalCells(missing)).toEqual({
      description: "controller RSS, peak, 1,000-node rollout (budget 100): ≤ 128 MiB",
      measured: "not measured: the 1,000-node part was not run (--nodes 100)",
    });
  });
});
