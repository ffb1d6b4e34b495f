// Health gates after the reboot (MonitoringUpdate made real, docs/design/health-gates.md): what the gates are (the
// built-ins, the policy's own), and whether they pass, from what the controller observed of the node, its pods and
// Prometheus. Pure: the controller does the reading (src/controller/gate-observer.ts) and writes what follows.
//
// A gate passes, waits, or fails. It fails when it has not passed within its timeout, measured from when the
// controller asked for MonitoringUpdate; the first gate to fail fails the update. The update passes once every gate
// passes in the same evaluation.
import type { Condition } from "../api/bottlerocket-shadow.ts";
import { BUILT_IN_GATE_NAMES } from "../api/update-policy-names.ts";
import type { ConditionWanted } from "./conditions.ts";
import { formatDuration, parseDuration } from "./duration.ts";
import { jobCheck, parseJobGate, type GateJob, type JobGateSpec, type JobGateTemplate } from "./gate-job.ts";
import { labelKeyProblem } from "./topology-budget.ts";

/** How long the gates may take by default: the reboot is done, so this bounds DaemonSet pods coming back. */
export const DEFAULT_GATE_TIMEOUT_SECONDS = 600;

export type BuiltInGateName = (typeof BUILT_IN_GATE_NAMES)[number];

export type GateCheck =
  /** The Node Ready and not cordoned. */
  | { kind: "node-ready" }
  /** Every pod on the node that a DaemonSet owns Ready (pods not Ready since before the update are left out). */
  | { kind: "daemonset-pods" }
  /** Every selected pod on the node Ready, and at least `minReady` of them. `selector`: a label selector string. */
  | { kind: "pods-ready"; namespace: string | null; selector: string; minReady: number }
  | { kind: "node-condition"; type: string; status: "True" | "False" | "Unknown" }
  /** `query` holds (non-empty, every value non-zero) for `forSeconds` without a break. */
  | { kind: "prometheus"; query: string; forSeconds: number }
  /** A Job run on the node (src/core/gate-job.ts) completes; its failure fails the gate at once. */
  | { kind: "job"; job: JobGateTemplate };

export interface HealthGate {
  readonly name: string;
  readonly timeoutSeconds: number;
  readonly check: GateCheck;
}

export interface HealthGates {
  /** In evaluation order: the built-ins (when on), then the policy's. Empty: brupop's pass-through. */
  readonly gates: readonly HealthGate[];
  readonly prometheusUrl: string | null;
}

function builtIns(timeoutSeconds: number): HealthGate[] {
  return [
    { name: "node-ready", timeoutSeconds, check: { kind: "node-ready" } },
    { name: "daemonset-pods", timeoutSeconds, check: { kind: "daemonset-pods" } },
  ];
}

/** No policy: the built-in gates with the default timeout. */
export const DEFAULT_HEALTH_GATES: HealthGates = Object.freeze({
  gates: builtIns(DEFAULT_GATE_TIMEOUT_SECONDS),
  prometheusUrl: null,
});

// ---- The policy's `healthGates`, as written ----

export interface LabelSelectorSpec {
  matchLabels?: Record<string, string>;
  matchExpressions?: { key: string; operator: "In" | "NotIn" | "Exists" | "DoesNotExist"; values?: string[] }[];
}

export interface HealthGateSpec {
  name: string;
  timeout?: string;
  podsReady?: { namespace?: string; selector: LabelSelectorSpec; minReady?: number };
  nodeCondition?: { type: string; status: "True" | "False" | "Unknown" };
  prometheus?: { query: string; for?: string };
  job?: JobGateSpec;
}

export interface HealthGatesSpec {
  builtIn?: boolean;
  timeout?: string;
  prometheusUrl?: string;
  gates?: HealthGateSpec[];
}

type Raw = Record<string, unknown>;
const isObject = (value: unknown): value is Raw => typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * The policy's `healthGates` (an unknown value: the API server's schema is checked again here, for a CRD installed
 * before the field existed). Errors name the field.
 */
