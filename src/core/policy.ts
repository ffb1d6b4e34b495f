// The fleet policy: brupop's environment variables (and a few of ours), overridden field by field by the optional
// policy resource, validated into one FleetPolicy or a list of errors that say what to fix and where.
import { TIMED_STATES } from "../api/state-machine.ts";
import { CronExpressionError, cronIncludes, legacyWindowExpression, nextFire, parseBrupopCron } from "./brupop-cron.ts";
import { parseBudget, type UpdateBudget } from "./budget.ts";
import { resolveDisruptorPolicy, type DisruptorPolicy, type DisruptorPolicySpec } from "./disruptors.ts";
import { parseDuration } from "./duration.ts";
import { DEFAULT_QUARANTINE_AFTER_FAILURES, type NodePolicy } from "./next-spec.ts";
import { DEFAULT_NODE_TIMEOUTS, type NodeTimeouts } from "./timeouts.ts";
import { DEFAULT_BACKOFF_UNIT_MS } from "./failures.ts";
import { parseFailureLimit, type FailureLimit } from "./halt.ts";
import { parseHealthGates, type HealthGatesSpec } from "./health-gates.ts";
import { parseHooks, type HooksSpec } from "./hooks.ts";
import { parseTopologyBudgets, type TopologyBudget, type TopologyBudgetSpec } from "./topology-budget.ts";
import { parseCanary, type CanaryPolicy, type CanarySpec } from "./canary.ts";
import { parseVersionPin } from "./version-pin.ts";
import {
  WindowError,
  nextWindowStart,
  parseUpdateWindow,
  windowAt,
  type ScheduleSource,
  type UpdateSchedule,
  type UpdateWindow,
  type UpdateWindowSpec,
} from "./windows.ts";

/** Environment variables the controller reads. The first four are brupop's; the rest are ours. */
export const ENV = {
  maxConcurrentUpdate: "MAX_CONCURRENT_UPDATE",
  schedulerCronExpression: "SCHEDULER_CRON_EXPRESSION",
  updateWindowStart: "UPDATE_WINDOW_START",
  updateWindowStop: "UPDATE_WINDOW_STOP",
  /** `true`/`false`: no new updates start while true. */
  updatesPaused: "UPDATES_PAUSED",
  /** `true`/`false`: whether a target lower than the running version may be installed. */
  allowDowngrade: "ALLOW_DOWNGRADE",
  /** Whole number; 0 never quarantines. */
  quarantineAfterFailures: "QUARANTINE_AFTER_FAILURES",
  /** e.g. `RebootedIntoUpdate=15m,MonitoringUpdate=10m`; unnamed states keep their defaults. */
  stateTimeouts: "STATE_TIMEOUTS",
  /** A duration (default `1m`, brupop's): after n failures a node waits 2^n of these before it is retried. */
  failureBackoffUnit: "FAILURE_BACKOFF_UNIT",
} as const;

/** FAILURE_BACKOFF_UNIT's bounds: a whole second at least (the cron and timers' grain), an hour at most. */
const MAX_BACKOFF_UNIT_SECONDS = 3_600;

/** brupop's default schedule: always open. */
export const DEFAULT_CRON_EXPRESSION = "* * * * * * *";

export type TimeoutState = keyof NodeTimeouts;
const TIMEOUT_STATES: readonly TimeoutState[] = [...TIMED_STATES, "Idle"];

/**
 * The spec of the policy resource (a namespaced singleton). Every field is optional and overrides the matching
 * environment variable; the CRD schema is to be derived from this shape.
 */
