// Semantic versions as semver.org defines them, the one implementation for the whole project: the CRD's version
// pattern, Bottlerocket's versions (`version_id`, `available_updates`), precedence for "is this a downgrade?", and
// brupop's equality (Rust `semver::Version` `!=`, which also compares build metadata). No dependencies: the agent
// imports it.

export interface SemVer {
  major: number;
  minor: number;
  patch: number;
  prerelease: readonly (string | number)[];
  build: string;
}

/** The semver.org regular expression (numbered groups), exactly as brupop's CRD has it. */
export const SEMVER_PATTERN =
  "^(0|[1-9]\\d*)\\.(0|[1-9]\\d*)\\.(0|[1-9]\\d*)" +
  "(?:-((?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\\.(?:0|[1-9]\\d*|\\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?" +
  "(?:\\+([0-9a-zA-Z-]+(?:\\.[0-9a-zA-Z-]+)*))?$";

const SEMVER = new RegExp(SEMVER_PATTERN);

/** The parsed version, or null when `text` is not a semantic version (status fields are user-editable). */
export function parseSemver(text: string): SemVer | null {
  const match = SEMVER.exec(text);
  if (match === null) return null;
  const [, major = "", minor = "", patch = "", pre, build] = match;
  const numbers = [major, minor, patch].map(Number);
  // Beyond 2^53 the comparison would silently lose precision; no real version gets there.
  if (!numbers.every((n) => Number.isSafeInteger(n))) return null;
  return {
    major: numbers[0] ?? 0,
    minor: numbers[1] ?? 0,
    patch: numbers[2] ?? 0,
    prerelease: pre === undefined ? [] : pre.split(".").map((id) => (/^\d+$/.test(id) ? Number(id) : id)),
    build: build ?? "",
  };
}

function compareIdentifiers(a: string | number, b: string | number): number {
  if (typeof a === "number" && typeof b === "number") return Math.sign(a - b);
  if (typeof a === "number") return -1; // numeric identifiers sort before alphanumeric ones
  if (typeof b === "number") return 1;
  return a < b ? -1 : a > b ? 1 : 0; // ASCII order, as semver.org says
}

/** Precedence per semver.org §11: -1, 0 or 1. Build metadata does not count. */
export function compareSemver(a: SemVer, b: SemVer): number {
  const core = Math.sign(a.major - b.major) || Math.sign(a.minor - b.minor) || Math.sign(a.patch - b.patch);
  if (core !== 0) return core;
  // A version without a prerelease ranks above the same version with one.
  if (a.prerelease.length === 0 || b.prerelease.length === 0) {
    return Math.sign(b.prerelease.length - a.prerelease.length);
  }
  for (let i = 0; i < Math.min(a.prerelease.length, b.prerelease.length); i++) {
    const order = compareIdentifiers(a.prerelease[i] ?? 0, b.prerelease[i] ?? 0);
    if (order !== 0) return order;
  }
  return Math.sign(a.prerelease.length - b.prerelease.length);
}

/** brupop's notion of "the same version": equal precedence and equal build metadata. */
export function sameVersion(a: SemVer, b: SemVer): boolean {
  return compareSemver(a, b) === 0 && a.build === b.build;
}

export function isSemver(text: string): boolean {
  return parseSemver(text) !== null;
}

/** Precedence of two version strings (negative, 0, positive); throws a TypeError on a non-version. */
export function compareVersions(a: string, b: string): number {
  const parse = (text: string) => {
    const parsed = parseSemver(text);
    if (parsed === null) throw new TypeError(`not a semantic version: ${JSON.stringify(text)}`);
    return parsed;
  };
  return compareSemver(parse(a), parse(b));
}
