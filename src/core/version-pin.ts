// The fleet version pin (policy spec.maxVersion, docs/design/canary.md#version-pin): no node is started towards a
// version above it. The host chooses what it offers (its version-lock, §4.2 of the host API), and the operator
// installs exactly what the host offers (docs/design/state-machine.md#one-update); so a node offered a version past
// the pin is held where it is, with the reason `version-pinned`, until its host offers one at or below the pin.
import { compareSemver, parseSemver } from "../api/semver.ts";

/** Parses spec.maxVersion (unknown: the API server's schema is checked again here). Null when unset or invalid. */
export function parseVersionPin(raw: unknown, where: string, errors: string[]): string | null {
  if (raw === undefined || raw === null) return null;
  if (typeof raw !== "string" || parseSemver(raw) === null) {
    errors.push(`${where}: ${JSON.stringify(raw)} is not a version such as "1.26.0"`);
    return null;
  }
  return raw;
}

/** Whether `version` lies past the pin. A version that does not parse is past it: the pin errs towards holding. */
export function pastPin(version: string, maxVersion: string): boolean {
  const v = parseSemver(version);
  const pin = parseSemver(maxVersion);
  return v === null || pin === null || compareSemver(v, pin) > 0;
}

/** Why a node offered `target` is held by the pin. */
export function pinnedMessage(target: string, current: string, maxVersion: string): string {
  return (
    `offered ${target}, past spec.maxVersion ${maxVersion}: staying at ${current} (the operator installs what the ` +
    `host offers; set the hosts' settings.updates.version-lock to v${maxVersion} to have it offered)`
  );
}
