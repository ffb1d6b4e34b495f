import type { KubernetesObject } from "@kubernetes/client-node";
import { describe, expect, expectTypeOf, it } from "vitest";
import {
  SEMVER_PATTERN,
  isShadow,
  validateShadow,
  validateShadowSpec,
  validateShadowStatus,
  validateShadowV1,
  type BottlerocketShadow,
  type BottlerocketShadowSpec,
  type BottlerocketShadowStatus,
} from "./bottlerocket-shadow.ts";
import type { BrsState } from "./state-machine.ts";

const metadata = {
  name: "brs-ip-192-168-22-145.us-west-2.compute.internal",
  namespace: "brupop-bottlerocket-aws",
  ownerReferences: [
    {
      apiVersion: "v1",
      kind: "Node",
      name: "ip-192-168-22-145.us-west-2.compute.internal",
      uid: "6b714046-3b20-4a79-aaa9-27cf626a2c12",
    },
  ],
};

const v2 = (spec: unknown, status?: unknown) => ({
  apiVersion: "brupop.bottlerocket.aws/v2",
  kind: "BottlerocketShadow",
  metadata,
  spec,
  ...(status === undefined ? {} : { status }),
});

// Objects as brupop 1.4 writes them (apiserver create, agent status, controller spec).
const BRUPOP_WRITTEN: [string, unknown][] = [
  ["just created by the apiserver", v2({ state: "Idle", state_transition_timestamp: null, version: null })],
  [
    "first status from the agent",
    v2(
      { state: "Idle", state_transition_timestamp: null, version: null },
      {
        current_version: "1.20.3",
        target_version: "1.20.4",
        current_state: "Idle",
        crash_count: 0,
        state_transition_failure_timestamp: null,
      },
    ),
  ],
  [
    "mid-update, timestamps with nanoseconds",
    v2(
      {
        state: "RebootedIntoUpdate",
        state_transition_timestamp: "2024-06-21T11:55:48.896347269+00:00",
        version: "1.20.4",
      },
      {
        current_version: "1.20.3",
        target_version: "1.20.4",
        current_state: "StagedAndPerformedUpdate",
        crash_count: 0,
      },
    ),
  ],
  [
    "after a crash",
    v2(
      { state: "Idle", state_transition_timestamp: "2024-06-21T12:01:02.5+00:00", version: "1.20.4" },
      {
        current_version: "1.20.3",
        target_version: "1.20.4",
        current_state: "ErrorReset",
        crash_count: 3,
        state_transition_failure_timestamp: "2024-06-21T12:00:00.123456789+00:00",
      },
    ),
  ],
  ["spec without the optional fields", v2({ state: "MonitoringUpdate" })],
  [
    "pre-release and build versions",
    v2(
      { state: "Idle", version: "1.21.0-rc.1+build.5" },
      { current_version: "1.21.0-rc.1+build.5", target_version: "2.0.0", current_state: "Idle", crash_count: 0 },
    ),
  ],
  [
    "as read back from the API server, with server-set metadata",
    {
      ...v2({ state: "Idle" }),
      metadata: {
        ...metadata,
        uid: "3153df27-6619-4b6b-bc75-adbf92ef7266",
        resourceVersion: "1234",
        generation: 2,
        creationTimestamp: "2024-06-21T11:55:48Z",
        managedFields: [{ manager: "apiserver", operation: "Update" }],
      },
    },
  ],
];

