// Semantic versions as Bottlerocket uses them (`version_id`, `available_updates`, `version-lock`).
// Small on purpose: the agent must stay lean, and we only need parse and precedence.

export interface SemVer {
  major: number;
  minor: number;
  patch: number;
  /** Pre-release identifiers (after `-`); empty for a release. */
  prerelease: readonly string[];
}

const SEMVER =
  /^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$/;

/** Parses a full semver (`1.26.1`, `1.27.0-rc.1`, build metadata allowed). Returns null if it is not one. */
export function parseSemVer(text: string): SemVer | null {
  const match = SEMVER.exec(text);
  if (!match) return null;
  const [, major = "", minor = "", patch = "", pre] = match;
  const parts = [Number(major), Number(minor), Number(patch)] as const;
  if (!parts.every((n) => Number.isSafeInteger(n))) return null;
  return { major: parts[0], minor: parts[1], patch: parts[2], prerelease: pre === undefined ? [] : pre.split(".") };
}

export function isSemVer(text: string): boolean {
  return parseSemVer(text) !== null;
}

function parseOrThrow(text: string): SemVer {
  const parsed = parseSemVer(text);
  if (!parsed) throw new TypeError(`not a semantic version: ${JSON.stringify(text)}`);
  return parsed;
}

function compareIdentifiers(a: string, b: string): number {
  const aNumeric = /^\d+$/.test(a);
  const bNumeric = /^\d+$/.test(b);
  if (aNumeric && bNumeric) return Math.sign(Number(a) - Number(b));
  if (aNumeric) return -1;
  if (bNumeric) return 1;
  return a < b ? -1 : a > b ? 1 : 0;
}

/** Semver precedence: negative if a < b, 0 if equal (build metadata ignored), positive if a > b. Throws on non-semver. */
export function compareSemVer(a: string, b: string): number {
  const x = parseOrThrow(a);
  const y = parseOrThrow(b);
  const core = Math.sign(x.major - y.major) || Math.sign(x.minor - y.minor) || Math.sign(x.patch - y.patch);
  if (core !== 0) return core;
  if (x.prerelease.length === 0 || y.prerelease.length === 0) {
    // A release ranks above any of its pre-releases.
    return Math.sign(y.prerelease.length - x.prerelease.length);
  }
  const length = Math.max(x.prerelease.length, y.prerelease.length);
  for (let i = 0; i < length; i++) {
    const p = x.prerelease[i];
    const q = y.prerelease[i];
    if (p === undefined) return -1;
    if (q === undefined) return 1;
    const order = compareIdentifiers(p, q);
    if (order !== 0) return order;
  }
  return 0;
}

/**
 * Parses a `settings.updates.version-lock` value (a FriendlyVersion): `latest`, or a full semver with an optional
 * leading `v`. Returns the version without the `v`, `"latest"`, or null if invalid (`1.26` is invalid).
 */
export function parseVersionLock(text: string): string | null {
  if (text === "latest") return "latest";
  const version = text.startsWith("v") ? text.slice(1) : text;
  return isSemVer(version) ? version : null;
}
