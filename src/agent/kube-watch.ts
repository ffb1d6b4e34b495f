// A watch of ONE Kubernetes object, selected by name through a field selector (the agent's own brs and Node), in
// a few hundred lines instead of @kubernetes/client-node. Protocol: LIST (gets the object and a resourceVersion), then WATCH
// from that resourceVersion with bookmarks; a stream that ends is re-opened from the last resourceVersion seen;
// 410 Gone (history compacted, or the watch cache rebuilt) re-lists; 429 (the server sheds load, or a resource's
// storage is being rebuilt after its CRD changed) waits Retry-After and repeats the same step, keeping the resume
// point, as client-go's reflector does; any other failure backs off (0.8 s doubling to 30 s, full jitter, like
// kube-rs) and re-lists. Quiet at rest (docs/design/footprint.md): each watch is held for hours (a randomised
// server-side timeout, so a fleet does not re-open together) and kept honest by the bookmarks kube-apiserver sends
// about once a minute: no byte for 3 minutes means a dead connection. No periodic re-list: a resumed watch misses
// nothing, and one that cannot resume answers 410 and re-lists.
import { setTimeout as sleep } from "node:timers/promises";
import { httpRequest, open, readToken } from "./http.ts";
import type { KubeAccess } from "./config.ts";

const WATCH_IDLE_SECONDS = 180;

export interface SingleObjectWatchOptions<T> {
  kube: KubeAccess;
  /** The collection, e.g. `/api/v1/nodes` or `/apis/<group>/<version>/namespaces/<ns>/<plural>`. */
  collectionPath: string;
  /** The object's name; becomes `fieldSelector=metadata.name=<name>`. */
  name: string;
  /** Turns the wire object into what callers use; throw to reject it (it is then treated as absent). */
  parse: (object: unknown) => T;
  /** Called with every new value (null: the object does not exist). */
  onChange?: (value: T | null) => void;
  onError?: (message: string) => void;
  /** Server-side timeout of each watch request: at least this, less than twice it (the agent's is hours). */
  timeoutSeconds: number;
  /** Re-list at least this often. Default never. */
  resyncMs?: number;
  requestTimeoutMs?: number;
  initialBackoffMs?: number;
  maxBackoffMs?: number;
}

interface WatchEvent {
  type?: unknown;
  object?: { metadata?: { resourceVersion?: unknown }; code?: unknown; message?: unknown };
}

class GoneError extends Error {}
/** 429: the server asks us to come back after `afterMs`; then resume from `resourceVersion` (or list if none). */
class RetryLater extends Error {
  readonly afterMs: number;
  readonly resourceVersion: string | undefined;
  constructor(afterMs: number, resourceVersion: string | undefined) {
    super(`server busy; retrying in ${afterMs} ms`);
    this.afterMs = afterMs;
    this.resourceVersion = resourceVersion;
  }
}

/** Retry-After in ms (seconds on the wire; kube-apiserver always sends it with 429), bounded by `maxMs`. */
function retryAfterMs(header: string | string[] | undefined, maxMs: number): number {
  const seconds = Number(Array.isArray(header) ? header[0] : header);
  return Math.min(maxMs, Number.isFinite(seconds) && seconds > 0 ? seconds * 1000 : 1000);
}
/** The connection failed or broke mid-stream: resume from the last resourceVersion seen (carried here). */
class StreamBroken extends Error {
  readonly resourceVersion: string;
  constructor(message: string, resourceVersion: string, cause: unknown) {
    super(message, { cause });
    this.resourceVersion = resourceVersion;
  }
}

export class SingleObjectWatch<T> {
  readonly #options: SingleObjectWatchOptions<T>;
  readonly #abort = new AbortController();
  #value: T | null | undefined = undefined;
  #done: Promise<void> | undefined;
  #lists = 0;

  constructor(options: SingleObjectWatchOptions<T>) {
    this.#options = options;
  }

  /** The current value: undefined until the first list succeeded, null while the object does not exist. */
  get value(): T | null | undefined {
    return this.#value;
  }

