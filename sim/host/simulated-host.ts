// A simulated Bottlerocket host: the pure state machine in host-state.ts behind a node:http server on a Unix
// socket. This layer only moves bytes, keeps time, and performs effects: it brings the socket down and up around
// reboots (with a lingering stale socket file, so clients see ECONNREFUSED and then ENOENT), writes a boot ID file,
// and tells listeners (the simulated cluster) what happened.
import { randomUUID } from "node:crypto";
import { link, lstat, rename, rm, writeFile } from "node:fs/promises";
import http from "node:http";
import { connect, type Socket } from "node:net";
import { performance } from "node:perf_hooks";
import { isSemVer } from "../../src/host/semver.ts";
import type { UpdateState } from "../../src/host/types.ts";
import { resolveDurations, type DurationProfile, type HostDurations } from "./durations.ts";
import { parseFaultSpec, type ArmedFault, type HostFault } from "./faults.ts";
import {
  advance,
  clearFaults,
  createHostState,
  handleRequest,
  injectFault,
  isApiUp,
  nextWakeAt,
  publishRelease,
  resetHost,
  runningVersion,
  setMaxVersion,
  updateSettings,
  visibleUpdateState,
  type HostEffect,
  type HostResponse,
  type HostState,
  type Transition,
} from "./host-state.ts";
import type { Release, UpdateSettings } from "./selection.ts";

export interface SimulatedHostOptions {
  socketPath: string;
  /** Running version at start. */
  version: string;
  /** Releases published in the host's update repository besides the running one. */
  offer?: readonly (string | Release)[];
  /** Version left on the other partition set by an earlier update. */
  previousVersion?: string;
  variant?: string;
  arch?: string;
  settings?: Partial<UpdateSettings>;
  /** Default "demo" (seconds); tests use "fast" (milliseconds). */
  profile?: DurationProfile;
  durations?: Partial<HostDurations>;
  /** Faults armed from the start: objects, armed faults, or `--fail` specs such as "prepare@2" or "boot". */
  faults?: readonly (HostFault | ArmedFault | string)[];
  /** ms since epoch; default a sub-millisecond wall clock. With a custom clock, call tick() after moving it. */
  clock?: () => number;
  /** A file given a fresh UUID at every boot, standing in for /proc/sys/kernel/random/boot_id. */
  bootIdPath?: string;
}

type ApiUp = Extract<HostEffect, { type: "api-up" }>;

export type SimulatedHostEvent =
  | Exclude<HostEffect, ApiUp>
  /** The host booted and its API answers again; `bootId` is new. */
  | (ApiUp & { bootId: string })
  | { type: "request"; at: number; method: string; url: string; outcome: number | "drop" | "stall" | "unavailable" }
  /** Something in the socket layer failed (e.g. the socket path cannot be bound); the simulator keeps running. */
  | { type: "error"; at: number; message: string };

export type SimulatedHostEventType = SimulatedHostEvent["type"];
type EventOf<T extends SimulatedHostEventType> = Extract<SimulatedHostEvent, { type: T }>;
type Listener = (event: SimulatedHostEvent) => unknown;

const wallClock = (): number => performance.timeOrigin + performance.now();
/** A settings change is a few hundred bytes. */
const MAX_BODY_BYTES = 64 * 1024;
// setTimeout's ceiling; a later wake-up is re-armed when it fires.
const MAX_TIMER_MS = 2 ** 31 - 1;

function toArmed(fault: HostFault | ArmedFault | string): ArmedFault {
  if (typeof fault === "string") return parseFaultSpec(fault);
  return "fault" in fault ? fault : { fault, remaining: 1 };
}

function toRelease(release: string | Release): Release {
  return typeof release === "string" ? { version: release } : release;
}

/**
 * One simulated host. Events for whoever hosts it (the simulated cluster):
 * - `reboot-requested`: the host accepted a reboot; its API answers until `downAt`.
 * - `api-down`: the machine is going down: stop the node's agent and pods, let the Node go NotReady.
 * - `boot-failed`: a trial boot failed (`panic`: it reboots into the old set by itself; `hang`: only reset() helps).
 * - `api-up`: booted (`version`, `rolledBack`, a new `bootId`): start the node's agent and pods again.
 * - `command-started` / `command-finished`, `socket-removed`, `request`, `error`.
 */
