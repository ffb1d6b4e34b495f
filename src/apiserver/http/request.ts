// What a route's hooks and handler get of a request: Node's message, its per-request logger, and its body once read.
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import type { Logger } from "pino";

export interface Request {
  readonly raw: IncomingMessage;
  readonly method: string;
  /** The request target as sent (path and query). */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** Carries the request id and the node header; the gate adds the proven pod. */
  log: Logger;
  /** The parsed body (undefined when none), once the route's body rule has run. */
  body: unknown;
}
