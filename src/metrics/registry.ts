// A registry: the metrics one /metrics endpoint serves, in the order they were registered.
import { CONTENT_TYPE, formatFamily } from "./exposition.ts";
import type { Metric } from "./series.ts";

export class Registry {
  readonly contentType = CONTENT_TYPE;
  readonly #metrics = new Map<string, Metric>();

  register(metric: Metric): void {
    const known = this.#metrics.get(metric.name);
    if (known !== undefined && known !== metric) throw new Error(`metric ${metric.name} is already registered`);
    this.#metrics.set(metric.name, metric);
  }

  /** The registered metrics: name, help, type and label names of each. */
  list(): readonly Metric[] {
    return [...this.#metrics.values()];
  }

  /**
   * The exposition text. Every metric's collect hook runs first, in registration order, then all are read: a hook
   * may set several metrics from one reading (the process' CPU times).
   */
  async metrics(): Promise<string> {
    const metrics = this.list();
    for (const metric of metrics) await metric.collect();
    return metrics.map((metric) => formatFamily(metric.family())).join("");
  }
}
