// Typed failures of the host API client. Callers branch on `kind`; `status` and `body` keep what the host said.

export type HostApiErrorKind =
  /** The socket could not be reached (ENOENT, ECONNREFUSED) or the connection broke mid-request. */
  | "unavailable"
  /** 423: the update lock stayed held by another command for longer than we were willing to wait. */
  | "locked"
  /** 409: the action is not allowed in the current update state (or a client-side precondition failed). */
  | "conflict"
  /** 404: no chosen update, no staged image, or an unknown route. */
  | "not-found"
  /** A request, or a wait for a command to finish, ran out of time. */
  | "timeout"
  /** The host answered something we cannot interpret (unexpected status, bad JSON, wrong shape). */
  | "bad-response"
  /** 5xx: the dispatcher failed, the status file is unreadable, or a reboot was refused. */
  | "server-error"
  /** The command ran and `most_recent_command` reports it failed. */
  | "command-failed"
  /** The command was accepted but its result never appeared: the process died, the host rebooted, or another
   * client ran a command over it. */
  | "interrupted"
  /** The host offers, staged or activated a different version from the one the caller asked for. */
  | "version-mismatch";

export interface HostApiErrorDetails {
  method?: string;
  path?: string;
  status?: number;
  body?: string;
  cause?: unknown;
}

export class HostApiError extends Error {
  override readonly name = "HostApiError";
  readonly kind: HostApiErrorKind;
  readonly method: string | undefined;
  readonly path: string | undefined;
  /** HTTP status code when the host answered. */
  readonly status: number | undefined;
  /** Response body (plain text for errors), or updog's stderr for `command-failed`. */
  readonly body: string | undefined;

  constructor(kind: HostApiErrorKind, message: string, details: HostApiErrorDetails = {}) {
    super(message, details.cause === undefined ? undefined : { cause: details.cause });
    this.kind = kind;
    this.method = details.method;
    this.path = details.path;
    this.status = details.status;
    this.body = details.body;
  }
}

export function isHostApiError(error: unknown, kind?: HostApiErrorKind): error is HostApiError {
  return error instanceof HostApiError && (kind === undefined || error.kind === kind);
}

/** How the Bottlerocket apiserver's status codes map to error kinds (docs/design/host-api.md#endpoints). */
export function kindForStatus(status: number): HostApiErrorKind {
  if (status === 423) return "locked";
  if (status === 409) return "conflict";
  if (status === 404) return "not-found";
  if (status >= 500) return "server-error";
  return "bad-response";
}
