// Topology budgets: at most N (or a percentage) of the nodes sharing one value of a node label (a zone, a rack, a
// pool) update at once, on top of the fleet budget, as Karpenter's NodePool disruption budgets and OpenShift's
// MachineConfigPool maxUnavailable bound a slice of the fleet.
//
// - A node's group under a key is its label's value. Managed nodes without the label form one group of their own
//   (`value: null`, "without the label"), with the same limit: a missing label never lifts the bound.
// - A percentage is of the managed nodes in that group, rounded down and at least 1 (budget.ts's rule, as for the
//   fleet budget); 0 or 0% starts nothing in any group of that key.
// - In use: the nodes of the group that use up budget by the fleet budget's own rule (standing.ts). A shadow whose
//   Node the controller does not see belongs to no group.
import { DNS_SUBDOMAIN, DNS_SUBDOMAIN_MAX_LENGTH } from "../api/constants.ts";
import { budgetLimit, describeBudget, parseBudget, BudgetError, type UpdateBudget } from "./budget.ts";
import { isManaged, type NodeView } from "./model.ts";

export interface TopologyBudget {
  /** The node label whose values make the groups, e.g. `topology.kubernetes.io/zone`. */
  readonly topologyKey: string;
  /** A count or a percentage (never unlimited: that is no topology budget at all). */
  readonly budget: Exclude<UpdateBudget, { kind: "unlimited" }>;
}

/** As written in the policy resource. */
export interface TopologyBudgetSpec {
  topologyKey: string;
  maxConcurrentUpdates: number | string;
}

/** One group of one topology budget. */
export interface TopologyGroup {
  readonly topologyKey: string;
  /** The label's value; null for managed nodes without the label. */
  readonly value: string | null;
  /** Managed nodes in the group. */
  readonly nodes: number;
  readonly limit: number;
  /** Nodes of the group using up budget now. */
  readonly inUse: number;
  /** The budget as written ("1", "25%"). */
  readonly description: string;
}

/** Names the group in messages: `topology.kubernetes.io/zone=us-east-1a`, or `topology.kubernetes.io/zone unset`. */
export function describeGroup(topologyKey: string, value: string | null): string {
  return value === null ? `${topologyKey} unset` : `${topologyKey}=${value}`;
}

/** "1", or "50% of 3 nodes": a percentage says of how many. */
export function describeGroupBudget(group: TopologyGroup): string {
  if (!group.description.endsWith("%")) return group.description;
  return `${group.description} of ${group.nodes} node${group.nodes === 1 ? "" : "s"}`;
}

// A label key: an optional DNS-subdomain prefix (≤ 253) and "/", then a name (≤ 63) of alphanumerics, '-', '_', '.'
// that starts and ends alphanumeric (Kubernetes' IsQualifiedName).
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/** Why `key` is not a label key, or null when it is one. */
export function labelKeyProblem(key: string): string | null {
  const slash = key.indexOf("/");
  const prefix = slash < 0 ? null : key.slice(0, slash);
  const name = slash < 0 ? key : key.slice(slash + 1);
  if (
    prefix !== null &&
    (prefix.length === 0 || prefix.length > DNS_SUBDOMAIN_MAX_LENGTH || !DNS_SUBDOMAIN.test(prefix))
  ) {
    return "its prefix must be a DNS subdomain of at most 253 characters";
  }
  if (name.length === 0 || name.length > 63 || !LABEL_NAME.test(name)) {
    return "its name must be 1 to 63 letters, digits, '-', '_' or '.', starting and ending with a letter or digit";
  }
  return null;
}

/**
 * Parses the policy's `topologyBudgets` (an unknown value: the API server's schema is checked again here, for a CRD
 * installed before the field existed and for readers without one). Errors name the field.
 */
export function parseTopologyBudgets(raw: unknown, where: string, errors: string[]): TopologyBudget[] {
  if (raw === undefined || raw === null) return [];
  if (!Array.isArray(raw)) {
    errors.push(`${where} must be a list`);
    return [];
  }
  const budgets: TopologyBudget[] = [];
  const seen = new Set<string>();
  raw.forEach((entry: unknown, i) => {
    const at = `${where}[${i}]`;
    if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
      errors.push(`${at} must be an object with topologyKey and maxConcurrentUpdates`);
      return;
    }
    const { topologyKey, maxConcurrentUpdates } = entry as Record<string, unknown>;
    let ok = true;
    if (typeof topologyKey !== "string") {
      errors.push(`${at}.topologyKey must be a node label key such as topology.kubernetes.io/zone`);
      ok = false;
    } else {
      const problem = labelKeyProblem(topologyKey);
      if (problem !== null) {
        errors.push(`${at}.topologyKey: "${topologyKey}" is not a label key: ${problem}`);
        ok = false;
      } else if (seen.has(topologyKey)) {
        errors.push(`${at}.topologyKey: "${topologyKey}" has a budget already; give each key one`);
        ok = false;
      }
      seen.add(topologyKey);
    }
    const budget = parseGroupBudget(maxConcurrentUpdates, `${at}.maxConcurrentUpdates`, errors);
    if (ok && budget !== null && typeof topologyKey === "string") budgets.push({ topologyKey, budget });
  });
  return budgets;
}

