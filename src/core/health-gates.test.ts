import { describe, expect, it } from "vitest";
import {
  DEFAULT_GATE_TIMEOUT_SECONDS,
  DEFAULT_HEALTH_GATES,
  evaluateGates,
  formatOutcome,
  parseHealthGates,
  promHeld,
  promQuery,
  promRange,
  selectorString,
  outcomeSettled,
  unreportedOutcome,
  type GateObservations,
  type GatePod,
  type HealthGates,
} from "./health-gates.ts";
import { T0, after } from "../../test/support/core-fixtures.ts";

function parse(raw: unknown): { gates: HealthGates; errors: string[] } {
  const errors: string[] = [];
  return { gates: parseHealthGates(raw, "spec.healthGates", errors), errors };
}

describe("parseHealthGates", () => {
  it("without a policy: the built-in gates, 10 minutes each", () => {
    expect(parse(undefined).gates).toBe(DEFAULT_HEALTH_GATES);
    expect(DEFAULT_HEALTH_GATES.gates.map((g) => [g.name, g.timeoutSeconds])).toEqual([
      ["node-ready", DEFAULT_GATE_TIMEOUT_SECONDS],
      ["daemonset-pods", DEFAULT_GATE_TIMEOUT_SECONDS],
    ]);
  });

  it("builtIn false and no gates: brupop's pass-through", () => {
    expect(parse({ builtIn: false })).toEqual({ gates: { gates: [], prometheusUrl: null }, errors: [] });
  });

  it("reads user gates after the built-ins, each with its own or the common timeout", () => {
    const { gates, errors } = parse({
      timeout: "5m",
      prometheusUrl: "http://prometheus.monitoring:9090/",
      gates: [
        {
          name: "ingress",
          timeout: "2m",
          podsReady: {
            namespace: "ingress",
            selector: {
              matchLabels: { app: "ingress" },
              matchExpressions: [
                { key: "tier", operator: "In", values: ["edge", "web"] },
                { key: "canary", operator: "DoesNotExist" },
              ],
            },
          },
        },
        { name: "cni", nodeCondition: { type: "NetworkUnavailable", status: "False" } },
        { name: "errors", prometheus: { query: 'sum(rate(errors{node="$node"}[5m])) < 1', for: "1m" } },
      ],
    });
    expect(errors).toEqual([]);
    expect(gates.prometheusUrl).toBe("http://prometheus.monitoring:9090");
    expect(gates.gates).toEqual([
      { name: "node-ready", timeoutSeconds: 300, check: { kind: "node-ready" } },
      { name: "daemonset-pods", timeoutSeconds: 300, check: { kind: "daemonset-pods" } },
      {
        name: "ingress",
        timeoutSeconds: 120,
        check: {
          kind: "pods-ready",
          namespace: "ingress",
          selector: "app=ingress,tier in (edge,web),!canary",
          minReady: 1,
        },
      },
      {
        name: "cni",
        timeoutSeconds: 300,
        check: { kind: "node-condition", type: "NetworkUnavailable", status: "False" },
      },
      {
        name: "errors",
        timeoutSeconds: 300,
        check: { kind: "prometheus", query: 'sum(rate(errors{node="$node"}[5m])) < 1', forSeconds: 60 },
      },
    ]);
  });

  it.each([
    [{ timeout: "soon" }, /spec\.healthGates\.timeout: "soon" is not a duration/],
    [{ timeout: "0s" }, /spec\.healthGates\.timeout: must be longer than 0s/],
    [{ gates: [{ name: "x" }] }, /spec\.healthGates\.gates\[0\]: set exactly one of/],
    [
      { gates: [{ name: "x", nodeCondition: { type: "A", status: "True" }, prometheus: { query: "up" } }] },
      /gates\[0\]: set exactly one of/,
    ],
    [
      { gates: [{ name: "node-ready", nodeCondition: { type: "A", status: "True" } }] },
      /gates\[0\]\.name: "node-ready" is taken/,
    ],
    [
      { gates: [{ name: "Bad_Name", nodeCondition: { type: "A", status: "True" } }] },
      /gates\[0\]\.name must be a DNS label/,
    ],
    [
      { gates: [{ name: "p", prometheus: { query: "up" } }] },
      /gates\[0\]: a prometheus gate needs spec\.healthGates\.prometheusUrl/,
    ],
    [{ gates: [{ name: "c", nodeCondition: { type: "A", status: "yes" } }] }, /gates\[0\]\.nodeCondition\.status/],
    [
      { gates: [{ name: "s", podsReady: { selector: { matchLabels: { "a b": "c" } } } }] },
      /gates\[0\]\.podsReady\.selector\.matchLabels: "a b" is not a label key/,
    ],
    [{ prometheusUrl: "prometheus:9090" }, /spec\.healthGates\.prometheusUrl must be an http/],
  ])("%j: %s", (raw, error) => {
    expect(parse(raw).errors.join("\n")).toMatch(error);
  });

  it("a selector term In without values, or Exists with some, is refused", () => {
    const errors: string[] = [];
    expect(selectorString({ matchExpressions: [{ key: "a", operator: "In" }] }, "s", errors)).toBeNull();
    expect(
      selectorString({ matchExpressions: [{ key: "a", operator: "Exists", values: ["x"] }] }, "s", errors),
    ).toBeNull();
    expect(errors).toEqual([
      "s.matchExpressions[0].values: In needs at least one value",
      "s.matchExpressions[0].values: Exists takes no values",
    ]);
    expect(selectorString({}, "s", [])).toBe("");
  });
});

