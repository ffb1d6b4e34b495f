// End to end: the automatic halt (policy spec.maxFailedNodes). Six nodes, a budget of 2, a limit of 1 failed node;
// two nodes fail (one at prepare, one at boot, rolled back by its host), a third may update beside them, and the
// other three are kept out by their node annotation until the rollout has halted. What the test checks is what
// happened to the nodes, seen from outside: from the moment the policy's Halted condition appears, no node that was
// not already being updated is prepared, cordoned or rebooted, also across a controller crash, until
// `bin/brupop resume` (run as a user runs it); then the remaining nodes update. The invariant oracle (sim/oracle)
// watches throughout; while the rollout is halted on purpose it is told, as it is told of a closed update window,
// that no update may start (I5), so it checks that too and does not take the wait for a stall.
import { describe, expect, it } from "vitest";
import { CoreV1Api, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import type { UpdatePolicyStatus } from "../../src/api/update-policy.ts";
import { ANNOTATIONS } from "../../src/core/model.ts";
import { nodeOf } from "../../sim/cluster/fleet-observer.ts";
import { Timeline } from "./timeline.ts";
import { setUpdatePolicy } from "../../sim/cluster/update-policy.ts";
import { BRUPOP, run, userEnv } from "./run-command.ts";
import {
  current,
  expectConverged,
  expectNoViolations,
  FROM,
  leaderMetrics,
  metricSamples,
  policyStatus,
  start,
  stopClustersAfterEach,
  TO,
  until,
  updated,
  type Running,
} from "./support.ts";

stopClustersAfterEach();

const NODES = 6;
const BUDGET = 2;
const MAX_FAILED_NODES = 1;

const halted = (s: UpdatePolicyStatus): boolean =>
  s.conditions?.some((c) => c.type === "Halted" && c.status === "True") === true;

/** The halt's gauges on /metrics: brupop_fleet_halted 1, and 2 failed nodes against the limit. */
const haltedMetrics = (text: string): boolean => {
  const fleetHalted = metricSamples(text, "brupop_fleet_halted");
  const failed = new Map(metricSamples(text, "brupop_rollout_failed_nodes").map((s) => [s.labels.kind, s.value]));
  return (
    fleetHalted.length === 1 &&
    fleetHalted[0]?.value === 1 &&
    failed.get("failed") === 2 &&
    failed.get("limit") === MAX_FAILED_NODES
  );
};

/** `bin/brupop <args>` as a user runs it, against the simulated cluster. */
async function brupop({ cluster }: Running, ...args: string[]): Promise<string> {
  const done = await run(BRUPOP, [...args, "-n", cluster.namespace], {
    env: userEnv({ KUBECONFIG: cluster.cp.kubeconfigPath, NO_COLOR: "1" }),
    timeoutMs: 60_000,
  });
  expect(done.code, `brupop ${args.join(" ")}: ${done.stderr}`).toBe(0);
  return done.stdout;
}

describe(`more than ${MAX_FAILED_NODES} failed node (spec.maxFailedNodes ${MAX_FAILED_NODES})`, () => {
  it("halt the rollout: nothing new starts, also after a controller crash, until brupop resume", async () => {
    const timeline = new Timeline();
    const running = await start({
      nodes: NODES,
      budget: BUDGET,
      // A failed node stays failed (quarantined), so that after the resume only the others update.
      env: { controller: { QUARANTINE_AFTER_FAILURES: "1" } },
      onChange: () => {
        const now = current();
        if (now) timeline.observe(now);
      },
    });
    const { cluster, observer, oracle } = running;
    timeline.watchHosts(cluster);
    const generation = await setUpdatePolicy(cluster.kc, cluster.namespace, { maxFailedNodes: MAX_FAILED_NODES });
    await policyStatus(cluster.kc, cluster.namespace, "the controller applies the limit", (s) => {
      return (s.observedGeneration ?? 0) >= generation && s.halt?.limit === MAX_FAILED_NODES;
    });

    // Two nodes fail: one at prepare, one after its reboot (the new version fails to boot; its host rolls back). A
    // third may update beside them. The others are kept out (opted out by the node annotation) until the rollout has
    // halted, so that whatever the timing some nodes are left that want to start while it is halted.
    const [atPrepare = "", atBoot = "", free = ""] = cluster.nodeNames;
    const failing = [atPrepare, atBoot];
    const keptOut = cluster.nodeNames.filter((n) => ![atPrepare, atBoot, free].includes(n));
    cluster.hosts.get(atPrepare)?.inject("prepare");
    cluster.hosts.get(atBoot)?.inject(`boot:${TO}`);
    const others = cluster.nodeNames.filter((n) => !failing.includes(n));
    const core = cluster.kc.makeApiClient(CoreV1Api);
    for (const name of keptOut) {
      await core.patchNode(
        { name, body: { metadata: { annotations: { [ANNOTATIONS.nodePaused]: "true" } } } },
        setHeaderOptions("Content-Type", PatchStrategy.MergePatch),
      );
    }

    cluster.publish(TO);
    const haltedStatus = await policyStatus(cluster.kc, cluster.namespace, "the Halted condition", halted, 480_000);
    const condition = haltedStatus.conditions?.find((c) => c.type === "Halted");
    // The controller's decision to halt. What it had started before may go on: those nodes are already disrupted
    // (or being restored); any start after it, while halted, is a failure of the test at once.
    const haltAt = Date.parse(condition?.lastTransitionTime ?? "");
    expect(haltAt, "the Halted condition's lastTransitionTime").toBeGreaterThan(0);
    const noStartSinceHalt = () => {
      const starts = timeline.startsAfter(haltAt);
      if (starts.length > 0) throw new Error(`started while halted: ${starts.join("; ")}`);
    };
    expect(condition).toMatchObject({ status: "True", reason: "TooManyFailedNodes" });
    for (const node of failing) expect(condition?.message).toContain(node);
    expect(condition?.message).toMatch(/brupop resume/);
    expect(haltedStatus.halt).toMatchObject({ limit: MAX_FAILED_NODES, failed: 2, failedNodes: [...failing].sort() });

    // The kept-out nodes may start again as far as their own annotation goes (`brupop resume --node`, which does
    // not lift the fleet's halt). The nodes in flight finish; then a fleet pass with free budget starts nobody:
    // every other node waits, halted.
    await brupop(running, "resume", ...keptOut.flatMap((n) => ["--node", n]));
    const waitingNow = () => others.filter((n) => !timeline.startedBy(n, haltAt));
    const quiet = await policyStatus(
      cluster.kc,
      cluster.namespace,
      "nothing in flight, every other node halted",
      (s) => {
        noStartSinceHalt();
        return halted(s) && s.updating === 0 && (s.blocked?.halted ?? 0) === waitingNow().length;
      },
      300_000,
    );
    const waiting = waitingNow();
    expect(waiting.length).toBeGreaterThan(0);
    expect(quiet.blockedNodes?.filter((b) => b.reason === "halted").map((b) => b.node)).toEqual(waiting);
    // From here until the resume the oracle holds the fleet to "no update starts" (I5), and expects no progress.
    const hold = { closedFrom: Date.now(), closedUntil: Infinity };
    oracle.oracle.schedule((t) => t < hold.closedFrom || t >= hold.closedUntil);

    // Seen by a person: an Event on the policy, the reason on each waiting node, brupop status and explain.
    await until("the UpdatesHalted Event on the policy", 30_000, () =>
      observer
        .events()
        .some((e) => e.reason === "UpdatesHalted" && e.involvedObject.kind === "BottlerocketUpdatePolicy"),
    );
    const haltedEvents = (node: string) =>
      observer.events().filter((e) => e.reason === "Halted" && e.involvedObject.name === `brs-${node}`).length;
    await until("a Halted Event on every waiting node", 30_000, () => waiting.every((n) => haltedEvents(n) >= 1));
    const status = await brupop(running, "status");
    expect(status.split("\n")[0]).toMatch(
      new RegExp(`^HALTED\\s+2 nodes failed updating to ${TO.replaceAll(".", "\\.")}`),
    );
    // Each failed node is named with what failed on it ("<node>: crashed: …", "<node>: timed out in …").
    for (const node of failing) expect(status.split("\n")[0]).toMatch(new RegExp(`[:;] ${node}: \\S`));
    const explained = await brupop(running, "explain", waiting[0] ?? "");
    expect(explained).toMatch(/the rollout halted itself: 2 nodes failed/);
    expect(explained).toContain("brupop resume");
    // And as Prometheus scrapes it: the leader's gauges say halted, 2 failed nodes against a limit of 1.
    const scraped = await leaderMetrics(running, "the leader's /metrics shows the halt", haltedMetrics);
    // Beside them the process's own, as the API server has them: what a memory or event-loop alert reads.
    expect(metricSamples(scraped, "process_resident_memory_bytes")[0]?.value).toBeGreaterThan(0);
    expect(metricSamples(scraped, "nodejs_eventloop_lag_seconds")).toHaveLength(1);

    // The leading controller crashes while halted. Its successor decides about the fleet afresh (its Events are its
    // own: a new Halted Event for a waiting node means it held that node back), and starts nobody either.
    const before = new Map(waiting.map((n) => [n, haltedEvents(n)]));
    const killed = await cluster.controllerLeader();
    if (killed === undefined || cluster.runners.controller.crash(killed) === undefined) {
      throw new Error(`no running controller leader to kill (${killed ?? "none"})`);
    }
    await until("the next leader holds the waiting nodes back", 240_000, () => {
      noStartSinceHalt();
      return waiting.some((n) => haltedEvents(n) > (before.get(n) ?? 0));
    });
    // The successor's own gauges show the halt it read back from the policy status.
    await leaderMetrics(running, "the new leader's /metrics shows the halt", haltedMetrics);
    // Nothing that had not already started was prepared, cordoned or rebooted while halted (judged once the
    // observer has seen what the API server holds now).
    await observer.settled();
    for (const node of waiting) {
      expect(observer.shadows().find((s) => nodeOf(s) === node)?.spec.state, node).toBe("Idle");
    }
    const resumeAt = Date.now();
    expect(timeline.startsAfter(haltAt, resumeAt)).toEqual([]);
    expect(timeline.disruptedAfter(haltAt, resumeAt)).toEqual([]);
    console.log(
      `halted after ${failing.join(", ")} failed; ` +
        `started before the halt: ${others.filter((n) => !waiting.includes(n)).join(", ") || "none"}; ` +
        `held: ${waiting.join(", ")}; controller ${killed} killed while halted, leader now ${await cluster.controllerLeader()}`,
    );

    // brupop resume, as a user runs it: the remaining nodes update; the failed ones stay as they are.
    hold.closedUntil = resumeAt;
    const resumed = await brupop(running, "resume");
    expect(resumed).toMatch(/the automatic halt after 2 failed nodes .* is lifted/);
    await until("every other node updated", 480_000, () => others.every((n) => updated(observer, n)));
    const after = await policyStatus(cluster.kc, cluster.namespace, "the halt lifted", (s) => !halted(s));
    expect(after.conditions?.find((c) => c.type === "Halted")).toMatchObject({ status: "False" });
    await leaderMetrics(running, "the leader's /metrics shows the halt lifted", (text) => {
      const fleetHalted = metricSamples(text, "brupop_fleet_halted");
      return fleetHalted.length === 1 && fleetHalted[0]?.value === 0;
    });
    expect(after.halt?.failedNodes).toEqual([]);
    expect(after.halt?.countingSince).toBeDefined();
    expect(observer.events().some((e) => e.reason === "UpdatesResumed")).toBe(true);
    for (const node of failing) expect(cluster.hosts.get(node)?.runningVersion, node).toBe(FROM);

    await expectConverged(running, (n) => (failing.includes(n) ? FROM : TO));
    await expectNoViolations(running);
  }, 900_000);
});
