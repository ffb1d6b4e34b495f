// Requests to kube-apiserver counted at the wire (a proxy's log, sim/cluster/fault-proxy.ts): by component, by verb
// and resource as an audit log names them, over a time window. A watch counts when it is opened, unlike
// kube-apiserver's apiserver_request_total, which counts it when it ends (an open watch is not in it).

/** One request as a proxy saw it arrive. */
export interface CountedRequest {
  readonly method: string;
  /** Path and query, as sent. */
  readonly url: string;
  /** Date.now() when it reached the proxy. */
  readonly at: number;
  /** Date.now() when the exchange ended; undefined while it is open (a watch). */
  readonly closedAt?: number | undefined;
}

/** [from, to): requests that arrived at `from` or later and before `to` (ms since the epoch). */
export interface TimeWindow {
  readonly from: number;
  readonly to: number;
}

export interface RequestCount {
  total: number;
  /** "VERB resource[/subresource]" → count, largest first. */
  byKind: Record<string, number>;
}

const TRUE = new Set(["1", "true"]);

/**
 * The audit log's name for a request: WATCH and LIST for reads of a collection (GET with watch=1 is a WATCH), GET for
 * one object; the resource as kube-apiserver names it (plural, with the subresource). Paths that are not resources
 * (discovery, /version, /healthz) are named by their path.
 */
export function requestKind(method: string, url: string): string {
  const parsed = new URL(url, "https://kube-apiserver");
  const segments = parsed.pathname.split("/").filter((s) => s !== "");
  let rest: string[];
  if (segments[0] === "api" && segments.length >= 3) rest = segments.slice(2);
  else if (segments[0] === "apis" && segments.length >= 4) rest = segments.slice(3);
  else return `${method.toUpperCase()} ${parsed.pathname}`;
  // namespaces/<ns>/<resource>/... is namespaced; namespaces or namespaces/<ns>[/status] is the namespace itself.
  if (rest[0] === "namespaces" && rest.length >= 3) rest = rest.slice(2);
  const [resource = "", name, subresource] = rest;
  const upper = method.toUpperCase();
  let verb = upper;
  if (upper === "GET" && name === undefined) {
    verb = TRUE.has(parsed.searchParams.get("watch") ?? "") ? "WATCH" : "LIST";
  } else if (upper === "DELETE" && name === undefined) {
    verb = "DELETECOLLECTION";
  }
  return `${verb} ${resource}${subresource === undefined ? "" : `/${subresource}`}`;
}

/** The requests of one log that arrived within `window`, by kind. */
export function countRequests(log: readonly CountedRequest[], window: TimeWindow): RequestCount {
  const byKind = new Map<string, number>();
  let total = 0;
  for (const r of log) {
    if (r.at < window.from || r.at >= window.to) continue;
    total++;
    const kind = requestKind(r.method, r.url);
    byKind.set(kind, (byKind.get(kind) ?? 0) + 1);
  }
  return { total, byKind: Object.fromEntries([...byKind].sort((a, b) => b[1] - a[1] || (a[0] < b[0] ? -1 : 1))) };
}

/** Each component's requests within `window` (one log per component: each talks through a proxy of its own). */
export function countByComponent(
  logs: Readonly<Record<string, readonly CountedRequest[]>>,
  window: TimeWindow,
): { total: number; byComponent: Record<string, RequestCount> } {
  const byComponent: Record<string, RequestCount> = {};
  let total = 0;
  for (const [component, log] of Object.entries(logs)) {
    const count = countRequests(log, window);
    byComponent[component] = count;
    total += count.total;
  }
  return { total, byComponent };
}

/** `count` requests in `windowMs`, as a rate per hour. */
export function perHour(count: number, windowMs: number): number {
  if (!(windowMs > 0)) throw new Error(`a window of ${windowMs} ms has no rate`);
  return (count * 3_600_000) / windowMs;
}

/** kube-apiserver's timeout of a watch that asked none: --min-request-timeout (1800 s) times 1 to 2; its mean. */
export const SERVER_DEFAULT_WATCH_SECONDS = 2_700;

export interface SteadyRate {
  /** Requests per hour at rest: what the window saw, plus every held watch at the rate it is re-opened. */
  perHour: number;
  /** Watches open at the window's end. */
  heldWatches: number;
  /** Their share of `perHour`: Σ 3600 / the server-side timeout each asked for. */
  watchesPerHour: number;
}

function isWatch(r: CountedRequest): boolean {
  return requestKind(r.method, r.url).startsWith("WATCH ");
}

/**
 * The rate at rest of one log, counting watches as they cost over an hour, not only when a short window happens to
 * see one re-opened: a watch open at the window's end is re-opened once per its server-side timeout (the
 * `timeoutSeconds` it asked for, else the server's default), so it counts 3600 / timeout per hour; every other
 * request that arrived within the window (watches that ended within it included) counts at the window's rate.
 */
export function steadyRate(log: readonly CountedRequest[], window: TimeWindow): SteadyRate {
  let inWindow = 0;
  let heldWatches = 0;
  let watchesPerHour = 0;
  for (const r of log) {
    const held = isWatch(r) && r.at < window.to && (r.closedAt === undefined || r.closedAt >= window.to);
    if (held) {
      heldWatches++;
      const asked = Number(new URL(r.url, "https://kube-apiserver").searchParams.get("timeoutSeconds"));
      watchesPerHour += 3600 / (asked > 0 ? asked : SERVER_DEFAULT_WATCH_SECONDS);
    } else if (r.at >= window.from && r.at < window.to) {
      inWindow++;
    }
  }
  return { perHour: perHour(inWindow, window.to - window.from) + watchesPerHour, heldWatches, watchesPerHour };
}
