// Conformance of the simulated host to the real Bottlerocket update API (docs/design/host-api.md; each describe names
// its section), one test per rule, over the socket. Raw HTTP where the client would hide the rule; the real client
// elsewhere.
import { link, rename } from "node:fs/promises";
import { connect, createServer } from "node:net";
import { afterEach, describe, expect, test } from "vitest";
import type { UpdateStatus } from "../../src/host/types.ts";
import { ERROR_TEXT } from "./host-state.ts";
import {
  commandFinished,
  connectError,
  driveTo,
  eventually,
  manualClock,
  rawRequest,
  startTestHost,
  statusOf,
  type TestHost,
} from "./testing.ts";
import { startSimulatedHost, type SimulatedHostOptions } from "./simulated-host.ts";

const hosts: TestHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((t) => t.close()));
});

async function host(options: Partial<SimulatedHostOptions> = {}): Promise<TestHost> {
  const t = await startTestHost(options);
  hosts.push(t);
  return t;
}

/** Commands that finish at the instant they start: with a manual clock, driveTo() needs no clock moves. */
const INSTANT = { refreshMs: 0, prepareMs: 0, activateMs: 0, deactivateMs: 0 };

const IMAGE = (version: string) => ({ arch: "x86_64", version, variant: "aws-k8s-1.30" });
const TIMESTAMP = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z$/;

describe("#endpoints", () => {
  test("every POST action answers 204 with an empty body", async () => {
    const t = await host();
    for (const [path, settle] of [
      ["/actions/refresh-updates", true],
      ["/actions/prepare-update", true],
      ["/actions/activate-update", true],
      ["/actions/deactivate-update", true],
      ["/actions/reboot", false],
    ] as const) {
      const response = await rawRequest(t.socketPath, "POST", path);
      expect({ path, status: response.status, body: response.body, type: response.headers["content-type"] }).toEqual({
        path,
        status: 204,
        body: "",
        type: undefined,
      });
      if (settle) await commandFinished(t.socketPath);
    }
  });

  test("error bodies are the error's plain text, never JSON", async () => {
    const t = await host();
    await rawRequest(t.socketPath, "POST", "/actions/refresh-updates"); // initialise, state Available
    await commandFinished(t.socketPath);
    const response = await rawRequest(t.socketPath, "POST", "/actions/activate-update");
    expect(response.status).toBe(409);
    expect(response.body).toBe("Update action not allowed according to update state");
    expect(response.headers["content-type"]).toMatch(/^text\/plain/);
  });

  test("unknown paths and known paths with the wrong method answer an empty 404, never 405", async () => {
    const t = await host();
    for (const [method, path] of [
      ["GET", "/nope"],
      ["GET", "/actions/refresh-updates"],
      ["POST", "/os"],
      ["POST", "/updates/status"],
      ["DELETE", "/os"],
      ["PUT", "/actions/reboot"],
      ["GET", "/updates/status/"],
    ] as const) {
      const response = await rawRequest(t.socketPath, method, path);
      expect({ method, path, status: response.status, body: response.body }).toEqual({
        method,
        path,
        status: 404,
        body: "",
      });
    }
  });

  test("GET /os is compact os-release JSON in field order, and ?prefix= filters it", async () => {
    const t = await host();
    const os = await rawRequest(t.socketPath, "GET", "/os");
    expect(os.status).toBe(200);
    expect(os.headers["content-type"]).toBe("application/json");
    expect(os.body).toMatch(
      /^\{"pretty_name":"Bottlerocket OS 1\.25\.0 \(aws-k8s-1\.30\)","variant_id":"aws-k8s-1\.30","version_id":"1\.25\.0","build_id":"[0-9a-f]{8}","arch":"x86_64"\}$/,
    );
    expect((await rawRequest(t.socketPath, "GET", "/os?prefix=version")).body).toBe('{"version_id":"1.25.0"}');
    expect((await rawRequest(t.socketPath, "GET", "/os?prefix=os.arch")).body).toBe('{"arch":"x86_64"}');
  });

  test("GET /updates/status is compact snake_case JSON in struct order, with versions as strings", async () => {
    const t = await host();
    await rawRequest(t.socketPath, "POST", "/actions/refresh-updates");
    const { body } = await eventually200(t);
    const doc = JSON.parse(body) as UpdateStatus;
    expect(body).toBe(JSON.stringify(doc)); // compact
    expect(Object.keys(doc)).toEqual([
      "update_state",
      "available_updates",
      "chosen_update",
      "active_partition",
      "staging_partition",
      "most_recent_command",
    ]);
    expect(Object.keys(doc.chosen_update ?? {})).toEqual(["arch", "version", "variant"]);
    expect(Object.keys(doc.most_recent_command ?? {})).toEqual([
      "cmd_type",
      "cmd_status",
      "timestamp",
      "exit_status",
      "stderr",
    ]);
    expect(doc.available_updates.every((v) => typeof v === "string")).toBe(true);
  });

  test("GET /os never takes the update lock", async () => {
    const t = await host();
    await driveTo(t, "Available");
    t.host.inject("hang:prepare");
    expect((await rawRequest(t.socketPath, "POST", "/actions/prepare-update")).status).toBe(204);
    expect((await rawRequest(t.socketPath, "GET", "/updates/status")).status).toBe(423);
    expect((await rawRequest(t.socketPath, "GET", "/os")).status).toBe(200);
  });
});

