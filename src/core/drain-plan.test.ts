import { describe, expect, it } from "vitest";
import { MIRROR_POD_ANNOTATION, planDrain, type DrainPod } from "./drain-plan.ts";
import { parseLabelSelector } from "./drain-plan-selector.ts";

const now = new Date("2025-01-01T12:00:00Z");

function pod(name: string, extra: Partial<DrainPod> = {}): DrainPod {
  return { namespace: "default", name, uid: `uid-${name}`, phase: "Running", ...extra };
}

const daemonSetOwned = { ownerReferences: [{ kind: "DaemonSet", name: "agent", controller: true }] };
const mirror = { annotations: { [MIRROR_POD_ANNOTATION]: "abc123" } };
const names = (refs: readonly { name: string }[]) => refs.map((r) => r.name);

describe("planDrain", () => {
  it("evicts ordinary pods, keeping their order and identity", () => {
    const plan = planDrain([pod("a"), pod("b", { namespace: "other" })], {}, now);
    expect(plan).toEqual({
      evict: [
        { namespace: "default", name: "a", uid: "uid-a" },
        { namespace: "other", name: "b", uid: "uid-b" },
      ],
      awaitDeletion: [],
      skip: [],
    });
  });

  it("evicts StatefulSet, ReplicaSet and unowned pods, and completed ones", () => {
    const plan = planDrain(
      [
        pod("web-0", { ownerReferences: [{ kind: "StatefulSet", name: "web", controller: true }] }),
        pod("api-x", { ownerReferences: [{ kind: "ReplicaSet", name: "api", controller: true }] }),
        pod("job-done", { phase: "Succeeded" }),
        pod("crashed", { phase: "Failed" }),
      ],
      {},
      now,
    );
    expect(names(plan.evict)).toEqual(["web-0", "api-x", "job-done", "crashed"]);
  });

  it("leaves DaemonSet pods alone in every phase (brupop evicted completed ones)", () => {
    const plan = planDrain(
      ["Running", "Succeeded", "Failed", "Pending", undefined].map((phase, i) =>
        pod(`ds-${i}`, { ...daemonSetOwned, ...(phase === undefined ? {} : { phase }) }),
      ),
      {},
      now,
    );
    expect(plan.evict).toEqual([]);
    expect(plan.skip.map((s) => s.reason)).toEqual(Array(5).fill("daemonset"));
    expect(plan.skip[0]?.message).toBe("managed by DaemonSet agent");
  });

  it("leaves mirror pods alone in every phase", () => {
    const plan = planDrain([pod("static", mirror), pod("static-done", { ...mirror, phase: "Succeeded" })], {}, now);
    expect(plan.evict).toEqual([]);
    expect(plan.skip.map((s) => [s.name, s.reason])).toEqual([
      ["static", "mirror"],
      ["static-done", "mirror"],
    ]);
  });

  it("evicts a pod whose DaemonSet reference is not its controller", () => {
    const plan = planDrain(
      [pod("adopted", { ownerReferences: [{ kind: "DaemonSet", name: "x", controller: false }] })],
      {},
      now,
    );
    expect(names(plan.evict)).toEqual(["adopted"]);
  });

  it("drains only pods matching the pod selector and says why the rest stay", () => {
    const plan = planDrain(
      [pod("web", { labels: { app: "web" } }), pod("db", { labels: { app: "db" } }), pod("bare")],
      { podSelector: parseLabelSelector("app!=db") },
      now,
    );
    expect(names(plan.evict)).toEqual(["web", "bare"]);
    expect(plan.skip).toEqual([
      {
        namespace: "default",
        name: "db",
        uid: "uid-db",
        reason: "not-selected",
        message: "does not match the drain pod selector app!=db",
      },
    ]);
  });

  it("skips DaemonSet pods even when the selector matches them", () => {
    const plan = planDrain(
      [pod("ds", { ...daemonSetOwned, labels: { app: "x" } })],
      { podSelector: parseLabelSelector("app=x") },
      now,
    );
    expect(plan.skip.map((s) => s.reason)).toEqual(["daemonset"]);
  });

  it("waits for terminating pods instead of evicting them again", () => {
    const plan = planDrain([pod("going", { deletionTimestamp: new Date(now.getTime() - 5_000) })], {}, now);
    expect(plan.evict).toEqual([]);
    expect(names(plan.awaitDeletion)).toEqual(["going"]);
  });

  it("skips pods terminating for longer than the skip-wait-for-delete timeout", () => {
    const pods = [
      pod("stuck", { deletionTimestamp: new Date(now.getTime() - 120_000) }),
      pod("recent", { deletionTimestamp: new Date(now.getTime() - 30_000) }),
    ];
    const plan = planDrain(pods, { skipWaitForDeleteTimeoutSeconds: 60 }, now);
    expect(names(plan.awaitDeletion)).toEqual(["recent"]);
    expect(plan.skip).toMatchObject([{ name: "stuck", reason: "deletion-overdue" }]);
    expect(plan.skip[0]?.message).toMatch(/terminating for 120 s, longer than .* 60 s/);
    // Without the option every terminating pod is waited for.
    expect(names(planDrain(pods, {}, now).awaitDeletion)).toEqual(["stuck", "recent"]);
  });

  it("returns an empty plan for a node without pods", () => {
    expect(planDrain([], {}, now)).toEqual({ evict: [], awaitDeletion: [], skip: [] });
  });
});
