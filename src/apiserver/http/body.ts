// A request's body: whether it has one (before reading it), and its bytes read up to a limit. A declared length over
// the limit is refused before reading (413); a body that does not match its declared length is a 400.
import type { IncomingHttpHeaders, IncomingMessage } from "node:http";
import { HttpError } from "../errors.ts";

/** Methods whose body is never read (a route of theirs may still refuse one). */
export const BODYLESS_METHODS: ReadonlySet<string> = new Set(["GET", "HEAD", "TRACE"]);
/** Methods whose body is read when the route's Content-Type rules allow it; others are neither read nor refused. */
export const BODY_METHODS: ReadonlySet<string> = new Set(["DELETE", "OPTIONS", "PATCH", "PUT", "POST", "QUERY"]);

export function hasBody(headers: IncomingHttpHeaders): boolean {
  const length = headers["content-length"];
  return (length !== undefined && length !== "0") || headers["transfer-encoding"] !== undefined;
}

export function bodyTooLarge(): HttpError {
  return new HttpError(413, "BodyTooLarge", "Request body is too large");
}

/** The body's bytes, at most `limit` of them (413 beyond, the rest left unread). */
export function readBody(request: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(request.headers["content-length"]);
  if (declared > limit) return Promise.reject(bodyTooLarge());
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const stop = () => {
      request.removeListener("data", onData);
      request.removeListener("end", onEnd);
      request.removeListener("error", onError);
    };
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      if (received > limit) {
        stop();
        reject(bodyTooLarge());
        return;
      }
      chunks.push(chunk);
    };
    const onEnd = () => {
      stop();
      if (!Number.isNaN(declared) && received !== declared) {
        reject(new HttpError(400, "BadRequest", "Request body size did not match Content-Length"));
      } else resolve(Buffer.concat(chunks, received));
    };
    const onError = (err: Error) => {
      stop();
      reject(new HttpError(400, "BadRequest", err.message));
    };
    request.on("data", onData);
    request.on("end", onEnd);
    request.on("error", onError);
    request.resume();
  });
}
