import { describe, expect, it } from "vitest";
import {
  validateShadow,
  validateShadowV1,
  type BottlerocketShadow,
  type BottlerocketShadowV1,
} from "./bottlerocket-shadow.ts";
import {
  convertReview,
  convertShadow,
  shadowV1ToV2,
  shadowV2ToV1,
  stateV1ToV2,
  stateV2ToV1,
  type ConversionReviewResponse,
} from "./conversion.ts";
import { BRS_STATES, BRS_STATES_V1, type BrsState, type BrsStateV1 } from "./state-machine.ts";

const V1 = "brupop.bottlerocket.aws/v1";
const V2 = "brupop.bottlerocket.aws/v2";
const STAMP = "2024-06-21T11:55:48.896347269+00:00";

// Everything brupop's conversion dropped: labels, annotations, finalizers, server-set fields, managedFields.
const metadata = {
  name: "brs-ip-192-168-22-145.us-west-2.compute.internal",
  namespace: "brupop-bottlerocket-aws",
  uid: "3153df27-6619-4b6b-bc75-adbf92ef7266",
  resourceVersion: "4711",
  generation: 7,
  creationTimestamp: "2024-06-21T11:00:00Z",
  labels: { team: "platform", "brupop.bottlerocket.aws/pinned": "true" },
  annotations: { "example.com/note": "keep me" },
  finalizers: ["example.com/hold"],
  ownerReferences: [
    {
      apiVersion: "v1",
      kind: "Node",
      name: "ip-192-168-22-145.us-west-2.compute.internal",
      uid: "6b714046-3b20-4a79-aaa9-27cf626a2c12",
    },
  ],
  managedFields: [{ manager: "brupop-apiserver", operation: "Update", apiVersion: V2 }],
};

function shadowV2(state: BrsState, currentState: BrsState = state): BottlerocketShadow {
  return {
    apiVersion: V2,
    kind: "BottlerocketShadow",
    metadata,
    spec: { state, state_transition_timestamp: STAMP, version: "1.20.4" },
    status: {
      current_version: "1.20.3",
      target_version: "1.20.4",
      current_state: currentState,
      crash_count: 4,
      state_transition_failure_timestamp: "2024-06-21T10:00:00+00:00",
      failure_reason: "reboot failed",
      conditions: [
        {
          type: "Updating",
          status: "True",
          reason: "Rebooting",
          message: "",
          lastTransitionTime: "2024-06-21T11:55:48Z",
        },
      ],
    },
  };
}

function shadowV1(state: BrsStateV1, currentState: BrsStateV1 = state): BottlerocketShadowV1 {
  return {
    apiVersion: V1,
    kind: "BottlerocketShadow",
    metadata,
    spec: { state, state_transition_timestamp: STAMP, version: "1.20.4" },
    status: { current_version: "1.20.3", target_version: "1.20.4", current_state: currentState },
  };
}

const V1_TO_V2: [BrsStateV1, BrsState][] = [
  ["Idle", "Idle"],
  ["StagedUpdate", "StagedAndPerformedUpdate"],
  ["PerformedUpdate", "StagedAndPerformedUpdate"],
  ["RebootedIntoUpdate", "RebootedIntoUpdate"],
  ["MonitoringUpdate", "MonitoringUpdate"],
];
const V2_TO_V1: [BrsState, BrsStateV1][] = [
  ["Idle", "Idle"],
  ["StagedAndPerformedUpdate", "StagedUpdate"],
  ["RebootedIntoUpdate", "RebootedIntoUpdate"],
  ["MonitoringUpdate", "MonitoringUpdate"],
  ["ErrorReset", "MonitoringUpdate"],
];

describe("state mapping", () => {
  it("covers every state of both versions", () => {
    expect(V1_TO_V2.map(([from]) => from)).toEqual([...BRS_STATES_V1]);
    expect(V2_TO_V1.map(([from]) => from)).toEqual([...BRS_STATES]);
  });

  it.each(V1_TO_V2)("v1 %s → v2 %s", (from, to) => {
    expect(stateV1ToV2(from)).toBe(to);
  });

  it.each(V2_TO_V1)("v2 %s → v1 %s", (from, to) => {
    expect(stateV2ToV1(from)).toBe(to);
  });
});

