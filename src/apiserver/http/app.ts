// The HTTP layer on Node's own server: each request's path through a route (hooks before the body, the body read by
// the route's rule, validation, the handler), its log lines and metrics, the answers fastify gave where the request
// has no route or cannot be read, and an orderly close. Why not a library: README.md ("Written by hand").
import type { IncomingMessage, RequestListener, Server as HttpServer, ServerResponse } from "node:http";
import type { Server as HttpsServer } from "node:https";
import type { Socket } from "node:net";
import type { Logger } from "pino";
import { HttpError } from "../errors.ts";
import { BODY_METHODS, BODYLESS_METHODS, hasBody, readBody } from "./body.ts";
import { mediaTypeOf } from "./media-type.ts";
import { Reply, sendError } from "./reply.ts";
import type { Request } from "./request.ts";
import { Router, rawPath, routePath } from "./router.ts";

// Not an ES import of node:http: it evaluates every lazy export and loads Node's bundled undici (docs/design/footprint.md).
const { createServer, STATUS_CODES } = process.getBuiltinModule("node:http");

/**
 * How a route reads its body (for methods that carry one; GET, HEAD and TRACE never do). `json`: application/json
 * (an empty body is none), parsed by the app's JSON parser; any other type 415. `none`: as `json`, but a body is
 * refused (400) before it is read, whatever its type. A function: application/json, read by the route itself.
 */
export type BodyRule = "json" | "none" | ((request: Request) => Promise<unknown>);

export interface Route {
  method: "GET" | "POST" | "PUT";
  url: string;
  body: BodyRule;
  /** Before the body is read; throws an HttpError to refuse the request. */
  onRequest?: (request: Request, reply: Reply) => Promise<void> | void;
  /** After the body is read: an error (400) or undefined. */
  validate?: (request: Request) => HttpError | undefined;
  /** Answers with reply, or returns what to send. */
  handler: (request: Request, reply: Reply) => unknown;
}

/** One answered request, for metrics: its route pattern ("unmatched" for none), method, status and duration. */
export interface Answered {
  route: string;
  method: string;
  statusCode: number;
  seconds: number;
}

export interface HttpAppOptions {
  log: Logger;
  /** Body limit of the app's JSON parser. */
  bodyLimitBytes: number;
  /** Parses a JSON body's bytes (undefined: no body); throws an HttpError for a bad one. */
  parseJson: (bytes: Buffer) => unknown;
  /** Called once an answer has been sent in full. */
  onAnswered?: (answered: Answered) => void;
  /** The server to answer on (e.g. HTTPS); a plain HTTP server by default. */
  serverFactory?: (handler: RequestListener) => HttpServer | HttpsServer;
}

/** An error met while the body was read or parsed (the connection closes after its answer). */
class BodyError extends Error {
  constructor(cause: unknown) {
    super("body", { cause });
  }
}

function unsupportedMediaType(): HttpError {
  return new HttpError(415, "UnsupportedMediaType", "Unsupported Media Type");
}

export class HttpApp {
  readonly server: HttpServer | HttpsServer;
  readonly #options: HttpAppOptions;
  readonly #router = new Router<Route>();
  #requests = 0;
  #closing = false;