export function parseHealthGates(raw: unknown, where: string, errors: string[]): HealthGates {
  if (raw === undefined || raw === null) return DEFAULT_HEALTH_GATES;
  if (!isObject(raw)) {
    errors.push(`${where} must be an object`);
    return DEFAULT_HEALTH_GATES;
  }
  if (raw.builtIn !== undefined && typeof raw.builtIn !== "boolean")
    errors.push(`${where}.builtIn must be true or false`);
  const timeout = durationField(raw.timeout, `${where}.timeout`, errors, { positive: true });
  const timeoutSeconds = timeout ?? DEFAULT_GATE_TIMEOUT_SECONDS;
  let prometheusUrl: string | null = null;
  if (raw.prometheusUrl !== undefined) {
    if (typeof raw.prometheusUrl !== "string" || !/^https?:\/\/\S+$/.test(raw.prometheusUrl)) {
      errors.push(`${where}.prometheusUrl must be an http:// or https:// URL`);
    } else {
      prometheusUrl = raw.prometheusUrl.replace(/\/+$/, "");
    }
  }
  const gates = raw.builtIn === false ? [] : builtIns(timeoutSeconds);
  if (raw.gates !== undefined && !Array.isArray(raw.gates)) errors.push(`${where}.gates must be a list`);
  const seen = new Set<string>(BUILT_IN_GATE_NAMES);
  (Array.isArray(raw.gates) ? (raw.gates as unknown[]) : []).forEach((entry, i) => {
    const gate = parseGate(entry, `${where}.gates[${i}]`, timeoutSeconds, errors);
    if (gate === null) return;
    if (seen.has(gate.name)) {
      errors.push(`${where}.gates[${i}].name: "${gate.name}" is taken; give each gate its own name`);
      return;
    }
    seen.add(gate.name);
    if (gate.check.kind === "prometheus" && prometheusUrl === null) {
      errors.push(`${where}.gates[${i}]: a prometheus gate needs ${where}.prometheusUrl`);
      return;
    }
    gates.push(gate);
  });
  return { gates, prometheusUrl };
}

const GATE_KINDS = ["podsReady", "nodeCondition", "prometheus", "job"] as const;

function parseGate(raw: unknown, where: string, defaultTimeout: number, errors: string[]): HealthGate | null {
  if (!isObject(raw)) {
    errors.push(`${where} must be an object with a name and one of ${GATE_KINDS.join(", ")}`);
    return null;
  }
  const before = errors.length;
  const name = raw.name;
  if (typeof name !== "string" || !/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/.test(name) || name.length > 63) {
    errors.push(`${where}.name must be a DNS label (lower-case letters, digits and '-', at most 63)`);
  }
  const timeout = durationField(raw.timeout, `${where}.timeout`, errors, { positive: true });
  const kinds = GATE_KINDS.filter((k) => raw[k] !== undefined);
  if (kinds.length !== 1) {
    errors.push(`${where}: set exactly one of ${GATE_KINDS.join(", ")}`);
    return null;
  }
  const check = parseCheck(kinds[0] ?? "podsReady", raw, where, errors);
  if (check === null || errors.length > before || typeof name !== "string") return null;
  return { name, timeoutSeconds: timeout ?? defaultTimeout, check };
}

function parseCheck(kind: (typeof GATE_KINDS)[number], raw: Raw, where: string, errors: string[]): GateCheck | null {
  const at = `${where}.${kind}`;
  const body = raw[kind];
  if (!isObject(body)) {
    errors.push(`${at} must be an object`);
    return null;
  }
  switch (kind) {
    case "podsReady": {
      const namespace = body.namespace;
      if (namespace !== undefined && (typeof namespace !== "string" || namespace === "")) {
        errors.push(`${at}.namespace must be a namespace name`);
      }
      const minReady = body.minReady ?? 1;
      if (typeof minReady !== "number" || !Number.isSafeInteger(minReady) || minReady < 0) {
        errors.push(`${at}.minReady must be a whole number ≥ 0`);
      }
      const selector = selectorString(body.selector, `${at}.selector`, errors);
      if (selector === null || typeof minReady !== "number") return null;
      return { kind: "pods-ready", namespace: typeof namespace === "string" ? namespace : null, selector, minReady };
    }
    case "nodeCondition": {
      const { type, status } = body;
      if (typeof type !== "string" || type === "") errors.push(`${at}.type must be a Node condition type`);
      if (status !== "True" && status !== "False" && status !== "Unknown") {
        errors.push(`${at}.status must be True, False or Unknown`);
      }
      if (typeof type !== "string" || (status !== "True" && status !== "False" && status !== "Unknown")) return null;
      return { kind: "node-condition", type, status };
    }
    case "prometheus": {
      const { query } = body;
      if (typeof query !== "string" || query.trim() === "") errors.push(`${at}.query must be a PromQL expression`);
      const forSeconds = durationField(body.for, `${at}.for`, errors, { positive: false }) ?? 0;
      if (typeof query !== "string") return null;
      return { kind: "prometheus", query, forSeconds };
    }
    case "job": {
      const job = parseJobGate(body, at, errors);
      return job === null ? null : { kind: "job", job };
    }
  }
}

