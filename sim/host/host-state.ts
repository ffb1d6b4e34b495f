// The simulated Bottlerocket host as a pure state machine: (state, request | time, now) -> (state, response,
// effects). No I/O and no clock: the caller passes `now` (ms since epoch) and performs the effects (socket up and
// down, events). It follows docs/design/host-api.md#the-simulator (thar-be-updates, signpost, GRUB).
//
// Time-driven steps (a command finishing, the API going down, a boot) are applied lazily by `advance`, each at its
// own due time, so results and timestamps are the same however late the caller gets round to calling it.
import {
  ACTION_PATHS,
  COMMIT_AND_APPLY_PATH,
  OS_PATH,
  REBOOT_PATH,
  SETTINGS_PATH,
  STATUS_PATH,
  type CommandResult,
  type CommandType,
  type OsInfo,
  type StagedImage,
  type UpdateImage,
  type UpdateState,
  type UpdateStatus,
} from "../../src/host/types.ts";
import { compareSemVer, isSemVer, parseVersionLock } from "../../src/host/semver.ts";
import type { HostDurations } from "./durations.ts";
import { validateFault, type ArmedFault, type HostFault } from "./faults.ts";
import { availableUpdates, chooseUpdate, MAX_SEED, type Release, type UpdateSettings } from "./selection.ts";

// ---------------------------------------------------------------------------------------------------------------
// State

export type PartitionLabel = "A" | "B";

/** One A/B partition set and its GPT attribute bits (docs/design/host-api.md#partitions-and-rollback). */
export interface PartitionSet {
  /** Image written to the set; null when it holds no usable image (never written, or cleared by prepare). */
  version: string | null;
  priority: number;
  triesLeft: number;
  successful: boolean;
}

/** What survives a reboot. */
export interface Disk {
  variant: string;
  arch: string;
  prettyName: string;
  sets: Record<PartitionLabel, PartitionSet>;
  running: PartitionLabel;
  settings: UpdateSettings;
  /** The datastore's pending transactions (`PATCH /settings?tx=`), by name: on disk, so they outlive a reboot. */
  pending: Record<string, Partial<UpdateSettings>>;
  repository: Release[];
}

/** `/run/cache/thar-be-updates/status.json` (tmpfs). */
export type StatusFile = { kind: "absent" } | { kind: "present"; doc: UpdateStatus } | { kind: "corrupt" };

export interface RunningCommand {
  type: CommandType;
  startedAt: number;
  /** null: hangs until a reboot or reset. */
  completesAt: number | null;
  outcome: "success" | "fail" | "die";
  /** Injected failure text, if any. */
  failStderr: string | null;
  /** What updog decided when it started (settings and the repository are read at the start of each command). */
  available: string[];
  chosen: string | null;
}

/** The flock on `/run/lock/thar-be-updates.lock`: non-blocking, exclusive for commands, shared for readers. */
export type Lock = { held: "none" } | { held: "command"; command: RunningCommand } | { held: "shared"; until: number };

export type Power =
  | { phase: "up" }
  /** Reboot accepted; the API still answers until `downAt` (service shutdown, delay inhibitors). */
  | { phase: "stopping"; downAt: number }
  /** The API is gone. The socket file lingers until `socketGoneAt` (null once removed). `intended` is the set GRUB
   * would have picked when the machine went down, to tell a rollback from the planned boot. */
  | { phase: "down"; socketGoneAt: number | null; bootAt: number; intended: PartitionLabel | null }
  /** A boot that never completes; only `resetHost` (an external power cycle) gets out of it. */
  | { phase: "hung"; since: number; intended: PartitionLabel | null };

export interface HostState {
  disk: Disk;
  status: StatusFile;
  lock: Lock;
  power: Power;
  faults: ArmedFault[];
  durations: HostDurations;
  /** Completed boots, counting the initial one as 1. */
  bootCount: number;
  /** Last `most_recent_command.timestamp` in ns, to keep timestamps strictly increasing. */
  lastTimestampNs: bigint;
}

// ---------------------------------------------------------------------------------------------------------------
// Inputs and outputs

export interface HostRequest {
  method: string;
  /** Path with optional query string, as in the request line. */
  url: string;
  /** The request body (only `PATCH /settings` reads one). */
  body?: string;
}

export type HostResponse =
  | { kind: "http"; status: number; body: string; contentType: "application/json" | "text/plain" | null }
  /** Reset the connection without a status line. */
  | { kind: "drop" }
  /** Never answer. */
  | { kind: "stall" }
  /** The API is not running (only seen by in-process callers; socket clients fail to connect). */
  | { kind: "unavailable" };

export type BootFailureMode = "panic" | "hang" | "no-bootable-set";