describe("shadowV1ToV2", () => {
  it.each(V1_TO_V2)("maps spec and status state %s → %s, keeps versions and timestamp", (from, to) => {
    const converted = shadowV1ToV2(shadowV1(from));
    expect(converted.apiVersion).toBe(V2);
    expect(converted.spec).toEqual({ state: to, state_transition_timestamp: STAMP, version: "1.20.4" });
    expect(converted.status).toEqual({
      current_version: "1.20.3",
      target_version: "1.20.4",
      current_state: to,
      crash_count: 0,
      state_transition_failure_timestamp: null,
    });
    expect(validateShadow(converted).ok).toBe(true);
  });

  it("keeps all metadata in a shallow copy: nested values are shared, never deep-copied", () => {
    const source = shadowV1("Idle");
    const converted = shadowV1ToV2(source);
    expect(converted.metadata).toEqual(metadata);
    expect(converted.metadata).not.toBe(source.metadata);
    expect(converted.metadata.labels).toBe(source.metadata.labels);
  });

  it("writes absent timestamp and version as null, as brupop does", () => {
    const converted = shadowV1ToV2({ ...shadowV1("Idle"), spec: { state: "Idle" } });
    expect(converted.spec).toEqual({ state: "Idle", state_transition_timestamp: null, version: null });
  });

  it("keeps a missing status missing and a null status null", () => {
    const { status: _, ...withoutStatus } = shadowV1("Idle");
    expect("status" in shadowV1ToV2(withoutStatus)).toBe(false);
    expect(shadowV1ToV2({ ...withoutStatus, status: null }).status).toBeNull();
  });
});

describe("shadowV2ToV1", () => {
  it.each(V2_TO_V1)("maps spec and status state %s → %s and drops what v1 cannot hold", (from, to) => {
    const converted = shadowV2ToV1(shadowV2(from));
    expect(converted.apiVersion).toBe(V1);
    expect(converted.spec).toEqual({ state: to, state_transition_timestamp: STAMP, version: "1.20.4" });
    expect(converted.status).toEqual({ current_version: "1.20.3", target_version: "1.20.4", current_state: to });
    expect(validateShadowV1(converted).ok).toBe(true);
  });

  it("keeps all metadata", () => {
    expect(shadowV2ToV1(shadowV2("ErrorReset")).metadata).toEqual(metadata);
  });

  it("round-trips v1 → v2 → v1 unchanged for every state v1 can express one-to-one", () => {
    for (const state of ["Idle", "StagedUpdate", "RebootedIntoUpdate", "MonitoringUpdate"] as const) {
      const original = shadowV1(state);
      expect(shadowV2ToV1(shadowV1ToV2(original))).toEqual(original);
    }
  });
});

describe("convertShadow (untrusted input)", () => {
  it("converts in both directions", () => {
    const down = convertShadow(shadowV2("RebootedIntoUpdate"), V1);
    expect(down.ok && down.object.apiVersion).toBe(V1);
    const up = convertShadow(shadowV1("PerformedUpdate"), V2);
    expect(up.ok && up.object).toMatchObject({ apiVersion: V2, spec: { state: "StagedAndPerformedUpdate" } });
  });

  it("returns an object already in the desired version unchanged", () => {
    const object = shadowV2("Idle");
    expect(convertShadow(object, V2)).toEqual({ ok: true, object });
  });

  it.each<[string, unknown, string, RegExp]>([
    [
      "an unknown desired version",
      shadowV2("Idle"),
      "brupop.bottlerocket.aws/v3",
      /Desired version "brupop.bottlerocket.aws\/v3" is not a valid BottlerocketShadow version/,
    ],
    [
      "an unknown source version",
      { ...shadowV2("Idle"), apiVersion: "brupop.bottlerocket.aws/v9" },
      V1,
      /cannot convert .* from apiVersion "brupop.bottlerocket.aws\/v9" to brupop.bottlerocket.aws\/v1/,
    ],
    ["no apiVersion", { metadata: {}, spec: {} }, V1, /from apiVersion null/],
    [
      "a v2 state in a v1 object",
      shadowV1("Idle", "ErrorReset" as BrsStateV1),
      V2,
      /brupop-bottlerocket-aws\/brs-ip-.* is not a valid brupop.bottlerocket.aws\/v1 BottlerocketShadow: status.current_state: must be one of Idle, StagedUpdate/,
    ],
    [
      "a bad version in a v2 object",
      { ...shadowV2("Idle"), spec: { state: "Idle", version: "latest" } },
      V1,
      /spec.version: must be a semantic version/,
    ],
    [
      "an unparsable spec timestamp",
      { ...shadowV2("Idle"), spec: { state: "Idle", state_transition_timestamp: "yesterday" } },
      V1,
      /spec.state_transition_timestamp: must be an RFC 3339 timestamp \(got "yesterday"\)/,
    ],
    [
      "an unparsable failure timestamp",
      { ...shadowV2("Idle"), status: { ...shadowV2("Idle").status, state_transition_failure_timestamp: "soon" } },
      V1,
      /status.state_transition_failure_timestamp: must be an RFC 3339 timestamp/,
    ],
    [
      "an unparsable v1 timestamp",
      { ...shadowV1("Idle"), spec: { state: "Idle", state_transition_timestamp: "2024-02-30T00:00:00Z" } },
      V2,
      /spec.state_transition_timestamp/,
    ],
    ["not an object", "brs-a", V1, /cannot convert object from apiVersion null/],
    ["null", null, V2, /cannot convert object/],
  ])("fails on %s with a clear message", (_, object, desired, message) => {
    const result = convertShadow(object, desired);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.message).toMatch(message);
  });
});

