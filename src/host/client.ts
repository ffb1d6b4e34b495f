// Client of the Bottlerocket update API over its Unix socket. It speaks HTTP directly (brupop 1.4 spawned
// `apiclient raw` for every call) and follows the host's real contract (docs/design/host-api.md#client-rules): actions
// answer 204 and run in the background holding the update lock; results appear only in `GET /updates/status`, which
// answers 423 while a command runs and 404 after a reboot until the next action. Every request has a timeout and every
// wait a deadline. Kept small: it runs in the per-node agent.
import { setTimeout as sleep } from "node:timers/promises";
import { HostApiError, kindForStatus } from "./errors.ts";
import { isConnectFailure, send, type RawResponse } from "./transport.ts";
import { decodeJson, parseOsInfo, parseUpdateStatus } from "./parse.ts";
import {
  ACTION_PATHS,
  COMMIT_AND_APPLY_PATH,
  DEFAULT_HOST_API_SOCKET,
  OS_PATH,
  REBOOT_PATH,
  SETTINGS_PATH,
  STATUS_PATH,
  VERSION_LOCK_KEY,
  type CommandResult,
  type CommandType,
  type OsInfo,
  type UpdateImage,
  type UpdateStatus,
} from "./types.ts";

export interface CommandWaitPolicy {
  /** Pause between `GET /updates/status` polls while the command runs. */
  pollIntervalMs: number;
  /** Give up (kind "timeout") if the command has not finished by then. */
  timeoutMs: number;
}

/** apiclient's own polling limits per command (docs/design/host-api.md#waiting-for-a-command). */
export const APICLIENT_WAIT_POLICIES: Readonly<Record<CommandType, CommandWaitPolicy>> = {
  refresh: { pollIntervalMs: 100, timeoutMs: 10_000 },
  prepare: { pollIntervalMs: 500, timeoutMs: 600_000 },
  activate: { pollIntervalMs: 100, timeoutMs: 5_000 },
  deactivate: { pollIntervalMs: 100, timeoutMs: 5_000 },
};

export interface HostApiClientOptions {
  /** Default `/run/api.sock`. */
  socketPath?: string;
  /** Bound on each HTTP request, from connect to the end of the body. Default 10 s. */
  requestTimeoutMs?: number;
  /** How long to wait for an update lock held by someone else's command before failing with "locked". Default 120 s. */
  lockWaitMs?: number;
  /** First pause while waiting for a lock; it doubles up to maxLockPollIntervalMs. Default 250 ms. */
  lockPollIntervalMs?: number;
  /**
   * Ceiling for the pause between lock polls; polling too fast makes POSTs collide (docs/design/host-api.md#locking).
   * Default 5 s.
   */
  maxLockPollIntervalMs?: number;
  /** Per-command overrides of APICLIENT_WAIT_POLICIES. */
  waitPolicies?: Partial<Record<CommandType, Partial<CommandWaitPolicy>>>;
  /** Consecutive transient poll failures tolerated while a command runs (apiclient tolerates 5). */
  maxPollErrors?: number;
  /** Aborts every request and wait (e.g. on agent shutdown); the abort reason is rethrown. */
  signal?: AbortSignal;
}

export interface CommandOutcome {
  /** `most_recent_command` for our command; may report `Failed`. */
  result: CommandResult;
  /** The status document that showed it. */
  status: UpdateStatus;
}

export interface RefreshResult {
  status: UpdateStatus;
  /** The update the host would apply next (its version-lock and waves decide), or null. */
  chosenUpdate: UpdateImage | null;
}

/**
 * The settings transactions of a rollback: the pin, and the version-lock as it was, kept staged in the host's own
 * datastore (on disk) until it is put back, so that an agent that dies between the two still puts it back.
 */
export const PIN_TRANSACTION = "brupop-rollback-pin";
export const RESTORE_TRANSACTION = "brupop-rollback-restore";

/** `connection-lost`: the reboot's 204 never arrived because the host went down first; a reboot is under way. */
export type RebootOutcome = "accepted" | "connection-lost";

export class HostApiClient {
  readonly socketPath: string;
  readonly #requestTimeoutMs: number;
  readonly #lockWaitMs: number;
  readonly #lockPollIntervalMs: number;
  readonly #maxLockPollIntervalMs: number;
  readonly #policies: Record<CommandType, CommandWaitPolicy>;
  readonly #maxPollErrors: number;
  readonly #signal: AbortSignal | undefined;