function durationField(
  raw: unknown,
  where: string,
  errors: string[],
  { positive }: { positive: boolean },
): number | undefined {
  if (raw === undefined) return undefined;
  if (typeof raw !== "string") {
    errors.push(`${where}: ${JSON.stringify(raw)} is not a duration such as "10m"`);
    return undefined;
  }
  try {
    const seconds = parseDuration(raw);
    if (positive && seconds <= 0) {
      // Every wait is bounded, and a zero bound would fail every update at once.
      errors.push(`${where}: must be longer than 0s`);
      return undefined;
    }
    return seconds;
  } catch (error) {
    errors.push(`${where}: ${error instanceof Error ? error.message : String(error)}`);
    return undefined;
  }
}

/** A LabelSelector as the API server's `labelSelector` query parameter; null (with errors) when it is not one. */
export function selectorString(raw: unknown, where: string, errors: string[]): string | null {
  if (!isObject(raw)) {
    errors.push(`${where} must be a label selector (matchLabels and/or matchExpressions)`);
    return null;
  }
  const before = errors.length;
  const terms: string[] = [];
  const key = (k: unknown, at: string): k is string => {
    const problem = typeof k === "string" ? labelKeyProblem(k) : "it is not a string";
    if (problem !== null) errors.push(`${at}: ${JSON.stringify(k)} is not a label key: ${problem}`);
    return problem === null;
  };
  const value = (v: unknown, at: string): v is string => {
    const ok = typeof v === "string" && v.length <= 63 && /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(v);
    if (!ok) errors.push(`${at}: ${JSON.stringify(v)} is not a label value`);
    return ok;
  };
  if (raw.matchLabels !== undefined) {
    if (!isObject(raw.matchLabels)) errors.push(`${where}.matchLabels must be a map of label to value`);
    else {
      for (const [k, v] of Object.entries(raw.matchLabels)) {
        if (key(k, `${where}.matchLabels`) && value(v, `${where}.matchLabels.${k}`)) terms.push(`${k}=${v}`);
      }
    }
  }
  if (raw.matchExpressions !== undefined) {
    if (!Array.isArray(raw.matchExpressions)) errors.push(`${where}.matchExpressions must be a list`);
    else {
      (raw.matchExpressions as unknown[]).forEach((e, i) => {
        const at = `${where}.matchExpressions[${i}]`;
        if (!isObject(e)) {
          errors.push(`${at} must be an object with key, operator and values`);
          return;
        }
        if (!key(e.key, `${at}.key`)) return;
        const values = Array.isArray(e.values) ? (e.values as unknown[]) : [];
        if (!values.every((v, j) => value(v, `${at}.values[${j}]`))) return;
        const list = values.join(",");
        switch (e.operator) {
          case "In":
          case "NotIn":
            if (values.length === 0) errors.push(`${at}.values: ${e.operator} needs at least one value`);
            else terms.push(`${e.key} ${e.operator === "In" ? "in" : "notin"} (${list})`);
            return;
          case "Exists":
          case "DoesNotExist":
            if (values.length > 0) errors.push(`${at}.values: ${e.operator} takes no values`);
            else terms.push(e.operator === "Exists" ? e.key : `!${e.key}`);
            return;
          default:
            errors.push(`${at}.operator must be In, NotIn, Exists or DoesNotExist`);
        }
      });
    }
  }
  if (errors.length > before) return null;
  // An empty selector selects every pod on the node, as in a PodDisruptionBudget.
  return terms.join(",");
}

// ---- Observations ----

export interface NodeConditionView {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}

export interface GateNode {
  ready: boolean | null;
  unschedulable: boolean;
  conditions: readonly NodeConditionView[];
}