describe("convertReview", () => {
  const review = (desiredAPIVersion: string, objects: unknown[]) => ({
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "ConversionReview",
    request: { uid: "5a6adc7e-c74b-43c0-9718-293de1b104cb", desiredAPIVersion, objects },
  });

  it("answers brupop's sample request as brupop does, but with metadata kept", () => {
    const v1Object = {
      apiVersion: V1,
      kind: "BottlerocketShadow",
      metadata: {
        name: "brs-ip-192-168-22-145.us-west-2.compute.internal",
        namespace: "brupop-bottlerocket-aws",
        labels: { a: "b" },
      },
      spec: { state: "Idle" },
      status: { current_state: "Idle", target_version: "1.8.0", current_version: "1.8.0" },
    };
    expect(convertReview(review(V2, [v1Object]))).toEqual({
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "ConversionReview",
      response: {
        uid: "5a6adc7e-c74b-43c0-9718-293de1b104cb",
        result: { status: "Success" },
        convertedObjects: [
          {
            apiVersion: V2,
            kind: "BottlerocketShadow",
            metadata: v1Object.metadata,
            spec: { state: "Idle", state_transition_timestamp: null, version: null },
            status: {
              current_state: "Idle",
              target_version: "1.8.0",
              current_version: "1.8.0",
              crash_count: 0,
              state_transition_failure_timestamp: null,
            },
          },
        ],
      },
    } satisfies ConversionReviewResponse);
  });

  it("converts several objects of mixed versions, in order", () => {
    const response = convertReview(review(V1, [shadowV2("ErrorReset"), shadowV1("PerformedUpdate"), shadowV2("Idle")]));
    expect(response.response.result).toEqual({ status: "Success" });
    const states = (response.response.convertedObjects as BottlerocketShadowV1[]).map((o) => [
      o.apiVersion,
      o.spec.state,
    ]);
    expect(states).toEqual([
      [V1, "MonitoringUpdate"],
      [V1, "PerformedUpdate"],
      [V1, "Idle"],
    ]);
  });

  it("echoes the review's apiVersion", () => {
    const response = convertReview({ ...review(V2, []), apiVersion: "apiextensions.k8s.io/v1beta1" });
    expect(response.apiVersion).toBe("apiextensions.k8s.io/v1beta1");
    expect(response.response.convertedObjects).toEqual([]);
  });

  it("fails the whole review for a bad desired version, echoing the uid", () => {
    expect(convertReview(review("brupop.bottlerocket.aws/-v2", [shadowV1("Idle")]))).toEqual({
      apiVersion: "apiextensions.k8s.io/v1",
      kind: "ConversionReview",
      response: {
        uid: "5a6adc7e-c74b-43c0-9718-293de1b104cb",
        result: {
          status: "Failure",
          message: 'Desired version "brupop.bottlerocket.aws/-v2" is not a valid BottlerocketShadow version',
        },
      },
    });
  });

  it("fails a review with no objects too when the desired version is unknown", () => {
    const response = convertReview(review("brupop.bottlerocket.aws/v9", []));
    expect(response.response.result).toEqual({
      status: "Failure",
      message: 'Desired version "brupop.bottlerocket.aws/v9" is not a valid BottlerocketShadow version',
    });
    expect(response.response.convertedObjects).toBeUndefined();
  });

  it("fails the whole review when one object is bad, naming its index", () => {
    const bad = { ...shadowV2("Idle"), spec: { state: "Exploded" } };
    const response = convertReview(review(V1, [shadowV2("Idle"), bad]));
    const { result } = response.response;
    expect(result.status).toBe("Failure");
    expect(result.status === "Failure" && result.message).toMatch(/^objects\[1\]: .*spec.state: must be one of/);
    expect(response.response.convertedObjects).toBeUndefined();
  });

  it.each<[string, unknown]>([
    ["null", null],
    ["a string", "ConversionReview"],
    ["an array", []],
    ["no request", { apiVersion: "apiextensions.k8s.io/v1", kind: "ConversionReview" }],
    ["objects that are not a list", { ...review(V2, []), request: { uid: "u", desiredAPIVersion: V2, objects: {} } }],
    ["a numeric uid", { ...review(V2, []), request: { uid: 7, desiredAPIVersion: V2, objects: [] } }],
  ])("answers a malformed review (%s) with a Failure instead of throwing", (_, input) => {
    const response = convertReview(input);
    expect(response.kind).toBe("ConversionReview");
    const { result } = response.response;
    expect(result.status).toBe("Failure");
    expect(result.status === "Failure" && result.message).toMatch(/^malformed ConversionReview: /);
  });

  it("keeps the uid of a malformed review when it has one", () => {
    const response = convertReview({ apiVersion: "apiextensions.k8s.io/v1", request: { uid: "abc" } });
    expect(response.response.uid).toBe("abc");
    expect(response.response.result.status).toBe("Failure");
  });
});
