// The agent against the simulated host (real Unix socket) and a stub of the Kubernetes watches and brupop's API
// server routes (real HTTPS with a CA), with a stand-in controller advancing the spec on the happy path.
import { afterEach, describe, expect, test } from "vitest";
import type { HostFault } from "../../sim/host/faults.ts";
import type { SimulatedHostOptions } from "../../sim/host/simulated-host.ts";
import { FAST_CLIENT, startTestHost, type TestHost } from "../../sim/host/testing.ts";
import { Agent } from "./agent.ts";
import type { AgentConfig } from "./config.ts";
import type { Logger } from "./log.ts";
import type { AgentAction } from "./plan.ts";
import { startStubCluster, type StubCluster, type StubOptions } from "../../sim/stand-ins/agent-kube-stub.ts";

interface World {
  host: TestHost;
  stub: StubCluster;
  agents: Agent[];
  actions: AgentAction["kind"][];
  /** Every decision in order: each action taken ("report Idle", "uncordon"...) and each new reason to wait. */
  decisions: string[];
  /** Starts (another) agent process stand-in. */
  startAgent(overrides?: Partial<AgentConfig>): Agent;
  reboots(): number;
  commands: string[];
}

const worlds: World[] = [];
afterEach(async () => {
  for (const w of worlds.splice(0)) {
    await Promise.all(w.agents.map((a) => a.stop()));
    await w.host.close();
    await w.stub.stop();
  }
});

async function world(hostOptions: Partial<SimulatedHostOptions> = {}, stubOptions: StubOptions = {}): Promise<World> {
  const host = await startTestHost({ offer: ["1.26.0"], ...hostOptions });
  const stub = await startStubCluster(stubOptions);
  const commands: string[] = [];
  host.host.on("command-started", (e) => commands.push(e.command));
  let reboots = 0;
  host.host.on("reboot-requested", () => reboots++);
  const decisions: string[] = [];
  // The agent logs each new reason to wait; that, with onAction, is the whole record of what it decided.
  const log: Logger = {
    debug() {},
    info(msg, fields) {
      if (msg === "waiting") decisions.push(`wait: ${String(fields?.reason)}`);
    },
    warn() {},
    error() {},
  };
  const w: World = {
    host,
    stub,
    agents: [],
    actions: [],
    decisions,
    commands,
    reboots: () => reboots,
    startAgent(overrides = {}) {
      const agent = new Agent({
        config: stub.agentConfig(host.socketPath, host.bootIdPath, overrides),
        log,
        hostClient: FAST_CLIENT,
        onAction: (action) => {
          w.actions.push(action.kind);
          decisions.push(action.kind === "report" ? `report ${action.status.current_state}` : action.kind);
        },
      });
      w.agents.push(agent);
      void agent.run();
      return agent;
    },
  };
  worlds.push(w);
  return w;
}

/**
 * Resolves once the agent, after its last status report, decided to wait with `reason`: it observed the state its
 * own write left (spec, status, Node, host) and chose to do nothing. The anchor of every "nothing more happened".
 */
async function settled(w: World, reason: string): Promise<void> {
  await w.stub.until(
    () => {
      const last = w.decisions.findLastIndex((d) => d.startsWith("report "));
      return last >= 0 && w.decisions.slice(last + 1).includes(`wait: ${reason}`);
    },
    5_000,
    `the agent settled ("${reason}") after its last report; decisions: ${w.decisions.join(", ")}`,
  );
}

const states = (stub: StubCluster): string[] => stub.statuses.map((s) => s.current_state);
const finishedAt = (version: string) => (stub: StubCluster) => () =>
  stub.shadow?.spec.state === "Idle" &&
  stub.shadow.status?.current_state === "Idle" &&
  stub.shadow.status.current_version === version;

