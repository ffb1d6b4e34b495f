// A counter: a total that only goes up (restarts at zero with the process).
import type { Sample } from "./exposition.ts";
import { labelsAndValue, SeriesMetric, type LabelValues, type MetricConfig } from "./series.ts";

export class Counter<L extends string = string> extends SeriesMetric<L, { value: number }> {
  readonly type = "counter";

  constructor(config: MetricConfig<L, Counter<L>>) {
    super(config as MetricConfig<L, unknown>);
    this.init();
  }

  /** Adds `value` (default 1), which must be finite and not negative. */
  inc(value?: number): void;
  inc(labels: LabelValues<L>, value?: number): void;
  inc(labelsOrValue?: LabelValues<L> | number, value?: number): void {
    const [labels, amount = 1] = labelsAndValue(labelsOrValue, value);
    if (!Number.isFinite(amount) || amount < 0) {
      throw new Error(`${this.name}: a counter only goes up by a finite amount, not ${amount}`);
    }
    this.series(labels).value += amount;
  }

  protected initial(): { value: number } {
    return { value: 0 };
  }

  protected samples(labels: Sample["labels"], series: { value: number }): Sample[] {
    return [{ name: this.name, labels, value: series.value }];
  }
}
