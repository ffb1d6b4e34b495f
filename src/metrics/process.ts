// The process and Node.js metrics the controller and the API server expose, with prom-client's collectDefaultMetrics names, help texts
// and types (docs/operations.md). Those of its defaults left out, and why, are listed in README.md.
import { monitorEventLoopDelay } from "node:perf_hooks";
import { Counter } from "./counter.ts";
import { Gauge } from "./gauge.ts";
import type { Registry } from "./registry.ts";

// Not an ES import of node:fs: that evaluates its lazy exports (fs.promises among them), ~0.9 MiB of RSS in a
// process that has not loaded them yet.
const { readdirSync, readFileSync } = process.getBuiltinModule("node:fs");

/** Seconds since the epoch, rounded as prom-client did. */
const START_TIME = Math.round(Date.now() / 1000 - process.uptime());

export function registerProcessMetrics(registry: Registry): void {
  const registers = [registry];
  const linux = process.platform === "linux";

  // CPU: the process' totals, all three from one reading. Each is set to its total rather than increased by the
  // difference: a sum of rounded differences drifts below the total (a counter that read less than
  // process.cpuUsage() had said a moment before).
  new Counter({
    name: "process_cpu_user_seconds_total",
    help: "Total user CPU time spent in seconds.",
    registers,
    collect() {
      const now = process.cpuUsage();
      for (const [counter, micros] of [
        [this, now.user],
        [cpuSystem, now.system],
        [cpuTotal, now.user + now.system],
      ] as const) {
        counter.reset();
        counter.inc(micros / 1e6);
      }
    },
  });
  const cpuSystem = new Counter({
    name: "process_cpu_system_seconds_total",
    help: "Total system CPU time spent in seconds.",
    registers,
  });
  const cpuTotal = new Counter({
    name: "process_cpu_seconds_total",
    help: "Total user and system CPU time spent in seconds.",
    registers,
  });

  new Gauge({
    name: "process_start_time_seconds",
    help: "Start time of the process since unix epoch in seconds.",
    registers,
    collect() {
      this.set(START_TIME);
    },
  });

  if (linux) {
    // /proc is not I/O that blocks: it reads kernel structures (prom-client and libuv read it synchronously too).
    new Gauge({
      name: "process_resident_memory_bytes",
      help: "Resident memory size in bytes.",
      registers,
      collect() {
        const status = procStatus();
        if (status === undefined) return;
        this.set(status.VmRSS);
        virtual.set(status.VmSize);
        heap.set(status.VmData);
      },
    });
    const virtual = new Gauge({
      name: "process_virtual_memory_bytes",
      help: "Virtual memory size in bytes.",
      registers,
    });
    const heap = new Gauge({ name: "process_heap_bytes", help: "Process heap size in bytes.", registers });
    new Gauge({
      name: "process_open_fds",
      help: "Number of open file descriptors.",
      registers,
      collect() {
        // The directory's own descriptor, open while it is read, is not counted.
        this.set(readdirSync("/proc/self/fd").length - 1);
      },
    });
    const maxFds = maxOpenFiles();
    if (maxFds !== undefined) {
      new Gauge({
        name: "process_max_fds",
        help: "Maximum number of open file descriptors.",
        registers,
        collect() {
          this.set(maxFds);
        },
      });
    }
  } else {
    new Gauge({
      name: "process_resident_memory_bytes",
      help: "Resident memory size in bytes.",
      registers,
      collect() {
        this.set(process.memoryUsage.rss());
      },
    });
  }

  registerEventLoopLag(registers);

  new Gauge({
    name: "nodejs_active_resources",
    help: "Number of active resources that are currently keeping the event loop alive, grouped by async resource type.",
    labelNames: ["type"],
    registers,
    collect() {
      const counts = new Map<string, number>();
      for (const type of process.getActiveResourcesInfo()) counts.set(type, (counts.get(type) ?? 0) + 1);
      this.reset();
      for (const [type, count] of counts) this.set({ type }, count);
    },
  });
  new Gauge({
    name: "nodejs_active_resources_total",
    help: "Total number of active resources.",
    registers,
    collect() {
      this.set(process.getActiveResourcesInfo().length);
    },
  });

  new Gauge({
    name: "nodejs_heap_size_total_bytes",
    help: "Process heap size from Node.js in bytes.",
    registers,
    collect() {
      const memory = process.memoryUsage();
      this.set(memory.heapTotal);
      heapUsed.set(memory.heapUsed);
      external.set(memory.external);
    },
  });
  const heapUsed = new Gauge({
    name: "nodejs_heap_size_used_bytes",
    help: "Process heap size used from Node.js in bytes.",
    registers,
  });
  const external = new Gauge({
    name: "nodejs_external_memory_bytes",
    help: "Node.js external memory size in bytes.",
    registers,
  });

  const [major, minor, patch] = process.versions.node.split(".");
  new Gauge({
    name: "nodejs_version_info",
    help: "Node.js version info.",
    labelNames: ["version", "major", "minor", "patch"],
    registers,
    collect() {
      this.set({ version: process.version, major, minor, patch }, 1);
    },
  });
}

