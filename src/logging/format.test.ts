import { describe, expect, it } from "vitest";
import { formatRecord, formattedDestination } from "./format.ts";

const time = Date.parse("2025-01-02T03:04:05.678Z");
const record = { level: 30, time, component: "agent", msg: "update prepared", node: "ip-1", version: "1.26.0" };

describe("formatRecord", () => {
  it("writes JSON lines unchanged in form", () => {
    expect(JSON.parse(formatRecord(record, "json", false))).toEqual(record);
  });

  it("writes brupop's human-readable formats", () => {
    expect(formatRecord(record, "full", false)).toBe(
      "2025-01-02T03:04:05.678Z  INFO agent: update prepared node=ip-1 version=1.26.0\n",
    );
    expect(formatRecord(record, "compact", false)).toBe("03:04:05.678 INFO update prepared node=ip-1 version=1.26.0\n");
    expect(formatRecord(record, "pretty", false)).toBe(
      "2025-01-02T03:04:05.678Z  INFO agent: update prepared\n    node: ip-1\n    version: 1.26.0\n",
    );
  });

  it("colours the level only when ANSI is on, and quotes values with spaces", () => {
    const line = formatRecord({ ...record, level: 50, reason: "no space left" }, "full", true);
    expect(line).toContain("\u001b[31mERROR\u001b[0m");
    expect(line).toContain('reason="no space left"');
    expect(formatRecord(record, "full", false)).not.toContain("\u001b[");
  });

  it("prints an error's message on the line and its stack below (pretty)", () => {
    const err = { type: "Error", message: "boom", stack: "Error: boom\n    at x" };
    const text = formatRecord({ ...record, err }, "pretty", false);
    expect(text).toContain('err: "boom"');
    expect(text).toContain("    Error: boom\n        at x\n");
  });
});

describe("formattedDestination", () => {
  it("re-renders pino's JSON lines, and passes on what is not a record", () => {
    const out: string[] = [];
    const dest = formattedDestination("compact", false, (t) => out.push(t));
    dest.write(`${JSON.stringify(record)}\n`);
    dest.write("not json\n");
    expect(out).toEqual(["03:04:05.678 INFO update prepared node=ip-1 version=1.26.0\n", "not json\n"]);
  });
});
