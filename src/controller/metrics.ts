// The controller's Prometheus metrics, in a private registry (served on :8080/metrics like brupop's).
// brupop's two gauges keep their names and labels; brupop left vanished label values at 0 for ever, we remove them.
import { Counter } from "../metrics/counter.ts";
import { Gauge } from "../metrics/gauge.ts";
import { Histogram } from "../metrics/histogram.ts";
import { Registry } from "../metrics/registry.ts";
import { hostsByState, hostsByVersion, notStartedByReason, staleSeries, type Series } from "../core/metrics.ts";
import type { ShadowView } from "../core/model.ts";
import type { CanarySelection, Selection } from "../core/select.ts";

const CANARY_PHASES = ["Pending", "Soaking", "Passed", "Failed"] as const;

export class ControllerMetrics {
  readonly registry = new Registry();
  readonly #hostsState: Gauge<"state">;
  readonly #hostsVersion: Gauge<"bottlerocket_version">;
  readonly #notStarted: Gauge<"reason">;
  readonly #transitions: Counter<"from" | "to">;
  readonly #failures: Counter<"reason">;
  readonly #timeInState: Histogram<"state">;
  readonly #reconcile: Histogram<"kind" | "result">;
  readonly #queueWait: Histogram<"kind">;
  readonly #budget: Gauge<"kind">;
  readonly #leader: Gauge;
  readonly #halted: Gauge;
  readonly #failedNodes: Gauge<"kind">;
  readonly #hookCalls: Counter<"phase" | "hook" | "result">;
  readonly #canaryPhase: Gauge<"version" | "phase">;
  readonly #soakEnds: Gauge<"version">;
  #canarySeries: { version: string; phase: string }[] = [];
  #versions: { bottlerocket_version: string }[] = [];
  #depth: () => number = () => 0;

