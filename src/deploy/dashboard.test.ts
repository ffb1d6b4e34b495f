// The Grafana dashboard: committed JSON equals the generator's output, its structure is one Grafana can import, and
// every query names only metrics (and labels of those metrics) that the controller and the API server register.
// The registered names come from the real registries (src/metrics): ControllerMetrics and ApiServerMetrics are built
// here without a cluster, and their registries list each metric with its type and label names.
import { readFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { describe, expect, it } from "vitest";
import { BRS_STATES } from "../api/state-machine.ts";
import { ApiServerMetrics } from "../apiserver/metrics.ts";
import { ControllerMetrics } from "../controller/metrics.ts";
import { NOT_STARTED_CODES } from "../core/reasons.ts";
import { dashboardQueries, grafanaDashboard, grafanaDashboardJson, type DashboardPanel } from "./dashboard.ts";

const root = join(dirname(fileURLToPath(import.meta.url)), "..", "..");

interface Registered {
  /** The metric family name, as registered. */
  family: string;
  labels: readonly string[];
}

/** Every series name Prometheus will store for the registered metrics, mapped to its family and labels. */
function registeredSeries(): Map<string, Registered> {
  const registries = [new ControllerMetrics().registry, new ApiServerMetrics({ defaultMetrics: false }).registry];
  const series = new Map<string, Registered>();
  for (const registry of registries) {
    for (const metric of registry.list()) {
      const labels = metric.labelNames;
      const family: Registered = { family: metric.name, labels };
      if (metric.type === "histogram") {
        series.set(`${metric.name}_bucket`, { family: metric.name, labels: [...labels, "le"] });
        series.set(`${metric.name}_sum`, family);
        series.set(`${metric.name}_count`, family);
      } else {
        series.set(metric.name, family);
      }
    }
  }
  return series;
}

const SERIES = registeredSeries();
/** Labels Prometheus adds to every scraped series. */
const TARGET_LABELS = ["instance", "job"];

function metricNames(expr: string): string[] {
  return [...expr.matchAll(/\b(brupop_[a-z0-9_]+)\b/g)].map((m) => m[1] ?? "");
}

/** Label names an expression groups by, matches on, or shows in its legend. */
function labelsUsed(expr: string, legend: string): string[] {
  const labels: string[] = [];
  for (const m of expr.matchAll(/\b(?:by|without|on|ignoring)\s*\(([^)]*)\)/g)) {
    labels.push(...(m[1] ?? "").split(",").map((s) => s.trim()));
  }
  for (const m of expr.matchAll(/\{([^}]*)\}/g)) {
    for (const matcher of (m[1] ?? "").split(",")) {
      const name = /^\s*([A-Za-z_][A-Za-z0-9_]*)\s*(?:=~|!~|!=|=)/.exec(matcher)?.[1];
      if (name !== undefined) labels.push(name);
    }
  }
  for (const m of legend.matchAll(/\{\{\s*([A-Za-z_][A-Za-z0-9_]*)\s*\}\}/g)) labels.push(m[1] ?? "");
  return labels.filter((l) => l !== "");
}

function matcherValues(expr: string, label: string): string[] {
  return [...expr.matchAll(new RegExp(`\\b${label}\\s*(?:=|!=)\\s*"([^"]*)"`, "g"))].map((m) => m[1] ?? "");
}

const dashboard = grafanaDashboard();
const dataPanels = dashboard.panels.filter(
  (p): p is DashboardPanel & { targets: NonNullable<DashboardPanel["targets"]> } =>
    p.type !== "row" && p.targets !== undefined,
);