  constructor(options: HostApiClientOptions = {}) {
    this.socketPath = options.socketPath ?? DEFAULT_HOST_API_SOCKET;
    this.#requestTimeoutMs = positive(options.requestTimeoutMs ?? 10_000, "requestTimeoutMs");
    this.#lockWaitMs = nonNegative(options.lockWaitMs ?? 120_000, "lockWaitMs");
    this.#lockPollIntervalMs = positive(options.lockPollIntervalMs ?? 250, "lockPollIntervalMs");
    this.#maxLockPollIntervalMs = positive(options.maxLockPollIntervalMs ?? 5_000, "maxLockPollIntervalMs");
    this.#maxPollErrors = nonNegative(options.maxPollErrors ?? 5, "maxPollErrors");
    this.#signal = options.signal;
    const policies = { ...APICLIENT_WAIT_POLICIES };
    for (const [type, override] of Object.entries(options.waitPolicies ?? {}) as [
      CommandType,
      Partial<CommandWaitPolicy>,
    ][]) {
      const merged = { ...policies[type], ...override };
      policies[type] = {
        pollIntervalMs: positive(merged.pollIntervalMs, `waitPolicies.${type}.pollIntervalMs`),
        timeoutMs: nonNegative(merged.timeoutMs, `waitPolicies.${type}.timeoutMs`),
      };
    }
    this.#policies = policies;
  }

  /** Nothing to release: every request uses its own connection. Kept so callers can treat clients uniformly. */
  async close(): Promise<void> {
    // No pool: a connection kept alive across a host reboot would only fail later (docs/design/host-api.md#transport).
  }