export type HostEffect =
  | { type: "command-started"; at: number; command: CommandType }
  /** `result` null: the process died or was killed, and nothing was recorded. */
  | { type: "command-finished"; at: number; command: CommandType; result: CommandResult | null }
  | { type: "reboot-requested"; at: number; downAt: number }
  /** Stop serving. `keepSocketFile`: leave a stale socket file (ECONNREFUSED) until `socket-removed`. */
  | { type: "api-down"; at: number; keepSocketFile: boolean }
  | { type: "socket-removed"; at: number }
  | { type: "boot-failed"; at: number; version: string | null; mode: BootFailureMode }
  | { type: "api-up"; at: number; version: string; bootCount: number; rolledBack: boolean };

export interface Transition {
  state: HostState;
  effects: HostEffect[];
}

export interface RequestTransition extends Transition {
  response: HostResponse;
}

// ---------------------------------------------------------------------------------------------------------------
// Creation and control

export interface HostConfig {
  /** Running version. */
  version: string;
  variant?: string;
  arch?: string;
  prettyName?: string;
  /** The TUF repository; the running version is added if absent (it was published too). */
  repository?: Release[];
  settings?: Partial<UpdateSettings>;
  durations: HostDurations;
  faults?: ArmedFault[];
  /** Version left on the other partition set by an earlier update (bootable, successful); default: empty. */
  previousVersion?: string;
}

export const ERROR_TEXT = {
  uninitialised: "Update status is uninitialized, refresh-updates to initialize it",
  statusLocked:
    "Unable to obtain shared lock for reading update status: Resource temporarily unavailable (os error 11)",
  lockHeld: "Update lock held",
  notAllowed: "Update action not allowed according to update state",
  noChosenUpdate: "Previously chosen Update no longer exists",
  noStagedImage: "No update image applied to staging partition",
  dispatcherFailed: "Update dispatcher failed",
  rebootRefused:
    'Failed to reboot, exit code: 1, stderr: Operation inhibited by "simulated-inhibitor" (PID 1 "systemd", user root), reason is "simulated block inhibitor".\n',
} as const;

/**
 * Default updog stderr for injected failures. Illustrative, in updog's style (docs/design/host-api.md#status-examples).
 */
const FAILURE_STDERR: Record<CommandType, string> = {
  refresh: "Metadata error: Failed to fetch metadata: simulated network failure\n",
  prepare: "Failed writing update data to disk: No space left on device (os error 28)\n",
  activate: "Could not mark inactive partition for boot: simulated GPT write failure\n",
  deactivate: "Could not revert update: simulated GPT write failure\n",
};

const NOT_MARKED_VALID =
  "Could not mark inactive partition for boot: Inactive partition /dev/nvme0n1 has not been marked valid for upgrade\n";

function requireVersion(version: string, what: string): string {
  if (!isSemVer(version))
    throw new Error(`${what}: ${JSON.stringify(version)} is not a semantic version (e.g. 1.26.0)`);
  return version;
}

function validateRelease(release: Release): Release {
  requireVersion(release.version, "release version");
  if (release.maxVersion !== undefined) requireVersion(release.maxVersion, `release ${release.version} maxVersion`);
  for (const [seed, at] of Object.entries(release.waves ?? {})) {
    const n = Number(seed);
    if (!Number.isInteger(n) || n < 0 || n >= MAX_SEED)
      throw new Error(`release ${release.version}: wave seed ${JSON.stringify(seed)} is not in 0..2047`);
    if (Number.isNaN(Date.parse(at)))
      throw new Error(`release ${release.version}: wave time ${JSON.stringify(at)} is not RFC 3339`);
  }
  return { ...release, ...(release.waves ? { waves: { ...release.waves } } : {}) };
}

function validateSettings(settings: UpdateSettings): UpdateSettings {
  if (parseVersionLock(settings.versionLock) === null) {
    throw new Error(
      `version-lock ${JSON.stringify(settings.versionLock)}: expected "latest" or a full version such as v1.26.1`,
    );
  }
  if (!Number.isInteger(settings.seed) || settings.seed < 0 || settings.seed >= MAX_SEED) {
    throw new Error(`seed ${settings.seed}: expected an integer in 0..2047`);
  }
  return settings;
}

