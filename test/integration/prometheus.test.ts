// A real Prometheus (Debian's `prometheus` package) scraping the real controller and the real API server, with the
// scrape jobs of deploy/examples/prometheus-resources.yaml:
// - the controller runs in-process against the test control plane (the full simulated cluster is not ready yet),
//   with four managed nodes whose BottlerocketShadows carry fixed statuses (no agents) and updates paused, so the
//   expected gauges are known exactly;
// - the API server runs as its own process (`node src/apiserver/main.ts`, TLS from files made here) and serves its
//   /metrics on a plain-HTTP port, as in a pod;
// - Prometheus runs as a child process with the example's two jobs, their EndpointSlice discovery replaced by
//   static targets carrying the labels that discovery would set (Debian builds Prometheus without Kubernetes service
//   discovery), plus decoy targets that the example's relabelling must drop.
// Then brupop_hosts_state and brupop_hosts_version are read back through Prometheus' HTTP API and compared with the
// shadows, a status change is followed (a vanished version disappears from Prometheus too), and every query of the
// Grafana dashboard is evaluated by this Prometheus and must return the series the test fed in: a crashed node reset
// twice, two drains, two refused tokens, probes (each twice, a scrape apart: a rate needs two different samples).
//
// The test fails (never skips) when the prometheus binary is missing: apt-get install -y prometheus.
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { request as httpsRequest } from "node:https";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { AppsV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions, type V1Pod } from "@kubernetes/client-node";
import { parse, parseAllDocuments, stringify } from "yaml";
import { eventually, useCluster, type TestCluster } from "../support/cluster.ts";
import { Child, freePort, prometheusBinary, startPrometheus, type RunningPrometheus } from "../support/prometheus.ts";
import { installOperatorCrds } from "../../sim/stand-ins/status-agents.ts";
import { requestPodToken } from "../../sim/cluster/tokens.ts";
import { testControllerConfig } from "../support/controller-config.ts";
import {
  AGENT_ROUTES,
  API_GROUP,
  API_VERSION_V2,
  COMPONENT,
  KIND,
  LABEL_COMPONENT,
  PLURAL,
  TOKEN_AUDIENCE,
  VERSION_V2,
  brsName,
} from "../../src/api/constants.ts";
import type { BottlerocketShadow, BottlerocketShadowStatus } from "../../src/api/bottlerocket-shadow.ts";
import { BRS_STATES, type BrsState } from "../../src/api/state-machine.ts";
import { formatTimestamp } from "../../src/api/timestamps.ts";
import { Controller } from "../../src/controller/controller.ts";
import { dashboardQueries } from "../../src/deploy/dashboard.ts";
import { createCertificateAuthority } from "../../src/pki/certificates.ts";

const run = promisify(execFile);
const root = join(import.meta.dirname, "..", "..");
const EXAMPLE = join(root, "deploy", "examples", "prometheus-resources.yaml");
interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

const MERGE_PATCH = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

let prometheusUrl = "";