/**
 * `nodejs_eventloop_lag_seconds`: how long a callback queued at the scrape waited for its turn. The others: the
 * event loop delay sampled every 10 ms since the previous scrape (perf_hooks' histogram, in nanoseconds), as
 * prom-client's.
 */
function registerEventLoopLag(registers: Registry[]): void {
  const delay = monitorEventLoopDelay({ resolution: 10 });
  delay.enable();
  new Gauge({
    name: "nodejs_eventloop_lag_seconds",
    help: "Lag of event loop in seconds.",
    registers,
    async collect() {
      // Unlike prom-client, which reported the lag measured at the previous scrape, this scrape waits for its own.
      const start = process.hrtime.bigint();
      await new Promise((resolve) => setImmediate(resolve));
      this.set(Number(process.hrtime.bigint() - start) / 1e9);
      // No sample since the last scrape (its min would read 2^63 ns): the last values stand.
      if (delay.count === 0) return;
      for (const [gauge, nanoseconds] of readings) gauge.set(nanoseconds() / 1e9);
      delay.reset();
    },
  });
  const gauge = (name: string, help: string) => new Gauge({ name, help, registers });
  const readings: [Gauge, () => number][] = [
    [gauge("nodejs_eventloop_lag_min_seconds", "The minimum recorded event loop delay."), () => delay.min],
    [gauge("nodejs_eventloop_lag_max_seconds", "The maximum recorded event loop delay."), () => delay.max],
    [gauge("nodejs_eventloop_lag_mean_seconds", "The mean of the recorded event loop delays."), () => delay.mean],
    [
      gauge("nodejs_eventloop_lag_stddev_seconds", "The standard deviation of the recorded event loop delays."),
      () => delay.stddev,
    ],
    [
      gauge("nodejs_eventloop_lag_p50_seconds", "The 50th percentile of the recorded event loop delays."),
      () => delay.percentile(50),
    ],
    [
      gauge("nodejs_eventloop_lag_p90_seconds", "The 90th percentile of the recorded event loop delays."),
      () => delay.percentile(90),
    ],
    [
      gauge("nodejs_eventloop_lag_p99_seconds", "The 99th percentile of the recorded event loop delays."),
      () => delay.percentile(99),
    ],
  ];
}

/** VmRSS, VmSize and VmData of /proc/self/status, in bytes. */
function procStatus(): { VmRSS: number; VmSize: number; VmData: number } | undefined {
  let text: string;
  try {
    text = readFileSync("/proc/self/status", "utf8");
  } catch {
    return undefined;
  }
  const kib = (field: string) => Number(new RegExp(`^${field}:\\s*(\\d+) kB$`, "m").exec(text)?.[1] ?? NaN) * 1024;
  return { VmRSS: kib("VmRSS"), VmSize: kib("VmSize"), VmData: kib("VmData") };
}

/** The soft limit of open files, from /proc/self/limits (`unlimited`: NaN). */
function maxOpenFiles(): number | undefined {
  try {
    const line = readFileSync("/proc/self/limits", "utf8")
      .split("\n")
      .find((l) => l.startsWith("Max open files"));
    return line === undefined ? undefined : Number(line.split(/ {2,}/)[1]);
  } catch {
    return undefined;
  }
}
