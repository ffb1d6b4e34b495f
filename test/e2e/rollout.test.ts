// End to end: the operator as shipped (manifest, real agent / API server / controller processes bound to their pods)
// updates a simulated cluster of 5 Bottlerocket nodes. Each rollout runs on its own control plane, so nothing else
// touches the operator's namespace. The invariants are checked by the oracle (sim/oracle) on every observed change of
// the nodes, pods and hosts, not only at the end.
import { describe, expect, it } from "vitest";
import { nodeOf } from "../../sim/cluster/fleet-observer.ts";
import {
  current,
  eventsOf,
  expectConverged,
  expectNoViolations,
  start,
  stopClustersAfterEach,
  TO,
  until,
  updated,
} from "./support.ts";

stopClustersAfterEach();

describe.each([1, 2])("a rollout of 5 nodes with budget %i", (budget) => {
  it("ends with every node Idle at the new version, uncordoned, workloads Ready; invariants held on every change", async () => {
    const running = await start({ budget });
    const { cluster, observer, oracle } = running;
    const publishedAt = Date.now();
    cluster.publish(TO);
    await until("every node updated", 480_000, () => cluster.nodeNames.every((n) => updated(observer, n)));
    const seconds = (Date.now() - publishedAt) / 1000;
    console.log(
      `budget ${budget}: 5 nodes updated in ${seconds.toFixed(1)} s; at most ${observer.maxOutOfIdle} out of Idle; ` +
        `${observer.evictedPods.size} pods evicted; checked ${observer.checks.shadow} shadow, ${observer.checks.node} ` +
        `node, ${observer.checks.pod} pod changes`,
    );
    await expectConverged(running);
    await expectNoViolations(running);
    expect(observer.maxOutOfIdle).toBe(budget); // the budget was used, never exceeded
    expect(oracle.oracle.maxDisrupted).toBeGreaterThan(0); // the oracle saw the nodes disrupted ...
    expect(oracle.oracle.maxDisrupted).toBeLessThanOrEqual(budget); // ... and never more than the budget
    expect(oracle.oracle.rebootChecks.reboots).toBe(5); // and checked every reboot for pods still bound
    expect(observer.evictedPods.size).toBeGreaterThan(0); // the drains really moved pods
    for (const host of cluster.hosts.values()) expect(host.bootCount).toBe(2); // one reboot each
  }, 600_000);
});

describe("a prepare that fails on one node", () => {
  it("is reported, retried after the crash backoff, and does not hold up the other nodes", async () => {
    // The prepare fault is armed on every host; the first node the controller starts fails, and at that moment the
    // fault is disarmed everywhere else. So the failure comes first, and the other nodes must go on after it.
    const nodeNames = Array.from({ length: 5 }, (_, i) => `bottlerocket-${i + 1}`);
    let failing: string | undefined;
    let failedAt: number | undefined;
    /** The failure as the agent recorded it: its time and the crash count it brought. */
    let failure: { at: string; crashCount: number } | undefined;
    let othersDoneAt: number | undefined;
    const running = await start({
      budget: 1,
      faults: Object.fromEntries(nodeNames.map((n) => [n, ["prepare"]])),
      onChange: () => {
        const now = current();
        if (failing !== undefined || !now) return;
        const s = now.observer
          .shadows()
          .find((x) => x.status?.current_state === "ErrorReset" || (x.status?.crash_count ?? 0) > 0);
        if (!s) return;
        failing = nodeOf(s);
        failedAt = Date.now();
        failure = {
          at: s.status?.state_transition_failure_timestamp ?? "",
          crashCount: s.status?.crash_count ?? 0,
        };
        for (const [name, host] of now.cluster.hosts) if (name !== failing) host.clearFaults();
      },
    });
    const { cluster, observer } = running;
    cluster.publish(TO);
    await until("the first node's failure, then the other nodes updated", 480_000, () => {
      const others = cluster.nodeNames.filter((n) => n !== failing);
      if (failing !== undefined && othersDoneAt === undefined && others.every((n) => updated(observer, n))) {
        othersDoneAt = Date.now();
      }
      return othersDoneAt !== undefined;
    });
    if (failing === undefined || failedAt === undefined || othersDoneAt === undefined || failure === undefined) {
      throw new Error("unreachable");
    }
    const failed = failing;
    expect(othersDoneAt).toBeGreaterThan(failedAt);
    expect(updated(observer, failed)).toBe(false); // still backing off while the others finished
    await until(`${failed} retried and updated`, 300_000, () => updated(observer, failed));
    // The retry came no earlier than the backoff the failure implies. brupop's rule: a node may start again once
    // the whole minutes since its failure exceed 2^failures, i.e. from failure + (2^failures + 1) minutes (3 minutes
    // after one). Measured between the agent's failure timestamp and the retry's UpdateStarted Event, which counts
    // whole seconds (hence the 1 s below); no bound above.
    expect(failure.crashCount).toBe(1);
    const failureAt = Date.parse(failure.at);
    expect(Number.isNaN(failureAt)).toBe(false);
    const reasons = eventsOf(observer, failed).map((e) => e.reason);
    expect(reasons).toContain("UpdateFailed");
    const starts = eventsOf(observer, failed).filter((e) => e.reason === "UpdateStarted");
    expect(starts).toHaveLength(2); // the attempt that failed, and the retry
    const retry = starts[1];
    const retryAt = new Date(retry?.lastTimestamp ?? retry?.firstTimestamp ?? 0).getTime();
    const backoffMs = (2 ** failure.crashCount + 1) * 60_000;
    console.log(
      `prepare failure on ${failed}: the 4 others done ${((othersDoneAt - failedAt) / 1000).toFixed(1)} s after it; ` +
        `retried ${((retryAt - failureAt) / 1000).toFixed(1)} s after it (backoff ${backoffMs / 1000} s)`,
    );
    expect(retryAt).toBeGreaterThanOrEqual(failureAt + backoffMs - 1_000);
    await expectConverged(running);
    await expectNoViolations(running);
  }, 900_000);
});
