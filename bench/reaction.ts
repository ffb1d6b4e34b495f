// How fast the controller reacts: to a pause and a resume of the fleet policy, to its leader being killed (the
// standby takes over once the lease expires), and to its lease being taken (it stops). The integration tests assert
// that each happens (test/integration/controller-policy.test.ts, controller-leader.test.ts); how long it takes is
// measured here, against the bounds those tests used to assert.
//
// Stand-in agents (300 ms per step) under a policy budget of 1; the controller runs as its own process
// (node src/controller/main.ts), two of them for the failovers, with a short lease (3 s, renew deadline 2 s, retry 1 s: the environment takes whole seconds).
//
//   node bench/reaction.ts [--rounds 5] [--failovers 3]
import { kubeClientOf } from "../sim/cluster/kube-client.ts";
import { parseArgs } from "node:util";
import { CoordinationV1Api } from "@kubernetes/client-node";
import { API_GROUP } from "../src/api/constants.ts";
import type { BottlerocketUpdatePolicy, UpdatePolicyResourceSpec } from "../src/api/update-policy.ts";
import { UPDATE_POLICY_PLURAL, UPDATE_POLICY_VERSION } from "../src/api/update-policy-names.ts";
import { SupervisedInformer } from "../src/kube/informer.ts";
import { microTime } from "../src/kube/leader-election.ts";
import { setUpdatePolicy } from "../sim/cluster/update-policy.ts";
import { ShadowTimeline } from "../sim/stand-ins/status-agents.ts";
import {
  createNodes,
  environment,
  log,
  percentile,
  report,
  round,
  startBenchCluster,
  startControllerProcess,
  StandInAgents,
  waitUntil,
  type ControllerProcess,
  type Goal,
} from "./lib.ts";

const { values } = parseArgs({
  options: { rounds: { type: "string", default: "5" }, failovers: { type: "string", default: "3" } },
});
const rounds = Number(values.rounds);
const failovers = Number(values.failovers);
const PREFIX = "reaction";
const STEP_MS = 300;
const LEASE = {
  LEADER_ELECTION_LEASE_DURATION: "3s",
  LEADER_ELECTION_RENEW_DEADLINE: "2s",
  LEADER_ELECTION_RETRY_PERIOD: "1s",
};
const LEASE_NAME = "brupop-controller-leader";
const RESUME_GOAL_MS = 1_000;
const PAUSE_GOAL_MS = 1_000;
const TAKEOVER_GOAL_MS = 8_000;
const LOSS_GOAL_MS = 4_000;

interface Stat {
  n: number;
  p50: number;
  max: number;
}
const stat = (ms: readonly number[]): Stat => ({
  n: ms.length,
  p50: round(percentile(ms, 0.5)),
  max: ms.length === 0 ? NaN : round(Math.max(...ms)),
});

const cluster = await startBenchCluster();

const setPolicy = (spec: UpdatePolicyResourceSpec): Promise<number> =>
  setUpdatePolicy(cluster.kc, cluster.namespace, spec);

/** When a watch first delivered a policy status naming each generation as paused or not. */
const seenStatus = new Map<string, number>();
const policies = new SupervisedInformer<BottlerocketUpdatePolicy>({
  name: "bench policy",
  client: kubeClientOf(cluster.kc),
  path: `/apis/${API_GROUP}/${UPDATE_POLICY_VERSION}/namespaces/${cluster.namespace}/${UPDATE_POLICY_PLURAL}`,
  onChange: (_kind, policy) => {
    const status = policy.status;
    if (status?.observedGeneration === undefined) return;
    const key = `${status.observedGeneration}/${String(status.paused)}`;
    if (!seenStatus.has(key)) seenStatus.set(key, Date.now());
  },
});

/** ms from `since` until the controller's policy status named `generation` with `paused`, as a watch saw it. */
async function acknowledged(generation: number, paused: boolean, since: number): Promise<number> {
  const key = `${generation}/${String(paused)}`;
  await waitUntil(`policy generation ${key} acknowledged`, () => seenStatus.has(key), 30_000, 5);
  return (seenStatus.get(key) ?? NaN) - since;
}

