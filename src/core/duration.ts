// Timestamps and durations as they appear on the wire and in configuration.

// RFC 3339 date-time, as chrono writes it (`2024-06-21T11:55:48.896347269+00:00`) or as JS does (`…Z`).
const RFC3339 = /^\d{4}-\d{2}-\d{2}[Tt ]\d{2}:\d{2}:\d{2}(?:\.\d+)?(?:[Zz]|[+-]\d{2}:\d{2})$/;

/** The instant `text` names, or null when it is absent or not RFC 3339 (brs fields are user-editable). */
export function parseTimestamp(text: string | null | undefined): Date | null {
  if (text === null || text === undefined || !RFC3339.test(text)) return null;
  const ms = Date.parse(text);
  return Number.isNaN(ms) ? null : new Date(ms);
}

/** The form we write into `state_transition_timestamp`: RFC 3339 in UTC, which chrono parses. */
export function formatTimestamp(at: Date): string {
  return at.toISOString();
}

const UNIT_SECONDS: Readonly<Record<string, number>> = { d: 86_400, h: 3_600, m: 60, s: 1 };
const DURATION = /^(?:\d+[dhms])+$/;

/**
 * Seconds in a duration such as `720s`, `12m`, `1h30m` or `1d` (units d, h, m, s; whole numbers; each unit at most
 * once, largest first), the subset of Go/Karpenter durations that needs no explanation. Throws on anything else.
 */
export function parseDuration(text: string): number {
  const trimmed = text.trim();
  if (!DURATION.test(trimmed)) {
    throw new Error(`"${text}" is not a duration; write it like 90s, 12m, 1h30m or 1d`);
  }
  let seconds = 0;
  let lastRank = -1;
  for (const [, amount = "", unit = ""] of trimmed.matchAll(/(\d+)([dhms])/g)) {
    const rank = "dhms".indexOf(unit);
    if (rank <= lastRank)
      throw new Error(`"${text}" is not a duration: units must go from largest to smallest, once each`);
    lastRank = rank;
    seconds += Number(amount) * (UNIT_SECONDS[unit] ?? 0);
  }
  if (!Number.isSafeInteger(seconds)) throw new Error(`"${text}" is too long a duration`);
  return seconds;
}

/** `5400` → `1h30m`; the inverse of parseDuration for messages and status. */
export function formatDuration(totalSeconds: number): string {
  if (totalSeconds === 0) return "0s";
  let rest = Math.round(totalSeconds);
  let text = "";
  for (const [unit, size] of Object.entries(UNIT_SECONDS)) {
    const amount = Math.floor(rest / size);
    if (amount > 0) text += `${amount}${unit}`;
    rest -= amount * size;
  }
  return text;
}
