// brupop's schedule language: the Rust `cron` 0.12 crate's expressions, read in UTC
// (docs/design/brupop-compatibility.md#schedules), and the deprecated UPDATE_WINDOW_START/STOP pair, which brupop turns
// into such an expression.
//
// We parse the expression ourselves into the set of allowed values per field, with cron 0.12's rules, and hand
// croner an equivalent pattern made only of numbers, ranges and lists. Passing the text through would go wrong in
// three places: cron 0.12 numbers days of the week 1=Sun … 7=Sat (croner: 0=Sun), it matches day-of-month AND
// day-of-week (croner: OR by default), and it accepts full names (`Tuesday`, `Thurs`) and `5/10` steps.
//
// Grammar (cron 0.12): six or seven whitespace-separated fields — second minute hour day-of-month month day-of-week
// [year] — or one of @yearly @monthly @weekly @daily @hourly. A field is a comma list of `*`, `N`, `A-B`, `NAME`,
// `NAME-NAME`, or a step `BASE/STEP` where BASE is `*`, `N` (N to the field's maximum) or a range. `?` means `*` in
// day-of-month and day-of-week only. Names: months (jan or january …) and days (sun or sunday, tue or tues, thu or
// thurs …), case-insensitive. Years 1970–2100.
import { Cron } from "croner";

interface FieldDef {
  label: string;
  min: number;
  max: number;
  names?: Readonly<Record<string, number>>;
  allowsAny?: boolean;
  hint?: string;
}

const MONTH_NAMES: Record<string, number> = {};
[
  ["jan", "january"],
  ["feb", "february"],
  ["mar", "march"],
  ["apr", "april"],
  ["may"],
  ["jun", "june"],
  ["jul", "july"],
  ["aug", "august"],
  ["sep", "september"],
  ["oct", "october"],
  ["nov", "november"],
  ["dec", "december"],
].forEach((names, i) => names.forEach((n) => (MONTH_NAMES[n] = i + 1)));

const DAY_NAMES: Record<string, number> = {};
[
  ["sun", "sunday"],
  ["mon", "monday"],
  ["tue", "tues", "tuesday"],
  ["wed", "wednesday"],
  ["thu", "thurs", "thursday"],
  ["fri", "friday"],
  ["sat", "saturday"],
].forEach((names, i) => names.forEach((n) => (DAY_NAMES[n] = i + 1)));

const FIELDS: readonly FieldDef[] = [
  { label: "second", min: 0, max: 59 },
  { label: "minute", min: 0, max: 59 },
  { label: "hour", min: 0, max: 23 },
  { label: "day-of-month", min: 1, max: 31, allowsAny: true },
  { label: "month", min: 1, max: 12, names: MONTH_NAMES },
  {
    label: "day-of-week",
    min: 1,
    max: 7,
    names: DAY_NAMES,
    allowsAny: true,
    hint: "brupop's cron counts days of the week 1=Sun … 7=Sat",
  },
  { label: "year", min: 1970, max: 2100 },
];

// The crate's shorthands, as field lists (second minute hour dom month dow).
const SHORTHANDS: Readonly<Record<string, string>> = {
  "@yearly": "0 0 0 1 1 *",
  "@monthly": "0 0 0 1 * *",
  "@weekly": "0 0 0 * * 1",
  "@daily": "0 0 0 * * *",
  "@hourly": "0 0 * * * *",
};

export class CronExpressionError extends Error {
  override name = "CronExpressionError";
}

export interface BrupopCronFields {
  second: readonly number[];
  minute: readonly number[];
  hour: readonly number[];
  dayOfMonth: readonly number[];
  month: readonly number[];
  /** 1=Sun … 7=Sat, as in the expression. */
  dayOfWeek: readonly number[];
  year: readonly number[];
}

/**
 * A parsed brupop schedule. `kind` is brupop's Windowed/Oneshot distinction: an expression that fires on two
 * consecutive seconds describes a window (`* * 10-12 * * Mon`), any other marks trigger instants (`0 0 10 * * Mon`).
 * brupop decides this from the next two fire times after the controller starts; we decide it from the expression, so
 * every replica and every restart agrees. The two differ only when brupop's start instant falls on a window's last
 * second.
 */
