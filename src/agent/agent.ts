// The agent loop: observe (watch caches + the host), decide (plan.ts, pure), act (one step), repeat. Sequential
// like brupop's; unlike brupop it wakes on watch events instead of only every 5 s, never repeats a step the
// evidence shows done, and bounds every wait.
import { API_GROUP, brsName, PLURAL, VERSION_V2 } from "../api/constants.ts";
import { readBootId } from "../host/boot.ts";
import { HostApiClient, type HostApiClientOptions } from "../host/client.ts";
import { isHostApiError } from "../host/errors.ts";
import { ApiServerClient } from "./apiserver-client.ts";
import type { AgentConfig } from "./config.ts";
import { TransportError } from "./http.ts";
import { SingleObjectWatch } from "./kube-watch.ts";
import type { Logger } from "./log.ts";
import { parseNode, parseShadow, type ObservedNode, type ObservedShadow } from "./observed.ts";
import { failedStatus, plan, specKey, type AgentAction, type AgentMemory, type HostView } from "./plan.ts";

/** The longest pause before a failing step is tried again. */
const MAX_RETRY_PAUSE_MS = 5 * 60_000;

type StepAction = Exclude<AgentAction, { kind: "wait" }>;

export interface AgentOptions {
  config: AgentConfig;
  log: Logger;
  /** Overrides for the host client (tests use millisecond polling). */
  hostClient?: Omit<HostApiClientOptions, "socketPath" | "signal">;
  /** Test hook: called with every action before it runs. */
  onAction?: (action: AgentAction) => void;
}

export class Agent {
  readonly #config: AgentConfig;
  readonly #log: Logger;
  readonly #abort = new AbortController();
  readonly #host: HostApiClient;
  readonly #api: ApiServerClient;
  readonly #shadow: SingleObjectWatch<ObservedShadow>;
  readonly #node: SingleObjectWatch<ObservedNode>;
  readonly #onAction: ((action: AgentAction) => void) | undefined;
  readonly #memory: AgentMemory = {};
  #offered: string | null | undefined = undefined;
  #lastRefreshAt = -Infinity;
  #wake: (() => void) | undefined;
  #running: Promise<void> | undefined;
  #lastWait = "";
  /** The step that failed last, and when it may be tried again (it backs off, whatever wakes the loop). */
  #retry: { key: string; failures: number; at: number } | undefined;