async function eventually200(t: TestHost) {
  await commandFinished(t.socketPath);
  return rawRequest(t.socketPath, "GET", "/updates/status");
}

describe("#status-document, #reboot: status lifecycle", () => {
  test("GET /updates/status answers 404 after boot until the first action", async () => {
    const t = await host();
    const response = await rawRequest(t.socketPath, "GET", "/updates/status");
    expect(response).toMatchObject({
      status: 404,
      body: "Update status is uninitialized, refresh-updates to initialize it",
    });
  });

  test("a rejected first action still creates the status: Idle, empty list, no command (example b)", async () => {
    const t = await host();
    expect((await rawRequest(t.socketPath, "POST", "/actions/prepare-update")).status).toBe(409);
    const response = await rawRequest(t.socketPath, "GET", "/updates/status");
    expect(response.status).toBe(200);
    expect(response.body).toBe(
      '{"update_state":"Idle","available_updates":[],"chosen_update":null,' +
        '"active_partition":{"image":{"arch":"x86_64","version":"1.25.0","variant":"aws-k8s-1.30"},"next_to_boot":true},' +
        '"staging_partition":null,"most_recent_command":null}',
    );
  });

  test("actions are asynchronous: 204 at once, 423 while running, result stamped at completion", async () => {
    const clock = manualClock();
    const t = await host({ durations: { ...INSTANT, prepareMs: 600 }, clock: clock.now });
    await driveTo(t, "Available");
    const posted = clock.now();
    // Answered while the clock stands still, so before the work could be done: the 204 does not wait for it.
    expect((await rawRequest(t.socketPath, "POST", "/actions/prepare-update")).status).toBe(204);
    const during = await rawRequest(t.socketPath, "GET", "/updates/status");
    expect(during).toMatchObject({ status: 423, body: ERROR_TEXT.statusLocked });
    await clock.advance(t, 599);
    expect((await rawRequest(t.socketPath, "GET", "/updates/status")).status).toBe(423); // runs its whole duration
    await clock.advance(t, 1);
    const doc = await statusOf(t.socketPath);
    expect(doc.most_recent_command).toMatchObject({ cmd_type: "prepare", cmd_status: "Success", exit_status: 0 });
    expect(Date.parse(doc.most_recent_command?.timestamp ?? "")).toBe(posted + 600);
  });

  test("a second action while one runs answers 423 'Update lock held' at once and is not recorded", async () => {
    const clock = manualClock();
    const t = await host({ durations: { ...INSTANT, prepareMs: 1_000 }, clock: clock.now });
    await driveTo(t, "Available");
    await rawRequest(t.socketPath, "POST", "/actions/prepare-update");
    // Answered while the prepare cannot finish (the clock stands still): a non-blocking lock, no queue, no wait.
    for (const path of ["/actions/refresh-updates", "/actions/activate-update", "/actions/prepare-update"]) {
      expect(await rawRequest(t.socketPath, "POST", path)).toMatchObject({ status: 423, body: "Update lock held" });
    }
    await clock.advance(t, 1_000);
    expect((await commandFinished(t.socketPath)).most_recent_command?.cmd_type).toBe("prepare");
  });

  test("calls rejected with 409 or 404 are not recorded and change nothing", async () => {
    const t = await host();
    await driveTo(t, "Available");
    const before = (await rawRequest(t.socketPath, "GET", "/updates/status")).body;
    expect((await rawRequest(t.socketPath, "POST", "/actions/activate-update")).status).toBe(409);
    expect((await rawRequest(t.socketPath, "POST", "/actions/deactivate-update")).status).toBe(409);
    await driveTo(t, "Staged");
    t.host.updateSettings({ versionLock: "v1.25.0" }); // a refresh in Staged now nulls chosen_update
    await t.client.refreshUpdates();
    const staged = (await rawRequest(t.socketPath, "GET", "/updates/status")).body;
    expect((await rawRequest(t.socketPath, "POST", "/actions/prepare-update")).status).toBe(404);
    expect((await rawRequest(t.socketPath, "GET", "/updates/status")).body).toBe(staged);
    expect(before).not.toBe(staged);
  });

  test("timestamps are RFC 3339 UTC with nanoseconds and Z, and strictly increase", async () => {
    const t = await host({ durations: { refreshMs: 0 } });
    const first = (await t.client.refreshUpdates()).status.most_recent_command?.timestamp ?? "";
    const second = (await t.client.refreshUpdates()).status.most_recent_command?.timestamp ?? "";
    expect(first).toMatch(TIMESTAMP);
    expect(second).toMatch(TIMESTAMP);
    expect(second > first).toBe(true);
  });
});

