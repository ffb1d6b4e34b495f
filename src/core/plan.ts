// The plan: which nodes would update, in what order and from when, projected from the controller's own selection
// (select.ts) without acting (docs/design/plan.md). Wave 1 is what selection grants now; each later wave is what it
// grants at the next instant anything changes: a node finishing (after an assumed duration), or a wait that carries
// its end (a window's next opening, a backoff's end, a minimum age reached, any reason with a Date in it). Nothing
// here decides who may start: selectNodesToStart does, on a projected copy of the fleet.
import { formatTimestamp, parseTimestamp } from "../api/timestamps.ts";
import { formatDuration } from "./duration.ts";
import { ANNOTATIONS, type AnnotationPatch, type FleetView, type ShadowView } from "./model.ts";
import { NO_HOOKS } from "./hooks.ts";
import { decideNextSpec } from "./next-spec.ts";
import type { FleetPolicy } from "./policy.ts";
import { NOT_STARTED, type NotStartedCode } from "./reasons.ts";
import { selectNodesToStart, type NotStartedReason } from "./select.ts";
import { standing } from "./standing.ts";

/** Assumed when the fleet has recorded no update yet (drain, download, reboot, health gates of a typical node). */
export const DEFAULT_UPDATE_SECONDS = 600;
/** The column the plan shows a node's place under when no topology budget names another label. */
export const ZONE_LABEL = "topology.kubernetes.io/zone";
/** Nothing is projected further than this: a plan beyond a year says more about the policy than about the fleet. */
const HORIZON_MS = 366 * 86_400_000;
/** More than the steps from StagedAndPerformedUpdate back to Idle (a bound on a loop over the controller's steps). */
const STEPS_TO_IDLE = 8;
/** A node still updating past its assumed duration is assumed to finish this soon. */
const OVERDUE_MS = 1_000;

export interface DurationEstimate {
  seconds: number;
  source: "given" | "fleet" | "default";
  /** Updates it is measured from (source "fleet"). */
  samples: number;
  description: string;
}

/**
 * What one node's update is assumed to take: `given` when the user says, else the median of the durations the fleet
 * recorded (each shadow's last successful update, ANNOTATIONS.lastUpdateSeconds), else DEFAULT_UPDATE_SECONDS.
 */
export function estimateUpdateDuration(shadows: readonly ShadowView[], given?: number | null): DurationEstimate {
  if (given !== undefined && given !== null) {
    return { seconds: given, source: "given", samples: 0, description: `${formatDuration(given)} per node (given)` };
  }
  const samples = shadows
    .map((s) => s.annotations?.[ANNOTATIONS.lastUpdateSeconds])
    .filter((v): v is string => v !== undefined && /^\d{1,9}$/.test(v))
    .map(Number)
    .sort((a, b) => a - b);
  if (samples.length === 0) {
    return {
      seconds: DEFAULT_UPDATE_SECONDS,
      source: "default",
      samples: 0,
      description: `${formatDuration(DEFAULT_UPDATE_SECONDS)} per node (assumed: no update of this fleet recorded yet)`,
    };
  }
  const middle = Math.floor(samples.length / 2);
  const median =
    samples.length % 2 === 1
      ? (samples[middle] ?? 0)
      : Math.round(((samples[middle - 1] ?? 0) + (samples[middle] ?? 0)) / 2);
  const seconds = Math.max(1, median);
  return {
    seconds,
    source: "fleet",
    samples: samples.length,
    description: `${formatDuration(seconds)} per node (the median of the last update of ${samples.length} node${samples.length === 1 ? "" : "s"})`,
  };
}

/** The time a wait ends, when its reason carries one (backoff `until`, window `nextOpen`, any Date field). */
export function waitEndsAt(reason: NotStartedReason): Date | null {
  let earliest: Date | null = null;
  for (const value of Object.values(reason) as unknown[]) {
    if (value instanceof Date && (earliest === null || value < earliest)) earliest = value;
  }
  return earliest;
}

export interface PlannedStart {
  wave: number;
  /** The earliest time the node starts. */
  at: Date;
  /** Whether `at` depends on the assumed update duration. */
  estimated: boolean;
  nodeName: string;
  shadowName: string;
  from: string;
  to: string;
  /** The node's value of Plan.zoneKey (null: it has none). */
  zone: string | null;
  /** Why it does not start before `at`: its reason at the instant before; null when it starts now. */
  waited: { code: NotStartedCode; message: string } | null;
  /** One line: what it waits for until then. */
  why: string;
}

export interface Wave {
  wave: number;
  at: Date;
  estimated: boolean;
  nodes: string[];
}

export interface InFlight {
  nodeName: string;
  /** The version it is installing (null: unknown, e.g. the agent is coming back after a reset). */
  to: string | null;
  /** When it is assumed to be done (estimated). */
  finishAt: Date;
}

