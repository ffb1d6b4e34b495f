import { describe, expect, it } from "vitest";
import {
  AUTO_LABEL_OPT_OUT_ANNOTATION,
  autoLabelEnabled,
  decideLabel,
  isBottlerocketOsImage,
  labelPatch,
  planNodeLabels,
  type LabelCandidate,
} from "./auto-label.ts";

const LABEL = "bottlerocket.aws/updater-interface-version";

function node(name: string, overrides: Partial<LabelCandidate> = {}): LabelCandidate {
  return { name, labels: {}, annotations: {}, osImage: "Bottlerocket OS 1.25.0 (aws-k8s-1.30)", ...overrides };
}

describe("isBottlerocketOsImage", () => {
  it.each([
    ["Bottlerocket OS 1.25.0 (aws-k8s-1.30)", true],
    ["  bottlerocket OS 1.19.0 (aws-ecs-2)", true],
    ["Amazon Linux 2023", false],
    ["Ubuntu 22.04 (Bottlerocket-like)", false],
    ["BottlerocketOS-fork", false],
    ["", false],
    [undefined, false],
  ])("%j → %s", (image, expected) => {
    expect(isBottlerocketOsImage(image)).toBe(expected);
  });
});

describe("decideLabel", () => {
  it("labels an unlabelled Bottlerocket node", () => {
    expect(decideLabel(node("a"))).toEqual({ node: "a", label: true });
  });

  it("skips a node already labelled with 2.0.0", () => {
    expect(decideLabel(node("a", { labels: { [LABEL]: "2.0.0" } }))).toMatchObject({ label: false, skip: "labelled" });
  });

  it("leaves a node labelled with another interface version alone", () => {
    expect(decideLabel(node("a", { labels: { [LABEL]: "1.0.0" } }))).toMatchObject({
      label: false,
      skip: "other-interface-version",
    });
  });

  it("skips other operating systems and nodes whose kubelet has not reported yet", () => {
    expect(decideLabel(node("a", { osImage: "Amazon Linux 2" }))).toMatchObject({ skip: "not-bottlerocket" });
    expect(decideLabel(node("a", { osImage: undefined }))).toMatchObject({ skip: "not-bottlerocket" });
  });

  it("respects the opt-out annotation (false, any case) and labels on any other value", () => {
    const out = (value: string) => decideLabel(node("a", { annotations: { [AUTO_LABEL_OPT_OUT_ANNOTATION]: value } }));
    expect(out("false")).toMatchObject({ label: false, skip: "opted-out" });
    expect(out(" FALSE ")).toMatchObject({ label: false, skip: "opted-out" });
    expect(out("true")).toEqual({ node: "a", label: true });
  });
});

describe("planNodeLabels", () => {
  it("decides every node, sorted by name", () => {
    const plan = planNodeLabels([node("c"), node("a", { osImage: "Flatcar" }), node("b")]);
    expect(plan.map((d) => [d.node, d.label])).toEqual([
      ["a", false],
      ["b", true],
      ["c", true],
    ]);
  });
});

describe("labelPatch", () => {
  it("sets the updater-interface label", () => {
    expect(labelPatch()).toEqual({ metadata: { labels: { [LABEL]: "2.0.0" } } });
  });
});

describe("autoLabelEnabled", () => {
  it("is off by default and on only with true", () => {
    expect(autoLabelEnabled({})).toEqual({ ok: true, enabled: false });
    expect(autoLabelEnabled({ AUTO_LABEL_NODES: " " })).toEqual({ ok: true, enabled: false });
    expect(autoLabelEnabled({ AUTO_LABEL_NODES: "False" })).toEqual({ ok: true, enabled: false });
    expect(autoLabelEnabled({ AUTO_LABEL_NODES: "TRUE" })).toEqual({ ok: true, enabled: true });
  });

  it("names the variable when the value is neither", () => {
    expect(autoLabelEnabled({ AUTO_LABEL_NODES: "yes" })).toEqual({
      ok: false,
      error: 'AUTO_LABEL_NODES: "yes" is not true or false',
    });
  });
});
