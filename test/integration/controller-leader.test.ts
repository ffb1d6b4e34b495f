// Two controller replicas in-process with different identities, mid-rollout. The leader is killed without releasing
// its lease: the standby takes over after the lease expires and finishes the rollout. A replica whose lease is taken
// reports the loss through its injected callback. A leader cut off from the API server (a partition made by a fault
// proxy) reports the loss before the standby leads, and nothing it writes reaches the cluster after that, not even
// once the partition heals: the proxy's log is the outside record of what it sent. The budget holds on every
// observed change throughout. When each happens is read from the Lease itself; how long a failover takes is measured
// by bench/reaction.ts and bench/leader-election.ts.
import { kubeClientOf } from "../../sim/cluster/kube-client.ts";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CoordinationV1Api, type KubeConfig } from "@kubernetes/client-node";
import { eventually, useCluster, type TestCluster } from "../support/cluster.ts";
import { proxyToApiServer, type ProxiedAccess } from "../support/fault-proxy.ts";
import {
  ShadowTimeline,
  installOperatorCrds,
  startAgents,
  type SimulatedAgent,
} from "../../sim/stand-ins/status-agents.ts";
import { testControllerConfig } from "../support/controller-config.ts";
import { brsName } from "../../src/api/constants.ts";
import { microTime } from "../../src/kube/leader-election.ts";
import type { ControllerConfig } from "../../src/controller/config.ts";
import { Controller } from "../../src/controller/controller.ts";

let t: TestCluster;
beforeAll(async () => {
  t = await useCluster(import.meta.url);
  await installOperatorCrds(t.kc);
});
afterAll(() => t.cleanup());

const env = { MAX_CONCURRENT_UPDATE: "2" };

/** Nodes 1.0.0 → 1.1.0 with simulated agents, and a timeline that checks the budget (2) on every change. */
async function rollout(count: number, from: number) {
  const nodes = await t.createNodes(count, { from });
  const observer = new ShadowTimeline(t.kc, t.namespace, 2);
  await observer.start();
  const agents: SimulatedAgent[] = await startAgents(nodes, {
    kc: t.kc,
    core: t.core,
    namespace: t.namespace,
    currentVersion: "1.0.0",
    targetVersion: "1.1.0",
    stepDelayMs: [100, 500],
  });
  return {
    nodes,
    observer,
    stop: () => Promise.allSettled([observer.stop(), ...agents.map((x) => x.stop())]),
    done: () =>
      eventually(
        "all nodes updated",
        async () =>
          nodes.every((n) => {
            const s = observer.get(brsName(n));
            return (
              s?.status?.current_version === "1.1.0" && s.status.current_state === "Idle" && s.spec.state === "Idle"
            );
          })
            ? true
            : undefined,
        60_000,
      ),
  };
}

function replicas(lost: { identity: string; at: number }[], overrides: Partial<ControllerConfig> = {}) {
  return (identity: string, kc: KubeConfig = t.kc) =>
    new Controller({
      client: kubeClientOf(kc),
      config: testControllerConfig(t, identity, env, overrides),
      onLeadershipLost: () => lost.push({ identity, at: Date.now() }),
      serveHttp: false,
    });
}

