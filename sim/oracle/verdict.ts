// The oracle's verdict, per invariant, and its text for reports (chaos, demo, a failing test's message). Pure.
import {
  INVARIANT_IDS,
  INVARIANTS,
  type BudgetSpec,
  type InvariantId,
  type InvariantOracle,
  type NodeOutcome,
  type Violation,
} from "./invariants.ts";

export interface OracleVerdict {
  /** No violation, and every reboot could be checked. */
  readonly passed: boolean;
  readonly budget: BudgetSpec;
  readonly invariants: readonly { readonly id: InvariantId; readonly holds: string; readonly violations: number }[];
  readonly violations: readonly Violation[];
  /** Each node's outcome, when the run was finished (oracle.finish). */
  readonly outcomes?: readonly NodeOutcome[];
  readonly maxDisrupted: number;
  readonly starts: number;
  readonly rebootChecks: { readonly reboots: number; readonly podsCachedButGone: number; readonly unchecked: number };
  readonly checks: Readonly<Record<string, number>>;
}

export function verdictOf(
  oracle: InvariantOracle,
  budget: BudgetSpec,
  outcomes?: readonly NodeOutcome[],
): OracleVerdict {
  const violations = [...oracle.violations];
  return {
    passed: violations.length === 0 && oracle.rebootChecks.unchecked === 0,
    budget,
    invariants: INVARIANT_IDS.map((id) => ({
      id,
      holds: INVARIANTS[id],
      violations: violations.filter((v) => v.invariant === id).length,
    })),
    violations,
    ...(outcomes ? { outcomes: [...outcomes] } : {}),
    maxDisrupted: oracle.maxDisrupted,
    starts: oracle.starts,
    rebootChecks: { ...oracle.rebootChecks },
    checks: { ...oracle.checks },
  };
}

export interface FormatOptions {
  /** Violations listed in full (default 20). */
  readonly maxViolations?: number;
  /** Evidence lines per violation (default 8; 0: none). */
  readonly evidenceLines?: number;
  /** Start of observation, to print times as t+…; default absolute times. */
  readonly since?: number;
}

/** The verdict as report lines (no trailing newline). */
export function formatVerdict(v: OracleVerdict, o: FormatOptions = {}): string[] {
  const lines: string[] = [];
  const when = (at: number) =>
    o.since === undefined ? new Date(at).toISOString().slice(11, 23) : `t+${((at - o.since) / 1000).toFixed(1)} s`;
  lines.push(
    `invariant oracle: ${v.passed ? "PASSED" : "FAILED"} (at most ${v.maxDisrupted} node(s) disrupted at once, ` +
      `budget ${String(v.budget)}; ${v.rebootChecks.reboots} reboot(s) checked, ${v.starts} update start(s) seen)`,
  );
  for (const i of v.invariants) {
    lines.push(`  ${i.id.padEnd(4)}${i.violations === 0 ? "holds   " : `VIOLATED ${i.violations}x`}  ${i.holds}`);
  }
  if (v.rebootChecks.unchecked > 0) {
    lines.push(
      `  I1 could not be checked for ${v.rebootChecks.unchecked} reboot(s): their pods could not be read again`,
    );
  }
  const max = o.maxViolations ?? 20;
  const evidence = o.evidenceLines ?? 8;
  for (const violation of v.violations.slice(0, max)) {
    lines.push(`  [${violation.invariant}] ${when(violation.at)} ${violation.message}`);
    for (const e of violation.evidence.slice(-evidence)) lines.push(`        ${e}`);
  }
  if (v.violations.length > max) lines.push(`  ... and ${v.violations.length - max} more violation(s)`);
  return lines;
}

/** One line per node that did not end updated: its outcome and why. */
export function formatOutcomes(outcomes: readonly NodeOutcome[], labelOf?: (node: string) => string): string[] {
  return outcomes.flatMap((x) => {
    const label = labelOf?.(x.node);
    const tag = label ? ` [${label}]` : "";
    switch (x.outcome) {
      case "updated":
        return [];
      case "deleted":
        return [`${x.node}: deleted${tag}`];
      case "left":
        return [`${x.node}: ${x.why}${tag}`];
      case "stuck":
        return [`${x.node}: STUCK, reported: ${x.reason} (Event ${x.event})${tag}`];
      case "stranded":
      case "lost":
        return [`${x.node}: ${x.outcome.toUpperCase()}: ${x.why.join("; ")}${tag}`];
    }
  });
}
