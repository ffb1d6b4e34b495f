// The host API client against the simulated host, over its socket.
import { mkdtemp, rm } from "node:fs/promises";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, test, vi } from "vitest";
import { manualClock, startTestHost, type TestHost } from "../../sim/host/testing.ts";
import type { SimulatedHostOptions } from "../../sim/host/simulated-host.ts";
import { HostApiClient, type HostApiClientOptions } from "./client.ts";
import { isConnectFailure } from "./transport.ts";
import { HostApiError, isHostApiError, type HostApiErrorKind } from "./errors.ts";

/** For vi.waitFor: a fact the test waits on, polled often, bounded. */
const WAIT = { timeout: 5_000, interval: 5 };

const hosts: TestHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((t) => t.close()));
});

async function host(options: Partial<SimulatedHostOptions> = {}, client: HostApiClientOptions = {}): Promise<TestHost> {
  const t = await startTestHost(options, client);
  hosts.push(t);
  return t;
}

async function failure(promise: Promise<unknown>): Promise<HostApiError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof HostApiError) return error;
    throw error;
  }
  throw new Error("expected a HostApiError");
}

function kinds(...errors: HostApiError[]): HostApiErrorKind[] {
  return errors.map((e) => e.kind);
}

/** The requests the host received with `method`, as "METHOD url outcome", in order. */
function requests(t: TestHost, method: string): string[] {
  const list: string[] = [];
  t.host.on("request", (event) => {
    if (event.method === method) list.push(`${event.method} ${event.url} ${String(event.outcome)}`);
  });
  return list;
}

function started(t: TestHost): string[] {
  const list: string[] = [];
  t.host.on("command-started", (event) => list.push(event.command));
  return list;
}

describe("reads", () => {
  test("getOs returns the running version; getUpdateStatus is null while uninitialised (404 after boot)", async () => {
    const t = await host();
    expect(await t.client.getOs()).toMatchObject({ version_id: "1.25.0", variant_id: "aws-k8s-1.30", arch: "x86_64" });
    expect(await t.client.getUpdateStatus()).toBeNull();
  });

  test("getUpdateStatus throws 'locked' while a command runs; readUpdateStatus waits it out", async () => {
    const clock = manualClock();
    const t = await host({ durations: { refreshMs: 500 }, clock: clock.now });
    const polls = requests(t, "GET");
    t.host.request("POST", "/actions/refresh-updates");
    const error = await failure(t.client.getUpdateStatus());
    expect([error.kind, error.status]).toEqual(["locked", 423]);
    const read = t.client.readUpdateStatus();
    await vi.waitFor(() => expect(polls.filter((p) => p.endsWith(" 423"))).toHaveLength(2), WAIT);
    await clock.advance(t, 500); // the refresh finishes while readUpdateStatus waits
    expect((await read)?.most_recent_command?.cmd_type).toBe("refresh");
  });
});