/** A freshly booted host: API up, status uninitialised. Throws a clear Error on invalid configuration. */
export function createHostState(config: HostConfig): HostState {
  const version = requireVersion(config.version, "running version");
  const repository = (config.repository ?? []).map(validateRelease);
  if (!repository.some((release) => compareSemVer(release.version, version) === 0)) repository.push({ version });
  const previous =
    config.previousVersion === undefined ? null : requireVersion(config.previousVersion, "previous version");
  const settings = validateSettings({ versionLock: "latest", ignoreWaves: false, seed: 1625, ...config.settings });
  for (const armed of config.faults ?? []) validateFault(armed.fault);
  return {
    disk: {
      variant: config.variant ?? "aws-k8s-1.30",
      arch: config.arch ?? "x86_64",
      prettyName: config.prettyName ?? "Bottlerocket OS",
      sets: {
        A: { version, priority: 2, triesLeft: 0, successful: true },
        B:
          previous === null
            ? { version: null, priority: 0, triesLeft: 0, successful: false }
            : { version: previous, priority: 1, triesLeft: 0, successful: true },
      },
      running: "A",
      settings,
      pending: {},
      repository,
    },
    status: { kind: "absent" },
    lock: { held: "none" },
    power: { phase: "up" },
    faults: (config.faults ?? []).map((armed) => ({ ...armed })),
    durations: { ...config.durations },
    bootCount: 1,
    lastTimestampNs: 0n,
  };
}

/** Arms a fault, or applies it at once for the immediate ones (status-corrupt, contention). */
export function injectFault(state: HostState, armed: ArmedFault, now: number): Transition {
  const { state: s, effects } = advance(state, now);
  validateFault(armed.fault);
  if (!(armed.remaining === Infinity || (Number.isInteger(armed.remaining) && armed.remaining > 0))) {
    throw new Error(
      `fault ${armed.fault.target}/${armed.fault.effect}: remaining must be a positive integer or Infinity`,
    );
  }
  const fault = armed.fault;
  if (fault.target === "status") {
    s.status = { kind: "corrupt" };
  } else if (fault.target === "lock") {
    // A reader can only take the shared lock when no command holds it exclusively.
    if (s.lock.held === "none") s.lock = { held: "shared", until: now + fault.durationMs };
    else if (s.lock.held === "shared") s.lock.until = Math.max(s.lock.until, now + fault.durationMs);
  } else {
    s.faults.push({ fault: { ...fault }, remaining: armed.remaining });
  }
  return { state: s, effects };
}

export function clearFaults(state: HostState): HostState {
  return { ...state, faults: [] };
}

/** Publishes a release (or replaces the entry with the same version). Visible from the next refresh. */
export function publishRelease(state: HostState, release: Release): HostState {
  const entry = validateRelease(release);
  const s = structuredClone(state);
  s.disk.repository = s.disk.repository.filter((r) => compareSemVer(r.version, entry.version) !== 0);
  s.disk.repository.push(entry);
  return s;
}

/** Sets max_version on every entry, as publishers do to pull a bad release; null removes it. */
export function setMaxVersion(state: HostState, maxVersion: string | null): HostState {
  if (maxVersion !== null) requireVersion(maxVersion, "maxVersion");
  const s = structuredClone(state);
  s.disk.repository = s.disk.repository.map(({ maxVersion: _old, ...release }) =>
    maxVersion === null ? release : { ...release, maxVersion },
  );
  return s;
}

/** Changes `settings.updates.*`; like the real rendered config files, it takes effect at the next command. */
export function updateSettings(state: HostState, patch: Partial<UpdateSettings>): HostState {
  const s = structuredClone(state);
  s.disk.settings = validateSettings({ ...s.disk.settings, ...patch });
  return s;
}

/** An external power cycle (hard reset): whatever runs is killed and the machine boots again. */
export function resetHost(state: HostState, now: number): Transition {
  const { state: s, effects } = advance(state, now);
  killCommand(s, now, effects);
  s.status = { kind: "absent" };
  if (s.power.phase === "up" || s.power.phase === "stopping")
    effects.push({ type: "api-down", at: now, keepSocketFile: false });
  if (s.power.phase === "down" && s.power.socketGoneAt !== null) effects.push({ type: "socket-removed", at: now });
  const intended = s.power.phase === "hung" || s.power.phase === "down" ? s.power.intended : grubPick(s.disk.sets);
  s.power = { phase: "down", socketGoneAt: null, bootAt: now + s.durations.rebootMs, intended };
  return { state: s, effects };
}

// ---------------------------------------------------------------------------------------------------------------
// Queries

export function runningVersion(state: HostState): string {
  const version = state.disk.sets[state.disk.running].version;
  // The running set always holds an image: GRUB only boots sets that do.
  if (version === null) throw new Error("invariant: the running partition set holds no image");
  return version;
}

export function inactiveLabel(state: HostState): PartitionLabel {
  return state.disk.running === "A" ? "B" : "A";
}

/** Update state as a client would see it, or null when the status is uninitialised or unreadable. */
export function visibleUpdateState(state: HostState): UpdateState | null {
  return state.status.kind === "present" ? state.status.doc.update_state : null;
}

export function isApiUp(state: HostState): boolean {
  return state.power.phase === "up" || state.power.phase === "stopping";
}

export function osInfo(state: HostState): OsInfo {
  const version = runningVersion(state);
  const { prettyName, variant, arch } = state.disk;
  return {
    pretty_name: `${prettyName} ${version} (${variant})`,
    variant_id: variant,
    version_id: version,
    build_id: buildId(variant, version),
    arch,
  };
}