  /**
   * One HTTP exchange; never throws on an HTTP status. Throws HostApiError "unavailable" or "timeout" when the
   * exchange itself fails. `path` may carry a query string (`/os?prefix=version`).
   */
  async raw(method: string, path: string, body?: string): Promise<RawResponse> {
    return send(this.socketPath, method, path, body, { timeoutMs: this.#requestTimeoutMs, signal: this.#signal });
  }

  /** `GET /os`: the running OS. `version_id` is the authoritative running version (and the only rollback signal). */
  async getOs(): Promise<OsInfo> {
    const response = await this.raw("GET", OS_PATH);
    if (response.status !== 200) throw statusError("GET", OS_PATH, response);
    return parseOsInfo(decodeJson(response.body, OS_PATH));
  }

  /**
   * One `GET /updates/status`. Returns null when the status is uninitialised (404: the host booted and no action
   * has run since). Throws "locked" on 423 (a command is running); see readUpdateStatus to wait instead.
   */
  async getUpdateStatus(): Promise<UpdateStatus | null> {
    return statusFrom(await this.raw("GET", STATUS_PATH));
  }

  /** Like getUpdateStatus, but waits (bounded by lockWaitMs) while a command holds the update lock. */
  async readUpdateStatus(): Promise<UpdateStatus | null> {
    return this.#statusOnceUnlocked(Date.now() + this.#lockWaitMs);
  }

  /**
   * POSTs the command and waits until `most_recent_command` shows it finished: the lock is taken before the 204
   * and held until the result is written, so the first 200 after our 204 carries our result or proves it was lost.
   * A 423 on the POST (someone else's command) is waited out. Returns Failed results too; the helpers below throw.
   */
  async runCommand(type: CommandType): Promise<CommandOutcome> {
    const path = ACTION_PATHS[type];
    const policy = this.#policies[type];
    const lockDeadline = Date.now() + this.#lockWaitMs;
    let before = await this.#statusOnceUnlocked(lockDeadline);
    let pause = this.#lockPollIntervalMs;
    for (;;) {
      const response = await this.raw("POST", path);
      if (response.status >= 200 && response.status < 300) break;
      if (response.status !== 423) throw statusError("POST", path, response);
      // Lock held (another command, or a reader at that instant): wait and re-read the baseline.
      await this.#pauseUntil(pause, lockDeadline, () => lockedError("POST", path, this.#lockWaitMs, response));
      pause = Math.min(pause * 2, this.#maxLockPollIntervalMs);
      before = await this.#statusOnceUnlocked(lockDeadline);
    }
    const baseline = before?.most_recent_command?.timestamp ?? null;
    return this.#awaitResult(type, baseline, Date.now() + policy.timeoutMs);
  }

  /** Refreshes the host's view of available updates and returns the chosen one. Throws "command-failed" on failure. */
  async refreshUpdates(): Promise<RefreshResult> {
    const { status } = await this.#runSucceeding("refresh");
    return { status, chosenUpdate: status.chosen_update };
  }

  /**
   * Ensures `expectedVersion` is written to the inactive partition (state Staged, or Ready for that version).
   * Idempotent: Staged or Ready for the same version counts as done. A different version that is Ready is
   * deactivated first, and the host is refreshed when it does not offer the expected version or cannot prepare it
   * (Idle after a failed refresh). Throws
   * "version-mismatch" if the host offers or stages another version: the host's version-lock and waves decide
   * what prepare writes, so the caller must not assume it is the one it wanted.
   */
  async prepareUpdate(expectedVersion: string): Promise<UpdateStatus> {
    let status = await this.readUpdateStatus();
    if (
      status &&
      isStaged(status, expectedVersion) &&
      (status.update_state === "Staged" || status.update_state === "Ready")
    ) {
      return status;
    }
    if (status?.update_state === "Ready") {
      // Another version is set to boot next; undo that before staging ours.
      status = (await this.#runSucceeding("deactivate")).status;
    }
    // Prepare needs Available (or Staged): a failed refresh leaves the host Idle while it keeps the old
    // chosen_update, so an offer of the right version is not enough (docs/design/host-api.md#transitions).
    const preparable = status?.update_state === "Available" || status?.update_state === "Staged";
    if (status?.chosen_update?.version !== expectedVersion || !preparable) {
      status = (await this.refreshUpdates()).status;
    }
    const chosen = status.chosen_update?.version;
    if (chosen !== expectedVersion) {
      throw new HostApiError(
        "version-mismatch",
        `host offers ${chosen === undefined ? "no update" : chosen}, not ${expectedVersion} (state ${status.update_state})`,
        { path: ACTION_PATHS.prepare },
      );
    }
    if (status.update_state !== "Available" && status.update_state !== "Staged") {
      throw new HostApiError("conflict", `cannot prepare in state ${status.update_state}`, {
        path: ACTION_PATHS.prepare,
      });
    }
    const outcome = await this.#runSucceeding("prepare");
    if (outcome.status.update_state !== "Staged" || !isStaged(outcome.status, expectedVersion)) {
      throw new HostApiError(
        "version-mismatch",
        `prepare succeeded but the host shows ${describeStaging(outcome.status)}, expected ${expectedVersion} staged`,
        { path: ACTION_PATHS.prepare },
      );
    }
    return outcome.status;
  }

  /**
   * Stages exactly `version`, which the host need not offer (an older version, to roll a failed update back): the
   * host's version-lock is pinned to it for the refresh and the prepare (updog chooses again at prepare), and put
   * back as it was right after. What it was waits in a transaction of its own (RESTORE_TRANSACTION), committed after
   * the prepare, or by the next attempt or restoreVersionLock() when an agent died in between
   * (docs/design/host-api.md#settings).
   */
  async prepareExactly(version: string): Promise<UpdateStatus> {
    await this.restoreVersionLock(); // left staged by an attempt that did not finish
    const lock = await this.versionLock();
    await this.#stageVersionLock(lock, RESTORE_TRANSACTION);
    await this.#stageVersionLock(`v${version}`, PIN_TRANSACTION);
    await this.#commitSettings(PIN_TRANSACTION);
    let status: UpdateStatus;
    try {
      status = await this.prepareUpdate(version);
    } catch (error) {
      await this.restoreVersionLock().catch(() => undefined); // the next attempt, or the way back to Idle, retries
      throw error;
    }
    await this.restoreVersionLock();
    return status;
  }

  /** Puts the version-lock back as it was before a rollback's pin; false when nothing was left to put back. */
  async restoreVersionLock(): Promise<boolean> {
    return this.#commitSettings(RESTORE_TRANSACTION);
  }

  /** `settings.updates.version-lock` as the host has it now (`latest`, or one version). */
  async versionLock(): Promise<string> {
    const path = `${SETTINGS_PATH}?keys=${VERSION_LOCK_KEY}`;
    const response = await this.raw("GET", path);
    if (response.status !== 200) throw statusError("GET", path, response);
    const body = decodeJson(response.body, path) as { updates?: { "version-lock"?: unknown } } | null;
    const lock = body?.updates?.["version-lock"];
    if (typeof lock !== "string" || lock === "") {
      throw new HostApiError("bad-response", `GET ${path}: no version-lock in ${response.body.slice(0, 200)}`, {
        path,
      });
    }
    return lock;
  }

  async #stageVersionLock(lock: string, transaction: string): Promise<void> {
    const path = `${SETTINGS_PATH}?tx=${transaction}`;
    const response = await this.raw("PATCH", path, JSON.stringify({ updates: { "version-lock": lock } }));
    if (response.status < 200 || response.status >= 300) throw statusError("PATCH", path, response);
  }

  /** Commits and applies a transaction; false when it held nothing (422). */
  async #commitSettings(transaction: string): Promise<boolean> {
    const path = `${COMMIT_AND_APPLY_PATH}?tx=${transaction}`;
    const response = await this.raw("POST", path);
    if (response.status === 422) return false;
    if (response.status < 200 || response.status >= 300) throw statusError("POST", path, response);
    return true;
  }

  /**
   * Ensures the staged `expectedVersion` is set to boot next (state Ready). Idempotent: Ready for the same version
   * counts as done. Throws "conflict" when nothing is staged and "version-mismatch" when another version is.
   */
  async activateUpdate(expectedVersion: string): Promise<UpdateStatus> {
    const status = await this.readUpdateStatus();
    const path = ACTION_PATHS.activate;
    if (status === null) {
      throw new HostApiError("conflict", "update status is uninitialised (the host rebooted?); nothing is staged", {
        path,
      });
    }
    const staged = isStaged(status, expectedVersion);
    if (status.update_state === "Ready" && staged) return status;
    if (status.update_state !== "Ready" && status.update_state !== "Staged") {
      throw new HostApiError("conflict", `nothing to activate in state ${status.update_state}`, { path });
    }
    if (!staged) {
      throw new HostApiError("version-mismatch", `host shows ${describeStaging(status)}, expected ${expectedVersion}`, {
        path,
      });
    }
    const outcome = await this.#runSucceeding("activate");
    if (outcome.status.update_state !== "Ready" || !isStaged(outcome.status, expectedVersion)) {
      throw new HostApiError(
        "version-mismatch",
        `activate succeeded but the host shows ${describeStaging(outcome.status)} in state ${outcome.status.update_state}`,
        { path },
      );
    }
    return outcome.status;
  }

  /**
   * Ensures no update is set to boot next. Idempotent: anything but Ready is already done (returns the status,
   * or null if uninitialised). Use it when abandoning an update so an unrelated reboot does not apply it.
   */
  async deactivateUpdate(): Promise<UpdateStatus | null> {
    const status = await this.readUpdateStatus();
    if (status?.update_state !== "Ready") return status;
    const outcome = await this.#runSucceeding("deactivate");
    if (outcome.status.update_state !== "Staged") {
      throw new HostApiError("bad-response", `deactivate succeeded but the state is ${outcome.status.update_state}`, {
        path: ACTION_PATHS.deactivate,
      });
    }
    return outcome.status;
  }

  /**
   * `POST /actions/reboot`. The host reboots in any update state and ignores the lock. A reset connection counts as
   * a reboot in progress (the host may go down before its 204 is sent). A refusal (block inhibitor) is
   * "server-error"; a socket that cannot be reached at all stays "unavailable" because nothing was asked.
   * Confirm the outcome afterwards from `/os` and boot evidence, never from the 204 alone.
   */
  async reboot(): Promise<RebootOutcome> {
    let response: RawResponse;
    try {
      response = await this.raw("POST", REBOOT_PATH);
    } catch (error) {
      if (error instanceof HostApiError && error.kind === "unavailable" && !isConnectFailure(error))
        return "connection-lost";
      throw error;
    }
    if (response.status >= 200 && response.status < 300) return "accepted";
    throw statusError("POST", REBOOT_PATH, response);
  }

  async #runSucceeding(type: CommandType): Promise<CommandOutcome> {
    const outcome = await this.runCommand(type);
    const { result } = outcome;
    if (result.cmd_status !== "Success") {
      const stderr = result.stderr?.trim() ?? "";
      throw new HostApiError(
        "command-failed",
        `${type} ${result.cmd_status.toLowerCase()} (exit ${String(result.exit_status)})${stderr ? `: ${stderr}` : ""}`,
        { path: ACTION_PATHS[type], body: result.stderr ?? undefined },
      );
    }
    return outcome;
  }

  async #statusOnceUnlocked(deadline: number): Promise<UpdateStatus | null> {
    let pause = this.#lockPollIntervalMs;
    for (;;) {
      const response = await this.raw("GET", STATUS_PATH);
      if (response.status !== 423) return statusFrom(response);
      await this.#pauseUntil(pause, deadline, () => lockedError("GET", STATUS_PATH, this.#lockWaitMs, response));
      pause = Math.min(pause * 2, this.#maxLockPollIntervalMs);
    }
  }

  async #awaitResult(type: CommandType, baseline: string | null, deadline: number): Promise<CommandOutcome> {
    const policy = this.#policies[type];
    let lastProblem: HostApiError | undefined;
    let problems = 0;
    for (;;) {
      await this.#pauseUntil(policy.pollIntervalMs, deadline, () => {
        const detail = lastProblem ? ` (last error: ${lastProblem.message})` : "";
        return new HostApiError("timeout", `${type} did not finish within ${policy.timeoutMs} ms${detail}`, {
          method: "GET",
          path: STATUS_PATH,
          cause: lastProblem,
        });
      });
      let status: UpdateStatus | null;
      try {
        const response = await this.raw("GET", STATUS_PATH);
        if (response.status === 423) {
          problems = 0;
          continue; // still running
        }
        status = statusFrom(response);
      } catch (error) {
        // Like apiclient, ride out a few transient failures (socket blips, 500s, garbled answers).
        if (!(error instanceof HostApiError) || problems >= this.#maxPollErrors) throw error;
        lastProblem = error;
        problems++;
        continue;
      }
      if (status === null) {
        throw new HostApiError(
          "interrupted",
          `update status is uninitialised: the host rebooted while ${type} ran; its result is lost`,
          {
            method: "GET",
            path: STATUS_PATH,
            status: 404,
          },
        );
      }
      const command = status.most_recent_command;
      if (command && command.timestamp !== baseline) {
        if (command.cmd_type === type) return { result: command, status };
        throw new HostApiError(
          "interrupted",
          `another client ran ${command.cmd_type} after our ${type}; our result is lost`,
          {
            method: "GET",
            path: STATUS_PATH,
          },
        );
      }
      throw new HostApiError("interrupted", `${type} ended without recording a result (its process died)`, {
        method: "GET",
        path: STATUS_PATH,
      });
    }
  }

  /** Sleeps `ms`, or throws the error from `onDeadline` if that would pass `deadline`. */
  async #pauseUntil(ms: number, deadline: number, onDeadline: () => HostApiError): Promise<void> {
    if (Date.now() + ms > deadline) throw onDeadline();
    try {
      await sleep(ms, undefined, this.#signal ? { signal: this.#signal } : undefined);
    } catch (error) {
      if (this.#signal?.aborted) throw this.#signal.reason;
      throw error;
    }
  }
}

