// End to end: pre-drain and post-reboot hooks (docs/design/hooks.md). The hook receiver is an HTTP server in this
// test process; at each call it records what it got and what was true then, read from the API server and the
// simulated hosts (is the Node cordoned, which version runs, how often the host booted), before it answers. What the
// controller did is judged from those facts, the Nodes as watched, the hosts, the shadows and the Events, with the
// oracle watching throughout.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { setTimeout as sleep } from "node:timers/promises";
import { afterEach, describe, expect, it } from "vitest";
import { CoreV1Api } from "@kubernetes/client-node";
import { nodeOf } from "../../sim/cluster/fleet-observer.ts";
import type { SimulatedCluster } from "../../sim/cluster/simulated-cluster.ts";
import { setUpdatePolicy } from "../../sim/cluster/update-policy.ts";
import type { HookRequest } from "../../src/core/hooks.ts";
import { BRUPOP, run, userEnv } from "./run-command.ts";
import {
  current,
  eventsOf,
  expectConverged,
  expectNoViolations,
  FROM,
  settled,
  start,
  stopClustersAfterEach,
  TO,
  until,
  updated,
  type Running,
} from "./support.ts";

stopClustersAfterEach();

interface Call {
  path: string;
  request: HookRequest;
  idempotencyKey: string | undefined;
  receivedAt: number;
  /** What was true when the call arrived, read before answering. */
  cordoned: boolean;
  runningVersion: string | undefined;
  bootCount: number | undefined;
  answeredAt: number | null;
  /** The caller closed the connection before an answer (it gave up: its timeout). */
  abandoned: boolean;
}

type Answer = (call: Call) => { status: number; body?: string } | "hang";

/** The hook receiver: records every call with the facts at its arrival, then answers as `answer` says. */
class Receiver {
  readonly calls: Call[] = [];
  readonly #server: Server;
  readonly #open = new Set<ServerResponse>();
  #running: Running | undefined;

  readonly answer: Answer;

  constructor(answer: Answer) {
    this.answer = answer;
    this.#server = createServer((req, res) => void this.#handle(req, res));
  }

  async listen(running: Running): Promise<string> {
    this.#running = running;
    await new Promise<void>((resolve) => this.#server.listen(0, "127.0.0.1", resolve));
    return `http://127.0.0.1:${(this.#server.address() as AddressInfo).port}`;
  }

  async close(): Promise<void> {
    for (const res of this.#open) res.destroy();
    await new Promise((resolve) => this.#server.close(resolve));
  }

  callsTo(path: string, node?: string): Call[] {
    return this.calls.filter((c) => c.path === path && (node === undefined || c.request.node === node));
  }

  async #handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const request = JSON.parse(Buffer.concat(chunks).toString("utf8")) as HookRequest;
    const running = this.#running;
    if (running === undefined) throw new Error("receiver not started");
    const node = await running.cluster.kc.makeApiClient(CoreV1Api).readNode({ name: request.node });
    const host = running.cluster.hosts.get(request.node);
    const call: Call = {
      path: req.url ?? "",
      request,
      idempotencyKey: req.headers["idempotency-key"] as string | undefined,
      receivedAt: Date.now(),
      cordoned: node.spec?.unschedulable === true,
      runningVersion: host?.runningVersion,
      bootCount: host?.bootCount,
      answeredAt: null,
      abandoned: false,
    };
    this.calls.push(call);
    res.on("close", () => {
      if (!res.writableFinished) call.abandoned = true;
      this.#open.delete(res);
    });
    const answer = this.answer(call);
    if (answer === "hang") {
      this.#open.add(res);
      return;
    }
    call.answeredAt = Date.now();
    res.writeHead(answer.status, { "content-type": "text/plain" }).end(answer.body ?? "");
  }
}

let receiver: Receiver | undefined;
afterEach(async () => {
  await receiver?.close();
  receiver = undefined;
});

/** The first time each Node was seen cordoned, by the watch (test clock). */
function cordonWatch(): { firstCordon: Map<string, number>; onChange: () => void } {
  const firstCordon = new Map<string, number>();
  return {
    firstCordon,
    onChange: () => {
      const running = current();
      if (running === undefined) return;
      for (const name of running.cluster.nodeNames) {
        if (!firstCordon.has(name) && running.observer.node(name)?.spec?.unschedulable === true) {
          firstCordon.set(name, Date.now());
        }
      }
    },
  };
}

function hooksRecord(running: Running, node: string): Record<string, { hooks: Record<string, { state: string }> }> {
  const shadow = running.observer.shadows().find((s) => nodeOf(s) === node);
  return JSON.parse(shadow?.metadata.annotations?.["brupop.bottlerocket.aws/hooks"] ?? "{}") as Record<
    string,
    { hooks: Record<string, { state: string }> }
  >;
}

/** SIGKILLs the controller replica holding the Lease (bounded: a minute for one to hold it). */
async function killLeader(cluster: SimulatedCluster): Promise<string> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const leader = await cluster.controllerLeader();
    if (leader !== undefined && leader !== "" && cluster.runners.controller.crash(leader) !== undefined) return leader;
    if (Date.now() > deadline) throw new Error(`no running controller leader to kill (lease holder "${leader ?? ""}")`);
    await sleep(200);
  }
}

