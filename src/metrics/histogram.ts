// A histogram: observations counted into fixed buckets, with their sum and count. Each bucket is written cumulative
// (`le` is an upper bound, inclusive), the last one is `le="+Inf"` and equals `_count`.
import { formatValue, type Sample } from "./exposition.ts";
import { labelsAndValue, SeriesMetric, type LabelValues, type MetricConfig } from "./series.ts";

interface Observations {
  /** Per bucket, not cumulative; one more than the bounds, for `+Inf`. */
  counts: number[];
  sum: number;
  count: number;
}

export class Histogram<L extends string = string> extends SeriesMetric<L, Observations> {
  readonly type = "histogram";
  /** Upper bounds, increasing, without `+Inf`. */
  readonly buckets: readonly number[];
  readonly #le: readonly string[];

  constructor(config: MetricConfig<L, Histogram<L>> & { buckets: readonly number[] }) {
    super(config as MetricConfig<L, unknown>, ["le"]);
    const { buckets } = config;
    if (buckets.some((b, i) => !Number.isFinite(b) || (i > 0 && b <= (buckets[i - 1] ?? b)))) {
      throw new Error(`${config.name}: buckets must be finite and increasing: ${buckets.join(", ")}`);
    }
    this.buckets = [...buckets];
    this.#le = [...buckets.map(formatValue), "+Inf"];
    this.init();
  }

  observe(value: number): void;
  observe(labels: LabelValues<L>, value: number): void;
  observe(labelsOrValue: LabelValues<L> | number, value?: number): void {
    const [labels, observed] = labelsAndValue(labelsOrValue, value);
    if (typeof observed !== "number") throw new TypeError(`${this.name}: observe needs a number`);
    const series = this.series(labels);
    const found = this.buckets.findIndex((bound) => observed <= bound);
    const bucket = found === -1 ? this.buckets.length : found;
    series.counts[bucket] = (series.counts[bucket] ?? 0) + 1;
    series.sum += observed;
    series.count += 1;
  }

  protected initial(): Observations {
    return { counts: new Array<number>(this.buckets.length + 1).fill(0), sum: 0, count: 0 };
  }

  protected samples(labels: Sample["labels"], series: Observations): Sample[] {
    let cumulative = 0;
    const buckets = series.counts.map((count, i): Sample => {
      cumulative += count;
      return { name: `${this.name}_bucket`, labels: [...labels, ["le", this.#le[i] ?? "+Inf"]], value: cumulative };
    });
    return [
      ...buckets,
      { name: `${this.name}_sum`, labels, value: series.sum },
      { name: `${this.name}_count`, labels, value: series.count },
    ];
  }
}