async function promQuery(query: string): Promise<Sample[]> {
  const response = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(query)}`);
  const body = (await response.json()) as { status: string; error?: string; data?: { result: Sample[] } };
  if (body.status !== "success") throw new Error(`query ${query}: ${body.error ?? response.status}`);
  return body.data?.result ?? [];
}

/** `{labelValue: number}` of a query's result, keyed by one label. */
async function byLabel(query: string, label: string): Promise<Record<string, number>> {
  const result: Record<string, number> = {};
  for (const sample of await promQuery(query)) result[sample.metric[label] ?? ""] = Number(sample.value[1]);
  return result;
}

function sameCounts(actual: Record<string, number>, expected: Record<string, number>): true | undefined {
  return JSON.stringify(Object.entries(actual).sort()) === JSON.stringify(Object.entries(expected).sort())
    ? true
    : undefined;
}

/** A request over TLS with the given CA (fetch cannot take a CA); resolves with the status code. */
function httpsCall(url: string, ca: string, method = "GET", headers: Record<string, string> = {}): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = httpsRequest(url, { ca, method, headers }, (res) => {
      res.resume();
      res.on("end", () => resolve(res.statusCode ?? 0));
    });
    req.on("error", reject);
    req.end();
  });
}

const httpsGet = (url: string, ca: string): Promise<number> => httpsCall(url, ca);

// ---- fixture: four shadows with fixed statuses ----

interface Fixture {
  state: BrsState;
  current: string;
  target: string;
}

const FIXTURES: readonly Fixture[] = [
  { state: "Idle", current: "1.20.0", target: "1.21.0" }, // wants an update; paused
  { state: "Idle", current: "1.20.0", target: "1.20.0" },
  { state: "MonitoringUpdate", current: "1.21.0", target: "1.21.0" },
  { state: "ErrorReset", current: "1.19.5", target: "1.21.0" },
];

function countBy(fixtures: readonly Fixture[], key: (f: Fixture) => string, all: readonly string[] = []) {
  const counts: Record<string, number> = Object.fromEntries(all.map((k) => [k, 0]));
  for (const f of fixtures) counts[key(f)] = (counts[key(f)] ?? 0) + 1;
  return counts;
}

function status(f: Fixture): BottlerocketShadowStatus {
  return {
    current_version: f.current,
    target_version: f.target,
    current_state: f.state,
    crash_count: f.state === "ErrorReset" ? 1 : 0,
    state_transition_failure_timestamp: f.state === "ErrorReset" ? formatTimestamp(new Date()) : null,
  };
}

let t: TestCluster;
let custom: CustomObjectsApi;
let nodes: string[] = [];
let controller: Controller | undefined;
let apiserver: Child | undefined;
let prometheus: RunningPrometheus | undefined;
let tmp = "";
let caPem = "";
let apiserverPort = 0;
let apiserverMetricsPort = 0;

async function writeStatus(node: string, value: BottlerocketShadowStatus): Promise<void> {
  await custom.patchNamespacedCustomObjectStatus(
    {
      group: API_GROUP,
      version: VERSION_V2,
      namespace: t.namespace,
      plural: PLURAL,
      name: brsName(node),
      body: { status: value },
    },
    MERGE_PATCH,
  );
}

/** The example's scrape jobs with discovery replaced by static targets labelled as EndpointSlice discovery would. */
async function scrapeConfig(controllerPort: number): Promise<string> {
  const documents = parseAllDocuments(await readFile(EXAMPLE, "utf8")).map(
    (d) => d.toJSON() as { kind?: string; data?: Record<string, string> },
  );
  const configMap = documents.find((d) => d.kind === "ConfigMap");
  const config = parse(String(configMap?.data?.["prometheus.yml"])) as {
    global: Record<string, string>;
    scrape_configs: Record<string, unknown>[];
  };
  const target = (port: number, service: string, portName: string, pod: string) => ({
    targets: [`127.0.0.1:${port}`],
    labels: {
      __meta_kubernetes_namespace: t.namespace,
      __meta_kubernetes_service_name: service,
      __meta_kubernetes_endpointslice_port_name: portName,
      __meta_kubernetes_pod_name: pod,
      __meta_kubernetes_pod_node_name: "control-plane",
    },
  });
  // Each job discovers every endpoint of the namespace; only its own Service and port may survive relabelling.
  const discovered = [
    target(controllerPort, "brupop-controller-server", "main", "brupop-controller-a"),
    target(apiserverMetricsPort, "brupop-apiserver", "metrics", "brupop-apiserver-a"),
    target(apiserverPort, "brupop-apiserver", "https", "brupop-apiserver-a"),
  ];
  config.global = { scrape_interval: "1s", evaluation_interval: "1s" };
  for (const job of config.scrape_configs) {
    expect(job.kubernetes_sd_configs, `job ${String(job.job_name)} uses Kubernetes discovery`).toBeDefined();
    delete job.kubernetes_sd_configs;
    job.static_configs = discovered;
  }
  return stringify(config);
}

beforeAll(async () => {
  const binary = await prometheusBinary();

  t = await useCluster(import.meta.url);
  custom = t.kc.makeApiClient(CustomObjectsApi);
  tmp = await mkdtemp(join(tmpdir(), "brupop-prometheus-"));
  await installOperatorCrds(t.kc);

  // Four managed nodes and their shadows, statuses as the fixtures say.
  nodes = await t.createNodes(FIXTURES.length);
  await Promise.all(
    nodes.map(async (node, i) => {
      const uid = (await t.core.readNode({ name: node })).metadata?.uid ?? "";
      await custom.createNamespacedCustomObject({
        group: API_GROUP,
        version: VERSION_V2,
        namespace: t.namespace,
        plural: PLURAL,
        body: {
          apiVersion: API_VERSION_V2,
          kind: KIND,
          metadata: { name: brsName(node), ownerReferences: [{ apiVersion: "v1", kind: "Node", name: node, uid }] },
          spec: { state: "Idle", state_transition_timestamp: null, version: null },
        },
      });
      const fixture = FIXTURES[i];
      if (fixture !== undefined) await writeStatus(node, status(fixture));
    }),
  );

  // The controller, in-process, metrics on a free local port; paused so that no node is started.
  controller = new Controller({
    client: t.client,
    config: testControllerConfig(t, "prometheus-test", { UPDATES_PAUSED: "true" }),
    onLeadershipLost: () => undefined,
  });
  await controller.start();
  await controller.whenLeading();
  const controllerPort = controller.metricsPort ?? 0;

  // The API server's real entry point, TLS from files.
  const ca = await createCertificateAuthority("prometheus-test-ca");
  const leaf = await ca.issue({
    commonName: "brupop-apiserver",
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
    usages: ["server"],
  });
  caPem = ca.certPem;
  await Promise.all([
    writeFile(join(tmp, "tls.crt"), leaf.certPem),
    writeFile(join(tmp, "tls.key"), leaf.keyPem),
    writeFile(join(tmp, "ca.crt"), ca.certPem),
  ]);
  apiserverPort = await freePort();
  apiserverMetricsPort = await freePort();
  apiserver = new Child(process.execPath, [join(root, "src", "apiserver", "main.ts")], {
    ...process.env,
    KUBECONFIG: t.info.kubeconfigPath,
    POD_NAMESPACE: t.namespace,
    APISERVER_BIND_ADDRESS: "127.0.0.1",
    APISERVER_INTERNAL_PORT: String(apiserverPort),
    APISERVER_METRICS_PORT: String(apiserverMetricsPort),
    APISERVER_TLS_MODE: "files",
    APISERVER_TLS_DIR: tmp,
    TERMINATION_LOG: join(tmp, "apiserver-termination-log"),
    LOG_LEVEL: "warn",
  });
  await eventually(
    "the API server serves /livez over TLS",
    async () => {
      if (apiserver?.process.exitCode !== null) throw new Error(`API server exited:\n${apiserver?.tail() ?? ""}`);
      return (await httpsGet(`https://127.0.0.1:${apiserverPort}/livez`, caPem)) === 200 ? true : undefined;
    },
    30_000,
  );

  // Prometheus.
  const configFile = join(tmp, "prometheus.yml");
  await writeFile(configFile, await scrapeConfig(controllerPort));
  prometheus = await startPrometheus(binary, configFile, tmp);
  prometheusUrl = prometheus.url;
});

