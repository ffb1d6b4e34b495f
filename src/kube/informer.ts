// An informer that does not silently die: it lists, then watches from the list's resourceVersion, keeps a cache,
// resumes a watch the server ended from the last resourceVersion seen, re-lists after 410 Gone, and restarts with
// jittered exponential backoff after any other error (a failed list, a 403, a 500, a dead connection). It knows
// when the cache is synced and passes narrow selectors to both the list and the watch.
//
// Lean at rest (docs/design/footprint.md): each watch asks for bookmarks and a long, randomised server-side timeout,
// so an idle informer re-opens its watch about once an hour; and the cache keeps no managedFields (and no Node
// image lists), which no decision reads and which are most of an object.
import type { KubernetesObject } from "@kubernetes/client-node";
import { setTimeout as sleep } from "node:timers/promises";
import type { KubeClient, Query } from "./client.ts";
import { statusCode } from "./errors.ts";

/** Server-side timeout of each watch: uniform in [min, 2·min), so a fleet of replicas does not re-open together. */
const WATCH_TIMEOUT_MIN_SECONDS = 30 * 60;

export type ChangeKind = "add" | "update" | "delete";

export interface InformerOptions<T extends KubernetesObject> {
  /** For logs and metrics, e.g. "nodes". */
  readonly name: string;
  readonly client: KubeClient;
  /** The collection, e.g. "/api/v1/nodes" or "/apis/brupop.bottlerocket.aws/v2/namespaces/ns/bottlerocketshadows". */
  readonly path: string;
  readonly labelSelector?: string;
  readonly fieldSelector?: string;
  readonly onChange?: (kind: ChangeKind, obj: T) => void;
  readonly onError?: (err: unknown, retryInMs: number) => void;
  readonly minBackoffMs?: number;
  readonly maxBackoffMs?: number;
}

export class SupervisedInformer<T extends KubernetesObject> {
  readonly name: string;
  readonly #options: InformerOptions<T>;
  readonly #cache = new Map<string, T>();
  /** Where the watch resumes; undefined: list first. */
  #resourceVersion: string | undefined;
  #failures = 0;
  #stop = new AbortController();
  #running: Promise<void> | undefined;
  #synced = false;
  #lastEventAt = 0;
  readonly #syncedPromise: Promise<void>;
  #resolveSynced: () => void = () => undefined;

  constructor(options: InformerOptions<T>) {
    this.name = options.name;
    this.#options = options;
    this.#syncedPromise = new Promise((resolve) => (this.#resolveSynced = resolve));
  }

  /** Starts listing and watching; resolves once the cache holds a complete list (retrying until it does). */
  async start(): Promise<void> {
    if (this.#running === undefined) {
      this.#stop = new AbortController();
      this.#running = this.#run(this.#stop.signal);
    }
    await Promise.race([this.#syncedPromise, this.#running]);
  }

  async stop(): Promise<void> {
    this.#stop.abort(new Error(`informer ${this.name} stopped`));
    await this.#running;
    this.#running = undefined;
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Time of the last add/update/delete seen, 0 if none (for a staleness gauge). */
  get lastEventAt(): number {
    return this.#lastEventAt;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#cache.get(cacheKey(name, namespace));
  }

  list(namespace?: string): readonly T[] {
    const all = [...this.#cache.values()];
    return namespace ? all.filter((o) => o.metadata?.namespace === namespace) : all;
  }

  async #run(stop: AbortSignal): Promise<void> {
    const stopped = () => stop.aborted; // read anew after each await
    while (!stopped()) {
      try {
        if (this.#resourceVersion === undefined) await this.#list(stop);
        const before = this.#resourceVersion;
        const openedAt = Date.now();
        await this.#watch(stop);
        // The server ended the watch (its timeout): resume. One that ends at once with nothing new is a failure.
        if (this.#resourceVersion === before && Date.now() - openedAt < 1_000) {
          throw new Error(`watch ${this.#options.path} ended at once`);
        }
      } catch (err) {
        if (stopped()) return;
        this.#resourceVersion = undefined;
        if (statusCode(err) === 410) continue; // history compacted: re-list at once
        const min = this.#options.minBackoffMs ?? 500;
        const max = this.#options.maxBackoffMs ?? 30_000;
        const ceiling = Math.min(max, min * 2 ** this.#failures);
        const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2); // jitter keeps restarts apart
        this.#failures++;
        this.#options.onError?.(err, delay);
        await sleep(delay, undefined, { signal: stop }).catch(() => undefined);
      }
    }
  }

  #selectors(): Query {
    return { labelSelector: this.#options.labelSelector, fieldSelector: this.#options.fieldSelector };
  }

  async #list(stop: AbortSignal): Promise<void> {
    const list = await this.#options.client.get<{ metadata?: { resourceVersion?: string }; items: T[] }>(
      this.#options.path,
      { query: this.#selectors(), signal: stop, timeoutMs: 120_000 },
    );
    const seen = new Set<string>();
    for (const item of list.items) {
      trimForCache(item);
      const key = keyOf(item);
      seen.add(key);
      const old = this.#cache.get(key);
      this.#cache.set(key, item);
      if (old === undefined) this.#changed("add", item);
      else if (old.metadata?.resourceVersion !== item.metadata?.resourceVersion) this.#changed("update", item);
    }
    for (const [key, old] of this.#cache) {
      if (seen.has(key)) continue;
      this.#cache.delete(key);
      this.#changed("delete", old);
    }
    this.#resourceVersion = list.metadata?.resourceVersion ?? "";
    this.#failures = 0;
    if (!this.#synced) {
      this.#synced = true;
      this.#resolveSynced();
    }
  }

  async #watch(stop: AbortSignal): Promise<void> {
    const timeoutSeconds = Math.floor(WATCH_TIMEOUT_MIN_SECONDS * (1 + Math.random()));
    await this.#options.client.watch<T>(
      this.#options.path,
      (event) => {
        const object = event.object;
        const rv = object.metadata?.resourceVersion;
        if (event.type === "BOOKMARK") {
          if (rv !== undefined) this.#resourceVersion = rv;
          return;
        }
        trimForCache(object);
        const key = keyOf(object);
        if (event.type === "DELETED") {
          this.#cache.delete(key);
          this.#changed("delete", object);
        } else {
          const known = this.#cache.has(key);
          this.#cache.set(key, object);
          this.#changed(known ? "update" : "add", object);
        }
        if (rv !== undefined) this.#resourceVersion = rv;
        this.#failures = 0;
      },
      {
        query: {
          ...this.#selectors(),
          resourceVersion: this.#resourceVersion,
          allowWatchBookmarks: true,
          timeoutSeconds,
        },
        signal: stop, // three minutes without a byte (three missed bookmarks) end it: the client's default
      },
    );
  }

  #changed(kind: ChangeKind, object: T): void {
    this.#lastEventAt = Date.now();
    this.#options.onChange?.(kind, object);
  }
}

const cacheKey = (name: string, namespace?: string) => (namespace ? `${namespace}/${name}` : name);
const keyOf = (object: KubernetesObject) => cacheKey(object.metadata?.name ?? "", object.metadata?.namespace);

/** Drops, in place, what no decision reads and what makes most of an object's size. */
export function trimForCache<T extends KubernetesObject>(object: T): T {
  if (object.metadata !== undefined) delete object.metadata.managedFields;
  // A Node's pulled images: up to 50 entries, never read.
  const status = (object as { status?: { images?: unknown } | null }).status;
  if (typeof status === "object" && status !== null) delete status.images;
  return object;
}