export interface BrupopCron {
  expression: string;
  fields: BrupopCronFields;
  kind: "windowed" | "oneshot";
  /** The equivalent croner pattern (7 parts, standard weekday numbers, day-of-month AND day-of-week). */
  cronerPattern: string;
  /** Paused croner job used only for evaluation. */
  croner: Cron;
}

function fail(expression: string, message: string): never {
  throw new CronExpressionError(`cron expression "${expression}": ${message}`);
}

function parseNumber(text: string, def: FieldDef, fail: (m: string) => never): number {
  if (/^\d+$/.test(text)) {
    const n = Number(text);
    if (n < def.min || n > def.max) {
      fail(
        `${def.label} ${text} is out of range ${def.min}-${def.max}${def.hint === undefined ? "" : ` (${def.hint})`}`,
      );
    }
    return n;
  }
  if (/^[a-z]+$/i.test(text)) {
    if (def.names === undefined) fail(`the ${def.label} field does not accept names ("${text}")`);
    const n = def.names[text.toLowerCase()];
    if (n === undefined) fail(`"${text}" is not a valid ${def.label} name`);
    return n;
  }
  return fail(`"${text}" is not a valid ${def.label} value`);
}

function range(from: number, to: number, step = 1): number[] {
  const values: number[] = [];
  for (let v = from; v <= to; v += step) values.push(v);
  return values;
}

function parseField(text: string, def: FieldDef, expression: string): number[] {
  const bad = (message: string): never => fail(expression, `${def.label} field "${text}": ${message}`);
  const values = new Set<number>();
  for (const item of text.split(",")) {
    if (item === "") bad("empty list item");
    const [base = "", step, ...extra] = item.split("/");
    if (extra.length > 0) bad(`"${item}" has more than one "/"`);
    const isAll = base === "*" || (base === "?" && def.allowsAny === true);
    if (base === "?" && def.allowsAny !== true) bad(`"?" is only allowed in day-of-month and day-of-week`);
    let from: number;
    let to: number;
    if (isAll) {
      from = def.min;
      to = def.max;
    } else if (base.includes("-")) {
      const [a = "", b = "", ...more] = base.split("-");
      if (more.length > 0 || a === "" || b === "") bad(`"${base}" is not a range`);
      if (/^\d+$/.test(a) !== /^\d+$/.test(b)) bad(`"${base}" mixes a number and a name`);
      from = parseNumber(a, def, bad);
      to = parseNumber(b, def, bad);
      if (from > to) bad(`range ${base} runs backwards`);
    } else {
      from = parseNumber(base, def, bad);
      to = from;
      if (step !== undefined) {
        // `N/step` means N to the maximum, stepping; a name cannot start a step (cron 0.12).
        if (!/^\d+$/.test(base)) bad(`a step cannot start at a name ("${item}")`);
        to = def.max;
      }
    }
    let stride = 1;
    if (step !== undefined) {
      if (!/^\d+$/.test(step) || Number(step) < 1) bad(`step "${step}" must be a positive whole number`);
      stride = Number(step);
    }
    for (const v of range(from, to, stride)) values.add(v);
  }
  return [...values].sort((a, b) => a - b);
}

/** `[0,1,2,5,7,8]` → `0-2,5,7-8`; the full range of the field → `*`. */
function compress(values: readonly number[], def: FieldDef): string {
  if (values.length === def.max - def.min + 1) return "*";
  const parts: string[] = [];
  let i = 0;
  while (i < values.length) {
    let j = i;
    while (j + 1 < values.length && values[j + 1] === (values[j] ?? 0) + 1) j++;
    parts.push(i === j ? `${values[i]}` : `${values[i]}-${values[j]}`);
    i = j + 1;
  }
  return parts.join(",");
}

/**
 * Parsed expressions, by text: the policy is resolved on every reconcile, and parsing (and building croner's
 * schedule) was a tenth of the controller's CPU in a 1,000-node rollout. A fleet has one or two expressions.
 */
const parsed = new Map<string, BrupopCron>();
const PARSED_KEPT = 16;

/** Parses a brupop `SCHEDULER_CRON_EXPRESSION`; throws CronExpressionError saying what is wrong. */
export function parseBrupopCron(expression: string): BrupopCron {
  const known = parsed.get(expression);
  if (known !== undefined) return known;
  const cron = parse(expression);
  if (parsed.size >= PARSED_KEPT) parsed.clear();
  parsed.set(expression, cron);
  return cron;
}

