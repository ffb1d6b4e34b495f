// The CRD conversion webhook's route, without a token (kube-apiserver calls it as an anonymous client): bounded in
// size (413) and in the bytes of reviews received or converted at once (others wait, unread); the body stays bytes
// for conversion-review.ts, which never builds the whole review.
import type { IncomingMessage } from "node:http";
import type { FastifyPluginCallback } from "fastify";
import { CONVERSION_WEBHOOK_PATH } from "../../api/index.ts";
import { answerReview } from "../conversion-review.ts";
import { HttpError } from "../errors.ts";
import type { JsonBounds } from "../json-bounds.ts";
import type { ConversionLimits } from "../limits.ts";

export interface ConversionWebhookOptions {
  limits: ConversionLimits;
  bounds: JsonBounds;
  /** Group of the CRD served (default brupop's; tests use a copy). */
  group?: string;
}

/**
 * Room for reviews by size, first come first served. A review waits (its body unread, so the client is held by TCP's
 * flow control, not our memory) until it fits beside those in flight; one review alone always fits.
 */
export class ReviewBudget {
  readonly #capacity: number;
  readonly #maxWaiting: number;
  readonly #waiting: { size: number; grant: (release: () => void) => void }[] = [];
  #used = 0;

  constructor(capacity: number, maxWaiting: number) {
    this.#capacity = capacity;
    this.#maxWaiting = maxWaiting;
  }

  /** Resolves with a release once `size` bytes are granted; undefined (at once) when too many reviews wait. */
  acquire(size: number): Promise<() => void> | undefined {
    if (this.#waiting.length === 0 && this.#fits(size)) return Promise.resolve(this.#grant(size));
    if (this.#waiting.length >= this.#maxWaiting) return undefined;
    return new Promise((resolve) => this.#waiting.push({ size, grant: resolve }));
  }

  #fits(size: number): boolean {
    return this.#used === 0 || this.#used + size <= this.#capacity;
  }

  #grant(size: number): () => void {
    this.#used += size;
    let released = false;
    return () => {
      if (released) return;
      released = true;
      this.#used -= size;
      for (let next = this.#waiting[0]; next !== undefined && this.#fits(next.size); next = this.#waiting[0]) {
        this.#waiting.shift();
        next.grant(this.#grant(next.size));
      }
    };
  }
}

/**
 * The body's bytes, read straight into one buffer of its declared length (an unknown length, chunked, is gathered
 * within the limit): the chunks are not kept beside a copy of them all.
 */
function readBody(payload: IncomingMessage, limit: number): Promise<Buffer> {
  const tooLarge = () => new HttpError(413, "BodyTooLarge", `body: a ConversionReview may have ${limit} bytes`);
  const declared = Number(payload.headers["content-length"] ?? Number.NaN);
  const known = Number.isInteger(declared) && declared >= 0;
  return new Promise((resolve, reject) => {
    if (known && declared > limit) {
      reject(tooLarge());
      return;
    }
    const into = known ? Buffer.allocUnsafeSlow(declared) : undefined;
    const chunks: Buffer[] = [];
    let received = 0;
    const onData = (chunk: Buffer) => {
      if (received + chunk.length > (into?.length ?? limit)) {
        payload.removeListener("data", onData);
        reject(
          into === undefined ? tooLarge() : new HttpError(400, "BadRequest", "body: longer than its Content-Length"),
        );
        return;
      }
      if (into === undefined) chunks.push(chunk);
      else chunk.copy(into, received);
      received += chunk.length;
    };
    payload.on("data", onData);
    payload.once("error", reject);
    payload.once("end", () => {
      if (into === undefined) resolve(Buffer.concat(chunks, received));
      else if (received === into.length) resolve(into);
      else reject(new HttpError(400, "BadRequest", "body: shorter than its Content-Length"));
    });
  });
}

export const conversionWebhook: FastifyPluginCallback<ConversionWebhookOptions> = (app, options, registered) => {
  const { limits } = options;
  const budget = new ReviewBudget(limits.bytesInFlight, limits.maxWaiting);
  // Here the body stays bytes (this plugin's scope only).
  app.removeAllContentTypeParsers();
  app.addContentTypeParser("application/json", (_request, payload, done) => {
    readBody(payload, limits.bodyLimitBytes).then(
      (body) => done(null, body),
      (err: unknown) => done(err as Error),
    );
  });
  app.post(
    CONVERSION_WEBHOOK_PATH,
    {
      bodyLimit: limits.bodyLimitBytes,
      // Before the body is read: wait for room beside the reviews in flight.
      onRequest: async (request, reply) => {
        const declared = Number(request.headers["content-length"] ?? Number.NaN);
        const size = Number.isInteger(declared) && declared >= 0 ? declared : limits.bodyLimitBytes;
        if (size > limits.bodyLimitBytes) return; // the body limit answers 413
        const granted = budget.acquire(size);
        if (granted === undefined) {
          throw new HttpError(429, "TooManyConversions", "too many ConversionReviews are waiting; retry", {
            retryAfterSeconds: 1,
          });
        }
        const held: { release?: () => void; closed: boolean } = { closed: false };
        reply.raw.once("close", () => {
          held.closed = true;
          held.release?.();
        });
        held.release = await granted;
        if (held.closed) held.release(); // the client left (or timed out) while it waited
      },
    },
    async (request, reply) => {
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const answer = await answerReview(body, options.bounds, options.group);
      request.log.info(answer.summary, "conversion review");
      return reply.code(answer.statusCode).type("application/json").send(answer.body);
    },
  );
  registered();
};