describe("commands", () => {
  test("refreshUpdates returns the chosen update", async () => {
    const t = await host();
    const { chosenUpdate, status } = await t.client.refreshUpdates();
    expect(chosenUpdate).toEqual({ arch: "x86_64", version: "1.26.0", variant: "aws-k8s-1.30" });
    expect(status.update_state).toBe("Available");
  });

  test("a failed command throws 'command-failed' carrying updog's stderr", async () => {
    const t = await host();
    t.host.inject("refresh");
    const error = await failure(t.client.refreshUpdates());
    expect(error.kind).toBe("command-failed");
    expect(error.body).toMatch(/^Metadata error/);
    expect(error.message).toMatch(/refresh failed \(exit 1\): Metadata error/);
  });

  test("a POST that meets another client's command (423) waits for the lock, then runs and reports its own result", async () => {
    const clock = manualClock();
    const t = await host({ durations: { prepareMs: 300, refreshMs: 0 }, clock: clock.now });
    await t.client.refreshUpdates();
    const seen = requests(t, "GET");
    t.host.request("POST", "/actions/prepare-update"); // someone else
    const running = t.client.runCommand("refresh");
    await vi.waitFor(() => expect(seen).toContain("GET /updates/status 423"), WAIT);
    await clock.advance(t, 300); // the other client's prepare finishes while ours waits
    const { result, status } = await running;
    expect(result).toMatchObject({ cmd_type: "refresh", cmd_status: "Success" });
    expect(status.update_state).toBe("Staged"); // the other prepare finished first
  });

  test("a lock held longer than lockWaitMs fails with 'locked'", async () => {
    const t = await host({}, { lockWaitMs: 80 });
    t.host.inject("hang:refresh");
    t.host.request("POST", "/actions/refresh-updates");
    const error = await failure(t.client.refreshUpdates());
    // Given up on its own wait (the one configured), while the other command still holds the lock.
    expect(error.kind).toBe("locked");
    expect(error.message).toMatch(/update lock still held after waiting 80 ms$/);
    expect(t.host.state.lock).toMatchObject({ held: "command", command: { type: "refresh" } });
  });

  test("a POST refused because a reader holds the shared lock is retried", async () => {
    const t = await host();
    t.host.inject("contention:60");
    expect((await t.client.refreshUpdates()).status.most_recent_command?.cmd_type).toBe("refresh");
  });

  test("our own command never finishing ends in 'timeout' at the command's deadline", async () => {
    const t = await host({}, { waitPolicies: { prepare: { pollIntervalMs: 10, timeoutMs: 120 } } });
    await t.client.refreshUpdates();
    t.host.inject("hang:prepare");
    const began = Date.now();
    const error = await failure(t.client.prepareUpdate("1.26.0"));
    expect(error.kind).toBe("timeout");
    expect(error.message).toMatch(/^prepare did not finish within 120 ms/);
    expect(t.host.state.lock).toMatchObject({ held: "command", command: { type: "prepare" } }); // still running
    // Not before the deadline: a lower bound that load can only make longer.
    expect(Date.now() - began).toBeGreaterThanOrEqual(100);
  });

  test("a command whose process dies is 'interrupted', not success", async () => {
    const t = await host();
    await t.client.refreshUpdates();
    t.host.inject("die:prepare");
    const error = await failure(t.client.prepareUpdate("1.26.0"));
    expect(error.kind).toBe("interrupted");
    expect(error.message).toMatch(/without recording a result/);
  });

  test("a reboot during our command is 'interrupted' once the status reads 404, riding out the socket outage", async () => {
    const t = await host(
      { durations: { prepareMs: 500, shutdownMs: 0, socketLingerMs: 5, rebootMs: 40 } },
      { maxPollErrors: 50, waitPolicies: { prepare: { pollIntervalMs: 15, timeoutMs: 2_000 } } },
    );
    await t.client.refreshUpdates();
    const pending = failure(t.client.prepareUpdate("1.26.0"));
    await t.host.waitFor("command-started");
    t.host.request("POST", "/actions/reboot");
    const error = await pending;
    expect(error.kind).toBe("interrupted");
    expect(error.message).toMatch(/host rebooted/);
  });

  test("another client's command over ours is 'interrupted': our result was overwritten", async () => {
    const t = await host(
      { durations: { deactivateMs: 0 } },
      { waitPolicies: { activate: { pollIntervalMs: 250, timeoutMs: 2_000 } } },
    );
    await t.client.refreshUpdates();
    await t.client.prepareUpdate("1.26.0");
    t.host.on("command-finished", (event) => {
      if (event.command === "activate") t.host.request("POST", "/actions/deactivate-update"); // apiclient update cancel
    });
    const error = await failure(t.client.activateUpdate("1.26.0"));
    expect(error.kind).toBe("interrupted");
    expect(error.message).toMatch(/another client ran deactivate/);
  });
});

