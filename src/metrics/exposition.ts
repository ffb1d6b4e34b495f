// Prometheus text exposition format 0.0.4: one family is its `# HELP` and `# TYPE` lines, then one line per sample.
// https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format
// Pure: the instruments hand over their samples, this renders them.

export const CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8";

export type MetricType = "counter" | "gauge" | "histogram";

/** One line of a family: the series name (the family's, or with `_bucket`, `_sum`, `_count`), labels in order. */
export interface Sample {
  readonly name: string;
  readonly labels: readonly (readonly [name: string, value: string])[];
  readonly value: number;
}

export interface Family {
  readonly name: string;
  readonly help: string;
  readonly type: MetricType;
  readonly samples: readonly Sample[];
}

/** HELP text: backslash and line feed are escaped (a double quote is not, in HELP). */
export function escapeHelp(text: string): string {
  return text.replace(/\\/g, "\\\\").replace(/\n/g, "\\n");
}

/** A label value: backslash, double quote and line feed are escaped. */
export function escapeLabelValue(value: string): string {
  return value.replace(/\\/g, "\\\\").replace(/"/g, '\\"').replace(/\n/g, "\\n");
}

/** A sample value (or an `le` bound): Go's ParseFloat spellings of the non-finite values. */
export function formatValue(value: number): string {
  if (Number.isNaN(value)) return "NaN";
  if (value === Infinity) return "+Inf";
  if (value === -Infinity) return "-Inf";
  return String(value);
}

function formatLabels(labels: Sample["labels"]): string {
  if (labels.length === 0) return "";
  return `{${labels.map(([name, value]) => `${name}="${escapeLabelValue(value)}"`).join(",")}}`;
}

/** A family's lines, each ending in a line feed. A family without samples still says what it is. */
export function formatFamily(family: Family): string {
  let text = `# HELP ${family.name} ${escapeHelp(family.help)}\n# TYPE ${family.name} ${family.type}\n`;
  for (const sample of family.samples) {
    text += `${sample.name}${formatLabels(sample.labels)} ${formatValue(sample.value)}\n`;
  }
  return text;
}