function statusFrom(response: RawResponse): UpdateStatus | null {
  if (response.status === 404) return null; // uninitialised since boot
  if (response.status !== 200) throw statusError("GET", STATUS_PATH, response);
  return parseUpdateStatus(decodeJson(response.body, STATUS_PATH));
}

function statusError(method: string, path: string, response: RawResponse): HostApiError {
  const body = response.body.trim();
  return new HostApiError(
    kindForStatus(response.status),
    `${method} ${path}: ${response.status}${body ? ` ${body}` : ""}`,
    {
      method,
      path,
      status: response.status,
      body: response.body,
    },
  );
}

function lockedError(method: string, path: string, waitedMs: number, response: RawResponse): HostApiError {
  return new HostApiError("locked", `${method} ${path}: update lock still held after waiting ${waitedMs} ms`, {
    method,
    path,
    status: response.status,
    body: response.body,
  });
}

function isStaged(status: UpdateStatus, version: string): boolean {
  return status.staging_partition?.image?.version === version;
}

function describeStaging(status: UpdateStatus): string {
  const version = status.staging_partition?.image?.version;
  return version === undefined ? "nothing staged" : `${version} staged`;
}

function positive(value: number, name: string): number {
  if (!Number.isFinite(value) || value <= 0) throw new RangeError(`${name} must be a positive number, got ${value}`);
  return value;
}

function nonNegative(value: number, name: string): number {
  if (!Number.isFinite(value) || value < 0) throw new RangeError(`${name} must be a non-negative number, got ${value}`);
  return value;
}