describe("happy path", () => {
  test("creates its brs, then Idle → Staged → Rebooted (drain, reboot, verify, uncordon) → Monitoring → Idle", async () => {
    const w = await world();
    w.startAgent();
    await w.stub.until(finishedAt("1.26.0")(w.stub), 10_000, "update finished");
    expect(w.stub.routes[0]).toBe("POST /bottlerocket-node-resource");
    expect(states(w.stub)).toEqual([
      "Idle",
      "StagedAndPerformedUpdate",
      "RebootedIntoUpdate",
      "MonitoringUpdate",
      "Idle",
    ]);
    expect(w.stub.routes.filter((r) => !r.startsWith("PUT"))).toEqual([
      "POST /bottlerocket-node-resource",
      "POST /bottlerocket-node-resource/drain", // 404 from a brupop-style API server: use the synchronous route
      "POST /bottlerocket-node-resource/cordon-and-drain",
      "POST /bottlerocket-node-resource/uncordon",
    ]);
    expect(w.commands.filter((c) => c !== "refresh")).toEqual(["prepare", "activate"]);
    expect(w.reboots()).toBe(1);
    expect(w.host.host.runningVersion).toBe("1.26.0");
    expect(w.stub.unschedulable).toBe(false);
    // Staged reported before the reboot; RebootedIntoUpdate only once the new version runs.
    expect(w.stub.statuses[1]).toMatchObject({ current_version: "1.25.0", target_version: "1.26.0" });
    expect(w.stub.statuses[2]).toMatchObject({ current_version: "1.26.0" });
  });

  test("with our API server's asynchronous drain: start and poll instead of one long request", async () => {
    const w = await world({}, { asyncDrain: true });
    w.startAgent();
    await w.stub.until(finishedAt("1.26.0")(w.stub), 10_000, "update finished");
    const routes = w.stub.routes.filter((r) => r.includes("drain"));
    expect(routes[0]).toBe("POST /bottlerocket-node-resource/drain");
    expect(routes.slice(1).every((r) => r === "GET /bottlerocket-node-resource/drain")).toBe(true);
    expect(w.reboots()).toBe(1);
  });

  test("finishing resets crash_count and the failure fields an earlier failure left", async () => {
    const failed = {
      current_version: "1.25.0",
      target_version: "1.26.0",
      current_state: "Idle" as const,
      crash_count: 2,
      state_transition_failure_timestamp: "2025-01-01T00:00:00+00:00",
      failure_reason: "prepare failed: disk full",
    };
    const w = await world(
      {},
      { shadow: { spec: { state: "Idle", version: null, state_transition_timestamp: null }, status: failed } },
    );
    w.startAgent();
    await w.stub.until(finishedAt("1.26.0")(w.stub), 10_000, "update finished");
    expect(w.stub.statuses.at(-2)).toMatchObject({ current_state: "MonitoringUpdate", crash_count: 2 });
    expect(w.stub.shadow?.status).toEqual({
      current_version: "1.26.0",
      target_version: "1.26.0",
      current_state: "Idle",
      crash_count: 0,
      state_transition_failure_timestamp: null,
    });
  });

  test("with EXCLUDE_FROM_LB_WAIT_TIME_IN_SEC: label, wait, drain; after the reboot remove the label, then uncordon", async () => {
    const w = await world();
    let excludedAt = 0;
    let drainedAfter = 0;
    w.stub.hook = (call) => {
      if (call.path.endsWith("/exclude-from-lb")) excludedAt = Date.now();
      if (call.path.endsWith("/cordon-and-drain")) drainedAfter = Date.now() - excludedAt;
      return undefined;
    };
    w.startAgent({ excludeFromLbWaitMs: 300 });
    await w.stub.until(finishedAt("1.26.0")(w.stub), 10_000, "update finished");
    expect(w.stub.routes.filter((r) => !r.startsWith("PUT") && !r.endsWith("resource"))).toEqual([
      "POST /bottlerocket-node-resource/exclude-from-lb",
      "POST /bottlerocket-node-resource/drain",
      "POST /bottlerocket-node-resource/cordon-and-drain",
      "POST /bottlerocket-node-resource/remove-exclusion-from-lb",
      "POST /bottlerocket-node-resource/uncordon",
    ]);
    // The wait, measured from the exclusion the stub received: a lower bound, which load can only lengthen.
    expect(drainedAfter).toBeGreaterThanOrEqual(300);
    expect(w.stub.nodeLabels).toEqual({});
  });
});

