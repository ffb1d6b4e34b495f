// End to end: canaries and soak (policy spec.canary) and the version pin (spec.maxVersion). What the tests check is
// what happened to the nodes, seen from outside the controller (tests/e2e/timeline.ts): each host's update steps and
// reboots, each cordon. The invariant oracle (sim/oracle) watches throughout; while nodes are held on purpose (a
// failed canary, a pinned version) it is told, as for a closed update window, that no update may start (I5).
import { describe, expect, it } from "vitest";
import { setTimeout as sleep } from "node:timers/promises";
import type { UpdatePolicyStatus } from "../../src/api/update-policy.ts";
import { setUpdatePolicy } from "../../sim/cluster/update-policy.ts";
import { BRUPOP, run, userEnv } from "./run-command.ts";
import {
  current,
  expectConverged,
  expectNoViolations,
  leaderMetrics,
  metricSamples,
  policyStatus,
  settled,
  start,
  stopClustersAfterEach,
  TO,
  until,
  updated,
  type Running,
} from "./support.ts";
import { Timeline } from "./timeline.ts";

stopClustersAfterEach();

const CANARY_LABEL = "example.com/canary";
const CANARY = { [CANARY_LABEL]: "true" };

async function brupop({ cluster }: Running, ...args: string[]): Promise<string> {
  const done = await run(BRUPOP, [...args, "-n", cluster.namespace], {
    env: userEnv({ KUBECONFIG: cluster.cp.kubeconfigPath, NO_COLOR: "1" }),
    timeoutMs: 60_000,
  });
  expect(done.code, `brupop ${args.join(" ")}: ${done.stderr}`).toBe(0);
  return done.stdout;
}

/** Starts a cluster whose `canaries` carry the canary label, with a Timeline fed from the hosts and the observer. */
async function startWithCanaries(
  nodes: number,
  canaries: readonly string[],
  options: { budget: number; controllerEnv?: Record<string, string> },
): Promise<{ running: Running; timeline: Timeline }> {
  const timeline = new Timeline();
  const running = await start({
    nodes,
    budget: options.budget,
    labelsOf: (node): Record<string, string> => (canaries.includes(node) ? CANARY : {}),
    ...(options.controllerEnv === undefined ? {} : { env: { controller: options.controllerEnv } }),
    onChange: () => {
      const now = current();
      if (now) timeline.observe(now);
    },
  });
  timeline.watchHosts(running.cluster);
  return { running, timeline };
}

async function applyPolicy(running: Running, spec: Parameters<typeof setUpdatePolicy>[2]): Promise<void> {
  const { cluster } = running;
  const generation = await setUpdatePolicy(cluster.kc, cluster.namespace, spec);
  const acted = await policyStatus(cluster.kc, cluster.namespace, "the controller acted on the policy", (s) => {
    return (s.observedGeneration ?? 0) >= generation;
  });
  expect(acted.errors ?? []).toEqual([]);
}

/** The time another replica than `killed` is first seen holding the lease (bounded: two minutes). */
async function newLeader({ cluster }: Running, killed: string): Promise<number> {
  const deadline = Date.now() + 120_000;
  for (;;) {
    const leader = await cluster.controllerLeader().catch(() => undefined);
    if (leader !== undefined && leader !== killed) return Date.now();
    if (Date.now() > deadline) throw new Error(`no controller took over from ${killed} within 2 minutes`);
    await sleep(100);
  }
}

const phase = (s: UpdatePolicyStatus, version = TO) => s.canary?.rollouts.find((r) => r.version === version)?.phase;
/** The phase brupop_canary_phase{version} says (the one series at 1) on a /metrics text. */
const phaseOnMetrics = (text: string, version = TO) =>
  metricSamples(text, "brupop_canary_phase")
    .filter((s) => s.labels.version === version && s.value === 1)
    .map((s) => s.labels.phase)
    .join(",");
