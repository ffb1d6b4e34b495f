// Semantic versions, the one home for the whole project: the CRD's version pattern, Bottlerocket's versions
// (`version_id`, `available_updates`), precedence for "is this a downgrade?", and brupop's equality.
//
// npm's `semver` parses and orders (semver.org §11). Two rules stay ours, because brupop's contract differs from
// npm's (docs/design/brupop-compatibility.md#versions):
// - the grammar is the CRD's pattern, strictly: npm's also takes a leading `v` or `=` and surrounding blanks;
// - "the same version" includes build metadata, as Rust `semver::Version` `!=` does; npm compares it as precedence
//   (`+01` equals `+1` there).
// npm's own limit also applies: a version longer than 256 characters is not one.
import NpmSemVer from "semver/classes/semver.js";
import parse from "semver/functions/parse.js";

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

/**
 * Versions parsed so far, by text, and npm's object for each. A fleet has a handful of versions, and the controller
 * compares them for every node on every pass; parsing them again each time cost seconds of a 1,000-node rollout.
 * Bounded: status fields are user-editable, so the texts are not a closed set.
 */
const parsedTexts = new Map<string, SemVer | null>();
const PARSED_TEXTS_KEPT = 512;
const npmVersions = new WeakMap<SemVer, NpmSemVer>();

/** The parsed version (frozen: it is shared), or null when `text` is not a semantic version. */
export function parseSemver(text: string): SemVer | null {
  const known = parsedTexts.get(text);
  if (known !== undefined) return known;
  const version = parseOnce(text);
  if (parsedTexts.size >= PARSED_TEXTS_KEPT) parsedTexts.clear();
  parsedTexts.set(text, version);
  return version;
}

function parseOnce(text: string): SemVer | null {
  if (!SEMVER.test(text)) return null;
  // null also when a number is beyond 2^53, where comparisons would silently lose precision.
  const parsed = parse(text);
  if (parsed === null) return null;
  const { major, minor, patch, prerelease, build } = parsed;
  return Object.freeze({ major, minor, patch, prerelease: Object.freeze([...prerelease]), build: build.join(".") });
}

/** npm's object for a parsed version; precedence does not read build metadata, so it is left out. */
function npm(version: SemVer): NpmSemVer {
  const known = npmVersions.get(version);
  if (known !== undefined) return known;
  const pre = version.prerelease.length > 0 ? `-${version.prerelease.join(".")}` : "";
  const made = new NpmSemVer(`${version.major}.${version.minor}.${version.patch}${pre}`);
  npmVersions.set(version, made);
  return made;
}

/** Precedence per semver.org §11: -1, 0 or 1. Build metadata does not count. */
export function compareSemver(a: SemVer, b: SemVer): number {
  return npm(a).compare(npm(b));
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
  const strict = (text: string) => {
    const parsed = parseSemver(text);
    if (parsed === null) throw new TypeError(`not a semantic version: ${JSON.stringify(text)}`);
    return parsed;
  };
  return compareSemver(strict(a), strict(b));
}
