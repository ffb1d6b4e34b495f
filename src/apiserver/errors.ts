// Every error the API server answers with: an HTTP status, a CamelCase reason a program can switch on, and a
// message a person can act on. brupop answered most failures with a 500 and plain text
// (docs/design/brupop-compatibility.md#api-server-errors).
import { apiMessage, statusCode } from "../kube/errors.ts";
import type { JsonBounds, JsonBoundsViolation } from "./json-bounds.ts";

/** The JSON body of every error response. */
export interface ErrorBody {
  code: number;
  reason: string;
  message: string;
  details?: unknown;
}

export class HttpError extends Error {
  override name = "HttpError";
  readonly statusCode: number;
  readonly reason: string;
  readonly details: unknown;
  /** Seconds, sent as Retry-After (429, 503). */
  readonly retryAfterSeconds: number | undefined;

  constructor(
    statusCode: number,
    reason: string,
    message: string,
    extra: { details?: unknown; retryAfterSeconds?: number } = {},
  ) {
    super(message);
    this.statusCode = statusCode;
    this.reason = reason;
    this.details = extra.details;
    this.retryAfterSeconds = extra.retryAfterSeconds;
  }

  toBody(): ErrorBody {
    return {
      code: this.statusCode,
      reason: this.reason,
      message: this.message,
      ...(this.details === undefined ? {} : { details: this.details }),
    };
  }
}

/**
 * A failed Kubernetes call, as our answer to the agent. Kubernetes' own verdicts on the request pass through (404,
 * 409, 422 as 400); throttling and outages become 429/503 so the agent retries; anything else is ours (500).
 */
export function fromKubernetesError(err: unknown, what: string): HttpError {
  const code = statusCode(err);
  const message = `${what}: ${apiMessage(err)}`;
  switch (code) {
    case 404:
      return new HttpError(404, "NotFound", message);
    case 409:
      return new HttpError(409, "Conflict", message);
    case 400:
    case 422:
      return new HttpError(400, "Invalid", message);
    case 429:
      return new HttpError(429, "TooManyRequests", message, { retryAfterSeconds: 1 });
    case 403:
      // The caller was authorised by us; a 403 from Kubernetes means our own RBAC is missing a rule.
      return new HttpError(500, "InternalError", `${message} (check the API server's RBAC)`);
    case undefined:
    case 500:
    case 502:
    case 503:
    case 504:
      return new HttpError(503, "KubernetesUnavailable", message, { retryAfterSeconds: 5 });
    default:
      return new HttpError(500, "InternalError", message);
  }
}

/** Runs a Kubernetes call on an agent's behalf; its failure becomes our answer (see fromKubernetesError). */
export async function kubeCall<T>(call: () => Promise<T>, what: string): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw fromKubernetesError(err, what);
  }
}

/** Any error a route throws, as our answer: an HttpError as it is, anything else is ours (500). */
export function toHttpError(err: unknown): HttpError {
  if (err instanceof HttpError) return err;
  return new HttpError(500, "InternalError", "internal error (see the API server's log)");
}

/** A body over the JSON bounds: too deep (400, naming where) or too many values or elements (413). */
export function jsonBoundsError(violation: JsonBoundsViolation, bounds: JsonBounds): HttpError {
  switch (violation.kind) {
    case "items":
      return new HttpError(413, "BodyTooLarge", `body: more than ${bounds.maxItems} values`);
    case "elements":
      return new HttpError(413, "BodyTooLarge", `body: ${violation.path}: more than ${violation.max} elements`);
    case "depth": {
      const where = violation.path === "" ? "" : `${violation.path}: `;
      return new HttpError(400, "Invalid", `body: ${where}nests deeper than ${bounds.maxDepth} levels`);
    }
  }
}