describe("idempotent helpers", () => {
  test("prepareUpdate and activateUpdate treat Staged/Ready for the same version as done", async () => {
    const t = await host();
    const commands = started(t);
    await t.client.prepareUpdate("1.26.0"); // refreshes first: status uninitialised
    expect((await t.client.prepareUpdate("1.26.0")).update_state).toBe("Staged");
    await t.client.activateUpdate("1.26.0");
    expect((await t.client.activateUpdate("1.26.0")).update_state).toBe("Ready");
    expect((await t.client.prepareUpdate("1.26.0")).update_state).toBe("Ready"); // Ready counts as prepared
    expect(commands).toEqual(["refresh", "prepare", "activate"]);
  });

  test("prepareUpdate of another version while one is Ready deactivates it first, then stages the new one", async () => {
    const t = await host({ offer: ["1.26.0", "1.27.0"], settings: { versionLock: "v1.26.0" } });
    await t.client.prepareUpdate("1.26.0");
    await t.client.activateUpdate("1.26.0");
    t.host.updateSettings({ versionLock: "v1.27.0" });
    const commands = started(t);
    const status = await t.client.prepareUpdate("1.27.0");
    expect(commands).toEqual(["deactivate", "refresh", "prepare"]);
    expect(status).toMatchObject({
      update_state: "Staged",
      staging_partition: { image: { version: "1.27.0" }, next_to_boot: false },
    });
  });

  test("prepareUpdate refuses when the host offers another version (its version-lock decides what prepare writes)", async () => {
    const t = await host({ offer: ["1.26.0", "1.27.0"] });
    const commands = started(t);
    const error = await failure(t.client.prepareUpdate("1.26.0"));
    expect(error.kind).toBe("version-mismatch");
    expect(error.message).toMatch(/host offers 1\.27\.0, not 1\.26\.0/);
    expect(commands).toEqual(["refresh"]); // no prepare
  });

  test("prepareUpdate fails with 'command-failed' when prepare fails; the host stays Available", async () => {
    const t = await host();
    t.host.inject("prepare");
    const error = await failure(t.client.prepareUpdate("1.26.0"));
    expect(error.kind).toBe("command-failed");
    expect(error.body).toMatch(/^Starting update to 1\.26\.0\nFailed writing update data to disk/);
    expect((await t.client.readUpdateStatus())?.update_state).toBe("Available");
  });

  test("prepareUpdate after a failed refresh: the host is Idle but keeps chosen_update, so it refreshes again", async () => {
    const t = await host();
    await t.client.refreshUpdates();
    t.host.inject("refresh");
    expect((await failure(t.client.refreshUpdates())).kind).toBe("command-failed");
    const kept = await t.client.readUpdateStatus();
    expect([kept?.update_state, kept?.chosen_update?.version]).toEqual(["Idle", "1.26.0"]); // the host's contract
    const commands = started(t);
    expect((await t.client.prepareUpdate("1.26.0")).update_state).toBe("Staged");
    expect(commands).toEqual(["refresh", "prepare"]);
  });

  test("activateUpdate: 'conflict' with nothing staged, 'version-mismatch' with another version staged", async () => {
    const t = await host({ offer: ["1.26.0", "1.27.0"] });
    expect((await failure(t.client.activateUpdate("1.27.0"))).kind).toBe("conflict"); // uninitialised
    await t.client.refreshUpdates();
    expect((await failure(t.client.activateUpdate("1.27.0"))).kind).toBe("conflict"); // Available
    await t.client.prepareUpdate("1.27.0");
    expect((await failure(t.client.activateUpdate("1.26.0"))).kind).toBe("version-mismatch");
  });

  test("activateUpdate reports a failed activate", async () => {
    const t = await host();
    await t.client.prepareUpdate("1.26.0");
    t.host.inject("activate");
    const error = await failure(t.client.activateUpdate("1.26.0"));
    expect(error.kind).toBe("command-failed");
    expect((await t.client.readUpdateStatus())?.update_state).toBe("Staged");
  });

  test("deactivateUpdate undoes Ready and is a no-op otherwise", async () => {
    const t = await host();
    const commands = started(t);
    expect(await t.client.deactivateUpdate()).toBeNull(); // uninitialised: nothing to undo
    await t.client.prepareUpdate("1.26.0");
    await t.client.activateUpdate("1.26.0");
    expect((await t.client.deactivateUpdate())?.update_state).toBe("Staged");
    expect((await t.client.deactivateUpdate())?.update_state).toBe("Staged");
    expect(commands.filter((c) => c === "deactivate")).toHaveLength(1);
  });
});