  constructor() {
    const registers = [this.registry];
    this.#hostsState = new Gauge({
      name: "brupop_hosts_state",
      help: "Brupop host's state",
      labelNames: ["state"],
      registers,
    });
    this.#hostsVersion = new Gauge({
      name: "brupop_hosts_version",
      help: "Brupop host's bottlerocket version",
      labelNames: ["bottlerocket_version"],
      registers,
    });
    this.#notStarted = new Gauge({
      name: "brupop_nodes_not_started",
      help: "Nodes not started now, by reason (budget-full, outside-window, backoff, paused, up-to-date, ...)",
      labelNames: ["reason"],
      registers,
    });
    this.#transitions = new Counter({
      name: "brupop_state_transitions_total",
      help: "Spec transitions written by the controller, by previous and new desired state",
      labelNames: ["from", "to"],
      registers,
    });
    this.#failures = new Counter({
      name: "brupop_update_failures_total",
      help: "Update steps that failed, by reason (crashed: the agent reported ErrorReset; timed-out; gate-failed: a health gate after the reboot; hook-failed: a blocking pre-drain or post-reboot hook)",
      labelNames: ["reason"],
      registers,
    });
    this.#timeInState = new Histogram({
      name: "brupop_state_duration_seconds",
      help: "Time from a desired state being set until the controller moved the node on, by that state",
      labelNames: ["state"],
      buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600],
      registers,
    });
    this.#reconcile = new Histogram({
      name: "brupop_reconcile_duration_seconds",
      help: "Duration of one reconcile, by key kind (node, fleet) and result",
      labelNames: ["kind", "result"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    this.#queueWait = new Histogram({
      name: "brupop_workqueue_wait_seconds",
      help: "How long a key waited in the work queue, ready, for a worker, by key kind (node, fleet)",
      labelNames: ["kind"],
      buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
      registers,
    });
    const depth = () => this.#depth();
    new Gauge({
      name: "brupop_workqueue_depth",
      help: "Keys waiting in the work queue",
      registers,
      collect() {
        this.set(depth());
      },
    });
    this.#budget = new Gauge({
      name: "brupop_update_budget",
      help: "Update budget: limit (-1 when unlimited) and in_use (nodes out of Idle)",
      labelNames: ["kind"],
      registers,
    });
    this.#leader = new Gauge({ name: "brupop_controller_leader", help: "1 while this replica leads", registers });
    this.#halted = new Gauge({
      name: "brupop_fleet_halted",
      help: "1 while the rollout is halted after too many failed nodes (policy spec.maxFailedNodes), until brupop resume",
      registers,
    });
    this.#failedNodes = new Gauge({
      name: "brupop_rollout_failed_nodes",
      help: "With policy spec.maxFailedNodes: failed (nodes failed in the current rollout) and limit (more halt)",
      labelNames: ["kind"],
      registers,
    });
    this.#hookCalls = new Counter({
      name: "brupop_hook_calls_total",
      help: "Calls of the policy's pre-drain and post-reboot hooks, by phase, hook and result (passed, not-yet, retrying: a failed call with attempts left, failed: the hook failed)",
      labelNames: ["phase", "hook", "result"],
      registers,
    });
    this.#canaryPhase = new Gauge({
      name: "brupop_canary_phase",
      help: "With policy spec.canary: per version other nodes wait to install, 1 for the canaries' phase (Pending, Soaking, Passed, Failed)",
      labelNames: ["version", "phase"],
      registers,
    });
    this.#soakEnds = new Gauge({
      name: "brupop_canary_soak_end_timestamp_seconds",
      help: "With policy spec.canary: when the canaries' soak of a version ends (Unix time)",
      labelNames: ["version"],
      registers,
    });
  }

  /** The canary phase: one series per version other nodes wait for, 1 for its phase; the soak's end. */
  #observeCanary(canary: CanarySelection | null): void {
    const series = (canary?.rollouts ?? []).flatMap((r) =>
      CANARY_PHASES.map((phase) => ({ labels: { version: r.version, phase }, value: r.phase === phase ? 1 : 0 })),
    );
    for (const labels of staleSeries(this.#canarySeries, series)) this.#canaryPhase.remove(labels);
    setAll(this.#canaryPhase, series);
    this.#canarySeries = series.map((s) => s.labels);
    this.#soakEnds.reset();
    for (const r of canary?.rollouts ?? []) {
      if (r.soakEndsAt !== null) this.#soakEnds.set({ version: r.version }, r.soakEndsAt.getTime() / 1000);
    }
  }

  /** Gauges derived from the whole fleet; series for vanished versions are removed. */
  observeFleet(shadows: readonly ShadowView[], selection: Selection | null): void {
    setAll(this.#hostsState, hostsByState(shadows));
    const versions = hostsByVersion(shadows);
    for (const labels of staleSeries(this.#versions, versions)) this.#hostsVersion.remove(labels);
    setAll(this.#hostsVersion, versions);
    this.#versions = versions.map((series) => series.labels);
    if (selection !== null) {
      setAll(this.#notStarted, notStartedByReason(selection));
      const { limit, inUse } = selection.budget;
      this.#budget.set({ kind: "limit" }, Number.isFinite(limit) ? limit : -1);
      this.#budget.set({ kind: "in_use" }, inUse);
      this.#halted.set(selection.halt?.halted === true ? 1 : 0);
      if (selection.halt === null) this.#failedNodes.reset();
      else {
        this.#failedNodes.set({ kind: "failed" }, selection.halt.failedNodes.length);
        this.#failedNodes.set({ kind: "limit" }, selection.halt.limit);
      }
      this.#observeCanary(selection.canary);
    }
  }

  transition(from: string, to: string, secondsInPrevious: number | null): void {
    this.#transitions.inc({ from, to });
    if (secondsInPrevious !== null && secondsInPrevious >= 0)
      this.#timeInState.observe({ state: from }, secondsInPrevious);
  }

  failure(reason: "crashed" | "timed-out" | "gate-failed" | "hook-failed"): void {
    this.#failures.inc({ reason });
  }

  hookCalled(phase: string, hook: string, result: string): void {
    this.#hookCalls.inc({ phase, hook, result });
  }

  reconciled(kind: "node" | "fleet", result: "ok" | "error", seconds: number): void {
    this.#reconcile.observe({ kind, result }, seconds);
  }

  queueWaited(kind: "node" | "fleet", seconds: number): void {
    this.#queueWait.observe({ kind }, seconds);
  }

  /** The queue whose depth `brupop_workqueue_depth` reports at each scrape. */
  trackQueue(depth: () => number): void {
    this.#depth = depth;
  }

  leading(isLeader: boolean): void {
    this.#leader.set(isLeader ? 1 : 0);
  }
}

function setAll<L extends Record<string, string>>(
  gauge: Gauge<Extract<keyof L, string>>,
  series: readonly Series<L>[],
): void {
  for (const { labels, value } of series) gauge.set(labels as never, value);
}
