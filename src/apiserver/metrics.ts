// The API server's Prometheus metrics, in a private registry served on its own plain-HTTP port (brupop's /metrics
// sat behind the agent-token check, so no scraper could read it; docs/design/brupop-compatibility.md#metrics).
import { Counter } from "../metrics/counter.ts";
import { Gauge } from "../metrics/gauge.ts";
import { Histogram } from "../metrics/histogram.ts";
import { registerProcessMetrics } from "../metrics/process.ts";
import { Registry } from "../metrics/registry.ts";

export class ApiServerMetrics {
  readonly registry = new Registry();
  readonly requests = new Counter({
    name: "brupop_apiserver_http_requests_total",
    help: "HTTP requests answered, by route, method and status code.",
    labelNames: ["route", "method", "code"] as const,
    registers: [this.registry],
  });
  readonly requestDuration = new Histogram({
    name: "brupop_apiserver_http_request_duration_seconds",
    help: "Time to answer an HTTP request, by route and method.",
    labelNames: ["route", "method"] as const,
    buckets: [0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 30, 120, 600],
    registers: [this.registry],
  });
  readonly authentications = new Counter({
    name: "brupop_apiserver_authentications_total",
    help: "Agent authentications by result (allowed, denied, error), reason, and whether the token verdict was cached.",
    labelNames: ["result", "reason", "cached"] as const,
    registers: [this.registry],
  });
  readonly drains = new Counter({
    name: "brupop_apiserver_drains_total",
    help: "Finished drains by outcome (drained, timed-out, failed, cancelled).",
    labelNames: ["outcome"] as const,
    registers: [this.registry],
  });
  readonly drainDuration = new Histogram({
    name: "brupop_apiserver_drain_duration_seconds",
    help: "Duration of finished drains.",
    labelNames: ["outcome"] as const,
    buckets: [1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600],
    registers: [this.registry],
  });
  readonly drainsInProgress = new Gauge({
    name: "brupop_apiserver_drains_in_progress",
    help: "Drains this replica is running.",
    registers: [this.registry],
  });

  constructor(options: { defaultMetrics?: boolean } = {}) {
    if (options.defaultMetrics ?? true) registerProcessMetrics(this.registry);
  }
}
