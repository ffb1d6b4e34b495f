// The host API's transport: one HTTP/1.1 exchange over the Unix socket, its deadline, and what a failed exchange
// means (the host was never reached, the connection was lost, no answer in time). The client (client.ts) builds the
// host's contract on top.
import { HostApiError } from "./errors.ts";

export interface RawResponse {
  status: number;
  body: string;
  contentType: string | undefined;
}

// getBuiltinModule rather than an ESM import: importing node:http as ESM evaluates its lazy exports, which load
// Node's bundled undici (~9 MiB RSS in the agent).
const http = process.getBuiltinModule("node:http");

const CONNECT_FAILURES = new Set(["ENOENT", "ECONNREFUSED", "EACCES", "ENOTSOCK", "ENOTDIR", "EPERM"]);
const CONNECTION_LOST = new Set(["ECONNRESET", "EPIPE", "ERR_STREAM_PREMATURE_CLOSE"]);

function errorCode(error: unknown): string | undefined {
  if (typeof error !== "object" || error === null) return undefined;
  const code = (error as { code?: unknown }).code;
  return typeof code === "string" ? code : undefined;
}

/** True if the request never reached the host (nothing listening, no socket file). */
export function isConnectFailure(error: unknown): boolean {
  if (!(error instanceof HostApiError) || error.kind !== "unavailable") return false;
  const code = errorCode(error.cause);
  return code !== undefined && CONNECT_FAILURES.has(code);
}

/**
 * One exchange; never throws on an HTTP status. Throws HostApiError "unavailable" or "timeout" when the exchange
 * itself fails, or `signal`'s reason when it is aborted. `path` may carry a query string (`/os?prefix=version`).
 */
export async function send(
  socketPath: string,
  method: string,
  path: string,
  body: string | undefined,
  o: { timeoutMs: number; signal: AbortSignal | undefined },
): Promise<RawResponse> {
  if (!path.startsWith("/")) throw new TypeError(`host API path must start with "/": ${JSON.stringify(path)}`);
  const timeout = AbortSignal.timeout(o.timeoutMs);
  const signal = o.signal ? AbortSignal.any([o.signal, timeout]) : timeout;
  try {
    return await exchange(socketPath, method.toUpperCase(), path, body, signal);
  } catch (error) {
    if (o.signal?.aborted) throw o.signal.reason;
    if (timeout.aborted) {
      throw new HostApiError("timeout", `${method} ${path}: no answer within ${o.timeoutMs} ms`, {
        method,
        path,
        cause: error,
      });
    }
    const code = errorCode(error);
    const reason = error instanceof Error ? error.message : String(error);
    const what = code !== undefined && CONNECTION_LOST.has(code) ? "connection lost" : "cannot connect";
    throw new HostApiError("unavailable", `${method} ${path}: ${what} to ${socketPath}: ${reason}`, {
      method,
      path,
      cause: error,
    });
  }
}

/**
 * One HTTP/1.1 exchange over the Unix socket with node:http (undici would add ~28 MiB to the agent's RSS). No
 * keep-alive: each request opens its own connection, which costs microseconds on a local socket and never reuses
 * one that a reboot has broken. A connection that closes before the end of the response rejects (ECONNRESET).
 */
function exchange(
  socketPath: string,
  method: string,
  path: string,
  body: string | undefined,
  signal: AbortSignal,
): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const payload = body ?? "";
    const req = http.request(
      {
        socketPath,
        method,
        path,
        agent: false,
        signal,
        // apiclient always sends this header, with or without a body.
        headers: { "content-type": "application/json", "content-length": Buffer.byteLength(payload) },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("aborted", () => reject(Object.assign(new Error("response aborted"), { code: "ECONNRESET" })));
        res.on("end", () => {
          if (!res.complete) {
            reject(
              Object.assign(new Error("connection closed before the end of the response"), { code: "ECONNRESET" }),
            );
            return;
          }
          const contentType = res.headers["content-type"];
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), contentType });
        });
      },
    );
    req.on("error", reject);
    req.end(payload);
  });
}