describe("injected host failures are reported once, with a reason, and not retried by the agent", () => {
  const cases: [string, HostFault | string, RegExp, string[]][] = [
    ["prepare", "prepare", /^prepare failed: prepare failed \(exit 1\): Starting update to 1\.26\.0/, ["prepare"]],
    ["activate", "activate", /^activate failed: activate failed \(exit 1\)/, ["prepare", "activate"]],
    [
      "reboot refused",
      "reboot",
      /^reboot failed: POST \/actions\/reboot: 500 Failed to reboot/,
      ["prepare", "activate"],
    ],
  ];
  test.each(cases)("%s", async (_name, fault, reason, commands) => {
    const w = await world({ faults: [fault] });
    w.startAgent();
    await w.stub.until(() => states(w.stub).includes("ErrorReset"), 10_000, "failure reported");
    expect(w.stub.statuses.find((s) => s.current_state === "ErrorReset")).toMatchObject({
      crash_count: 1,
      failure_reason: expect.stringMatching(reason) as string,
    });
    // The controller resets the spec to Idle; the agent recovers and keeps the crash information.
    await w.stub.until(
      () => w.stub.shadow?.spec.state === "Idle" && w.stub.shadow.status?.current_state === "Idle",
      5_000,
      "back to Idle",
    );
    await settled(w, "Idle reached");
    expect(w.decisions.at(-2)).toBe("report Idle");
    expect(w.commands.filter((c) => c !== "refresh" && c !== "deactivate")).toEqual(commands);
    expect(w.stub.shadow?.status).toMatchObject({
      current_state: "Idle",
      crash_count: 1,
      failure_reason: expect.stringMatching(reason) as string,
    });
    expect(w.stub.unschedulable).toBe(false);
    expect(w.host.host.updateState).not.toBe("Ready"); // an activated update is never left behind
    expect(states(w.stub).filter((s) => s === "ErrorReset")).toHaveLength(1);
  });

  test("reboot refused: the cordoned node is uncordoned and the activated update deactivated", async () => {
    const w = await world({ faults: ["reboot"] });
    w.startAgent();
    await w.stub.until(() => w.stub.statuses.some((s) => s.current_state === "ErrorReset"), 10_000, "failure");
    await w.stub.until(
      () => w.stub.shadow?.status?.current_state === "Idle" && w.stub.statuses.length > 3,
      5_000,
      "Idle",
    );
    expect(w.commands).toContain("deactivate");
    expect(w.host.host.updateState).toBe("Staged");
    expect(w.stub.routes).toContain("POST /bottlerocket-node-resource/uncordon");
    expect(w.reboots()).toBe(0);
  });

  test("a cleanup step that keeps failing is not a new failure: uncordoned first, told once, retried with backoff", async () => {
    const w = await world({ faults: ["reboot", "deactivate@always"] });
    const deactivations: number[] = [];
    w.host.host.on("command-started", (e) => {
      if (e.command === "deactivate") deactivations.push(Date.now());
    });
    w.startAgent();
    await w.stub.until(
      () => /^returning to Idle: deactivate failed/.test(w.stub.shadow?.status?.failure_reason ?? ""),
      10_000,
      "the cleanup failure told",
    );
    await w.stub.until(() => deactivations.length >= 4, 10_000, "four deactivate attempts");
    // One attempt, one failure: the refused reboot. The failing clean-up after it adds none.
    expect(Math.max(...w.stub.statuses.map((s) => s.crash_count))).toBe(1);
    expect(w.stub.shadow?.status).toMatchObject({ current_state: "ErrorReset", crash_count: 1 });
    expect(w.stub.unschedulable).toBe(false); // given back before the host step that fails
    expect(w.stub.statuses.filter((s) => /^returning to Idle/.test(s.failure_reason ?? ""))).toHaveLength(1);
    // Backing off: sync interval 20 ms, doubling; the fourth attempt comes at least 20 + 40 + 80 ms after the first.
    expect((deactivations[3] ?? 0) - (deactivations[0] ?? 0)).toBeGreaterThanOrEqual(140);
  });

  test("boot failure: the host rolls back; reported as a rollback, no second reboot", async () => {
    const w = await world({ faults: ["boot"] });
    w.startAgent();
    await w.stub.until(() => w.stub.statuses.some((s) => s.current_state === "ErrorReset"), 10_000, "failure");
    expect(w.stub.statuses.find((s) => s.current_state === "ErrorReset")).toMatchObject({
      current_version: "1.25.0",
      crash_count: 1,
      failure_reason: expect.stringMatching(/rebooted but running 1\.25\.0, not 1\.26\.0: .*rolled back/) as string,
    });
    await w.stub.until(
      () => w.stub.shadow?.status?.current_state === "Idle" && w.stub.statuses.length > 3,
      5_000,
      "Idle",
    );
    await settled(w, "Idle reached");
    expect(w.decisions.at(-2)).toBe("report Idle");
    expect(w.reboots()).toBe(1);
    expect(w.host.host.runningVersion).toBe("1.25.0");
    expect(w.stub.unschedulable).toBe(false);
    // The host offers the same update again; retrying it is the controller's call (backoff, quarantine).
    expect(w.stub.shadow?.status).toMatchObject({ current_state: "Idle", crash_count: 1, target_version: "1.26.0" });
  });

  test("a failed refresh is not a failure: the update goes ahead after the next refresh", async () => {
    const w = await world({ faults: ["refresh"] });
    w.startAgent();
    await w.stub.until(finishedAt("1.26.0")(w.stub), 10_000, "update finished");
    expect(states(w.stub)).not.toContain("ErrorReset");
    expect(w.stub.statuses[0]).toMatchObject({ current_version: "1.25.0", target_version: "1.25.0" });
  });

  test("a drain that fails (API server 500) is reported; the node is uncordoned on the way back", async () => {
    const w = await world();
    w.stub.hook = (call) => (call.path.endsWith("/cordon-and-drain") ? 500 : undefined);
    w.startAgent();
    await w.stub.until(() => w.stub.statuses.some((s) => s.current_state === "ErrorReset"), 10_000, "failure");
    expect(w.stub.statuses.find((s) => s.current_state === "ErrorReset")?.failure_reason).toMatch(
      /^cordon-and-drain failed: POST \/bottlerocket-node-resource\/cordon-and-drain: 500/,
    );
    await w.stub.until(
      () => w.stub.shadow?.status?.current_state === "Idle" && w.stub.statuses.length > 3,
      5_000,
      "Idle",
    );
    expect(w.reboots()).toBe(0);
    expect(w.host.host.updateState).toBe("Staged");
  });
});