  constructor(options: HttpAppOptions) {
    this.#options = options;
    const handler: RequestListener = (req, res) => this.#handle(req, res);
    this.server = options.serverFactory ? options.serverFactory(handler) : createServer(handler);
    this.server.on("clientError", (err: NodeJS.ErrnoException, socket: Socket) => this.#clientError(err, socket));
  }

  route(route: Route): void {
    this.#router.add(route.method, route.url, route);
  }

  /** Listens; resolves with the address (`http(s)://host:port`). */
  async listen({ host, port }: { host: string; port: number }): Promise<string> {
    await new Promise<void>((resolve, reject) => {
      this.server.once("error", reject);
      this.server.listen(port, host, () => {
        this.server.removeListener("error", reject);
        resolve();
      });
    });
    const address = this.server.address();
    const bound = typeof address === "object" && address !== null ? address : { address: host, port, family: "" };
    const shown = bound.family === "IPv6" ? `[${bound.address}]` : bound.address;
    const url = `${"setSecureContext" in this.server ? "https" : "http"}://${shown}:${bound.port}`;
    this.#options.log.info(`Server listening at ${url}`);
    return url;
  }

  /**
   * Stops listening and resolves once every connection has ended: idle ones are closed now, and a request that
   * arrives on a busy one is answered 503 with `Connection: close`.
   */
  close(): Promise<void> {
    this.#closing = true;
    if (!this.server.listening) return Promise.resolve();
    return new Promise((resolve) => {
      this.server.close(() => resolve());
      this.server.closeIdleConnections();
    });
  }

  #handle(req: IncomingMessage, res: ServerResponse): void {
    const started = performance.now();
    const node = req.headers["brupopnodename"];
    // Every log line of a request carries the node it is about (the header is only a label here, not trusted).
    const log = this.#options.log.child({
      reqId: `req-${(++this.#requests).toString(36)}`,
      ...(typeof node === "string" ? { node: node.slice(0, 253) } : {}),
    });
    if (this.#closing) {
      res.setHeader("connection", "close");
      const body = new HttpError(503, "ShuttingDown", "the API server is shutting down; retry", {
        retryAfterSeconds: 1,
      });
      res.setHeader("retry-after", "1");
      new Reply(res).code(503).send(body.toBody());
      log.info({ res: { statusCode: 503 } }, "request aborted - refusing to accept new requests as server is closing");
      return;
    }
    const method = req.method ?? "GET";
    const url = req.url ?? "/";
    log.info(
      {
        req: {
          method,
          url,
          host: req.headers.host ?? "",
          remoteAddress: req.socket.remoteAddress,
          remotePort: req.socket.remotePort,
        },
      },
      "incoming request",
    );
    const path = routePath(url);
    const route = path === undefined ? undefined : this.#router.find(method, path);
    res.once("finish", () => {
      const responseTime = performance.now() - started;
      this.#options.onAnswered?.({
        route: route?.url ?? "unmatched",
        method,
        statusCode: res.statusCode,
        seconds: responseTime / 1000,
      });
      log.info({ res: { statusCode: res.statusCode }, responseTime }, "request completed");
    });
    const request: Request = { raw: req, method, url, headers: req.headers, log, body: undefined };
    const reply = new Reply(res);
    if (path === undefined) {
      sendError(req, reply, log, new HttpError(400, "BadRequest", `'${rawPath(url)}' is not a valid url component`));
      return;
    }
    this.#run(request, reply, route).catch((err: unknown) => {
      const duringBody = err instanceof BodyError;
      sendError(req, reply, request.log, duringBody ? err.cause : err, duringBody);
    });
  }

  async #run(request: Request, reply: Reply, route: Route | undefined): Promise<void> {
    if (route === undefined) {
      await this.#readBody(request, "json", true);
      // An answer, not a refusal: sent as it is (fastify's not-found handler did not log it either).
      reply.code(404).send(new HttpError(404, "NotFound", `no route ${request.method} ${request.url}`).toBody());
      return;
    }
    if (route.onRequest !== undefined) await route.onRequest(request, reply);
    if (reply.sent()) return;
    if (route.body === "none" && hasBody(request.headers)) {
      throw new HttpError(400, "BodyNotAllowed", `${route.method} ${route.url} takes no body`);
    }
    await this.#readBody(request, route.body, false);
    const invalid = route.validate?.(request);
    if (invalid !== undefined) throw invalid;
    const result: unknown = await route.handler(request, reply);
    if (reply.sent()) return;
    if (result === undefined) throw new Error(`${route.method} ${route.url} answered nothing`);
    reply.send(result);
  }

  /** Sets request.body by the rule, as fastify did: Content-Type decides, then the route's parser (404s: the app's). */
  async #readBody(request: Request, rule: BodyRule, unmatched: boolean): Promise<void> {
    const { method, headers } = request;
    if (BODYLESS_METHODS.has(method) || !BODY_METHODS.has(method)) return;
    const header = headers["content-type"];
    if (method === "QUERY" && header === undefined) {
      throw new HttpError(400, "BadRequest", "Method 'QUERY' must provide a 'Content-Type' header.");
    }
    const type = mediaTypeOf(header);
    if (type === undefined && !hasBody(headers)) return;
    if (type === null) throw unsupportedMediaType();
    if (type !== "application/json") {
      if (unmatched) return;
      throw unsupportedMediaType();
    }
    try {
      request.body =
        typeof rule === "function"
          ? await rule(request)
          : this.#options.parseJson(await readBody(request.raw, this.#options.bodyLimitBytes));
    } catch (err) {
      throw new BodyError(err);
    }
  }

  /** A request Node could not parse, or that timed out: answered as JSON, then the connection is closed. */
  #clientError(err: NodeJS.ErrnoException, socket: Socket): void {
    if (err.code === "ECONNRESET" || socket.destroyed) return;
    const [status, reason, message] =
      err.code === "ERR_HTTP_REQUEST_TIMEOUT"
        ? [408, "RequestTimeout", "the request was not received in time"]
        : err.code === "HPE_HEADER_OVERFLOW"
          ? [431, "HeadersTooLarge", "Exceeded maximum allowed HTTP header size"]
          : [400, "BadRequest", "Client Error"];
    this.#options.log.trace({ err }, `client error ${status}`);
    const body = JSON.stringify(new HttpError(status, reason, message).toBody());
    // Not into an answer already begun (Node's own handler checks the same).
    const answering = (socket as Socket & { _httpMessage?: ServerResponse | null })._httpMessage;
    if (socket.writable && answering?.headersSent !== true) {
      socket.write(
        `HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\nContent-Length: ${Buffer.byteLength(body)}\r\n` +
          `Content-Type: application/json\r\n\r\n${body}`,
      );
    }
    socket.destroy(err);
  }
}
