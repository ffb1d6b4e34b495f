import { describe, expect, it } from "vitest";
import { advise, type AdviceContext } from "./advice.ts";
import { NOW } from "../../test/support/cli-fixtures.ts";

const ctx = (extra: Partial<AdviceContext> = {}): AdviceContext => ({
  node: "n1",
  namespace: "brupop-bottlerocket-aws",
  now: NOW,
  failures: 0,
  failureReason: null,
  targetState: "Idle",
  state: "Idle",
  ...extra,
});

describe("advise", () => {
  it("names the node annotation that pauses a node and how to remove it", () => {
    const advice = advise({ code: "opted-out", message: "x" }, ctx());
    expect(advice.why).toBe("paused by annotation brupop.bottlerocket.aws/paused on node n1.");
    expect(advice.next).toContain("remove it with kubectl annotate node n1 brupop.bottlerocket.aws/paused-");
    expect(advice.next).toContain("or: brupop resume --node n1");
  });

  it("says when the next window opens, absolutely and relatively", () => {
    const advice = advise(
      { code: "outside-window", nextOpen: new Date("2024-06-04T02:00:00.000Z"), message: "outside" },
      ctx({ sources: { schedule: "policy" } }),
    );
    expect(advice.why).toBe("outside the update window; next window opens at 2024-06-04T02:00:00Z (in 16h).");
    expect(advice.next.join("\n")).toMatch(/policy resource field spec\.windows/);
  });

  it("gives the backoff end, points at the failure once, and at the agent's logs (not at explain itself)", () => {
    const advice = advise(
      { code: "backoff", until: new Date("2024-06-03T10:07:00.000Z"), message: "x" },
      ctx({
        failures: 3,
        failureReason: "refresh-updates: repository unreachable",
        agentPods: [{ name: "brupop-agent-x", phase: "Running", ready: true }],
      }),
    );
    expect(advice.why).toBe(
      "backing off after 3 failures until 2024-06-03T10:07:00Z (in 7m). Its last failure's reason is under Details.",
    );
    expect(advice.next).toEqual([
      "wait; it retries by itself",
      "to see why it failed, look at the agent's logs: kubectl -n brupop-bottlerocket-aws logs brupop-agent-x",
    ]);
    expect(advice.next.join("\n")).not.toContain("brupop explain");
  });

  it("points a quarantined node at the cause, then at brupop unquarantine", () => {
    const advice = advise({ code: "quarantined", failures: 5, message: "x" }, ctx({ namespace: "ops" }));
    expect(advice.why).toMatch(/^quarantined after 5 failures/);
    expect(advice.next).toEqual([
      "first find the agent pod: kubectl -n ops get pods -l brupop.bottlerocket.aws/component=agent --field-selector spec.nodeName=n1; then kubectl logs it",
      "then acknowledge and retry: brupop unquarantine n1 -n ops",
    ]);
  });

  it("tells apart no agent pod, an agent pod that is not ready, and an unknown pod list", () => {
    const reason = { code: "agent-missing", message: "x" } as const;
    expect(advise(reason, ctx({ agentPods: [] })).why).toMatch(/no agent pod on this node \(DaemonSet brupop-agent/);
    expect(advise(reason, ctx({ agentPods: [] })).next[0]).toMatch(/describe daemonset brupop-agent/);
    const notReady = advise(reason, ctx({ agentPods: [{ name: "brupop-agent-x", phase: "Pending", ready: false }] }));
    expect(notReady.why).toMatch(/agent pod brupop-agent-x is Pending and not ready/);
    expect(notReady.next).toEqual(["look at the agent's logs: kubectl -n brupop-bottlerocket-aws logs brupop-agent-x"]);
    expect(advise(reason, ctx()).why).toMatch(/its agent has not registered it/);
  });

  it("says the host has no update available when the node is up to date", () => {
    expect(advise({ code: "up-to-date", message: "up to date at 1.25.0" }, ctx()).why).toBe(
      "the host has no update available: up to date at 1.25.0.",
    );
  });

  it("names where a fleet-wide pause comes from", () => {
    expect(advise({ code: "paused", message: "x" }, ctx({ sources: { paused: "env" } })).why).toMatch(
      /controller variable UPDATES_PAUSED/,
    );
    expect(advise({ code: "paused", message: "x" }, ctx({ sources: { paused: "policy" } })).next).toEqual([
      "resume: brupop resume -n brupop-bottlerocket-aws",
    ]);
  });

  it("lists the nodes holding the budget and how to raise it", () => {
    const advice = advise(
      { code: "budget-full", inUse: 2, limit: 2, message: "x" },
      ctx({ updatingNodes: ["n7", "n8"], sources: { budget: "env" } }),
    );
    expect(advice.why).toBe("the update budget is full: 2 of 2 nodes updating (n7, n8).");
    expect(advice.next[1]).toMatch(/MAX_CONCURRENT_UPDATE.*"maxConcurrentUpdates":3/);
  });

  it("names the zone whose budget is full, and how to see the zones", () => {
    const advice = advise(
      {
        code: "topology-budget-full",
        topologyKey: "topology.kubernetes.io/zone",
        value: "us-east-1a",
        inUse: 1,
        limit: 1,
        message: "x",
      },
      ctx({}),
    );
    expect(advice.why).toBe(
      "the topology budget of topology.kubernetes.io/zone is full for this node's group " +
        "(topology.kubernetes.io/zone=us-east-1a): 1 of 1 node updating there; nodes elsewhere may start.",
    );
    expect(advice.next[0]).toMatch(/kubectl get nodes -L topology\.kubernetes\.io\/zone$/);
    expect(advice.next[1]).toMatch(/spec\.topologyBudgets/);
  });

  it("suspects a PodDisruptionBudget while a node drains", () => {
    const advice = advise(
      { code: "in-progress", message: "moving to RebootedIntoUpdate (agent reports StagedAndPerformedUpdate)" },
      ctx({ targetState: "RebootedIntoUpdate", state: "StagedAndPerformedUpdate" }),
    );
    expect(advice.next[0]).toMatch(/PodDisruptionBudget may block the drain: kubectl get pdb -A/);
  });

  it("tells an unlabelled node from a missing one", () => {
    const reason = { code: "not-managed", message: "x" } as const;
    expect(advise(reason, ctx({ nodeExists: true, nodeLabelled: false })).next[0]).toBe(
      "label it: kubectl label node n1 bottlerocket.aws/updater-interface-version=2.0.0",
    );
    expect(advise(reason, ctx({ nodeExists: false })).why).toMatch(/does not exist/);
    expect(advise(reason, ctx({ nodeExists: true, nodeLabelled: true })).why).toMatch(/MANAGED_NODE_SELECTOR/);
  });
});