/** When `advance` next has something to do, or null. */
export function nextWakeAt(state: HostState): number | null {
  return nextDue(state)?.at ?? null;
}

/** GRUB gptprio.next: the bootable set with the highest priority (bootable = priority > 0 and tries or success). */
export function grubPick(sets: Record<PartitionLabel, PartitionSet>): PartitionLabel | null {
  let best: PartitionLabel | null = null;
  for (const label of ["A", "B"] as const) {
    const set = sets[label];
    const bootable = set.version !== null && set.priority > 0 && (set.triesLeft > 0 || set.successful);
    if (bootable && (best === null || set.priority > sets[best].priority)) best = label;
  }
  return best;
}

// ---------------------------------------------------------------------------------------------------------------
// Time

type Due =
  | { at: number; kind: "shared-lock-expires" }
  | { at: number; kind: "command-completes" }
  | { at: number; kind: "api-down" }
  | { at: number; kind: "socket-gone" }
  | { at: number; kind: "boot" };

function nextDue(state: HostState): Due | null {
  const candidates: Due[] = [];
  const { lock, power } = state;
  if (lock.held === "shared") candidates.push({ at: lock.until, kind: "shared-lock-expires" });
  if (lock.held === "command" && lock.command.completesAt !== null)
    candidates.push({ at: lock.command.completesAt, kind: "command-completes" });
  if (power.phase === "stopping") candidates.push({ at: power.downAt, kind: "api-down" });
  if (power.phase === "down") {
    if (power.socketGoneAt !== null) candidates.push({ at: power.socketGoneAt, kind: "socket-gone" });
    candidates.push({ at: power.bootAt, kind: "boot" });
  }
  // Earliest first; on a tie the listing order above wins (a command finishing at the instant of shutdown is kept).
  let best: Due | null = null;
  for (const candidate of candidates) if (best === null || candidate.at < best.at) best = candidate;
  return best;
}

/** Applies every time-driven step due at or before `now`, each at its own time. */
export function advance(state: HostState, now: number): Transition {
  const s = structuredClone(state);
  const effects: HostEffect[] = [];
  for (let due = nextDue(s); due !== null && due.at <= now; due = nextDue(s)) {
    switch (due.kind) {
      case "shared-lock-expires":
        s.lock = { held: "none" };
        break;
      case "command-completes":
        completeCommand(s, due.at, effects);
        break;
      case "api-down":
        goDown(s, due.at, effects);
        break;
      case "socket-gone":
        if (s.power.phase === "down") s.power.socketGoneAt = null;
        effects.push({ type: "socket-removed", at: due.at });
        break;
      case "boot":
        boot(s, due.at, effects);
        break;
    }
  }
  return { state: s, effects };
}

function goDown(s: HostState, at: number, effects: HostEffect[]): void {
  // Rebooting during a command kills it: the lock goes, nothing is written; /run is tmpfs
  // (docs/design/host-api.md#reboot).
  killCommand(s, at, effects);
  s.lock = { held: "none" };
  s.status = { kind: "absent" };
  const linger = s.durations.socketLingerMs;
  s.power = {
    phase: "down",
    socketGoneAt: linger > 0 ? at + linger : null,
    bootAt: at + s.durations.rebootMs,
    intended: grubPick(s.disk.sets),
  };
  effects.push({ type: "api-down", at, keepSocketFile: linger > 0 });
}

function killCommand(s: HostState, at: number, effects: HostEffect[]): void {
  if (s.lock.held === "command")
    effects.push({ type: "command-finished", at, command: s.lock.command.type, result: null });
  s.lock = { held: "none" };
}

function boot(s: HostState, at: number, effects: HostEffect[]): void {
  const intended = s.power.phase === "down" ? s.power.intended : null;
  const label = grubPick(s.disk.sets);
  if (label === null) {
    s.power = { phase: "hung", since: at, intended };
    effects.push({ type: "boot-failed", at, version: null, mode: "no-bootable-set" });
    return;
  }
  const set = s.disk.sets[label];
  // GRUB spends a try before booting, so a freshly activated set gets exactly one attempt.
  if (set.triesLeft > 0) set.triesLeft -= 1;
  if (!set.successful) {
    const fault = takeFault(s, (f) => f.target === "boot" && (f.version === undefined || f.version === set.version));
    if (fault?.target === "boot" && fault.effect === "panic") {
      // The set is left with no tries and not successful, so the automatic reboot lands on the old set.
      effects.push({ type: "boot-failed", at, version: set.version, mode: "panic" });
      s.power = { phase: "down", socketGoneAt: null, bootAt: at + s.durations.failedBootMs, intended };
      return;
    }
    if (fault?.target === "boot" && fault.effect === "hang") {
      effects.push({ type: "boot-failed", at, version: set.version, mode: "hang" });
      s.power = { phase: "hung", since: at, intended };
      return;
    }
    set.successful = true; // mark-successful-boot ran before preconfigured.target: no automatic revert from now on
  }
  s.disk.running = label;
  s.bootCount += 1;
  s.status = { kind: "absent" };
  s.lock = { held: "none" };
  s.power = { phase: "up" };
  effects.push({
    type: "api-up",
    at,
    version: runningVersion(s),
    bootCount: s.bootCount,
    rolledBack: intended !== null && intended !== label,
  });
}