describe("rolling back: an older version staged with the version-lock pinned", () => {
  test("prepareExactly stages a version the host does not offer, and puts the version-lock back", async () => {
    const t = await host({ version: "1.26.0", offer: ["1.25.0"], previousVersion: "1.25.0" });
    expect((await t.client.refreshUpdates()).chosenUpdate).toBeNull(); // latest: nothing newer than 1.26.0
    const commands = started(t);
    const status = await t.client.prepareExactly("1.25.0");
    expect(status).toMatchObject({ update_state: "Staged", staging_partition: { image: { version: "1.25.0" } } });
    expect(commands).toEqual(["refresh", "prepare"]);
    expect(t.host.state.disk.settings.versionLock).toBe("latest");
    expect(t.host.state.disk.pending).toEqual({});
    await t.client.activateUpdate("1.25.0");
    await t.client.reboot();
    await vi.waitFor(() => expect(t.host.runningVersion).toBe("1.25.0"), WAIT);
  });

  test("a pin left by an agent that died before putting the version-lock back is undone, by the next attempt or alone", async () => {
    const t = await host({ version: "1.26.0", offer: ["1.25.0"], settings: { versionLock: "v1.26.0" } });
    t.host.inject("die:prepare");
    expect((await failure(t.client.prepareExactly("1.25.0"))).kind).toBe("interrupted");
    expect(t.host.state.disk.settings.versionLock).toBe("v1.26.0"); // a failed prepare puts it back itself
    // A death between the pin and the restore: the pin is committed, the old value waits in its transaction.
    await t.client.raw(
      "PATCH",
      "/settings?tx=brupop-rollback-pin",
      JSON.stringify({ updates: { "version-lock": "v1.25.0" } }),
    );
    await t.client.raw("POST", "/tx/commit_and_apply?tx=brupop-rollback-pin");
    await t.client.raw(
      "PATCH",
      "/settings?tx=brupop-rollback-restore",
      JSON.stringify({ updates: { "version-lock": "v1.26.0" } }),
    );
    expect(t.host.state.disk.settings.versionLock).toBe("v1.25.0");
    expect(await t.client.restoreVersionLock()).toBe(true);
    expect(t.host.state.disk.settings.versionLock).toBe("v1.26.0"); // as the user had it
    expect(await t.client.restoreVersionLock()).toBe(false); // nothing left
    await t.client.prepareExactly("1.25.0");
    expect(t.host.state.disk.settings.versionLock).toBe("v1.26.0");
  });

  test("a version the host cannot stage (pulled) fails as a mismatch, the version-lock put back", async () => {
    const t = await host({ version: "1.26.0", offer: [] });
    const error = await failure(t.client.prepareExactly("1.25.0"));
    expect(error.kind).toBe("version-mismatch");
    expect(t.host.state.disk.settings.versionLock).toBe("latest");
  });
});

