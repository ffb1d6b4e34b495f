import { describe, expect, it } from "vitest";
import { colourWanted, makeStyle, relative, table, when } from "./render.ts";
import { NOW } from "../../test/support/cli-fixtures.ts";

describe("colourWanted", () => {
  it("only on a TTY, never with NO_COLOR or TERM=dumb", () => {
    expect(colourWanted({ isTTY: true }, {})).toBe(true);
    expect(colourWanted({ isTTY: false }, {})).toBe(false);
    expect(colourWanted({}, {})).toBe(false);
    expect(colourWanted({ isTTY: true }, { NO_COLOR: "1" })).toBe(false);
    expect(colourWanted({ isTTY: true }, { TERM: "dumb" })).toBe(false);
  });
});

describe("makeStyle", () => {
  it("wraps in ANSI codes only when enabled", () => {
    expect(makeStyle(false).red("x")).toBe("x");
    expect(makeStyle(true).red("x")).toBe("\u001b[31mx\u001b[39m");
    expect(makeStyle(true).bold("")).toBe("");
  });
});

describe("table", () => {
  it("is borderless with upper-case headers and no trailing spaces", () => {
    expect(
      table(
        ["node", "why"],
        [
          ["a", "up-to-date"],
          ["bbbb", "x"],
        ],
      ),
    ).toBe("NODE   WHY\na      up-to-date\nbbbb   x");
  });
});

describe("relative and when", () => {
  it("writes minutes for people and seconds only below a minute", () => {
    expect(relative(new Date(NOW.getTime() + 3 * 3600_000 + 12 * 60_000 + 30_000), NOW)).toBe("in 3h12m");
    expect(relative(new Date(NOW.getTime() - 5 * 60_000), NOW)).toBe("5m ago");
    expect(relative(new Date(NOW.getTime() + 20_000), NOW)).toBe("in 20s");
    expect(relative(NOW, NOW)).toBe("now");
    expect(when(new Date("2024-06-03T11:00:00.000Z"), NOW)).toBe("2024-06-03T11:00:00Z (in 1h)");
  });
});