// ---------------------------------------------------------------------------------------------------------------
// Requests

const json = (body: unknown): HostResponse => ({
  kind: "http",
  status: 200,
  body: JSON.stringify(body),
  contentType: "application/json",
});
const text = (status: number, body: string): HostResponse => ({
  kind: "http",
  status,
  body,
  contentType: "text/plain",
});
const noContent: HostResponse = { kind: "http", status: 204, body: "", contentType: null };
// actix answers an unknown path, or a known path with the wrong method, with an empty 404
// (docs/design/host-api.md#endpoints).
const notFound: HostResponse = { kind: "http", status: 404, body: "", contentType: null };

const ACTION_BY_PATH = new Map<string, CommandType>(
  Object.entries(ACTION_PATHS).map(([type, path]) => [path, type as CommandType]),
);

export function handleRequest(state: HostState, request: HostRequest, now: number): RequestTransition {
  const { state: s, effects } = advance(state, now);
  const respond = (response: HostResponse): RequestTransition => ({ state: s, effects, response });
  if (!isApiUp(s)) return respond({ kind: "unavailable" });
  if (takeFault(s, (f) => f.target === "api")) return respond({ kind: "stall" });

  const method = request.method.toUpperCase();
  const queryAt = request.url.indexOf("?");
  const path = queryAt === -1 ? request.url : request.url.slice(0, queryAt);
  const query = new URLSearchParams(queryAt === -1 ? "" : request.url.slice(queryAt + 1));

  if (method === "GET" && path === OS_PATH) return respond(json(filterOsInfo(osInfo(s), query.get("prefix"))));
  if (method === "GET" && path === STATUS_PATH) return respond(readStatus(s));
  if (method === "POST" && path === REBOOT_PATH) return respond(requestReboot(s, now, effects));
  if (method === "GET" && path === SETTINGS_PATH) return respond(json(readSettings(s, query)));
  if (method === "PATCH" && path === SETTINGS_PATH) return respond(stageSettings(s, query, request.body ?? ""));
  if (method === "POST" && path === COMMIT_AND_APPLY_PATH) return respond(commitSettings(s, query));
  const action = ACTION_BY_PATH.get(path);
  if (method === "POST" && action !== undefined) return respond(startCommand(s, action, now, effects));
  return respond(notFound);
}

// ---- Settings (docs/design/host-api.md#settings): served by the API server itself, never under the update lock.

/** `settings.updates` on the wire, in the model's field order (the URLs are not simulated; their defaults). */
function updatesSettings(s: HostState): Record<string, unknown> {
  const { settings, variant, arch } = s.disk;
  return {
    "metadata-base-url": `https://updates.bottlerocket.aws/2020-07-07/${variant}/${arch}/`,
    "targets-base-url": "https://updates.bottlerocket.aws/targets/",
    seed: settings.seed,
    "version-lock": settings.versionLock,
    "ignore-waves": settings.ignoreWaves,
  };
}

/** `GET /settings`, `?keys=settings.updates.x,…` or `?prefix=updates`: only what was asked for. */
function readSettings(s: HostState, query: URLSearchParams): Record<string, unknown> {
  const updates = updatesSettings(s);
  const keys = query.get("keys");
  const prefix = query.get("prefix");
  let wanted = Object.keys(updates);
  if (keys !== null) {
    const names = keys.split(",").map((k) => k.trim());
    wanted = wanted.filter((k) => names.includes(`settings.updates.${k}`));
  } else if (prefix !== null) {
    const p = prefix.replace(/^settings\./, "");
    wanted = wanted.filter((k) => `updates.${k}`.startsWith(p));
  }
  if (wanted.length === 0) return {};
  return { updates: Object.fromEntries(wanted.map((k) => [k, updates[k]])) };
}

const SETTING_FIELDS: Readonly<Record<string, keyof UpdateSettings>> = {
  "version-lock": "versionLock",
  "ignore-waves": "ignoreWaves",
  seed: "seed",
};