export interface NotPlanned {
  nodeName: string;
  /** Null for a labelled node without a shadow. */
  shadowName: string | null;
  /** Its reason at the end of the projection: nothing known ends it (or not within the horizon). */
  reason: NotStartedReason;
}

export interface Plan {
  now: Date;
  duration: DurationEstimate;
  /** The label the zone column shows: the first topology budget's, else topology.kubernetes.io/zone. */
  zoneKey: string;
  starts: PlannedStart[];
  waves: Wave[];
  /** Nodes already updating; they finish whatever the plan says (a dry run does not stop them). */
  inFlight: InFlight[];
  /** Nodes that need something but are not projected to start (quarantined, paused, stuck, ...). */
  notPlanned: NotPlanned[];
  upToDate: number;
  /** When the last planned or in-flight node is assumed done; null when none is. */
  expectedEnd: Date | null;
  /** The projection stopped at its horizon or step bound with nodes still waiting on a time. */
  truncated: boolean;
}

export interface PlanOptions {
  /** Seconds one update takes; null or absent: estimateUpdateDuration's. */
  updateSeconds?: number | null;
}

/**
 * Projects the rollout from `now`. Assumes no node fails, no new version appears, nobody changes the policy, and
 * every update takes the estimated duration. The policy's dryRun is ignored: this is what would happen without it.
 */
export function buildPlan(fleet: FleetView, policy: FleetPolicy, now: Date, options: PlanOptions = {}): Plan {
  const duration = estimateUpdateDuration(fleet.shadows, options.updateSeconds);
  const durationMs = duration.seconds * 1000;
  const live: FleetPolicy = { ...policy, dryRun: false };
  const zoneKey = policy.topologyBudgets[0]?.topologyKey ?? ZONE_LABEL;
  const nodes = new Map(fleet.nodes.map((n) => [n.name, n]));
  const shadows = new Map(fleet.shadows.map((s) => [s.name, s]));

  // Nodes moving now finish after what is left of their assumed duration.
  const finishing = new Map<string, Date>();
  const inFlight: InFlight[] = [];
  for (const shadow of fleet.shadows) {
    const s = standing(shadow, nodes.get(shadow.nodeName), policy.stateTimeouts, now);
    if (s.kind !== "updating" && s.kind !== "returning") continue;
    const started =
      parseTimestamp(shadow.annotations?.[ANNOTATIONS.updateStarted]) ??
      parseTimestamp(shadow.spec.state_transition_timestamp);
    const assumed = started === undefined ? now.getTime() : started.getTime() + durationMs;
    const finishAt = new Date(Math.max(assumed, now.getTime() + OVERDUE_MS));
    finishing.set(shadow.name, finishAt);
    inFlight.push({
      nodeName: shadow.nodeName,
      to: s.kind === "updating" ? shadow.spec.version : null,
      finishAt,
    });
  }

  const starts: PlannedStart[] = [];
  const waves: Wave[] = [];
  const last = new Map<string, NotStartedReason>();
  let view: FleetView = fleet;
  let t = now;
  let estimated = false;
  let truncated = false;
  let finishedNow: string[] = [];
  const horizon = now.getTime() + HORIZON_MS;
  const maxSteps = 4 * fleet.shadows.length + 1_000;
  for (let step = 0; ; step++) {
    const selection = selectNodesToStart(view, live, t);
    if (selection.start.length > 0) {
      const wave = waves.length + 1;
      waves.push({ wave, at: t, estimated, nodes: selection.start.map((g) => g.nodeName) });
      for (const grant of selection.start) {
        const before = last.get(grant.nodeName) ?? null;
        starts.push({
          wave,
          at: t,
          estimated,
          nodeName: grant.nodeName,
          shadowName: grant.shadowName,
          from: grant.from,
          to: grant.to,
          zone: nodes.get(grant.nodeName)?.labels[zoneKey] ?? null,
          waited: before === null ? null : { code: before.code, message: before.message },
          why: describeWait(before, t, finishedNow),
        });
        const shadow = shadows.get(grant.shadowName);
        if (shadow === undefined) continue;
        shadows.set(grant.shadowName, {
          ...shadow,
          spec: grant.spec,
          annotations: patched(shadow.annotations, grant.annotations),
        });
        finishing.set(grant.shadowName, new Date(t.getTime() + durationMs));
        last.delete(grant.nodeName);
      }
    }
    for (const entry of selection.notStarted) last.set(entry.nodeName, entry.reason);

    // The next instant anything changes: a node finishing, or a wait that says when it ends.
    const next = firstAfter(t, [
      ...finishing.values(),
      selection.recheckAt,
      ...selection.notStarted.map((entry) => waitEndsAt(entry.reason)),
    ]);
    if (next === null) break;
    if (next.getTime() > horizon || step >= maxSteps) {
      truncated = true;
      break;
    }
    t = next;
    finishedNow = [];
    for (const [name, at] of finishing) {
      if (at > t) continue;
      const shadow = shadows.get(name);
      finishing.delete(name);
      if (shadow === undefined) continue;
      shadows.set(name, finished(shadow, live, t));
      finishedNow.push(shadow.nodeName);
      estimated = true;
    }
    view = {
      ...view,
      shadows: [...shadows.values()],
      ...(selection.sessionDrained ? { triggerConsumedAt: t } : {}),
    };
  }

  const planned = new Set(starts.map((s) => s.nodeName));
  const moving = new Set(inFlight.map((n) => n.nodeName));
  const notPlanned: NotPlanned[] = [];
  let upToDate = 0;
  for (const [nodeName, reason] of last) {
    if (planned.has(nodeName) || moving.has(nodeName)) continue;
    if (reason.code === "up-to-date") upToDate += 1;
    else notPlanned.push({ nodeName, shadowName: shadowOf(fleet, nodeName), reason });
  }
  notPlanned.sort((a, b) => (a.nodeName < b.nodeName ? -1 : a.nodeName > b.nodeName ? 1 : 0));

  const ends = [...inFlight.map((n) => n.finishAt.getTime()), ...starts.map((s) => s.at.getTime() + durationMs)];
  return {
    now,
    duration,
    zoneKey,
    starts,
    waves,
    inFlight,
    notPlanned,
    upToDate,
    expectedEnd: ends.length === 0 ? null : new Date(Math.max(...ends)),
    truncated,
  };
}

