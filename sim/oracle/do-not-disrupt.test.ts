// I6 on hand-built observations: a node the operator disrupts must carry Karpenter's and cluster-autoscaler's
// do-not-disrupt annotations (a person's own value of one stands), and those the operator set must be gone once the
// node is back in service. Kept apart from invariants.test.ts: only I6 is enabled here.
import type { V1Node } from "@kubernetes/client-node";
import { describe, expect, test } from "vitest";
import { InvariantOracle } from "./invariants.ts";
import { nodeView, type AnnotationView, type NodeView } from "./views.ts";

const T0 = Date.parse("2025-01-01T00:00:00Z");
const S = 1_000;
const OPERATOR = "brupop-controller";
const KARPENTER = "karpenter.sh/do-not-disrupt";
const CA = "cluster-autoscaler.kubernetes.io/scale-down-disabled";

function oracle(): InvariantOracle {
  return new InvariantOracle({
    budget: 3,
    reasonWithinMs: 30 * S,
    stallMs: 600 * S,
    doNotDisrupt: { releaseWithinMs: 60 * S },
    startedAt: T0,
  });
}

const by = (manager: string, value = "true"): AnnotationView => ({ value, manager });
const GUARDED = { [KARPENTER]: by(OPERATOR), [CA]: by(OPERATOR) };

function node(o: Partial<NodeView> = {}): NodeView {
  return {
    name: "n1",
    labels: {},
    unschedulable: false,
    cordonManager: undefined,
    ready: true,
    osVersion: "1.25.0",
    doNotDisrupt: {},
    ...o,
  };
}

const cordoned = (o: Partial<NodeView> = {}) => node({ unschedulable: true, cordonManager: OPERATOR, ...o });

/** n1 seen idle at 1.25.0, the new version published. */
function idle(o: InvariantOracle, annotations: NodeView["doNotDisrupt"] = {}): void {
  o.hostInitially("n1", true, "1.25.0");
  o.node(T0, node({ doNotDisrupt: annotations }));
  o.publish(T0, "1.26.0");
}

/**
 * n1's update, annotated throughout as `during` says, annotations `after` once it is back. Returns its end, 2 s after
 * the uncordon.
 */
function update(o: InvariantOracle, during: NodeView["doNotDisrupt"], after: NodeView["doNotDisrupt"]): number {
  o.node(T0 + S, node({ doNotDisrupt: during }));
  o.host(T0 + 2 * S, "n1", { kind: "command", command: "prepare" });
  o.node(T0 + 5 * S, cordoned({ doNotDisrupt: during }));
  o.host(T0 + 6 * S, "n1", { kind: "reboot-requested" });
  o.host(T0 + 7 * S, "n1", { kind: "down" });
  o.node(T0 + 8 * S, cordoned({ doNotDisrupt: during, ready: false }));
  o.host(T0 + 12 * S, "n1", { kind: "up", version: "1.26.0" });
  o.node(T0 + 13 * S, cordoned({ doNotDisrupt: during, osVersion: "1.26.0" }));
  o.node(T0 + 14 * S, node({ doNotDisrupt: during, osVersion: "1.26.0", cordonManager: OPERATOR }));
  o.node(T0 + 16 * S, node({ doNotDisrupt: after, osVersion: "1.26.0", cordonManager: OPERATOR }));
  return T0 + 16 * S;
}

const i6 = (o: InvariantOracle) => o.violations.filter((v) => v.invariant === "I6");

describe("I6: the do-not-disrupt annotations while the operator disrupts a node", () => {
  test("annotated from before the cordon until after the uncordon: no violation", () => {
    const o = oracle();
    idle(o);
    const end = update(o, GUARDED, {});
    o.tick(end + 120 * S);
    expect(o.violations).toEqual([]);
  });

  test("cordoned without them is a violation, naming what is missing, once per disruption", () => {
    const o = oracle();
    idle(o);
    update(o, { [CA]: by(OPERATOR) }, {});
    expect(i6(o)).toHaveLength(1);
    expect(i6(o)[0]?.message).toMatch(
      /^n1 \(cordoned by brupop-controller for 0\.0 s\) without karpenter\.sh\/do-not-disrupt=true$/,
    );
  });

  test("a person's own value stands, even one that allows disruption", () => {
    const o = oracle();
    idle(o);
    const users = { [KARPENTER]: by("kubectl-annotate", "false"), [CA]: by(OPERATOR) };
    update(o, users, { [KARPENTER]: by("kubectl-annotate", "false") });
    o.tick(T0 + 300 * S);
    expect(o.violations).toEqual([]);
  });

  test("left on a node back in service past the bound is a violation; a person's own is not", () => {
    const lingering = oracle();
    idle(lingering);
    const uncordonedAt = update(lingering, GUARDED, GUARDED) - 2 * S;
    lingering.tick(uncordonedAt + 60 * S);
    expect(i6(lingering)).toEqual([]);
    lingering.tick(uncordonedAt + 61 * S);
    expect(i6(lingering)).toHaveLength(1);
    expect(i6(lingering)[0]?.message).toMatch(/still carries .* set by brupop-controller/);

    const users = oracle();
    idle(users, { [KARPENTER]: by("kubectl-annotate") });
    const done = update(
      users,
      { [KARPENTER]: by("kubectl-annotate"), [CA]: by(OPERATOR) },
      {
        [KARPENTER]: by("kubectl-annotate"),
      },
    );
    users.tick(done + 300 * S);
    expect(users.violations).toEqual([]);
  });

  test("a node already disrupted when observation begins has reasonWithinMs to get them", () => {
    const late = oracle();
    late.hostInitially("n1", true, "1.25.0");
    late.node(T0, cordoned());
    late.tick(T0 + 29 * S);
    expect(i6(late)).toEqual([]);
    late.tick(T0 + 31 * S);
    expect(i6(late)).toHaveLength(1);

    const inTime = oracle();
    inTime.hostInitially("n1", true, "1.25.0");
    inTime.node(T0, cordoned());
    inTime.node(T0 + 10 * S, cordoned({ doNotDisrupt: GUARDED }));
    inTime.tick(T0 + 60 * S);
    expect(i6(inTime)).toEqual([]);
  });
});

describe("nodeView's do-not-disrupt annotations", () => {
  test("each value and the manager that set it (managedFields)", () => {
    const fields = (key: string) => ({ "f:metadata": { "f:annotations": { [`f:${key}`]: {} } } });
    const v1: V1Node = {
      metadata: {
        name: "n1",
        annotations: { [KARPENTER]: "true", [CA]: "true", "other/annotation": "x" },
        managedFields: [
          { manager: "kubectl-annotate", operation: "Update", fieldsV1: fields(KARPENTER) },
          { manager: OPERATOR, operation: "Update", fieldsV1: fields(CA) },
        ],
      },
    };
    expect(nodeView(v1).doNotDisrupt).toEqual({ [KARPENTER]: by("kubectl-annotate"), [CA]: by(OPERATOR) });
  });
});
