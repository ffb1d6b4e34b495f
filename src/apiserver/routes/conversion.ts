// The CRD conversion webhook's route, without a token (kube-apiserver calls it as an anonymous client): bounded in
// size (413) and in the bytes of reviews received or converted at once (others wait, unread); the body stays bytes
// for conversion-review.ts, which never builds the whole review.
import type { IncomingMessage } from "node:http";
import type { Readable } from "node:stream";
import { CONVERSION_WEBHOOK_PATH } from "../../api/constants.ts";
import { answerReview } from "../conversion-review.ts";
import { HttpError } from "../errors.ts";
import type { JsonBounds } from "../json-bounds.ts";
import type { ConversionLimits } from "../limits.ts";
import type { HttpApp } from "../http/app.ts";

export interface ConversionWebhookOptions {
  limits: ConversionLimits;
  bounds: JsonBounds;
  /** Group of the CRD served (default brupop's; tests use a copy). */
  group?: string;
}

/** Where one review's bytes go while it is read and converted. */
export interface Lease {
  bytes: Buffer;
  release(): void;
}

/**
 * The memory reviews are read into: one buffer of `capacity` bytes, made on the first review and kept, handed out
 * in ranges, first come first served. A review waits (its body unread, so TCP's flow control holds its sender, not
 * our memory) until a range of its size is free; one review alone always fits. Keeping the buffer, rather than one
 * per review, also keeps glibc from raising its mmap threshold to a review's size after freeing one, and then
 * keeping every later body of that size in its heap.
 */
export class ReviewArena {
  readonly #capacity: number;
  readonly #maxWaiting: number;
  readonly #waiting: { size: number; grant: (lease: Lease) => void }[] = [];
  /** Ranges in use, by start. */
  readonly #used: { start: number; end: number }[] = [];
  #memory: Buffer | undefined;

  constructor(capacity: number, maxWaiting: number) {
    this.#capacity = capacity;
    this.#maxWaiting = maxWaiting;
  }

  /** Resolves with a lease of `size` bytes (at most the capacity); undefined (at once) when too many reviews wait. */
  acquire(size: number): Promise<Lease> | undefined {
    if (size > this.#capacity) throw new RangeError(`a review of ${size} bytes cannot fit in ${this.#capacity}`);
    const now = this.#waiting.length === 0 ? this.#take(size) : undefined;
    if (now !== undefined) return Promise.resolve(now);
    if (this.#waiting.length >= this.#maxWaiting) return undefined;
    return new Promise((resolve) => this.#waiting.push({ size, grant: resolve }));
  }

  #take(size: number): Lease | undefined {
    let start = 0;
    let index = 0;
    for (const range of this.#used) {
      if (range.start - start >= size) break;
      start = range.end;
      index++;
    }
    if (start + size > this.#capacity) return undefined;
    const range = { start, end: start + size };
    this.#used.splice(index, 0, range);
    this.#memory ??= Buffer.allocUnsafeSlow(this.#capacity);
    let released = false;
    return {
      bytes: this.#memory.subarray(start, start + size),
      release: () => {
        if (released) return;
        released = true;
        this.#used.splice(this.#used.indexOf(range), 1);
        for (let next = this.#waiting[0]; next !== undefined; next = this.#waiting[0]) {
          const lease = this.#take(next.size);
          if (lease === undefined) return;
          this.#waiting.shift();
          next.grant(lease);
        }
      },
    };
  }
}

/**
 * The body's bytes, read into `into`: exactly its declared length, or (chunked, no length) at most all of `into`.
 * Resolves with the part of `into` that holds them.
 */
function readBody(payload: IncomingMessage, into: Buffer, declared: boolean): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    let received = 0;
    const onData = (chunk: Buffer) => {
      if (received + chunk.length > into.length) {
        payload.removeListener("data", onData);
        reject(
          declared
            ? new HttpError(400, "BadRequest", "body: longer than its Content-Length")
            : new HttpError(413, "BodyTooLarge", `body: a ConversionReview may have ${into.length} bytes`),
        );
        return;
      }
      chunk.copy(into, received);
      received += chunk.length;
    };
    payload.on("data", onData);
    payload.once("error", reject);
    payload.once("end", () => {
      if (declared && received !== into.length) {
        reject(new HttpError(400, "BadRequest", "body: shorter than its Content-Length"));
      } else resolve(into.subarray(0, received));
    });
  });
}

/** A review in flight: its lease, released once both the answer and the stream that writes it are done. */
interface InFlight {
  lease?: Lease;
  answer?: Readable;
  closed: boolean;
}

export function conversionWebhook(app: HttpApp, options: ConversionWebhookOptions): void {
  const { limits } = options;
  const arena = new ReviewArena(limits.bytesInFlight, limits.maxWaiting);
  const inFlight = new WeakMap<IncomingMessage, InFlight>();
  const finish = (review: InFlight) => {
    const { lease, answer } = review;
    if (answer !== undefined && !answer.closed) answer.once("close", () => lease?.release());
    else lease?.release();
  };
  app.route({
    method: "POST",
    url: CONVERSION_WEBHOOK_PATH,
    // Before the body is read: wait for room beside the reviews in flight.
    onRequest: async (request, reply) => {
      const declared = Number(request.headers["content-length"] ?? Number.NaN);
      const size = Number.isInteger(declared) && declared >= 0 ? declared : limits.bodyLimitBytes;
      if (size > limits.bodyLimitBytes) return; // no lease: the body rule answers 413
      const waiting = arena.acquire(size);
      if (waiting === undefined) {
        throw new HttpError(429, "TooManyConversions", "too many ConversionReviews are waiting; retry", {
          retryAfterSeconds: 1,
        });
      }
      const review: InFlight = { closed: false };
      inFlight.set(request.raw, review);
      reply.raw.once("close", () => {
        review.closed = true;
        finish(review);
      });
      review.lease = await waiting;
      if (review.closed) finish(review); // the client left (or timed out) while it waited
    },
    // Here the body stays bytes, read into the review's lease.
    body: (request) => {
      const lease = inFlight.get(request.raw)?.lease;
      if (lease === undefined) {
        throw new HttpError(413, "BodyTooLarge", `body: a ConversionReview may have ${limits.bodyLimitBytes} bytes`);
      }
      return readBody(request.raw, lease.bytes, request.headers["content-length"] !== undefined);
    },
    handler: async (request, reply) => {
      const body = Buffer.isBuffer(request.body) ? request.body : Buffer.alloc(0);
      const answer = await answerReview(body, options.bounds, options.group);
      const review = inFlight.get(request.raw);
      if (review !== undefined && typeof answer.body !== "string") review.answer = answer.body;
      request.log.info(answer.summary, "conversion review");
      return reply.code(answer.statusCode).type("application/json").send(answer.body);
    },
  });
}