afterAll(async () => {
  await prometheus?.stop();
  await apiserver?.stop();
  await controller?.stop();
  if (tmp !== "") await rm(tmp, { recursive: true, force: true });
  await (t as TestCluster | undefined)?.cleanup(); // undefined when the binary was missing
});

// ---- what the dashboard test feeds in, and what it expects back ----

type Labels = Record<string, string>;
type Check = number | ((value: number) => boolean);
/** Whether a query's result is what the test fed in. */
type Expectation = (result: readonly Sample[]) => boolean;

const positive = (v: number) => v > 0;
const finite = (v: number) => Number.isFinite(v);

function matches([labels, check]: [Labels, Check], sample: Sample): boolean {
  const value = Number(sample.value[1]);
  const { __name__: _name, ...metric } = sample.metric;
  return (
    JSON.stringify(Object.entries(metric).sort()) === JSON.stringify(Object.entries(labels).sort()) &&
    (typeof check === "number" ? value === check : check(value))
  );
}

/** Exactly these series (by their whole label set), each with a value that passes its check. */
const exactly =
  (...series: [Labels, Check][]): Expectation =>
  (result) =>
    result.length === series.length && series.every((s) => result.some((sample) => matches(s, sample)));

/** At least these series; others may come from what the system does besides (e.g. its own reconciles). */
const including =
  (...series: [Labels, Check][]): Expectation =>
  (result) =>
    series.every((s) => result.some((sample) => matches(s, sample)));