describe("#transitions", () => {
  const expected = {
    Idle: { refresh: 204, prepare: 409, activate: 409, deactivate: 409 },
    Available: { refresh: 204, prepare: 204, activate: 409, deactivate: 409 },
    Staged: { refresh: 204, prepare: 204, activate: 204, deactivate: 409 },
    Ready: { refresh: 204, prepare: 409, activate: 409, deactivate: 204 },
  } as const;
  const paths = {
    refresh: "/actions/refresh-updates",
    prepare: "/actions/prepare-update",
    activate: "/actions/activate-update",
    deactivate: "/actions/deactivate-update",
  } as const;
  for (const [state, row] of Object.entries(expected)) {
    for (const [command, status] of Object.entries(row)) {
      test(`${command} in ${state} answers ${status}`, async () => {
        const t = await host();
        await driveTo(t, state as keyof typeof expected);
        expect((await statusOf(t.socketPath)).update_state).toBe(state);
        const response = await rawRequest(t.socketPath, "POST", paths[command as keyof typeof paths]);
        expect(response.status).toBe(status);
        if (status === 409) expect(response.body).toBe(ERROR_TEXT.notAllowed);
      });
    }
  }

  test("refresh with an update: Available, every eligible version newest first incl. current and older (example d)", async () => {
    const t = await host();
    const { status } = await t.client.refreshUpdates();
    expect(status).toMatchObject({
      update_state: "Available",
      available_updates: ["1.26.0", "1.25.0", "1.24.1", "1.24.0"],
      chosen_update: IMAGE("1.26.0"),
      staging_partition: null,
      most_recent_command: { cmd_type: "refresh", cmd_status: "Success", exit_status: 0, stderr: "" },
    });
  });

  test("refresh with nothing newer: Idle, chosen_update null (example c)", async () => {
    const t = await host({ offer: ["1.24.0"] });
    const { status } = await t.client.refreshUpdates();
    expect(status).toMatchObject({
      update_state: "Idle",
      available_updates: ["1.25.0", "1.24.0"],
      chosen_update: null,
    });
  });

  test("prepare: Staged, staging_partition is the chosen image not yet next to boot, stderr names it (example e)", async () => {
    const t = await host();
    await driveTo(t, "Staged");
    expect(await statusOf(t.socketPath)).toMatchObject({
      update_state: "Staged",
      active_partition: { image: IMAGE("1.25.0"), next_to_boot: true },
      staging_partition: { image: IMAGE("1.26.0"), next_to_boot: false },
      most_recent_command: {
        cmd_type: "prepare",
        cmd_status: "Success",
        exit_status: 0,
        stderr: "Starting update to 1.26.0\n",
      },
    });
  });

  test("activate: Ready, next_to_boot moves to the staging partition (example f)", async () => {
    const t = await host();
    await driveTo(t, "Ready");
    expect(await statusOf(t.socketPath)).toMatchObject({
      update_state: "Ready",
      active_partition: { image: IMAGE("1.25.0"), next_to_boot: false },
      staging_partition: { image: IMAGE("1.26.0"), next_to_boot: true },
      most_recent_command: { cmd_type: "activate", cmd_status: "Success", exit_status: 0, stderr: "" },
    });
  });

  test("deactivate: back to Staged with the flags restored and the staged image kept (example g)", async () => {
    const t = await host();
    await driveTo(t, "Ready");
    await t.client.deactivateUpdate();
    expect(await statusOf(t.socketPath)).toMatchObject({
      update_state: "Staged",
      active_partition: { next_to_boot: true },
      staging_partition: { image: IMAGE("1.26.0"), next_to_boot: false },
      most_recent_command: { cmd_type: "deactivate", cmd_status: "Success", exit_status: 0, stderr: "" },
    });
  });

  test("refresh in Ready stays Ready and replaces only the lists, chosen_update and the command", async () => {
    const t = await host();
    await driveTo(t, "Ready");
    t.host.publish("1.27.0");
    const { status } = await t.client.refreshUpdates();
    expect(status).toMatchObject({
      update_state: "Ready",
      available_updates: ["1.27.0", "1.26.0", "1.25.0", "1.24.1", "1.24.0"],
      chosen_update: IMAGE("1.27.0"),
      staging_partition: { image: IMAGE("1.26.0"), next_to_boot: true },
      most_recent_command: { cmd_type: "refresh" },
    });
  });

  test("refresh in Staged stays Staged even when it nulls chosen_update; prepare then answers 404", async () => {
    const t = await host();
    await driveTo(t, "Staged");
    t.host.updateSettings({ versionLock: "v1.25.0" }); // the running version: nothing to choose
    const { status } = await t.client.refreshUpdates();
    expect(status).toMatchObject({
      update_state: "Staged",
      chosen_update: null,
      staging_partition: { image: IMAGE("1.26.0") },
    });
    expect(await rawRequest(t.socketPath, "POST", "/actions/prepare-update")).toMatchObject({
      status: 404,
      body: "Previously chosen Update no longer exists",
    });
  });

  test("failed refresh from Available drops to Idle but keeps chosen_update and the list (example h)", async () => {
    const t = await host();
    await driveTo(t, "Available");
    t.host.inject("refresh");
    await rawRequest(t.socketPath, "POST", "/actions/refresh-updates");
    expect(await commandFinished(t.socketPath)).toMatchObject({
      update_state: "Idle",
      available_updates: ["1.26.0", "1.25.0", "1.24.1", "1.24.0"],
      chosen_update: IMAGE("1.26.0"),
      most_recent_command: {
        cmd_type: "refresh",
        cmd_status: "Failed",
        exit_status: 1,
        stderr: expect.stringMatching(/^Metadata error: .+\n$/) as unknown,
      },
    });
  });

  test("failed refresh in Staged or Ready leaves the state alone", async () => {
    for (const state of ["Staged", "Ready"] as const) {
      const t = await host();
      await driveTo(t, state);
      t.host.inject("refresh");
      await rawRequest(t.socketPath, "POST", "/actions/refresh-updates");
      expect(await commandFinished(t.socketPath)).toMatchObject({
        update_state: state,
        most_recent_command: { cmd_status: "Failed" },
      });
    }
  });

  test("failed prepare: state and staging_partition unchanged, stderr starts with 'Starting update to' (example i)", async () => {
    const t = await host();
    await driveTo(t, "Available");
    t.host.inject("prepare");
    await rawRequest(t.socketPath, "POST", "/actions/prepare-update");
    expect(await commandFinished(t.socketPath)).toMatchObject({
      update_state: "Available",
      staging_partition: null,
      most_recent_command: {
        cmd_type: "prepare",
        cmd_status: "Failed",
        exit_status: 1,
        stderr:
          "Starting update to 1.26.0\nFailed writing update data to disk: No space left on device (os error 28)\n",
      },
    });
  });

  test("failed prepare while Staged keeps Staged and the old staging_partition, but the image is broken: activate fails (#partitions-and-rollback)", async () => {
    const t = await host();
    await driveTo(t, "Staged");
    t.host.inject("prepare");
    await rawRequest(t.socketPath, "POST", "/actions/prepare-update");
    expect(await commandFinished(t.socketPath)).toMatchObject({
      update_state: "Staged",
      staging_partition: { image: IMAGE("1.26.0") },
    });
    await rawRequest(t.socketPath, "POST", "/actions/activate-update");
    expect(await commandFinished(t.socketPath)).toMatchObject({
      update_state: "Staged",
      staging_partition: { next_to_boot: false },
      most_recent_command: {
        cmd_type: "activate",
        cmd_status: "Failed",
        stderr: expect.stringContaining("has not been marked valid for upgrade") as unknown,
      },
    });
  });

  test("failed activate stays Staged with next_to_boot unchanged (example j)", async () => {
    const t = await host();
    await driveTo(t, "Staged");
    t.host.inject("activate");
    await rawRequest(t.socketPath, "POST", "/actions/activate-update");
    expect(await commandFinished(t.socketPath)).toMatchObject({
      update_state: "Staged",
      active_partition: { next_to_boot: true },
      staging_partition: { next_to_boot: false },
      most_recent_command: { cmd_type: "activate", cmd_status: "Failed", exit_status: 1 },
    });
    expect(t.host.state.disk.sets.B.priority).toBe(0); // no GPT change
  });

  test("failed deactivate stays Ready", async () => {
    const t = await host();
    await driveTo(t, "Ready");
    t.host.inject("deactivate");
    await rawRequest(t.socketPath, "POST", "/actions/deactivate-update");
    expect(await commandFinished(t.socketPath)).toMatchObject({
      update_state: "Ready",
      staging_partition: { next_to_boot: true },
      most_recent_command: { cmd_type: "deactivate", cmd_status: "Failed" },
    });
  });
});

