// Turns the objects the manifest builders make into Helm templates, so the chart and the one-file manifest come from
// one source (the builders) and cannot drift apart.
//
// A builder is called with options whose values are markers instead of plain values; the objects are written as YAML
// and each marker is replaced by the template expression it stands for:
// - `str(expr)` in a string option: `{{ expr | quote }}` where it is a whole scalar, `{{ expr }}` inside a longer one;
// - `num(expr)` in a number option: `{{ expr }}` where the builder put the number, quoted where it made a string of it;
// - `block(expr)` put at a key of a built object: the key with `toYaml` of the value, left out (`with`) when empty if
//   optional; `scalar(expr)`: the key with the quoted value, left out when empty.
// Markers pass the builders' own checks: a string marker is a DNS label, a number marker a port-sized integer from a
// range no object of the manifest uses.
// What a plain value cannot stand for (a choice: the TLS mode, automatic labelling, a deprecated window) is rendered
// once per choice and the differing lines are put under `{{- if }}`/`{{- else }}` (variants()).
import { stringify } from "yaml";

const MARKER = /xhelm([vbs])(\d+)x/g;
/** Number markers: FIRST_NUMBER + id. */
const FIRST_NUMBER = 64_900;
const NUMBER_MARKER = new RegExp(`(: |- )(")?(${FIRST_NUMBER / 100}\\d\\d)(")?$`);

interface Entry {
  readonly expr: string;
  readonly optional: boolean;
}

export class ChartTemplate {
  readonly #entries: Entry[] = [];
  readonly #ids = new Map<string, number>();

  #id(expr: string, optional = false): number {
    const key = `${optional ? "?" : ""}${expr}`;
    let id = this.#ids.get(key);
    if (id === undefined) {
      id = this.#entries.push({ expr, optional }) - 1;
      this.#ids.set(key, id);
    }
    return id;
  }

  /** A string value of the chart, e.g. `str(".Values.image")`. */
  str(expr: string): string {
    return `xhelmv${this.#id(expr)}x`;
  }

  /** A number value of the chart (the builders only place it or print it). */
  num(expr: string): number {
    const id = this.#id(expr);
    if (id >= 100) throw new Error("too many template markers");
    return FIRST_NUMBER + id;
  }

  /** A structured value rendered with toYaml under its key; left out when empty if `optional`. */
  block(expr: string, optional = true): string {
    return `xhelmb${this.#id(expr, optional)}x`;
  }

  /** An optional string value under its key, left out when empty. */
  scalar(expr: string): string {
    return `xhelms${this.#id(expr, true)}x`;
  }

  /** One object as template text (a YAML document without the leading `---`). */
  render(object: object): string {
    const plain = JSON.parse(JSON.stringify(object)) as unknown;
    const text = stringify(plain, { version: "1.1", lineWidth: 0, aliasDuplicateObjects: false });
    return text
      .split("\n")
      .map((line) => this.#line(line))
      .join("\n");
  }

  #entry(id: string): Entry {
    const entry = this.#entries[Number(id)];
    if (entry === undefined) throw new Error(`unknown template marker ${id}`);
    return entry;
  }

  #line(line: string): string {
    const keyed = /^(\s*)([\w./-]+): xhelm([bs])(\d+)x$/.exec(line);
    if (keyed) {
      const [, indent = "", key = "", kind = "", id = ""] = keyed;
      const { expr, optional } = this.#entry(id);
      if (kind === "s") return `{{- with ${expr} }}\n${indent}${key}: {{ . | quote }}\n{{- end }}`;
      const value = optional ? "." : `(${expr})`;
      const body = `${indent}${key}:\n${indent}  {{- toYaml ${value} | nindent ${indent.length + 2} }}`;
      return optional ? `{{- with ${expr} }}\n${body}\n{{- end }}` : body;
    }
    // A number marker as a whole scalar: printed as is, or quoted where the builder made a string of it.
    const number = NUMBER_MARKER.exec(line);
    if (number) {
      const [whole = "", before = "", open, digits = "", close] = number;
      const { expr } = this.#entry(String(Number(digits) - FIRST_NUMBER));
      if ((open === undefined) !== (close === undefined)) throw new Error(`unbalanced quotes: ${line}`);
      const text = open === undefined ? `{{ ${expr} }}` : `{{ ${expr} | quote }}`;
      return line.slice(0, line.length - whole.length) + before + text;
    }
    // A string marker that is a whole scalar (after `key: ` or `- `) is quoted; inside a longer one, printed as is.
    return line.replace(MARKER, (marker: string, kind: string, id: string, offset: number) => {
      const { expr } = this.#entry(id);
      if (kind !== "v") throw new Error(`block marker ${marker} not alone under a key: ${line}`);
      const whole = offset + marker.length === line.length && /(^\s*|: |^\s*- )$/.test(line.slice(0, offset));
      return whole ? `{{ ${expr} | quote }}` : `{{ ${expr} }}`;
    });
  }
}

