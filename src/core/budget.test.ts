import { describe, expect, it } from "vitest";
import { BudgetError, budgetLimit, describeBudget, occupiesBudget, parseBudget, type UpdateBudget } from "./budget.ts";
import { shadow } from "../../test/support/core-fixtures.ts";

describe("parseBudget: MAX_CONCURRENT_UPDATE and percentages", () => {
  it.each<[string | number, UpdateBudget]>([
    ["1", { kind: "count", max: 1 }],
    ["3", { kind: "count", max: 3 }],
    ["+3", { kind: "count", max: 3 }],
    ["0", { kind: "count", max: 0 }],
    [" 2 ", { kind: "count", max: 2 }],
    ["unlimited", { kind: "unlimited" }],
    ["UNLIMITED", { kind: "unlimited" }],
    ["Unlimited", { kind: "unlimited" }],
    ["25%", { kind: "percent", percent: 25 }],
    ["0%", { kind: "percent", percent: 0 }],
    ["100%", { kind: "percent", percent: 100 }],
    [4, { kind: "count", max: 4 }],
  ])("%j", (raw, budget) => {
    expect(parseBudget(raw)).toEqual(budget);
  });

  it.each(["", "-1", "1.5", "one", "101%", "12.5%", "%", "unlimited!", "99999999999999999999"])("rejects %j", (raw) => {
    expect(() => parseBudget(raw)).toThrow(BudgetError);
  });

  it.each([-1, 1.5, Number.NaN])("rejects the number %d", (raw) => expect(() => parseBudget(raw)).toThrow(BudgetError));

  it("describes itself as written", () => {
    expect(["3", "unlimited", "25%"].map((raw) => describeBudget(parseBudget(raw)))).toEqual(["3", "unlimited", "25%"]);
  });
});

describe("budgetLimit", () => {
  it.each<[string, number, number]>([
    ["3", 10, 3],
    ["0", 10, 0],
    ["unlimited", 10, Number.POSITIVE_INFINITY],
    // Percentages round down, but never below 1 when above 0%.
    ["25%", 10, 2],
    ["25%", 12, 3],
    ["10%", 5, 1],
    ["1%", 1, 1],
    ["100%", 7, 7],
    ["0%", 100, 0],
    ["50%", 0, 0],
  ])("%s of %d nodes → %d", (raw, managed, limit) => expect(budgetLimit(parseBudget(raw), managed)).toBe(limit));
});

describe("occupiesBudget: everything not Idle, on either side", () => {
  it.each([
    ["Idle / Idle", shadow("n", {}), false],
    ["no status, default spec", shadow("n", { status: null }), false],
    ["no status, spec in progress", shadow("n", { status: null, spec: { state: "StagedAndPerformedUpdate" } }), true],
    ["spec started, status Idle", shadow("n", { spec: { state: "StagedAndPerformedUpdate" } }), true],
    ["spec Idle, status ErrorReset", shadow("n", { status: { current_state: "ErrorReset" } }), true],
    ["spec Idle, status MonitoringUpdate", shadow("n", { status: { current_state: "MonitoringUpdate" } }), true],
    [
      "both RebootedIntoUpdate",
      shadow("n", { spec: { state: "RebootedIntoUpdate" }, status: { current_state: "RebootedIntoUpdate" } }),
      true,
    ],
  ])("%s → %s", (_label, view, occupies) => expect(occupiesBudget(view)).toBe(occupies));
});