export interface UpdatePolicySpec extends DisruptorPolicySpec {
  /** Global pause: no new updates start; updates in flight finish. */
  paused?: boolean;
  /** Like MAX_CONCURRENT_UPDATE: a count, "unlimited", or a percentage of managed nodes such as "25%". */
  maxConcurrentUpdates?: number | string;
  /** Per value of a node label (a zone), on top of the fleet budget; every entry applies (topology-budget.ts). */
  topologyBudgets?: TopologyBudgetSpec[];
  /** Like SCHEDULER_CRON_EXPRESSION (brupop's 6/7-field cron, UTC). Not together with `windows`. */
  schedulerCronExpression?: string;
  /** Explicit windows; when non-empty they replace any cron schedule. */
  windows?: UpdateWindowSpec[];
  /** Per-state timeouts as durations (`12m`); unnamed states keep their defaults. */
  stateTimeouts?: Partial<Record<TimeoutState, string>>;
  /** Unacknowledged failures before a node is quarantined; 0 never quarantines. */
  quarantineAfterFailures?: number;
  allowDowngrade?: boolean;
  /** Halt when more nodes than this (a count or a percentage) fail in the current rollout (halt.ts); unset: never. */
  maxFailedNodes?: number | string;
  /** Checks after the reboot (health-gates.ts); unset: the built-in gates with the default timeout. */
  healthGates?: HealthGatesSpec;
  /** Publish the plan (src/core/plan.ts) instead of starting nodes; updates in flight finish. Default false. */
  dryRun?: boolean;
  /** Webhooks before the drain and after the gates (hooks.ts); unset: none. */
  hooks?: HooksSpec;
  // ---- Canaries, soak and the version pin (canary.ts, version-pin.ts) ----
  /** Nodes that update first; the others wait until they ran the version healthy for the soak. */
  canary?: CanarySpec;
  /** No node is started towards a version above this one. */
  maxVersion?: string;
}

export type PolicySource = "default" | "env" | "policy";

export interface FleetPolicy extends NodePolicy {
  budget: UpdateBudget;
  /** Policy resource only; empty when none. */
  topologyBudgets: readonly TopologyBudget[];
  /** Coordination with Karpenter and cluster-autoscaler (policy resource only). */
  disruptors: DisruptorPolicy;
  schedule: UpdateSchedule;
  paused: boolean;
  /** Policy resource only; null: never halt. */
  maxFailedNodes: FailureLimit | null;
  /** Policy resource only: nodes that would start are held, and the controller publishes the plan. */
  dryRun: boolean;
  // ---- Canaries, soak and the version pin (policy resource only) ----
  /** null: no canary phase. */
  canary: CanaryPolicy | null;
  /** null: no pin. */
  maxVersion: string | null;
  /** Where each setting came from, for status and `brupop explain`. */
  sources: Readonly<
    Record<"budget" | "schedule" | "paused" | "stateTimeouts" | "quarantine" | "downgrade", PolicySource>
  >;
}

export type PolicyResolution =
  { ok: true; policy: FleetPolicy; warnings: string[] } | { ok: false; errors: string[]; warnings: string[] };

export type ControllerEnv = Readonly<Record<string, string | undefined>>;

const SPEC_FIELDS: readonly string[] = [
  "paused",
  "maxConcurrentUpdates",
  "topologyBudgets",
  "schedulerCronExpression",
  "windows",
  "stateTimeouts",
  "quarantineAfterFailures",
  "allowDowngrade",
  "maxFailedNodes",
  "annotateDoNotDisrupt",
  "minNodeAge",
  "healthGates",
  "dryRun",
  "hooks",
  "canary",
  "maxVersion",
];

/** An environment value, with blank treated as unset (templates often render unset values as ""). */
function envValue(env: ControllerEnv, name: string): string | undefined {
  const value = env[name];
  return value === undefined || value.trim() === "" ? undefined : value.trim();
}

function message(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}

function parseBoolean(text: string): boolean | null {
  return /^true$/i.test(text) ? true : /^false$/i.test(text) ? false : null;
}

/**
 * Resolves the fleet policy. `now` is only used to reject schedules that can never open again.
 * Environment values that the resource overrides are not read, so a stale one cannot block a fix made in the resource.
 */
