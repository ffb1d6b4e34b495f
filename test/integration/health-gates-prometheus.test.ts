// The Prometheus health gate against a real Prometheus (Debian's `prometheus` package): the controller's reader
// (src/controller/gate-observer.ts) asks it as it would in a cluster, and the gate's verdict (src/core/health-gates.ts)
// is compared with what the test made the scraped metric say. A small exporter serves `node_probe_ok` per node; the
// test sets its values, Prometheus scrapes them every second.
//
// The test fails (never skips) when the prometheus binary is missing: apt-get install -y prometheus.
import { createServer, type Server } from "node:http";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { eventually } from "../support/cluster.ts";
import { freePort, prometheusBinary, startPrometheus, type RunningPrometheus } from "../support/prometheus.ts";
import { GateObserver } from "../../src/controller/gate-observer.ts";
import { evaluateGates, parseHealthGates, type GateVerdict, type HealthGates } from "../../src/core/health-gates.ts";
import type { KubeClient } from "../../src/kube/client.ts";

/** What the exporter serves now: node → value of node_probe_ok. */
const probe = new Map<string, number>([
  ["n1", 1],
  ["n2", 0],
]);
let tmp = "";
let exporter: Server | undefined;
let prometheus: RunningPrometheus | undefined;

beforeAll(async () => {
  tmp = await mkdtemp(join(tmpdir(), "brupop-gates-prom-"));
  const exporterPort = await freePort();
  exporter = createServer((_req, res) => {
    const lines = [...probe].map(([node, value]) => `node_probe_ok{node="${node}"} ${value}`);
    res.writeHead(200, { "content-type": "text/plain; version=0.0.4" }).end(`${lines.join("\n")}\n`);
  });
  await new Promise<void>((resolve) => exporter?.listen(exporterPort, "127.0.0.1", resolve));
  const config = join(tmp, "prometheus.yml");
  await writeFile(
    config,
    stringify({
      global: { scrape_interval: "1s", evaluation_interval: "1s" },
      scrape_configs: [{ job_name: "probe", static_configs: [{ targets: [`127.0.0.1:${exporterPort}`] }] }],
    }),
  );
  prometheus = await startPrometheus(await prometheusBinary(), config, tmp);
  // Scraped at least once: the gates below ask about samples that exist.
  await eventually(
    "the first scrape",
    async () => ((await ask("node_probe_ok")).length > 0 ? true : undefined),
    30_000,
  );
}, 60_000);

afterAll(async () => {
  await prometheus?.stop();
  await new Promise((resolve) => exporter?.close(resolve));
  if (tmp !== "") await rm(tmp, { recursive: true, force: true });
});

async function ask(query: string): Promise<unknown[]> {
  const response = await fetch(`${prometheus?.url ?? ""}/api/v1/query?query=${encodeURIComponent(query)}`);
  return ((await response.json()) as { data?: { result?: unknown[] } }).data?.result ?? [];
}

/** A policy with one Prometheus gate (no built-ins), pointed at this Prometheus. */
function gate(query: string, extra: { for?: string; timeout?: string } = {}): HealthGates {
  const errors: string[] = [];
  const gates = parseHealthGates(
    {
      builtIn: false,
      prometheusUrl: prometheus?.url,
      gates: [{ name: "probe", ...(extra.timeout ? { timeout: extra.timeout } : {}), prometheus: { query, ...extra } }],
    },
    "healthGates",
    errors,
  );
  expect(errors).toEqual([]);
  return gates;
}

// Only Prometheus gates: the observer reads nothing from Kubernetes.
const noKube = new Proxy({} as KubeClient, {
  get: () => {
    throw new Error("a Prometheus gate reads nothing from Kubernetes");
  },
});

/** The controller's reading and the gate's verdict for `node`, MonitoringUpdate asked for at `since`. */
async function verdict(gates: HealthGates, node: string, since: Date, now = new Date()): Promise<GateVerdict> {
  const observed = await new GateObserver(noKube, "brupop-bottlerocket-aws").observe(
    gates,
    {
      nodeName: node,
      node: undefined,
      version: "1.26.0",
      shadow: { name: `brs-${node}`, uid: "" },
      attempt: since.toISOString(),
      since,
      now,
    },
    new AbortController().signal,
  );
  return evaluateGates(gates, observed, { since, updateStartedAt: null, now });
}

const QUERY = 'node_probe_ok{node="$node"} == 1';

describe("a Prometheus gate", () => {
  it("passes for the node whose query holds, and once it has held for the period asked", async () => {
    const gates = gate(QUERY, { for: "3s" });
    const since = new Date();
    const early = await verdict(gates, "n1", since);
    expect(early.kind).toBe("waiting");
    const passed = await eventually(
      "n1's gate passes after 3 s",
      async () => {
        const v = await verdict(gates, "n1", since);
        return v.kind === "passed" ? v : undefined;
      },
      20_000,
    );
    expect(passed.results).toEqual([{ gate: "probe", state: "passed", message: "held for 3s" }]);
    expect(Date.now() - since.getTime()).toBeGreaterThanOrEqual(3_000);
  });

  it("waits while the query does not hold, and fails the update at its timeout naming why", async () => {
    const gates = gate(QUERY, { timeout: "30s" });
    const since = new Date(Date.now() - 10_000);
    const waiting = await verdict(gates, "n2", since);
    expect(waiting).toMatchObject({
      kind: "waiting",
      results: [{ state: "waiting", message: "the query does not hold" }],
    });
    const late = await verdict(gates, "n2", new Date(Date.now() - 31_000));
    expect(late).toMatchObject({
      kind: "failed",
      gate: "probe",
      reason: "not passed within 30s: the query does not hold",
    });
  });

  it("a break within the period is no pass", async () => {
    probe.set("n3", 1);
    const gates = gate(QUERY, { for: "6s" });
    await eventually(
      "n3 scraped as 1",
      async () => ((await ask('node_probe_ok{node="n3"} == 1')).length > 0 ? true : undefined),
      20_000,
    );
    probe.set("n3", 0);
    await eventually(
      "n3 scraped as 0",
      async () => ((await ask('node_probe_ok{node="n3"} == 0')).length > 0 ? true : undefined),
      20_000,
    );
    probe.set("n3", 1);
    await eventually(
      "n3 scraped as 1 again",
      async () => ((await ask('node_probe_ok{node="n3"} == 1')).length > 0 ? true : undefined),
      20_000,
    );
    const v = await verdict(gates, "n3", new Date(Date.now() - 60_000));
    expect(v.results[0]?.message).toMatch(/^the query does not hold at [1-9]\d* of \d+ instants$/);
  });

  it("a query Prometheus refuses is told, and the gate waits", async () => {
    const v = await verdict(gate("node_probe_ok{"), "n1", new Date());
    expect(v.kind).toBe("waiting");
    expect(v.results[0]?.message).toMatch(/^Prometheus: bad_data: /);
  });

  it("an unreachable Prometheus is told, and the gate waits", async () => {
    const errors: string[] = [];
    const gates = parseHealthGates(
      {
        builtIn: false,
        prometheusUrl: `http://127.0.0.1:${await freePort()}`,
        gates: [{ name: "probe", prometheus: { query: "up" } }],
      },
      "healthGates",
      errors,
    );
    const v = await verdict(gates, "n1", new Date());
    expect(v.results[0]?.message).toMatch(/^Prometheus: .*ECONNREFUSED/);
  });
});
