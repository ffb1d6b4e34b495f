// JSON-lines logging for the agent: one object per line on stdout, like pino's format, without loading pino.
export type LogLevel = "debug" | "info" | "warn" | "error";
export type LogFields = Record<string, unknown>;

export interface Logger {
  debug(msg: string, fields?: LogFields): void;
  info(msg: string, fields?: LogFields): void;
  warn(msg: string, fields?: LogFields): void;
  error(msg: string, fields?: LogFields): void;
}

const RANK: Record<LogLevel, number> = { debug: 20, info: 30, warn: 40, error: 50 };

export function parseLogLevel(text: string | undefined): LogLevel {
  const level = (text ?? "info").trim().toLowerCase();
  if (level in RANK) return level as LogLevel;
  throw new Error(`LOG_LEVEL must be one of ${Object.keys(RANK).join(", ")}, got ${JSON.stringify(text)}`);
}

export function jsonLogger(
  base: LogFields,
  minimum: LogLevel = "info",
  write: (line: string) => void = (line) => process.stdout.write(line),
): Logger {
  const emit =
    (level: LogLevel) =>
    (msg: string, fields: LogFields = {}): void => {
      if (RANK[level] < RANK[minimum]) return;
      write(`${JSON.stringify({ level: RANK[level], time: Date.now(), ...base, ...fields, msg })}\n`);
    };
  return { debug: emit("debug"), info: emit("info"), warn: emit("warn"), error: emit("error") };
}

export const silentLogger: Logger = { debug() {}, info() {}, warn() {}, error() {} };