export interface GatePod {
  namespace: string;
  name: string;
  /** The controlling owner's kind and name (a DaemonSet for its pods), or null. */
  owner: { kind: string; name: string } | null;
  ready: boolean;
  /** When the Ready condition last changed; null when unknown. */
  readySince: Date | null;
  /** Why not Ready, in the kubelet's words (the Ready condition's reason/message, or a container's state). */
  why: string | null;
  terminating: boolean;
}

/** One Prometheus answer for one gate: at each evaluation instant whether the query held, or why it could not. */
export type PromObservation = { ok: true; held: readonly boolean[] } | { ok: false; error: string };

/** A read that failed (the pod list, a query) is told, and the gate waits: it is not a pass. */
export type Observed<T> = { ok: true; value: T } | { ok: false; error: string };

export interface GateObservations {
  node: GateNode | null;
  /** Pods on the node (all namespaces); only read when a pod gate needs them. */
  pods?: Observed<readonly GatePod[]>;
  /** Per pods-ready gate: the selected pods on the node. */
  selected?: Readonly<Record<string, Observed<readonly GatePod[]>>>;
  /** Per prometheus gate. */
  prometheus?: Readonly<Record<string, PromObservation>>;
  /** Per job gate: its Job, created when it was not there yet. */
  jobs?: Readonly<Record<string, Observed<GateJob>>>;
}

// ---- Evaluation ----

export type GateState = "passed" | "waiting" | "failed";

export interface GateResult {
  gate: string;
  state: GateState;
  message: string;
}

export type GateVerdict =
  | { kind: "passed"; results: readonly GateResult[] }
  /** `recheckAt`: the earliest gate deadline (the controller also polls, since pods are not watched). */
  | { kind: "waiting"; results: readonly GateResult[]; recheckAt: Date }
  | { kind: "failed"; gate: string; reason: string; results: readonly GateResult[] };

export interface GateContext {
  /** When the controller asked for MonitoringUpdate: gate timeouts and `for` periods count from here. */
  since: Date;
  /** When the update started, if known: DaemonSet pods not Ready since before it are not the update's doing. */
  updateStartedAt: Date | null;
  now: Date;
}

/** `final`: failed for good (a Job that failed), so the gate fails now rather than at its timeout. */
type Check = { pass: true; message: string } | { pass: false; message: string; final?: boolean };

export function evaluateGates(gates: HealthGates, observed: GateObservations, ctx: GateContext): GateVerdict {
  const results: GateResult[] = [];
  let recheckAt: Date | null = null;
  for (const gate of gates.gates) {
    const check = runCheck(gate, observed, ctx);
    const deadline = gateDeadline(gate, ctx.since);
    if (check.pass) {
      results.push({ gate: gate.name, state: "passed", message: check.message });
      continue;
    }
    if (check.final === true || ctx.now >= deadline) {
      const reason =
        check.final === true
          ? check.message
          : `not passed within ${formatDuration(gate.timeoutSeconds)}: ${check.message}`;
      results.push({ gate: gate.name, state: "failed", message: reason });
      return { kind: "failed", gate: gate.name, reason, results: [...results, ...rest(gates, gate)] };
    }
    results.push({ gate: gate.name, state: "waiting", message: check.message });
    if (recheckAt === null || deadline < recheckAt) recheckAt = deadline;
  }
  return recheckAt === null ? { kind: "passed", results } : { kind: "waiting", results, recheckAt };
}

/** When `gate` fails unless it passed: its timeout after MonitoringUpdate was asked for (`since`). */
export function gateDeadline(gate: HealthGate, since: Date): Date {
  return new Date(since.getTime() + gate.timeoutSeconds * 1000);
}

/** The gates after `gate`, not evaluated once it failed. */
function rest(gates: HealthGates, gate: HealthGate): GateResult[] {
  return gates.gates
    .slice(gates.gates.indexOf(gate) + 1)
    .map((g) => ({ gate: g.name, state: "waiting" as const, message: "not evaluated: an earlier gate failed" }));
}

function runCheck(gate: HealthGate, observed: GateObservations, ctx: GateContext): Check {
  const { check } = gate;
  switch (check.kind) {
    case "node-ready":
      return nodeReady(observed.node);
    case "node-condition":
      return nodeCondition(observed.node, check.type, check.status);
    case "daemonset-pods":
      return daemonSetPods(observed.pods, ctx.updateStartedAt);
    case "pods-ready":
      return podsReady(observed.selected?.[gate.name], check.minReady);
    case "prometheus":
      return prometheusHolds(observed.prometheus?.[gate.name], check.forSeconds, ctx);
    case "job": {
      const job = observed.jobs?.[gate.name];
      if (job === undefined) return { pass: false, message: "the Job was not read" };
      if (!job.ok) return { pass: false, message: `the Job: ${job.error}` };
      return jobCheck(job.value);
    }
  }
}