function parse(expression: string): BrupopCron {
  const trimmed = expression.trim();
  if (trimmed === "") fail(expression, "is empty");
  const text = trimmed.startsWith("@") ? SHORTHANDS[trimmed] : trimmed;
  if (text === undefined) fail(expression, `unknown shorthand; use one of ${Object.keys(SHORTHANDS).join(", ")}`);
  const parts = text.split(/\s+/);
  if (parts.length !== 6 && parts.length !== 7) {
    fail(
      expression,
      `has ${parts.length} fields; brupop expressions have 6 or 7 (second minute hour day-of-month month day-of-week [year])`,
    );
  }
  const [second, minute, hour, dayOfMonth, month, dayOfWeek, year] = FIELDS.map((def, i) =>
    parseField(parts[i] ?? "*", def, expression),
  ) as [number[], number[], number[], number[], number[], number[], number[]];
  const fields: BrupopCronFields = { second, minute, hour, dayOfMonth, month, dayOfWeek, year };

  const defs = FIELDS as readonly [FieldDef, FieldDef, FieldDef, FieldDef, FieldDef, FieldDef, FieldDef];
  const cronerPattern = [
    compress(second, defs[0]),
    compress(minute, defs[1]),
    compress(hour, defs[2]),
    compress(dayOfMonth, defs[3]),
    compress(month, defs[4]),
    // croner's standard numbering is 0=Sun … 6=Sat.
    compress(
      dayOfWeek.map((d) => d - 1),
      { ...defs[5], min: 0, max: 6 },
    ),
    // Always explicit: outside 1970–2100 the crate never fires, croner would.
    compress(year, { ...defs[6], max: Number.POSITIVE_INFINITY }),
  ].join(" ");
  // A UTC offset of 0, not the time zone "UTC": the same instants, without the ICU time-zone data a time zone loads
  // (6.5 MiB of the controller's RSS; docs/design/footprint.md).
  const croner = new Cron(cronerPattern, { paused: true, utcOffset: 0, mode: "7-part", domAndDow: true });
  const windowed = second.some((s) => second.includes(s + 1));
  return { expression, fields, kind: windowed ? "windowed" : "oneshot", cronerPattern, croner };
}

function wholeSecond(at: Date): Date {
  return new Date(Math.floor(at.getTime() / 1000) * 1000);
}

/** Whether the second containing `at` is in the schedule (brupop's `Schedule::includes`). */
export function cronIncludes(cron: BrupopCron, at: Date): boolean {
  return cron.croner.match(wholeSecond(at));
}

/** The first fire time strictly after `at` (brupop's `schedule.after(&at).next()`), or null if there is none. */
export function nextFire(cron: BrupopCron, at: Date): Date | null {
  return cron.croner.nextRun(at);
}

/** The latest fire time at or before `at`, or null if there is none. */
export function lastFireAtOrBefore(cron: BrupopCron, at: Date): Date | null {
  return cron.croner.previousRuns(1, new Date(at.getTime() + 1))[0] ?? null;
}

// brupop's validation regex for UPDATE_WINDOW_START/STOP (HH:MM:SS, loosely).
const LEGACY_TIME = /^(2[0-3]|[01]?[0-9]):([0-5]?[0-9]):([0-5]?[0-9])$/;

/**
 * brupop's conversion of the deprecated window to a cron expression: only the hours count, and the stop hour is
 * included in full (README says exclusive; the code, which we follow, does not). Start after stop wraps midnight.
 */
export function legacyWindowExpression(start: string, stop: string): string {
  const startMatch = LEGACY_TIME.exec(start);
  const stopMatch = LEGACY_TIME.exec(stop);
  if (startMatch === null || stopMatch === null) {
    const which = startMatch === null ? `UPDATE_WINDOW_START "${start}"` : `UPDATE_WINDOW_STOP "${stop}"`;
    throw new CronExpressionError(`${which} is not a time of day like 09:00:00`);
  }
  const from = Number(startMatch[1]);
  const to = Number(stopMatch[1]);
  return from <= to ? `* * ${from}-${to} * * * *` : `* * ${from}-23,0-${to} * * * *`;
}