describe("#reboot, #partitions-and-rollback", () => {
  test("reboot: 204, the API stays up briefly, then ECONNREFUSED while the socket lingers, ENOENT, and back on the new version with status 404", async () => {
    const clock = manualClock();
    const t = await host({
      durations: { ...INSTANT, shutdownMs: 300, socketLingerMs: 80, rebootMs: 250 },
      clock: clock.now,
    });
    await driveTo(t, "Ready");
    const down = t.host.waitFor("api-down");
    const removed = t.host.waitFor("socket-removed");
    const up = t.host.waitFor("api-up");
    const asked = clock.now();
    expect((await rawRequest(t.socketPath, "POST", "/actions/reboot")).status).toBe(204);
    await clock.advance(t, 299);
    expect((await rawRequest(t.socketPath, "GET", "/os")).status).toBe(200); // shutdown is not instantaneous
    await clock.advance(t, 1);
    expect((await down).at).toBe(asked + 300);
    expect(await connectError(t.socketPath)).toBe("ECONNREFUSED");
    await clock.advance(t, 80);
    expect((await removed).at).toBe(asked + 300 + 80);
    expect(await connectError(t.socketPath)).toBe("ENOENT");
    await clock.advance(t, 250 - 80);
    const booted = await up;
    expect(booted).toMatchObject({ version: "1.26.0", rolledBack: false, bootCount: 2, at: asked + 300 + 250 });
    expect(JSON.parse((await rawRequest(t.socketPath, "GET", "/os")).body)).toMatchObject({ version_id: "1.26.0" });
    expect(await rawRequest(t.socketPath, "GET", "/updates/status")).toMatchObject({
      status: 404,
      body: ERROR_TEXT.uninitialised,
    });
  });

  test("after a reboot the first action re-initialises the status from the running image (example k)", async () => {
    const t = await host();
    await driveTo(t, "Ready");
    const up = t.host.waitFor("api-up");
    await t.client.reboot();
    await up;
    const { status } = await t.client.refreshUpdates();
    expect(status).toMatchObject({
      update_state: "Idle",
      chosen_update: null,
      active_partition: { image: IMAGE("1.26.0"), next_to_boot: true },
      staging_partition: null,
      most_recent_command: { cmd_type: "refresh", cmd_status: "Success" },
    });
  });

  test("reboot ignores the update state and the lock: a running prepare is killed and nothing is recorded", async () => {
    const t = await host();
    await driveTo(t, "Available");
    const before = (await statusOf(t.socketPath)).most_recent_command;
    t.host.inject("hang:prepare");
    await rawRequest(t.socketPath, "POST", "/actions/prepare-update");
    expect((await rawRequest(t.socketPath, "GET", "/updates/status")).status).toBe(423);
    const killed = t.host.waitFor("command-finished");
    const up = t.host.waitFor("api-up");
    expect((await rawRequest(t.socketPath, "POST", "/actions/reboot")).status).toBe(204);
    expect((await killed).result).toBeNull();
    expect(await up).toMatchObject({ version: "1.25.0" });
    expect((await rawRequest(t.socketPath, "GET", "/updates/status")).status).toBe(404); // no stale lock, no status
    expect(before?.cmd_type).toBe("refresh");
    expect(t.host.state.disk.sets.B).toMatchObject({ version: null, priority: 0 }); // prepare cleared it first
  });

  test("rebooting while Staged (not activated) boots the same version", async () => {
    const t = await host();
    await driveTo(t, "Staged");
    const up = t.host.waitFor("api-up");
    await t.client.reboot();
    expect(await up).toMatchObject({ version: "1.25.0", rolledBack: false });
  });

  test("deactivate before a reboot keeps the old version", async () => {
    const t = await host();
    await driveTo(t, "Ready");
    await t.client.deactivateUpdate();
    const up = t.host.waitFor("api-up");
    await t.client.reboot();
    expect(await up).toMatchObject({ version: "1.25.0" });
  });

  test("a new version that fails to boot rolls back after an extra boot cycle, and is offered again (example l)", async () => {
    const clock = manualClock();
    const t = await host({
      durations: { ...INSTANT, shutdownMs: 0, socketLingerMs: 0, rebootMs: 60, failedBootMs: 120 },
      clock: clock.now,
    });
    await driveTo(t, "Ready");
    t.host.inject("boot");
    const failed = t.host.waitFor("boot-failed");
    const up = t.host.waitFor("api-up");
    const rebootAt = clock.now();
    await t.client.reboot();
    await clock.advance(t, 60);
    expect(await failed).toMatchObject({ mode: "panic", version: "1.26.0", at: rebootAt + 60 });
    await clock.advance(t, 119);
    expect(await connectError(t.socketPath)).toBe("ENOENT"); // the extra boot cycle is not over
    await clock.advance(t, 1);
    expect(await up).toMatchObject({ version: "1.25.0", rolledBack: true, at: rebootAt + 60 + 120 });
    expect((await t.client.getOs()).version_id).toBe("1.25.0");
    expect(await t.client.getUpdateStatus()).toBeNull();
    expect((await t.client.refreshUpdates()).status).toMatchObject({
      update_state: "Available",
      chosen_update: IMAGE("1.26.0"),
    });
    expect(t.host.state.disk.sets.B).toMatchObject({ version: "1.26.0", triesLeft: 0, successful: false }); // the try was spent
  });

  test("a boot that hangs keeps the API away until an external reset, which lands on the old version", async () => {
    const clock = manualClock();
    const t = await host({ durations: INSTANT, clock: clock.now });
    await driveTo(t, "Ready");
    t.host.inject("boot-hang");
    const failed = t.host.waitFor("boot-failed");
    await t.client.reboot();
    await clock.advance(t, 60); // shutdown (5 ms) and boot (40 ms)
    expect(await failed).toMatchObject({ mode: "hang" });
    await clock.advance(t, 3_600_000); // an hour: far longer than any boot
    expect(await connectError(t.socketPath)).toBe("ENOENT");
    const up = t.host.waitFor("api-up");
    t.host.reset();
    await clock.advance(t, 60); // the boot after the power cycle
    expect(await up).toMatchObject({ version: "1.25.0", rolledBack: true });
  });

  test("a version that booted is marked successful: a later failed boot hook does not revert it", async () => {
    const t = await host();
    await driveTo(t, "Ready");
    let up = t.host.waitFor("api-up");
    await t.client.reboot();
    await up;
    t.host.inject("boot"); // would only hit a trial boot of an unproven set
    up = t.host.waitFor("api-up");
    await t.client.reboot();
    expect(await up).toMatchObject({ version: "1.26.0", rolledBack: false });
    expect(t.host.state.faults).toHaveLength(1); // not consumed
  });

  test("prepare writes updog's own choice: a release published after the refresh is what boots (#transitions)", async () => {
    const t = await host();
    await driveTo(t, "Available");
    t.host.publish("1.27.0");
    await rawRequest(t.socketPath, "POST", "/actions/prepare-update");
    expect((await commandFinished(t.socketPath)).staging_partition?.image?.version).toBe("1.26.0"); // recorded
    await rawRequest(t.socketPath, "POST", "/actions/activate-update");
    await commandFinished(t.socketPath);
    const up = t.host.waitFor("api-up");
    await t.client.reboot();
    expect(await up).toMatchObject({ version: "1.27.0" }); // written
  });

  test("reboot refused by a block inhibitor: 500 with systemctl's text, and no reboot", async () => {
    const t = await host();
    t.host.inject("reboot");
    const response = await rawRequest(t.socketPath, "POST", "/actions/reboot");
    expect(response.status).toBe(500);
    expect(response.body).toMatch(/^Failed to reboot, exit code: 1, stderr: /);
    expect(t.host.state.power.phase).toBe("up");
  });

  test("reboot response lost: the connection resets with no status line, yet the host reboots", async () => {
    const t = await host();
    t.host.inject("reboot-drop");
    const up = t.host.waitFor("api-up");
    expect(await connectError(t.socketPath, "POST", "/actions/reboot")).toBe("ECONNRESET");
    expect(await up).toMatchObject({ bootCount: 2 });
  });

  test("reboot delayed by inhibitors: the API keeps answering until the delay ends", async () => {
    const clock = manualClock();
    const t = await host({ clock: clock.now });
    t.host.inject("reboot-delay:600");
    const down = t.host.waitFor("api-down");
    const asked = clock.now();
    await rawRequest(t.socketPath, "POST", "/actions/reboot");
    await clock.advance(t, 599);
    expect((await rawRequest(t.socketPath, "GET", "/os")).status).toBe(200);
    await clock.advance(t, 1);
    expect((await down).at).toBe(asked + 600);
  });
});

