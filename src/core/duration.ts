// Durations as they appear in configuration: `12m`, `1h30m`.

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
