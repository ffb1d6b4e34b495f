// One HTTPS request on a connection of its own, as an agent or kube-apiserver sends one to the brupop API server,
// with the answer read whole (status, headers, text, JSON): for tests and benchmarks that talk to the API server.
import { request as httpsRequest } from "node:https";

export interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  text: string;
  /** The body as JSON, or {} when it is not JSON. */
  json: { code?: number; reason?: string; message?: string } & Record<string, unknown>;
}

export interface HttpsCall {
  method: string;
  path: string;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

/**
 * One HTTPS exchange trusting `caPem`, on a connection of its own; rejects only on transport errors. The body goes out
 * in chunks, as fast as the connection takes them, and stops once the server has answered: a server may refuse a
 * request from its headers (413, 429) and close without reading the rest, and a client still writing then sees a
 * reset instead of the answer.
 */
export function httpsCall(url: string, caPem: string, request: HttpsCall): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const body = request.body === undefined ? undefined : Buffer.from(request.body);
    let answered = false;
    const req = httpsRequest(
      new URL(request.path, url),
      {
        method: request.method,
        ca: caPem,
        agent: false,
        headers: {
          ...(body === undefined ? {} : { "content-length": String(body.length) }),
          ...request.headers,
        },
      },
      (res) => {
        answered = true;
        const chunks: Buffer[] = [];
        res.on("data", (chunk: Buffer) => chunks.push(chunk));
        res.on("error", reject);
        res.on("end", () => {
          const text = Buffer.concat(chunks).toString("utf8");
          let json: Answer["json"] = {};
          try {
            const parsed: unknown = JSON.parse(text);
            if (typeof parsed === "object" && parsed !== null) json = parsed as Answer["json"];
          } catch {
            // not JSON
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, text, json });
          req.destroy();
        });
      },
    );
    req.on("error", (err) => {
      if (!answered) reject(err);
    });
    const CHUNK = 64 * 1024;
    const send = (from: number): void => {
      for (let at = from; body !== undefined && at < body.length; at += CHUNK) {
        if (answered) return;
        if (!req.write(body.subarray(at, at + CHUNK))) {
          req.once("drain", () => send(at + CHUNK));
          return;
        }
      }
      if (!answered) req.end();
    };
    send(0);
  });
}
