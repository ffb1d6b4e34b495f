// An informer that does not silently die. @kubernetes/client-node's ListWatch keeps a cache and reconnects after
// watch timeouts, but stops for good on any other error (a failed list, a 403, a 500). This supervisor restarts it
// with jittered exponential backoff, knows when the cache is synced, and passes narrow selectors to both the list
// and the watch.
import {
  ListWatch,
  Watch,
  type KubeConfig,
  type KubernetesListObject,
  type KubernetesObject,
} from "@kubernetes/client-node";

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
      this.#markSynced();
      return result;
    };
    this.#lw = new ListWatch(
      options.path,
      new Watch(options.kc),
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
