import { describe, expect, it } from "vitest";
import { enabled, levelFromTracingFilter, parseLogSettings } from "./settings.ts";

describe("parseLogSettings", () => {
  it("defaults to JSON lines at info, without colours", () => {
    expect(parseLogSettings({}, "agent")).toEqual({
      ok: true,
      settings: { level: "info", formatter: "json", ansi: false },
    });
  });

  it("reads brupop's variables as its chart sets them", () => {
    const env = { LOGGING_FORMATTER: "pretty", LOGGING_ANSI_ENABLED: "true", TRACING_FILTER_DIRECTIVE: "info" };
    expect(parseLogSettings(env, "controller")).toEqual({
      ok: true,
      settings: { level: "info", formatter: "pretty", ansi: true },
    });
  });

  it("lets LOG_LEVEL win over brupop's directive", () => {
    const result = parseLogSettings({ TRACING_FILTER_DIRECTIVE: "debug", LOG_LEVEL: "warn" }, "controller");
    expect(result.ok && result.settings.level).toBe("warn");
  });

  it("refuses a formatter, colour switch or level it does not know, naming each", () => {
    expect(
      parseLogSettings({ LOGGING_FORMATTER: "Loud", LOGGING_ANSI_ENABLED: "yes", LOG_LEVEL: "chatty" }, "agent"),
    ).toEqual({
      ok: false,
      errors: [
        'LOGGING_FORMATTER must be one of json, full, compact, pretty (got "Loud")',
        'LOGGING_ANSI_ENABLED must be true or false (got "yes")',
        'LOG_LEVEL must be one of trace, debug, info, warn, error, fatal, silent (got "chatty")',
      ],
    });
  });
});

describe("levelFromTracingFilter", () => {
  it.each<[string, string | undefined, string | undefined]>([
    ["info", "agent", "info"],
    ["DEBUG", "agent", "debug"],
    ["off", "agent", "silent"],
    ["warn,agent=debug", "agent", "debug"],
    ["warn,agent=debug", "apiserver", "warn"],
    ["agent::drain=trace,error", "agent", "trace"],
    ["apiserver[request{node=a}]=debug", "apiserver", "debug"],
    ["controller=debug", "agent", undefined],
    ["loud,models=debug", "controller", undefined],
  ])("%s for the %s is %s", (directive, component, level) => {
    expect(levelFromTracingFilter(directive, component as "agent")).toBe(level);
  });
});

describe("enabled", () => {
  it("writes records at or above the minimum, none when silent", () => {
    expect(enabled("info", "info")).toBe(true);
    expect(enabled("debug", "info")).toBe(false);
    expect(enabled("fatal", "silent")).toBe(false);
    expect(enabled("debug", "trace")).toBe(true);
  });
});