/** `PATCH /settings[?tx=]`: the change is staged in the transaction (default `default`) until it is committed. */
function stageSettings(s: HostState, query: URLSearchParams, body: string): HostResponse {
  let patch: unknown;
  try {
    patch = JSON.parse(body);
  } catch (error) {
    return text(400, `Unable to deserialize input: ${error instanceof Error ? error.message : String(error)}`);
  }
  const updates = (patch as { updates?: unknown } | null)?.updates;
  if (
    typeof updates !== "object" ||
    updates === null ||
    Array.isArray(updates) ||
    Object.keys(patch as object).length !== 1
  ) {
    return text(400, "Unable to deserialize input: only settings.updates is simulated");
  }
  const staged: Partial<UpdateSettings> = {};
  for (const [key, value] of Object.entries(updates)) {
    const field = SETTING_FIELDS[key];
    if (field === undefined) return text(400, `Unable to deserialize input: unknown field \`${key}\``);
    if (field === "ignoreWaves" && typeof value !== "boolean") {
      return text(400, "Unable to deserialize input: ignore-waves must be true or false");
    }
    (staged as Record<string, unknown>)[field] = value;
  }
  try {
    // The model checks types and values when the change is staged.
    validateSettings({ ...s.disk.settings, ...staged });
  } catch (error) {
    return text(400, `Unable to deserialize input: ${error instanceof Error ? error.message : String(error)}`);
  }
  const tx = query.get("tx") ?? "default";
  s.disk.pending[tx] = { ...s.disk.pending[tx], ...staged };
  return noContent;
}

/** `POST /tx/commit_and_apply[?tx=]`: 200 with the committed keys; 422 when the transaction holds nothing. */
function commitSettings(s: HostState, query: URLSearchParams): HostResponse {
  const tx = query.get("tx") ?? "default";
  const staged = s.disk.pending[tx];
  if (staged === undefined || Object.keys(staged).length === 0) {
    return text(422, `Unable to commit transaction '${tx}': no pending settings`);
  }
  s.disk.pending = Object.fromEntries(Object.entries(s.disk.pending).filter(([name]) => name !== tx));
  s.disk.settings = validateSettings({ ...s.disk.settings, ...staged });
  const byField = Object.fromEntries(Object.entries(SETTING_FIELDS).map(([key, field]) => [field, key]));
  return json(Object.keys(staged).map((field) => `settings.updates.${byField[field] ?? field}`));
}

function filterOsInfo(info: OsInfo, prefix: string | null): Partial<OsInfo> {
  if (prefix === null) return info;
  // `?prefix=version` and `?prefix=os.version` are the same; `os` alone means everything.
  const wanted = prefix === "os" ? "" : prefix.startsWith("os.") ? prefix.slice(3) : prefix;
  return Object.fromEntries(Object.entries(info).filter(([key]) => key.startsWith(wanted)));
}

/** GET /updates/status, unless a one-shot read fault answers instead (it fires only on a read that would succeed). */
function readStatus(s: HostState): HostResponse {
  const response = getStatus(s);
  if (response.kind !== "http" || response.status !== 200) return response;
  const fault = takeFault(s, (f) => f.target === "status-read");
  if (fault?.target !== "status-read") return response;
  if (fault.effect === "error") return text(500, ERROR_TEXT.dispatcherFailed);
  return { ...response, body: response.body.slice(0, Math.floor(response.body.length / 2)) };
}

function getStatus(s: HostState): HostResponse {
  // GET takes the shared lock without blocking; a running command holds it exclusively.
  if (s.lock.held === "command") return text(423, ERROR_TEXT.statusLocked);
  if (s.status.kind === "absent") return text(404, ERROR_TEXT.uninitialised);
  if (s.status.kind === "corrupt") return text(500, ERROR_TEXT.dispatcherFailed);
  return json(serializeStatus(s.status.doc));
}

function requestReboot(s: HostState, now: number, effects: HostEffect[]): HostResponse {
  // Reboot ignores the update state and the update lock (docs/design/host-api.md#reboot).
  const fault = takeFault(s, (f) => f.target === "reboot");
  if (fault?.target === "reboot" && fault.effect === "refuse") return text(500, ERROR_TEXT.rebootRefused);
  if (s.power.phase === "up") {
    const delay = fault?.target === "reboot" && fault.effect === "delay" ? fault.durationMs : s.durations.shutdownMs;
    s.power = { phase: "stopping", downAt: now + delay };
    effects.push({ type: "reboot-requested", at: now, downAt: now + delay });
  }
  return fault?.target === "reboot" && fault.effect === "drop-response" ? { kind: "drop" } : noContent;
}

const ALLOWED_IN: Record<CommandType, readonly UpdateState[]> = {
  refresh: ["Idle", "Available", "Staged", "Ready"],
  prepare: ["Available", "Staged"],
  activate: ["Staged"],
  deactivate: ["Ready"],
};