/** One template text that renders as `whenTrue` under `condition` and as `whenFalse` otherwise; shared lines once. */
export function ifElse(condition: string, whenTrue: string, whenFalse: string): string {
  if (whenTrue === whenFalse) return whenTrue;
  const out: string[] = [];
  for (const hunk of lineDiff(whenTrue.split("\n"), whenFalse.split("\n"))) {
    if ("same" in hunk) {
      out.push(...hunk.same);
      continue;
    }
    if (hunk.a.length > 0) {
      out.push(`{{- if ${condition} }}`, ...hunk.a);
      if (hunk.b.length > 0) out.push("{{- else }}", ...hunk.b);
    } else out.push(`{{- if not (${condition}) }}`, ...hunk.b);
    out.push("{{- end }}");
  }
  return out.join("\n");
}

/** A choice the chart makes at render time: its condition, and the builder options for either answer. */
export interface Choice<O> {
  readonly condition: string;
  readonly apply: (options: O, on: boolean) => O;
}

/** The template of what `render` makes from `options`, over every combination of `choices`. */
export function variants<O>(options: O, choices: readonly Choice<O>[], render: (options: O) => string): string {
  const [first, ...rest] = choices;
  if (first === undefined) return render(options);
  return ifElse(
    first.condition,
    variants(first.apply(options, true), rest, render),
    variants(first.apply(options, false), rest, render),
  );
}

type Hunk = { same: string[] } | { a: string[]; b: string[] };

/**
 * Lines of `a` and `b` grouped into common runs and differing hunks (longest common subsequence). Written here: the
 * inputs are one object's YAML, a few hundred lines at most, and no dependency is worth it for twenty lines.
 */
export function lineDiff(a: readonly string[], b: readonly string[]): Hunk[] {
  const n = a.length;
  const m = b.length;
  // lcs(i, j): length of the longest common subsequence of a[i..] and b[j..].
  const table = new Int32Array((n + 1) * (m + 1));
  const lcs = (i: number, j: number) => table[i * (m + 1) + j] ?? 0;
  for (let i = n - 1; i >= 0; i--) {
    for (let j = m - 1; j >= 0; j--) {
      table[i * (m + 1) + j] = a[i] === b[j] ? lcs(i + 1, j + 1) + 1 : Math.max(lcs(i + 1, j), lcs(i, j + 1));
    }
  }
  const hunks: Hunk[] = [];
  const differing = (): { a: string[]; b: string[] } => {
    const last = hunks.at(-1);
    if (last && !("same" in last)) return last;
    const hunk = { a: [], b: [] };
    hunks.push(hunk);
    return hunk;
  };
  let i = 0;
  let j = 0;
  while (i < n || j < m) {
    const x = a[i];
    const y = b[j];
    if (x !== undefined && y !== undefined && x === y) {
      const last = hunks.at(-1);
      if (last && "same" in last) last.same.push(x);
      else hunks.push({ same: [x] });
      i++;
      j++;
    } else if (x !== undefined && (y === undefined || lcs(i + 1, j) >= lcs(i, j + 1))) {
      differing().a.push(x);
      i++;
    } else if (y !== undefined) {
      differing().b.push(y);
      j++;
    }
  }
  return hunks;
}
