// A controller replica cut off from the API server mid-rollout (a partition between it and kube-apiserver, made by
// a fault proxy) must stop acting before the standby can take over: it reports the lost lease before the standby
// leads, and nothing it writes reaches the cluster after that, not even once the partition heals. The proxy's log is
// the outside record of what the replica sent; the standby finishes the rollout within the budget.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { eventually, useCluster, type TestCluster } from "../support/cluster.ts";
import { proxyToApiServer, type ProxiedAccess } from "../support/fault-proxy.ts";
import { testControllerConfig } from "../support/controller-config.ts";
import {
  ShadowTimeline,
  installOperatorCrds,
  startAgents,
  type SimulatedAgent,
} from "../../sim/stand-ins/status-agents.ts";
import { brsName } from "../../src/api/constants.ts";
import { Controller } from "../../src/controller/controller.ts";

let t: TestCluster;
beforeAll(async () => {
  t = await useCluster(import.meta.url);
  await installOperatorCrds(t.kc);
});
afterAll(() => t.cleanup());

describe("a leader cut off from the API server", () => {
  const lost: { identity: string; at: number }[] = [];
  const env = { MAX_CONCURRENT_UPDATE: "2" };
  let a: Controller | undefined;
  let b: Controller | undefined;
  let observer: ShadowTimeline | undefined;
  let agents: SimulatedAgent[] = [];
  let access: ProxiedAccess | undefined;

  afterAll(async () => {
    access?.proxy.heal();
    await Promise.allSettled([a?.stop(), b?.stop(), observer?.stop(), ...agents.map((x) => x.stop())]);
    await access?.proxy.stop();
  });

  it("stops acting before the standby takes over, and writes nothing once the partition heals", async () => {
    const nodes = await t.createNodes(6);
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
    access = await proxyToApiServer(t, { asAdmin: true });
    const replica = (identity: string, kc = t.kc) =>
      new Controller({
        kc,
        config: testControllerConfig(t, identity, env),
        onLeadershipLost: () => lost.push({ identity, at: Date.now() }),
        serveHttp: false,
      });
    a = replica("replica-a", access.kc);
    b = replica("replica-b");
    await a.start();
    await a.whenLeading();
    await b.start();
    await eventually("some nodes started", async () => ((observer?.starts.length ?? 0) >= 2 ? true : undefined));

    access.proxy.partition(); // a's requests are accepted and never answered; its watches go silent
    await b.whenLeading();
    const bLeadsAt = Date.now();
    expect(lost.map((l) => l.identity)).toEqual(["replica-a"]);
    expect(lost[0]?.at ?? Infinity).toBeLessThan(bLeadsAt);
    expect(a.isLeader).toBe(false);

    access.proxy.heal(); // a's network is back: whatever it still sends now reaches the server
    await eventually(
      "all nodes updated",
      async () =>
        nodes.every((n) => {
          const s = observer?.get(brsName(n));
          return s?.status?.current_version === "1.1.0" && s.status.current_state === "Idle" && s.spec.state === "Idle";
        })
          ? true
          : undefined,
      60_000,
    );
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
