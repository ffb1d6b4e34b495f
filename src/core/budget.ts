// How many nodes may be out of Idle at once. brupop's MAX_CONCURRENT_UPDATE (a count or `unlimited`) plus a
// percentage of the managed nodes. Which nodes count: src/core/standing.ts.

export type UpdateBudget =
  | { kind: "unlimited" }
  /** 0 means no new updates start (brupop accepts 0 with that effect). */
  | { kind: "count"; max: number }
  /** Whole percent, 0–100, of the managed nodes. */
  | { kind: "percent"; percent: number };

export class BudgetError extends Error {
  override name = "BudgetError";
}

/**
 * Parses `unlimited` (any case), a whole number (brupop parses it as usize, so `+3` is accepted) or a whole
 * percentage such as `25%`. A number may also be given as a JSON number (policy resource).
 */
export function parseBudget(raw: string | number): UpdateBudget {
  if (typeof raw === "number") {
    if (!Number.isSafeInteger(raw) || raw < 0) throw new BudgetError(`${raw} is not a whole number of nodes ≥ 0`);
    return { kind: "count", max: raw };
  }
  const text = raw.trim();
  if (/^unlimited$/i.test(text)) return { kind: "unlimited" };
  if (/^\+?\d+$/.test(text)) {
    const max = Number(text);
    if (!Number.isSafeInteger(max)) throw new BudgetError(`"${raw}" is too large`);
    return { kind: "count", max };
  }
  const percent = /^(\d+)\s*%$/.exec(text);
  if (percent !== null) {
    const value = Number(percent[1]);
    if (value > 100) throw new BudgetError(`"${raw}" is more than 100%`);
    return { kind: "percent", percent: value };
  }
  throw new BudgetError(`"${raw}" is not a number of nodes, "unlimited" or a percentage such as "25%"`);
}

/**
 * The number of nodes that may be out of Idle, given how many nodes are managed. A percentage is rounded down, as
 * Kubernetes rounds maxUnavailable, but never below 1 when it is above 0%: 10% of 5 nodes still lets one update.
 */
export function budgetLimit(budget: UpdateBudget, managedNodes: number): number {
  switch (budget.kind) {
    case "unlimited":
      return Number.POSITIVE_INFINITY;
    case "count":
      return budget.max;
    case "percent":
      if (budget.percent === 0 || managedNodes === 0) return 0;
      return Math.max(1, Math.floor((budget.percent * managedNodes) / 100));
  }
}

export function describeBudget(budget: UpdateBudget): string {
  switch (budget.kind) {
    case "unlimited":
      return "unlimited";
    case "count":
      return String(budget.max);
    case "percent":
      return `${budget.percent}%`;
  }
}
