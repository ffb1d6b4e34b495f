// Argument parsers the development commands share.
import { InvalidArgumentError } from "@commander-js/extra-typings";
import { parseDuration } from "../../src/core/duration.ts";
import { isSemVer } from "../../src/host/semver.ts";

export function positiveInt(max = Number.MAX_SAFE_INTEGER) {
  return (value: string): number => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1 || n > max) {
      throw new InvalidArgumentError(`expected a whole number from 1 to ${max}, got "${value}"`);
    }
    return n;
  };
}

export function semver(value: string): string {
  if (!isSemVer(value)) throw new InvalidArgumentError("expected a full version such as 1.26.0");
  return value;
}

/** FAILURE_BACKOFF_UNIT as the controller accepts it (src/core/policy.ts): a duration from 1s to 1h. */
export function backoffUnit(value: string): string {
  try {
    const seconds = parseDuration(value);
    if (seconds >= 1 && seconds <= 3600) return value;
  } catch {
    // reported below
  }
  throw new InvalidArgumentError("expected a duration from 1s to 1h, e.g. 1s, 30s, 1m");
}