async function readShadow(node: string): Promise<BottlerocketShadow> {
  return (await custom.getNamespacedCustomObject({
    group: API_GROUP,
    version: VERSION_V2,
    namespace: t.namespace,
    plural: PLURAL,
    name: brsName(node),
  })) as BottlerocketShadow;
}

/**
 * A node whose update was started 35 s ago (as a previous leader would have left it) reports a crash; the controller
 * resets it to Idle: one failure, one transition StagedAndPerformedUpdate → Idle, one time-in-state of 35 s or so.
 */
async function crashAndReset(node: string, crashCount: number): Promise<void> {
  await writeStatus(node, { ...status({ state: "Idle", current: "1.21.0", target: "1.21.0" }), crash_count: 0 });
  await custom.patchNamespacedCustomObject(
    {
      group: API_GROUP,
      version: VERSION_V2,
      namespace: t.namespace,
      plural: PLURAL,
      name: brsName(node),
      body: {
        spec: {
          state: "StagedAndPerformedUpdate",
          version: "1.21.0",
          state_transition_timestamp: formatTimestamp(new Date(Date.now() - 35_000)),
        },
      },
    },
    MERGE_PATCH,
  );
  await writeStatus(node, {
    ...status({ state: "ErrorReset", current: "1.21.0", target: "1.21.0" }),
    crash_count: crashCount,
  });
  await eventually(`the controller reset ${node}`, async () =>
    (await readShadow(node)).spec.state === "Idle" ? true : undefined,
  );
}

interface Agent {
  node: { name: string; uid: string };
  token: string;
}

const AGENT_SA = "brupop-agent-service-account";

/** An agent pod (DaemonSet-owned, so a drain leaves it) on `node`, with a real bound token. */
async function agentOn(node: string): Promise<Agent> {
  await t.core.createNamespacedServiceAccount({ namespace: t.namespace, body: { metadata: { name: AGENT_SA } } });
  const labels = { [LABEL_COMPONENT]: COMPONENT.agent, ds: "agent" };
  await t.kc.makeApiClient(AppsV1Api).createNamespacedDaemonSet({
    namespace: t.namespace,
    body: {
      metadata: { name: "agent" },
      spec: {
        selector: { matchLabels: { ds: "agent" } },
        template: {
          metadata: { labels },
          spec: {
            nodeSelector: { "kubernetes.io/hostname": node },
            serviceAccountName: AGENT_SA,
            containers: [{ name: "agent", image: "agent" }],
          },
        },
      },
    },
  });
  const pod: V1Pod = await eventually("the agent pod running", async () =>
    (await t.core.listNamespacedPod({ namespace: t.namespace, labelSelector: "ds=agent" })).items.find(
      (p) => p.status?.phase === "Running",
    ),
  );
  const token = await requestPodToken(t.core, {
    namespace: t.namespace,
    serviceAccount: AGENT_SA,
    pod: { name: pod.metadata?.name ?? "", uid: pod.metadata?.uid ?? "" },
    audiences: [TOKEN_AUDIENCE],
  });
  const uid = (await t.core.readNode({ name: node })).metadata?.uid ?? "";
  const agent = { node: { name: node, uid }, token };
  // The API server's caches see the pod a moment after it runs.
  await eventually("the API server knows the agent", async () =>
    (await agentCall(agent, AGENT_ROUTES.uncordon)) === 200 ? true : undefined,
  );
  return agent;
}

function agentCall(agent: Agent, path: string): Promise<number> {
  return httpsCall(`https://127.0.0.1:${apiserverPort}${path}`, caPem, "POST", {
    BrupopNodeName: agent.node.name,
    BrupopNodeUid: agent.node.uid,
    BrupopK8sAuthToken: agent.token,
  });
}

