// Every error the API server answers with: an HTTP status, a CamelCase reason a program can switch on, and a
// message a person can act on. brupop answered most failures with a 500 and plain text
// (docs/design/brupop-compatibility.md#api-server-errors).
import { apiMessage, statusCode } from "../kube/errors.ts";

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
