// updog's selection and wave formulas (docs/design/host-api.md#version-selection, #waves).
import { describe, expect, test } from "vitest";
import { availableUpdates, chooseUpdate, waveReadyAt, type Release, type UpdateSettings } from "./selection.ts";

const T = Date.parse("2024-10-01T00:00:00Z");
const HOUR = 3_600_000;
const DAY = 24 * HOUR;

/** default-waves.toml relative to publish time T. */
const DEFAULT_WAVES: Record<string, string> = Object.fromEntries(
  (
    [
      [0, HOUR],
      [20, 4 * HOUR],
      [102, DAY],
      [307, 2 * DAY],
      [819, 4 * DAY],
      [1228, 5 * DAY],
      [1843, 6 * DAY],
    ] as const
  ).map(([seed, offset]) => [String(seed), new Date(T + offset).toISOString()]),
);

const settings = (patch: Partial<UpdateSettings> = {}): UpdateSettings => ({
  versionLock: "latest",
  ignoreWaves: false,
  seed: 1,
  ...patch,
});

describe("#waves", () => {
  test("a seed between two keys sees the release at lo + (hi-lo)/(keys apart) x absolute seed, at the latest at hi", () => {
    // seed 10 between 0 (T+1h) and 20 (T+4h): T+1h + 3h/20*10 = T+2.5h
    expect(waveReadyAt(DEFAULT_WAVES, 10)).toBe(T + 2.5 * HOUR);
    // seed 50 between 20 (T+4h) and 102 (T+1d): T+4h + 20h/82*50 ≈ T+16.2h, inside the wave
    expect(waveReadyAt(DEFAULT_WAVES, 50)).toBeCloseTo(T + 4 * HOUR + (20 * HOUR * 50) / 82, -1);
    // seed 1000 between 819 (T+4d) and 1228 (T+5d): the absolute-seed slot is past the wave end, so T+5d
    expect(waveReadyAt(DEFAULT_WAVES, 1000)).toBe(T + 5 * DAY);
  });

  test("a seed above the last key sees it at that key's time", () => {
    expect(waveReadyAt(DEFAULT_WAVES, 2000)).toBe(T + 6 * DAY);
  });

  test("seed 0 with a key 0 sees it immediately (updog quirk); no waves means immediately", () => {
    expect(waveReadyAt(DEFAULT_WAVES, 0)).toBeNull();
    expect(waveReadyAt(undefined, 1234)).toBeNull();
    expect(waveReadyAt({}, 1234)).toBeNull();
  });

  test("versions whose wave has not reached the host are absent from available_updates", () => {
    const repo: Release[] = [{ version: "1.25.0" }, { version: "1.26.0", waves: DEFAULT_WAVES }];
    expect(availableUpdates(repo, settings({ seed: 1000 }), T + 4 * DAY)).toEqual(["1.25.0"]);
    expect(availableUpdates(repo, settings({ seed: 1000 }), T + 5 * DAY)).toEqual(["1.26.0", "1.25.0"]);
    expect(availableUpdates(repo, settings({ seed: 1000, ignoreWaves: true }), T)).toEqual(["1.26.0", "1.25.0"]);
  });
});

describe("#version-selection: version-lock and max_version", () => {
  const repo: Release[] = ["1.24.0", "1.24.1", "1.25.0", "1.26.0", "1.26.1"].map((version) => ({ version }));

  test("latest chooses the newest newer version and never the running one", () => {
    expect(chooseUpdate(repo, settings(), "1.25.0", T)).toBe("1.26.1");
    expect(chooseUpdate(repo, settings(), "1.26.1", T)).toBeNull();
  });

  test("a pin chooses that exact version, older or newer; the running version or a missing one chooses nothing", () => {
    expect(chooseUpdate(repo, settings({ versionLock: "v1.24.1" }), "1.25.0", T)).toBe("1.24.1");
    expect(chooseUpdate(repo, settings({ versionLock: "1.26.0" }), "1.25.0", T)).toBe("1.26.0");
    expect(chooseUpdate(repo, settings({ versionLock: "v1.25.0" }), "1.25.0", T)).toBeNull();
    expect(chooseUpdate(repo, settings({ versionLock: "v1.30.0" }), "1.25.0", T)).toBeNull();
  });

  test("max_version hides newer entries and offers a host above it the newest published version", () => {
    const pulled = repo.map((release) => ({ ...release, maxVersion: "1.26.0" }));
    expect(availableUpdates(pulled, settings(), T)).toEqual(["1.26.0", "1.25.0", "1.24.1", "1.24.0"]);
    expect(chooseUpdate(pulled, settings(), "1.26.1", T)).toBe("1.26.0");
  });

  test("versions sort by semver precedence, not as strings", () => {
    const mixed: Release[] = ["1.9.0", "1.10.0", "1.10.0-rc.1"].map((version) => ({ version }));
    expect(availableUpdates(mixed, settings(), T)).toEqual(["1.10.0", "1.10.0-rc.1", "1.9.0"]);
  });
});