const pod = (name: string, patch: Partial<GatePod> = {}): GatePod => ({
  namespace: "kube-system",
  name,
  owner: { kind: "DaemonSet", name: name.replace(/-.*$/, "") },
  ready: true,
  readySince: after(-3600),
  why: null,
  terminating: false,
  ...patch,
});

const readyNode = { ready: true, unschedulable: false, conditions: [{ type: "Ready", status: "True" }] };
const SINCE = after(-60);
const ctx = (now: Date = T0) => ({ since: SINCE, updateStartedAt: after(-600), now });

describe("evaluateGates: the built-ins", () => {
  const observe = (patch: Partial<GateObservations> = {}): GateObservations => ({
    node: readyNode,
    pods: { ok: true, value: [pod("log-a"), pod("dns-b")] },
    ...patch,
  });

  it("pass when the Node is Ready and uncordoned and its DaemonSet pods Ready", () => {
    const verdict = evaluateGates(DEFAULT_HEALTH_GATES, observe(), ctx());
    expect(verdict).toEqual({
      kind: "passed",
      results: [
        { gate: "node-ready", state: "passed", message: "the Node is Ready and schedulable" },
        { gate: "daemonset-pods", state: "passed", message: "2 DaemonSet pods Ready" },
      ],
    });
  });

  it("wait until the deadline, naming the pod and why, then fail", () => {
    const unready = observe({
      pods: {
        ok: true,
        value: [pod("log-a", { ready: false, readySince: after(-30), why: "ContainersNotReady" }), pod("dns-b")],
      },
    });
    const waiting = evaluateGates(DEFAULT_HEALTH_GATES, unready, ctx());
    expect(waiting).toMatchObject({ kind: "waiting", recheckAt: after(DEFAULT_GATE_TIMEOUT_SECONDS, SINCE) });
    const late = ctx(after(DEFAULT_GATE_TIMEOUT_SECONDS, SINCE));
    expect(evaluateGates(DEFAULT_HEALTH_GATES, unready, late)).toEqual({
      kind: "failed",
      gate: "daemonset-pods",
      reason: "not passed within 10m: 1 DaemonSet pod not Ready: kube-system/log-a (DaemonSet log: ContainersNotReady)",
      results: [
        { gate: "node-ready", state: "passed", message: "the Node is Ready and schedulable" },
        {
          gate: "daemonset-pods",
          state: "failed",
          message:
            "not passed within 10m: 1 DaemonSet pod not Ready: kube-system/log-a (DaemonSet log: ContainersNotReady)",
        },
      ],
    });
  });

  it("a DaemonSet pod not Ready since before the update started is not the update's doing: not counted", () => {
    const verdict = evaluateGates(
      DEFAULT_HEALTH_GATES,
      observe({ pods: { ok: true, value: [pod("log-a", { ready: false, readySince: after(-7200) }), pod("dns-b")] } }),
      ctx(),
    );
    expect(verdict.kind).toBe("passed");
    expect(verdict.results[1]?.message).toBe("1 DaemonSet pod Ready; 1 not Ready since before the update, not counted");
  });

  it("pods of other owners and terminating pods are not DaemonSet pods to wait for", () => {
    const others = [
      pod("web-1", { owner: { kind: "ReplicaSet", name: "web" }, ready: false, readySince: T0 }),
      pod("log-old", { terminating: true, ready: false, readySince: T0 }),
    ];
    expect(evaluateGates(DEFAULT_HEALTH_GATES, observe({ pods: { ok: true, value: others } }), ctx()).kind).toBe(
      "passed",
    );
  });

  it.each([
    [{ ...readyNode, unschedulable: true }, "the Node is Ready but cordoned (spec.unschedulable)"],
    [
      {
        ready: false,
        unschedulable: false,
        conditions: [{ type: "Ready", status: "False", reason: "KubeletNotReady" }],
      },
      "the Node is not Ready (KubeletNotReady)",
    ],
    [null, "the Node is not visible"],
  ])("node-ready waits for %j", (node, message) => {
    const verdict = evaluateGates(DEFAULT_HEALTH_GATES, observe({ node }), ctx());
    expect(verdict.results[0]).toEqual({ gate: "node-ready", state: "waiting", message });
  });

  it("a pod list that failed is no pass", () => {
    const verdict = evaluateGates(
      DEFAULT_HEALTH_GATES,
      observe({ pods: { ok: false, error: "403 Forbidden" } }),
      ctx(),
    );
    expect(verdict.results[1]).toEqual({
      gate: "daemonset-pods",
      state: "waiting",
      message: "cannot list the node's pods: 403 Forbidden",
    });
  });
});

