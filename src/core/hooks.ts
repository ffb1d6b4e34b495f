// Pre-drain and post-reboot hooks (docs/design/hooks.md): HTTP webhooks the controller calls before it asks a node to
// drain, and after the node's health gates passed on the new version. Pure: what the hooks are (from the policy),
// which call is due, what an answer means, and the record of the calls kept on the shadow (one annotation), from
// which every decision is made again, so a controller that restarts mid-hook calls again (at least once) and never
// skips a blocking hook. The controller makes the calls (src/controller/hook-caller.ts).
import { formatTimestamp, parseTimestamp } from "../api/timestamps.ts";
import { MAX_HOOKS_PER_PHASE } from "../api/update-policy-names.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { ANNOTATIONS, type AnnotationPatch, type ShadowView } from "./model.ts";

export type HookPhase = "preDrain" | "postReboot";
export const HOOK_PHASES: readonly HookPhase[] = ["preDrain", "postReboot"];
export type HookMode = "Blocking" | "Advisory";

/** One call's bound by default, and at most (a call holds a controller worker while it lasts). */
export const DEFAULT_HOOK_TIMEOUT_SECONDS = 10;
export const MAX_HOOK_TIMEOUT_SECONDS = 60;
/** Failed calls (an error, a timeout, a non-2xx answer) before the hook fails. */
export const DEFAULT_HOOK_ATTEMPTS = 3;
export const MAX_HOOK_ATTEMPTS = 10;
/** How long "not yet" answers may hold a node, counted from the hook's first call. */
export const DEFAULT_HOOK_MAX_WAIT_SECONDS = 600;
export const MAX_HOOK_MAX_WAIT_SECONDS = 3_600;
/** Hooks per phase: each leaves a line on the shadow, which must stay small (src/apiserver/limits.ts). */
/** A failed call is tried again after 5 s, 10 s, 20 s, … at most a minute. */
const RETRY_BASE_SECONDS = 5;
const RETRY_MAX_SECONDS = 60;
/** A "not yet" answer's Retry-After is held to this range. */
const NOT_YET_MIN_SECONDS = 1;
const NOT_YET_MAX_SECONDS = 300;
/** Characters of an answer kept on the shadow (the Event has more). */
const RECORD_MESSAGE_CHARS = 48;

export interface Hook {
  readonly name: string;
  readonly url: string;
  readonly mode: HookMode;
  readonly timeoutSeconds: number;
  readonly attempts: number;
  readonly maxWaitSeconds: number;
  /** PEM certificates to trust for an https URL instead of the system's; null: the system's. */
  readonly caBundle: string | null;
}

export interface Hooks {
  readonly preDrain: readonly Hook[];
  readonly postReboot: readonly Hook[];
}

export const NO_HOOKS: Hooks = Object.freeze({ preDrain: [], postReboot: [] });

// ---- The policy's `hooks`, as written ----

export interface HookSpec {
  name: string;
  url: string;
  mode?: HookMode;
  timeout?: string;
  attempts?: number;
  maxWait?: string;
  /** Base64 of PEM certificates, as a Kubernetes webhook's clientConfig.caBundle. */
  caBundle?: string;
}

export interface HooksSpec {
  preDrain?: HookSpec[];
  postReboot?: HookSpec[];
}

type Raw = Record<string, unknown>;
const isObject = (value: unknown): value is Raw => typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * The policy's `hooks` (an unknown value: the API server's schema is checked again here, for a CRD installed before
 * the field existed). Errors name the field.
 */