function shadowOf(fleet: FleetView, nodeName: string): string | null {
  return fleet.shadows.find((s) => s.nodeName === nodeName)?.name ?? null;
}

/** The earliest of `times` after `t`; null when none is. */
function firstAfter(t: Date, times: readonly (Date | null)[]): Date | null {
  let first: Date | null = null;
  for (const at of times) if (at !== null && at > t && (first === null || at < first)) first = at;
  return first;
}

function patched(annotations: ShadowView["annotations"], patch: AnnotationPatch): Record<string, string> {
  const merged = { ...annotations, ...patch };
  return Object.fromEntries(Object.entries(merged).filter((entry): entry is [string, string] => entry[1] !== null));
}

/**
 * The shadow as its update leaves it, by the controller's own steps (next-spec.ts): the agent reaches each state the
 * spec asks for, the health gates and hooks pass, and the controller's decision is applied, until the spec is back at Idle
 * (a finish records what a finish records; a rollback keeps its failure). Then the agent reports Idle.
 */
function finished(shadow: ShadowView, policy: FleetPolicy, at: Date): ShadowView {
  let current = shadow;
  for (let step = 0; step < STEPS_TO_IDLE && current.spec.state !== "Idle"; step++) {
    const status = current.status ?? null;
    if (status === null) break;
    const { spec } = current;
    const reached: ShadowView = {
      ...current,
      status: {
        ...status,
        current_state: spec.state,
        // From the reboot on, the host runs the version the spec installs.
        current_version:
          spec.state === "RebootedIntoUpdate" || spec.state === "MonitoringUpdate"
            ? (spec.version ?? status.current_version)
            : status.current_version,
      },
    };
    // The hooks pass, as the gates do (docs/design/hooks.md): a call due would stop the projection mid-update.
    const decision = decideNextSpec(reached, { ...policy, hooks: NO_HOOKS }, at, { kind: "passed", results: [] });
    if (decision.kind !== "advance") break;
    current = { ...reached, spec: decision.spec, annotations: patched(reached.annotations, decision.annotations) };
  }
  const status = current.status ?? null;
  if (status === null) return current;
  const success = current.spec.version === status.current_version && shadow.spec.state !== "Idle";
  return {
    ...current,
    status: { ...status, current_state: "Idle", crash_count: success ? 0 : status.crash_count },
  };
}

/** "budget full until bottlerocket-1, bottlerocket-4 finish (estimated)", "outside the update window until …". */
function describeWait(before: NotStartedReason | null, at: Date, finishedNow: readonly string[]): string {
  if (before === null) return "nothing holds it: the controller starts it on its next pass";
  const title = NOT_STARTED[before.code].title;
  const ends = waitEndsAt(before);
  if (ends !== null && ends.getTime() === at.getTime()) return `${title} until ${formatTimestamp(at)}`;
  if (finishedNow.length > 0) {
    const names =
      finishedNow.length <= 3
        ? finishedNow.join(", ")
        : `${finishedNow.slice(0, 3).join(", ")} and ${finishedNow.length - 3} more`;
    return `${title} until ${names} finish${finishedNow.length === 1 ? "es" : ""} (estimated)`;
  }
  return title;
}
