// The process metrics: the families prom-client's collectDefaultMetrics served that we keep (names, help texts and
// types copied by hand from its output), read back with a small parser of the text format written here, and values
// checked against what the process knows of itself by other means.
import { describe, expect, it, vi } from "vitest";
import { registerProcessMetrics } from "./process.ts";
import { Registry } from "./registry.ts";

interface Parsed {
  help: string;
  type: string;
  samples: { labels: Record<string, string>; value: number }[];
}

/** HELP/TYPE lines and samples by family name; label values unescaped. Enough for the lines these metrics write. */
function parse(exposition: string): Map<string, Parsed> {
  const families = new Map<string, Parsed>();
  const family = (name: string) => {
    let f = families.get(name);
    if (f === undefined) families.set(name, (f = { help: "", type: "", samples: [] }));
    return f;
  };
  for (const line of exposition.split("\n")) {
    if (line === "") continue;
    const comment = /^# (HELP|TYPE) (\S+) (.*)$/.exec(line);
    if (comment !== null) {
      const [, kind, name = "", rest = ""] = comment;
      if (kind === "HELP") family(name).help = rest;
      else family(name).type = rest;
      continue;
    }
    const sample = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (sample === null) throw new Error(`not a sample line: ${line}`);
    const [, name = "", labelText = "", value = ""] = sample;
    const labels: Record<string, string> = {};
    for (const m of labelText.matchAll(/([a-zA-Z_]\w*)="((?:[^"\\]|\\.)*)"/g)) {
      labels[m[1] ?? ""] = (m[2] ?? "").replace(/\\(.)/g, (_, c: string) => (c === "n" ? "\n" : c));
    }
    family(name).samples.push({ labels, value: value === "+Inf" ? Infinity : Number(value) });
  }
  return families;
}

const KEPT: [name: string, type: string, help: string][] = [
  ["process_cpu_user_seconds_total", "counter", "Total user CPU time spent in seconds."],
  ["process_cpu_system_seconds_total", "counter", "Total system CPU time spent in seconds."],
  ["process_cpu_seconds_total", "counter", "Total user and system CPU time spent in seconds."],
  ["process_start_time_seconds", "gauge", "Start time of the process since unix epoch in seconds."],
  ["process_resident_memory_bytes", "gauge", "Resident memory size in bytes."],
  ["process_virtual_memory_bytes", "gauge", "Virtual memory size in bytes."],
  ["process_heap_bytes", "gauge", "Process heap size in bytes."],
  ["process_open_fds", "gauge", "Number of open file descriptors."],
  ["process_max_fds", "gauge", "Maximum number of open file descriptors."],
  ["nodejs_eventloop_lag_seconds", "gauge", "Lag of event loop in seconds."],
  ["nodejs_eventloop_lag_min_seconds", "gauge", "The minimum recorded event loop delay."],
  ["nodejs_eventloop_lag_max_seconds", "gauge", "The maximum recorded event loop delay."],
  ["nodejs_eventloop_lag_mean_seconds", "gauge", "The mean of the recorded event loop delays."],
  ["nodejs_eventloop_lag_stddev_seconds", "gauge", "The standard deviation of the recorded event loop delays."],
  ["nodejs_eventloop_lag_p50_seconds", "gauge", "The 50th percentile of the recorded event loop delays."],
  ["nodejs_eventloop_lag_p90_seconds", "gauge", "The 90th percentile of the recorded event loop delays."],
  ["nodejs_eventloop_lag_p99_seconds", "gauge", "The 99th percentile of the recorded event loop delays."],
  [
    "nodejs_active_resources",
    "gauge",
    "Number of active resources that are currently keeping the event loop alive, grouped by async resource type.",
  ],
  ["nodejs_active_resources_total", "gauge", "Total number of active resources."],
  ["nodejs_heap_size_total_bytes", "gauge", "Process heap size from Node.js in bytes."],
  ["nodejs_heap_size_used_bytes", "gauge", "Process heap size used from Node.js in bytes."],
  ["nodejs_external_memory_bytes", "gauge", "Node.js external memory size in bytes."],
  ["nodejs_version_info", "gauge", "Node.js version info."],
];

/** The one unlabelled sample of a family. */
function value(families: Map<string, Parsed>, name: string): number {
  const samples = families.get(name)?.samples ?? [];
  expect(samples, name).toHaveLength(1);
  return samples[0]?.value ?? NaN;
}