describe("Prometheus scraping the controller and the API server", () => {
  it("keeps exactly one target per job with the example's relabelling, both up", async () => {
    const targets = await eventually(
      "both targets scraped",
      async () => {
        const response = await fetch(`${prometheusUrl}/api/v1/targets?state=active`);
        const body = (await response.json()) as {
          data: { activeTargets: { labels: Record<string, string>; health: string; lastError: string }[] };
        };
        const active = body.data.activeTargets;
        return active.length === 2 && active.every((a) => a.health === "up") ? active : undefined;
      },
      30_000,
    );
    const byJob = new Map(targets.map((a) => [a.labels.job ?? "", a.labels] as const));
    expect(byJob.get("brupop-controller")).toMatchObject({
      instance: `127.0.0.1:${controller?.metricsPort ?? 0}`,
      namespace: t.namespace,
      pod: "brupop-controller-a",
    });
    expect(byJob.get("brupop-apiserver")).toMatchObject({
      instance: `127.0.0.1:${apiserverMetricsPort}`,
      namespace: t.namespace,
      pod: "brupop-apiserver-a",
    });
  });

  it("reads brupop_hosts_state and brupop_hosts_version equal to the shadows' statuses", async () => {
    const states = countBy(FIXTURES, (f) => f.state, BRS_STATES);
    const versions = countBy(FIXTURES, (f) => f.current);
    expect(states).toEqual({
      Idle: 2,
      StagedAndPerformedUpdate: 0,
      RebootedIntoUpdate: 0,
      MonitoringUpdate: 1,
      ErrorReset: 1,
    });
    await eventually("brupop_hosts_state in Prometheus", async () =>
      sameCounts(await byLabel(`brupop_hosts_state{job="brupop-controller"}`, "state"), states),
    );
    await eventually("brupop_hosts_version in Prometheus", async () =>
      sameCounts(await byLabel(`brupop_hosts_version{job="brupop-controller"}`, "bottlerocket_version"), versions),
    );
    const [sample] = await promQuery(`brupop_hosts_state{state="Idle"}`);
    expect(sample?.metric).toMatchObject({ job: "brupop-controller", namespace: t.namespace, state: "Idle" });
  });

  it("follows a status change, and a version that no node runs any more disappears", async () => {
    const node = nodes[3] ?? "";
    await writeStatus(node, {
      current_version: "1.21.0",
      target_version: "1.21.0",
      current_state: "Idle",
      crash_count: 0,
      state_transition_failure_timestamp: null,
    });
    await eventually("brupop_hosts_version after the change", async () =>
      sameCounts(await byLabel("brupop_hosts_version", "bottlerocket_version"), { "1.20.0": 2, "1.21.0": 2 }),
    );
    await eventually("brupop_hosts_state after the change", async () =>
      sameCounts(await byLabel("brupop_hosts_state", "state"), {
        Idle: 3,
        StagedAndPerformedUpdate: 0,
        RebootedIntoUpdate: 0,
        MonitoringUpdate: 1,
        ErrorReset: 0,
      }),
    );
  });

  it("reads the API server's own metrics from its metrics port", async () => {
    for (let i = 0; i < 3; i++) expect(await httpsGet(`https://127.0.0.1:${apiserverPort}/livez`, caPem)).toBe(200);
    await eventually("API server request counter in Prometheus", async () => {
      const samples = await promQuery(
        `brupop_apiserver_http_requests_total{job="brupop-apiserver", route="/livez", code="200"}`,
      );
      return samples.some((s) => Number(s.value[1]) >= 4) ? true : undefined;
    });
    // Process metrics are exported too (prom-client's default names, src/metrics/process.ts).
    expect(await promQuery(`process_resident_memory_bytes{job="brupop-apiserver"}`)).toHaveLength(1);
  });

  it("evaluates every query of the Grafana dashboard: each returns the series the test fed in", async () => {
    const crashed = nodes[3] ?? ""; // Idle at 1.21.0 since the last test
    const drained = nodes[0] ?? "";
    const agent = await agentOn(drained);
    const livez = () => httpsGet(`https://127.0.0.1:${apiserverPort}/livez`, caPem);
    const livezServed = async () =>
      Number((await promQuery(`brupop_apiserver_http_requests_total{route="/livez", code="200"}`))[0]?.value[1] ?? 0);

    // Everything twice, the second time once Prometheus scraped the first: a rate or an increase over a series
    // that appears at its first event needs two samples that differ.
    for (const round of [1, 2]) {
      const probes = await livezServed();
      await crashAndReset(crashed, round);
      expect(await agentCall(agent, AGENT_ROUTES.cordonAndDrain)).toBe(200);
      expect(await agentCall(agent, AGENT_ROUTES.uncordon)).toBe(200);
      // A token of its own each round: a refusal is counted per cache outcome, and this one is never cached.
      expect(await agentCall({ ...agent, token: `a.refused.token${round}` }, AGENT_ROUTES.uncordon)).toBe(401);
      expect(await livez()).toBe(200);
      await eventually(`round ${round} scraped by Prometheus`, async () => {
        const counts = await Promise.all(
          [
            `brupop_update_failures_total{reason="crashed"}`,
            `brupop_state_transitions_total{from="StagedAndPerformedUpdate", to="Idle"}`,
            `brupop_apiserver_drains_total{outcome="drained"}`,
            `sum(brupop_apiserver_authentications_total{result="denied", reason="TokenRejected"})`,
          ].map(async (q) => Number((await promQuery(q))[0]?.value[1] ?? 0)),
        );
        return counts.every((c) => c === round) && (await livezServed()) > probes ? true : undefined;
      });
    }
    await writeStatus(crashed, status({ state: "Idle", current: "1.21.0", target: "1.21.0" }));

    const controllerInstance = `127.0.0.1:${controller?.metricsPort ?? 0}`;
    const finalStates: Partial<Record<BrsState, number>> = { Idle: 3, MonitoringUpdate: 1 }; // as the last test left it
    const one = (value: Check) => exactly([{}, value]);
    const expected: Record<string, Expectation> = {
      "sum((brupop_hosts_state and on (instance) (brupop_controller_leader == 1)))": one(4),
      'max(brupop_update_budget{kind="in_use"})': one(1), // the node in MonitoringUpdate
      'max(brupop_update_budget{kind="limit"})': one(1), // brupop's default MAX_CONCURRENT_UPDATE
      'sum((brupop_hosts_state{state="ErrorReset"} and on (instance) (brupop_controller_leader == 1)))': one(0),
      // No spec.maxFailedNodes here: never halted.
      "max((brupop_fleet_halted and on (instance) (brupop_controller_leader == 1)))": one(0),
      "count((brupop_hosts_version and on (instance) (brupop_controller_leader == 1)) > 0)": one(2),
      // Health gates, halts and canaries: the node in MonitoringUpdate; no maxFailedNodes and no canary policy here,
      // so those gauges have no series.
      'sum((brupop_hosts_state{state="MonitoringUpdate"} and on (instance) (brupop_controller_leader == 1)))': one(1),
      "max by (kind) ((brupop_rollout_failed_nodes and on (instance) (brupop_controller_leader == 1)))": exactly(),
      "max by (version, phase) ((brupop_canary_phase and on (instance) (brupop_controller_leader == 1))) == 1":
        exactly(),
      "max by (version) ((brupop_canary_soak_end_timestamp_seconds and on (instance) (brupop_controller_leader == 1))) * 1000":
        exactly(),
      // No hooks in the policy here: no call, no series.
      "sum by (phase, hook, result) (increase(brupop_hook_calls_total[10m]))": exactly(),
      "sum(brupop_controller_leader)": one(1),
      "max by (state) ((brupop_hosts_state and on (instance) (brupop_controller_leader == 1)))": exactly(
        ...BRS_STATES.map((state): [Labels, Check] => [{ state }, finalStates[state] ?? 0]),
      ),
      "max by (bottlerocket_version) ((brupop_hosts_version and on (instance) (brupop_controller_leader == 1)))":
        exactly([{ bottlerocket_version: "1.20.0" }, 2], [{ bottlerocket_version: "1.21.0" }, 2]),
      'max by (reason) ((brupop_nodes_not_started{reason!="up-to-date"} and on (instance) (brupop_controller_leader == 1))) > 0':
        exactly([{ reason: "paused" }, 1], [{ reason: "in-progress" }, 1]),
      "sum by (reason) (increase(brupop_update_failures_total[10m]))": exactly([{ reason: "crashed" }, positive]),
      "sum by (from, to) (increase(brupop_state_transitions_total[10m]))": including([
        { from: "StagedAndPerformedUpdate", to: "Idle" },
        positive,
      ]),
      // Each reset came 35 s and a little after its spec was written: bucket (30, 60].
      "histogram_quantile(0.95, sum by (le, state) (rate(brupop_state_duration_seconds_bucket[10m])))": exactly([
        { state: "StagedAndPerformedUpdate" },
        (v) => v > 30 && v <= 60,
      ]),
      "sum by (state) (rate(brupop_state_duration_seconds_sum[10m])) / sum by (state) (rate(brupop_state_duration_seconds_count[10m]))":
        exactly([{ state: "StagedAndPerformedUpdate" }, (v) => v >= 35 && v < 60]),
      "histogram_quantile(0.95, sum by (le, kind, result) (rate(brupop_reconcile_duration_seconds_bucket[10m])))":
        including([{ kind: "node", result: "ok" }, finite], [{ kind: "fleet", result: "ok" }, finite]),
      "sum by (instance) (brupop_workqueue_depth)": exactly([{ instance: controllerInstance }, (v) => v >= 0]),
      "sum by (route, code) (rate(brupop_apiserver_http_requests_total[10m]))": including(
        [{ route: "/livez", code: "200" }, positive],
        [{ route: AGENT_ROUTES.cordonAndDrain, code: "200" }, positive],
        [{ route: AGENT_ROUTES.uncordon, code: "200" }, positive],
        [{ route: AGENT_ROUTES.uncordon, code: "401" }, positive],
      ),
      'sum by (result, reason) (rate(brupop_apiserver_authentications_total{result!="allowed"}[10m]))': exactly([
        { result: "denied", reason: "TokenRejected" },
        positive,
      ]),
      "sum(brupop_apiserver_drains_in_progress)": one(0),
      "sum by (outcome) (increase(brupop_apiserver_drains_total[10m]))": exactly([{ outcome: "drained" }, positive]),
      "histogram_quantile(0.95, sum by (le, outcome) (rate(brupop_apiserver_drain_duration_seconds_bucket[10m])))":
        exactly([{ outcome: "drained" }, finite]),
    };
    // A window far wider than the test: both samples of every rate stay in it however slow the machine is.
    const queries = dashboardQueries().map((q) => ({ ...q, expr: q.expr.replaceAll("$__rate_interval", "10m") }));
    expect(queries.map((q) => q.expr).sort()).toEqual(Object.keys(expected).sort()); // every query has its facts
    for (const { panel, expr } of queries) {
      const expectation = expected[expr] as Expectation;
      let last: Sample[] = [];
      await eventually(
        `${panel}: ${expr}`,
        async () => {
          last = await promQuery(expr);
          return expectation(last) ? true : undefined;
        },
        30_000,
      ).catch((err: unknown) => {
        throw new Error(`${String(err)}; last result: ${JSON.stringify(last.map((x) => [x.metric, x.value[1]]))}`);
      });
    }
  });

  it("the example's Kubernetes objects are accepted by the API server (server-side dry run, namespaces mapped)", async () => {
    const text = (await readFile(EXAMPLE, "utf8"))
      .replaceAll("namespace: brupop-monitoring", `namespace: ${t.namespace}`)
      .replaceAll("namespace: brupop-bottlerocket-aws", `namespace: ${t.namespace}`);
    const documents = text.split(/^---\n/m).filter((d) => !/^kind: Namespace$/m.test(d));
    const file = join(tmp, "prometheus-resources.yaml");
    await writeFile(file, documents.join("---\n"));
    const kubectl = join(t.info.binDir, "kubectl");
    const { stderr } = await run(kubectl, [
      "--kubeconfig",
      t.info.kubeconfigPath,
      "apply",
      "--server-side",
      "--dry-run=server",
      "-f",
      file,
    ]);
    expect(stderr).toBe("");
  });
});