describe("restart safety: the agent killed between any two steps resumes from spec, status and host", () => {
  type KillPoint = [string, (w: World) => Promise<unknown>];
  const points: KillPoint[] = [
    ["during prepare", (w) => w.host.host.waitFor("command-started", (e) => e.command === "prepare")],
    ["after prepare", (w) => w.host.host.waitFor("command-finished", (e) => e.command === "prepare")],
    ["after activate", (w) => w.host.host.waitFor("command-finished", (e) => e.command === "activate")],
    [
      "after Staged is reported",
      (w) => w.stub.until(() => w.stub.statuses.some((s) => s.current_state === "StagedAndPerformedUpdate")),
    ],
    ["after the drain", (w) => w.stub.until(() => w.stub.unschedulable)],
    ["after the reboot request", (w) => w.host.host.waitFor("reboot-requested")],
    ["after the host came back", (w) => w.host.host.waitFor("api-up")],
    [
      "after RebootedIntoUpdate is reported",
      (w) => w.stub.until(() => w.stub.statuses.some((s) => s.current_state === "RebootedIntoUpdate")),
    ],
  ];
  test.each(points)("killed %s", async (_name, point) => {
    const w = await world({ durations: { rebootMs: 150 } });
    const first = w.startAgent();
    await point(w);
    await first.stop(); // no clean-up: in-flight requests are aborted, memory is lost
    w.startAgent();
    await w.stub.until(finishedAt("1.26.0")(w.stub), 10_000, "update finished");
    expect(w.reboots()).toBe(1);
    expect(w.commands.filter((c) => c === "activate").length).toBeLessThanOrEqual(1);
    expect(states(w.stub)).not.toContain("ErrorReset");
    expect(w.stub.unschedulable).toBe(false);
  });
});