describe("evaluateGates: user gates", () => {
  const only = (raw: unknown): HealthGates => {
    const { gates, errors } = parse({ builtIn: false, prometheusUrl: "http://p:9090", gates: [raw] });
    expect(errors).toEqual([]);
    return gates;
  };

  it("podsReady: every selected pod Ready, and at least minReady", () => {
    const gates = only({ name: "ingress", podsReady: { selector: { matchLabels: { app: "ingress" } }, minReady: 2 } });
    const selected = (pods: GatePod[]): GateObservations => ({
      node: readyNode,
      selected: { ingress: { ok: true, value: pods } },
    });
    expect(evaluateGates(gates, selected([pod("a")]), ctx()).results[0]?.message).toBe(
      "1 selected pod on the node, 2 needed",
    );
    expect(evaluateGates(gates, selected([pod("a"), pod("b", { ready: false })]), ctx()).results[0]?.message).toMatch(
      /^1 selected pod not Ready: kube-system\/b/,
    );
    expect(evaluateGates(gates, selected([pod("a"), pod("b")]), ctx()).kind).toBe("passed");
  });

  it("nodeCondition: the condition with the status asked for", () => {
    const gates = only({ name: "cni", nodeCondition: { type: "NetworkUnavailable", status: "False" } });
    const withCondition = (status: string): GateObservations => ({
      node: { ...readyNode, conditions: [{ type: "NetworkUnavailable", status, reason: "NoRoute" }] },
    });
    expect(evaluateGates(gates, withCondition("False"), ctx()).kind).toBe("passed");
    expect(evaluateGates(gates, withCondition("True"), ctx()).results[0]?.message).toBe(
      "NetworkUnavailable is True, not False (NoRoute)",
    );
    expect(evaluateGates(gates, { node: readyNode }, ctx()).results[0]?.message).toBe(
      "the Node has no condition NetworkUnavailable",
    );
  });

  it("prometheus: holds at every instant, for as long as asked since the reboot", () => {
    const gates = only({ name: "errors", prometheus: { query: "x < 1", for: "2m" } });
    const held = (h: boolean[]): GateObservations => ({
      node: readyNode,
      prometheus: { errors: { ok: true, held: h } },
    });
    expect(evaluateGates(gates, held([true, false, true]), ctx()).results[0]?.message).toBe(
      "the query does not hold at 1 of 3 instants",
    );
    // 60 s after MonitoringUpdate was asked for: holding, but not yet for 2 minutes.
    expect(evaluateGates(gates, held([true, true]), ctx()).results[0]?.message).toMatch(/must hold for 2m/);
    expect(evaluateGates(gates, held([true, true]), ctx(after(120, SINCE))).kind).toBe("passed");
    const down: GateObservations = {
      node: readyNode,
      prometheus: { errors: { ok: false, error: "connection refused" } },
    };
    expect(evaluateGates(gates, down, ctx()).results[0]?.message).toBe("Prometheus: connection refused");
  });

  it("the first gate past its deadline fails the update; the ones after it are not evaluated", () => {
    const { gates } = parse({
      timeout: "1m",
      gates: [{ name: "cni", timeout: "30s", nodeCondition: { type: "NetworkUnavailable", status: "False" } }],
    });
    const verdict = evaluateGates(gates, { node: null }, ctx(after(45, SINCE)));
    expect(verdict).toMatchObject({
      kind: "failed",
      gate: "cni",
      reason: "not passed within 30s: the Node is not visible",
    });
    expect(verdict.results.map((r) => [r.gate, r.state])).toEqual([
      ["node-ready", "waiting"],
      ["daemonset-pods", "waiting"],
      ["cni", "failed"],
    ]);
  });
});

