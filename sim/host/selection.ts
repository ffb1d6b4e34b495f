// updog's version selection and wave rules (docs/design/host-api.md#version-selection), as pure functions of
// (repository, settings, now).
import { compareSemVer, parseVersionLock } from "../../src/host/semver.ts";

/** One entry of the simulated TUF manifest. The repository holds entries for this host's variant and arch only. */
export interface Release {
  version: string;
  /** Entries above it are hidden, and a host running above it is offered a downgrade. Absent: unbounded. */
  maxVersion?: string;
  /** Wave start seeds (0..2047, as strings) to RFC 3339 times. Absent or empty: visible at once. */
  waves?: Readonly<Record<string, string>>;
}

export interface UpdateSettings {
  /** `latest`, or an exact version with optional `v` (may be older than the running one: a downgrade). */
  versionLock: string;
  ignoreWaves: boolean;
  /** 0..2047, drawn at first boot. */
  seed: number;
}

export const MAX_SEED = 2048;

/** Time (ms since epoch) from which a host with `seed` sees a release with these waves; null = at once. */
export function waveReadyAt(waves: Readonly<Record<string, string>> | undefined, seed: number): number | null {
  if (!waves) return null;
  const keys = Object.keys(waves)
    .map((key) => ({ seed: Number(key), at: Date.parse(waves[key] ?? "") }))
    .filter((wave) => Number.isInteger(wave.seed) && !Number.isNaN(wave.at))
    .sort((a, b) => a.seed - b.seed);
  if (keys.length === 0) return null;
  const lo = keys.findLast((wave) => wave.seed < seed);
  const hi = keys.find((wave) => wave.seed >= seed);
  if (!lo) {
    // Seed exactly 0 with a key 0 sees it immediately (an updog quirk). Otherwise a seed below the first wave,
    // which publishing tools never produce (the first key is 0), waits for that wave.
    if (seed === 0 && hi?.seed === 0) return null;
    return hi ? hi.at : null;
  }
  if (!hi) return lo.at; // above the last key: that wave's time
  // `seed` is the absolute seed, not seed - lo: intended upstream, so late hosts usually wait for the wave's end.
  const slot = lo.at + ((hi.at - lo.at) / (hi.seed - lo.seed)) * seed;
  return Math.min(slot, hi.at);
}

export function isWaveReady(release: Release, settings: UpdateSettings, now: number): boolean {
  if (settings.ignoreWaves) return true;
  const readyAt = waveReadyAt(release.waves, settings.seed);
  return readyAt === null || now >= readyAt;
}

/** The entries updog considers: at or below their max_version and wave-ready, newest first. */
export function eligibleReleases(repository: readonly Release[], settings: UpdateSettings, now: number): Release[] {
  return repository
    .filter((release) => release.maxVersion === undefined || compareSemVer(release.version, release.maxVersion) <= 0)
    .filter((release) => isWaveReady(release, settings, now))
    .sort((a, b) => compareSemVer(b.version, a.version));
}

/** `available_updates`: every eligible version, newest first, including the running and older versions. */
export function availableUpdates(repository: readonly Release[], settings: UpdateSettings, now: number): string[] {
  return [...new Set(eligibleReleases(repository, settings, now).map((release) => release.version))];
}

/** `chosen_update` per version-lock; never the running version. */
export function chooseUpdate(
  repository: readonly Release[],
  settings: UpdateSettings,
  running: string,
  now: number,
): string | null {
  const eligible = eligibleReleases(repository, settings, now);
  const lock = parseVersionLock(settings.versionLock);
  if (lock === null) return null; // the settings API refuses such values; updog would fail to read its config
  if (lock === "latest") {
    // The second condition offers the newest published version to a host running above max_version (a pulled
    // release or a dev build): a downgrade.
    const chosen = eligible.find(
      (release) =>
        compareSemVer(running, release.version) < 0 ||
        (release.maxVersion !== undefined && compareSemVer(running, release.maxVersion) > 0),
    );
    return chosen?.version ?? null;
  }
  if (compareSemVer(lock, running) === 0) return null;
  return eligible.find((release) => compareSemVer(release.version, lock) === 0)?.version ?? null;
}
