import { describe, expect, it } from "vitest";
import { formatTimestamp, parseTimestamp } from "./timestamps.ts";

describe("parseTimestamp", () => {
  it.each([
    // brupop (chrono) output: nanoseconds and +00:00; sub-millisecond digits are truncated.
    ["2024-06-21T11:55:48.896347269+00:00", "2024-06-21T11:55:48.896Z"],
    ["2024-06-21T11:55:48.896347+00:00", "2024-06-21T11:55:48.896Z"],
    ["2024-06-21T11:55:48+00:00", "2024-06-21T11:55:48.000Z"],
    ["2024-06-21T11:55:48.5Z", "2024-06-21T11:55:48.500Z"],
    ["2024-06-21T11:55:48Z", "2024-06-21T11:55:48.000Z"],
    ["2024-06-21t11:55:48z", "2024-06-21T11:55:48.000Z"],
    ["2024-06-21 11:55:48Z", "2024-06-21T11:55:48.000Z"],
    ["2024-06-21T13:55:48+02:00", "2024-06-21T11:55:48.000Z"],
    ["2024-06-21T06:25:48-05:30", "2024-06-21T11:55:48.000Z"],
    ["2024-02-29T00:00:00Z", "2024-02-29T00:00:00.000Z"],
    ["2000-02-29T00:00:00Z", "2000-02-29T00:00:00.000Z"],
    ["2016-12-31T23:59:60Z", "2017-01-01T00:00:00.000Z"],
    ["0001-01-01T00:00:00Z", "0001-01-01T00:00:00.000Z"],
  ])("reads %s as %s", (text, iso) => {
    expect(parseTimestamp(text)?.toISOString()).toBe(iso);
  });

  it.each([
    ["garbage", "not a timestamp"],
    ["empty", ""],
    ["date only", "2024-06-21"],
    ["no offset", "2024-06-21T11:55:48"],
    ["month 13", "2024-13-01T00:00:00Z"],
    ["February 30th", "2024-02-30T00:00:00Z"],
    ["February 29th in a common year", "2023-02-29T00:00:00Z"],
    ["February 29th in 1900", "1900-02-29T00:00:00Z"],
    ["day 0", "2024-06-00T00:00:00Z"],
    ["hour 24", "2024-06-21T24:00:00Z"],
    ["minute 60", "2024-06-21T11:60:00Z"],
    ["second 61", "2024-06-21T11:55:61Z"],
    ["offset +24:00", "2024-06-21T11:55:48+24:00"],
    ["offset without colon", "2024-06-21T11:55:48+0000"],
    ["empty fraction", "2024-06-21T11:55:48.Z"],
    ["trailing text", "2024-06-21T11:55:48Zjunk"],
  ])("returns undefined for %s", (_, text) => {
    expect(parseTimestamp(text)).toBeUndefined();
  });

  it.each([null, undefined, 1718970948896, {}, new Date(0)])("returns undefined for the non-string %s", (value) => {
    expect(parseTimestamp(value)).toBeUndefined();
  });
});

describe("formatTimestamp", () => {
  it("writes milliseconds and +00:00, like chrono for a millisecond-precision instant", () => {
    expect(formatTimestamp(new Date("2024-06-21T11:55:48.896Z"))).toBe("2024-06-21T11:55:48.896+00:00");
  });

  it("omits a zero fraction, like chrono", () => {
    expect(formatTimestamp(new Date("2024-06-21T11:55:48.000Z"))).toBe("2024-06-21T11:55:48+00:00");
  });

  it("keeps a fraction that merely ends in zeros", () => {
    expect(formatTimestamp(new Date("2024-06-21T11:55:48.100Z"))).toBe("2024-06-21T11:55:48.100+00:00");
  });

  it("formats each instant as itself, one after another and again (the last one is remembered)", () => {
    const a = new Date("2024-06-21T11:55:48.896Z");
    const b = new Date("2024-06-21T11:55:49.000Z");
    const texts = [a, a, b, a, new Date(b.getTime())].map(formatTimestamp);
    expect(texts).toEqual([
      "2024-06-21T11:55:48.896+00:00",
      "2024-06-21T11:55:48.896+00:00",
      "2024-06-21T11:55:49+00:00",
      "2024-06-21T11:55:48.896+00:00",
      "2024-06-21T11:55:49+00:00",
    ]);
  });

  it("round-trips through parseTimestamp", () => {
    for (const ms of [0, 1, 999, 1718970948896, 253402300799999]) {
      expect(parseTimestamp(formatTimestamp(new Date(ms)))?.getTime()).toBe(ms);
    }
  });

  it("throws a RangeError for an invalid Date or a year RFC 3339 cannot hold", () => {
    expect(() => formatTimestamp(new Date(Number.NaN))).toThrow(/invalid Date/);
    expect(() => formatTimestamp(new Date("+010000-01-01T00:00:00Z"))).toThrow(/year 10000/);
  });
});