describe("controller leader election", () => {
  const lost: { identity: string; at: number }[] = [];
  const replica = replicas(lost);
  let a: Controller | undefined;
  let b: Controller | undefined;
  let run: Awaited<ReturnType<typeof rollout>> | undefined;

  afterAll(async () => {
    await Promise.allSettled([a?.stop(), b?.stop(), run?.stop()]);
  });

  it("replaces a leader killed mid-rollout, and the budget holds across the change", async () => {
    run = await rollout(8, 0);
    const { observer } = run;
    a = replica("replica-a");
    b = replica("replica-b");
    await a.start();
    await a.whenLeading();
    await b.start(); // standby: caches warm, no workers
    expect(b.isLeader).toBe(false);

    await eventually("some nodes started", async () => (observer.starts.length >= 3 ? true : undefined), 30_000);
    await a.kill(); // as a crash: no lease release
    expect(observer.active()).toBeGreaterThan(0); // really mid-rollout
    const leases = t.kc.makeApiClient(CoordinationV1Api);
    const lease = () => leases.readNamespacedLease({ name: "brupop-controller-leader", namespace: t.namespace });
    const lastRenewed = (await lease()).spec; // the dead leader's last renewal: nobody renews it any more
    expect(lastRenewed?.holderIdentity).toBe("replica-a");

    await b.whenLeading();
    // It waited for the lease to expire: it took it no earlier than the last renewal plus the lease's duration.
    const taken = (await lease()).spec;
    expect(taken?.holderIdentity).toBe("replica-b");
    expect(taken?.leaseTransitions).toBe((lastRenewed?.leaseTransitions ?? 0) + 1);
    expect(Date.parse(String(taken?.acquireTime))).toBeGreaterThanOrEqual(
      Date.parse(String(lastRenewed?.renewTime)) + (lastRenewed?.leaseDurationSeconds ?? 0) * 1000,
    );

    await run.done();
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
        spec: {
          ...lease.spec,
          holderIdentity: "intruder",
          renewTime: microTime(takenAt) as unknown as Date,
          leaseDurationSeconds: 60,
        },
      },
    });
    await eventually("loss reported", async () => (lost.length > 0 ? true : undefined), 30_000);
    expect(lost).toEqual([{ identity: "replica-b", at: expect.any(Number) as number }]);
    // Noticed while the intruder's lease was still valid: by failing to renew, not by waiting for it to expire.
    expect(lost[0]?.at ?? Infinity).toBeLessThan(takenAt.getTime() + 60_000);
    expect(b?.isLeader).toBe(false);
    // It stopped competing: the intruder still holds the lease.
    expect(
      (await api.readNamespacedLease({ name: "brupop-controller-leader", namespace: t.namespace })).spec,
    ).toMatchObject({ holderIdentity: "intruder" });
  });
});

describe("a leader cut off from the API server", () => {
  const lost: { identity: string; at: number }[] = [];
  // A lease of its own: the one above is held by the intruder.
  const replica = replicas(lost, {
    lease: { name: "partition", durationMs: 3000, renewDeadlineMs: 2000, retryPeriodMs: 500, renewPeriodMs: 500 },
  });
  let a: Controller | undefined;
  let b: Controller | undefined;
  let run: Awaited<ReturnType<typeof rollout>> | undefined;
  let access: ProxiedAccess | undefined;

  afterAll(async () => {
    access?.proxy.heal();
    await Promise.allSettled([a?.stop(), b?.stop(), run?.stop()]);
    await access?.proxy.stop();
  });

  it("stops acting before the standby takes over, and writes nothing once the partition heals", async () => {
    run = await rollout(6, 8);
    const { observer } = run;
    access = await proxyToApiServer(t, { asAdmin: true });
    a = replica("replica-a", access.kc);
    b = replica("replica-b");
    await a.start();
    await a.whenLeading();
    await b.start();
    await eventually("some nodes started", async () => (observer.starts.length >= 2 ? true : undefined), 30_000);

    access.proxy.partition(); // a's requests are accepted and never answered; its watches go silent
    await b.whenLeading();
    const bLeadsAt = Date.now();
    expect(lost.map((l) => l.identity)).toEqual(["replica-a"]);
    expect(lost[0]?.at ?? Infinity).toBeLessThan(bLeadsAt);
    expect(a.isLeader).toBe(false);

    access.proxy.heal(); // a's network is back: whatever it still sends now reaches the server
    await run.done();
    expect(observer.violations).toEqual([]);
    // The state a's decisions write: shadows, the policy status, the lease. (Events only explain; one sent before
    // the loss may still arrive after it.)
    const lostAt = lost[0]?.at ?? 0;
    const writes = access.proxy.log.filter(
      (r) => r.method !== "GET" && /\/(bottlerocketshadows|bottlerocketupdatepolicies|leases)\//.test(r.url),
    );
    expect(writes.length).toBeGreaterThan(0); // a did write while it led
    expect(writes.filter((w) => w.at >= lostAt)).toEqual([]); // nothing sent after the loss...
    expect(writes.filter((w) => w.fate === "forwarded-late")).toEqual([]); // ...nor delivered from the partition
  });
});
