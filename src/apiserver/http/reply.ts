// The answer to one request: status, headers, and a payload sent as fastify sent it (the API server's clients saw
// its answers): an object as JSON, a string as text unless a type was set, a stream as it comes (chunked). And an
// error as the JSON body every error has, with Retry-After, and a body refused unread read and thrown away.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Readable } from "node:stream";
import type { Logger } from "pino";
import { toHttpError } from "../errors.ts";
import { mediaTypeOf } from "./media-type.ts";

export class Reply {
  readonly raw: ServerResponse;
  #sent = false;

  constructor(raw: ServerResponse) {
    this.raw = raw;
  }

  get statusCode(): number {
    return this.raw.statusCode;
  }

  /** Whether an answer was begun (send called). */
  sent(): boolean {
    return this.#sent || this.raw.headersSent;
  }

  code(status: number): this {
    this.raw.statusCode = status;
    return this;
  }

  header(name: string, value: string): this {
    this.raw.setHeader(name, value);
    return this;
  }

  type(contentType: string): this {
    return this.header("content-type", contentType);
  }

  send(payload?: unknown): this {
    this.#sent = true;
    const res = this.raw;
    if (payload === undefined || payload === null) {
      if (res.statusCode !== 204 && res.statusCode !== 304) res.setHeader("content-length", "0");
      res.end();
      return this;
    }
    if (isStream(payload)) {
      payload.once("error", () => res.destroy());
      payload.pipe(res);
      return this;
    }
    const type = res.getHeader("content-type");
    let body: string | Buffer;
    if (Buffer.isBuffer(payload)) {
      if (type === undefined) res.setHeader("content-type", "application/octet-stream");
      body = payload;
    } else if (typeof payload === "string" && type === undefined) {
      res.setHeader("content-type", "text/plain; charset=utf-8");
      body = payload;
    } else {
      if (type === undefined) res.setHeader("content-type", "application/json; charset=utf-8");
      else if (mediaTypeOf(String(type))?.includes("json") && !/;\s*charset=/i.test(String(type))) {
        res.setHeader("content-type", `${String(type)}; charset=utf-8`);
      }
      body = typeof payload === "string" ? payload : JSON.stringify(payload);
    }
    res.setHeader("content-length", String(Buffer.byteLength(body)));
    res.end(body);
    return this;
  }
}

function isStream(payload: unknown): payload is Readable {
  return typeof (payload as { pipe?: unknown }).pipe === "function";
}

/**
 * Answers `err` as `{code, reason, message, details?}`. An error met while reading or parsing the body closes the
 * connection (the client may still be sending), unless the body was refused unread with a 4xx (413, 415, 429, ...):
 * then the rest is read and thrown away (within the request timeout), as nginx's lingering close does, so that a
 * client still sending reads the answer rather than a reset (Node closes the connection after 64 KB unread).
 */
export function sendError(request: IncomingMessage, reply: Reply, log: Logger, err: unknown, duringBody = false): void {
  const http = toHttpError(err);
  // Only our own failures get a stack; refusals and drain verdicts are expected answers.
  if (http.reason === "InternalError") log.error({ err }, http.message);
  else if (http.statusCode >= 500) log.warn({ code: http.statusCode, reason: http.reason }, http.message);
  else log.info({ code: http.statusCode, reason: http.reason }, http.message);
  if (reply.sent()) {
    // A streamed answer failed half way: the client must not take it for a whole one.
    reply.raw.destroy();
    return;
  }
  const res = reply.raw;
  for (const name of res.getHeaderNames()) res.removeHeader(name);
  if (duringBody) res.setHeader("connection", "close");
  if (http.retryAfterSeconds !== undefined) res.setHeader("retry-after", String(http.retryAfterSeconds));
  if (http.statusCode < 500 && !request.complete) {
    res.removeHeader("connection");
    res.shouldKeepAlive = true;
    request.resume();
  }
  reply.code(http.statusCode).send(http.toBody());
}