const policyEvent = (running: Running, reason: string) =>
  running.observer.events().filter((e) => e.reason === reason && e.involvedObject.kind === "BottlerocketUpdatePolicy");

describe("canaries and soak (spec.canary)", () => {
  const SOAK_S = 30;

  it("the canaries go first; the others wait for the soak, which a leader killed mid-soak neither restarts nor skips", async () => {
    const canaries = ["bottlerocket-1", "bottlerocket-2"];
    const { running, timeline } = await startWithCanaries(5, canaries, {
      budget: 2,
      // A new leader within seconds, so that it takes over well inside the soak.
      controllerEnv: {
        LEADER_ELECTION_LEASE_DURATION: "8s",
        LEADER_ELECTION_RENEW_DEADLINE: "6s",
        LEADER_ELECTION_RETRY_PERIOD: "1s",
      },
    });
    const { cluster, observer } = running;
    const others = cluster.nodeNames.filter((n) => !canaries.includes(n));
    await applyPolicy(running, {
      maxConcurrentUpdates: 2,
      canary: { selector: { matchLabels: CANARY }, soak: `${SOAK_S}s` },
    });

    cluster.publish(TO);
    // The soak has begun (the controller says so); the leader is killed at once and kept down, so that the other
    // replica takes over and decides the end.
    const soaking = await policyStatus(
      cluster.kc,
      cluster.namespace,
      "the canaries soaking",
      (s) => {
        const early = others.filter((n) => timeline.firstDisruption(n) !== undefined);
        if (early.length > 0) throw new Error(`disrupted before the canaries' soak: ${early.join(", ")}`);
        return phase(s) === "Soaking";
      },
      300_000,
    );
    // As Prometheus scrapes it: the leader's gauges (set in the pass that wrote this status) say Soaking, and the
    // soak's end the status shows.
    const soakEndsAt = Date.parse(soaking.canary?.rollouts.find((r) => r.version === TO)?.soakEndsAt ?? "");
    expect(soakEndsAt).toBeGreaterThan(Date.now());
    await leaderMetrics(running, "the leader's /metrics shows the soak", (text) => {
      const [end] = metricSamples(text, "brupop_canary_soak_end_timestamp_seconds").filter(
        (s) => s.labels.version === TO,
      );
      return phaseOnMetrics(text) === "Soaking" && end !== undefined && Math.abs(end.value * 1000 - soakEndsAt) < 1000;
    });
    const killed = await cluster.controllerLeader();
    if (killed === undefined || cluster.runners.controller.crash(killed, 120_000) === undefined) {
      throw new Error(`no running controller leader to kill (${killed ?? "none"})`);
    }
    const killedAt = Date.now();
    // When another replica is first seen holding the lease (polled from the API server, not asked of the controller).
    const takeover = newLeader(running, killed);
    for (const c of canaries) expect(settled(observer, c), c).toBe(true);
    for (const n of others) expect(timeline.firstDisruption(n), n).toBeUndefined();
    expect(soaking.canary).toMatchObject({ canaryNodes: 2, nodes: canaries, soak: `${SOAK_S}s` });

    // Seen by a person meanwhile: brupop status's Canary line, a node's reason.
    const status = await brupop(running, "status");
    expect(status).toMatch(
      new RegExp(
        `Canary\\s+2 nodes \\(${CANARY_LABEL}=true\\), soak ${SOAK_S}s: ${TO.replaceAll(".", "\\.")} Soaking until`,
      ),
    );
    expect(status.split("\n").find((l) => l.startsWith(others[0] ?? "?"))).toMatch(/soaking \(1\.26\.0, ends in /);

    const takeoverAt = await takeover;
    await until("every node updated", 600_000, () => cluster.nodeNames.every((n) => updated(observer, n)));

    // What happened, from the hosts and Nodes: the canaries' last reboots, then nothing of the others for the soak.
    const canariesRebooted = Math.max(...canaries.map((c) => timeline.lastReboot(c) ?? Infinity));
    const othersFirst = Math.min(...others.map((n) => timeline.firstDisruption(n) ?? Infinity));
    expect(Number.isFinite(canariesRebooted) && Number.isFinite(othersFirst)).toBe(true);
    console.log(
      `canaries rebooted by +0 s; leader killed at +${((killedAt - canariesRebooted) / 1000).toFixed(1)} s, ` +
        `successor from +${((takeoverAt - canariesRebooted) / 1000).toFixed(1)} s; first other node disrupted at ` +
        `+${((othersFirst - canariesRebooted) / 1000).toFixed(1)} s (soak ${SOAK_S} s)`,
    );
    // Not skipped: no other node was touched before the soak could have ended.
    expect(othersFirst - canariesRebooted).toBeGreaterThanOrEqual(SOAK_S * 1000);
    // The successor ended the soak (it led before any other node started) ...
    expect(takeoverAt).toBeLessThan(othersFirst);
    // ... and did not restart it: the others started before a soak counted from its takeover would have ended.
    expect(othersFirst).toBeLessThan(takeoverAt + SOAK_S * 1000);

    expect(policyEvent(running, "SoakStarted").length).toBeGreaterThan(0);
    expect(policyEvent(running, "SoakPassed").length).toBeGreaterThan(0);
    expect(observer.events().some((e) => e.reason === "Soaking" && e.message?.includes("soaking for"))).toBe(true);
    const done = await policyStatus(cluster.kc, cluster.namespace, "the rollout passed", (s) => phase(s) !== "Soaking");
    expect(done.canary?.canaryNodes).toBe(2);
    await expectConverged(running);
    await expectNoViolations(running);
  }, 900_000);

  it("a canary that fails keeps the others from starting, until it runs the version healthy", async () => {
    const canary = "bottlerocket-1";
    const { running, timeline } = await startWithCanaries(4, [canary], {
      budget: 2,
      // The failed canary stays failed (quarantined) until a person looks; released, it retries after a short
      // backoff (3 units after one failure), which holds the others too.
      controllerEnv: { QUARANTINE_AFTER_FAILURES: "1", FAILURE_BACKOFF_UNIT: "2s" },
    });
    const { cluster, observer, oracle } = running;
    const others = cluster.nodeNames.filter((n) => n !== canary);
    await applyPolicy(running, {
      maxConcurrentUpdates: 2,
      canary: { selector: { matchLabels: CANARY }, soak: "5s" },
    });
    cluster.hosts.get(canary)?.inject("prepare"); // once: its first attempt fails at prepare

    cluster.publish(TO);
    const failed = await policyStatus(
      cluster.kc,
      cluster.namespace,
      "the canary failed, the others held back by it",
      (s) => phase(s) === "Failed" && s.updating === 0 && (s.blocked?.["canary-failed"] ?? 0) === others.length,
      300_000,
    );
    // From here until the canary is released the oracle holds the fleet to "no update starts" (I5).
    const hold = { closedFrom: Date.now(), closedUntil: Infinity };
    oracle.oracle.schedule((t) => t < hold.closedFrom || t >= hold.closedUntil);
    expect(failed.canary?.rollouts[0]?.message).toMatch(new RegExp(`^canary ${canary} failed updating to 1\\.26\\.0`));
    expect(failed.blockedNodes?.filter((b) => b.reason === "canary-failed").map((b) => b.node)).toEqual(others);
    await leaderMetrics(running, "the leader's /metrics shows the canary failed", (text) => {
      const soakEnds = metricSamples(text, "brupop_canary_soak_end_timestamp_seconds");
      return phaseOnMetrics(text) === "Failed" && soakEnds.length === 0;
    });
    await until("a CanaryFailed Event on the policy and on every other node", 30_000, () => {
      const events = observer.events().filter((e) => e.reason === "CanaryFailed");
      return (
        events.some((e) => e.involvedObject.kind === "BottlerocketUpdatePolicy" && e.type === "Warning") &&
        others.every((n) => events.some((e) => e.involvedObject.name === `brs-${n}`))
      );
    });
    const explained = await brupop(running, "explain", others[0] ?? "");
    expect(explained).toMatch(new RegExp(`canary ${canary} failed updating to 1\\.26\\.0`));
    expect(explained).toContain("brupop unquarantine");
    // Nothing of the others was touched: no host step, reboot or cordon.
    await observer.settled();
    for (const n of others) expect(timeline.firstDisruption(n), n).toBeUndefined();
    expect(cluster.hosts.get(canary)?.runningVersion).not.toBe(TO);

    // A person looks and lets the canary retry: it updates, soaks, and only then do the others go.
    const releasedAt = Date.now();
    hold.closedUntil = releasedAt;
    await brupop(running, "unquarantine", canary);
    await until("every node updated", 600_000, () => cluster.nodeNames.every((n) => updated(observer, n)));
    const canaryRebooted = timeline.lastReboot(canary) ?? Infinity;
    const othersFirst = Math.min(...others.map((n) => timeline.firstDisruption(n) ?? Infinity));
    expect(canaryRebooted).toBeGreaterThan(releasedAt);
    expect(othersFirst - canaryRebooted).toBeGreaterThanOrEqual(5_000);
    await expectConverged(running);
    await expectNoViolations(running);
  }, 900_000);
});

describe("the version pin (spec.maxVersion)", () => {
  const NEWER = "1.27.0";

  it("no node goes past the pin while a newer version is offered; raising the pin lets them go", async () => {
    const { running, timeline } = await startWithCanaries(3, [], { budget: 3 });
    const { cluster, observer, oracle } = running;
    await applyPolicy(running, { maxConcurrentUpdates: "unlimited", maxVersion: TO });

    // The pin itself is installed.
    cluster.publish(TO);
    await until(`every node at ${TO}`, 600_000, () => cluster.nodeNames.every((n) => updated(observer, n)));

    // A newer version, past the pin: every host offers it, no node installs it.
    const offeredAt = Date.now();
    cluster.publish(NEWER);
    const hold = { closedFrom: offeredAt, closedUntil: Infinity };
    oracle.oracle.schedule((t) => t < hold.closedFrom || t >= hold.closedUntil);
    const pinned = await policyStatus(
      cluster.kc,
      cluster.namespace,
      "every node held by the pin",
      (s) => (s.blocked?.["version-pinned"] ?? 0) === cluster.nodeNames.length,
      300_000,
    );
    expect(pinned.maxVersion).toBe(TO);
    expect(pinned.blockedNodes?.[0]?.message).toMatch(
      new RegExp(`^offered ${NEWER.replaceAll(".", "\\.")}, past spec.maxVersion`),
    );
    await until("a VersionPinned Event on every node", 30_000, () =>
      cluster.nodeNames.every((n) =>
        observer.events().some((e) => e.reason === "VersionPinned" && e.involvedObject.name === `brs-${n}`),
      ),
    );
    const status = await brupop(running, "status");
    expect(status).toContain(`Pin       no node is started past ${TO} (spec.maxVersion)`);
    await observer.settled();
    for (const [name, host] of cluster.hosts) expect(host.runningVersion, name).toBe(TO);
    const raisedAt = Date.now();
    expect(timeline.disruptedAfter(offeredAt, raisedAt)).toEqual([]);

    // Raised: they update.
    hold.closedUntil = raisedAt;
    await applyPolicy(running, { maxConcurrentUpdates: "unlimited", maxVersion: NEWER });
    await until(`every node at ${NEWER}`, 600_000, () => cluster.nodeNames.every((n) => settled(observer, n, NEWER)));
    await expectConverged(running, () => NEWER);
    await expectNoViolations(running);
  }, 900_000);
});