describe("spec reset to Idle mid-update (controller timeout or abandoned update)", () => {
  test("a step that fails after the controller reset the spec is not reported: one attempt, one failure", async () => {
    const w = await world();
    w.stub.hook = (call) => {
      if (!call.path.endsWith("/cordon-and-drain")) return undefined;
      // The controller times the node out while the drain runs, and then the drain fails.
      w.stub.controller = false;
      w.stub.setSpec({ state: "Idle", state_transition_timestamp: "2025-01-01T00:00:00+00:00" });
      return 500;
    };
    w.startAgent();
    await w.stub.until(
      () => w.stub.shadow?.status?.current_state === "Idle" && w.stub.statuses.length > 2,
      10_000,
      "Idle",
    );
    expect(states(w.stub)).not.toContain("ErrorReset");
    expect(w.stub.shadow?.status).toMatchObject({ crash_count: 0 });
    expect(w.stub.unschedulable).toBe(false);
    expect(w.reboots()).toBe(0);
  });

  test("after the drain, before the reboot: deactivate, uncordon, report Idle; no reboot", async () => {
    const w = await world();
    w.stub.hook = (call) => {
      if (call.path.endsWith("/cordon-and-drain")) {
        w.stub.controller = false;
        w.stub.setSpec({ state: "Idle", state_transition_timestamp: "2025-01-01T00:00:00+00:00" });
      }
      return undefined;
    };
    w.startAgent();
    await w.stub.until(
      () => w.stub.shadow?.status?.current_state === "Idle" && w.stub.statuses.length > 2,
      10_000,
      "Idle",
    );
    expect(w.reboots()).toBe(0);
    expect(w.commands).toContain("deactivate");
    expect(w.host.host.updateState).toBe("Staged");
    expect(w.stub.unschedulable).toBe(false);
    expect(w.stub.shadow?.status).toMatchObject({ current_version: "1.25.0", crash_count: 0 });
    expect(w.stub.routes.at(-2)).toBe("POST /bottlerocket-node-resource/uncordon");
  });
});

describe("watches", () => {
  test("reconnects after the streams drop and re-lists after 410 Gone, still seeing spec changes", async () => {
    const w = await world({ offer: [] }, { controller: false });
    w.startAgent();
    await w.stub.until(() => w.stub.shadow?.status?.current_state === "Idle", 5_000, "first status");
    await w.stub.until(() => w.stub.openWatches === 2, 5_000, "two watches");
    w.stub.goneOnNextWatch(2);
    w.stub.dropWatches();
    await w.stub.until(() => w.stub.openWatches === 2, 10_000, "watches re-opened");
    const lists = w.stub.calls.filter((c) => c.method === "GET" && c.path.includes("/nodes")).length;
    expect(lists).toBeGreaterThanOrEqual(3); // list, watch, (410) list, watch
    // A spec change after all this still reaches the agent: an abandoned spec (no version) is reported as a failure.
    w.stub.setSpec({ state: "StagedAndPerformedUpdate", version: null });
    await w.stub.until(() => states(w.stub).includes("ErrorReset"), 5_000, "reaction");
    expect(w.stub.statuses.at(-1)?.failure_reason).toMatch(/spec.version is not set/);
  });
});