function parseGroupBudget(raw: unknown, where: string, errors: string[]): TopologyBudget["budget"] | null {
  if (typeof raw !== "number" && typeof raw !== "string") {
    errors.push(`${where} must be a number of nodes or a percentage such as "25%"`);
    return null;
  }
  try {
    const budget = parseBudget(raw);
    if (budget.kind !== "unlimited") return budget;
    errors.push(`${where}: "unlimited" bounds nothing; remove the topology budget instead`);
  } catch (error) {
    if (!(error instanceof BudgetError)) throw error;
    errors.push(`${where}: ${error.message}`);
  }
  return null;
}

/**
 * The groups of every topology budget as the fleet stands now: their sizes, limits and nodes in use. `nodes` are the
 * Nodes the controller knows; only managed ones form groups. `usingBudget` names the nodes whose standing occupies
 * budget (src/core/standing.ts), as the fleet's selection found them.
 */
export function topologyGroups(
  budgets: readonly TopologyBudget[],
  nodes: readonly NodeView[],
  usingBudget: readonly string[],
): TopologyGroup[] {
  if (budgets.length === 0) return [];
  const managed = new Map(nodes.filter(isManaged).map((n) => [n.name, n]));
  const using = usingBudget.flatMap((name) => managed.get(name) ?? []);
  const groups: TopologyGroup[] = [];
  for (const { topologyKey, budget } of budgets) {
    const sizes = countBy([...managed.values()], topologyKey);
    const inUse = countBy(using, topologyKey);
    for (const [value, size] of [...sizes].sort(byValue)) {
      groups.push({
        topologyKey,
        value,
        nodes: size,
        limit: budgetLimit(budget, size),
        inUse: inUse.get(value) ?? 0,
        description: describeBudget(budget),
      });
    }
  }
  return groups;
}

function countBy(nodes: readonly NodeView[], key: string): Map<string | null, number> {
  const counts = new Map<string | null, number>();
  for (const node of nodes) {
    const value = node.labels[key] ?? null;
    counts.set(value, (counts.get(value) ?? 0) + 1);
  }
  return counts;
}

/** Values in order, the group without the label last. */
function byValue([a]: [string | null, number], [b]: [string | null, number]): number {
  if (a === b) return 0;
  if (a === null) return 1;
  if (b === null) return -1;
  return a < b ? -1 : 1;
}

/**
 * Keeps count of the starts granted in one selection pass, group by group. `blocking(node)` is the first group whose
 * in-use count plus the starts granted so far has reached its limit, or null when the node may start; `grant(node)`
 * records a start.
 */
export class TopologyLedger {
  readonly #groups: Map<string, TopologyGroup>;
  readonly #granted = new Map<string, number>();
  readonly #keys: readonly string[];

  constructor(budgets: readonly TopologyBudget[], groups: readonly TopologyGroup[]) {
    this.#keys = budgets.map((b) => b.topologyKey);
    this.#groups = new Map(groups.map((g) => [groupId(g.topologyKey, g.value), g]));
  }

  blocking(node: NodeView): { group: TopologyGroup; inUse: number } | null {
    for (const key of this.#keys) {
      const id = groupId(key, node.labels[key] ?? null);
      const group = this.#groups.get(id);
      if (group === undefined) continue; // not a managed node: selection holds it back anyway
      const inUse = group.inUse + (this.#granted.get(id) ?? 0);
      if (inUse >= group.limit) return { group, inUse };
    }
    return null;
  }

  grant(node: NodeView): void {
    for (const key of this.#keys) {
      const id = groupId(key, node.labels[key] ?? null);
      this.#granted.set(id, (this.#granted.get(id) ?? 0) + 1);
    }
  }
}

function groupId(key: string, value: string | null): string {
  return JSON.stringify([key, value]);
}