export function parseHooks(raw: unknown, where: string, errors: string[]): Hooks {
  if (raw === undefined || raw === null) return NO_HOOKS;
  if (!isObject(raw)) {
    errors.push(`${where} must be an object with preDrain and/or postReboot`);
    return NO_HOOKS;
  }
  const phase = (key: HookPhase): Hook[] => {
    const list = raw[key];
    if (list === undefined) return [];
    if (!Array.isArray(list)) {
      errors.push(`${where}.${key} must be a list`);
      return [];
    }
    if (list.length > MAX_HOOKS_PER_PHASE) errors.push(`${where}.${key}: at most ${MAX_HOOKS_PER_PHASE} hooks`);
    const hooks: Hook[] = [];
    (list as unknown[]).forEach((entry, i) => {
      const hook = parseHook(entry, `${where}.${key}[${i}]`, errors);
      if (hook === null) return;
      if (hooks.some((h) => h.name === hook.name)) {
        errors.push(`${where}.${key}[${i}].name: "${hook.name}" is taken; give each hook its own name`);
        return;
      }
      hooks.push(hook);
    });
    return hooks;
  };
  return { preDrain: phase("preDrain"), postReboot: phase("postReboot") };
}

function parseHook(raw: unknown, where: string, errors: string[]): Hook | null {
  if (!isObject(raw)) {
    errors.push(`${where} must be an object with a name and a url`);
    return null;
  }
  const before = errors.length;
  const { name, url, mode, attempts, caBundle } = raw;
  if (typeof name !== "string" || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 63) {
    errors.push(`${where}.name must be a DNS label (lower-case letters, digits and '-', at most 63)`);
  }
  if (typeof url !== "string" || !isHttpUrl(url)) errors.push(`${where}.url must be an http:// or https:// URL`);
  if (mode !== undefined && mode !== "Blocking" && mode !== "Advisory") {
    errors.push(`${where}.mode must be Blocking or Advisory`);
  }
  const timeout = boundedDuration(raw.timeout, `${where}.timeout`, 1, MAX_HOOK_TIMEOUT_SECONDS, errors);
  const maxWait = boundedDuration(raw.maxWait, `${where}.maxWait`, 0, MAX_HOOK_MAX_WAIT_SECONDS, errors);
  if (
    attempts !== undefined &&
    (typeof attempts !== "number" || !Number.isSafeInteger(attempts) || attempts < 1 || attempts > MAX_HOOK_ATTEMPTS)
  ) {
    errors.push(`${where}.attempts must be a whole number from 1 to ${MAX_HOOK_ATTEMPTS}`);
  }
  let pem: string | null = null;
  if (caBundle !== undefined) {
    pem = typeof caBundle === "string" ? decodeCaBundle(caBundle) : null;
    if (pem === null) errors.push(`${where}.caBundle must be base64 of PEM certificates`);
  }
  if (errors.length > before || typeof name !== "string" || typeof url !== "string") return null;
  return {
    name,
    url,
    mode: mode === "Advisory" ? "Advisory" : "Blocking",
    timeoutSeconds: timeout ?? DEFAULT_HOOK_TIMEOUT_SECONDS,
    attempts: typeof attempts === "number" ? attempts : DEFAULT_HOOK_ATTEMPTS,
    maxWaitSeconds: maxWait ?? DEFAULT_HOOK_MAX_WAIT_SECONDS,
    caBundle: pem,
  };
}

function isHttpUrl(text: string): boolean {
  if (!/^https?:\/\/\S+$/.test(text)) return false;
  try {
    return new URL(text).hostname !== "";
  } catch {
    return false;
  }
}

function decodeCaBundle(text: string): string | null {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(text.trim())) return null;
  let pem: string;
  try {
    pem = atob(text.trim());
  } catch {
    return null;
  }
  return pem.includes("-----BEGIN CERTIFICATE-----") ? pem : null;
}

function boundedDuration(raw: unknown, where: string, min: number, max: number, errors: string[]): number | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== "string") {
    errors.push(`${where}: ${JSON.stringify(raw)} is not a duration such as "10s"`);
    return undefined;
  }
  try {
    const seconds = parseDuration(raw);
    if (seconds >= min && seconds <= max) return seconds;
    errors.push(`${where}: must be from ${formatDuration(min)} to ${formatDuration(max)}`);
  } catch (error) {
    errors.push(`${where}: ${error instanceof Error ? error.message : String(error)}`);
  }
  return undefined;
}

