// How `brupop plan` prints a Plan (src/core/plan.ts): what it assumes, the nodes updating now, a table of the planned
// starts (wave, earliest start, node, zone, from → to, why it waits until then) and the nodes not planned, or one
// JSON/YAML document with the same content. Pure: the caller decides colours and where the text goes.
import { formatTimestamp } from "../api/timestamps.ts";
import type { Plan } from "../core/plan.ts";
import { NOT_STARTED } from "../core/reasons.ts";
import { table, when, type Style } from "./render.ts";

/** What every plan assumes besides the duration: said in the output, so nobody mistakes it for a promise. */
export const PLAN_ASSUMPTIONS = [
  "no node fails (a failure backs it off and may halt the rollout)",
  "no newer version appears and nobody changes the policy or pauses",
  "nodes finish in the assumed time; the controller starts the next as soon as budget frees, so later waves may mix",
];

export interface PlanContext {
  namespace: string;
  /** The policy's spec.dryRun: nothing starts until it is false. */
  dryRun: boolean;
  notes: readonly string[];
}

export interface PlanView {
  namespace: string;
  time: string;
  dryRun: boolean;
  duration: { seconds: number; source: string; samples: number; description: string };
  assumptions: string[];
  zoneKey: string;
  waves: { wave: number; start: string; estimated: boolean; nodes: string[] }[];
  nodes: {
    wave: number;
    start: string;
    estimated: boolean;
    node: string;
    zone: string | null;
    from: string;
    to: string;
    waitedFor: string | null;
    why: string;
  }[];
  inFlight: { node: string; to: string | null; finish: string; estimated: true }[];
  notPlanned: { node: string; reason: { code: string; message: string } }[];
  upToDate: number;
  expectedEnd: string | null;
  truncated: boolean;
  notes: string[];
}

export function planView(plan: Plan, ctx: PlanContext): PlanView {
  return {
    namespace: ctx.namespace,
    time: formatTimestamp(plan.now),
    dryRun: ctx.dryRun,
    duration: { ...plan.duration },
    assumptions: [`each update takes ${plan.duration.description}`, ...PLAN_ASSUMPTIONS],
    zoneKey: plan.zoneKey,
    waves: plan.waves.map((w) => ({
      wave: w.wave,
      start: formatTimestamp(w.at),
      estimated: w.estimated,
      nodes: [...w.nodes],
    })),
    nodes: plan.starts.map((s) => ({
      wave: s.wave,
      start: formatTimestamp(s.at),
      estimated: s.estimated,
      node: s.nodeName,
      zone: s.zone,
      from: s.from,
      to: s.to,
      waitedFor: s.waited?.code ?? null,
      why: s.why,
    })),
    inFlight: plan.inFlight.map((n) => ({
      node: n.nodeName,
      to: n.to,
      finish: formatTimestamp(n.finishAt),
      estimated: true,
    })),
    notPlanned: plan.notPlanned.map((n) => ({
      node: n.nodeName,
      reason: { code: n.reason.code, message: n.reason.message },
    })),
    upToDate: plan.upToDate,
    expectedEnd: plan.expectedEnd === null ? null : formatTimestamp(plan.expectedEnd),
    truncated: plan.truncated,
    notes: [...ctx.notes],
  };
}

export function renderPlan(plan: Plan, ctx: PlanContext, style: Style): string {
  const { now } = plan;
  const lines: string[] = [];
  const label = (name: string) => style.bold(name.padEnd(12));
  const approx = (estimated: boolean, at: Date) =>
    at.getTime() === now.getTime() ? "now" : `${estimated ? "~" : ""}${when(at, now)}`;

  if (ctx.dryRun) {
    lines.push(
      `${label("Dry run")}${style.yellow("yes: the controller starts nothing new until spec.dryRun is false; this is the rollout then")}`,
    );
  }
  const waves = plan.waves.length;
  lines.push(
    `${label("Plan")}${plan.starts.length} node${plan.starts.length === 1 ? "" : "s"} in ${waves} wave${waves === 1 ? "" : "s"}` +
      (plan.expectedEnd === null ? "" : `, all done ~${when(plan.expectedEnd, now)}`) +
      ` (namespace ${ctx.namespace})`,
  );
  lines.push(`${label("Assumes")}each update takes ${plan.duration.description}`);
  for (const assumption of PLAN_ASSUMPTIONS) lines.push(`${" ".repeat(12)}${assumption}`);
  lines.push(`${" ".repeat(12)}${style.dim("~ marks a time that depends on the assumed duration")}`);
  for (const n of plan.inFlight) {
    lines.push(
      `${label("Updating")}${n.nodeName}${n.to === null ? "" : ` to ${n.to}`}: finishes normally, ~${when(n.finishAt, now)}`,
    );
  }
  if (plan.upToDate > 0) lines.push(`${label("Up to date")}${plan.upToDate} node${plan.upToDate === 1 ? "" : "s"}`);
  for (const note of ctx.notes) lines.push(style.yellow(`note: ${note}`));
  if (plan.truncated) lines.push(style.yellow("note: the projection stopped a year ahead; later nodes are not shown"));

  if (plan.starts.length > 0) {
    lines.push("");
    lines.push(
      table(
        [
          "wave",
          "start",
          "node",
          plan.zoneKey === "topology.kubernetes.io/zone" ? "zone" : plan.zoneKey,
          "from → to",
          "why it waits until then",
        ],
        plan.starts.map((s) => [
          String(s.wave),
          approx(s.estimated, s.at),
          s.nodeName,
          s.zone ?? "-",
          `${s.from} → ${s.to}`,
          s.why,
        ]),
      ),
    );
  }
  if (plan.notPlanned.length > 0) {
    lines.push("", style.bold("Not planned (nothing known ends their wait):"));
    lines.push(
      table(
        ["node", "reason", "detail"],
        plan.notPlanned.map((n) => [n.nodeName, style.yellow(NOT_STARTED[n.reason.code].title), n.reason.message]),
      ),
    );
  }
  if (plan.starts.length === 0 && plan.notPlanned.length === 0 && plan.inFlight.length === 0) {
    lines.push("", "Nothing to plan: every node is up to date.");
  }
  return lines.join("\n") + "\n";
}
