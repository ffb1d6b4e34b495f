// One ConversionReview, answered from its bytes without ever building the whole review. One scan checks the JSON
// bounds and finds where each object is (json-bounds.ts); the envelope is parsed without them; then each object is
// parsed, converted and serialised on its own, twice: once to learn that all of them convert (a review converts whole
// or not at all), then again while the answer is written. Every object's garbage dies young, the answer goes out as
// it is made (at the pace the client reads it), and the work yields to the event loop every few milliseconds: a
// 10 MiB review costs neither the memory of its parsed form nor the agents' latency.
//
// kube-apiserver sends objects of the CRD's own group. Serving a copy of the BottlerocketShadow CRD under another
// group (integration tests share one cluster-scoped CRD namespace; forks may rename it) only changes the group in
// apiVersion, so the objects are mapped to brupop's group and back around src/api's conversion.
import { Readable } from "node:stream";
import { setImmediate as nextTurn } from "node:timers/promises";
import { API_GROUP } from "../api/constants.ts";
import {
  convertShadow,
  objectFailure,
  openReview,
  reviewFailure,
  reviewSuccess,
  type OpenReview,
} from "../api/conversion.ts";
import { HttpError, jsonBoundsError } from "./errors.ts";
import { scanJsonPausing, type JsonBounds, type ListToFind } from "./json-bounds.ts";

export interface ReviewAnswer {
  statusCode: number;
  /** JSON: a ConversionReview (written as it is made when it converts), or an error body when it was not one. */
  body: string | Readable;
  /** For the log. */
  summary: { uid?: string; result: string; reason?: string; objects?: number };
}

/** Work between two yields to the event loop. */
const SLICE_MS = 5;
/** Answer bytes gathered before they are handed to the connection. */
const CHUNK_CHARS = 64 * 1024;
/**
 * A review's objects, at most twice what the largest list kube-apiserver converts holds (a shadow per node, 5,000
 * nodes), so that a review of a million empty objects is refused before anything is kept of each.
 */
const OBJECTS: ListToFind = { path: ["request", "objects"], maxElements: 10_000 };

function withGroup(apiVersion: unknown, from: string, to: string): unknown {
  return typeof apiVersion === "string" && apiVersion.startsWith(`${from}/`)
    ? `${to}/${apiVersion.slice(from.length + 1)}`
    : apiVersion;
}

function regroup(object: unknown, from: string, to: string): unknown {
  if (from === to || typeof object !== "object" || object === null || Array.isArray(object)) return object;
  const record = object as Record<string, unknown>;
  return { ...record, apiVersion: withGroup(record.apiVersion, from, to) };
}

function refusal(error: HttpError): ReviewAnswer {
  return {
    statusCode: error.statusCode,
    body: JSON.stringify(error.toBody()),
    summary: { result: "Refused", reason: error.message },
  };
}

function verdict(response: ReturnType<typeof reviewFailure>): ReviewAnswer {
  const { result, uid } = response.response;
  return {
    statusCode: 200,
    body: JSON.stringify(response),
    summary: { uid, result: result.status, ...("message" in result ? { reason: result.message.slice(0, 500) } : {}) },
  };
}

/** Resolves when the current slice of work has run long enough to let the event loop take a turn. */
function slicer(): () => Promise<void> {
  let began = performance.now();
  return async () => {
    if (performance.now() - began < SLICE_MS) return;
    await nextTurn();
    began = performance.now();
  };
}

/** Answers the bytes of a request to the webhook (see the module's comment). */
export async function answerReview(
  bytes: Buffer,
  bounds: JsonBounds,
  group: string = API_GROUP,
): Promise<ReviewAnswer> {
  const scan = await scanJsonPausing(bytes, bounds, OBJECTS, () => nextTurn());
  if (scan.violation !== undefined) return refusal(jsonBoundsError(scan.violation, bounds));
  const { list } = scan;
  let envelope: unknown;
  try {
    const text =
      list === undefined
        ? bytes.toString("utf8")
        : bytes.toString("utf8", 0, list.open + 1) + bytes.toString("utf8", list.close);
    if (!/\S/.test(text)) return refusal(new HttpError(400, "InvalidJson", "body: a ConversionReview is required"));
    envelope = JSON.parse(text);
  } catch (err) {
    return refusal(new HttpError(400, "InvalidJson", `body: ${(err as Error).message}`));
  }
  const request = (envelope as { request?: unknown } | null)?.request as Record<string, unknown> | undefined;
  if (typeof request?.desiredAPIVersion === "string") {
    request.desiredAPIVersion = withGroup(request.desiredAPIVersion, group, API_GROUP);
  }
  const opened = openReview(envelope);
  if (!opened.ok) return verdict(opened.response);
  const review = opened.review;
  const count = list === undefined ? review.objects.length : list.elements.count;
  const objectAt = (index: number): unknown =>
    list === undefined
      ? review.objects[index]
      : JSON.parse(bytes.toString("utf8", list.elements.start(index), list.elements.end(index)));

  // First pass: does every object convert?
  const yieldNow = slicer();
  for (let index = 0; index < count; index++) {
    let object: unknown;
    try {
      object = objectAt(index);
    } catch (err) {
      return refusal(new HttpError(400, "InvalidJson", `body: request.objects[${index}]: ${(err as Error).message}`));
    }
    const result = convertShadow(regroup(object, group, API_GROUP), review.desiredAPIVersion);
    if (!result.ok) return verdict(reviewFailure(review, objectFailure(index, count, result.message)));
    await yieldNow();
  }
  return {
    statusCode: 200,
    body: Readable.from(convertedAnswer(review, count, objectAt, group), { objectMode: false }),
    summary: { uid: review.uid, result: "Success", objects: count },
  };
}

/** The Success answer, made as it is read: the envelope around each object converted again. */
async function* convertedAnswer(
  review: OpenReview,
  count: number,
  objectAt: (index: number) => unknown,
  group: string,
): AsyncGenerator<string> {
  const empty = JSON.stringify(reviewSuccess(review, []));
  const split = empty.lastIndexOf('"convertedObjects":[]') + '"convertedObjects":['.length;
  let chunk = empty.slice(0, split);
  const yieldNow = slicer();
  for (let index = 0; index < count; index++) {
    const result = convertShadow(regroup(objectAt(index), group, API_GROUP), review.desiredAPIVersion);
    // The first pass converted this very object: a failure now is a bug, and ends the answer mid-way.
    if (!result.ok) throw new Error(`objects[${index}] converted once and then not: ${result.message}`);
    chunk += (index === 0 ? "" : ",") + JSON.stringify(regroup(result.object, API_GROUP, group));
    if (chunk.length >= CHUNK_CHARS) {
      yield chunk;
      chunk = "";
    }
    await yieldNow();
  }
  yield chunk + empty.slice(split);
}
