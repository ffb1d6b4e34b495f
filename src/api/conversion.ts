// v1 <-> v2 conversion of BottlerocketShadow and the ConversionReview logic of the CRD conversion webhook
// (docs/design/brupop-compatibility.md#conversion). Pure: the HTTP endpoint lives in src/apiserver.
//
// Differences from brupop, on purpose:
// - metadata is kept whole (brupop kept only name, namespace, uid and ownerReferences, which wiped labels and
//   annotations on every conversion);
// - bad input (unknown version, an object that does not match its schema, an unparsable timestamp) gives a Failure
//   result with a message naming the object and the field; brupop panicked on a bad timestamp. An unknown desired
//   version fails the review even when it holds no object;
// - metadata is shared with the input, never deep-copied: the input is the caller's freshly parsed review, and a
//   copy of every object's metadata (managedFields included) would double a large review's memory.
// - a failed result says `Failure` (metav1.StatusFailure); brupop said `Failed`. The API server treats anything
//   but `Success` as a failure, so both work.
import Type, { type Static } from "typebox";
import {
  validateShadow,
  validateShadowV1,
  type BottlerocketShadow,
  type BottlerocketShadowStatus,
  type BottlerocketShadowStatusV1,
  type BottlerocketShadowV1,
} from "./bottlerocket-shadow.ts";
import { API_VERSION_V1, API_VERSION_V2, KIND } from "./constants.ts";
import type { BrsState, BrsStateV1 } from "./state-machine.ts";
import { compileValidator, type ValidationResult } from "./validation.ts";

// ---- States ----

/** v1 → v2: the two v1 steps StagedUpdate and PerformedUpdate became one. */
export function stateV1ToV2(state: BrsStateV1): BrsState {
  switch (state) {
    case "StagedUpdate":
    case "PerformedUpdate":
      return "StagedAndPerformedUpdate";
    case "Idle":
    case "RebootedIntoUpdate":
    case "MonitoringUpdate":
      return state;
  }
}

/** v2 → v1: StagedAndPerformedUpdate → StagedUpdate; ErrorReset, which v1 lacks, → MonitoringUpdate (as brupop). */
export function stateV2ToV1(state: BrsState): BrsStateV1 {
  switch (state) {
    case "StagedAndPerformedUpdate":
      return "StagedUpdate";
    case "ErrorReset":
      return "MonitoringUpdate";
    case "Idle":
    case "RebootedIntoUpdate":
    case "MonitoringUpdate":
      return state;
  }
}

// ---- Whole objects (typed, total) ----

function statusV1ToV2(status: BottlerocketShadowStatusV1): BottlerocketShadowStatus {
  return {
    current_version: status.current_version,
    target_version: status.target_version,
    current_state: stateV1ToV2(status.current_state),
    // v1 has no crash information: a converted object starts with a clean slate.
    crash_count: 0,
    state_transition_failure_timestamp: null,
  };
}

function statusV2ToV1(status: BottlerocketShadowStatus): BottlerocketShadowStatusV1 {
  return {
    current_version: status.current_version,
    target_version: status.target_version,
    current_state: stateV2ToV1(status.current_state),
  };
}

/**
 * A v1 object as v2. Metadata is kept whole (a shallow copy: nested values are shared with `shadow`); absent
 * timestamp/version become null (as brupop serialises them); timestamps are copied verbatim, not re-formatted.
 */
export function shadowV1ToV2(shadow: BottlerocketShadowV1): BottlerocketShadow {
  const { spec, status } = shadow;
  return {
    apiVersion: API_VERSION_V2,
    kind: KIND,
    metadata: { ...shadow.metadata },
    spec: {
      state: stateV1ToV2(spec.state),
      state_transition_timestamp: spec.state_transition_timestamp ?? null,
      version: spec.version ?? null,
    },
    ...(status === undefined ? {} : { status: status === null ? null : statusV1ToV2(status) }),
  };
}