const BLOCKED = "bottlerocket-2";
const HANGING = "bottlerocket-3";

describe("pre-drain and post-reboot hooks", () => {
  it("calls them around each update; a blocking one that fails or hangs keeps its node undrained, the others finish", async () => {
    const watch = cordonWatch();
    const running = await start({
      nodes: 4,
      budget: 1,
      onChange: watch.onChange,
      env: { controller: { QUARANTINE_AFTER_FAILURES: "1" } },
    });
    const { cluster, observer } = running;
    receiver = new Receiver((call) => {
      if (call.path === "/pre-drain" && call.request.node === BLOCKED) return { status: 500, body: "database busy" };
      if (call.path === "/pre-drain" && call.request.node === HANGING) return "hang";
      if (call.path === "/notify") return { status: 503, body: "notifier down" };
      return { status: 200 };
    });
    const base = await receiver.listen(running);
    await setUpdatePolicy(cluster.kc, cluster.namespace, {
      hooks: {
        preDrain: [
          { name: "db-drain", url: `${base}/pre-drain`, timeout: "3s", attempts: 2 },
          { name: "notify", url: `${base}/notify`, mode: "Advisory", attempts: 1 },
        ],
        postReboot: [{ name: "smoke", url: `${base}/post-reboot` }],
      },
    });

    cluster.publish(TO);
    const others = cluster.nodeNames.filter((n) => n !== BLOCKED && n !== HANGING);
    const quarantined = (n: string) => eventsOf(observer, n).some((e) => e.reason === "Quarantined");
    await until("the others updated, the blocked and the hanging node quarantined", 480_000, () => {
      return quarantined(BLOCKED) && quarantined(HANGING) && others.every((n) => updated(observer, n));
    });

    // The nodes whose blocking hook failed: never cordoned, never rebooted, the update failed naming the hook.
    for (const [node, why] of [
      [BLOCKED, /HTTP 500: database busy/],
      [HANGING, /no answer within 3s \(timeout\)/],
    ] as const) {
      await until(`${node} back at Idle at ${FROM}`, 60_000, () => settled(observer, node, FROM));
      expect(watch.firstCordon.has(node), `${node} was cordoned`).toBe(false);
      expect(cluster.hosts.get(node)?.bootCount, node).toBe(1);
      expect(cluster.hosts.get(node)?.runningVersion, node).toBe(FROM);
      const failed = eventsOf(observer, node).find((e) => e.reason === "UpdateFailedByHook");
      expect(failed?.type, node).toBe("Warning");
      expect(failed?.message, node).toMatch(/^pre-drain hook db-drain failed before the update to 1\.26\.0: /);
      expect(failed?.message, node).toMatch(why);
      expect(failed?.message, node).toMatch(/not drained, back to Idle$/);
      // Attempts bound the calls: two, the same idempotency key, and after a failed one no further hook is called.
      const calls = receiver.callsTo("/pre-drain", node);
      expect(calls, node).toHaveLength(2);
      expect(calls.map((c) => c.request.attempt)).toEqual([1, 2]);
      expect(new Set(calls.map((c) => c.idempotencyKey)).size, node).toBe(1);
      expect(calls[0]?.idempotencyKey).toBe(calls[0]?.request.idempotencyKey);
      expect(receiver.callsTo("/notify", node), node).toEqual([]);
      expect(receiver.callsTo("/post-reboot", node), node).toEqual([]);
      expect(hooksRecord(running, node).preDrain?.hooks["db-drain"]?.state, node).toBe("failed");
      const shadow = observer.shadows().find((s) => nodeOf(s) === node);
      expect(shadow?.metadata.annotations?.["brupop.bottlerocket.aws/hook-failures"], node).toBe("1");
    }
    // The hanging hook's calls were given up by the controller (it closed them), not answered.
    expect(receiver.callsTo("/pre-drain", HANGING).every((c) => c.abandoned && c.answeredAt === null)).toBe(true);

    for (const node of others) {
      // Pre-drain: called, and answered, before the Node was ever cordoned, while it ran the old version.
      const [drain, ...moreDrains] = receiver.callsTo("/pre-drain", node);
      expect(moreDrains, node).toEqual([]);
      expect(drain?.cordoned, node).toBe(false);
      expect(drain?.runningVersion, node).toBe(FROM);
      expect(drain?.request).toMatchObject({
        kind: "UpdateHook",
        phase: "preDrain",
        hook: "db-drain",
        node,
        fromVersion: FROM,
        toVersion: TO,
        rollback: false,
        attempt: 1,
        shadow: { namespace: cluster.namespace, name: `brs-${node}` },
      });
      const cordonedAt = watch.firstCordon.get(node);
      expect(cordonedAt, `${node} cordoned for its drain`).toBeDefined();
      expect(drain?.answeredAt ?? Infinity, node).toBeLessThan(cordonedAt ?? 0);
      // The advisory hook failed: recorded, and the update went on.
      const notify = receiver.callsTo("/notify", node);
      expect(notify, node).toHaveLength(1);
      expect(notify[0]?.cordoned, node).toBe(false);
      const notifyFailed = eventsOf(observer, node).find((e) => e.reason === "HookFailed");
      expect(notifyFailed?.message, node).toMatch(/pre-drain hook notify failed \(Advisory, 1 failed call\): HTTP 503/);
      expect(hooksRecord(running, node).preDrain?.hooks.notify?.state, node).toBe("failed");
      // Post-reboot: called once, after the reboot, on the new version.
      const [smoke, ...moreSmoke] = receiver.callsTo("/post-reboot", node);
      expect(moreSmoke, node).toEqual([]);
      expect(smoke?.runningVersion, node).toBe(TO);
      expect(smoke?.bootCount, node).toBe(2);
      expect(smoke?.cordoned, node).toBe(false);
      expect(smoke?.request).toMatchObject({ phase: "postReboot", hook: "smoke", fromVersion: FROM, toVersion: TO });
      expect(hooksRecord(running, node).postReboot?.hooks.smoke?.state, node).toBe("passed");
      expect(
        eventsOf(observer, node).some(
          (e) => e.reason === "HookPassed" && /post-reboot hook smoke/.test(e.message ?? ""),
        ),
      ).toBe(true);
      expect(cluster.hosts.get(node)?.bootCount, node).toBe(2);
    }

    // brupop explain shows the hooks' outcome.
    const explained = await run(BRUPOP, ["explain", BLOCKED, "-n", cluster.namespace], {
      env: userEnv({ KUBECONFIG: cluster.cp.kubeconfigPath, NO_COLOR: "1" }),
      timeoutMs: 60_000,
    });
    expect(explained.code, explained.stderr).toBe(0);
    expect(explained.stdout).toMatch(
      /Pre-drain hooks:\s+update to 1\.26\.0: db-drain failed at .*, 2 calls: HTTP 500: database busy/,
    );
    expect(explained.stdout).toMatch(/1 failed hook/);

    await expectConverged(running, (n) => (n === BLOCKED || n === HANGING ? FROM : TO));
    await expectNoViolations(running);
  }, 720_000);

  it("calls a blocking hook again after the controller crashed during the call, and drains only after it passed", async () => {
    const watch = cordonWatch();
    const running = await start({ nodes: 2, budget: 1, onChange: watch.onChange });
    const { cluster, observer } = running;
    let killed: Promise<string> | undefined;
    // The first call is never answered: the leader making it is killed while it waits.
    receiver = new Receiver(() => {
      if (killed !== undefined) return { status: 200 };
      killed = killLeader(cluster);
      return "hang";
    });
    const base = await receiver.listen(running);
    await setUpdatePolicy(cluster.kc, cluster.namespace, {
      hooks: { preDrain: [{ name: "db-drain", url: `${base}/pre-drain`, timeout: "60s" }] },
    });

    cluster.publish(TO);
    await until("every node updated", 480_000, () => cluster.nodeNames.every((n) => updated(observer, n)));
    expect(killed, "a leader was killed during the first call").toBeDefined();
    await killed;

    const first = receiver.calls[0];
    const node = first?.request.node ?? "";
    const calls = receiver.callsTo("/pre-drain", node);
    // Called again by the next leader, as the same call: same key, same attempt (the first was never recorded).
    expect(calls.length, node).toBeGreaterThanOrEqual(2);
    expect(calls[0]?.abandoned, "the killed leader's call was cut off").toBe(true);
    expect(new Set(calls.map((c) => c.idempotencyKey)), node).toEqual(new Set([first?.request.idempotencyKey]));
    expect(calls.every((c) => c.request.attempt === 1)).toBe(true);
    // Never skipped: every node was drained only after its hook had answered 200, and was called while uncordoned.
    for (const name of cluster.nodeNames) {
      const answered = receiver.callsTo("/pre-drain", name).filter((c) => c.answeredAt !== null);
      expect(answered.length, name).toBeGreaterThanOrEqual(1);
      for (const call of answered) {
        expect(call.cordoned, name).toBe(false);
        expect(call.answeredAt ?? Infinity, name).toBeLessThan(watch.firstCordon.get(name) ?? 0);
      }
      expect(cluster.hosts.get(name)?.bootCount, name).toBe(2);
    }
    await expectConverged(running, () => TO);
    await expectNoViolations(running);
  }, 720_000);
});
