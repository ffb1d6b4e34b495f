// The exposition text of small registries, compared with text written by hand from the format's specification
// (https://prometheus.io/docs/instrumenting/exposition_formats/#text-based-format), not with the code's output.
import { describe, expect, it } from "vitest";
import { Counter } from "./counter.ts";
import { CONTENT_TYPE } from "./exposition.ts";
import { Gauge } from "./gauge.ts";
import { Histogram } from "./histogram.ts";
import { Registry } from "./registry.ts";

/** Lines joined, each ending in a line feed, as a scrape returns them. */
const text = (...lines: string[]) => lines.map((line) => `${line}\n`).join("");

describe("exposition format 0.0.4", () => {
  it("says its content type", () => {
    expect(new Registry().contentType).toBe("text/plain; version=0.0.4; charset=utf-8");
    expect(CONTENT_TYPE).toBe("text/plain; version=0.0.4; charset=utf-8");
  });

  it("writes HELP and TYPE for each family, in registration order; unlabelled metrics start at 0", async () => {
    const registry = new Registry();
    const registers = [registry];
    new Counter({ name: "jobs_total", help: "Jobs done.", registers });
    new Gauge({ name: "queue_depth", help: "Keys waiting.", registers });
    new Counter({ name: "calls_total", help: "Calls, by result.", labelNames: ["result"], registers });
    expect(await registry.metrics()).toBe(
      text(
        "# HELP jobs_total Jobs done.",
        "# TYPE jobs_total counter",
        "jobs_total 0",
        "# HELP queue_depth Keys waiting.",
        "# TYPE queue_depth gauge",
        "queue_depth 0",
        "# HELP calls_total Calls, by result.",
        "# TYPE calls_total counter",
      ),
    );
  });

  it("counts, sets, and writes labels in label-name order, series in the order they first appeared", async () => {
    const registry = new Registry();
    const requests = new Counter({
      name: "http_requests_total",
      help: "Requests.",
      labelNames: ["route", "method", "code"],
      registers: [registry],
    });
    const budget = new Gauge({ name: "budget", help: "Budget.", labelNames: ["kind"], registers: [registry] });
    requests.inc({ code: "200", method: "GET", route: "/livez" });
    requests.inc({ route: "/drain", method: "POST", code: 500 });
    requests.inc({ route: "/livez", method: "GET", code: "200" }, 2);
    budget.set({ kind: "limit" }, 10);
    budget.set({ kind: "in_use" }, 3);
    budget.inc({ kind: "in_use" });
    budget.dec({ kind: "limit" }, 0.5);
    expect(await registry.metrics()).toBe(
      text(
        "# HELP http_requests_total Requests.",
        "# TYPE http_requests_total counter",
        'http_requests_total{route="/livez",method="GET",code="200"} 3',
        'http_requests_total{route="/drain",method="POST",code="500"} 1',
        "# HELP budget Budget.",
        "# TYPE budget gauge",
        'budget{kind="limit"} 9.5',
        'budget{kind="in_use"} 4',
      ),
    );
  });

  it("writes a histogram's buckets cumulative, le inclusive, +Inf last, then _sum and _count", async () => {
    const registry = new Registry();
    const duration = new Histogram({
      name: "duration_seconds",
      help: "Durations.",
      labelNames: ["kind"],
      buckets: [0.1, 1, 5],
      registers: [registry],
    });
    duration.observe({ kind: "node" }, 0.0625);
    duration.observe({ kind: "node" }, 1); // on a bound: counted in that bucket
    duration.observe({ kind: "node" }, 0.5);
    duration.observe({ kind: "node" }, 60); // above the last bound: only in +Inf
    duration.observe({ kind: "fleet" }, 2);
    expect(await registry.metrics()).toBe(
      text(
        "# HELP duration_seconds Durations.",
        "# TYPE duration_seconds histogram",
        'duration_seconds_bucket{kind="node",le="0.1"} 1',
        'duration_seconds_bucket{kind="node",le="1"} 3',
        'duration_seconds_bucket{kind="node",le="5"} 3',
        'duration_seconds_bucket{kind="node",le="+Inf"} 4',
        'duration_seconds_sum{kind="node"} 61.5625',
        'duration_seconds_count{kind="node"} 4',
        'duration_seconds_bucket{kind="fleet",le="0.1"} 0',
        'duration_seconds_bucket{kind="fleet",le="1"} 0',
        'duration_seconds_bucket{kind="fleet",le="5"} 1',
        'duration_seconds_bucket{kind="fleet",le="+Inf"} 1',
        'duration_seconds_sum{kind="fleet"} 2',
        'duration_seconds_count{kind="fleet"} 1',
      ),
    );
  });

  it("writes an unlabelled histogram's zero buckets from the start, and small bounds as written", async () => {
    const registry = new Registry();
    new Histogram({ name: "wait_seconds", help: "Waits.", buckets: [0.001, 0.025], registers: [registry] });
    expect(await registry.metrics()).toBe(
      text(
        "# HELP wait_seconds Waits.",
        "# TYPE wait_seconds histogram",
        'wait_seconds_bucket{le="0.001"} 0',
        'wait_seconds_bucket{le="0.025"} 0',
        'wait_seconds_bucket{le="+Inf"} 0',
        "wait_seconds_sum 0",
        "wait_seconds_count 0",
      ),
    );
  });

  it("escapes label values (backslash, double quote, line feed) and HELP (backslash, line feed)", async () => {
    const registry = new Registry();
    const gauge = new Gauge({
      name: "escaped",
      help: 'A "quoted" C:\\path\nand a second line.',
      labelNames: ["value"],
      registers: [registry],
    });
    gauge.set({ value: 'say "hi"\\n\nbye' }, 1);
    expect(await registry.metrics()).toBe(
      text(
        '# HELP escaped A "quoted" C:\\\\path\\nand a second line.',
        "# TYPE escaped gauge",
        'escaped{value="say \\"hi\\"\\\\n\\nbye"} 1',
      ),
    );
  });

  it("writes NaN, +Inf and -Inf values, and a NaN observation only into +Inf", async () => {
    const registry = new Registry();
    const gauge = new Gauge({ name: "odd", help: "Odd values.", labelNames: ["v"], registers: [registry] });
    gauge.set({ v: "nan" }, NaN);
    gauge.set({ v: "inf" }, Infinity);
    gauge.set({ v: "-inf" }, -Infinity);
    gauge.set({ v: "tiny" }, 1e-7);
    const histogram = new Histogram({ name: "h", help: "H.", buckets: [1], registers: [registry] });
    histogram.observe(NaN);
    expect(await registry.metrics()).toBe(
      text(
        "# HELP odd Odd values.",
        "# TYPE odd gauge",
        'odd{v="nan"} NaN',
        'odd{v="inf"} +Inf',
        'odd{v="-inf"} -Inf',
        'odd{v="tiny"} 1e-7',
        "# HELP h H.",
        "# TYPE h histogram",
        'h_bucket{le="1"} 0',
        'h_bucket{le="+Inf"} 1',
        "h_sum NaN",
        "h_count 1",
      ),
    );
  });

  it("leaves out a label not given; remove drops one series, reset all (an unlabelled one back to 0)", async () => {
    const registry = new Registry();
    const gauge = new Gauge({ name: "g", help: "G.", labelNames: ["a", "b"], registers: [registry] });
    const plain = new Gauge({ name: "p", help: "P.", registers: [registry] });
    gauge.set({ a: "1" }, 1);
    gauge.set({ a: "1", b: "" }, 2); // an empty value is a value: its own series
    gauge.set({ b: "2" }, 3);
    gauge.set({ a: "3", b: "3" }, 4);
    gauge.remove({ a: "1" });
    gauge.set({ a: "1" }, 5); // back, after the others
    plain.set(7);
    expect(await registry.metrics()).toBe(
      text(
        "# HELP g G.",
        "# TYPE g gauge",
        'g{a="1",b=""} 2',
        'g{b="2"} 3',
        'g{a="3",b="3"} 4',
        'g{a="1"} 5',
        "# HELP p P.",
        "# TYPE p gauge",
        "p 7",
      ),
    );
    gauge.reset();
    plain.reset();
    expect(await registry.metrics()).toBe(
      text("# HELP g G.", "# TYPE g gauge", "# HELP p P.", "# TYPE p gauge", "p 0"),
    );
  });

  it("runs every collect hook, async ones too, before it reads any metric", async () => {
    const registry = new Registry();
    let reading = 0;
    const second = new Gauge({ name: "second", help: "Set by the first's hook.", registers: [] });
    new Gauge({
      name: "first",
      help: "Collected.",
      registers: [registry],
      async collect() {
        await new Promise((resolve) => setImmediate(resolve));
        reading += 1;
        this.set(reading);
        second.set(reading * 10);
      },
    });
    registry.register(second);
    const expected = (n: number) =>
      text(
        "# HELP first Collected.",
        "# TYPE first gauge",
        `first ${n}`,
        "# HELP second Set by the first's hook.",
        "# TYPE second gauge",
        `second ${n * 10}`,
      );
    expect(await registry.metrics()).toBe(expected(1));
    expect(await registry.metrics()).toBe(expected(2));
  });
});