export function resolveFleetPolicy(
  env: ControllerEnv,
  spec: UpdatePolicySpec | null | undefined,
  now: Date,
): PolicyResolution {
  const errors: string[] = [];
  const warnings: string[] = [];
  const resource: UpdatePolicySpec = spec ?? {};

  for (const key of Object.keys(resource)) {
    if (!SPEC_FIELDS.includes(key)) warnings.push(`policy spec.${key} is not a known field and is ignored`);
  }

  // Budget.
  let budget: UpdateBudget = { kind: "count", max: 1 };
  let budgetSource: PolicySource = "default";
  const fromPolicy: unknown = resource.maxConcurrentUpdates;
  const fromEnv = envValue(env, ENV.maxConcurrentUpdate);
  if (fromPolicy !== undefined || fromEnv !== undefined) {
    budgetSource = fromPolicy !== undefined ? "policy" : "env";
    const where = fromPolicy !== undefined ? "policy spec.maxConcurrentUpdates" : ENV.maxConcurrentUpdate;
    const raw = fromPolicy ?? fromEnv;
    if (typeof raw !== "number" && typeof raw !== "string") {
      errors.push(`${where} must be a number or a string`);
    } else {
      try {
        budget = parseBudget(raw);
      } catch (error) {
        errors.push(`${where}: ${message(error)}`);
      }
    }
  }

  const topologyBudgets = parseTopologyBudgets(resource.topologyBudgets, "policy spec.topologyBudgets", errors);
  const maxFailedNodes = parseFailureLimit(resource.maxFailedNodes, "policy spec.maxFailedNodes", errors);
  const disruptors = resolveDisruptorPolicy(resource, errors);
  const canary = parseCanary(resource.canary, "policy spec.canary", errors);
  const maxVersion = parseVersionPin(resource.maxVersion, "policy spec.maxVersion", errors);

  // Schedule.
  const scheduled = resolveSchedule(env, resource, now, errors, warnings);

  const paused = resolveFlag(resource.paused, "paused", env, ENV.updatesPaused, errors);
  const downgrade = resolveFlag(resource.allowDowngrade, "allowDowngrade", env, ENV.allowDowngrade, errors);

  // Quarantine.
  let quarantineAfterFailures: number | null = DEFAULT_QUARANTINE_AFTER_FAILURES;
  let quarantineSource: PolicySource = "default";
  const envQuarantine = envValue(env, ENV.quarantineAfterFailures);
  if (resource.quarantineAfterFailures !== undefined || envQuarantine !== undefined) {
    const fromPolicy = resource.quarantineAfterFailures !== undefined;
    quarantineSource = fromPolicy ? "policy" : "env";
    const raw: unknown = fromPolicy ? resource.quarantineAfterFailures : envQuarantine;
    const n = typeof raw === "number" ? raw : typeof raw === "string" && /^\d+$/.test(raw) ? Number(raw) : NaN;
    if (!Number.isSafeInteger(n) || n < 0) {
      const where = fromPolicy ? "policy spec.quarantineAfterFailures" : ENV.quarantineAfterFailures;
      errors.push(`${where}: ${JSON.stringify(raw)} is not a whole number ≥ 0 (0 never quarantines)`);
    } else {
      quarantineAfterFailures = n === 0 ? null : n;
    }
  }

  // Timeouts.
  const timeouts = resolveTimeouts(env, resource, errors);
  const backoffUnitMs = resolveBackoffUnit(env, errors);
  const healthGates = parseHealthGates(resource.healthGates, "policy spec.healthGates", errors);
  const dryRun = resolveDryRun(resource.dryRun, errors);
  const hooks = parseHooks(resource.hooks, "policy spec.hooks", errors);

  if (errors.length > 0) return { ok: false, errors, warnings };
  return {
    ok: true,
    warnings,
    policy: {
      budget,
      topologyBudgets,
      disruptors,
      schedule: scheduled.schedule,
      paused: paused.value,
      maxFailedNodes,
      dryRun,
      canary,
      maxVersion,
      stateTimeouts: timeouts.timeouts,
      quarantineAfterFailures,
      allowDowngrade: downgrade.value,
      backoffUnitMs,
      healthGates,
      hooks,
      sources: {
        budget: budgetSource,
        schedule: scheduled.source,
        paused: paused.source,
        stateTimeouts: timeouts.source,
        quarantine: quarantineSource,
        downgrade: downgrade.source,
      },
    },
  };
}

/** Policy spec.dryRun (no environment variable: brupop has no such setting). */
function resolveDryRun(raw: unknown, errors: string[]): boolean {
  if (raw === undefined) return false;
  if (typeof raw === "boolean") return raw;
  errors.push("policy spec.dryRun must be true or false");
  return false;
}

/** FAILURE_BACKOFF_UNIT in milliseconds (environment only: it is an operator's setting, not a fleet policy). */
function resolveBackoffUnit(env: ControllerEnv, errors: string[]): number {
  const text = envValue(env, ENV.failureBackoffUnit);
  if (text === undefined) return DEFAULT_BACKOFF_UNIT_MS;
  try {
    const seconds = parseDuration(text);
    if (seconds >= 1 && seconds <= MAX_BACKOFF_UNIT_SECONDS) return seconds * 1000;
    errors.push(`${ENV.failureBackoffUnit}: "${text}" must be from 1s to 1h`);
  } catch (error) {
    errors.push(`${ENV.failureBackoffUnit}: ${message(error)}`);
  }
  return DEFAULT_BACKOFF_UNIT_MS;
}