const pauseAckMs: number[] = [];
const resumeToStartMs: number[] = [];
const resumeToDecisionMs: number[] = [];
/** Starts decided after a pause was written: ms from the pause to each decision. */
const startsAfterPauseMs: number[] = [];
const takeoverMs: number[] = [];
const lossMs: number[] = [];
const controllers: ControllerProcess[] = [];
// One node per round; a failover takes several seconds while the rollout goes on (about a node a second).
const nodes = rounds + 2 + failovers * 12;
const agents = new StandInAgents(cluster.kc, cluster.namespace, {
  StagedAndPerformedUpdate: STEP_MS,
  RebootedIntoUpdate: STEP_MS,
  MonitoringUpdate: STEP_MS,
});
const observer = new ShadowTimeline(cluster.kc, cluster.namespace, 1);
try {
  const names = await createNodes(cluster.core, PREFIX, nodes, "1.0.0");
  await observer.start();
  await policies.start();
  await agents.register(cluster.core, names, "1.0.0", "2.0.0");
  await waitUntil("stand-ins registered", () => observer.shadows().length === nodes, 30_000);
  await setPolicy({ maxConcurrentUpdates: 1 });
  const env = { ...LEASE };
  let leader = await startControllerProcess(cluster, env, PREFIX, { identity: "replica-0" });
  controllers.push(leader);

  // Pause and resume, once per round: pause while a node is in flight, resume once it finished.
  for (let i = 0; i < rounds; i++) {
    await waitUntil("a node in flight", () => observer.active() > 0, 30_000, 5);
    const pausedAt = Date.now();
    const ack = await acknowledged(await setPolicy({ maxConcurrentUpdates: 1, paused: true }), true, pausedAt);
    pauseAckMs.push(ack);
    await waitUntil("nothing in flight", () => observer.active() === 0, 30_000, 5);
    for (const start of observer.starts) {
      const after = Date.parse(start.decidedAt ?? "") - pausedAt;
      if (after > 0) startsAfterPauseMs.push(after);
    }
    const before = observer.starts.length;
    const resumedAt = Date.now();
    await setPolicy({ maxConcurrentUpdates: 1, paused: false });
    await waitUntil("a start after the resume", () => observer.starts.length > before, 30_000, 5);
    const first = observer.starts[before];
    resumeToStartMs.push((first?.at ?? NaN) - resumedAt);
    resumeToDecisionMs.push(Date.parse(first?.decidedAt ?? "") - resumedAt);
    log(
      `reaction: round ${i + 1}: pause acknowledged in ${ack} ms; first start ${resumeToStartMs.at(-1)} ms after resume`,
    );
  }

  // Failovers: a standby takes over from a killed leader; then its lease is taken and it stops.
  const leases = cluster.kc.makeApiClient(CoordinationV1Api);
  for (let i = 0; i < failovers; i++) {
    const standby = await startControllerProcess(cluster, env, PREFIX, {
      identity: `replica-${i + 1}`,
      until: "serving",
    });
    controllers.push(standby);
    await waitUntil("a node in flight", () => observer.active() > 0, 30_000, 5);
    const killedAt = Date.now();
    leader.child.kill("SIGKILL"); // a crash: the lease is not released
    await leader.exited;
    for (;;) {
      if (await standby.leading()) break;
      if (Date.now() - killedAt > 60_000) throw new Error("the standby did not take over within 60 s");
      await new Promise((r) => setTimeout(r, 10));
    }
    takeoverMs.push(Date.now() - killedAt);
    leader = standby;
    // Another holder takes the lease: the leader must notice and exit (a new standby is started next round).
    const next = await startControllerProcess(cluster, env, PREFIX, {
      identity: `replica-${i + 1}b`,
      until: "serving",
    });
    controllers.push(next);
    const lease = await leases.readNamespacedLease({ name: LEASE_NAME, namespace: cluster.namespace });
    const takenAt = Date.now();
    await leases.replaceNamespacedLease({
      name: LEASE_NAME,
      namespace: cluster.namespace,
      body: {
        ...lease,
        spec: {
          ...lease.spec,
          holderIdentity: "intruder",
          renewTime: microTime(new Date()) as unknown as Date,
          leaseDurationSeconds: 3,
        },
      },
    });
    const code = await leader.exited;
    lossMs.push(Date.now() - takenAt);
    if (code !== 1) throw new Error(`the deposed leader exited with ${String(code)}, expected 1`);
    for (;;) {
      if (await next.leading()) break;
      if (Date.now() - takenAt > 60_000) throw new Error("no replica took the lease back within 60 s");
      await new Promise((r) => setTimeout(r, 10));
    }
    leader = next;
    log(
      `reaction: failover ${i + 1}: standby leading ${takeoverMs.at(-1)} ms after the kill; lease loss noticed in ${lossMs.at(-1)} ms`,
    );
  }
} finally {
  for (const c of controllers) await c.stop();
  await agents.stop();
  await observer.stop();
  await policies.stop();
  await cluster.stop();
}

