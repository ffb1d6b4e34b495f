// Bottlerocket's version vocabulary on top of the project's one semver implementation (src/api/semver.ts).
import { compareVersions, isSemver, parseSemver, type SemVer } from "../api/semver.ts";

export { type SemVer };
export const parseSemVer = parseSemver;
export const isSemVer = isSemver;
/** Semver precedence of two version strings; throws on a non-version. */
export const compareSemVer = compareVersions;

/**
 * Parses a `settings.updates.version-lock` value (a FriendlyVersion): `latest`, or a full semver with an optional
 * leading `v`. Returns the version without the `v`, `"latest"`, or null if invalid (`1.26` is invalid).
 */
export function parseVersionLock(text: string): string | null {
  if (text === "latest") return "latest";
  const version = text.startsWith("v") ? text.slice(1) : text;
  return isSemVer(version) ? version : null;
}