function nodeReady(node: GateNode | null): Check {
  if (node === null) return { pass: false, message: "the Node is not visible" };
  if (node.ready !== true) {
    const condition = node.conditions.find((c) => c.type === "Ready");
    const detail = condition?.reason
      ? ` (${condition.reason}${condition.message ? `: ${condition.message}` : ""})`
      : "";
    return { pass: false, message: `the Node is not Ready${detail}` };
  }
  if (node.unschedulable) return { pass: false, message: "the Node is Ready but cordoned (spec.unschedulable)" };
  return { pass: true, message: "the Node is Ready and schedulable" };
}

function nodeCondition(node: GateNode | null, type: string, status: string): Check {
  if (node === null) return { pass: false, message: "the Node is not visible" };
  const condition = node.conditions.find((c) => c.type === type);
  if (condition === undefined) return { pass: false, message: `the Node has no condition ${type}` };
  const detail = condition.reason ? ` (${condition.reason}${condition.message ? `: ${condition.message}` : ""})` : "";
  if (condition.status === status) return { pass: true, message: `${type} is ${status}` };
  return { pass: false, message: `${type} is ${condition.status}, not ${status}${detail}` };
}

function daemonSetPods(pods: Observed<readonly GatePod[]> | undefined, updateStartedAt: Date | null): Check {
  if (pods === undefined) return { pass: false, message: "the node's pods were not read" };
  if (!pods.ok) return { pass: false, message: `cannot list the node's pods: ${pods.error}` };
  const owned = pods.value.filter((p) => p.owner?.kind === "DaemonSet" && !p.terminating);
  // Not Ready since before the update: a fault the update did not cause, and brupop would have passed the node.
  const preexisting = (p: GatePod) =>
    !p.ready && updateStartedAt !== null && p.readySince !== null && p.readySince < updateStartedAt;
  const counted = owned.filter((p) => !preexisting(p));
  const unready = counted.filter((p) => !p.ready);
  const ignored = owned.length - counted.length;
  const note = ignored > 0 ? `; ${ignored} not Ready since before the update, not counted` : "";
  if (unready.length === 0) {
    return { pass: true, message: `${counted.length} DaemonSet pod${counted.length === 1 ? "" : "s"} Ready${note}` };
  }
  return { pass: false, message: `${describePods(unready, "DaemonSet pod")}${note}` };
}

function podsReady(pods: Observed<readonly GatePod[]> | undefined, minReady: number): Check {
  if (pods === undefined) return { pass: false, message: "the selected pods were not read" };
  if (!pods.ok) return { pass: false, message: `cannot list the selected pods: ${pods.error}` };
  const live = pods.value.filter((p) => !p.terminating);
  const unready = live.filter((p) => !p.ready);
  const ready = live.length - unready.length;
  if (unready.length > 0) return { pass: false, message: describePods(unready, "selected pod") };
  if (ready < minReady) {
    return { pass: false, message: `${ready} selected pod${ready === 1 ? "" : "s"} on the node, ${minReady} needed` };
  }
  return { pass: true, message: `${ready} selected pod${ready === 1 ? "" : "s"} Ready` };
}

/** "2 DaemonSet pods not Ready: kube-system/a (DaemonSet a: ContainersNotReady), …" (at most 3 named). */
function describePods(unready: readonly GatePod[], noun: string): string {
  const named = unready.slice(0, 3).map((p) => {
    const owner = p.owner === null ? "" : `${p.owner.kind} ${p.owner.name}`;
    const detail = [owner, p.why ?? ""].filter(Boolean).join(": ");
    return `${p.namespace}/${p.name}${detail ? ` (${detail})` : ""}`;
  });
  const more = unready.length > named.length ? `, and ${unready.length - named.length} more` : "";
  return `${unready.length} ${noun}${unready.length === 1 ? "" : "s"} not Ready: ${named.join(", ")}${more}`;
}

