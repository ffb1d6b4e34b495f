// Renders one log record (pino's JSON shape: level as a number, time in ms, msg, and any other fields) in brupop's
// formats. "json" is the record itself, one per line. The human-readable ones, after tracing-subscriber's:
//   full     2025-01-02T03:04:05.678Z  INFO agent: update prepared node=ip-10-0-1-2 version=1.26.0
//   compact  03:04:05.678 INFO update prepared node=ip-10-0-1-2 version=1.26.0
//   pretty   2025-01-02T03:04:05.678Z  INFO agent: update prepared
//              node: ip-10-0-1-2
//              version: 1.26.0
// with the level (and, in "pretty", the field names) coloured when ANSI is on.
import type { LogFormatter } from "./settings.ts";

export type LogRecord = Readonly<Record<string, unknown>>;

const NAMES: Readonly<Record<number, string>> = {
  10: "TRACE",
  20: "DEBUG",
  30: "INFO",
  40: "WARN",
  50: "ERROR",
  60: "FATAL",
};
const COLOURS: Readonly<Record<number, string>> = { 10: "35", 20: "34", 30: "32", 40: "33", 50: "31", 60: "1;31" };
/** Fields every line already shows in its own place, or that say nothing to a reader. */
const SHOWN = new Set(["level", "time", "msg", "component", "name", "pid", "hostname", "v"]);

const paint = (ansi: boolean, code: string, text: string) => (ansi ? `\u001b[${code}m${text}\u001b[0m` : text);

function fieldText(v: unknown): string {
  if (typeof v === "string") return /^[^\s"=]+$/.test(v) ? v : JSON.stringify(v);
  if (v !== null && typeof v === "object" && "message" in v && typeof v.message === "string") {
    return JSON.stringify(v.message); // an error serialized by pino: its message on the line, its stack below
  }
  return JSON.stringify(v);
}

export function formatRecord(record: LogRecord, formatter: LogFormatter, ansi: boolean): string {
  if (formatter === "json") return `${JSON.stringify(record)}\n`;
  const level = typeof record.level === "number" ? record.level : 30;
  const levelName = paint(ansi, COLOURS[level] ?? "0", (NAMES[level] ?? String(level)).padStart(5));
  const time = new Date(typeof record.time === "number" ? record.time : Date.now()).toISOString();
  const source = record.component ?? record.name;
  const target = typeof source === "string" ? `${paint(ansi, "2", source)}: ` : "";
  const msg = typeof record.msg === "string" ? record.msg : "";
  const fields = Object.entries(record).filter(([k, v]) => !SHOWN.has(k) && v !== undefined);
  const stack = fields.flatMap(([, v]) =>
    v !== null && typeof v === "object" && "stack" in v && typeof v.stack === "string" ? [v.stack] : [],
  );
  switch (formatter) {
    case "compact": {
      const kv = fields.map(([k, v]) => ` ${k}=${fieldText(v)}`).join("");
      return `${paint(ansi, "2", time.slice(11, 23))} ${levelName.trimStart()} ${msg}${kv}\n`;
    }
    case "full": {
      const kv = fields.map(([k, v]) => ` ${k}=${fieldText(v)}`).join("");
      return `${paint(ansi, "2", time)} ${levelName} ${target}${msg}${kv}\n`;
    }
    case "pretty": {
      const lines = fields.map(([k, v]) => `    ${paint(ansi, "3", k)}: ${fieldText(v)}`);
      const stacks = stack.flatMap((s) => s.split("\n").map((l) => `    ${l}`));
      return [`${paint(ansi, "2", time)} ${levelName} ${target}${msg}`, ...lines, ...stacks].join("\n") + "\n";
    }
  }
}

/**
 * A pino destination (anything with `write(line)`) that re-renders pino's JSON lines in `formatter`; for "json" the
 * lines pass through untouched.
 */
export function formattedDestination(
  formatter: LogFormatter,
  ansi: boolean,
  out: (text: string) => void = (text) => process.stdout.write(text),
): { write(line: string): void } {
  if (formatter === "json") return { write: out };
  return {
    write(line: string) {
      let record: LogRecord;
      try {
        record = JSON.parse(line) as LogRecord;
      } catch {
        out(line); // not a record: pass it on as it is
        return;
      }
      out(formatRecord(record, formatter, ansi));
    },
  };
}
