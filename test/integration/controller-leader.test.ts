// Two controller replicas in-process with different identities: the leader is killed mid-rollout without releasing
// its lease, the standby takes over after the lease expires and finishes the rollout, and the budget holds on every
// observed change throughout. A replica whose lease is taken reports the loss through its injected callback.
// When each happens is read from the Lease itself; how long a failover takes is measured by bench/reaction.ts.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoordinationV1Api } from "@kubernetes/client-node";
import { eventually, useCluster, type TestCluster } from "../support/cluster.ts";
import {
  ShadowTimeline,
  installOperatorCrds,
  startAgents,
  type SimulatedAgent,
} from "../../sim/stand-ins/status-agents.ts";
import { testControllerConfig } from "../support/controller-config.ts";
import { brsName } from "../../src/api/constants.ts";
import { microTime } from "../../src/kube/leader-election.ts";
import { Controller } from "../../src/controller/controller.ts";

let t: TestCluster;
beforeAll(async () => {
  t = await useCluster(import.meta.url);
  await installOperatorCrds(t.kc);
});
afterAll(() => t.cleanup());

describe("controller leader election", () => {
  const lost: { identity: string; at: number }[] = [];
  let a: Controller;
  let b: Controller;
  let observer: ShadowTimeline;
  let agents: SimulatedAgent[] = [];
  const env = { MAX_CONCURRENT_UPDATE: "2" };
  const replica = (identity: string) =>
    new Controller({
      kc: t.kc,
      config: testControllerConfig(t, identity, env),
      onLeadershipLost: () => lost.push({ identity, at: Date.now() }),
    });

  afterAll(async () => {
    await Promise.allSettled([a.stop(), b.stop(), observer.stop(), ...agents.map((x) => x.stop())]);
  });

  it("replaces a leader killed mid-rollout, and the budget holds across the change", async () => {
    const nodes = await t.createNodes(8);
    observer = new ShadowTimeline(t.kc, t.namespace, 2);
    await observer.start();
    agents = await startAgents(nodes, {
      kc: t.kc,
      core: t.core,
      namespace: t.namespace,
      currentVersion: "1.0.0",
      targetVersion: "1.1.0",
      stepDelayMs: [100, 500],
    });
    a = replica("replica-a");
    b = replica("replica-b");
    await a.start();
    await a.whenLeading();
    await b.start(); // standby: caches warm, no workers
    expect(b.isLeader).toBe(false);

    await eventually("some nodes started", async () => (observer.starts.length >= 3 ? true : undefined), 30_000);
    const killedAt = Date.now();
    await a.kill(); // as a crash: no lease release
    expect(observer.active()).toBeGreaterThan(0); // really mid-rollout
    const leases = t.kc.makeApiClient(CoordinationV1Api);
    const lease = () => leases.readNamespacedLease({ name: "brupop-controller-leader", namespace: t.namespace });
    const lastRenewed = (await lease()).spec; // the dead leader's last renewal: nobody renews it any more
    expect(lastRenewed?.holderIdentity).toBe("replica-a");

    await b.whenLeading();
    console.log(`standby took over ${Date.now() - killedAt} ms after the leader was killed (lease 3 s)`);
    // It waited for the lease to expire: it took it no earlier than the last renewal plus the lease's duration.
    const taken = (await lease()).spec;
    expect(taken?.holderIdentity).toBe("replica-b");
    expect(taken?.leaseTransitions).toBe((lastRenewed?.leaseTransitions ?? 0) + 1);
    expect(Date.parse(String(taken?.acquireTime))).toBeGreaterThanOrEqual(
      Date.parse(String(lastRenewed?.renewTime)) + (lastRenewed?.leaseDurationSeconds ?? 0) * 1000,
    );

    await eventually(
      "all nodes updated",
      async () =>
        nodes.every((n) => {
          const s = observer.get(brsName(n));
          return s?.status?.current_version === "1.1.0" && s.status.current_state === "Idle" && s.spec.state === "Idle";
        })
          ? true
          : undefined,
      60_000,
    );
    expect(observer.violations).toEqual([]);
    expect(observer.maxActive).toBe(2);
    expect(observer.starts).toHaveLength(8); // no node started twice
    expect(lost).toEqual([]); // killed, not deposed: nobody reported a loss

    expect((await lease()).spec?.holderIdentity).toBe("replica-b");
  });

  it("calls onLeadershipLost and stops acting when another holder takes the lease", async () => {
    const api = t.kc.makeApiClient(CoordinationV1Api);
    const lease = await api.readNamespacedLease({ name: "brupop-controller-leader", namespace: t.namespace });
    const takenAt = new Date();
    await api.replaceNamespacedLease({
      name: "brupop-controller-leader",
      namespace: t.namespace,
      body: {
        ...lease,
        spec: { ...lease.spec, holderIdentity: "intruder", renewTime: microTime(takenAt), leaseDurationSeconds: 60 },
      },
    });
    await eventually("loss reported", async () => (lost.length > 0 ? true : undefined), 30_000);
    expect(lost).toEqual([{ identity: "replica-b", at: expect.any(Number) as number }]);
    // Noticed while the intruder's lease was still valid: by failing to renew, not by waiting for it to expire.
    expect(lost[0]?.at ?? Infinity).toBeLessThan(takenAt.getTime() + 60_000);
    expect(b.isLeader).toBe(false);
    // It stopped competing: the intruder still holds the lease.
    expect(
      (await api.readNamespacedLease({ name: "brupop-controller-leader", namespace: t.namespace })).spec,
    ).toMatchObject({ holderIdentity: "intruder" });
  });
});
