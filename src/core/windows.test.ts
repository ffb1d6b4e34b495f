import { describe, expect, it } from "vitest";
import { parseBrupopCron } from "./brupop-cron.ts";
import { T0, after } from "../../test/support/core-fixtures.ts";
import {
  WindowError,
  evaluateSchedule,
  parseUpdateWindow,
  windowAt,
  type UpdateSchedule,
  type UpdateWindowSpec,
} from "./windows.ts";

const utc = (text: string) => new Date(`${text}Z`);
const cron = (expression: string): UpdateSchedule => ({
  kind: "cron",
  cron: parseBrupopCron(expression),
  source: "env:SCHEDULER_CRON_EXPRESSION",
});
const windows = (...specs: UpdateWindowSpec[]): UpdateSchedule => ({
  kind: "windows",
  windows: specs.map(parseUpdateWindow),
});

describe("brupop windowed schedule", () => {
  const weekdayMornings = cron("* * 10-12 * * Mon-Fri"); // T0 is Monday 10:00 UTC

  it.each([
    ["Monday 10:00:00", T0, true, T0],
    ["Monday 12:59:59", utc("2024-06-03T12:59:59"), true, utc("2024-06-03T12:59:59")],
    ["Monday 13:00:00", utc("2024-06-03T13:00:00"), false, utc("2024-06-04T10:00:00")],
    ["Friday 13:00", utc("2024-06-07T13:00:00"), false, utc("2024-06-10T10:00:00")],
    ["Sunday 11:00", utc("2024-06-09T11:00:00"), false, utc("2024-06-10T10:00:00")],
  ])("%s → open %s", (_label, now, open, nextOpen) => {
    const gate = evaluateSchedule(weekdayMornings, now);
    expect(gate).toMatchObject({ open, nextOpen });
  });

  it("says why and when", () => {
    expect(evaluateSchedule(weekdayMornings, utc("2024-06-03T13:00:00")).reason).toBe(
      'outside the window "* * 10-12 * * Mon-Fri" (UTC); next at 2024-06-04T10:00:00+00:00',
    );
  });

  it("the default is always open", () => {
    expect(evaluateSchedule(cron("* * * * * * *"), T0).open).toBe(true);
  });
});

describe("brupop one-shot schedule: a trigger opens a session until nothing is left to start", () => {
  const mondays = cron("0 0 10 * * Mon"); // fires at T0

  it("closed right after the controller starts (brupop waits for the next trigger)", () => {
    const gate = evaluateSchedule(mondays, after(60), after(30));
    expect(gate).toMatchObject({ open: false, nextOpen: utc("2024-06-10T10:00:00") });
  });

  it("open once a trigger fires after the last drained session", () => {
    expect(evaluateSchedule(mondays, T0, after(-3600))).toMatchObject({ open: true, nextOpen: T0 });
    // Still open hours later: the session lasts until the controller reports it drained.
    expect(evaluateSchedule(mondays, after(5 * 3600), after(-3600)).open).toBe(true);
  });

  it("closed once the session drained after the trigger", () => {
    expect(evaluateSchedule(mondays, after(7200), after(3600))).toMatchObject({
      open: false,
      nextOpen: utc("2024-06-10T10:00:00"),
    });
  });

  it("a trigger that fires while nodes are still updating is not missed (brupop missed it)", () => {
    // Last drained a week ago; a trigger fired at T0 during a long rollout.
    expect(evaluateSchedule(mondays, after(600), after(-7 * 86400 + 60)).open).toBe(true);
  });

  it("without a consumed time, nothing is open", () => {
    expect(evaluateSchedule(mondays, T0).open).toBe(false);
  });
});

