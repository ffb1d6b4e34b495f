// Timestamps in BottlerocketShadow fields (spec.state_transition_timestamp,
// status.state_transition_failure_timestamp) are RFC 3339 strings. brupop writes them with chrono, e.g.
// `2024-06-21T11:55:48.896347269+00:00` (nanoseconds, `+00:00`), and parses them with chrono: any RFC 3339 offset
// and precision is accepted on both sides.
//
// Decision: we WRITE what chrono itself writes for a millisecond-precision instant, i.e. `+00:00` and a fraction
// of 3 digits, or none when the milliseconds are zero (`2024-06-21T11:55:48.896+00:00`,
// `2024-06-21T11:55:48+00:00`). Objects written by either implementation then look alike in `kubectl get -o yaml`.
// We READ any RFC 3339 timestamp (any offset, `Z`, any number of fraction digits, truncated to milliseconds) and
// return undefined for anything else, because these fields are user-editable and a bad value must not crash us.

/**
 * What a stored timestamp must look like, in the CRD (`pattern` next to `format: date-time`) and in our validator.
 * `format: date-time` alone means slightly different things to kube-apiserver (no leap second, any offset such as
 * +99:99) and to TypeBox (leap seconds, RFC 9557 suffixes such as `[UTC]`); with this pattern both accept exactly
 * the same strings, all of which {@link parseTimestamp} reads: `T` or `t`, seconds 00-59, an optional fraction of
 * any length, `Z`/`z` or an offset within ±23:59. The calendar (February 30th) is left to `format: date-time`.
 */
export const TIMESTAMP_PATTERN =
  "^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt]([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](\\.[0-9]+)?([Zz]|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$";

const RFC3339 = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:[Zz]|([+-])(\d{2}):(\d{2}))$/;

const DAYS_IN_MONTH = [31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31];

function daysInMonth(year: number, month: number): number {
  const leap = (year % 4 === 0 && year % 100 !== 0) || year % 400 === 0;
  return month === 2 && leap ? 29 : (DAYS_IN_MONTH[month - 1] ?? 0);
}

// `format: date-time` as TypeBox reads it, which schema-check.ts keeps: `T` or `t` only, and second 60 only where it
// is 23:59:60 in UTC (a leap second); only RFC 9557's `[...]` suffix, which TypeBox also takes, is not.
const DATE_TIME = /^(\d{4})-(\d\d)-(\d\d)[Tt](\d\d):(\d\d):(\d\d)(?:\.\d+)?(?:[Zz]|([+-])(\d\d):(\d\d))$/;

/** Whether `value` is an RFC 3339 date-time as JSON Schema's `format: date-time` (TypeBox's reading) takes it. */
export function isDateTime(value: string): boolean {
  const m = DATE_TIME.exec(value);
  if (!m) return false;
  const [year, month, day, hour, minute, second, offsetHours, offsetMinutes] = [1, 2, 3, 4, 5, 6, 8, 9].map((i) =>
    Number(m[i] ?? 0),
  ) as [number, number, number, number, number, number, number, number];
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return false;
  if (hour > 23 || minute > 59 || second > 60 || offsetHours > 23 || offsetMinutes > 59) return false;
  if (second < 60) return true;
  const utcMinutes = hour * 60 + minute - (m[7] === "-" ? -1 : 1) * (offsetHours * 60 + offsetMinutes);
  return ((utcMinutes % 1440) + 1440) % 1440 === 1439;
}

/**
 * Parses an RFC 3339 timestamp. Returns undefined for null, undefined, non-strings and anything that is not a
 * real instant (e.g. month 13, February 30th, offset +24:00). Sub-millisecond digits are truncated.
 */
export function parseTimestamp(text: unknown): Date | undefined {
  if (typeof text !== "string") return undefined;
  const match = RFC3339.exec(text);
  if (match === null) return undefined;
  const [, y, mo, d, h, mi, s, fraction, sign, offsetHours, offsetMinutes] = match;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  // 60 is a leap second in RFC 3339; like chrono we accept it (it rolls into the next minute here).
  const second = Number(s);
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth(year, month)) return undefined;
  if (hour > 23 || minute > 59 || second > 60) return undefined;
  let offset = 0;
  if (sign !== undefined) {
    const oh = Number(offsetHours);
    const om = Number(offsetMinutes);
    if (oh > 23 || om > 59) return undefined;
    offset = (sign === "+" ? 1 : -1) * (oh * 60 + om);
  }
  const millis = Number((fraction ?? "").slice(0, 3).padEnd(3, "0"));
  const instant = new Date(Date.UTC(year, month - 1, day, hour, minute, second, millis));
  // Date.UTC maps years 0-99 to 1900-1999.
  if (year < 100) instant.setUTCFullYear(year);
  return new Date(instant.getTime() - offset * 60_000);
}

/** The last instant formatted: a fleet pass formats its `now` once for every node it decides about. */
let lastFormatted: { ms: number; text: string } = { ms: Number.NaN, text: "" };

/**
 * Formats an instant the way brupop (chrono) does for millisecond precision: `2024-06-21T11:55:48.896+00:00`, or
 * without the fraction when it is zero. Throws a RangeError for an invalid Date or a year outside 0000-9999,
 * which RFC 3339 cannot represent.
 */
export function formatTimestamp(instant: Date): string {
  const ms = instant.getTime();
  if (ms === lastFormatted.ms) return lastFormatted.text;
  if (Number.isNaN(ms)) throw new RangeError("cannot format an invalid Date as an RFC 3339 timestamp");
  const year = instant.getUTCFullYear();
  if (year < 0 || year > 9999) throw new RangeError(`cannot format year ${year} as an RFC 3339 timestamp`);
  const iso = instant.toISOString(); // 2024-06-21T11:55:48.896Z
  const withoutZone = iso.slice(0, -1);
  const text = `${withoutZone.endsWith(".000") ? withoutZone.slice(0, -4) : withoutZone}+00:00`;
  lastFormatted = { ms, text };
  return text;
}