describe("Grafana dashboard", () => {
  it("is committed as generated (node src/deploy/dashboard-generate.ts)", async () => {
    const committed = await readFile(join(root, "deploy/examples/grafana-dashboard.json"), "utf8");
    expect(JSON.parse(committed)).toEqual(JSON.parse(grafanaDashboardJson()));
  });

  it("registries list the brupop metrics (sanity check of the extraction)", () => {
    expect(SERIES.get("brupop_hosts_state")?.labels).toEqual(["state"]);
    expect(SERIES.get("brupop_hosts_version")?.labels).toEqual(["bottlerocket_version"]);
    expect(SERIES.has("brupop_state_duration_seconds_bucket")).toBe(true);
    expect(SERIES.has("brupop_apiserver_http_requests_total")).toBe(true);
  });

  it("every query references only registered metrics, and only their labels", () => {
    const problems: string[] = [];
    for (const panel of dataPanels) {
      for (const target of panel.targets) {
        const names = metricNames(target.expr);
        if (names.length === 0) problems.push(`${panel.title}: ${target.expr} names no brupop metric`);
        const known = names.filter((n) => SERIES.has(n));
        for (const name of names) {
          if (!SERIES.has(name)) problems.push(`${panel.title}: ${name} is not registered`);
        }
        const allowed = new Set([...TARGET_LABELS, ...known.flatMap((n) => SERIES.get(n)?.labels ?? [])]);
        for (const label of labelsUsed(target.expr, target.legendFormat)) {
          if (!allowed.has(label))
            problems.push(`${panel.title}: label ${label} is not a label of ${known.join(", ")}`);
        }
        // Values of enumerated labels must be ones the code emits.
        for (const state of matcherValues(target.expr, "state")) {
          if (!(BRS_STATES as readonly string[]).includes(state)) problems.push(`${panel.title}: state ${state}`);
        }
        if (names.includes("brupop_nodes_not_started")) {
          for (const reason of matcherValues(target.expr, "reason")) {
            if (!(NOT_STARTED_CODES as readonly string[]).includes(reason)) {
              problems.push(`${panel.title}: not-started reason ${reason}`);
            }
          }
        }
      }
    }
    expect(problems).toEqual([]);
  });

  it("shows hosts by state and version, failures, blocked reasons, time per state, halts, canaries and hooks", () => {
    const used = new Set(dashboardQueries(dashboard).flatMap((q) => metricNames(q.expr)));
    for (const name of [
      "brupop_hosts_state",
      "brupop_hosts_version",
      "brupop_update_failures_total",
      "brupop_nodes_not_started",
      "brupop_state_duration_seconds_bucket",
      "brupop_fleet_halted",
      "brupop_rollout_failed_nodes",
      "brupop_canary_phase",
      "brupop_canary_soak_end_timestamp_seconds",
      "brupop_hook_calls_total",
    ]) {
      expect(used, name).toContain(name);
    }
  });

  it("has a structure Grafana imports: unique ids and refIds, the datasource variable, panels on the 24-column grid without overlap", () => {
    const ids = dashboard.panels.map((p) => p.id);
    expect(new Set(ids).size).toBe(ids.length);
    expect(dashboard.templating.list).toContainEqual(
      expect.objectContaining({ name: "datasource", type: "datasource" }),
    );
    const cells = new Set<string>();
    for (const panel of dashboard.panels) {
      const { x, y, w, h } = panel.gridPos;
      expect(x >= 0 && w > 0 && x + w <= 24 && h > 0, panel.title).toBe(true);
      for (let i = x; i < x + w; i++) {
        for (let j = y; j < y + h; j++) {
          expect(cells.has(`${i},${j}`), `${panel.title} overlaps at ${i},${j}`).toBe(false);
          cells.add(`${i},${j}`);
        }
      }
    }
    for (const panel of dataPanels) {
      expect(panel.targets.length, panel.title).toBeGreaterThan(0);
      const refIds = panel.targets.map((t) => t.refId);
      expect(new Set(refIds).size, panel.title).toBe(refIds.length);
      expect(panel.datasource?.uid).toBe("${datasource}");
      for (const target of panel.targets) expect(target.datasource.uid).toBe("${datasource}");
    }
  });
});