describe("#locking", () => {
  test("a reader holding the shared lock makes POSTs answer 423 while GETs still work", async () => {
    const clock = manualClock(); // the reader holds the lock until the clock moves
    const t = await host({ durations: INSTANT, clock: clock.now });
    await driveTo(t, "Available");
    t.host.inject("contention:300");
    expect((await rawRequest(t.socketPath, "GET", "/updates/status")).status).toBe(200);
    expect(await rawRequest(t.socketPath, "POST", "/actions/refresh-updates")).toMatchObject({
      status: 423,
      body: "Update lock held",
    });
  });
});

describe("#version-selection", () => {
  test("version-lock: an older pin is a downgrade; the running version or an absent one offers nothing", async () => {
    const t = await host();
    t.host.updateSettings({ versionLock: "v1.24.0" });
    expect((await t.client.refreshUpdates()).status).toMatchObject({
      update_state: "Available",
      chosen_update: IMAGE("1.24.0"),
    });
    t.host.updateSettings({ versionLock: "1.25.0" });
    expect((await t.client.refreshUpdates()).status).toMatchObject({ update_state: "Idle", chosen_update: null });
    t.host.updateSettings({ versionLock: "v1.99.0" });
    expect((await t.client.refreshUpdates()).status).toMatchObject({ update_state: "Idle", chosen_update: null });
  });

  test("a pulled release (max_version below the running one) offers the newest published version: a downgrade", async () => {
    const t = await host({ version: "1.26.0", offer: ["1.25.0", "1.24.0"] });
    t.host.setMaxVersion("1.25.0");
    expect((await t.client.refreshUpdates()).status).toMatchObject({
      update_state: "Available",
      available_updates: ["1.25.0", "1.24.0"], // 1.26.0 is above max_version: hidden
      chosen_update: IMAGE("1.25.0"),
    });
  });

  test("a release whose wave has not reached this host is absent from available_updates; ignore-waves shows it", async () => {
    let offset = 0; // a controllable clock: waves are hours long
    const opensAt = new Date(Date.now() + 3_600_000).toISOString();
    const t = await host({
      offer: [{ version: "1.26.0", waves: { "0": opensAt } }],
      settings: { seed: 1000 },
      clock: () => Date.now() + offset,
    });
    expect((await t.client.refreshUpdates()).status).toMatchObject({
      update_state: "Idle",
      available_updates: ["1.25.0"],
    });
    t.host.updateSettings({ ignoreWaves: true });
    expect((await t.client.refreshUpdates()).status).toMatchObject({
      update_state: "Available",
      available_updates: ["1.26.0", "1.25.0"],
    });
    t.host.updateSettings({ ignoreWaves: false });
    offset = 2 * 3_600_000; // past its slot
    expect((await t.client.refreshUpdates()).status.chosen_update).toEqual(IMAGE("1.26.0"));
  });

  test("settings changes take effect at the next command, not before", async () => {
    const t = await host();
    await driveTo(t, "Available");
    t.host.updateSettings({ versionLock: "v1.24.1" });
    expect((await statusOf(t.socketPath)).chosen_update).toEqual(IMAGE("1.26.0"));
    expect((await t.client.refreshUpdates()).chosenUpdate).toEqual(IMAGE("1.24.1"));
  });
});

