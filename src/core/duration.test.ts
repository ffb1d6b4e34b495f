import { describe, expect, it } from "vitest";
import { formatDuration, parseDuration } from "./duration.ts";

describe("parseDuration", () => {
  it.each([
    ["720s", 720],
    ["12m", 720],
    ["1h30m", 5400],
    ["1d2h3m4s", 93_784],
    [" 2h ", 7200],
    ["0s", 0],
  ])("%j → %d s", (text, seconds) => expect(parseDuration(text)).toBe(seconds));

  it.each(["", "12", "1.5h", "-5m", "5 m", "1w", "30m1h", "1h1h", "5M"])("rejects %j with a hint", (text) => {
    expect(() => parseDuration(text)).toThrow(/duration/);
  });
});

describe("formatDuration", () => {
  it.each([
    [0, "0s"],
    [45, "45s"],
    [720, "12m"],
    [5400, "1h30m"],
    [93_784, "1d2h3m4s"],
  ])("%d s → %s", (seconds, text) => {
    expect(formatDuration(seconds)).toBe(text);
    expect(parseDuration(text)).toBe(seconds);
  });
});
