// The Grafana dashboard for a rollout (deploy/examples/grafana-dashboard.json), built from typed panels so that the
// queries live in one place and a test can check each one against the metrics the controller and the API server
// register. Regenerate the JSON with `node src/deploy/dashboard-generate.ts` (a test fails when it is stale).
//
// The fleet gauges (brupop_hosts_state, brupop_hosts_version, brupop_nodes_not_started, brupop_update_budget) are
// set by the leading controller replica only; a standby exports them without series. The queries still aggregate
// with max()/sum() so that a scrape of both replicas (as the example Prometheus configuration does) counts each node
// once, and the fleet panels keep only the replica whose brupop_controller_leader is 1.

export const DASHBOARD_UID = "brupop-rollout";

/** The datasource variable every panel uses; Grafana asks for it on import. */
const DATASOURCE = { type: "prometheus", uid: "${datasource}" } as const;

export interface DashboardTarget {
  readonly refId: string;
  readonly expr: string;
  readonly legendFormat: string;
  readonly datasource: typeof DATASOURCE;
}

export interface DashboardPanel {
  readonly id: number;
  readonly type: "stat" | "timeseries" | "bargauge" | "row";
  readonly title: string;
  readonly description?: string;
  readonly gridPos: { readonly x: number; readonly y: number; readonly w: number; readonly h: number };
  readonly datasource?: typeof DATASOURCE;
  readonly targets?: readonly DashboardTarget[];
  readonly fieldConfig?: unknown;
  readonly options?: unknown;
  readonly collapsed?: boolean;
}

export interface Dashboard {
  readonly uid: string;
  readonly title: string;
  readonly description: string;
  readonly tags: readonly string[];
  readonly schemaVersion: number;
  readonly version: number;
  readonly editable: boolean;
  readonly refresh: string;
  readonly time: { readonly from: string; readonly to: string };
  readonly timezone: string;
  readonly templating: { readonly list: readonly unknown[] };
  readonly annotations: { readonly list: readonly unknown[] };
  readonly panels: readonly DashboardPanel[];
}

/** Fleet gauges from the leading controller replica only. */
const fromLeader = (selector: string): string => `(${selector} and on (instance) (brupop_controller_leader == 1))`;

interface QuerySpec {
  readonly expr: string;
  readonly legend: string;
}

interface PanelSpec {
  readonly type: "stat" | "timeseries" | "bargauge";
  readonly title: string;
  readonly description: string;
  readonly queries: readonly QuerySpec[];
  readonly w: number;
  readonly h: number;
  readonly unit?: string;
  readonly stacked?: boolean;
  /** Value mappings, e.g. -1 -> "unlimited". */
  readonly mappings?: readonly unknown[];
  readonly thresholds?: readonly { readonly value: number | null; readonly color: string }[];
}

type Row = { readonly row: string; readonly panels: readonly PanelSpec[] };