describe("#settings", () => {
  test("GET /settings answers only what was asked, compact, in the model's order", async () => {
    const t = await host();
    expect(await rawRequest(t.socketPath, "GET", "/settings?keys=settings.updates.version-lock")).toMatchObject({
      status: 200,
      body: '{"updates":{"version-lock":"latest"}}',
    });
    const all = JSON.parse((await rawRequest(t.socketPath, "GET", "/settings?prefix=updates")).body) as {
      updates: Record<string, unknown>;
    };
    expect(Object.keys(all.updates)).toEqual([
      "metadata-base-url",
      "targets-base-url",
      "seed",
      "version-lock",
      "ignore-waves",
    ]);
  });

  test("PATCH stages in a transaction (default, or ?tx=); commit_and_apply applies it, then has nothing left (422)", async () => {
    const t = await host();
    const patch = (tx: string, lock: string) =>
      t.client.raw("PATCH", `/settings${tx}`, JSON.stringify({ updates: { "version-lock": lock } }));
    expect((await patch("?tx=mine", "v1.24.0")).status).toBe(204);
    expect(t.host.state.disk.settings.versionLock).toBe("latest"); // staged, not committed
    expect((await t.client.raw("POST", "/tx/commit_and_apply")).status).toBe(422); // default holds nothing
    expect(await t.client.raw("POST", "/tx/commit_and_apply?tx=mine")).toMatchObject({
      status: 200,
      body: '["settings.updates.version-lock"]',
    });
    expect(t.host.state.disk.settings.versionLock).toBe("v1.24.0");
    expect((await t.client.raw("POST", "/tx/commit_and_apply?tx=mine")).status).toBe(422);
    expect((await patch("", "1.26")).status).toBe(400); // not a full version
    expect((await t.client.raw("PATCH", "/settings", "{")).status).toBe(400);
  });

  test("a pending transaction is on disk: it outlives a reboot", async () => {
    const t = await host();
    await t.client.raw("PATCH", "/settings?tx=later", JSON.stringify({ updates: { "version-lock": "v1.24.1" } }));
    await t.client.reboot();
    await eventually(() => (t.host.bootCount === 2 ? true : undefined));
    await t.host.settled(); // the socket is back
    expect((await t.client.raw("POST", "/tx/commit_and_apply?tx=later")).status).toBe(200);
    expect((await t.client.refreshUpdates()).chosenUpdate?.version).toBe("1.24.1");
  });
});