describe("v2 validation", () => {
  it.each(BRUPOP_WRITTEN)("accepts an object %s", (_, object) => {
    expect(validateShadow(object)).toEqual({ ok: true, value: object });
    expect(isShadow(object)).toBe(true);
  });

  it("accepts our optional additions: failure_reason and conditions", () => {
    const object = v2(
      { state: "Idle" },
      {
        current_version: "1.20.3",
        target_version: "1.20.4",
        current_state: "ErrorReset",
        crash_count: 1,
        state_transition_failure_timestamp: "2024-06-21T12:00:00.000+00:00",
        failure_reason: "drain timed out after 600 s: pod web-0 blocked by PodDisruptionBudget web",
        conditions: [
          {
            type: "Updating",
            status: "False",
            reason: "DrainTimedOut",
            message: "drain timed out",
            lastTransitionTime: "2024-06-21T12:00:00Z",
            observedGeneration: 4,
          },
        ],
      },
    );
    expect(validateShadow(object).ok).toBe(true);
  });

  it.each<[string, unknown, string]>([
    [
      "no spec",
      { apiVersion: "brupop.bottlerocket.aws/v2", kind: "BottlerocketShadow", metadata },
      "spec: is required",
    ],
    ["no spec.state", v2({ version: "1.0.0" }), "spec.state: is required"],
    [
      "a v1 state",
      v2({ state: "StagedUpdate" }),
      'spec.state: must be one of Idle, StagedAndPerformedUpdate, RebootedIntoUpdate, MonitoringUpdate, ErrorReset (got "StagedUpdate")',
    ],
    [
      "a version that is not semver",
      v2({ state: "Idle", version: "v1.20" }),
      'spec.version: must be a semantic version such as 1.20.3 (got "v1.20")',
    ],
    [
      "a status without crash_count",
      v2({ state: "Idle" }, { current_version: "1.0.0", target_version: "1.0.0", current_state: "Idle" }),
      "status.crash_count: is required",
    ],
    [
      "a negative crash_count",
      v2(
        { state: "Idle" },
        { current_version: "1.0.0", target_version: "1.0.0", current_state: "Idle", crash_count: -1 },
      ),
      "status.crash_count: must be >= 0 (got -1)",
    ],
    [
      "a fractional crash_count",
      v2(
        { state: "Idle" },
        { current_version: "1.0.0", target_version: "1.0.0", current_state: "Idle", crash_count: 1.5 },
      ),
      "status.crash_count: must be integer (got 1.5)",
    ],
    [
      "a condition with a bad status",
      v2(
        { state: "Idle" },
        {
          current_version: "1.0.0",
          target_version: "1.0.0",
          current_state: "Idle",
          crash_count: 0,
          conditions: [
            { type: "Updating", status: "Yes", reason: "R", message: "", lastTransitionTime: "2024-06-21T12:00:00Z" },
          ],
        },
      ),
      'status.conditions[0].status: must be one of True, False, Unknown (got "Yes")',
    ],
    [
      "a v1 object",
      { ...v2({ state: "Idle" }), apiVersion: "brupop.bottlerocket.aws/v1" },
      "apiVersion: must be one of brupop.bottlerocket.aws/v2",
    ],
  ])("rejects %s with a message naming the field", (_, object, message) => {
    const result = validateShadow(object);
    expect(result.ok).toBe(false);
    expect(!result.ok && result.message).toContain(message);
  });

  it("validates a status alone (the body an agent PUTs)", () => {
    expect(
      validateShadowStatus({
        current_version: "1.20.3",
        target_version: "1.20.3",
        current_state: "Idle",
        crash_count: 0,
      }).ok,
    ).toBe(true);
    const bad = validateShadowStatus({
      current_version: "1.20.3",
      target_version: "latest",
      current_state: "Idle",
      crash_count: 0,
    });
    expect(!bad.ok && bad.message).toBe('target_version: must be a semantic version such as 1.20.3 (got "latest")');
  });

  describe("the agent's status: ranges and timestamps as the CRD checks them", () => {
    const status = (fields: Record<string, unknown>) => ({
      current_version: "1.20.3",
      target_version: "1.20.3",
      current_state: "Idle",
      crash_count: 0,
      ...fields,
    });

    it.each([
      ["brupop's chrono output (nanoseconds, +00:00)", "2024-06-21T11:55:48.896347269+00:00"],
      ["ours (milliseconds)", "2024-06-21T11:55:48.896+00:00"],
      ["whole seconds with Z", "2024-06-21T11:55:48Z"],
      ["lower-case t and z", "2024-06-21t11:55:48z"],
      ["another offset", "2024-06-21T11:55:48.5-07:30"],
      ["a leap day", "2024-02-29T00:00:00Z"],
      ["null", null],
    ])("accepts %s", (_, value) => {
      expect(validateShadowStatus(status({ state_transition_failure_timestamp: value })).ok).toBe(true);
    });

    it.each([
      ["a word", "yesterday", "must be an RFC 3339 timestamp"],
      ["month 13", "2024-13-45T99:99:99Z", "must be an RFC 3339 timestamp"],
      ["February 30th", "2024-02-30T10:00:00Z", "must be an RFC 3339 timestamp of a real date"],
      ["February 29th of a common year", "2023-02-29T10:00:00Z", "must be an RFC 3339 timestamp of a real date"],
      ["a leap second (kube-apiserver refuses it)", "2016-12-31T23:59:60Z", "must be an RFC 3339 timestamp"],
      ["an offset of 24 hours", "2024-06-21T11:55:48+24:00", "must be an RFC 3339 timestamp"],
      ["a space for T", "2024-06-21 11:55:48Z", "must be an RFC 3339 timestamp"],
      ["no offset", "2024-06-21T11:55:48", "must be an RFC 3339 timestamp"],
      ["an RFC 9557 suffix", "2024-06-21T11:55:48Z[UTC]", "must be an RFC 3339 timestamp"],
    ])("refuses %s, once, naming the field", (_, value, message) => {
      const result = validateShadowStatus(status({ state_transition_failure_timestamp: value }));
      expect(!result.ok && result.issues.length).toBe(1);
      expect(!result.ok && result.issues[0]?.path).toBe("state_transition_failure_timestamp");
      expect(!result.ok && result.message).toContain(`state_transition_failure_timestamp: ${message} (got "${value}")`);
    });

    it.each([
      [4_294_967_296, "must be <= 4294967295"],
      [-1, "must be >= 0"],
      [1.5, "must be integer"],
    ])("refuses crash_count %d, naming the field", (value, message) => {
      const result = validateShadowStatus(status({ crash_count: value }));
      expect(!result.ok && result.message).toContain(`crash_count: ${message}`);
    });

    it("accepts crash_count 2^32-1, brupop's largest", () => {
      expect(validateShadowStatus(status({ crash_count: 4_294_967_295 })).ok).toBe(true);
    });
  });

  it("validates a spec alone", () => {
    expect(validateShadowSpec({ state: "ErrorReset", state_transition_timestamp: null, version: null }).ok).toBe(true);
    expect(validateShadowSpec({ state: "Rebooting" }).ok).toBe(false);
  });
});

