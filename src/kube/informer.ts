// An informer that does not silently die. @kubernetes/client-node's ListWatch keeps a cache and reconnects after
// watch timeouts, but stops for good on any other error (a failed list, a 403, a 500). This supervisor restarts it
// with jittered exponential backoff, knows when the cache is synced, and passes narrow selectors to both the list
// and the watch.
//
// Lean at rest (docs/design/footprint.md): each watch asks for bookmarks and a long, randomised server-side timeout,
// so an idle informer re-opens its watch about once an hour instead of after client-node's 30 s of silence; and the
// cache keeps no managedFields (and no Node image lists), which no decision reads and which are most of an object.
import {
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from "@kubernetes/client-node";

/** Server-side timeout of each watch: uniform in [min, 2·min), so a fleet of replicas does not re-open together. */
const WATCH_TIMEOUT_MIN_SECONDS = 30 * 60;
/**
 * No byte for this long: the connection is dead. kube-apiserver sends a bookmark to every watch that asks for them
 * about once a minute, so silence this long means a half-open connection, not a quiet resource.
 */
const WATCH_IDLE_MS = 3 * 60_000;

export type ChangeKind = "add" | "update" | "delete";

export interface InformerOptions<T extends KubernetesObject> {
  /** For logs and metrics, e.g. "nodes". */
  readonly name: string;
  readonly kc: KubeConfig;
  /** Watch path, e.g. "/api/v1/nodes" or "/apis/brupop.bottlerocket.aws/v2/namespaces/ns/bottlerocketshadows". */
  readonly path: string;
  /** The list call; it must apply the same selectors as below. */
  readonly list: () => Promise<KubernetesListObject<T>>;
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
  readonly #lw: ListWatch<T>;
  #failures = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  #stopped = true;
  #synced = false;
  #lastEventAt = 0;
  readonly #syncedPromise: Promise<void>;
  #resolveSynced: () => void = () => undefined;

  constructor(options: InformerOptions<T>) {
    this.name = options.name;
    this.#options = options;
    this.#syncedPromise = new Promise((resolve) => (this.#resolveSynced = resolve));
    const list = async () => {
      const result = await options.list();
      for (const item of result.items) trimForCache(item);
      this.#markSynced();
      return result;
    };
    this.#lw = new ListWatch(
      options.path,
      new LeanWatch(options.kc),
      list,
      false,
      options.labelSelector,
      options.fieldSelector,
    );
    for (const kind of ["add", "update", "delete"] as const) {
      this.#lw.on(kind, (obj) => {
        this.#lastEventAt = Date.now();
        this.#failures = 0;
        options.onChange?.(kind, obj);
      });
    }
    this.#lw.on("error", (err) => this.#restartLater(err));
  }

  /** Starts listing and watching; resolves once the cache holds a complete list (retrying until it does). */
  async start(): Promise<void> {
    this.#stopped = false;
    this.#launch();
    await this.#syncedPromise;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#restartTimer);
    await this.#lw.stop();
  }

  get synced(): boolean {
    return this.#synced;
  }

  /** Time of the last add/update/delete seen, 0 if none (for a staleness gauge). */
  get lastEventAt(): number {
    return this.#lastEventAt;
  }

  get(name: string, namespace?: string): T | undefined {
    return this.#lw.get(name, namespace);
  }

  list(namespace?: string): readonly T[] {
    return this.#lw.list(namespace);
  }

  #launch(): void {
    this.#lw.start().catch((err: unknown) => this.#restartLater(err));
  }

  #markSynced(): void {
    this.#failures = 0;
    if (this.#synced) return;
    this.#synced = true;
    this.#resolveSynced();
  }

  #restartLater(err: unknown): void {
    if (this.#stopped || this.#restartTimer !== undefined) return;
    const min = this.#options.minBackoffMs ?? 500;
    const max = this.#options.maxBackoffMs ?? 30_000;
    const ceiling = Math.min(max, min * 2 ** this.#failures);
    const delay = Math.round(ceiling / 2 + (Math.random() * ceiling) / 2); // jitter keeps restarts apart
    this.#failures++;
    this.#options.onError?.(err, delay);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (!this.#stopped) this.#launch();
    }, delay);
    this.#restartTimer.unref();
  }
}

/** Drops, in place, what no decision reads and what makes most of an object's size. */
export function trimForCache<T extends KubernetesObject>(object: T): T {
  if (object.metadata !== undefined) delete object.metadata.managedFields;
  // A Node's pulled images: up to 50 entries, never read.
  const status = (object as { status?: { images?: unknown } | null }).status;
  if (typeof status === "object" && status !== null) delete status.images;
  return object;
}

/** client-node's Watch with bookmarks, a long randomised server timeout and a bookmark-based idle timeout. */
class LeanWatch extends Watch {
  constructor(kc: KubeConfig) {
    super(kc);
    // Private in client-node's types; it is the inactivity timeout of the stream (30 s by default).
    (this as unknown as { requestTimeoutMs: number }).requestTimeoutMs = WATCH_IDLE_MS;
  }

  override watch(
    path: string,
    queryParams: Record<string, string | number | boolean | undefined>,
    callback: (phase: string, apiObj: unknown, watchObj?: unknown) => void,
    done: (err: unknown) => void,
  ): Promise<AbortController> {
    const timeoutSeconds = Math.floor(WATCH_TIMEOUT_MIN_SECONDS * (1 + Math.random()));
    return super.watch(
      path,
      { ...queryParams, allowWatchBookmarks: true, timeoutSeconds },
      (phase, object, raw) =>
        callback(phase, phase === "BOOKMARK" ? object : trimForCache(object as KubernetesObject), raw),
      done,
    );
  }
}
