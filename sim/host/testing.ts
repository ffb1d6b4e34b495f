// Test support: a simulated host in a private temp dir, the real client pointed at it, and a raw HTTP helper for
// rules the client would hide. Used by the conformance tests here and by src/host tests.
import { mkdtemp, rm } from "node:fs/promises";
import http from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { HostApiClient, type HostApiClientOptions } from "../../src/host/client.ts";
import type { CommandType, UpdateStatus } from "../../src/host/types.ts";
import { startSimulatedHost, type SimulatedHost, type SimulatedHostOptions } from "./simulated-host.ts";

const FAST_WAIT = { pollIntervalMs: 5, timeoutMs: 5_000 };

/** Client settings for millisecond hosts. */
export const FAST_CLIENT: HostApiClientOptions = {
  requestTimeoutMs: 2_000,
  lockPollIntervalMs: 5,
  maxLockPollIntervalMs: 20,
  lockWaitMs: 5_000,
  waitPolicies: { refresh: FAST_WAIT, prepare: FAST_WAIT, activate: FAST_WAIT, deactivate: FAST_WAIT },
};

export interface TestHost {
  host: SimulatedHost;
  client: HostApiClient;
  socketPath: string;
  bootIdPath: string;
  dir: string;
  /** Stops the host and client and removes the temp dir. */
  close(): Promise<void>;
}

export async function startTestHost(
  options: Partial<SimulatedHostOptions> = {},
  clientOptions: HostApiClientOptions = {},
): Promise<TestHost> {
  const dir = await mkdtemp(join(tmpdir(), "brupop-host-"));
  const socketPath = join(dir, "api.sock");
  const bootIdPath = join(dir, "boot_id");
  const host = await startSimulatedHost({
    version: "1.25.0",
    offer: ["1.24.0", "1.24.1", "1.26.0"],
    profile: "fast",
    bootIdPath,
    ...options,
    socketPath,
  });
  const client = new HostApiClient({ ...FAST_CLIENT, ...clientOptions, socketPath });
  return {
    host,
    client,
    socketPath,
    bootIdPath,
    dir,
    async close() {
      await client.close();
      await host.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/**
 * A clock that moves only when the test moves it: with `startTestHost({ clock: clock.now })` a command, a reboot or a
 * boot finishes exactly when the test says, so "still running" and "done" are facts, not races with the machine.
 */
export interface ManualClock {
  readonly now: () => number;
  /** Moves the clock by `ms` and lets the host apply whatever became due; resolves once its socket work is done. */
  advance(host: TestHost, ms: number): Promise<void>;
}

export function manualClock(start = Date.now()): ManualClock {
  let now = start;
  return {
    now: () => now,
    async advance(t, ms) {
      now += ms;
      t.host.tick();
      await t.host.settled();
    },
  };
}

export interface RawResult {
  status: number;
  body: string;
  headers: http.IncomingHttpHeaders;
}

/** One HTTP request over the socket with node:http, no keep-alive. Rejects with the socket error (its `code`). */
export function rawRequest(socketPath: string, method: string, path: string, timeoutMs = 2_000): Promise<RawResult> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath, method, path, agent: false, timeout: timeoutMs }, (res) => {
      const chunks: Buffer[] = [];
      res.on("data", (chunk: Buffer) => chunks.push(chunk));
      res.on("end", () =>
        resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), headers: res.headers }),
      );
      res.on("error", reject);
    });
    req.on("timeout", () => req.destroy(Object.assign(new Error("request timed out"), { code: "ETIMEDOUT" })));
    req.on("error", reject);
    req.end();
  });
}

/** The `code` of a failed raw request (ENOENT, ECONNREFUSED, ECONNRESET...). */
export async function connectError(socketPath: string, method = "GET", path = "/os"): Promise<string> {
  try {
    const result = await rawRequest(socketPath, method, path);
    return `answered ${result.status}`;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code ?? String(error);
  }
}

export async function statusOf(socketPath: string): Promise<UpdateStatus> {
  const result = await rawRequest(socketPath, "GET", "/updates/status");
  if (result.status !== 200) throw new Error(`GET /updates/status answered ${result.status}: ${result.body}`);
  return JSON.parse(result.body) as UpdateStatus;
}

/** Polls until `check` returns a value other than undefined. */
export async function eventually<T>(
  check: () => Promise<T | undefined> | T | undefined,
  timeoutMs = 3_000,
  everyMs = 5,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`condition not met within ${timeoutMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, everyMs));
  }
}

/** Waits until the running command (if any) has finished and GET status answers 200. */
export async function commandFinished(socketPath: string): Promise<UpdateStatus> {
  return eventually(async () => {
    const result = await rawRequest(socketPath, "GET", "/updates/status");
    return result.status === 200 ? (JSON.parse(result.body) as UpdateStatus) : undefined;
  });
}

/** Drives the host through the real client into an update state, updating to `version`. */
export async function driveTo(
  t: TestHost,
  state: "Idle" | "Available" | "Staged" | "Ready",
  version = "1.26.0",
): Promise<void> {
  if (state === "Idle") {
    t.host.updateSettings({ versionLock: `v${t.host.runningVersion}` });
    await t.client.refreshUpdates();
    t.host.updateSettings({ versionLock: "latest" });
    return;
  }
  await t.client.refreshUpdates();
  if (state === "Available") return;
  await t.client.prepareUpdate(version);
  if (state === "Staged") return;
  await t.client.activateUpdate(version);
}

/** Counts commands the host starts, e.g. to prove an idempotent helper ran nothing. */
export function countCommands(host: SimulatedHost): { readonly started: CommandType[] } {
  const started: CommandType[] = [];
  host.on("command-started", (event) => started.push(event.command));
  return { started };
}
