import { describe, expect, it } from "vitest";
import { compareSemver, parseSemver, sameVersion } from "./semver.ts";

function v(text: string) {
  const parsed = parseSemver(text);
  if (parsed === null) throw new Error(`test version ${text} does not parse`);
  return parsed;
}

describe("parseSemver", () => {
  it("reads the parts", () => {
    expect(parseSemver("1.20.3-rc.1+build.7")).toEqual({
      major: 1,
      minor: 20,
      patch: 3,
      prerelease: ["rc", 1],
      build: "build.7",
    });
  });

  it.each(["1.20", "v1.20.0", "01.2.3", "1.2.3-", "1.2.3-01", "", " 1.2.3", "1.2.3+", "99999999999999999999.0.0"])(
    "rejects %j",
    (text) => expect(parseSemver(text)).toBeNull(),
  );

  it("shares one frozen answer per text, also for a text that is not a version", () => {
    const first = v("1.20.3-rc.1");
    expect(v("1.20.3-rc.1")).toBe(first);
    expect(Object.isFrozen(first) && Object.isFrozen(first.prerelease)).toBe(true);
    expect(parseSemver("1.20")).toBeNull();
    expect(parseSemver("1.20")).toBeNull();
  });

  it("stays right past the texts it keeps", () => {
    for (let i = 0; i < 1500; i++) expect(v(`1.${i}.0`).minor).toBe(i);
    expect(compareSemver(v("1.1499.0"), v("1.2.0"))).toBe(1);
  });
});

describe("compareSemver: semver.org §11 precedence", () => {
  // Each version is lower than the next (the example chain from semver.org plus core ordering).
  const ascending = [
    "0.9.9",
    "1.0.0-alpha",
    "1.0.0-alpha.1",
    "1.0.0-alpha.beta",
    "1.0.0-beta",
    "1.0.0-beta.2",
    "1.0.0-beta.11",
    "1.0.0-rc.1",
    "1.0.0",
    "1.0.1",
    "1.2.0",
    "1.10.0",
    "2.0.0",
  ];
  it.each(ascending.slice(1).map((higher, i) => [ascending[i] ?? "", higher]))("%s < %s", (lower, higher) => {
    expect(compareSemver(v(lower), v(higher))).toBe(-1);
    expect(compareSemver(v(higher), v(lower))).toBe(1);
  });

  it("ignores build metadata", () => {
    expect(compareSemver(v("1.0.0+a"), v("1.0.0+b"))).toBe(0);
  });
});

describe("sameVersion: brupop's equality includes build metadata", () => {
  it.each([
    ["1.20.0", "1.20.0", true],
    ["1.20.0", "1.20.1", false],
    ["1.20.0+a", "1.20.0+a", true],
    ["1.20.0+a", "1.20.0", false],
    ["1.20.0-rc.1", "1.20.0", false],
  ] as const)("%s vs %s → %s", (a, b, same) => expect(sameVersion(v(a), v(b))).toBe(same));
});
