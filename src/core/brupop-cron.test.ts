import { describe, expect, it } from "vitest";
import {
  CronExpressionError,
  cronIncludes,
  lastFireAtOrBefore,
  legacyWindowExpression,
  nextFire,
  parseBrupopCron,
} from "./brupop-cron.ts";
import { prng } from "../../test/support/core-fixtures.ts";

const utc = (text: string) => new Date(`${text}Z`);

describe("parseBrupopCron: fields as cron 0.12 reads them", () => {
  it.each([
    ["* * 10-12 * * Mon", { hour: [10, 11, 12], dayOfWeek: [2] }, "* * 10-12 * * 1 1970-2100"],
    ["0 0 0 * Jan-Mar Tuesday,Thurs", { month: [1, 2, 3], dayOfWeek: [3, 5] }, "0 0 0 * 1-3 2,4 1970-2100"],
    ["*/15 * * * * *", { second: [0, 15, 30, 45] }, "0,15,30,45 * * * * * 1970-2100"],
    ["5/20 * * * * *", { second: [5, 25, 45] }, "5,25,45 * * * * * 1970-2100"],
    ["10-20/5 * * ? * ?", { second: [10, 15, 20], dayOfMonth: range(1, 31) }, "10,15,20 * * * * * 1970-2100"],
    ["0 0 0 * * SUN,sat 2030", { dayOfWeek: [1, 7], year: [2030] }, "0 0 0 * * 0,6 2030"],
    ["0 0 0 1,15 * *", { dayOfMonth: [1, 15] }, "0 0 0 1,15 * * 1970-2100"],
    ["0 0 12 * * Mon-Thurs/2", { dayOfWeek: [2, 4] }, "0 0 12 * * 1,3 1970-2100"],
  ])("%j", (expression, fields, cronerPattern) => {
    const cron = parseBrupopCron(expression);
    expect(cron.fields).toMatchObject(fields);
    expect(cron.cronerPattern).toBe(cronerPattern);
  });

  it.each([
    ["@yearly", "0 0 0 1 1 * 1970-2100"],
    ["@monthly", "0 0 0 1 * * 1970-2100"],
    ["@weekly", "0 0 0 * * 0 1970-2100"],
    ["@daily", "0 0 0 * * * 1970-2100"],
    ["@hourly", "0 0 * * * * 1970-2100"],
  ])("shorthand %s", (expression, pattern) => expect(parseBrupopCron(expression).cronerPattern).toBe(pattern));

  it.each([
    ["* * * * *", /has 5 fields; brupop expressions have 6 or 7/],
    ["* * * * * * * *", /has 8 fields/],
    ["", /is empty/],
    ["0 0 12 * * 0", /day-of-week 0 is out of range 1-7 \(brupop's cron counts days of the week 1=Sun … 7=Sat\)/],
    ["0 0 12 * * 8", /day-of-week 8 is out of range/],
    ["60 * * * * *", /second 60 is out of range 0-59/],
    ["? * * * * *", /"\?" is only allowed in day-of-month and day-of-week/],
    ["0 0 12 * * Wed/2", /a step cannot start at a name/],
    ["0 0 12 * * 3-THURS", /mixes a number and a name/],
    ["0 0 12-10 * * *", /range 12-10 runs backwards/],
    ["*/0 * * * * *", /step "0" must be a positive whole number/],
    ["0 0 noon * * *", /the hour field does not accept names/],
    ["0 0 0 * Smarch *", /"Smarch" is not a valid month name/],
    ["0,,5 * * * * *", /empty list item/],
    ["0 0 0 * * * 1969", /year 1969 is out of range 1970-2100/],
    ["@reboot", /unknown shorthand/],
    ["0 0 0 * * 1-", /"1-" is not a range/],
    ["1/2/3 * * * * *", /more than one "\/"/],
    ["0 0 0 * * L", /"L" is not a valid day-of-week name/],
  ])("rejects %j: %s", (expression, message) => {
    expect(() => parseBrupopCron(expression)).toThrow(CronExpressionError);
    expect(() => parseBrupopCron(expression)).toThrow(message);
  });
});

describe("evaluation in UTC", () => {
  it("day-of-week 1 is Sunday, 7 is Saturday (not croner's 0=Sunday)", () => {
    const sunday = parseBrupopCron("0 0 12 * * 1");
    expect(nextFire(sunday, utc("2024-06-03T00:00:00"))).toEqual(utc("2024-06-09T12:00:00")); // a Sunday
    const saturday = parseBrupopCron("0 0 12 * * 7");
    expect(nextFire(saturday, utc("2024-06-03T00:00:00"))).toEqual(utc("2024-06-08T12:00:00"));
  });

  it("day-of-month AND day-of-week must both match (croner alone would OR them)", () => {
    const firstMonday = parseBrupopCron("0 0 0 1 * Mon");
    expect(nextFire(firstMonday, utc("2024-01-02T00:00:00"))).toEqual(utc("2024-04-01T00:00:00"));
  });

  it("year limits apply", () => {
    expect(nextFire(parseBrupopCron("* * * * * * 2020"), utc("2024-01-01T00:00:00"))).toBeNull();
  });

  it("includes() looks at the whole second", () => {
    const cron = parseBrupopCron("0 0 10 * * *");
    expect(cronIncludes(cron, new Date("2024-06-03T10:00:00.999Z"))).toBe(true);
    expect(cronIncludes(cron, new Date("2024-06-03T10:00:01.000Z"))).toBe(false);
  });

  it("lastFireAtOrBefore includes the instant itself", () => {
    const cron = parseBrupopCron("0 0 10 * * *");
    expect(lastFireAtOrBefore(cron, utc("2024-06-03T10:00:00"))).toEqual(utc("2024-06-03T10:00:00"));
    expect(lastFireAtOrBefore(cron, utc("2024-06-03T09:59:59"))).toEqual(utc("2024-06-02T10:00:00"));
  });

  // brupop's own scheduler tests (controller/src/scheduler.rs).
  it.each([
    ["* * * * * * *", "2099-01-01T02:00:00", 1],
    ["10 10 10 * * * *", "2099-01-01T02:00:00", 24 * 3600],
    ["10 10 10 * * Mon *", "2099-01-01T02:00:00", 7 * 86400],
  ])("brupop test_duration_between_next_two_points %j", (expression, from, seconds) => {
    const cron = parseBrupopCron(expression);
    const first = nextFire(cron, utc(from));
    const second = first && nextFire(cron, first);
    expect(first && second && (second.getTime() - first.getTime()) / 1000).toBe(seconds);
  });

  it.each([
    ["* * 4 1 12 * 2099", "2099-12-01T02:00:00", 2 * 3600],
    ["* * * 31 12 * 2099", "2099-12-01T00:00:00", 30 * 86400],
    ["1 * * 1 12 * 2099", "2099-12-01T00:00:00", 1],
  ])("brupop test_duration_to_next %j", (expression, now, seconds) => {
    const next = nextFire(parseBrupopCron(expression), utc(now));
    expect(next && (next.getTime() - utc(now).getTime()) / 1000).toBe(seconds);
  });
});

describe("windowed or one-shot (brupop-compatibility.md#schedules)", () => {
  it.each([
    ["* * * * * * *", "windowed"],
    ["* * 10-12 * * Mon", "windowed"],
    ["0-30 * 2 * * *", "windowed"],
    ["0 0 10 * * Mon", "oneshot"],
    ["10 10 10 * * * *", "oneshot"],
    // Documented brupop quirk (docs/design/brupop-compatibility.md#schedules), kept: every minute at second 0 is a
    // trigger, not a window.
    ["0 * 9-17 * * *", "oneshot"],
    ["*/2 * * * * *", "oneshot"],
    ["0,30 * * * * *", "oneshot"],
  ])("%j is %s", (expression, kind) => expect(parseBrupopCron(expression).kind).toBe(kind));

  it("agrees with brupop's rule (next two fire times 1 s apart) away from a window's last second", () => {
    const random = prng(42);
    const expressions = ["* * * * * * *", "* * 10-12 * * Mon", "0 0 10 * * Mon", "0 * 9-17 * * *", "0-30 * 2 * * *"];
    for (const expression of expressions) {
      const cron = parseBrupopCron(expression);
      for (let i = 0; i < 50; i++) {
        const now = new Date(Date.UTC(2024, 0, 1) + Math.floor(random() * 365 * 86400) * 1000 + 250);
        const first = nextFire(cron, now);
        const second = first && nextFire(cron, first);
        if (first === null || second === null) throw new Error("no fire time");
        // brupop's answer differs only when the first fire time is the last second of a window.
        if (cron.kind === "windowed" && !cronIncludes(cron, new Date(first.getTime() + 1000))) continue;
        const brupop = second.getTime() - first.getTime() === 1000 ? "windowed" : "oneshot";
        expect(cron.kind, `${expression} at ${now.toISOString()}`).toBe(brupop);
      }
    }
  });
});

describe("legacy UPDATE_WINDOW_START/STOP", () => {
  // brupop's test_cron_expression_converter and test_from_environment cases.
  it.each([
    ["0:0:0", "5:0:0", "* * 0-5 * * * *"],
    ["21:0:0", "8:30:0", "* * 21-23,0-8 * * * *"],
    ["15:0:0", "3:30:34", "* * 15-23,0-3 * * * *"],
    ["09:00:00", "21:00:00", "* * 9-21 * * * *"],
    ["7:00:00", "7:00:00", "* * 7-7 * * * *"],
  ])("%s to %s → %j", (start, stop, expression) => expect(legacyWindowExpression(start, stop)).toBe(expression));

  it("only the hour counts and the stop hour is included in full", () => {
    const cron = parseBrupopCron(legacyWindowExpression("09:45:00", "17:15:00"));
    expect(cronIncludes(cron, utc("2024-06-03T09:00:00"))).toBe(true);
    expect(cronIncludes(cron, utc("2024-06-03T17:59:59"))).toBe(true);
    expect(cronIncludes(cron, utc("2024-06-03T18:00:00"))).toBe(false);
    expect(cronIncludes(cron, utc("2024-06-03T08:59:59"))).toBe(false);
  });

  it("wraps midnight when start is after stop", () => {
    const cron = parseBrupopCron(legacyWindowExpression("22:00:00", "02:00:00"));
    expect(
      ["21:59:59", "22:00:00", "23:59:59", "00:00:00", "02:59:59", "03:00:00"].map((t) =>
        cronIncludes(cron, utc(`2024-06-03T${t}`)),
      ),
    ).toEqual([false, true, true, true, true, false]);
  });

  it.each([
    ["24:00:00", "05:00:00", /UPDATE_WINDOW_START "24:00:00" is not a time of day/],
    ["09:00", "17:00:00", /UPDATE_WINDOW_START "09:00"/],
    ["09:00:00", "17:60:00", /UPDATE_WINDOW_STOP "17:60:00"/],
  ])("rejects %s / %s", (start, stop, message) => {
    expect(() => legacyWindowExpression(start, stop)).toThrow(message);
  });
});

function range(from: number, to: number): number[] {
  return Array.from({ length: to - from + 1 }, (_, i) => from + i);
}