describe("what the instruments refuse", () => {
  it("a label not declared, a counter going down, a bad name, le on a histogram, unsorted buckets", () => {
    const counter = new Counter({ name: "c_total", help: "C.", labelNames: ["a"] });
    expect(() => counter.inc({ b: "x" } as never)).toThrow(/label "b" is not one of \[a\]/);
    expect(() => counter.inc(-1)).toThrow(/only goes up/);
    expect(() => counter.inc(NaN)).toThrow(/only goes up/);
    expect(() => new Gauge({ name: "1bad", help: "" })).toThrow(/invalid metric name/);
    expect(() => new Gauge({ name: "g", help: "", labelNames: ["__reserved"] })).toThrow(/invalid label name/);
    expect(() => new Gauge({ name: "g", help: "", labelNames: ["a-b"] })).toThrow(/invalid label name/);
    expect(() => new Gauge({ name: "g", help: "", labelNames: ["a", "a"] })).toThrow(/repeat/);
    expect(() => new Histogram({ name: "h", help: "", labelNames: ["le"], buckets: [1] })).toThrow(/invalid label/);
    expect(() => new Histogram({ name: "h", help: "", buckets: [1, 1] })).toThrow(/increasing/);
    expect(() => new Histogram({ name: "h", help: "", buckets: [2, 1] })).toThrow(/increasing/);
    expect(() => new Histogram({ name: "h", help: "", buckets: [1, Infinity] })).toThrow(/finite/);
  });

  it("two metrics of one name in a registry", () => {
    const registry = new Registry();
    new Gauge({ name: "same", help: "", registers: [registry] });
    expect(() => new Counter({ name: "same", help: "", registers: [registry] })).toThrow(/already registered/);
  });
});