function startCommand(s: HostState, type: CommandType, now: number, effects: HostEffect[]): HostResponse {
  if (takeFault(s, (f) => f.target === "dispatcher")) return text(500, ERROR_TEXT.dispatcherFailed);
  // thar-be-updates takes the lock (non-blocking) before it even reads the state.
  if (s.lock.held !== "none") return text(423, ERROR_TEXT.lockHeld);
  if (s.status.kind === "corrupt") return text(500, ERROR_TEXT.dispatcherFailed);
  // The first action after boot creates the status, even when the state check then rejects it.
  if (s.status.kind === "absent") s.status = { kind: "present", doc: initialStatus(s) };
  const doc = s.status.doc;
  if (!ALLOWED_IN[type].includes(doc.update_state)) return text(409, ERROR_TEXT.notAllowed);
  if (type === "prepare" && doc.chosen_update === null) return text(404, ERROR_TEXT.noChosenUpdate);
  if ((type === "activate" || type === "deactivate") && doc.staging_partition === null)
    return text(404, ERROR_TEXT.noStagedImage);

  const fault = takeFault(s, (f) => f.target === type);
  let duration = durationOf(s.durations, type);
  let outcome: RunningCommand["outcome"] = "success";
  let failStderr: string | null = null;
  let completesAt: number | null = null;
  if (fault?.target === type) {
    if (fault.effect === "slow") duration = fault.durationMs;
    else if (fault.effect === "die") outcome = "die";
    else if (fault.effect === "fail") {
      outcome = "fail";
      failStderr = fault.stderr ?? FAILURE_STDERR[type];
    }
  }
  const hangs = fault?.target === type && fault.effect === "hang";
  if (!hangs) completesAt = now + duration;

  const running = runningVersion(s);
  const { repository, settings } = s.disk;
  const command: RunningCommand = {
    type,
    startedAt: now,
    completesAt,
    outcome,
    failStderr,
    available: availableUpdates(repository, settings, now),
    // updog repeats the selection itself for prepare; it may differ from the recorded chosen_update.
    chosen: chooseUpdate(repository, settings, running, now),
  };
  if (type === "prepare" && command.chosen !== null) {
    // updog clears the inactive set and writes the GPT before downloading, so an interrupted or failed prepare
    // leaves it unbootable (docs/design/host-api.md#partitions-and-rollback).
    s.disk.sets[inactiveLabel(s)] = { version: null, priority: 0, triesLeft: 0, successful: false };
  }
  s.lock = { held: "command", command };
  effects.push({ type: "command-started", at: now, command: type });
  return noContent;
}

function durationOf(durations: HostDurations, type: CommandType): number {
  switch (type) {
    case "refresh":
      return durations.refreshMs;
    case "prepare":
      return durations.prepareMs;
    case "activate":
      return durations.activateMs;
    case "deactivate":
      return durations.deactivateMs;
  }
}

function completeCommand(s: HostState, at: number, effects: HostEffect[]): void {
  if (s.lock.held !== "command") return;
  const command = s.lock.command;
  s.lock = { held: "none" };
  if (command.outcome === "die" || s.status.kind !== "present") {
    effects.push({ type: "command-finished", at, command: command.type, result: null });
    return;
  }
  const doc = s.status.doc;
  const { stderr, success } = applyCommand(s, doc, command);
  const result: CommandResult = {
    cmd_type: command.type,
    cmd_status: success ? "Success" : "Failed",
    timestamp: nextTimestamp(s, at),
    exit_status: success ? 0 : 1,
    stderr,
  };
  doc.most_recent_command = result;
  effects.push({ type: "command-finished", at, command: command.type, result });
}

/**
 * The disk and status effects of a finished command (docs/design/host-api.md#transitions, #partitions-and-rollback).
 * Failures leave the state as it was, except a failed refresh from Idle/Available, which drops to Idle and keeps the
 * old lists.
 */