function prometheusHolds(observed: PromObservation | undefined, forSeconds: number, ctx: GateContext): Check {
  if (observed === undefined) return { pass: false, message: "not asked yet" };
  if (!observed.ok) return { pass: false, message: `Prometheus: ${observed.error}` };
  const held = observed.held;
  if (held.length === 0 || !held.every(Boolean)) {
    // A range query says how often it broke; an instant query only that it does not hold.
    const broke = held.length <= 1 ? "" : ` at ${held.filter((h) => !h).length} of ${held.length} instants`;
    return { pass: false, message: `the query does not hold${broke}` };
  }
  const since = (ctx.now.getTime() - ctx.since.getTime()) / 1000;
  if (since < forSeconds) {
    return { pass: false, message: `holding, but only since the reboot; must hold for ${formatDuration(forSeconds)}` };
  }
  return { pass: true, message: forSeconds > 0 ? `held for ${formatDuration(forSeconds)}` : "holds" };
}

// ---- Prometheus, as data ----

/** The query with `$node` and `$version` filled in. */
export function promQuery(query: string, node: string, version: string): string {
  return query.replaceAll("$node", node).replaceAll("$version", version);
}

/** The instants a gate that must hold `forSeconds` is asked about: [now − for, now] every `stepSeconds`. */
export function promRange(forSeconds: number, now: Date): { start: number; end: number; stepSeconds: number } {
  const end = Math.floor(now.getTime() / 1000);
  // At most 60 instants; PromQL's lookback (5 min) covers the gaps between them.
  const stepSeconds = Math.max(1, Math.ceil(forSeconds / 60));
  return { start: end - forSeconds, end, stepSeconds };
}

/**
 * Reads a Prometheus HTTP API answer (`/api/v1/query` or `/api/v1/query_range`) as "did it hold at each instant":
 * an instant holds when the result has a sample there and every sample there is non-zero (a filtering comparison
 * such as `x < 0.01` returns nothing when false; a `bool` one returns 0). `instants`: the expected timestamps of a
 * range query (seconds), or null for an instant query.
 */
export function promHeld(body: unknown, instants: readonly number[] | null): PromObservation {
  if (!isObject(body)) return { ok: false, error: "the answer is not a JSON object" };
  if (body.status !== "success") {
    const error = typeof body.error === "string" ? body.error : "no error given";
    const type = typeof body.errorType === "string" ? body.errorType : "error";
    return { ok: false, error: `${type}: ${error}` };
  }
  const data = isObject(body.data) ? body.data : {};
  const samples: [number, string][] = [];
  const sample = (pair: unknown) => {
    if (Array.isArray(pair) && typeof pair[0] === "number" && typeof pair[1] === "string") {
      samples.push([pair[0], pair[1]]);
    }
  };
  const result = data.result;
  switch (data.resultType) {
    case "scalar":
      sample(result);
      break;
    case "vector":
      for (const series of Array.isArray(result) ? (result as unknown[]) : [])
        if (isObject(series)) sample(series.value);
      break;
    case "matrix":
      for (const series of Array.isArray(result) ? (result as unknown[]) : []) {
        if (!isObject(series) || !Array.isArray(series.values)) continue;
        for (const pair of series.values as unknown[]) sample(pair);
      }
      break;
    default:
      return { ok: false, error: `unexpected result type ${JSON.stringify(data.resultType)}` };
  }
  const truthy = (value: string) => {
    const n = Number(value);
    return !Number.isNaN(n) && n !== 0;
  };
  if (instants === null) return { ok: true, held: [samples.length > 0 && samples.every(([, v]) => truthy(v))] };
  const at = new Map<number, boolean>();
  for (const [t, v] of samples) {
    const key = Math.round(t * 1000);
    at.set(key, (at.get(key) ?? true) && truthy(v));
  }
  return { ok: true, held: instants.map((t) => at.get(Math.round(t * 1000)) ?? false) };
}

/** Summary of the results for the shadow's condition and `brupop explain`: "node-ready: …; daemonset-pods: …". */
export function describeResults(results: readonly GateResult[]): string {
  return results.map((r) => `${r.gate} ${r.state}: ${r.message}`).join("; ");
}

// ---- On the shadow ----

/** The shadow's condition for the last update's gates, written by the controller. */
export const HEALTH_CONDITION = "UpdateHealthy";

/** The condition's status and reason for each kind of verdict. */
const OUTCOMES = {
  passed: { status: "True", reason: "GatesPassed" },
  waiting: { status: "Unknown", reason: "GatesPending" },
  failed: { status: "False", reason: "GateFailed" },
} as const;