/**
 * A v2 object as v1 (metadata as in {@link shadowV1ToV2}). crash_count, the failure timestamp and our added status
 * fields have no v1 home and are dropped.
 */
export function shadowV2ToV1(shadow: BottlerocketShadow): BottlerocketShadowV1 {
  const { spec, status } = shadow;
  return {
    apiVersion: API_VERSION_V1,
    kind: KIND,
    metadata: { ...shadow.metadata },
    spec: {
      state: stateV2ToV1(spec.state),
      state_transition_timestamp: spec.state_transition_timestamp ?? null,
      version: spec.version ?? null,
    },
    ...(status === undefined ? {} : { status: status === null ? null : statusV2ToV1(status) }),
  };
}

// ---- Untrusted objects (validating, never throws) ----

export type ConversionResult =
  { ok: true; object: BottlerocketShadow | BottlerocketShadowV1 } | { ok: false; message: string };

const SUPPORTED_VERSIONS: readonly string[] = [API_VERSION_V1, API_VERSION_V2];

function unsupportedVersion(desiredApiVersion: string): string | undefined {
  return SUPPORTED_VERSIONS.includes(desiredApiVersion)
    ? undefined
    : `Desired version ${JSON.stringify(desiredApiVersion.slice(0, 100))} is not a valid ${KIND} version`;
}

function describeObject(object: unknown): string {
  if (typeof object === "object" && object !== null) {
    const metadata = (object as { metadata?: unknown }).metadata;
    if (typeof metadata === "object" && metadata !== null) {
      const { name, namespace } = metadata as { name?: unknown; namespace?: unknown };
      if (typeof name === "string") return typeof namespace === "string" ? `${namespace}/${name}` : name;
    }
  }
  return "object";
}

function failure<T>(result: ValidationResult<T> & { ok: false }, what: string): ConversionResult {
  return { ok: false, message: `${what}: ${result.message}` };
}

/**
 * Converts one untrusted object to `desiredApiVersion` (`brupop.bottlerocket.aws/v1` or `/v2`). An object already
 * in that version is returned unchanged. Anything that cannot be converted faithfully (unknown versions, schema
 * violations, unparsable timestamps) is a failure whose message names the object and the field.
 */
export function convertShadow(object: unknown, desiredApiVersion: string): ConversionResult {
  const what = describeObject(object);
  const unsupported = unsupportedVersion(desiredApiVersion);
  if (unsupported !== undefined) return { ok: false, message: unsupported };
  const apiVersion =
    typeof object === "object" && object !== null ? (object as { apiVersion?: unknown }).apiVersion : undefined;
  if (apiVersion === desiredApiVersion) {
    return { ok: true, object: object as BottlerocketShadow | BottlerocketShadowV1 };
  }
  if (apiVersion === API_VERSION_V1) {
    const parsed = validateShadowV1(object);
    if (!parsed.ok) return failure(parsed, `${what} is not a valid ${API_VERSION_V1} ${KIND}`);
    return { ok: true, object: shadowV1ToV2(parsed.value) };
  }
  if (apiVersion === API_VERSION_V2) {
    const parsed = validateShadow(object);
    if (!parsed.ok) return failure(parsed, `${what} is not a valid ${API_VERSION_V2} ${KIND}`);
    return { ok: true, object: shadowV2ToV1(parsed.value) };
  }
  return {
    ok: false,
    message: `cannot convert ${what} from apiVersion ${JSON.stringify(apiVersion ?? null)} to ${desiredApiVersion}: not a ${KIND} version`,
  };
}

// ---- ConversionReview ----

/** The parts of an apiextensions.k8s.io ConversionReview request we rely on. */
export const ConversionReviewRequestSchema = Type.Object({
  apiVersion: Type.String(),
  kind: Type.String(),
  request: Type.Object({
    uid: Type.String(),
    desiredAPIVersion: Type.String(),
    objects: Type.Array(Type.Unknown()),
  }),
});
export type ConversionReviewRequest = Static<typeof ConversionReviewRequestSchema>;

