// What one request may cost the API server, and for how long. The numbers are chosen so that, whatever arrives,
// the process stays well under its 256Mi memory limit (src/deploy) and agents keep being answered; the README's
// "Limits" section has the measurements behind them.
import type { Server as HttpServer } from "node:http";
import type { JsonBounds } from "./json-bounds.ts";

const MiB = 1024 * 1024;

/** Agent request bodies: a status is a few hundred bytes, a full one with conditions a few KB. */
export const AGENT_BODY_LIMIT_BYTES = 64 * 1024;

export interface ConversionLimits {
  /** Largest review accepted (413 above). */
  bodyLimitBytes: number;
  /** The memory reviews are read into and converted from (made once, kept): their bytes in flight at once. */
  bytesInFlight: number;
  /** Reviews waiting for room, their bodies unread (429 beyond). */
  maxWaiting: number;
}

/**
 * The conversion webhook, which anyone who can reach the Service may call.
 *
 * Body: the largest review kube-apiserver sends is a v1 LIST of every shadow, because it converts a list in ONE review
 * holding every object not yet in the desired version (apiextensions-apiserver webhook_converter.go). A cluster has at
 * most 5,000 nodes (Kubernetes' supported maximum), one shadow each, and a shadow as stored after an update, with
 * the controller's annotations and conditions and the managedFields of its writers, is about 2.6 KB: 12.2 MiB
 * (measured by bench/footprint.ts, 2026-12-06: health gates, the canary soak's and the plan's annotations; 1.6 KB
 * before all those). The gates' outcome goes with a finish and stays until the finished spec is cleared
 * (`update-healthy`, about 100 bytes and its managedFields entry): the hardening test's review of 5,000 shadows that
 * all carry it measured 14.1 MiB on 2026-12-07. The hooks' record goes with a finish when they all passed; a failed
 * advisory hook's stays (at most 773 bytes, docs/design/hooks.md). 15 MiB leaves room for labels, annotations and
 * such records, and still refuses the 16 MB attacks (15.26 and 15.7 MiB).
 *
 * In flight: a review is held as its bytes while it is converted (conversion-review.ts builds one object at a time),
 * in one buffer of 15 MiB kept for all reviews (routes/conversion.ts says why). One review of the largest size at a
 * time; others wait, unread (kube-apiserver
 * sends a review per request that needs one, so a few can arrive together), and beyond 4 waiting they are told to
 * retry (429): a waiting review still has to arrive within the request timeout, so a long queue would end in 408s.
 */
export const CONVERSION_LIMITS: ConversionLimits = {
  bodyLimitBytes: 15 * MiB,
  bytesInFlight: 15 * MiB,
  maxWaiting: 4,
};

/**
 * Every JSON body, checked on its text before JSON.parse builds it. The deepest real document is a ConversionReview's
 * managedFields (about 12 levels); 32 keeps every recursive step after parsing (validation, serialisation for
 * Kubernetes) far from the stack's end. A stored shadow is about 70 items (members and elements) in 1.4 KB, so a
 * review of real shadows as large as the body limit has about 730,000; a million bounds what a dense body such as
 * `[{},{},…]` can make JSON.parse build (about 70 bytes an object, so 70 MB) within the body limit.
 */
export const JSON_BOUNDS: JsonBounds = { maxDepth: 32, maxItems: 1_000_000 };

/**
 * Connection timeouts. Agents send a few KB and kube-apiserver at most the conversion limit over the cluster network,
 * so a request that is not complete in seconds is not a client we want to wait for; Node's defaults (TLS handshake
 * 120 s, whole request 300 s) let a slow client hold a connection for minutes. Answers are not bounded here: the
 * synchronous drain route answers only when the drain ends.
 */
export const SERVER_TIMEOUTS = {
  /** TCP connected to TLS established. */
  tlsHandshakeMs: 10_000,
  /** Request line and headers received. */
  headersMs: 10_000,
  /** The whole request received, body included (408 after). */
  requestMs: 15_000,
  /** An idle keep-alive connection between requests. */
  keepAliveMs: 15_000,
  /** How often Node checks the two above (its default, 30 s, would double them). */
  checkIntervalMs: 1_000,
} as const;

/** Applies the timeouts a server can take after its creation (the TLS handshake and the check interval cannot). */
export function applyServerTimeouts(server: HttpServer): void {
  server.requestTimeout = SERVER_TIMEOUTS.requestMs;
  server.headersTimeout = SERVER_TIMEOUTS.headersMs;
  server.keepAliveTimeout = SERVER_TIMEOUTS.keepAliveMs;
}