describe("reboot", () => {
  test("accepted with a 204; the host goes down and comes back", async () => {
    const t = await host();
    const up = t.host.waitFor("api-up");
    expect(await t.client.reboot()).toBe("accepted");
    await up;
  });

  test("a reset instead of the 204 counts as 'connection-lost': the reboot is under way", async () => {
    const t = await host();
    t.host.inject("reboot-drop");
    const up = t.host.waitFor("api-up");
    expect(await t.client.reboot()).toBe("connection-lost");
    await up;
  });

  test("a refusal is a 'server-error' carrying systemctl's text", async () => {
    const t = await host();
    t.host.inject("reboot");
    const error = await failure(t.client.reboot());
    expect([error.kind, error.status]).toEqual(["server-error", 500]);
    expect(error.body).toMatch(/^Failed to reboot, exit code: 1/);
  });

  test("no socket at all is 'unavailable' and a connect failure (nothing was asked)", async () => {
    const t = await host();
    await t.host.stop();
    const error = await failure(t.client.reboot());
    expect(error.kind).toBe("unavailable");
    expect(isConnectFailure(error)).toBe(true);
  });
});

describe("transport", () => {
  test("a socket with no listener (ECONNREFUSED) or no file (ENOENT) is 'unavailable'", async () => {
    const clock = manualClock();
    const t = await host({ durations: { shutdownMs: 0, socketLingerMs: 200, rebootMs: 400 }, clock: clock.now });
    const down = t.host.waitFor("api-down");
    await t.client.reboot();
    await down;
    await t.host.settled();
    const refused = await failure(t.client.getOs()); // the socket file lingers until the clock moves
    const removed = t.host.waitFor("socket-removed");
    await clock.advance(t, 200);
    await removed;
    const missing = await failure(t.client.getOs());
    expect(kinds(refused, missing)).toEqual(["unavailable", "unavailable"]);
    expect([refused.message, missing.message]).toEqual([
      expect.stringMatching(/ECONNREFUSED/),
      expect.stringMatching(/ENOENT/),
    ]);
  });

  test("an unanswered request ends in 'timeout' after requestTimeoutMs", async () => {
    const t = await host({}, { requestTimeoutMs: 80 });
    t.host.inject("stall");
    const answers = requests(t, "GET");
    const error = await failure(t.client.getOs());
    // The host took the request and never answered: only the client's own deadline can have ended it.
    expect(answers).toEqual(["GET /os stall"]);
    expect(error.kind).toBe("timeout");
    expect(error.message).toBe("GET /os: no answer within 80 ms");
  });

  test("non-JSON or wrongly shaped answers are 'bad-response', never a crash", async () => {
    // A misbehaving host: the simulator never answers like this, so a bare server stands in.
    const dir = await mkdtemp(join(tmpdir(), "brupop-bad-host-"));
    const socketPath = join(dir, "api.sock");
    const server = createServer((req, res) => {
      if (req.url === "/os") res.writeHead(200, { "content-type": "application/json" }).end("{not json");
      else res.writeHead(200).end('{"update_state":"Preparing"}');
    });
    await new Promise<void>((resolve) => server.listen(socketPath, resolve));
    const client = new HostApiClient({ socketPath });
    try {
      const [os, status] = [await failure(client.getOs()), await failure(client.getUpdateStatus())];
      expect(kinds(os, status)).toEqual(["bad-response", "bad-response"]);
      expect(status.message).toMatch(/update_state: expected one of/);
    } finally {
      await client.close();
      await new Promise((resolve) => server.close(resolve));
      await rm(dir, { recursive: true, force: true });
    }
  });

  test("an aborted signal stops a wait with the abort reason", async () => {
    const controller = new AbortController();
    const t = await host(
      {},
      { signal: controller.signal, waitPolicies: { prepare: { pollIntervalMs: 10, timeoutMs: 5_000 } } },
    );
    await t.client.refreshUpdates();
    t.host.inject("hang:prepare");
    const polls = requests(t, "GET");
    const pending = t.client.prepareUpdate("1.26.0").catch((error: unknown) => error);
    // Abort once the client is waiting on the hung command: it has seen the lock held (423) at least once.
    await vi.waitFor(() => expect(polls).toContain("GET /updates/status 423"), WAIT);
    controller.abort(new Error("agent stopping"));
    expect(await pending).toMatchObject({ message: "agent stopping" });
    expect(isHostApiError(await pending)).toBe(false);
  });
});