export interface ConversionReviewResponse {
  apiVersion: string;
  kind: "ConversionReview";
  response: {
    uid: string;
    result: { status: "Success" } | { status: "Failure"; message: string };
    /** In request order, each in the desired version; absent on failure. */
    convertedObjects?: unknown[];
  };
}

const reviewValidator = compileValidator(ConversionReviewRequestSchema);
const DEFAULT_REVIEW_API_VERSION = "apiextensions.k8s.io/v1";

function pick(value: unknown, key: string): unknown {
  return typeof value === "object" && value !== null ? (value as Record<string, unknown>)[key] : undefined;
}

/** A review whose envelope checked out: what its answer echoes, and where its objects go. */
export interface OpenReview {
  apiVersion: string;
  uid: string;
  desiredAPIVersion: string;
  objects: unknown[];
}

/** The answer that fails `review` with `message` (the API server needs all objects converted or none). */
export function reviewFailure(
  review: Pick<OpenReview, "apiVersion" | "uid">,
  message: string,
): ConversionReviewResponse {
  return {
    apiVersion: review.apiVersion,
    kind: "ConversionReview",
    response: { uid: review.uid, result: { status: "Failure", message } },
  };
}

/** The answer that carries `convertedObjects`, in request order. */
export function reviewSuccess(
  review: Pick<OpenReview, "apiVersion" | "uid">,
  convertedObjects: unknown[],
): ConversionReviewResponse {
  return {
    apiVersion: review.apiVersion,
    kind: "ConversionReview",
    response: { uid: review.uid, result: { status: "Success" }, convertedObjects },
  };
}

/** A failed object's message within its review: `objects[3]: …` when the review holds several. */
export function objectFailure(index: number, count: number, message: string): string {
  return count > 1 ? `objects[${index}]: ${message}` : message;
}

/**
 * Checks everything in a review but its objects: its shape and the desired version (an unknown one fails even a
 * review with no objects). A review that fails gets its Failure answer, echoing its apiVersion and uid when it has
 * them (an empty uid otherwise).
 */
export function openReview(
  review: unknown,
): { ok: true; review: OpenReview } | { ok: false; response: ConversionReviewResponse } {
  const echoedApiVersion = pick(review, "apiVersion");
  const apiVersion = typeof echoedApiVersion === "string" ? echoedApiVersion : DEFAULT_REVIEW_API_VERSION;
  const requestUid = pick(pick(review, "request"), "uid");
  const uid = typeof requestUid === "string" ? requestUid : "";
  const parsed = reviewValidator.validate(review);
  if (!parsed.ok) {
    return { ok: false, response: reviewFailure({ apiVersion, uid }, `malformed ConversionReview: ${parsed.message}`) };
  }
  const { desiredAPIVersion, objects } = parsed.value.request;
  const unsupported = unsupportedVersion(desiredAPIVersion);
  if (unsupported !== undefined) return { ok: false, response: reviewFailure({ apiVersion, uid }, unsupported) };
  return { ok: true, review: { apiVersion, uid, desiredAPIVersion, objects } };
}

/**
 * Answers a ConversionReview: echoes its apiVersion and request uid, and converts every object to the desired
 * version, or fails the whole review with one message. Never throws: a malformed review gets a Failure too.
 */
export function convertReview(review: unknown): ConversionReviewResponse {
  const opened = openReview(review);
  if (!opened.ok) return opened.response;
  const { objects, desiredAPIVersion } = opened.review;
  const convertedObjects: unknown[] = [];
  for (const [index, object] of objects.entries()) {
    const result = convertShadow(object, desiredAPIVersion);
    if (!result.ok) return reviewFailure(opened.review, objectFailure(index, objects.length, result.message));
    convertedObjects.push(result.object);
  }
  return reviewSuccess(opened.review, convertedObjects);
}
