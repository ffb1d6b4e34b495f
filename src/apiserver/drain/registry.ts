// The drains this replica runs, one per node at most: starting a drain for a node that is already draining joins
// it, so the synchronous route, the asynchronous one and an agent's retries never run two drains of one node here.
// Each new drain gets an identity (it goes onto the Node with the cordon). Finished drains are kept for a while so
// the status route can report how they ended; a client tells its own drain from an older one by that identity.
import { randomUUID } from "node:crypto";
import type { DrainStatus } from "../../api/drain.ts";

export type DrainRunner = (
  drain: { node: string; id: string },
  signal: AbortSignal,
  onUpdate: (status: DrainStatus) => void,
) => Promise<DrainStatus>;

interface Entry {
  status: DrainStatus;
  controller: AbortController;
  done: Promise<DrainStatus>;
  running: boolean;
  finishedAt?: number;
}

export interface DrainRegistryOptions {
  run: DrainRunner;
  /** How long a finished drain's status stays visible (default 1 h). */
  retainMs?: number;
  /** Called when a drain starts and when it ends (metrics, logs). */
  onStart?: (node: string) => void;
  onFinish?: (status: DrainStatus, durationMs: number) => void;
  now?: () => number;
}

export class DrainRegistry {
  readonly #entries = new Map<string, Entry>();
  readonly #options: DrainRegistryOptions;
  #closed = false;

  constructor(options: DrainRegistryOptions) {
    this.#options = options;
  }

  /** Starts a drain of `node`, or joins the one running. `started` says which. */
  start(node: string): { started: boolean; done: Promise<DrainStatus>; status: () => DrainStatus } {
    if (this.#closed) throw new Error("shutting down: no new drains");
    this.#prune();
    const existing = this.#entries.get(node);
    if (existing?.running) return { started: false, done: existing.done, status: () => copy(existing.status) };
    const controller = new AbortController();
    const now = this.#options.now ?? Date.now;
    const startedAt = now();
    const id = randomUUID();
    const initial: DrainStatus = {
      id,
      node,
      phase: "cordoning",
      startedAt: new Date(startedAt).toISOString(),
      message: "starting",
      pods: [],
      skipped: [],
    };
    this.#options.onStart?.(node);
    // Created before the run starts: the runner reports its first status synchronously.
    const entry: Entry = { status: initial, controller, running: true, done: Promise.resolve(initial) };
    this.#entries.set(node, entry);
    entry.done = this.#options
      .run({ node, id }, controller.signal, (status) => (entry.status = status))
      .catch((err: unknown): DrainStatus => ({
        ...entry.status,
        phase: "failed",
        message: `drain crashed: ${err instanceof Error ? err.message : String(err)}`,
        finishedAt: new Date(now()).toISOString(),
      }))
      .then((status) => {
        entry.status = copy(status);
        entry.running = false;
        entry.finishedAt = now();
        this.#options.onFinish?.(entry.status, entry.finishedAt - startedAt);
        return entry.status;
      });
    return { started: true, done: entry.done, status: () => copy(entry.status) };
  }

  /** The node's running drain, or its last one while retained. */
  status(node: string): DrainStatus | undefined {
    this.#prune();
    const entry = this.#entries.get(node);
    return entry ? copy(entry.status) : undefined;
  }

  /** Cancels the node's running drain (if any) and waits until it has stopped. */
  async cancel(node: string, reason: string): Promise<void> {
    const entry = this.#entries.get(node);
    if (!entry?.running) return;
    entry.controller.abort(new Error(reason));
    await entry.done;
  }

  get running(): number {
    return [...this.#entries.values()].filter((e) => e.running).length;
  }

  /** Refuses new drains and cancels the running ones; their callers are told to retry (on another replica). */
  async close(reason = "the API server is shutting down"): Promise<void> {
    this.#closed = true;
    const running = [...this.#entries.values()].filter((e) => e.running);
    for (const entry of running) entry.controller.abort(new Error(reason));
    await Promise.all(running.map((e) => e.done));
  }

  #prune(): void {
    const now = (this.#options.now ?? Date.now)();
    const retainMs = this.#options.retainMs ?? 60 * 60_000;
    for (const [node, entry] of this.#entries) {
      if (!entry.running && entry.finishedAt !== undefined && now - entry.finishedAt > retainMs) {
        this.#entries.delete(node);
      }
    }
  }
}

function copy(status: DrainStatus): DrainStatus {
  return structuredClone(status);
}
