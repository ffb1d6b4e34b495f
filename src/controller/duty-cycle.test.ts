import { describe, expect, it } from "vitest";
import { DutyCycle } from "./duty-cycle.ts";

describe("DutyCycle", () => {
  it("waits (parts - 1) times as long as the last run took, at most the bound", () => {
    const cycle = new DutyCycle(4, 1_000);
    expect(cycle.pause(0)).toBe(0);
    cycle.took(0, 100);
    expect([cycle.pause(100), cycle.pause(350), cycle.pause(400)]).toEqual([300, 50, 0]);
    cycle.took(400, 5_400);
    expect(cycle.pause(5_400)).toBe(1_000);
  });

  it("runs at once when the clock was set back, rather than waiting for as long as it went back", () => {
    const cycle = new DutyCycle(4, Infinity);
    cycle.took(3_600_000, 3_600_040);
    expect(cycle.pause(3_600_050)).toBe(110);
    expect(cycle.pause(0)).toBe(0);
  });
});
