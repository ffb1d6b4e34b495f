// What the demo shows of the rollout, pure: one row per node (state, version, why it waits) from the fleet decision
// `brupop status` uses, drawn as a screen for a terminal or as one line per node that changed for a pipe or a log.
import type { CoreV1Event } from "@kubernetes/client-node";
import type { FleetReport, NodeRow } from "../../src/cli/fleet-report.ts";
import { reasonText } from "../cluster/fleet-report.ts";

export interface DemoRow {
  readonly node: string;
  /** `Idle`, or `StagedAndPerformedUpdate → RebootedIntoUpdate` while the agent works towards the controller's ask. */
  readonly state: string;
  readonly version: string;
  readonly why: string;
  /** cordoned, rebooting */
  readonly flags: readonly string[];
  /** At the new version, Idle, uncordoned. */
  readonly updated: boolean;
  /** Quarantined and at rest (Idle, uncordoned): the operator will not retry it without a person. */
  readonly quarantined: boolean;
}

export interface RowFacts {
  readonly to: string;
  readonly rebooting: ReadonlySet<string>;
}

export function demoRows(report: FleetReport, facts: RowFacts, clock: "relative" | "absolute"): DemoRow[] {
  return report.rows.map((row) => {
    const atRest = row.state === "Idle" && row.targetState === "Idle" && row.cordoned !== true;
    const flags = [row.cordoned === true ? "cordoned" : "", facts.rebooting.has(row.node) ? "rebooting" : ""].filter(
      (f) => f !== "",
    );
    return {
      node: row.node,
      state: stateText(row),
      version: row.version ?? "-",
      why: reasonText(row, report.now, clock),
      flags,
      updated: atRest && row.version === facts.to,
      quarantined: atRest && row.reason.code === "quarantined",
    };
  });
}

function stateText(row: NodeRow): string {
  if (row.state === null) return "-";
  return row.targetState !== null && row.targetState !== row.state ? `${row.state} → ${row.targetState}` : row.state;
}

const COLUMNS = [
  { head: "NODE", width: 16 },
  { head: "STATE", width: 47 },
  { head: "VERSION", width: 9 },
  { head: "WHY", width: 0 },
] as const;

function columns(cells: readonly string[], widths: readonly number[] = COLUMNS.map((c) => c.width)): string {
  return cells
    .map((cell, i) => {
      const width = widths[i] ?? 0;
      return width === 0 ? cell : cell.padEnd(width - 1) + " ";
    })
    .join("")
    .trimEnd();
}

/** `StagedAndPerformedUpdate → RebootedIntoUpdate` as `→ RebootedIntoUpdate`: where the node is going. */
function targetOnly(state: string): string {
  const at = state.indexOf(" → ");
  return at < 0 ? state : state.slice(at + 1);
}

/**
 * The screen's table: columns as wide as what they hold now, so that WHY has the rest of the line; on a narrow
 * terminal (80 columns) a changing node's STATE shows only where it is going, and then the columns close up, so
 * that WHY still fits. A line stays shorter than the width: one that fills it makes some terminals wrap.
 */
function table(rows: readonly DemoRow[], width: number): string[] {
  const build = (state: (row: DemoRow) => string, gap: number) => {
    const cells = rows.map((row) => [row.node, state(row), row.version, whyWithFlags(row)]);
    const widths = COLUMNS.map((c, i) =>
      c.width === 0 ? 0 : Math.max(c.head.length, ...cells.map((cell) => cell[i]?.length ?? 0)) + gap,
    );
    const heads = COLUMNS.map((c) => c.head);
    return [columns(heads, widths), ...cells.map((cell) => columns(cell, widths))];
  };
  const layouts = [
    () => build((row) => row.state, 2),
    () => build((row) => targetOnly(row.state), 2),
    () => build((row) => targetOnly(row.state), 1),
  ];
  let lines: string[] = [];
  for (const layout of layouts) {
    lines = layout();
    if (lines.every((line) => line.length < width)) break;
  }
  return lines;
}

function whyWithFlags(row: DemoRow): string {
  return row.flags.length === 0 ? row.why : `${row.why} [${row.flags.join(", ")}]`;
}

/** The one line a pipe gets for a node that changed (time-free, so that an unchanged node prints nothing). */
export function rowLine(row: DemoRow): string {
  return columns([row.node, row.state, row.version, whyWithFlags(row)]);
}

export interface ScreenInput {
  readonly title: string;
  readonly notes: readonly string[];
  readonly rows: readonly DemoRow[];
  readonly evictedPods: number;
  readonly events: readonly CoreV1Event[];
  /** Terminal size; the events are cut to fit, then lines to the width. */
  readonly height: number;
  readonly width: number;
}

/** The terminal's screen: title, notes, the node table, counts, the latest of the operator's Events. */
export function renderScreen(input: ScreenInput): string[] {
  const { rows } = input;
  const updated = rows.filter((r) => r.updated).length;
  const quarantined = rows.filter((r) => r.quarantined).length;
  const updating = rows.filter((r) => r.state !== "Idle" || r.flags.length > 0).length;
  const lines = [input.title, ...input.notes, "", ...table(rows, input.width)];
  lines.push(
    "",
    `updated ${updated}/${rows.length}   updating ${updating}   ` +
      (quarantined > 0 ? `quarantined ${quarantined}   ` : "") +
      `pods evicted ${input.evictedPods}`,
  );
  const room = input.height - lines.length - 3;
  if (room > 0 && input.events.length > 0) {
    lines.push("", "RECENT EVENTS");
    for (const e of input.events.slice(-room)) lines.push(`  ${eventLine(e)}`);
  }
  return lines.map((l) => (l.length > input.width ? `${l.slice(0, Math.max(0, input.width - 1))}…` : l));
}

export function eventLine(e: CoreV1Event): string {
  const at = new Date(e.eventTime ?? e.lastTimestamp ?? e.metadata.creationTimestamp ?? 0);
  const time = at.toISOString().slice(11, 19);
  const object = e.involvedObject.name ?? "";
  return `${time} ${(e.type ?? "").padEnd(7)} ${(e.reason ?? "").padEnd(28)} ${object.padEnd(20)} ${(e.message ?? "").replace(/\s*\n\s*/g, " ")}`;
}