describe("v1 validation", () => {
  // The sample from brupop's conversion webhook.
  const v1Object = {
    apiVersion: "brupop.bottlerocket.aws/v1",
    kind: "BottlerocketShadow",
    metadata,
    spec: { state: "Idle" },
    status: { current_state: "Idle", target_version: "1.8.0", current_version: "1.8.0" },
  };

  it("accepts brupop's v1 objects", () => {
    expect(validateShadowV1(v1Object).ok).toBe(true);
    expect(validateShadowV1({ ...v1Object, spec: { state: "PerformedUpdate", version: "1.9.0" } }).ok).toBe(true);
  });

  it("rejects v2-only states", () => {
    const result = validateShadowV1({ ...v1Object, status: { ...v1Object.status, current_state: "ErrorReset" } });
    expect(!result.ok && result.message).toContain(
      "status.current_state: must be one of Idle, StagedUpdate, PerformedUpdate",
    );
  });
});

describe("semver pattern", () => {
  const semver = new RegExp(SEMVER_PATTERN);
  it.each(["0.0.0", "1.20.3", "10.2.33-alpha.1", "1.0.0+20130313144700", "1.0.0-beta+exp.sha.5114f85"])(
    "matches %s",
    (version) => {
      expect(semver.test(version)).toBe(true);
    },
  );
  it.each(["1.2", "v1.2.3", "01.2.3", "1.2.3-", "1.2.3.4", ""])("does not match %s", (version) => {
    expect(semver.test(version)).toBe(false);
  });
});

describe("static types", () => {
  it("follow the schema", () => {
    expectTypeOf<BottlerocketShadowSpec["state"]>().toEqualTypeOf<BrsState>();
    expectTypeOf<BottlerocketShadowSpec["version"]>().toEqualTypeOf<string | null | undefined>();
    expectTypeOf<BottlerocketShadowStatus["crash_count"]>().toEqualTypeOf<number>();
    expectTypeOf<BottlerocketShadow["status"]>().toEqualTypeOf<BottlerocketShadowStatus | null | undefined>();
  });

  it("fit client-node's KubernetesObject, so informers and caches can hold them", () => {
    expectTypeOf<BottlerocketShadow>().toExtend<KubernetesObject>();
  });
});