describe("explicit windows: cron start + duration + time zone", () => {
  const berlinNights = { schedule: "0 22 * * 1-5", duration: "4h", timeZone: "Europe/Berlin" };

  it.each([
    // 22:00 CEST is 20:00 UTC; the window ends 02:00 CEST = 00:00 UTC.
    ["before the start", utc("2024-06-03T19:59:59"), false, utc("2024-06-03T20:00:00"), null],
    ["at the start", utc("2024-06-03T20:00:00"), true, utc("2024-06-03T20:00:00"), utc("2024-06-04T00:00:00")],
    ["after midnight", utc("2024-06-03T23:30:00"), true, utc("2024-06-03T23:30:00"), utc("2024-06-04T00:00:00")],
    ["at the end (exclusive)", utc("2024-06-04T00:00:00"), false, utc("2024-06-04T20:00:00"), null],
    ["Saturday", utc("2024-06-08T21:00:00"), false, utc("2024-06-10T20:00:00"), null],
  ])("%s", (_label, now, open, nextOpen, openUntil) => {
    expect(evaluateSchedule(windows(berlinNights), now)).toMatchObject({ open, nextOpen, openUntil });
  });

  it("the time zone's winter offset applies in winter", () => {
    // 22:00 CET is 21:00 UTC.
    expect(evaluateSchedule(windows(berlinNights), utc("2024-01-08T20:30:00")).open).toBe(false);
    expect(evaluateSchedule(windows(berlinNights), utc("2024-01-08T21:00:00")).open).toBe(true);
  });

  it("the duration is real time across a DST change", () => {
    // New York springs forward at 02:00 on 2024-03-10: 01:00 EST = 06:00 UTC, and 2 h later is 08:00 UTC.
    const w = parseUpdateWindow({ schedule: "0 1 * * *", duration: "2h", timeZone: "America/New_York" });
    expect(windowAt(w, utc("2024-03-10T07:59:59"))).toEqual({
      start: utc("2024-03-10T06:00:00"),
      end: utc("2024-03-10T08:00:00"),
    });
    expect(windowAt(w, utc("2024-03-10T08:00:00"))).toBeNull();
  });

  it("several windows: open when any is open; the next opening is the earliest", () => {
    const both = windows(berlinNights, { schedule: "0 6 * * 6,0", duration: "3h" });
    expect(evaluateSchedule(both, utc("2024-06-08T07:00:00"))).toMatchObject({
      open: true,
      openUntil: utc("2024-06-08T09:00:00"),
    });
    expect(evaluateSchedule(both, utc("2024-06-08T10:00:00"))).toMatchObject({
      open: false,
      nextOpen: utc("2024-06-09T06:00:00"),
    });
    expect(evaluateSchedule(both, utc("2024-06-08T10:00:00")).reason).toMatch(/^outside all windows; next at/);
  });

  it("overlapping windows report the latest end", () => {
    const overlapping = windows({ schedule: "0 10 * * *", duration: "2h" }, { schedule: "0 11 * * *", duration: "3h" });
    expect(evaluateSchedule(overlapping, utc("2024-06-03T11:30:00")).openUntil).toEqual(utc("2024-06-03T14:00:00"));
  });

  it("a nickname works", () => {
    const daily = windows({ schedule: "@daily", duration: "1h" });
    expect(evaluateSchedule(daily, utc("2024-06-03T00:30:00")).open).toBe(true);
    expect(evaluateSchedule(daily, utc("2024-06-03T01:00:00")).open).toBe(false);
  });

  it.each([
    [{ schedule: "0 22 * * *", duration: "4h", timeZone: "Mars/Olympus" }, /"Mars\/Olympus" is not an IANA time zone/],
    [{ schedule: "0 22 * * *", duration: "4 hours" }, /"4 hours" is not a duration/],
    [{ schedule: "0 22 * * *", duration: "0s" }, /duration must be positive/],
    [{ schedule: "0 0 22 * * *", duration: "1h" }, /not a 5-field cron schedule/],
    [{ schedule: "at ten", duration: "1h" }, /window "at ten": not a 5-field cron schedule/],
    [{ schedule: "0 25 * * *", duration: "1h" }, /not a 5-field cron schedule/],
  ])("rejects %j", (spec, message) => {
    expect(() => parseUpdateWindow(spec)).toThrow(WindowError);
    expect(() => parseUpdateWindow(spec)).toThrow(message);
  });
});
