import { describe, expect, it } from "vitest";
import {
  LabelSelectorError,
  formatLabelSelector,
  labelSelectorRequirements,
  matchesLabels,
  parseLabelSelector,
  type LabelRequirement,
} from "./drain-plan-selector.ts";

describe("parseLabelSelector (kubectl syntax)", () => {
  it.each<[string, LabelRequirement[]]>([
    ["", []],
    ["  ", []],
    ["app=web", [{ key: "app", operator: "In", values: ["web"] }]],
    ["app==web", [{ key: "app", operator: "In", values: ["web"] }]],
    ["app!=web", [{ key: "app", operator: "NotIn", values: ["web"] }]],
    ["app=", [{ key: "app", operator: "In", values: [""] }]],
    ["example.com/tier", [{ key: "example.com/tier", operator: "Exists", values: [] }]],
    ["!canary", [{ key: "canary", operator: "DoesNotExist", values: [] }]],
    ["tier in (web, api)", [{ key: "tier", operator: "In", values: ["web", "api"] }]],
    [
      "tier notin (db),app=web, !canary",
      [
        { key: "tier", operator: "NotIn", values: ["db"] },
        { key: "app", operator: "In", values: ["web"] },
        { key: "canary", operator: "DoesNotExist", values: [] },
      ],
    ],
  ])("%j", (text, expected) => {
    expect(parseLabelSelector(text)).toEqual(expected);
  });

  it.each<[string, RegExp]>([
    ["app=web,", /empty term/],
    ["-app=web", /not a valid label key/],
    ["app=we b", /expected key/],
    ["app=-web", /not a valid label value/],
    ["tier in ()", /empty/],
    ["tier in (a,b", /expected key/],
    ["a b", /expected key/],
  ])("rejects %j with a clear error", (text, message) => {
    expect(() => parseLabelSelector(text)).toThrow(LabelSelectorError);
    expect(() => parseLabelSelector(text)).toThrow(message);
  });

  it("formats back to the same text", () => {
    const text = "app=web,tier notin (db,cache),!canary,zone,x!=y,t in (a,b)";
    expect(formatLabelSelector(parseLabelSelector(text))).toBe(text);
  });
});

describe("labelSelectorRequirements (metav1.LabelSelector)", () => {
  it("joins matchLabels and matchExpressions", () => {
    expect(
      labelSelectorRequirements({
        matchLabels: { app: "web" },
        matchExpressions: [{ key: "tier", operator: "NotIn", values: ["db"] }],
      }),
    ).toEqual([
      { key: "app", operator: "In", values: ["web"] },
      { key: "tier", operator: "NotIn", values: ["db"] },
    ]);
  });

  it.each<[object, RegExp]>([
    [{ matchExpressions: [{ key: "a", operator: "Gt", values: ["1"] }] }, /operator "Gt" is not one of/],
    [{ matchExpressions: [{ key: "a", operator: "In" }] }, /In needs values/],
    [{ matchExpressions: [{ key: "a", operator: "Exists", values: ["x"] }] }, /takes no values/],
    [{ matchLabels: { "bad key!": "x" } }, /not a valid label key/],
  ])("rejects %j", (selector, message) => {
    expect(() => labelSelectorRequirements(selector)).toThrow(message);
  });
});

describe("matchesLabels", () => {
  const labels = { app: "web", tier: "front" };
  it.each<[string, boolean]>([
    ["", true],
    ["app=web", true],
    ["app=api", false],
    ["app!=api", true],
    ["missing!=x", true], // != matches pods without the key, as in Kubernetes
    ["missing notin (x)", true],
    ["missing in (x)", false],
    ["tier in (front,back)", true],
    ["tier notin (front)", false],
    ["app", true],
    ["!app", false],
    ["!missing", true],
    ["app=web,tier=back", false],
  ])("%j → %s", (selector, expected) => {
    expect(matchesLabels(parseLabelSelector(selector), labels)).toBe(expected);
  });

  it("treats absent labels as none", () => {
    expect(matchesLabels(parseLabelSelector("!app"), undefined)).toBe(true);
    expect(matchesLabels(parseLabelSelector("app"), undefined)).toBe(false);
  });
});