describe("process metrics (Linux: /proc)", () => {
  it("serves prom-client's families that we keep, with their help texts and types, in that order", async () => {
    const registry = new Registry();
    registerProcessMetrics(registry);
    const families = parse(await registry.metrics());
    expect([...families].map(([name, f]) => [name, f.type, f.help])).toEqual(KEPT);
  });

  it("reports the CPU totals process.cpuUsage() gives, not a sum of differences that drifts from them", async () => {
    // Two readings whose differences, in seconds, add up to less than the second total in floating point
    // (0.100002 + 0.000007 < 0.100009): a counter summing them read lower than the process's own figure.
    const readings = [
      { user: 100_002, system: 100_002 },
      { user: 100_009, system: 100_009 },
    ];
    const cpuUsage = vi.spyOn(process, "cpuUsage").mockImplementation(() => readings.shift() ?? { user: 0, system: 0 });
    try {
      const registry = new Registry();
      registerProcessMetrics(registry);
      await registry.metrics();
      const families = parse(await registry.metrics());
      expect(value(families, "process_cpu_user_seconds_total")).toBe(100_009 / 1e6);
      expect(value(families, "process_cpu_system_seconds_total")).toBe(100_009 / 1e6);
      expect(value(families, "process_cpu_seconds_total")).toBe(200_018 / 1e6);
    } finally {
      cpuUsage.mockRestore();
    }
  });

  it("reports values the process knows by other means", async () => {
    const registry = new Registry();
    registerProcessMetrics(registry);
    // Some work between two scrapes, so CPU time and the loop's delay have something to show.
    const timer = setInterval(() => undefined, 1000); // an active resource of a known type
    try {
      await registry.metrics();
      let x = 0;
      for (let i = 0; i < 2e6; i++) x += Math.sqrt(i);
      expect(x).toBeGreaterThan(0);
      const cpu = process.cpuUsage();
      const families = parse(await registry.metrics());

      const user = value(families, "process_cpu_user_seconds_total");
      const system = value(families, "process_cpu_system_seconds_total");
      // Totals since the process started (not since registration), read after `cpu`.
      expect(user).toBeGreaterThanOrEqual(cpu.user / 1e6);
      expect(system).toBeGreaterThanOrEqual(cpu.system / 1e6);
      expect(value(families, "process_cpu_seconds_total")).toBeCloseTo(user + system, 5);

      const started = Date.now() / 1000 - process.uptime();
      expect(Math.abs(value(families, "process_start_time_seconds") - started)).toBeLessThanOrEqual(1);

      const rss = process.memoryUsage.rss();
      const resident = value(families, "process_resident_memory_bytes");
      expect(resident).toBeGreaterThan(rss / 2);
      expect(resident).toBeLessThan(rss * 2);
      expect(value(families, "process_virtual_memory_bytes")).toBeGreaterThanOrEqual(resident);
      expect(value(families, "process_heap_bytes")).toBeGreaterThan(0);

      const open = value(families, "process_open_fds");
      expect(open).toBeGreaterThanOrEqual(3); // stdin, stdout, stderr at least
      expect(open).toBeLessThanOrEqual(value(families, "process_max_fds"));

      expect(value(families, "nodejs_eventloop_lag_seconds")).toBeGreaterThanOrEqual(0);
      const min = value(families, "nodejs_eventloop_lag_min_seconds");
      expect(value(families, "nodejs_eventloop_lag_max_seconds")).toBeGreaterThanOrEqual(min);
      expect(value(families, "nodejs_eventloop_lag_p99_seconds")).toBeGreaterThanOrEqual(
        value(families, "nodejs_eventloop_lag_p50_seconds"),
      );

      const resources = families.get("nodejs_active_resources")?.samples ?? [];
      expect(resources.find((s) => s.labels.type === "Timeout")?.value).toBeGreaterThanOrEqual(1);
      expect(value(families, "nodejs_active_resources_total")).toBe(resources.reduce((n, s) => n + s.value, 0));

      const heap = process.memoryUsage();
      expect(value(families, "nodejs_heap_size_used_bytes")).toBeGreaterThan(0);
      expect(value(families, "nodejs_heap_size_total_bytes")).toBeGreaterThanOrEqual(heap.heapTotal / 2);
      expect(value(families, "nodejs_external_memory_bytes")).toBeGreaterThan(0);

      const [major, minor, patch] = process.version.slice(1).split(".");
      expect(families.get("nodejs_version_info")?.samples).toEqual([
        { labels: { version: process.version, major, minor, patch }, value: 1 },
      ]);
    } finally {
      clearInterval(timer);
    }
  });
});
