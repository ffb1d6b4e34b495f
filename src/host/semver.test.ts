import { describe, expect, test } from "vitest";
import { compareSemVer, parseSemVer, parseVersionLock } from "./semver.ts";

describe("semver", () => {
  test("parses full versions only", () => {
    expect(parseSemVer("1.26.1")).toEqual({ major: 1, minor: 26, patch: 1, prerelease: [], build: "" });
    expect(parseSemVer("1.27.0-rc.1+build.5")).toEqual({
      major: 1,
      minor: 27,
      patch: 0,
      prerelease: ["rc", 1],
      build: "build.5",
    });
    for (const bad of ["1.26", "v1.26.1", "01.2.3", "1.2.3-", "", "latest"]) expect(parseSemVer(bad)).toBeNull();
  });

  test.each([
    ["1.10.0", "1.9.0", 1],
    ["1.26.0", "1.26.0+abc", 0],
    ["1.26.0-rc.1", "1.26.0", -1],
    ["1.26.0-rc.2", "1.26.0-rc.10", -1],
    ["1.26.0-alpha", "1.26.0-1", 1],
    ["1.26.0-rc", "1.26.0-rc.1", -1],
  ])("compare(%s, %s) = %i", (a, b, expected) => {
    expect(compareSemVer(a, b)).toBe(expected);
  });

  test("version-lock accepts latest or a full version with an optional v", () => {
    expect(parseVersionLock("latest")).toBe("latest");
    expect(parseVersionLock("v1.26.1")).toBe("1.26.1");
    expect(parseVersionLock("1.26.1")).toBe("1.26.1");
    expect(parseVersionLock("1.26")).toBeNull();
  });
});