export class SimulatedHost {
  readonly socketPath: string;
  readonly bootIdPath: string | undefined;
  #state: HostState;
  readonly #clock: () => number;
  #server: http.Server | null = null;
  readonly #connections = new Set<Socket>();
  #timer: NodeJS.Timeout | undefined;
  #effects: Promise<void> = Promise.resolve();
  #bootId = randomUUID();
  #stopped = false;
  readonly #listeners = new Map<SimulatedHostEventType | "*", Set<Listener>>();
  readonly #effectListeners = new Set<(effect: HostEffect) => void>();

  /** Use startSimulatedHost(). */
  constructor(options: SimulatedHostOptions) {
    if (options.socketPath === "") throw new Error("socketPath is required");
    this.socketPath = options.socketPath;
    this.bootIdPath = options.bootIdPath;
    this.#clock = options.clock ?? wallClock;
    this.#state = createHostState({
      version: options.version,
      repository: (options.offer ?? []).map(toRelease),
      durations: resolveDurations(options.profile, options.durations),
      faults: (options.faults ?? []).map(toArmed),
      ...(options.variant === undefined ? {} : { variant: options.variant }),
      ...(options.arch === undefined ? {} : { arch: options.arch }),
      ...(options.settings === undefined ? {} : { settings: options.settings }),
      ...(options.previousVersion === undefined ? {} : { previousVersion: options.previousVersion }),
    });
  }

  /** The whole simulated state (disk, status file, lock, power phase, armed faults). Treat it as read-only. */
  get state(): HostState {
    return this.#state;
  }

  get runningVersion(): string {
    return runningVersion(this.#state);
  }

  /** Update state as clients would see it; null while uninitialised or unreadable. */
  get updateState(): UpdateState | null {
    return visibleUpdateState(this.#state);
  }

  get apiUp(): boolean {
    return isApiUp(this.#state);
  }

  get bootId(): string {
    return this.#bootId;
  }

  get bootCount(): number {
    return this.#state.bootCount;
  }

  async start(): Promise<void> {
    await refuseLiveSocket(this.socketPath);
    await this.#writeBootId();
    await this.#listen();
    this.#schedule();
  }

  /** Arms a fault (see FAULT_SPEC_HELP for specs); `times` may be Infinity. Throws on an invalid fault. */
  inject(fault: HostFault | string, times?: number): void {
    const armed = toArmed(fault);
    this.#commit(injectFault(this.#state, times === undefined ? armed : { ...armed, remaining: times }, this.#clock()));
  }

  /** Disarms every pending fault. */
  clearFaults(): void {
    this.#commit({ state: clearFaults(this.#state), effects: [] });
  }

  /** Publishes a release in the host's repository; the host sees it at its next refresh (waves permitting). */
  publish(release: string | Release): void {
    this.#commit({ state: publishRelease(this.#state, toRelease(release)), effects: [] });
  }

  /** Pulls releases above `maxVersion` (null lifts it), as a publisher lowering max_version does. */
  setMaxVersion(maxVersion: string | null): void {
    this.#commit({ state: setMaxVersion(this.#state, maxVersion), effects: [] });
  }

  /** Changes settings.updates.* (version-lock, ignore-waves, seed); effective at the next command. */
  updateSettings(patch: Partial<UpdateSettings>): void {
    this.#commit({ state: updateSettings(this.#state, patch), effects: [] });
  }

  /** An in-process client bypassing the socket, e.g. an out-of-band `apiclient update cancel`. */
  request(method: string, url: string, body?: string): HostResponse {
    return this.#handle(method, url, this.#clock(), body);
  }

  #handle(method: string, url: string, now: number, body?: string): HostResponse {
    const transition = handleRequest(this.#state, { method, url, ...(body === undefined ? {} : { body }) }, now);
    this.#commit(transition);
    return transition.response;
  }

  /** An external power cycle: the only way out of a hung boot. */
  reset(): void {
    this.#commit(resetHost(this.#state, this.#clock()));
  }

  /** Applies whatever is due now; needed only with a custom clock. */
  tick(): void {
    this.#commit(advance(this.#state, this.#clock()));
  }

  on<T extends SimulatedHostEventType>(type: T, listener: (event: EventOf<T>) => unknown): () => void {
    return this.#addListener(type, listener as Listener);
  }

  onAny(listener: (event: SimulatedHostEvent) => unknown): () => void {
    return this.#addListener("*", listener);
  }

  /**
   * Hears every state-machine effect at the instant it is decided, before any socket work and before the request that
   * caused it is answered (the `on` events come later, in order, after the socket work). For observers that must
   * know exactly when something happened, e.g. the moment a reboot is accepted.
   */
  onEffect(listener: (effect: HostEffect) => void): () => void {
    this.#effectListeners.add(listener);
    return () => this.#effectListeners.delete(listener);
  }

  /**
   * The host's API service restarts without a reboot (a crash of the API server process, systemd restarting it):
   * the socket file stays but nothing listens (ECONNREFUSED) for `downMs`, then the API answers again with the state
   * it had (the status file lives in /run, which only a reboot clears). Resolves once it answers again (or at once
   * when the API is not up: a reboot or a hung boot). A reboot meanwhile takes over: its boot brings the API back.
   */
  async restartApi(downMs: number): Promise<void> {
    if (!(Number.isInteger(downMs) && downMs >= 0)) throw new RangeError(`downMs must be ≥ 0, got ${downMs}`);
    if (this.#stopped || !this.apiUp) return;
    const closed = this.#effects.then(() => this.#close(true));
    this.#effects = closed.catch((error: unknown) => this.#reportError(String(error)));
    await this.#effects;
    await new Promise((resolve) => setTimeout(resolve, downMs));
    const up = this.#effects.then(async () => {
      if (!this.#stopped && this.apiUp && this.#server === null) await this.#listen();
    });
    this.#effects = up.catch((error: unknown) => this.#reportError(String(error)));
    await this.#effects;
  }

  /** Resolves with the next event of this type that matches; rejects after `timeoutMs`. */
  waitFor<T extends SimulatedHostEventType>(
    type: T,
    predicate: (event: EventOf<T>) => boolean = () => true,
    timeoutMs = 10_000,
  ): Promise<EventOf<T>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        off();
        reject(new Error(`no ${type} event within ${timeoutMs} ms`));
      }, timeoutMs);
      const off = this.on(type, (event) => {
        if (!predicate(event)) return;
        clearTimeout(timer);
        off();
        resolve(event);
      });
    });
  }

  /** Resolves once pending socket work (going down, coming up) is done. */
  async settled(): Promise<void> {
    await this.#effects;
  }

  /** Stops serving and removes the socket file. Idempotent. */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#effects;
    await this.#close(false);
    await rm(this.socketPath, { force: true });
    await rm(this.#stalePath, { force: true });
  }

  get #stalePath(): string {
    return `${this.socketPath}.stale`;
  }

  #addListener(type: SimulatedHostEventType | "*", listener: Listener): () => void {
    let set = this.#listeners.get(type);
    if (!set) this.#listeners.set(type, (set = new Set()));
    set.add(listener);
    return () => set.delete(listener);
  }

  #emit(event: SimulatedHostEvent): void {
    for (const listener of [...(this.#listeners.get(event.type) ?? []), ...(this.#listeners.get("*") ?? [])]) {
      try {
        const result = listener(event);
        if (result instanceof Promise)
          result.catch((error: unknown) => this.#reportError(`listener for ${event.type} failed: ${String(error)}`));
      } catch (error) {
        // A listener's bug must not take the host down.
        if (event.type !== "error") this.#reportError(`listener for ${event.type} failed: ${String(error)}`);
      }
    }
  }

  #reportError(message: string): void {
    this.#emit({ type: "error", at: this.#clock(), message });
  }

  #commit(transition: Transition): void {
    this.#state = transition.state;
    for (const effect of transition.effects) {
      for (const listener of this.#effectListeners) {
        try {
          listener(effect);
        } catch (error) {
          this.#reportError(`effect listener for ${effect.type} failed: ${String(error)}`);
        }
      }
      // Socket work is asynchronous; a chain keeps it in order (down before up) whatever its timing.
      this.#effects = this.#effects
        .then(() => this.#perform(effect))
        .catch((error: unknown) => this.#reportError(String(error)));
    }
    this.#schedule();
  }

  async #perform(effect: HostEffect): Promise<void> {
    if (this.#stopped) return;
    switch (effect.type) {
      case "api-down":
        await this.#close(effect.keepSocketFile);
        break;
      case "socket-removed":
        await rm(this.socketPath, { force: true });
        break;
      case "api-up":
        this.#bootId = randomUUID();
        await this.#writeBootId();
        await this.#listen();
        this.#emit({ ...effect, bootId: this.#bootId });
        return;
      default:
        break;
    }
    this.#emit(effect);
  }

  #schedule(): void {
    clearTimeout(this.#timer);
    this.#timer = undefined;
    if (this.#stopped) return;
    const wake = nextWakeAt(this.#state);
    if (wake === null) return;
    const delay = Math.min(MAX_TIMER_MS, Math.max(1, Math.ceil(wake - this.#clock())));
    this.#timer = setTimeout(() => this.tick(), delay);
  }

  async #writeBootId(): Promise<void> {
    if (this.bootIdPath !== undefined) await writeFile(this.bootIdPath, `${this.#bootId}\n`);
  }

  async #listen(): Promise<void> {
    if (this.#stopped) return;
    await rm(this.socketPath, { force: true }); // a stale file from the last boot
    await rm(this.#stalePath, { force: true });
    const server = http.createServer((req, res) => this.#serve(req, res));
    server.on("connection", (socket) => {
      this.#connections.add(socket);
      socket.on("close", () => this.#connections.delete(socket));
    });
    // Malformed requests get node's 400 and the connection closes; never an exception.
    server.on("clientError", (_error, socket) => socket.destroy());
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(this.socketPath, () => {
        server.off("error", reject);
        resolve();
      });
    });
    server.on("error", (error) => this.#reportError(`server error: ${error.message}`));
    this.#server = server;
  }

  async #close(keepSocketFile: boolean): Promise<void> {
    const server = this.#server;
    if (!server) return;
    this.#server = null;
    // node unlinks the socket path on close; keep a hard link so a stale socket file stays (ECONNREFUSED).
    if (keepSocketFile) await link(this.socketPath, this.#stalePath).catch(() => undefined);
    const closed = new Promise<void>((resolve) => server.close(() => resolve()));
    for (const socket of this.#connections) socket.destroy(); // in-flight requests see a reset
    this.#connections.clear();
    await closed;
    if (keepSocketFile) await rename(this.#stalePath, this.socketPath).catch(() => undefined);
  }

  #serve(req: http.IncomingMessage, res: http.ServerResponse): void {
    req.on("error", () => undefined);
    // Only PATCH /settings reads a body; a small one (a settings change), whatever was sent.
    const chunks: Buffer[] = [];
    let size = 0;
    req.on("data", (chunk: Buffer) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    req.on("end", () => {
      const method = req.method ?? "GET";
      const url = req.url ?? "/";
      const now = this.#clock();
      let response: HostResponse;
      try {
        response =
          size > MAX_BODY_BYTES
            ? { kind: "http", status: 413, body: "request body too large", contentType: "text/plain" }
            : this.#handle(method, url, now, Buffer.concat(chunks).toString("utf8"));
      } catch (error) {
        // A bug in the state machine answers 500 instead of crashing the host.
        this.#reportError(`request ${method} ${url} failed: ${String(error)}`);
        response = { kind: "http", status: 500, body: "simulator error", contentType: "text/plain" };
      }
      const outcome = response.kind === "http" ? response.status : response.kind;
      this.#emit({ type: "request", at: now, method, url, outcome });
      switch (response.kind) {
        case "http": {
          const headers: Record<string, string> = {};
          if (response.contentType !== null) headers["content-type"] = response.contentType;
          res.writeHead(response.status, headers).end(response.body);
          return;
        }
        case "stall":
          return; // answered never; the connection dies with the API or on stop()
        case "drop":
        case "unavailable":
          res.socket?.destroy();
          return;
      }
    });
  }
}

/** Later boots replace the socket file freely (it is ours); the first must not remove someone else's, such as a
 * real host's /run/api.sock or another simulator's. A stale socket file (nothing listening) is fine. */
async function refuseLiveSocket(path: string): Promise<void> {
  let stats;
  try {
    stats = await lstat(path);
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return;
    throw error;
  }
  if (!stats.isSocket()) throw new Error(`${path} exists and is not a socket; refusing to replace it`);
  const live = await new Promise<boolean>((resolve) => {
    const probe = connect(path, () => {
      probe.destroy();
      resolve(true);
    });
    probe.on("error", () => resolve(false));
  });
  if (live) throw new Error(`something is already listening on ${path}; refusing to replace it`);
}

/** Starts a simulated host listening on `options.socketPath`. Stop it with `stop()`. */
export async function startSimulatedHost(options: SimulatedHostOptions): Promise<SimulatedHost> {
  if (!isSemVer(options.version))
    throw new Error(`version ${JSON.stringify(options.version)} is not a semantic version (e.g. 1.25.0)`);
  const host = new SimulatedHost(options);
  await host.start();
  return host;
}