const pause = stat(pauseAckMs);
const resume = stat(resumeToStartMs);
const decided = stat(resumeToDecisionMs);
const takeover = stat(takeoverMs);
const loss = stat(lossMs);
const goals: Goal[] = [
  {
    description: `no start decided later than ${PAUSE_GOAL_MS / 1000} s after a pause`,
    measured:
      startsAfterPauseMs.length === 0
        ? `none decided after a pause (${pause.n} pauses, a node in flight at each)`
        : `${startsAfterPauseMs.length} decided after a pause, the latest ${round(Math.max(...startsAfterPauseMs))} ms after it`,
    met: startsAfterPauseMs.every((ms) => ms < PAUSE_GOAL_MS),
  },
  {
    description: "pause → the policy status says paused (no numeric goal)",
    measured: `p50 ${pause.p50} ms, max ${pause.max} ms over ${pause.n}`,
    met: null,
  },
  {
    description: `the first start after a resume within ${RESUME_GOAL_MS / 1000} s`,
    measured: `max ${resume.max} ms (p50 ${resume.p50}, ${resume.n} resumes)`,
    met: resume.max < RESUME_GOAL_MS,
  },
  {
    description: `a killed leader's standby leads within ${TAKEOVER_GOAL_MS / 1000} s (lease 3 s)`,
    measured: `max ${takeover.max} ms (p50 ${takeover.p50}, ${takeover.n} failovers)`,
    met: takeover.max < TAKEOVER_GOAL_MS,
  },
  {
    description: `a leader whose lease is taken stops within ${LOSS_GOAL_MS / 1000} s (renew deadline 2 s, retry 1 s)`,
    measured: `max ${loss.max} ms (p50 ${loss.p50}, ${loss.n} times)`,
    met: loss.max < LOSS_GOAL_MS,
  },
];
await report({
  name: "reaction",
  title: "How fast the controller reacts: pause, resume, failover, lost lease",
  at: new Date().toISOString(),
  environment: await environment(),
  parameters: { rounds, failovers, nodes, budget: 1, stepMs: STEP_MS, lease: LEASE },
  results: {
    pauseAcknowledgedMs: pauseAckMs,
    startsDecidedAfterPauseMs: startsAfterPauseMs,
    resumeToFirstStartMs: resumeToStartMs,
    resumeToDecisionMs: resumeToDecisionMs,
    takeoverMs,
    leaseLossMs: lossMs,
  },
  headline: {
    "Pause → policy status paused, seen by a watch (p50 / max)": `${pause.p50} / ${pause.max} ms over ${pause.n}`,
    "Starts decided after a pause": `${startsAfterPauseMs.length}${startsAfterPauseMs.length > 0 ? ` (latest ${round(Math.max(...startsAfterPauseMs))} ms after it)` : ""}`,
    "Resume → first start seen by a watch (p50 / max)": `${resume.p50} / ${resume.max} ms over ${resume.n}`,
    "Resume → the controller's start decision (p50 / max)": `${decided.p50} / ${decided.max} ms`,
    "Leader killed → standby leading (p50 / max)": `${takeover.p50} / ${takeover.max} ms over ${takeover.n} (lease 3 s)`,
    "Lease taken → leader exits (p50 / max)": `${loss.p50} / ${loss.max} ms over ${loss.n}`,
  },
  goals,
  notes: [
    "Real kube-apiserver + kwok on loopback; stand-in agents write shadow status with the admin client (one shared watch).",
    "The policy status and the starts are seen by watches (a policy informer; ShadowTimeline for the shadows); a start's decision time is its spec's state_transition_timestamp.",
    "The goals are the bounds test/integration/controller-policy.test.ts and controller-leader.test.ts used to assert on elapsed time; the tests now assert the facts (a status acknowledging the pause with nothing started, the Lease's holder and times).",
  ],
});