const ROWS: readonly Row[] = [
  {
    row: "Rollout",
    panels: [
      {
        type: "stat",
        title: "Managed nodes",
        description: "BottlerocketShadows with a status (each managed node with a running agent has one).",
        queries: [{ expr: `sum(${fromLeader("brupop_hosts_state")})`, legend: "nodes" }],
        w: 4,
        h: 4,
      },
      {
        type: "stat",
        title: "Updating now",
        description: "Nodes out of Idle (the budget in use), against the budget (MAX_CONCURRENT_UPDATE or the policy).",
        queries: [
          { expr: `max(brupop_update_budget{kind="in_use"})`, legend: "in use" },
          { expr: `max(brupop_update_budget{kind="limit"})`, legend: "limit" },
        ],
        w: 4,
        h: 4,
        mappings: [{ type: "value", options: { "-1": { text: "unlimited" } } }],
      },
      {
        type: "stat",
        title: "Failed nodes (ErrorReset)",
        description: "Nodes whose agent reports ErrorReset: a step failed; the controller backs the node off.",
        queries: [{ expr: `sum(${fromLeader(`brupop_hosts_state{state="ErrorReset"}`)})`, legend: "ErrorReset" }],
        w: 4,
        h: 4,
        thresholds: [
          { value: null, color: "green" },
          { value: 1, color: "red" },
        ],
      },
      {
        type: "stat",
        title: "Rollout halted",
        description:
          "brupop_fleet_halted: 1 while the rollout is halted because more nodes failed than the policy's " +
          "spec.maxFailedNodes allows; no new update starts until brupop resume. brupop status and the policy's " +
          "Halted condition name the failed nodes.",
        queries: [{ expr: `max(${fromLeader("brupop_fleet_halted")})`, legend: "halted" }],
        w: 4,
        h: 4,
        mappings: [{ type: "value", options: { "0": { text: "no" }, "1": { text: "HALTED" } } }],
        thresholds: [
          { value: null, color: "green" },
          { value: 1, color: "red" },
        ],
      },
      {
        type: "stat",
        title: "Versions running",
        description: "Distinct Bottlerocket versions in the fleet: 1 when the rollout is complete.",
        queries: [{ expr: `count(${fromLeader("brupop_hosts_version")} > 0)`, legend: "versions" }],
        w: 4,
        h: 4,
      },
      {
        type: "stat",
        title: "Controller leader",
        description: "Replicas that hold the lease: anything but 1 means no controller is deciding.",
        queries: [{ expr: "sum(brupop_controller_leader)", legend: "leaders" }],
        w: 4,
        h: 4,
        thresholds: [
          { value: null, color: "red" },
          { value: 1, color: "green" },
          { value: 2, color: "red" },
        ],
      },
      {
        type: "timeseries",
        title: "Hosts by state",
        description: "brupop_hosts_state{state}: nodes by the state their agent reports (status.current_state).",
        queries: [{ expr: `max by (state) (${fromLeader("brupop_hosts_state")})`, legend: "{{state}}" }],
        w: 12,
        h: 8,
        stacked: true,
      },
      {
        type: "timeseries",
        title: "Hosts by Bottlerocket version",
        description:
          "brupop_hosts_version{bottlerocket_version}: nodes by the version they run (status.current_version).",
        queries: [
          {
            expr: `max by (bottlerocket_version) (${fromLeader("brupop_hosts_version")})`,
            legend: "{{bottlerocket_version}}",
          },
        ],
        w: 12,
        h: 8,
        stacked: true,
      },
      {
        type: "bargauge",
        title: "Why nodes are not started",
        description:
          "brupop_nodes_not_started{reason}: nodes the controller did not start on its last pass, by reason " +
          "(budget-full, outside-window, paused, backoff, quarantined, agent-missing, ...). up-to-date is left out.",
        queries: [
          {
            expr: `max by (reason) (${fromLeader(`brupop_nodes_not_started{reason!="up-to-date"}`)}) > 0`,
            legend: "{{reason}}",
          },
        ],
        w: 8,
        h: 8,
      },
      {
        type: "timeseries",
        title: "Update failures",
        description:
          "brupop_update_failures_total{reason}: crashed (the agent reported ErrorReset), timed-out (a state " +
          "outlived its timeout), gate-failed (a health gate after the reboot) or hook-failed (a blocking hook).",
        queries: [
          {
            expr: "sum by (reason) (increase(brupop_update_failures_total[$__rate_interval]))",
            legend: "{{reason}}",
          },
        ],
        w: 8,
        h: 8,
      },
      {
        type: "timeseries",
        title: "State transitions",
        description: "brupop_state_transitions_total{from,to}: spec transitions written by the controller.",
        queries: [
          {
            expr: "sum by (from, to) (increase(brupop_state_transitions_total[$__rate_interval]))",
            legend: "{{from}} → {{to}}",
          },
        ],
        w: 8,
        h: 8,
      },
      {
        type: "timeseries",
        title: "Time per state (p95)",
        description:
          "brupop_state_duration_seconds{state}: time from a desired state being set until the controller moved " +
          "the node on.",
        queries: [
          {
            expr:
              "histogram_quantile(0.95, sum by (le, state) " +
              "(rate(brupop_state_duration_seconds_bucket[$__rate_interval])))",
            legend: "{{state}}",
          },
        ],
        w: 12,
        h: 8,
        unit: "s",
      },
      {
        type: "timeseries",
        title: "Time per state (mean)",
        description: "Mean of brupop_state_duration_seconds by state.",
        queries: [
          {
            expr:
              "sum by (state) (rate(brupop_state_duration_seconds_sum[$__rate_interval])) / " +
              "sum by (state) (rate(brupop_state_duration_seconds_count[$__rate_interval]))",
            legend: "{{state}}",
          },
        ],
        w: 12,
        h: 8,
        unit: "s",
      },
    ],
  },
  {
    row: "Health gates, halts and canaries",
    panels: [
      {
        type: "stat",
        title: "Nodes in health gates",
        description:
          "Nodes whose agent reports MonitoringUpdate: rebooted into the new version, their health gates being " +
          "checked (a gate that does not pass in time fails the update: gate-failed under Update failures).",
        queries: [
          { expr: `sum(${fromLeader(`brupop_hosts_state{state="MonitoringUpdate"}`)})`, legend: "MonitoringUpdate" },
        ],
        w: 4,
        h: 6,
      },
      {
        type: "timeseries",
        title: "Failed nodes in this rollout",
        description:
          "brupop_rollout_failed_nodes{kind}: with the policy's spec.maxFailedNodes, the nodes failed in the current " +
          "rollout (failed) against the limit; one more than the limit halts the rollout (Rollout halted).",
        queries: [{ expr: `max by (kind) (${fromLeader("brupop_rollout_failed_nodes")})`, legend: "{{kind}}" }],
        w: 8,
        h: 6,
      },
      {
        type: "bargauge",
        title: "Canary phase by version",
        description:
          "brupop_canary_phase{version, phase}: with the policy's spec.canary, for each version other nodes wait to " +
          "install, the canaries' phase: Pending (updating), Soaking, Passed (the others may install it), Failed.",
        queries: [
          {
            expr: `max by (version, phase) (${fromLeader("brupop_canary_phase")}) == 1`,
            legend: "{{version}} {{phase}}",
          },
        ],
        w: 6,
        h: 6,
      },
      {
        type: "stat",
        title: "Soak ends",
        description:
          "brupop_canary_soak_end_timestamp_seconds{version}: when the canaries' soak of each version ends; the " +
          "other nodes may start from then.",
        queries: [
          {
            expr: `max by (version) (${fromLeader("brupop_canary_soak_end_timestamp_seconds")}) * 1000`,
            legend: "{{version}}",
          },
        ],
        w: 6,
        h: 6,
        unit: "dateTimeAsIso",
      },
      {
        type: "timeseries",
        title: "Hook calls",
        description:
          "brupop_hook_calls_total{phase, hook, result}: calls of the policy's pre-drain and post-reboot hooks: " +
          "passed, not-yet (429 or 503 with Retry-After), retrying (a failed call with attempts left), failed (the " +
          "hook failed: a blocking one fails the update, hook-failed under Update failures).",
        queries: [
          {
            expr: "sum by (phase, hook, result) (increase(brupop_hook_calls_total[$__rate_interval]))",
            legend: "{{phase}} {{hook}} {{result}}",
          },
        ],
        w: 24,
        h: 6,
      },
    ],
  },
  {
    row: "Controller",
    panels: [
      {
        type: "timeseries",
        title: "Reconcile duration (p95)",
        description: "brupop_reconcile_duration_seconds by key kind (node, fleet) and result.",
        queries: [
          {
            expr:
              "histogram_quantile(0.95, sum by (le, kind, result) " +
              "(rate(brupop_reconcile_duration_seconds_bucket[$__rate_interval])))",
            legend: "{{kind}} {{result}}",
          },
        ],
        w: 12,
        h: 8,
        unit: "s",
      },
      {
        type: "timeseries",
        title: "Work queue depth",
        description: "brupop_workqueue_depth: keys waiting to be reconciled.",
        queries: [{ expr: "sum by (instance) (brupop_workqueue_depth)", legend: "{{instance}}" }],
        w: 12,
        h: 8,
      },
    ],
  },
  {
    row: "API server",
    panels: [
      {
        type: "timeseries",
        title: "Requests by route and code",
        description: "brupop_apiserver_http_requests_total: agent calls, probes and conversion webhook calls.",
        queries: [
          {
            expr: "sum by (route, code) (rate(brupop_apiserver_http_requests_total[$__rate_interval]))",
            legend: "{{route}} {{code}}",
          },
        ],
        w: 12,
        h: 8,
        unit: "reqps",
      },
      {
        type: "timeseries",
        title: "Refused agent authentications",
        description: "brupop_apiserver_authentications_total{result!=allowed} by reason.",
        queries: [
          {
            expr:
              'sum by (result, reason) (rate(brupop_apiserver_authentications_total{result!="allowed"}' +
              "[$__rate_interval]))",
            legend: "{{result}} {{reason}}",
          },
        ],
        w: 12,
        h: 8,
        unit: "reqps",
      },
      {
        type: "timeseries",
        title: "Drains",
        description: "Drains in progress, and finished drains by outcome (drained, timed-out, failed, cancelled).",
        queries: [
          { expr: "sum(brupop_apiserver_drains_in_progress)", legend: "in progress" },
          {
            expr: "sum by (outcome) (increase(brupop_apiserver_drains_total[$__rate_interval]))",
            legend: "{{outcome}}",
          },
        ],
        w: 12,
        h: 8,
      },
      {
        type: "timeseries",
        title: "Drain duration (p95)",
        description: "brupop_apiserver_drain_duration_seconds by outcome.",
        queries: [
          {
            expr:
              "histogram_quantile(0.95, sum by (le, outcome) " +
              "(rate(brupop_apiserver_drain_duration_seconds_bucket[$__rate_interval])))",
            legend: "{{outcome}}",
          },
        ],
        w: 12,
        h: 8,
        unit: "s",
      },
    ],
  },
];