describe("#failure-modes", () => {
  test("dispatcher failure: actions answer 500 'Update dispatcher failed' and change nothing", async () => {
    const t = await host();
    t.host.inject("dispatcher");
    expect(await rawRequest(t.socketPath, "POST", "/actions/refresh-updates")).toMatchObject({
      status: 500,
      body: "Update dispatcher failed",
    });
    expect((await rawRequest(t.socketPath, "GET", "/updates/status")).status).toBe(404);
  });

  test("a corrupt status file: GET status answers 500 until a reboot", async () => {
    const t = await host();
    await driveTo(t, "Available");
    t.host.inject("status-corrupt");
    expect(await rawRequest(t.socketPath, "GET", "/updates/status")).toMatchObject({
      status: 500,
      body: "Update dispatcher failed",
    });
    const up = t.host.waitFor("api-up");
    await t.client.reboot();
    await up;
    expect((await rawRequest(t.socketPath, "GET", "/updates/status")).status).toBe(404);
  });

  test("status read faults: one read answers 500, another a body cut short; the next reads are whole", async () => {
    const t = await host();
    await driveTo(t, "Available");
    const whole = await rawRequest(t.socketPath, "GET", "/updates/status");
    t.host.inject("status-500");
    t.host.inject("status-garbage");
    expect(await rawRequest(t.socketPath, "GET", "/updates/status")).toMatchObject({
      status: 500,
      body: "Update dispatcher failed",
    });
    const cut = await rawRequest(t.socketPath, "GET", "/updates/status");
    expect(cut.status).toBe(200);
    expect(() => JSON.parse(cut.body) as unknown).toThrow();
    expect(await rawRequest(t.socketPath, "GET", "/updates/status")).toEqual(whole);
  });

  test("an API restart without a reboot: ECONNREFUSED on the stale socket, then the same state again", async () => {
    const t = await host();
    await driveTo(t, "Available");
    const before = await statusOf(t.socketPath);
    const bootId = t.host.bootId;
    const restarted = t.host.restartApi(300);
    await t.host.settled();
    expect(await connectError(t.socketPath, "GET", "/updates/status")).toBe("ECONNREFUSED");
    await restarted;
    expect(await statusOf(t.socketPath)).toEqual(before);
    expect(t.host.bootId).toBe(bootId);
    expect(t.host.bootCount).toBe(1);
  });

  test("effect listeners hear a reboot request synchronously, before the request's answer is sent", async () => {
    const t = await host();
    const heard: string[] = [];
    t.host.onEffect((effect) => heard.push(effect.type));
    const answered = rawRequest(t.socketPath, "POST", "/actions/reboot").then(() => [...heard]);
    expect(await answered).toContain("reboot-requested");
  });

  test("a command whose process dies releases the lock and records nothing", async () => {
    const t = await host();
    await driveTo(t, "Available");
    const before = await statusOf(t.socketPath);
    t.host.inject("die:prepare");
    expect((await rawRequest(t.socketPath, "POST", "/actions/prepare-update")).status).toBe(204);
    expect(await commandFinished(t.socketPath)).toEqual(before);
  });

  test("a slow prepare holds the lock for its whole duration", async () => {
    const clock = manualClock();
    const t = await host({ durations: INSTANT, clock: clock.now });
    await driveTo(t, "Available");
    t.host.inject("slow:prepare:600");
    const started = clock.now();
    await rawRequest(t.socketPath, "POST", "/actions/prepare-update");
    await clock.advance(t, 599);
    expect((await rawRequest(t.socketPath, "GET", "/updates/status")).status).toBe(423);
    await clock.advance(t, 1);
    const done = await statusOf(t.socketPath);
    expect(Date.parse(done.most_recent_command?.timestamp ?? "")).toBe(started + 600);
  });

  test("a hung command holds the lock until a reboot", async () => {
    const clock = manualClock();
    const t = await host({ durations: INSTANT, clock: clock.now });
    await driveTo(t, "Available");
    t.host.inject("hang:prepare");
    await rawRequest(t.socketPath, "POST", "/actions/prepare-update");
    await clock.advance(t, 3_600_000); // an hour later
    expect((await rawRequest(t.socketPath, "GET", "/updates/status")).status).toBe(423);
    expect(await rawRequest(t.socketPath, "POST", "/actions/refresh-updates")).toMatchObject({ status: 423 });
  });

  test("an out-of-band client's command shows up as most_recent_command", async () => {
    const t = await host();
    await driveTo(t, "Ready");
    expect(t.host.request("POST", "/actions/deactivate-update")).toMatchObject({ kind: "http", status: 204 });
    expect((await commandFinished(t.socketPath)).most_recent_command?.cmd_type).toBe("deactivate");
  });

  test("stall: a request is accepted but never answered; the next one is", async () => {
    const t = await host();
    t.host.inject("stall");
    const stalled = await rawRequest(t.socketPath, "GET", "/os", 100).catch((error: unknown) => error);
    expect(stalled).toMatchObject({ code: "ETIMEDOUT" });
    expect((await rawRequest(t.socketPath, "GET", "/os")).status).toBe(200);
  });

  test("garbage on the socket does not crash the host", async () => {
    const t = await host();
    await new Promise<void>((resolve) => {
      const socket = connect(t.socketPath, () => socket.end("\x00\x01 NOT HTTP\r\n\r\n"));
      socket.on("close", () => resolve());
      socket.on("error", () => resolve());
      socket.resume();
    });
    expect((await rawRequest(t.socketPath, "GET", "/os?prefix=%zz")).status).toBe(200);
  });
});