  /** How many times the collection was listed (for tests and metrics). */
  get lists(): number {
    return this.#lists;
  }

  /** Overrides the cached value until the next event, e.g. with what we just wrote (the watch catches up). */
  assume(value: T | null): void {
    this.#value = value;
  }

  start(): void {
    this.#done ??= this.#run().catch((error: unknown) => {
      if (!this.#abort.signal.aborted) this.#options.onError?.(`watch stopped: ${String(error)}`);
    });
  }

  async stop(): Promise<void> {
    this.#abort.abort(new Error("watch stopped"));
    await this.#done;
  }

  async #run(): Promise<void> {
    const o = this.#options;
    const signal = this.#abort.signal;
    const initial = o.initialBackoffMs ?? 800;
    let backoff = initial;
    let busy = 0; // 429s in a row
    let resourceVersion: string | undefined;
    let listedAt = 0;
    while (!signal.aborted) {
      try {
        if (resourceVersion === undefined || Date.now() - listedAt >= (o.resyncMs ?? Infinity)) {
          resourceVersion = await this.#list();
          listedAt = Date.now();
        }
        resourceVersion = await this.#watch(resourceVersion);
        backoff = initial; // a stream that ran and ended normally
        busy = 0;
      } catch (error) {
        if (this.#abort.signal.aborted) return; // stop() while listing or watching
        if (error instanceof RetryLater) {
          // Not a failure: keep the resume point. Up to twice Retry-After, so a fleet told the same second spreads.
          // Said only when it goes on (a rebuilt storage answers 429 for a moment; lasting load shedding is news).
          resourceVersion = error.resourceVersion;
          if (++busy >= 3) o.onError?.(`${o.collectionPath} ${o.name}: answered 429 ${busy} times in a row`);
          await sleep(error.afterMs * (1 + Math.random()), undefined, { signal }).catch(() => undefined);
          continue;
        }
        // Re-list unless the stream merely broke; a resumed watch that is too old answers 410 and re-lists then.
        resourceVersion = error instanceof StreamBroken ? error.resourceVersion : undefined;
        if (error instanceof GoneError) continue;
        o.onError?.(`${o.collectionPath} ${o.name}: ${error instanceof Error ? error.message : String(error)}`);
        await sleep(Math.random() * backoff, undefined, { signal }).catch(() => undefined);
        backoff = Math.min(backoff * 2, this.#maxBackoffMs);
      }
    }
  }

  get #maxBackoffMs(): number {
    return this.#options.maxBackoffMs ?? 30_000;
  }

  #query(extra: string): string {
    const selector = encodeURIComponent(`metadata.name=${this.#options.name}`);
    return `${this.#options.collectionPath}?fieldSelector=${selector}${extra}`;
  }

  async #headers(): Promise<Record<string, string>> {
    return { authorization: `Bearer ${await readToken(this.#options.kube.tokenFile)}` };
  }

  async #list(): Promise<string> {
    const o = this.#options;
    const response = await httpRequest({
      baseUrl: o.kube.url,
      caFile: o.kube.caFile,
      method: "GET",
      path: this.#query(""),
      headers: await this.#headers(),
      timeoutMs: o.requestTimeoutMs ?? 30_000,
      signal: this.#abort.signal,
    });
    if (response.status === 429)
      throw new RetryLater(retryAfterMs(response.headers["retry-after"], this.#maxBackoffMs), undefined);
    if (response.status !== 200) throw new Error(`list answered ${response.status}: ${response.body.slice(0, 200)}`);
    const list = JSON.parse(response.body) as { metadata?: { resourceVersion?: unknown }; items?: unknown[] };
    const rv = list.metadata?.resourceVersion;
    if (typeof rv !== "string" || !Array.isArray(list.items)) throw new Error("list answer has no resourceVersion");
    this.#lists++;
    this.#set(list.items[0] ?? null);
    return rv;
  }

  /** Streams events until the server ends the watch; returns the last resourceVersion seen. */
  async #watch(from: string): Promise<string> {
    const o = this.#options;
    const timeoutSeconds = Math.floor(o.timeoutSeconds * (1 + Math.random()));
    const stream = new AbortController();
    const signal = AbortSignal.any([this.#abort.signal, stream.signal]);
    // No byte for longer than a bookmark's period with margin (or the server's own timeout): the connection is dead.
    const idleMs = Math.min(timeoutSeconds + 30, WATCH_IDLE_SECONDS) * 1000;
    let idle = setTimeout(() => stream.abort(new Error(`watch silent for ${idleMs} ms`)), idleMs);
    try {
      const headers = await this.#headers();
      const res = await this.#transport(
        () =>
          open(
            {
              baseUrl: o.kube.url,
              caFile: o.kube.caFile,
              method: "GET",
              path: this.#query(
                `&watch=1&allowWatchBookmarks=true&resourceVersion=${encodeURIComponent(from)}` +
                  `&timeoutSeconds=${timeoutSeconds}`,
              ),
              headers,
              timeoutMs: idleMs,
            },
            signal,
          ),
        from,
      );
      if (res.statusCode === 410) throw new GoneError();
      if (res.statusCode !== 200) {
        res.resume();
        if (res.statusCode === 429)
          throw new RetryLater(retryAfterMs(res.headers["retry-after"], this.#maxBackoffMs), from);
        throw new Error(`watch answered ${res.statusCode ?? 0}`);
      }
      let rv = from;
      const lines = jsonLines(res);
      for (;;) {
        const next = await this.#transport(() => lines.next(), rv);
        if (next.done === true) break;
        const line = next.value;
        clearTimeout(idle);
        idle = setTimeout(() => stream.abort(new Error(`watch silent for ${idleMs} ms`)), idleMs);
        if (line.trim() === "") continue;
        const event = JSON.parse(line) as WatchEvent;
        if (event.type === "ERROR") {
          if (event.object?.code === 410) throw new GoneError();
          const message = event.object?.message;
          throw new Error(`watch error: ${typeof message === "string" ? message : line.slice(0, 200)}`);
        }
        const version = event.object?.metadata?.resourceVersion;
        if (typeof version === "string") rv = version;
        if (event.type === "ADDED" || event.type === "MODIFIED") this.#set(event.object);
        else if (event.type === "DELETED") this.#set(null);
        // BOOKMARK: only the resourceVersion moves.
      }
      if (signal.aborted) throw signal.reason;
      return rv;
    } finally {
      clearTimeout(idle);
      stream.abort();
    }
  }

  /** Runs a network step; a failure that is not our abort becomes StreamBroken (resume, do not re-list). */
  async #transport<R>(step: () => Promise<R>, resourceVersion: string): Promise<R> {
    try {
      return await step();
    } catch (error) {
      if (this.#abort.signal.aborted) throw error;
      throw new StreamBroken(error instanceof Error ? error.message : String(error), resourceVersion, error);
    }
  }

  #set(object: unknown): void {
    let value: T | null = null;
    if (object !== null) {
      try {
        value = this.#options.parse(object);
      } catch (error) {
        this.#options.onError?.(
          `ignoring ${this.#options.name}: ${error instanceof Error ? error.message : String(error)}`,
        );
        value = null;
      }
    }
    this.#value = value;
    this.#options.onChange?.(value);
  }
}

/**
 * The lines of a watch stream (newline-delimited JSON). Not node:readline: it is made for terminals and loads
 * Node's REPL history and keypress modules with it (agent memory budget, docs/adr/0007-agent-memory.md). Ends when
 * the stream ends; rejects when it fails or is destroyed (an abort).
 */
export async function* jsonLines(
  res: AsyncIterable<unknown> & { setEncoding(encoding: "utf8"): unknown },
): AsyncGenerator<string, void, undefined> {
  res.setEncoding("utf8"); // a string decoder: a character split across chunks stays whole
  let pending = "";
  for await (const chunk of res as AsyncIterable<string>) {
    pending += chunk;
    for (let end = pending.indexOf("\n"); end !== -1; end = pending.indexOf("\n")) {
      yield pending.slice(0, end);
      pending = pending.slice(end + 1);
    }
  }
  if (pending !== "") yield pending;
}
