// What the policy resource's status shows, as a pure function of one fleet decision. It changes only when
// something a user cares about changes (no "last evaluated" clock), so the controller writes it only then.
import type { UpdatePolicyStatus } from "../api/update-policy.ts";
import { formatTimestamp } from "../api/timestamps.ts";
import { HALTED_CONDITION, haltCondition, haltStatus } from "./halt.ts";
import { hostsByState } from "./metrics.ts";
import type { ShadowView } from "./model.ts";
import type { PolicyResolution } from "./policy.ts";
import { summarizeNotStarted } from "./metrics.ts";
import { isBlocking } from "./reasons.ts";
import type { Selection } from "./select.ts";
import type { Plan } from "./plan.ts";
import { publishedPlan } from "./plan-status.ts";
import { describeGroup, type TopologyGroup } from "./topology-budget.ts";
import { canaryStatus } from "./canary-status.ts";

export const MAX_BLOCKED_NODES = 100;
/** Label values shown per topology budget (a key such as kubernetes.io/hostname has one per node). */
export const MAX_TOPOLOGY_GROUPS = 100;

export function buildPolicyStatus(input: {
  shadows: readonly ShadowView[];
  managedNodes: number;
  /** Nodes using up budget now (src/core/standing.ts). */
  updating: number;
  resolution: PolicyResolution;
  /** Null when the policy is invalid (nothing was selected). */
  selection: Selection | null;
  observedGeneration?: number;
  /** The status written before: conditions keep their transition times, and an invalid policy keeps the halt. */
  previous?: UpdatePolicyStatus | undefined;
  /** When a condition that changes status now changed. */
  now: Date;
  /** Dry run only (policy spec.dryRun): the plan to publish (src/core/plan.ts). */
  plan?: Plan | null;
}): UpdatePolicyStatus {
  const { shadows, resolution, selection, updating } = input;
  const nodesByState: UpdatePolicyStatus["nodesByState"] = {};
  for (const { labels, value } of hostsByState(shadows)) if (value > 0) nodesByState[labels.state] = value;

  const status: UpdatePolicyStatus = {
    paused: resolution.ok ? resolution.policy.paused : false,
    managedNodes: input.managedNodes,
    updating,
    budget: "unknown",
    nodesByState,
    window: { open: false, message: "the policy is invalid; no update starts until it is fixed" },
  };
  if (input.observedGeneration !== undefined) status.observedGeneration = input.observedGeneration;
  if (resolution.warnings.length > 0) status.warnings = [...resolution.warnings];
  if (!resolution.ok) {
    status.errors = [...resolution.errors];
    // Nothing is decided while the policy is invalid: a halt stays as it was.
    const halted = input.previous?.conditions?.find((c) => c.type === HALTED_CONDITION);
    if (input.previous?.halt !== undefined) status.halt = structuredClone(input.previous.halt);
    if (halted !== undefined) status.conditions = [...(status.conditions ?? []), structuredClone(halted)];
    return status;
  }
  status.sources = { ...resolution.policy.sources };
  if (resolution.policy.dryRun) {
    status.dryRun = true;
    if (input.plan !== undefined && input.plan !== null) status.plan = publishedPlan(input.plan, input.previous?.plan);
  }
  if (selection === null) return status;

  const { limit, description } = selection.budget;
  status.budget = description.endsWith("%") ? `${description} (${limit})` : description;
  if (selection.topology.length > 0) status.topology = topologyStatus(selection.topology);
  if (selection.halt !== null) {
    status.halt = haltStatus(selection.halt);
    const previous = input.previous?.conditions?.find((c) => c.type === HALTED_CONDITION);
    const wanted = haltCondition(selection.halt);
    const lastTransitionTime =
      previous?.status === wanted.status ? previous.lastTransitionTime : formatTimestamp(input.now);
    status.conditions = [...(status.conditions ?? []), { type: HALTED_CONDITION, ...wanted, lastTransitionTime }];
  }
  // Canaries, soak and the version pin.
  if (selection.canary !== null) status.canary = canaryStatus(selection.canary);
  if (resolution.policy.maxVersion !== null) status.maxVersion = resolution.policy.maxVersion;
  const { gate } = selection;
  status.window = { open: gate.open, message: gate.reason };
  // While open, nextOpen is "now" and would change on every pass; only a closed gate has a meaningful next opening.
  if (!gate.open && gate.nextOpen !== null) status.window.nextOpen = formatTimestamp(gate.nextOpen);
  if (gate.openUntil !== null) status.window.openUntil = formatTimestamp(gate.openUntil);

  const blocked = selection.notStarted.filter((entry) => isBlocking(entry.reason.code));
  if (blocked.length > 0) {
    const counts: Record<string, number> = {};
    for (const entry of blocked) counts[entry.reason.code] = (counts[entry.reason.code] ?? 0) + 1;
    status.blocked = counts;
    status.blockedSummary = summarizeNotStarted(selection, ["up-to-date", "in-progress", "no-status", "agent-missing"]);
    status.blockedNodes = blocked
      .slice()
      .sort((a, b) => (a.nodeName < b.nodeName ? -1 : a.nodeName > b.nodeName ? 1 : 0))
      .slice(0, MAX_BLOCKED_NODES)
      .map((entry) => ({ node: entry.nodeName, reason: entry.reason.code, message: stableMessage(entry.reason) }));
  }
  return status;
}

/** The groups by key, in the policy's order, at most MAX_TOPOLOGY_GROUPS values per key. */
function topologyStatus(groups: readonly TopologyGroup[]): NonNullable<UpdatePolicyStatus["topology"]> {
  const byKey = new Map<string, NonNullable<UpdatePolicyStatus["topology"]>[number]>();
  for (const g of groups) {
    let entry = byKey.get(g.topologyKey);
    if (entry === undefined) {
      entry = { topologyKey: g.topologyKey, budget: g.description, groups: [] };
      byKey.set(g.topologyKey, entry);
    }
    if (entry.groups.length >= MAX_TOPOLOGY_GROUPS) continue;
    entry.groups.push({
      ...(g.value === null ? {} : { value: g.value }),
      managedNodes: g.nodes,
      limit: g.limit,
      updating: g.inUse,
    });
  }
  return [...byKey.values()];
}

/** Messages that embed counts which change with every start (budget-full, topology-budget-full) are reduced to their stable part. */
function stableMessage(reason: Selection["notStarted"][number]["reason"]): string {
  if (reason.code === "budget-full") return `budget full (${reason.limit === Infinity ? "unlimited" : reason.limit})`;
  if (reason.code === "topology-budget-full") {
    return `${describeGroup(reason.topologyKey, reason.value)} at its budget (${reason.limit})`;
  }
  return reason.message;
}