/** The first words of the condition's message: the verdict without the gates' details. */
function headline(verdict: GateVerdict, version: string): string {
  switch (verdict.kind) {
    case "passed":
      return `health gates passed after the update to ${version}`;
    case "waiting":
      return `checking the health gates after the update to ${version}`;
    case "failed":
      return `health gate ${verdict.gate} failed after the update to ${version}`;
  }
}

/**
 * The UpdateHealthy condition a verdict gives: Unknown while waiting, True once passed, False naming the gate.
 * `generation`: the shadow's metadata.generation the verdict is about (its MonitoringUpdate spec).
 */
export function healthCondition(verdict: GateVerdict, version: string, generation?: number): ConditionWanted {
  const clip = (text: string) => (text.length <= 4000 ? text : `${text.slice(0, 3999)}…`);
  const details = verdict.kind === "failed" ? verdict.reason : describeResults(verdict.results);
  return {
    type: HEALTH_CONDITION,
    ...OUTCOMES[verdict.kind],
    message: clip(`${headline(verdict, version)}: ${details}`),
    ...(generation === undefined ? {} : { observedGeneration: generation }),
  };
}

/**
 * The gates' pass as the shadow records it: UpdateHealthy True, observed at the shadow's current generation (so for
 * this MonitoringUpdate spec, not an earlier update's, nor one restamped since). Null when it records none. A pass
 * is recorded before the update finishes only when post-reboot hooks come between: it stands while they are called.
 */
export function recordedPass(
  conditions: readonly Condition[] | undefined,
  generation: number | undefined,
): Extract<GateVerdict, { kind: "passed" }> | null {
  const health = conditions?.find((c) => c.type === HEALTH_CONDITION);
  if (generation === undefined || health?.status !== "True" || health.observedGeneration !== generation) return null;
  return { kind: "passed", results: [] };
}

/**
 * The outcome as the spec write that acts on it carries it (ANNOTATIONS.updateHealthy), for a crash before the
 * condition is written: its status and the message's first words, without the gates' details, so that every shadow
 * of a 5,000-node fleet can carry it within the conversion webhook's limit (src/apiserver/limits.ts).
 */
export function formatOutcome(verdict: GateVerdict, version: string, generation: number): string {
  return JSON.stringify({
    status: OUTCOMES[verdict.kind].status,
    message: headline(verdict, version),
    observedGeneration: generation,
  });
}

/**
 * The condition for an outcome a spec write carried (`recorded`, ANNOTATIONS.updateHealthy) that status.conditions
 * does not say yet: a crash or a failed write came between the two. Null when the conditions say it, or a later look
 * at the gates (a higher observedGeneration) replaced it, or the annotation is not one the controller wrote.
 */
export function unreportedOutcome(
  recorded: string | undefined,
  conditions: readonly Condition[] | undefined,
): ConditionWanted | null {
  const outcome = parseOutcome(recorded);
  if (outcome === null) return null;
  const current = conditions?.find((c) => c.type === HEALTH_CONDITION);
  const seen = current?.observedGeneration ?? -1;
  if (seen > outcome.observedGeneration) return null;
  if (seen === outcome.observedGeneration && current?.status === outcome.status && current.reason === outcome.reason) {
    return null;
  }
  return outcome;
}

/**
 * The shadow's recorded outcome (`recorded`) is one its conditions say already, or one a later look at the gates
 * replaced (or not one the controller wrote): brupop's clear of the finished spec may drop the annotation.
 */
export function outcomeSettled(recorded: string | undefined, conditions: readonly Condition[] | undefined): boolean {
  return recorded !== undefined && unreportedOutcome(recorded, conditions) === null;
}

function parseOutcome(text: string | undefined): (ConditionWanted & { observedGeneration: number }) | null {
  if (text === undefined) return null;
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return null;
  }
  if (typeof value !== "object" || value === null) return null;
  const { status, message, observedGeneration } = value as Record<string, unknown>;
  const kind = Object.values(OUTCOMES).find((o) => o.status === status);
  if (kind === undefined || typeof message !== "string" || !Number.isSafeInteger(observedGeneration)) return null;
  return { type: HEALTH_CONDITION, ...kind, message, observedGeneration: observedGeneration as number };
}