// ---- The record on the shadow ----

/**
 * A hook's calls in one phase of one attempt. `passed` and `failed` are final; `retrying` (a call failed, attempts
 * are left) and `not-yet` (the receiver asked to be called again) wait for `next`.
 */
export type HookState = "passed" | "failed" | "retrying" | "not-yet";

export interface HookEntry {
  state: HookState;
  /** Calls made. */
  calls: number;
  /** Calls that failed (an error, a timeout, a non-2xx answer other than "not yet"). */
  failures: number;
  /** The last call. */
  at: Date;
  /** The first call (maxWait counts from it); kept while the hook waits. */
  first: Date | null;
  /** When the next call is due (retrying, not-yet). */
  next: Date | null;
  /** The last answer, short (not kept for a pass). */
  message: string | null;
}

/** The hooks of one phase of one update attempt: `since` is the spec timestamp of the state the phase runs in. */
export interface PhaseRecord {
  since: string;
  version: string;
  hooks: Record<string, HookEntry>;
}

export type HooksRecord = Partial<Record<HookPhase, PhaseRecord>>;

/**
 * The record in the shadow's hooks annotation. User-editable: what cannot be read is left out, and a hook whose
 * entry is missing is called (again): at least once, never skipped.
 */
export function readHooksRecord(shadow: ShadowView): HooksRecord {
  const text = shadow.annotations?.[ANNOTATIONS.hooks];
  if (text === undefined) return {};
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    return {};
  }
  if (!isObject(raw)) return {};
  const record: HooksRecord = {};
  for (const phase of HOOK_PHASES) {
    const p = raw[phase];
    if (!isObject(p) || typeof p.since !== "string" || typeof p.version !== "string" || !isObject(p.hooks)) continue;
    const hooks: Record<string, HookEntry> = {};
    for (const [name, e] of Object.entries(p.hooks)) {
      const entry = readEntry(e);
      if (entry !== null) hooks[name] = entry;
    }
    record[phase] = { since: p.since, version: p.version, hooks };
  }
  return record;
}

const STATES: readonly HookState[] = ["passed", "failed", "retrying", "not-yet"];

function readEntry(e: unknown): HookEntry | null {
  if (!isObject(e) || typeof e.state !== "string" || !(STATES as readonly string[]).includes(e.state)) return null;
  const count = (v: unknown) => (typeof v === "number" && Number.isSafeInteger(v) && v >= 0 ? v : 0);
  const time = (v: unknown) => (typeof v === "string" ? (parseTimestamp(v) ?? null) : null);
  const at = time(e.at);
  if (at === null) return null;
  const state = e.state as HookState;
  const next = time(e.next);
  // A waiting entry without its next call is called now.
  return {
    state,
    calls: count(e.calls),
    failures: count(e.failures),
    at,
    first: time(e.first),
    next: next ?? (state === "retrying" || state === "not-yet" ? at : null),
    message: typeof e.message === "string" ? e.message : null,
  };
}

/**
 * What a finished update does to the record: removes it when every hook passed (the finish's reason says so, and the
 * Events), keeping a failed advisory hook's for `brupop explain`. Shadows are listed 5,000 at a time through one
 * conversion review (src/apiserver/limits.ts): a fleet after a rollout carries no record of hooks that went well.
 */
export function recordAfterFinish(shadow: ShadowView): AnnotationPatch {
  if (shadow.annotations?.[ANNOTATIONS.hooks] === undefined) return {};
  const record = readHooksRecord(shadow);
  const entries = HOOK_PHASES.flatMap((phase) => Object.values(record[phase]?.hooks ?? {}));
  return entries.every((e) => e.state === "passed") ? { [ANNOTATIONS.hooks]: null } : {};
}

