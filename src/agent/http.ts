// The agent's only HTTP(S) client, on node:http/node:https: no client library, no undici (RSS budget). Used for
// the Kubernetes watches and for the brupop API server. CA files are read per request, so a rotated CA or token is
// picked up without a restart.
import { readFile } from "node:fs/promises";
import type * as Http from "node:http";
import type * as Https from "node:https";

// Not `import http from "node:http"`: an ESM import of node:http evaluates every lazy export of the module,
// including the WebSocket/fetch classes that load Node's bundled undici (~9 MiB RSS). The CommonJS module object
// from getBuiltinModule leaves them unloaded.
const http = process.getBuiltinModule("node:http");
const https = process.getBuiltinModule("node:https");

export interface HttpRequest {
  /** `https://host:port` or `http://host:port`, no path. */
  baseUrl: string;
  /** PEM file with the CA to trust (https only); null uses the system roots. */
  caFile: string | null;
  method: string;
  /** Path plus query string. */
  path: string;
  headers?: Record<string, string>;
  body?: string;
  /** Bound on the whole exchange, connect to last byte. */
  timeoutMs: number;
  signal?: AbortSignal;
}

export interface HttpResponse {
  status: number;
  body: string;
  headers: Http.IncomingHttpHeaders;
}

/** A transport-level failure (connect, TLS, reset, timeout): no HTTP status was received. */
export class TransportError extends Error {
  override readonly name = "TransportError";
  readonly timedOut: boolean;
  constructor(message: string, timedOut: boolean, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.timedOut = timedOut;
  }
}

/** One exchange; resolves with any HTTP status, rejects with TransportError (or the caller's abort reason). */
export async function httpRequest(request: HttpRequest): Promise<HttpResponse> {
  const timeout = AbortSignal.timeout(request.timeoutMs);
  const signal = request.signal ? AbortSignal.any([request.signal, timeout]) : timeout;
  try {
    const res = await open(request, signal);
    const chunks: Buffer[] = [];
    for await (const chunk of res) chunks.push(chunk as Buffer);
    return { status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8"), headers: res.headers };
  } catch (error) {
    if (request.signal?.aborted) throw request.signal.reason;
    const where = `${request.method} ${request.baseUrl}${request.path.split("?")[0] ?? ""}`;
    if (timeout.aborted) throw new TransportError(`${where}: no answer within ${request.timeoutMs} ms`, true, error);
    throw new TransportError(`${where}: ${error instanceof Error ? error.message : String(error)}`, false, error);
  }
}

/**
 * Opens a request and resolves with the response stream once the headers arrive (for watches). Aborting `signal`
 * destroys the stream. Rejects like the underlying request.
 */
export async function open(request: HttpRequest, signal: AbortSignal): Promise<Http.IncomingMessage> {
  const url = new URL(request.path, request.baseUrl);
  const secure = url.protocol === "https:";
  const ca = secure && request.caFile !== null ? await readFile(request.caFile, "utf8") : undefined;
  const body = request.body ?? "";
  const headers: Record<string, string | number> = { accept: "application/json", ...request.headers };
  if (request.body !== undefined) {
    headers["content-type"] ??= "application/json";
    headers["content-length"] = Buffer.byteLength(body);
  }
  return new Promise((resolve, reject) => {
    const options: Https.RequestOptions = {
      method: request.method,
      headers,
      signal,
      // A fresh connection per request: the agent sends a handful per minute, and a pooled TLS socket (with its
      // buffers) would cost more memory than the handshakes cost CPU.
      agent: false,
      ...(ca === undefined ? {} : { ca }),
    };
    const req = (secure ? https : http).request(url, options, resolve);
    req.on("error", reject);
    req.end(body);
  });
}

/** Reads a token file, trimmed; throws a clear error when it is missing or empty. */
export async function readToken(path: string): Promise<string> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (error) {
    throw new Error(`cannot read token ${path}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {
      cause: error,
    });
  }
  const token = text.trim();
  if (token === "") throw new Error(`token file ${path} is empty`);
  return token;
}
