// A gauge: a value that is set, or goes up and down.
import type { Sample } from "./exposition.ts";
import { labelsAndValue, SeriesMetric, type LabelValues, type MetricConfig } from "./series.ts";

export class Gauge<L extends string = string> extends SeriesMetric<L, { value: number }> {
  readonly type = "gauge";

  constructor(config: MetricConfig<L, Gauge<L>>) {
    super(config as MetricConfig<L, unknown>);
    this.init();
  }

  set(value: number): void;
  set(labels: LabelValues<L>, value: number): void;
  set(labelsOrValue: LabelValues<L> | number, value?: number): void {
    const [labels, to] = labelsAndValue(labelsOrValue, value);
    if (typeof to !== "number") throw new TypeError(`${this.name}: set needs a number, not ${String(to)}`);
    this.series(labels).value = to;
  }

  /** Adds `value` (default 1). */
  inc(value?: number): void;
  inc(labels: LabelValues<L>, value?: number): void;
  inc(labelsOrValue?: LabelValues<L> | number, value?: number): void {
    const [labels, amount = 1] = labelsAndValue(labelsOrValue, value);
    this.series(labels).value += amount;
  }

  /** Subtracts `value` (default 1). */
  dec(value?: number): void;
  dec(labels: LabelValues<L>, value?: number): void;
  dec(labelsOrValue?: LabelValues<L> | number, value?: number): void {
    const [labels, amount = 1] = labelsAndValue(labelsOrValue, value);
    this.series(labels).value -= amount;
  }

  protected initial(): { value: number } {
    return { value: 0 };
  }

  protected samples(labels: Sample["labels"], series: { value: number }): Sample[] {
    return [{ name: this.name, labels, value: series.value }];
  }
}