  constructor(options: AgentOptions) {
    const { config, log } = options;
    this.#config = config;
    this.#log = log;
    this.#onAction = options.onAction;
    const signal = this.#abort.signal;
    this.#host = new HostApiClient({ ...options.hostClient, socketPath: config.hostSocketPath, signal });
    this.#api = new ApiServerClient({
      access: config.apiServer,
      nodeName: config.nodeName,
      nodeUid: () => this.#node.value?.uid,
      requestTimeoutMs: config.timing.requestTimeoutMs,
      drainTimeoutMs: config.timing.drainTimeoutMs,
      drainPollIntervalMs: config.timing.drainPollIntervalMs,
      signal,
    });
    const common = {
      kube: config.kube,
      timeoutSeconds: config.timing.watchTimeoutSeconds,
      requestTimeoutMs: config.timing.requestTimeoutMs,
      onChange: () => this.#wake?.(),
      onError: (message: string) => log.warn(message),
    };
    this.#shadow = new SingleObjectWatch({
      ...common,
      collectionPath: `/apis/${API_GROUP}/${VERSION_V2}/namespaces/${config.namespace}/${PLURAL}`,
      name: brsName(config.nodeName),
      parse: parseShadow,
    });
    this.#node = new SingleObjectWatch({
      ...common,
      collectionPath: "/api/v1/nodes",
      name: config.nodeName,
      parse: parseNode,
    });
  }

  /** Starts the watches and the loop; resolves when the loop ends (after stop()). */
  run(): Promise<void> {
    this.#running ??= this.#loop();
    return this.#running;
  }

  /** Stops at the next await: in-flight requests and waits are aborted, nothing more is done. */
  async stop(): Promise<void> {
    this.#abort.abort(new Error("agent stopping"));
    this.#wake?.();
    await this.#running?.catch(() => undefined);
    await Promise.all([this.#shadow.stop(), this.#node.stop()]);
  }

  /** True once both watches have listed (their object may still be absent). */
  get ready(): boolean {
    return this.#shadow.value !== undefined && this.#node.value !== undefined;
  }

  // A method, not a getter: TypeScript would narrow a getter across awaits and call later checks unnecessary.
  #stopped(): boolean {
    return this.#abort.signal.aborted;
  }

  async #loop(): Promise<void> {
    this.#shadow.start();
    this.#node.start();
    this.#log.info("agent started", { node: this.#config.nodeName, apiServer: this.#config.apiServer.url });
    while (!this.#stopped()) {
      let host = await this.#observeHost();
      // A refresh changes the update status; observe again rather than guess.
      if (await this.#maybeRefresh(host)) host = await this.#observeHost();
      if (this.#stopped()) break;
      const action = plan({
        shadow: this.#shadow.value,
        node: this.#node.value,
        host,
        offered: this.#offered,
        memory: this.#memory,
        now: Date.now(),
        settings: {
          excludeFromLbWaitMs: this.#config.excludeFromLbWaitMs,
          rebootTimeoutMs: this.#config.timing.rebootTimeoutMs,
        },
      });
      const shadow = this.#shadow.value;
      const planned = shadow?.valid ? specKey(shadow.spec) : "";
      const key = action.kind === "wait" ? "" : `${describe(action)}|${planned}`;
      const retryAt = this.#retry?.key === key ? this.#retry.at : 0;
      if (action.kind === "wait" || Date.now() < retryAt) {
        const reason = action.kind === "wait" ? action.reason : `${describe(action)} failed; trying again later`;
        if (reason !== this.#lastWait) this.#log.info("waiting", { reason });
        this.#lastWait = reason;
        const until = action.kind === "wait" ? (action.until ?? Infinity) : retryAt;
        await this.#sleep(Math.min(this.#config.timing.syncIntervalMs, Math.max(1, until - Date.now())));
        continue;
      }
      this.#lastWait = "";
      this.#onAction?.(action);
      const outcome = await this.#perform(action, host, planned);
      if (outcome === "done" && this.#retry?.key === key) this.#retry = undefined;
      if (outcome === "retry") await this.#sleep(this.#config.timing.syncIntervalMs);
      if (outcome === "failed") {
        const failures = this.#retry?.key === key ? this.#retry.failures + 1 : 1;
        const pause = Math.min(this.#config.timing.syncIntervalMs * 2 ** (failures - 1), MAX_RETRY_PAUSE_MS);
        this.#retry = { key, failures, at: Date.now() + pause };
      }
    }
    this.#log.info("agent stopped");
  }

  /**
   * Runs one action: "done", "retry" (the host API or the API server could not be reached, or a write did not go
   * through: try again at the next sync) or "failed" (the step itself failed: it backs off). A step failure is reported once, as ErrorReset with crash_count + 1, when
   * it is one of the update's steps and the spec is still the one it was planned for. Returning to Idle is
   * cleaning up after an attempt already counted (a failure, a timeout): a failure there is not a new attempt, so
   * it is only told (failure_reason) and retried with backoff; the node was uncordoned before anything that can
   * fail on the host. A spec that changed meanwhile (the controller reset it) makes the report moot.
   */
  async #perform(action: StepAction, host: HostView, planned: string): Promise<"done" | "retry" | "failed"> {
    const log = this.#log;
    log.info(describe(action), action.kind === "report" ? { status: action.status } : {});
    try {
      await this.#execute(action);
      return "done";
    } catch (error) {
      if (this.#stopped()) return "retry";
      const message = error instanceof Error ? error.message : String(error);
      if (isTransient(error) || action.kind === "report" || action.kind === "create-shadow") {
        log.warn(`${action.kind} did not go through; will retry`, { error: message });
        return "retry";
      }
      log.error(`${action.kind} failed`, { error: message });
      const shadow = this.#shadow.value;
      if (!shadow?.valid || shadow.status === null) return "failed";
      if (specKey(shadow.spec) !== planned) {
        log.info(`the spec changed while ${action.kind} ran; not reporting its failure`);
        return "failed";
      }
      const returning = shadow.spec.state === "Idle";
      const reason = `${returning ? "returning to Idle: " : ""}${action.kind} failed: ${message}`;
      const status = returning
        ? { ...shadow.status, failure_reason: reason }
        : failedStatus(shadow.status, host, reason, Date.now());
      if (returning && shadow.status.failure_reason === reason) return "failed";
      try {
        await this.#execute({ kind: "report", status, why: returning ? "cleanup step failed" : "step failed" });
      } catch (reportError) {
        // The next loop re-plans from the same evidence and retries the (idempotent) step, then the report.
        log.warn("could not report the failure", { error: String(reportError) });
      }
      return "failed";
    }
  }

  async #execute(action: StepAction): Promise<void> {
    switch (action.kind) {
      case "create-shadow":
        await this.#api.createShadow();
        await this.#until(() => this.#shadow.value !== null);
        return;
      case "prepare":
        if (action.pinVersionLock === true) await this.#host.prepareExactly(action.version);
        else await this.#host.prepareUpdate(action.version);
        return;
      case "restore-version-lock":
        await this.#host.restoreVersionLock();
        this.#memory.lockRestoredFor = action.key;
        return;
      case "activate":
        await this.#host.activateUpdate(action.version);
        return;
      case "deactivate":
        await this.#host.deactivateUpdate();
        return;
      case "exclude-from-lb":
        await this.#api.excludeFromLb();
        this.#memory.lbExcludedAt = Date.now();
        this.#assumeNode({ excludedFromLb: true });
        return;
      case "cordon-and-drain":
        await this.#api.cordonAndDrain();
        this.#memory.drainedFor = action.key;
        this.#assumeNode({ unschedulable: true });
        return;
      case "reboot": {
        const requestedAt = Date.now();
        const outcome = await this.#host.reboot();
        this.#memory.reboot = { key: action.key, version: action.version, requestedAt, before: action.before };
        this.#log.info("reboot requested", { outcome });
        return;
      }
      case "remove-lb-exclusion":
        await this.#api.removeExclusionFromLb();
        this.#assumeNode({ excludedFromLb: false });
        return;
      case "uncordon":
        await this.#api.uncordon();
        this.#assumeNode({ unschedulable: false });
        return;
      case "report": {
        await this.#api.updateStatus(action.status);
        const shadow = this.#shadow.value;
        // Act on what we wrote until the watch delivers it (it will, or a newer object).
        if (shadow?.valid) this.#shadow.assume({ ...shadow, status: action.status });
        return;
      }
    }
  }

  #assumeNode(patch: Partial<ObservedNode>): void {
    const node = this.#node.value;
    if (node) this.#node.assume({ ...node, ...patch });
  }

  async #observeHost(): Promise<HostView> {
    try {
      const os = await this.#host.getOs();
      const update = await this.#host.readUpdateStatus();
      const bootId = this.#config.bootIdPath === null ? null : await readBootId(this.#config.bootIdPath);
      return {
        reachable: true,
        versionId: os.version_id,
        update:
          update === null
            ? null
            : { state: update.update_state, stagedVersion: update.staging_partition?.image?.version ?? null },
        bootId,
      };
    } catch (error) {
      if (this.#stopped() || !isHostApiError(error)) {
        if (!this.#stopped()) this.#log.error("observing the host failed", { error: String(error) });
        return { reachable: false, problem: String(error) };
      }
      return { reachable: false, problem: error.message };
    }
  }

  /**
   * Refreshes the host's offer while the node is idle, at most every updateCheckInterval (brupop: 120 s). Never
   * mid-update: spec.version is pinned then, and a refresh could only move chosen_update under our feet.
   */
  async #maybeRefresh(host: HostView): Promise<boolean> {
    const shadow = this.#shadow.value;
    if (!host.reachable || !shadow?.valid || shadow.spec.state !== "Idle") return false;
    if (shadow.status !== null && shadow.status.current_state !== "Idle") return false;
    if (Date.now() - this.#lastRefreshAt < this.#config.timing.updateCheckIntervalMs) return false;
    this.#lastRefreshAt = Date.now();
    try {
      const { chosenUpdate } = await this.#host.refreshUpdates();
      this.#offered = chosenUpdate?.version ?? null;
    } catch (error) {
      if (!this.#stopped())
        this.#log.warn("refresh-updates failed; keeping the last known target", { error: String(error) });
    }
    return true;
  }

  /** Sleeps until `ms` pass, a watch reports a change, or stop(). */
  async #sleep(ms: number): Promise<void> {
    if (this.#stopped()) return;
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, ms);
      function done(): void {
        clearTimeout(timer);
        resolve();
      }
      this.#wake = done;
    });
    this.#wake = undefined;
  }

  /** Waits, bounded, for a watch to show something we caused. */
  async #until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (!condition() && !this.#stopped() && Date.now() < deadline) await this.#sleep(deadline - Date.now());
  }
}

/** Errors worth retrying without reporting a failure: the host's API or the API server was unreachable. */
function isTransient(error: unknown): boolean {
  if (isHostApiError(error, "unavailable")) return true;
  return error instanceof TransportError && !error.timedOut;
}

function describe(action: StepAction): string {
  switch (action.kind) {
    case "prepare":
      return `prepare ${action.version}${action.pinVersionLock === true ? " (rollback: version-lock pinned)" : ""}`;
    case "activate":
      return `${action.kind} ${action.version}`;
    case "reboot":
      return `reboot into ${action.version}`;
    case "deactivate":
      return `deactivate: ${action.reason}`;
    case "report":
      return `report ${action.status.current_state}: ${action.why}`;
    default:
      return action.kind;
  }
}