/** The annotation's value: compact JSON, only the fields that say something. */
export function formatHooksRecord(record: HooksRecord): string {
  const out: Record<string, unknown> = {};
  for (const phase of HOOK_PHASES) {
    const p = record[phase];
    if (p === undefined) continue;
    const hooks: Record<string, unknown> = {};
    for (const [name, e] of Object.entries(p.hooks)) {
      const waiting = e.state === "retrying" || e.state === "not-yet";
      hooks[name] = {
        state: e.state,
        calls: e.calls,
        ...(e.failures > 0 ? { failures: e.failures } : {}),
        at: formatTimestamp(e.at),
        ...(waiting && e.first !== null ? { first: formatTimestamp(e.first) } : {}),
        ...(waiting && e.next !== null ? { next: formatTimestamp(e.next) } : {}),
        ...(e.state !== "passed" && e.message !== null ? { message: e.message } : {}),
      };
    }
    out[phase] = { since: p.since, version: p.version, hooks };
  }
  return JSON.stringify(out);
}

// ---- Which call is due ----

/** What the receiver gets: one JSON object per call (docs/design/hooks.md#the-request). */
export interface HookRequest {
  apiVersion: "brupop.bottlerocket.aws/v1alpha1";
  kind: "UpdateHook";
  phase: HookPhase;
  hook: string;
  node: string;
  shadow: { namespace: string; name: string };
  /** The version the node ran when the update started; null when not known (an update started by brupop). */
  fromVersion: string | null;
  toVersion: string;
  /** The update is a rollback after a failed health gate or post-reboot hook. */
  rollback: boolean;
  /** 1 for the first call of this hook in this phase; a retry after a controller crash repeats a number. */
  attempt: number;
  /** The same for every call of this hook in this phase of this update attempt, retries and restarts included. */
  idempotencyKey: string;
}

export interface HookCall {
  phase: HookPhase;
  hook: Hook;
  request: Omit<HookRequest, "shadow"> & { shadow: { name: string } };
}

export type HookVerdict =
  | { kind: "call"; call: HookCall; reason: string }
  | { kind: "waiting"; recheckAt: Date; reason: string }
  /** Every hook passed or, advisory, failed (`advisoryFailed` names them). */
  | { kind: "done"; advisoryFailed: readonly string[]; reason: string }
  | { kind: "failed"; hook: string; message: string; reason: string };

export interface PhaseContext {
  phase: HookPhase;
  /** spec.state_transition_timestamp as written: the phase of this attempt. */
  since: string;
  /** spec.version. */
  version: string;
}

/** The phase's own record: one of an earlier phase or attempt (another since or version) counts for nothing. */
export function phaseRecord(record: HooksRecord, ctx: PhaseContext): PhaseRecord {
  const p = record[ctx.phase];
  return p !== undefined && p.since === ctx.since && p.version === ctx.version
    ? p
    : { since: ctx.since, version: ctx.version, hooks: {} };
}

export function idempotencyKey(shadowName: string, ctx: PhaseContext, hook: string): string {
  return `${shadowName}/${ctx.phase}/${ctx.version}/${ctx.since}/${hook}`;
}

const PHASE_WORDS: Readonly<Record<HookPhase, string>> = { preDrain: "pre-drain", postReboot: "post-reboot" };

export function phaseWords(phase: HookPhase): string {
  return PHASE_WORDS[phase];
}

/**
 * The hooks in order: each is called once the one before it passed (or, advisory, failed). The first blocking hook
 * that failed fails the phase.
 */
