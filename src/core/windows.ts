// When new updates may start: brupop's schedule (a cron expression, windowed or one-shot) or explicit windows
// (a standard cron start, a duration and an IANA time zone; several allowed, open when any is open).
// Only starts are gated: nodes already updating finish outside a window.
import { Cron } from "croner";
import { cronIncludes, lastFireAtOrBefore, nextFire, type BrupopCron } from "./brupop-cron.ts";
import { formatTimestamp } from "../api/timestamps.ts";
import { formatDuration, parseDuration } from "./duration.ts";

/** An explicit window as written in the policy resource. */
export interface UpdateWindowSpec {
  /** Standard 5-field cron (minute hour day-of-month month day-of-week, 0 or 7 = Sunday) or @daily-style nickname. */
  schedule: string;
  /** How long each window stays open, e.g. `4h`, `90m`. */
  duration: string;
  /** IANA name, e.g. `Europe/Berlin`; UTC when omitted. */
  timeZone?: string;
}

export interface UpdateWindow {
  schedule: string;
  durationSeconds: number;
  timeZone: string;
  croner: Cron;
}

export type ScheduleSource = "default" | "env:SCHEDULER_CRON_EXPRESSION" | "env:UPDATE_WINDOW" | "policy";

export type UpdateSchedule =
  { kind: "cron"; cron: BrupopCron; source: ScheduleSource } | { kind: "windows"; windows: readonly UpdateWindow[] };

export interface GateStatus {
  open: boolean;
  /** `now` when open; otherwise the next time starts become possible (null: never again). */
  nextOpen: Date | null;
  /** Explicit windows only: the latest end among the windows open now (they may be extended by another). */
  openUntil: Date | null;
  /** One line for status and Events. */
  reason: string;
}

export class WindowError extends Error {
  override name = "WindowError";
}

/** Validates and compiles an explicit window; throws WindowError naming the bad part. */
export function parseUpdateWindow(spec: UpdateWindowSpec): UpdateWindow {
  const timeZone = spec.timeZone ?? "UTC";
  try {
    new Intl.DateTimeFormat("en-US", { timeZone });
  } catch {
    throw new WindowError(`window "${spec.schedule}": "${timeZone}" is not an IANA time zone (e.g. Europe/Berlin)`);
  }
  let durationSeconds: number;
  try {
    durationSeconds = parseDuration(spec.duration);
  } catch (error) {
    throw new WindowError(`window "${spec.schedule}": ${(error as Error).message}`);
  }
  if (durationSeconds <= 0) throw new WindowError(`window "${spec.schedule}": duration must be positive`);
  let croner: Cron;
  try {
    croner = new Cron(spec.schedule.trim(), { paused: true, timezone: timeZone, mode: "5-part" });
  } catch (error) {
    throw new WindowError(
      `window "${spec.schedule}": not a 5-field cron schedule (minute hour day-of-month month day-of-week): ` +
        (error as Error).message,
    );
  }
  return { schedule: spec.schedule, durationSeconds, timeZone, croner };
}

/** The open window containing `now`, as [start, end), or null. */
export function windowAt(window: UpdateWindow, now: Date): { start: Date; end: Date } | null {
  // The latest start is enough: any earlier start's window ends no later than the latest one's.
  const start = window.croner.previousRuns(1, new Date(now.getTime() + 1))[0];
  if (start === undefined) return null;
  const end = new Date(start.getTime() + window.durationSeconds * 1000);
  return now < end ? { start, end } : null;
}

export function nextWindowStart(window: UpdateWindow, now: Date): Date | null {
  return window.croner.nextRun(now);
}

function describe(window: UpdateWindow): string {
  return `"${window.schedule}" (${window.timeZone}) for ${formatDuration(window.durationSeconds)}`;
}

/**
 * Whether new updates may start at `now`.
 * - Windowed brupop schedule: open during every second the expression matches.
 * - One-shot brupop schedule: a fire time opens a session that lasts until the controller finds nothing left to
 *   start (it then sets `triggerConsumedAt`). brupop only noticed triggers while no node was updating; we do not
 *   miss one that fires mid-rollout.
 * - Explicit windows: open while any window is open.
 */
export function evaluateSchedule(schedule: UpdateSchedule, now: Date, triggerConsumedAt: Date = now): GateStatus {
  if (schedule.kind === "windows") return evaluateWindows(schedule.windows, now);
  const { cron } = schedule;
  if (cron.kind === "windowed") {
    if (cronIncludes(cron, now)) {
      return { open: true, nextOpen: now, openUntil: null, reason: `inside the window "${cron.expression}" (UTC)` };
    }
    const nextOpen = nextFire(cron, now);
    return {
      open: false,
      nextOpen,
      openUntil: null,
      reason: `outside the window "${cron.expression}" (UTC); ${opensAt(nextOpen)}`,
    };
  }
  const fired = lastFireAtOrBefore(cron, now);
  if (fired !== null && fired > triggerConsumedAt) {
    return {
      open: true,
      nextOpen: now,
      openUntil: null,
      reason: `triggered at ${formatTimestamp(fired)} by "${cron.expression}" (UTC); starting nodes until none is left`,
    };
  }
  const nextOpen = nextFire(cron, triggerConsumedAt > now ? triggerConsumedAt : now);
  return {
    open: false,
    nextOpen,
    openUntil: null,
    reason: `waiting for the next trigger of "${cron.expression}" (UTC); ${opensAt(nextOpen)}`,
  };
}

function opensAt(next: Date | null): string {
  return next === null ? "it never fires again" : `next at ${formatTimestamp(next)}`;
}

function evaluateWindows(windows: readonly UpdateWindow[], now: Date): GateStatus {
  let openUntil: Date | null = null;
  const open: UpdateWindow[] = [];
  for (const window of windows) {
    const current = windowAt(window, now);
    if (current === null) continue;
    open.push(window);
    if (openUntil === null || current.end > openUntil) openUntil = current.end;
  }
  if (open.length > 0) {
    return { open: true, nextOpen: now, openUntil, reason: `inside the window ${open.map(describe).join(", ")}` };
  }
  let nextOpen: Date | null = null;
  for (const window of windows) {
    const start = nextWindowStart(window, now);
    if (start !== null && (nextOpen === null || start < nextOpen)) nextOpen = start;
  }
  const which = windows.length === 1 && windows[0] !== undefined ? `the window ${describe(windows[0])}` : "all windows";
  return { open: false, nextOpen, openUntil: null, reason: `outside ${which}; ${opensAt(nextOpen)}` };
}