describe("simulator safety", () => {
  test("a listener that throws becomes an error event; the host keeps serving and rebooting", async () => {
    const t = await host();
    const errors: string[] = [];
    t.host.on("error", (event) => errors.push(event.message));
    t.host.on("api-down", () => {
      throw new Error("cluster hook broke");
    });
    const up = t.host.waitFor("api-up");
    await t.client.reboot();
    expect(await up).toMatchObject({ bootCount: 2 });
    expect(errors).toEqual([expect.stringContaining("cluster hook broke")]);
    expect((await t.client.getOs()).version_id).toBe("1.25.0");
  });

  test("a new simulator refuses to replace a live socket, but takes over a stale one", async () => {
    const t = await host();
    await expect(startSimulatedHost({ socketPath: t.socketPath, version: "1.24.0" })).rejects.toThrow(
      /already listening/,
    );
    expect((await rawRequest(t.socketPath, "GET", "/os")).status).toBe(200);
    // Leave a stale socket file behind (hard link survives the server's unlink on close).
    const stale = `${t.socketPath}.other`;
    const server = createServer();
    await new Promise<void>((resolve) => server.listen(stale, resolve));
    await link(stale, `${stale}.keep`);
    await new Promise((resolve) => server.close(resolve));
    await rename(`${stale}.keep`, stale);
    expect(await connectError(stale)).toBe("ECONNREFUSED");
    const other = await startSimulatedHost({ socketPath: stale, version: "1.24.0" });
    try {
      expect(JSON.parse((await rawRequest(stale, "GET", "/os?prefix=version")).body)).toEqual({ version_id: "1.24.0" });
    } finally {
      await other.stop();
    }
  });
});
