// How a component logs, from the environment: brupop's variables, which a brupop manifest or values file sets for
// all three components, and LOG_LEVEL (ours), which wins when set.
//   LOGGING_FORMATTER         json | full | compact | pretty; anything else is a startup error (as in brupop)
//   LOGGING_ANSI_ENABLED      true | false (any case); colours in the human-readable formats
//   TRACING_FILTER_DIRECTIVE  brupop's tracing-subscriber filter: a level ("debug"), or directives such as
//                             "warn,agent=debug". We keep the level that applies to this component: its own
//                             directive ("agent=..."), else the bare one; directives we cannot read are skipped, as
//                             brupop's lossy parse skips them.
//   LOG_LEVEL                 trace | debug | info | warn | error | fatal | silent
// Pure: no I/O, so every component (the agent included) can use it.

export type LogLevel = "trace" | "debug" | "info" | "warn" | "error" | "fatal" | "silent";
export type LogFormatter = "json" | "full" | "compact" | "pretty";
export type LoggingComponent = "agent" | "apiserver" | "controller";

export interface LogSettings {
  readonly level: LogLevel;
  readonly formatter: LogFormatter;
  readonly ansi: boolean;
}

export type LogSettingsResult = { ok: true; settings: LogSettings } | { ok: false; errors: string[] };

export const LOG_LEVELS: readonly LogLevel[] = ["trace", "debug", "info", "warn", "error", "fatal", "silent"];
export const LOG_FORMATTERS: readonly LogFormatter[] = ["json", "full", "compact", "pretty"];

/** pino's numbers for the levels, which the JSON format writes. */
export const LEVEL_VALUE: Readonly<Record<Exclude<LogLevel, "silent">, number>> = {
  trace: 10,
  debug: 20,
  info: 30,
  warn: 40,
  error: 50,
  fatal: 60,
};

/** tracing's level names (and "off"), as a TRACING_FILTER_DIRECTIVE writes them. */
const TRACING_LEVELS: Readonly<Record<string, LogLevel>> = {
  trace: "trace",
  debug: "debug",
  info: "info",
  warn: "warn",
  error: "error",
  off: "silent",
};

type Env = Readonly<Record<string, string | undefined>>;

const value = (env: Env, name: string): string | undefined => {
  const text = env[name]?.trim();
  return text === undefined || text === "" ? undefined : text;
};

/** The level a tracing-subscriber filter gives `component`, or undefined when it names none we can read. */
export function levelFromTracingFilter(directive: string, component: LoggingComponent): LogLevel | undefined {
  let bare: LogLevel | undefined;
  let own: LogLevel | undefined;
  for (const part of directive.split(",")) {
    const text = part.trim().toLowerCase();
    const eq = text.lastIndexOf("=");
    if (eq === -1) {
      bare = TRACING_LEVELS[text] ?? bare;
      continue;
    }
    const level = TRACING_LEVELS[text.slice(eq + 1)];
    // A target, optionally with a span filter: "agent", "agent::drain", "apiserver[request{node=a}]".
    const target = text.slice(0, eq).replace(/\[.*$/, "");
    if (level !== undefined && (target === component || target.startsWith(`${component}::`))) own = level;
  }
  return own ?? bare;
}

export function parseLogSettings(env: Env, component: LoggingComponent): LogSettingsResult {
  const errors: string[] = [];
  const formatterText = value(env, "LOGGING_FORMATTER")?.toLowerCase() ?? "json";
  const formatter = LOG_FORMATTERS.find((f) => f === formatterText);
  if (formatter === undefined) {
    errors.push(
      `LOGGING_FORMATTER must be one of ${LOG_FORMATTERS.join(", ")} (got ${JSON.stringify(env.LOGGING_FORMATTER)})`,
    );
  }
  const ansiText = value(env, "LOGGING_ANSI_ENABLED")?.toLowerCase() ?? "false";
  if (ansiText !== "true" && ansiText !== "false") {
    errors.push(`LOGGING_ANSI_ENABLED must be true or false (got ${JSON.stringify(env.LOGGING_ANSI_ENABLED)})`);
  }
  let level: LogLevel = "info";
  const explicit = value(env, "LOG_LEVEL")?.toLowerCase();
  if (explicit !== undefined) {
    const found = LOG_LEVELS.find((l) => l === explicit);
    if (found === undefined) {
      errors.push(`LOG_LEVEL must be one of ${LOG_LEVELS.join(", ")} (got ${JSON.stringify(env.LOG_LEVEL)})`);
    } else level = found;
  } else {
    const directive = value(env, "TRACING_FILTER_DIRECTIVE");
    if (directive !== undefined) level = levelFromTracingFilter(directive, component) ?? level;
  }
  if (errors.length > 0 || formatter === undefined) return { ok: false, errors };
  return { ok: true, settings: { level, formatter, ansi: ansiText === "true" } };
}

/** Whether a record of `level` is written under `minimum`. */
export function enabled(level: Exclude<LogLevel, "silent">, minimum: LogLevel): boolean {
  return minimum !== "silent" && LEVEL_VALUE[level] >= LEVEL_VALUE[minimum];
}