const REF_IDS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ";

function panel(spec: PanelSpec, id: number, x: number, y: number): DashboardPanel {
  const steps = spec.thresholds ?? [{ value: null, color: "green" }];
  const custom =
    spec.type === "timeseries"
      ? {
          drawStyle: "line",
          lineWidth: 1,
          fillOpacity: spec.stacked === true ? 30 : 0,
          stacking: { mode: spec.stacked === true ? "normal" : "none", group: "A" },
          showPoints: "never",
        }
      : {};
  return {
    id,
    type: spec.type,
    title: spec.title,
    description: spec.description,
    gridPos: { x, y, w: spec.w, h: spec.h },
    datasource: DATASOURCE,
    targets: spec.queries.map((query, i) => ({
      refId: REF_IDS[i] ?? `Q${i}`,
      expr: query.expr,
      legendFormat: query.legend,
      datasource: DATASOURCE,
    })),
    fieldConfig: {
      defaults: {
        unit: spec.unit ?? "short",
        mappings: spec.mappings ?? [],
        thresholds: { mode: "absolute", steps },
        ...(spec.type === "timeseries" ? { custom } : {}),
      },
      overrides: [],
    },
    options:
      spec.type === "timeseries"
        ? { legend: { displayMode: "list", placement: "bottom", showLegend: true }, tooltip: { mode: "multi" } }
        : spec.type === "stat"
          ? { reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false }, colorMode: "value" }
          : { reduceOptions: { calcs: ["lastNotNull"], fields: "", values: false }, orientation: "horizontal" },
  };
}