function applyCommand(s: HostState, doc: UpdateStatus, command: RunningCommand): { success: boolean; stderr: string } {
  const sets = s.disk.sets;
  const active = sets[s.disk.running];
  const inactive = sets[inactiveLabel(s)];
  const failed = command.outcome === "fail";
  const failStderr = command.failStderr ?? "";
  switch (command.type) {
    case "refresh": {
      const movable = doc.update_state === "Idle" || doc.update_state === "Available";
      if (failed) {
        if (movable) doc.update_state = "Idle";
        return { success: false, stderr: failStderr };
      }
      doc.available_updates = command.available;
      doc.chosen_update = command.chosen === null ? null : image(s, command.chosen);
      if (movable) doc.update_state = command.chosen === null ? "Idle" : "Available";
      return { success: true, stderr: "" };
    }
    case "prepare": {
      const target = command.chosen ?? doc.chosen_update?.version ?? "";
      const starting = command.chosen === null ? "" : `Starting update to ${target}\n`;
      if (failed) return { success: false, stderr: `${starting}${failStderr}` };
      // updog writes its own choice; thar-be-updates records chosen_update. If updog found nothing to do it still
      // exits 0 and the state becomes Staged anyway (rare).
      if (command.chosen !== null)
        Object.assign(inactive, { version: command.chosen, priority: 0, triesLeft: 1, successful: false });
      doc.update_state = "Staged";
      doc.staging_partition = {
        image: doc.chosen_update === null ? null : { ...doc.chosen_update },
        next_to_boot: false,
      };
      return { success: true, stderr: starting };
    }
    case "activate": {
      if (failed) return { success: false, stderr: failStderr };
      // signpost upgrade-to-inactive: the inactive set must have been prepared (priority 0, not successful, a try).
      if (inactive.priority !== 0 || inactive.successful || inactive.triesLeft === 0 || inactive.version === null) {
        return { success: false, stderr: NOT_MARKED_VALID };
      }
      inactive.priority = 2;
      active.priority = 1;
      doc.update_state = "Ready";
      setNextToBoot(doc, false, true);
      return { success: true, stderr: "" };
    }
    case "deactivate": {
      if (failed) return { success: false, stderr: failStderr };
      inactive.priority = 0;
      active.priority = 2;
      doc.update_state = "Staged";
      setNextToBoot(doc, true, false);
      return { success: true, stderr: "" };
    }
  }
}

function setNextToBoot(doc: UpdateStatus, active: boolean, staging: boolean): void {
  if (doc.active_partition) doc.active_partition.next_to_boot = active;
  if (doc.staging_partition) doc.staging_partition.next_to_boot = staging;
}

function initialStatus(s: HostState): UpdateStatus {
  return {
    update_state: "Idle",
    available_updates: [],
    chosen_update: null,
    // Computed once, from os-release and the GPT; later only activate/deactivate toggle the flags.
    active_partition: { image: image(s, runningVersion(s)), next_to_boot: grubPick(s.disk.sets) === s.disk.running },
    staging_partition: null,
    most_recent_command: null,
  };
}

function image(s: HostState, version: string): UpdateImage {
  return { arch: s.disk.arch, version, variant: s.disk.variant };
}

/** The exact wire form: compact JSON in thar-be-updates' struct order. */
export function serializeStatus(doc: UpdateStatus): UpdateStatus {
  const img = (i: UpdateImage | null): UpdateImage | null =>
    i === null ? null : { arch: i.arch, version: i.version, variant: i.variant };
  const part = (p: StagedImage | null): StagedImage | null =>
    p === null ? null : { image: img(p.image), next_to_boot: p.next_to_boot };
  const cmd = doc.most_recent_command;
  return {
    update_state: doc.update_state,
    available_updates: [...doc.available_updates],
    chosen_update: img(doc.chosen_update),
    active_partition: part(doc.active_partition),
    staging_partition: part(doc.staging_partition),
    most_recent_command:
      cmd === null
        ? null
        : {
            cmd_type: cmd.cmd_type,
            cmd_status: cmd.cmd_status,
            timestamp: cmd.timestamp,
            exit_status: cmd.exit_status,
            stderr: cmd.stderr,
          },
  };
}

function takeFault(s: HostState, matches: (fault: HostFault) => boolean): HostFault | undefined {
  const index = s.faults.findIndex((armed) => matches(armed.fault));
  const armed = s.faults[index];
  if (armed === undefined) return undefined;
  armed.remaining -= 1;
  if (armed.remaining <= 0) s.faults.splice(index, 1);
  return armed.fault;
}

/** RFC 3339 UTC with nanoseconds and `Z`, strictly increasing (clients detect completion by a changed timestamp). */
function nextTimestamp(s: HostState, at: number): string {
  // Whole and fractional milliseconds apart: at * 1e6 would exceed double precision.
  const whole = Math.floor(at);
  let ns = BigInt(whole) * 1_000_000n + BigInt(Math.min(999_999, Math.round((at - whole) * 1e6)));
  if (ns <= s.lastTimestampNs) ns = s.lastTimestampNs + 1n;
  s.lastTimestampNs = ns;
  return formatTimestamp(ns);
}

export function formatTimestamp(ns: bigint): string {
  const seconds = ns / 1_000_000_000n;
  const fraction = (ns % 1_000_000_000n).toString().padStart(9, "0");
  return `${new Date(Number(seconds) * 1000).toISOString().slice(0, 19)}.${fraction}Z`;
}

/** A stable fake short commit id per variant and version. */
function buildId(variant: string, version: string): string {
  let hash = 0x811c9dc5;
  for (const ch of `${variant}/${version}`) hash = Math.imul(hash ^ ch.charCodeAt(0), 0x01000193) >>> 0;
  return hash.toString(16).padStart(8, "0");
}