export function hookVerdict(hooks: readonly Hook[], shadow: ShadowView, ctx: PhaseContext, now: Date): HookVerdict {
  const record = phaseRecord(readHooksRecord(shadow), ctx);
  const words = phaseWords(ctx.phase);
  const advisoryFailed: string[] = [];
  for (const hook of hooks) {
    const entry = record.hooks[hook.name];
    if (entry?.state === "passed") continue;
    if (entry?.state === "failed") {
      if (hook.mode === "Advisory") {
        advisoryFailed.push(hook.name);
        continue;
      }
      const message = entry.message ?? "?";
      return { kind: "failed", hook: hook.name, message, reason: `${words} hook ${hook.name} failed: ${message}` };
    }
    if (entry === undefined || entry.next === null || now >= entry.next) {
      const attempt = (entry?.calls ?? 0) + 1;
      return {
        kind: "call",
        call: { phase: ctx.phase, hook, request: request(shadow, ctx, hook.name, attempt) },
        reason: `calling the ${words} hook ${hook.name} (call ${attempt})`,
      };
    }
    const why = entry.state === "not-yet" ? "it answered not yet" : `call ${entry.calls} failed`;
    return {
      kind: "waiting",
      recheckAt: entry.next,
      reason: `${words} hook ${hook.name}: ${why} (${entry.message ?? "?"}); calling again at ${formatTimestamp(entry.next)}`,
    };
  }
  const advisory = advisoryFailed.length > 0 ? ` (advisory, failed: ${advisoryFailed.join(", ")})` : "";
  return { kind: "done", advisoryFailed, reason: `${words} hooks done${advisory}` };
}

function request(shadow: ShadowView, ctx: PhaseContext, hook: string, attempt: number): HookCall["request"] {
  const rollbackTo = shadow.annotations?.[ANNOTATIONS.rollbackTo];
  const rollback = rollbackTo !== undefined && rollbackTo === ctx.version;
  const from = rollback
    ? (shadow.annotations?.[ANNOTATIONS.rollbackFrom] ?? null)
    : (shadow.annotations?.[ANNOTATIONS.previousVersion] ??
      (ctx.phase === "preDrain" ? (shadow.status?.current_version ?? null) : null));
  return {
    apiVersion: "brupop.bottlerocket.aws/v1alpha1",
    kind: "UpdateHook",
    phase: ctx.phase,
    hook,
    node: shadow.nodeName,
    shadow: { name: shadow.name },
    fromVersion: from,
    toVersion: ctx.version,
    rollback,
    attempt,
    idempotencyKey: idempotencyKey(shadow.name, ctx, hook),
  };
}

// ---- What an answer means ----

/** One call as the controller saw it. */
export type CallResult =
  { kind: "answered"; status: number; retryAfter: string | null; body: string } | { kind: "error"; message: string };

export type CallOutcome =
  | { kind: "passed"; message: string }
  /** 429 or 503 with Retry-After (delta-seconds): called again after that long, within maxWait. */
  | { kind: "not-yet"; afterSeconds: number; message: string }
  | { kind: "failed"; message: string };

/** The contract (docs/design/hooks.md#the-answer): 2xx proceeds; 429/503 with Retry-After is "not yet"; else fails. */
export function classifyCall(result: CallResult): CallOutcome {
  if (result.kind === "error") return { kind: "failed", message: result.message };
  const { status } = result;
  const body = result.body.replace(/\s+/g, " ").trim();
  const said = body === "" ? "" : `: ${body.slice(0, 200)}`;
  if (status >= 200 && status < 300) return { kind: "passed", message: `HTTP ${status}` };
  const seconds =
    result.retryAfter !== null && /^\d{1,9}$/.test(result.retryAfter.trim()) ? Number(result.retryAfter) : null;
  if ((status === 429 || status === 503) && seconds !== null) {
    const afterSeconds = Math.min(NOT_YET_MAX_SECONDS, Math.max(NOT_YET_MIN_SECONDS, seconds));
    return { kind: "not-yet", afterSeconds, message: `HTTP ${status}, not yet (Retry-After ${seconds})${said}` };
  }
  return { kind: "failed", message: `HTTP ${status}${said}` };
}

/** What a call's outcome makes of the hook's entry; `final` when the hook passed or failed with it. */
export interface Recorded {
  record: HooksRecord;
  entry: HookEntry;
  /** The Event's words. */
  message: string;
}

