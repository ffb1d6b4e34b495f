// `apiclient raw` semantics, so Bottlerocket tooling (and brupop 1.4's agent, which parses `Status NNN` out of
// stderr) can drive a simulated host. Output formats follow apiclient's main.rs/lib.rs:
//   stdout: the response body plus a newline, nothing if the body is empty;
//   error:  `Failed <METHOD> request to '<uri>': Status <code> when <METHOD>ing <uri>: <body>` on stderr, exit 1.
import { HostApiError } from "../../src/host/errors.ts";
import type { HostApiClient } from "../../src/host/client.ts";

export interface ApiclientRawRequest {
  uri: string;
  /** Default GET. Sent and printed in upper case. */
  method?: string;
  data?: string;
  /** Print the status line to stderr, like `apiclient -v raw`. */
  verbose?: boolean;
}

export interface ApiclientRawResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

const REASONS: Record<number, string> = {
  200: "OK",
  204: "No Content",
  404: "Not Found",
  409: "Conflict",
  423: "Locked",
  500: "Internal Server Error",
};

function statusLine(status: number): string {
  const reason = REASONS[status];
  return reason === undefined ? String(status) : `${status} ${reason}`;
}

/** How hyper (apiclient's HTTP stack) describes a failure to exchange the request. */
function sendFailure(error: HostApiError): string {
  const code = (error.cause as { code?: unknown } | undefined)?.code;
  switch (code) {
    case "ENOENT":
      return "Failed to send request: error trying to connect: No such file or directory (os error 2)";
    case "ECONNREFUSED":
      return "Failed to send request: error trying to connect: Connection refused (os error 111)";
    case "EACCES":
      return "Failed to send request: error trying to connect: Permission denied (os error 13)";
    default:
      return error.kind === "timeout"
        ? `Failed to send request: ${error.message}`
        : "Failed to send request: connection closed before message completed";
  }
}

export async function apiclientRaw(client: HostApiClient, req: ApiclientRawRequest): Promise<ApiclientRawResult> {
  const method = (req.method ?? "GET").toUpperCase();
  const prefix = `Failed ${method} request to '${req.uri}'`;
  if (!req.uri.startsWith("/")) {
    return { exitCode: 1, stdout: "", stderr: `${prefix}: Failed to build request: invalid uri\n` };
  }
  try {
    const response = await client.raw(method, req.uri, req.data);
    if (response.status < 200 || response.status > 299) {
      return {
        exitCode: 1,
        stdout: "",
        stderr: `${prefix}: Status ${response.status} when ${method}ing ${req.uri}: ${response.body}\n`,
      };
    }
    return {
      exitCode: 0,
      stdout: response.body === "" ? "" : `${response.body}\n`,
      stderr: req.verbose ? `${statusLine(response.status)}\n` : "",
    };
  } catch (error) {
    if (!(error instanceof HostApiError)) throw error;
    return { exitCode: 1, stdout: "", stderr: `${prefix}: ${sendFailure(error)}\n` };
  }
}