/** The dashboard, laid out left to right on Grafana's 24-column grid, one row per component. */
export function grafanaDashboard(): Dashboard {
  const panels: DashboardPanel[] = [];
  let id = 1;
  let y = 0;
  for (const row of ROWS) {
    panels.push({ id: id++, type: "row", title: row.row, collapsed: false, gridPos: { x: 0, y, w: 24, h: 1 } });
    y += 1;
    let x = 0;
    let rowHeight = 0;
    for (const spec of row.panels) {
      if (x + spec.w > 24) {
        y += rowHeight;
        x = 0;
        rowHeight = 0;
      }
      panels.push(panel(spec, id++, x, y));
      x += spec.w;
      rowHeight = Math.max(rowHeight, spec.h);
    }
    y += rowHeight;
  }
  return {
    uid: DASHBOARD_UID,
    title: "Bottlerocket update operator: rollout",
    description:
      "Nodes by state and Bottlerocket version, why nodes wait, failures and time per state, from the controller " +
      "(port 8080) and the API server (metrics port 8080).",
    tags: ["bottlerocket", "brupop"],
    schemaVersion: 39,
    version: 1,
    editable: true,
    refresh: "30s",
    time: { from: "now-6h", to: "now" },
    timezone: "utc",
    templating: {
      list: [
        {
          name: "datasource",
          label: "Prometheus",
          type: "datasource",
          query: "prometheus",
          current: {},
          hide: 0,
          refresh: 1,
        },
      ],
    },
    annotations: { list: [] },
    panels,
  };
}

/** The file's content: stable key order, two-space indentation, final newline. */
export function grafanaDashboardJson(): string {
  return `${JSON.stringify(grafanaDashboard(), null, 2)}\n`;
}

/** Every PromQL expression of the dashboard, with its panel title. */
export function dashboardQueries(dashboard: Dashboard = grafanaDashboard()): { panel: string; expr: string }[] {
  return dashboard.panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, expr: t.expr })));
}