export function recordCall(
  shadow: ShadowView,
  ctx: PhaseContext,
  hook: Hook,
  outcome: CallOutcome,
  now: Date,
): Recorded {
  const all = readHooksRecord(shadow);
  const phase = phaseRecord(all, ctx);
  const before = phase.hooks[hook.name];
  const calls = (before?.calls ?? 0) + 1;
  const first = before?.first ?? before?.at ?? now;
  const short = clip(outcome.message);
  const words = `${phaseWords(ctx.phase)} hook ${hook.name}`;
  let entry: HookEntry;
  let message: string;
  switch (outcome.kind) {
    case "passed":
      entry = {
        state: "passed",
        calls,
        failures: before?.failures ?? 0,
        at: now,
        first: null,
        next: null,
        message: null,
      };
      message = `${words} passed (call ${calls}): ${outcome.message}`;
      break;
    case "not-yet": {
      const deadline = new Date(first.getTime() + hook.maxWaitSeconds * 1000);
      const failures = before?.failures ?? 0;
      if (now >= deadline) {
        const why = clip(`not ready within maxWait ${formatDuration(hook.maxWaitSeconds)}: ${outcome.message}`);
        entry = { state: "failed", calls, failures, at: now, first: null, next: null, message: why };
        message = `${words} failed (${hook.mode}): still not ready after ${formatDuration(hook.maxWaitSeconds)} (maxWait): ${outcome.message}`;
      } else {
        const asked = new Date(now.getTime() + outcome.afterSeconds * 1000);
        const next = asked < deadline ? asked : deadline;
        entry = { state: "not-yet", calls, failures, at: now, first, next, message: short };
        message = `${words} answered not yet (call ${calls}); calling again at ${formatTimestamp(next)}: ${outcome.message}`;
      }
      break;
    }
    case "failed": {
      const failures = (before?.failures ?? 0) + 1;
      if (failures >= hook.attempts) {
        entry = { state: "failed", calls, failures, at: now, first: null, next: null, message: short };
        const tries = `${failures} failed call${failures === 1 ? "" : "s"}`;
        message = `${words} failed (${hook.mode}, ${tries}): ${outcome.message}`;
      } else {
        const delay = Math.min(RETRY_MAX_SECONDS, RETRY_BASE_SECONDS * 2 ** (failures - 1));
        const next = new Date(now.getTime() + delay * 1000);
        entry = { state: "retrying", calls, failures, at: now, first, next, message: short };
        message = `${words} call ${calls} failed (${failures} of ${hook.attempts} attempts); calling again in ${formatDuration(delay)}: ${outcome.message}`;
      }
      break;
    }
  }
  return {
    record: { ...all, [ctx.phase]: { ...phase, hooks: { ...phase.hooks, [hook.name]: entry } } },
    entry,
    message,
  };
}

function clip(text: string): string {
  return text.length <= RECORD_MESSAGE_CHARS ? text : `${text.slice(0, RECORD_MESSAGE_CHARS - 1)}…`;
}

/** One fact per phase for `brupop explain`: ["Pre-drain hooks", "update to 1.26.0: db passed at …; notify failed …"]. */
export function describeHooksRecord(record: HooksRecord): [string, string][] {
  const facts: [string, string][] = [];
  for (const phase of HOOK_PHASES) {
    const p = record[phase];
    if (p === undefined) continue;
    const hooks = Object.entries(p.hooks).map(([name, e]) => {
      const calls = e.calls === 1 ? "" : `, ${e.calls} calls`;
      const detail = e.state === "passed" ? "" : `: ${e.message ?? "?"}`;
      return `${name} ${e.state} at ${formatTimestamp(e.at)}${calls}${detail}`;
    });
    const label = phase === "preDrain" ? "Pre-drain hooks" : "Post-reboot hooks";
    facts.push([label, `update to ${p.version}: ${hooks.join("; ") || "none called yet"}`]);
  }
  return facts;
}