describe("Prometheus answers", () => {
  it("an instant vector holds when non-empty and every value non-zero", () => {
    const vector = (...values: string[]) => ({
      status: "success",
      data: { resultType: "vector", result: values.map((v) => ({ metric: {}, value: [1700000000, v] })) },
    });
    expect(promHeld(vector("1", "0.5"), null)).toEqual({ ok: true, held: [true] });
    expect(promHeld(vector("1", "0"), null)).toEqual({ ok: true, held: [false] });
    expect(promHeld(vector(), null)).toEqual({ ok: true, held: [false] });
    expect(promHeld(vector("NaN"), null)).toEqual({ ok: true, held: [false] });
    expect(promHeld({ status: "success", data: { resultType: "scalar", result: [1, "1"] } }, null)).toEqual({
      ok: true,
      held: [true],
    });
  });

  it("a matrix is read instant by instant; a missing point is a break", () => {
    const matrix = {
      status: "success",
      data: {
        resultType: "matrix",
        result: [
          {
            metric: { a: "1" },
            values: [
              [100, "1"],
              [110, "1"],
              [130, "1"],
            ],
          },
          {
            metric: { a: "2" },
            values: [
              [100, "1"],
              [110, "0"],
            ],
          },
        ],
      },
    };
    expect(promHeld(matrix, [100, 110, 120, 130])).toEqual({ ok: true, held: [true, false, false, true] });
  });

  it("an error answer names its type", () => {
    expect(promHeld({ status: "error", errorType: "bad_data", error: "parse error" }, null)).toEqual({
      ok: false,
      error: "bad_data: parse error",
    });
  });

  it("fills $node and $version, and asks about [now − for, now]", () => {
    expect(promQuery('up{node="$node",v="$version"}', "n1", "1.26.0")).toBe('up{node="n1",v="1.26.0"}');
    expect(promRange(120, new Date(1_000_000))).toEqual({ start: 880, end: 1000, stepSeconds: 2 });
    expect(promRange(10, new Date(1_000_000))).toEqual({ start: 990, end: 1000, stepSeconds: 1 });
  });
});

describe("the outcome carried by the spec write that acts on it", () => {
  const verdict = {
    kind: "passed" as const,
    results: [{ gate: "node-ready", state: "passed" as const, message: "Ready" }],
  };
  const carried = formatOutcome(verdict, "1.20.0", 7);
  const condition = (status: "True" | "False" | "Unknown", observedGeneration?: number) => ({
    type: "UpdateHealthy",
    status,
    reason: status === "True" ? "GatesPassed" : status === "False" ? "GateFailed" : "GatesPending",
    message: "…",
    lastTransitionTime: "2026-12-07T00:00:00Z",
    ...(observedGeneration === undefined ? {} : { observedGeneration }),
  });
  const restored = {
    type: "UpdateHealthy",
    status: "True",
    reason: "GatesPassed",
    message: "health gates passed after the update to 1.20.0",
    observedGeneration: 7,
  };

  it("carries the condition without the gates' details: small enough for every shadow", () => {
    expect(JSON.parse(carried)).toEqual({ status: "True", message: restored.message, observedGeneration: 7 });
    const failed = formatOutcome(
      { kind: "failed", gate: "daemonset-pods", reason: "x".repeat(3000), results: [] },
      "1.20.0",
      7,
    );
    expect(failed.length).toBeLessThan(120);
    expect(unreportedOutcome(failed, [])).toMatchObject({
      status: "False",
      reason: "GateFailed",
      message: "health gate daemonset-pods failed after the update to 1.20.0",
    });
  });

  it("is unreported until the conditions say it for its generation", () => {
    expect(unreportedOutcome(carried, undefined)).toEqual(restored);
    expect(unreportedOutcome(carried, [])).toEqual(restored);
    expect(unreportedOutcome(carried, [condition("Unknown", 7)])).toEqual(restored);
    expect(unreportedOutcome(carried, [condition("True", 4)])).toEqual(restored); // an earlier update's
    expect(unreportedOutcome(carried, [condition("True")])).toEqual(restored);
    expect(unreportedOutcome(carried, [condition("True", 7)])).toBeNull();
  });

  it("a later look at the gates replaces it", () => {
    expect(unreportedOutcome(carried, [condition("Unknown", 9)])).toBeNull();
  });

  it("is settled once the conditions say it or a later look replaced it: the clear may drop it", () => {
    expect(outcomeSettled(carried, [condition("True", 7)])).toBe(true);
    expect(outcomeSettled(carried, [condition("Unknown", 9)])).toBe(true);
    expect(outcomeSettled(carried, [condition("Unknown", 7)])).toBe(false);
    expect(outcomeSettled(undefined, [condition("True", 7)])).toBe(false); // nothing to drop
  });

  it("an annotation the controller did not write is no outcome", () => {
    expect(unreportedOutcome(undefined, [])).toBeNull();
    const texts = [
      "",
      "yes",
      "[]",
      "null",
      JSON.stringify({ status: "Maybe", message: "m", observedGeneration: 1 }),
      JSON.stringify({ status: "True", message: "m", observedGeneration: "7" }),
      JSON.stringify({ status: "True", observedGeneration: 7 }),
    ];
    for (const text of texts) expect(unreportedOutcome(text, []), text).toBeNull();
  });
});