/** A boolean setting: the resource's value, else the environment's (`true`/`false`, any case), else false. */
function resolveFlag(
  fromPolicy: unknown,
  field: string,
  env: ControllerEnv,
  envName: string,
  errors: string[],
): { value: boolean; source: PolicySource } {
  if (fromPolicy !== undefined) {
    if (typeof fromPolicy !== "boolean") errors.push(`policy spec.${field} must be true or false`);
    return { value: fromPolicy === true, source: "policy" };
  }
  const text = envValue(env, envName);
  if (text === undefined) return { value: false, source: "default" };
  const value = parseBoolean(text);
  if (value === null) errors.push(`${envName}: "${text}" is not true or false`);
  return { value: value === true, source: "env" };
}

interface CronChoice {
  expression: string;
  origin: ScheduleSource;
  /** Where the expression came from, for messages. */
  where: string;
}

function resolveSchedule(
  env: ControllerEnv,
  resource: UpdatePolicySpec,
  now: Date,
  errors: string[],
  warnings: string[],
): { schedule: UpdateSchedule; source: PolicySource } {
  const fallback: UpdateSchedule = { kind: "cron", cron: parseBrupopCron(DEFAULT_CRON_EXPRESSION), source: "default" };
  const windowSpecs: unknown = resource.windows;
  if (windowSpecs !== undefined && !Array.isArray(windowSpecs)) {
    errors.push("policy spec.windows must be a list");
    return { schedule: fallback, source: "policy" };
  }
  if (Array.isArray(windowSpecs) && windowSpecs.length > 0) {
    if (resource.schedulerCronExpression !== undefined) {
      errors.push("policy spec.windows and spec.schedulerCronExpression are both set; use one of them");
    }
    return { schedule: { kind: "windows", windows: resolveWindows(windowSpecs, now, errors) }, source: "policy" };
  }

  const choice = chooseCronExpression(env, resource, errors, warnings);
  if (choice === null) return { schedule: fallback, source: "default" };
  const source: PolicySource = choice.origin === "policy" ? "policy" : "env";
  if (choice.expression === "") return { schedule: fallback, source }; // already reported
  try {
    const cron = parseBrupopCron(choice.expression);
    if (!cronIncludes(cron, now) && nextFire(cron, now) === null) {
      errors.push(`${choice.where}: "${choice.expression}" never fires again`);
    }
    return { schedule: { kind: "cron", cron, source: choice.origin }, source };
  } catch (error) {
    if (!(error instanceof CronExpressionError)) throw error;
    errors.push(`${choice.where}: ${error.message}`);
    return { schedule: fallback, source };
  }
}

function resolveWindows(specs: readonly unknown[], now: Date, errors: string[]): UpdateWindow[] {
  const windows: UpdateWindow[] = [];
  specs.forEach((spec, i) => {
    const where = `policy spec.windows[${i}]`;
    if (!isWindowSpec(spec)) {
      errors.push(`${where} needs a schedule and a duration (strings) and optionally a timeZone (string)`);
      return;
    }
    try {
      const window = parseUpdateWindow(spec);
      if (windowAt(window, now) === null && nextWindowStart(window, now) === null) {
        errors.push(`${where}: "${spec.schedule}" never opens again`);
      }
      windows.push(window);
    } catch (error) {
      if (!(error instanceof WindowError)) throw error;
      errors.push(`${where}: ${error.message}`);
    }
  });
  return windows;
}

function isWindowSpec(value: unknown): value is UpdateWindowSpec {
  if (typeof value !== "object" || value === null) return false;
  const spec = value as Record<string, unknown>;
  return (
    typeof spec.schedule === "string" &&
    typeof spec.duration === "string" &&
    (spec.timeZone === undefined || typeof spec.timeZone === "string")
  );
}

/**
 * brupop's precedence, with the resource on top: spec.schedulerCronExpression, then SCHEDULER_CRON_EXPRESSION
 * (warning if the legacy pair is also set), then UPDATE_WINDOW_START/STOP. Null: nothing set (default schedule).
 * An empty expression means an error was already recorded.
 */
