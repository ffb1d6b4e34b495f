// The agent's logger: one record per line on stdout, in brupop's formats (JSON lines by default, like pino's),
// without loading pino. Settings come from the environment (src/logging).
import { formatRecord } from "../logging/format.ts";
import { LEVEL_VALUE, enabled, type LogSettings } from "../logging/settings.ts";

export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const DEFAULT_SETTINGS: LogSettings = { level: "info", formatter: "json", ansi: false };

export function agentLogger(
  base: LogFields,
  settings: LogSettings = DEFAULT_SETTINGS,
  write: (line: string) => void = (line) => process.stdout.write(line),
): Logger {
  const emit =
    (level: "debug" | "info" | "warn" | "error") =>
    (msg: string, fields: LogFields = {}): void => {
      if (!enabled(level, settings.level)) return;
      const record = { level: LEVEL_VALUE[level], time: Date.now(), ...base, ...fields, msg };
      write(formatRecord(record, settings.formatter, settings.ansi));
    };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
