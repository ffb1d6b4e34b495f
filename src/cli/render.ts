// Terminal output helpers: colours only on a TTY (and never with NO_COLOR or TERM=dumb), kubectl-style borderless
// tables, and times written both absolutely and relative to now ("2025-06-01T10:00:00Z (in 3h12m)").
import Table from "cli-table3";
import { formatDuration } from "../core/duration.ts";

export interface Style {
  readonly enabled: boolean;
  bold: (text: string) => string;
  dim: (text: string) => string;
  red: (text: string) => string;
  yellow: (text: string) => string;
  green: (text: string) => string;
  cyan: (text: string) => string;
}

const wrap = (enabled: boolean, open: number, close: number) => (text: string) =>
  enabled && text !== "" ? `\u001b[${open}m${text}\u001b[${close}m` : text;

export function makeStyle(enabled: boolean): Style {
  return {
    enabled,
    bold: wrap(enabled, 1, 22),
    dim: wrap(enabled, 2, 22),
    red: wrap(enabled, 31, 39),
    yellow: wrap(enabled, 33, 39),
    green: wrap(enabled, 32, 39),
    cyan: wrap(enabled, 36, 39),
  };
}

/** https://no-color.org: colours only for a terminal, and never when NO_COLOR is set (to anything) or TERM=dumb. */
export function colourWanted(
  stream: { isTTY?: boolean },
  env: Readonly<Record<string, string | undefined>> = process.env,
): boolean {
  return stream.isTTY === true && (env.NO_COLOR ?? "") === "" && env.TERM !== "dumb";
}

export const plain: Style = makeStyle(false);

const NO_BORDERS = {
  top: "",
  "top-mid": "",
  "top-left": "",
  "top-right": "",
  bottom: "",
  "bottom-mid": "",
  "bottom-left": "",
  "bottom-right": "",
  left: "",
  "left-mid": "",
  mid: "",
  "mid-mid": "",
  right: "",
  "right-mid": "",
  middle: "   ",
};

/** A kubectl-like table: upper-case headers, no borders, three spaces between columns. */
export function table(head: readonly string[], rows: readonly (readonly string[])[]): string {
  const t = new Table({
    head: head.map((h) => h.toUpperCase()),
    chars: NO_BORDERS,
    style: { head: [], border: [], "padding-left": 0, "padding-right": 0 },
  });
  for (const row of rows) t.push([...row]);
  return t
    .toString()
    .split("\n")
    .map((line) => line.trimEnd())
    .join("\n");
}

/** "in 3h12m", "5m ago", "now": minutes are enough for a person; seconds only below a minute. */
export function relative(at: Date, now: Date): string {
  const seconds = Math.round((at.getTime() - now.getTime()) / 1000);
  if (Math.abs(seconds) < 1) return "now";
  const span =
    Math.abs(seconds) >= 60 ? formatDuration(Math.floor(Math.abs(seconds) / 60) * 60) : `${Math.abs(seconds)}s`;
  return seconds > 0 ? `in ${span}` : `${span} ago`;
}

/** `2025-06-01T10:00:00Z (in 3h12m)`, UTC to the second. */
export function when(at: Date, now: Date): string {
  return `${at.toISOString().replace(/\.\d{3}Z$/, "Z")} (${relative(at, now)})`;
}
