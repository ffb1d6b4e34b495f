// What Counter, Gauge and Histogram share: their definition (name, help, label names, registration), and their
// series, one per label set, kept in the order they first appeared so that each scrape lists them the same way.
import type { Family, MetricType, Sample } from "./exposition.ts";
import type { Registry } from "./registry.ts";

/** Label values by label name; a label left out is absent from the series (as prom-client allowed). */
export type LabelValues<L extends string> = Partial<Record<L, string | number>>;

export interface MetricConfig<L extends string, M> {
  name: string;
  help: string;
  labelNames?: readonly L[];
  /** Registries that serve this metric; none: the metric is only held by its owner. */
  registers?: readonly Registry[];
  /** Runs before each scrape reads the metric, to set values kept elsewhere (`this` is the metric). */
  collect?: (this: M) => void | Promise<void>;
}

/** What a registry needs of a metric. */
export interface Metric {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly labelNames: readonly string[];
  collect(): Promise<void>;
  family(): Family;
}

const METRIC_NAME = /^[a-zA-Z_:][a-zA-Z0-9_:]*$/;
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/;

type Pairs = Sample["labels"];

export abstract class SeriesMetric<L extends string, V> implements Metric {
  abstract readonly type: MetricType;
  readonly name: string;
  readonly help: string;
  readonly labelNames: readonly L[];
  readonly #series = new Map<string, { labels: Pairs; value: V }>();
  readonly #collect: (() => void | Promise<void>) | undefined;

  protected constructor(config: MetricConfig<L, unknown>, reserved: readonly string[] = []) {
    if (!METRIC_NAME.test(config.name)) throw new Error(`invalid metric name: ${JSON.stringify(config.name)}`);
    const labelNames = config.labelNames ?? [];
    for (const label of labelNames) {
      if (!LABEL_NAME.test(label) || label.startsWith("__") || reserved.includes(label)) {
        throw new Error(`${config.name}: invalid label name ${JSON.stringify(label)}`);
      }
    }
    if (new Set(labelNames).size !== labelNames.length) throw new Error(`${config.name}: label names repeat`);
    this.name = config.name;
    this.help = config.help;
    this.labelNames = [...labelNames];
    this.#collect = config.collect?.bind(this);
    for (const registry of config.registers ?? []) registry.register(this);
  }

  /** The value a new series starts from. */
  protected abstract initial(): V;
  /** The lines of one series. */
  protected abstract samples(labels: Pairs, value: V): Sample[];

  /** Call from the subclass's constructor: a metric without labels has its one series from the start, at zero. */
  protected init(): void {
    if (this.labelNames.length === 0) this.series({});
  }

  /** The series of a label set, created at its first use. */
  protected series(labels: LabelValues<L>): V {
    const [key, pairs] = this.#key(labels);
    let entry = this.#series.get(key);
    if (entry === undefined) {
      entry = { labels: pairs, value: this.initial() };
      this.#series.set(key, entry);
    }
    return entry.value;
  }

  protected replace(labels: LabelValues<L>, value: V): void {
    const [key, pairs] = this.#key(labels);
    const entry = this.#series.get(key);
    if (entry === undefined) this.#series.set(key, { labels: pairs, value });
    else entry.value = value;
  }

  /** Drops the series of exactly this label set. */
  remove(labels: LabelValues<L>): void {
    this.#series.delete(this.#key(labels)[0]);
  }

  /** Drops every series (a metric without labels goes back to zero). */
  reset(): void {
    this.#series.clear();
    this.init();
  }

  async collect(): Promise<void> {
    await this.#collect?.();
  }

  family(): Family {
    const samples: Sample[] = [];
    for (const { labels, value } of this.#series.values()) samples.push(...this.samples(labels, value));
    return { name: this.name, help: this.help, type: this.type, samples };
  }

  /** The series' key (its values in label-name order) and its labels as written; unknown label names throw. */
  #key(labels: LabelValues<L>): [string, Pairs] {
    for (const name of Object.keys(labels)) {
      if (!(this.labelNames as readonly string[]).includes(name)) {
        throw new Error(`${this.name}: label ${JSON.stringify(name)} is not one of [${this.labelNames.join(", ")}]`);
      }
    }
    const values = this.labelNames.map((name) => {
      const value = labels[name];
      return value === undefined ? undefined : String(value);
    });
    const pairs = this.labelNames.flatMap((name, i) => {
      const value = values[i];
      return value === undefined ? [] : [[name, value] as const];
    });
    return [JSON.stringify(values), pairs];
  }
}

/** Splits prom-client's two call shapes, `(labels, value)` and `(value)`. */
export function labelsAndValue<L extends string>(
  labelsOrValue: LabelValues<L> | number | undefined,
  value: number | undefined,
): [LabelValues<L>, number | undefined] {
  return typeof labelsOrValue === "object" ? [labelsOrValue, value] : [{}, labelsOrValue];
}