function chooseCronExpression(
  env: ControllerEnv,
  resource: UpdatePolicySpec,
  errors: string[],
  warnings: string[],
): CronChoice | null {
  const fromPolicy: unknown = resource.schedulerCronExpression;
  if (fromPolicy !== undefined) {
    const where = "policy spec.schedulerCronExpression";
    if (typeof fromPolicy === "string") return { expression: fromPolicy, origin: "policy", where };
    errors.push(`${where} must be a string`);
    return { expression: "", origin: "policy", where };
  }
  const cronEnv = envValue(env, ENV.schedulerCronExpression);
  const start = envValue(env, ENV.updateWindowStart);
  const stop = envValue(env, ENV.updateWindowStop);
  const legacy = `${ENV.updateWindowStart}/${ENV.updateWindowStop}`;
  // brupop rejects half a legacy window even when a cron expression is set.
  if ((start === undefined) !== (stop === undefined)) {
    const missing = start === undefined ? ENV.updateWindowStart : ENV.updateWindowStop;
    errors.push(`${missing} is missing; set both ${ENV.updateWindowStart} and ${ENV.updateWindowStop}, or neither`);
    return { expression: "", origin: "env:UPDATE_WINDOW", where: legacy };
  }
  if (cronEnv !== undefined) {
    if (start !== undefined) {
      warnings.push(`${ENV.schedulerCronExpression} and ${legacy} are both set; using ${ENV.schedulerCronExpression}`);
    }
    return { expression: cronEnv, origin: "env:SCHEDULER_CRON_EXPRESSION", where: ENV.schedulerCronExpression };
  }
  if (start === undefined || stop === undefined) return null;
  try {
    const expression = legacyWindowExpression(start, stop);
    warnings.push(
      `${legacy} are deprecated; they mean ${ENV.schedulerCronExpression}="${expression}" (whole hours, stop hour included)`,
    );
    return { expression, origin: "env:UPDATE_WINDOW", where: legacy };
  } catch (error) {
    if (!(error instanceof CronExpressionError)) throw error;
    errors.push(error.message);
    return { expression: "", origin: "env:UPDATE_WINDOW", where: legacy };
  }
}

function resolveTimeouts(
  env: ControllerEnv,
  resource: UpdatePolicySpec,
  errors: string[],
): { timeouts: NodeTimeouts; source: PolicySource } {
  const fromPolicy: unknown = resource.stateTimeouts;
  const envTimeouts = envValue(env, ENV.stateTimeouts);
  if (fromPolicy !== undefined) {
    if (typeof fromPolicy !== "object" || fromPolicy === null || Array.isArray(fromPolicy)) {
      errors.push("policy spec.stateTimeouts must be a map of state to duration");
      return { timeouts: DEFAULT_NODE_TIMEOUTS, source: "policy" };
    }
    const entries = Object.entries(fromPolicy as Record<string, unknown>);
    return { timeouts: applyTimeouts(entries, "policy spec.stateTimeouts", errors), source: "policy" };
  }
  if (envTimeouts === undefined) return { timeouts: DEFAULT_NODE_TIMEOUTS, source: "default" };
  const entries: [string, unknown][] = [];
  for (const item of envTimeouts.split(",")) {
    const [state = "", value, ...rest] = item.split("=");
    if (value === undefined || rest.length > 0) errors.push(`${ENV.stateTimeouts}: "${item}" is not State=duration`);
    else entries.push([state.trim(), value.trim()]);
  }
  return { timeouts: applyTimeouts(entries, ENV.stateTimeouts, errors), source: "env" };
}

function applyTimeouts(entries: readonly [string, unknown][], where: string, errors: string[]): NodeTimeouts {
  const timeouts: Record<TimeoutState, number> = { ...DEFAULT_NODE_TIMEOUTS };
  for (const [state, value] of entries) {
    if (!isTimeoutState(state)) {
      errors.push(`${where}: "${state}" is not one of ${TIMEOUT_STATES.join(", ")}`);
      continue;
    }
    if (typeof value !== "string") {
      errors.push(`${where}.${state}: ${JSON.stringify(value)} is not a duration such as "12m"`);
      continue;
    }
    try {
      const seconds = parseDuration(value);
      // Every wait must be bounded, but a zero timeout would reset every node as soon as it starts.
      if (seconds <= 0) errors.push(`${where}.${state}: must be longer than 0s`);
      else timeouts[state] = seconds;
    } catch (error) {
      errors.push(`${where}.${state}: ${message(error)}`);
    }
  }
  return timeouts;
}

function isTimeoutState(value: string): value is TimeoutState {
  return (TIMEOUT_STATES as readonly string[]).includes(value);
}
