import { describe, expect, it } from "vitest";
import { BudgetError, budgetLimit, describeBudget, parseBudget, type UpdateBudget } from "./budget.ts";

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
