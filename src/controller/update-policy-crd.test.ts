// The policy resource's schema (src/api/update-policy.ts) against src/core's UpdatePolicySpec, which the controller
// passes it to, and against the structural-schema rules.
import { describe, expect, expectTypeOf, it } from "vitest";
import { structuralSchemaViolations } from "../api/k8s-schema.ts";
import {
  updatePolicyCrd,
  updatePolicyOpenApiSchema,
  validateUpdatePolicySpec,
  validateUpdatePolicyStatus,
  type UpdatePolicyResourceSpec,
} from "../api/update-policy.ts";
import type { UpdatePolicySpec } from "../core/policy.ts";
import { resolveFleetPolicy } from "../core/policy.ts";

describe("BottlerocketUpdatePolicy schema", () => {
  it("has the shape of src/core's UpdatePolicySpec", () => {
    expectTypeOf<UpdatePolicyResourceSpec>().toExtend<UpdatePolicySpec>();
    expectTypeOf<Required<UpdatePolicySpec>>().toExtend<Required<UpdatePolicyResourceSpec>>();
  });

  it("is structural, with int-or-string budget and a singleton rule", () => {
    expect(structuralSchemaViolations(updatePolicyOpenApiSchema())).toEqual([]);
    const spec = updatePolicyOpenApiSchema().properties?.spec?.properties;
    expect(spec?.maxConcurrentUpdates).toMatchObject({ "x-kubernetes-int-or-string": true });
    expect(JSON.stringify(updatePolicyOpenApiSchema())).toContain("self.metadata.name == 'default'");
    const crd = updatePolicyCrd();
    expect(crd.metadata.name).toBe("bottlerocketupdatepolicies.brupop.bottlerocket.aws");
    expect(crd.spec.names).toMatchObject({ kind: "BottlerocketUpdatePolicy", singular: "bottlerocketupdatepolicy" });
    expect(crd.spec.versions[0]?.subresources).toEqual({ status: {} });
  });

  it("validates what a user writes, and what it accepts resolves into a policy", () => {
    const spec = {
      paused: false,
      maxConcurrentUpdates: "25%",
      windows: [{ schedule: "0 2 * * 1-5", duration: "4h", timeZone: "Europe/Berlin" }],
      stateTimeouts: { RebootedIntoUpdate: "15m" },
      quarantineAfterFailures: 3,
    };
    expect(validateUpdatePolicySpec(spec).ok).toBe(true);
    expect(validateUpdatePolicySpec({ ...spec, maxConcurrentUpdates: 2 }).ok).toBe(true);
    expect(resolveFleetPolicy({}, spec, new Date("2024-06-03T10:00:00Z")).ok).toBe(true);
    const bad = validateUpdatePolicySpec({ paused: "yes", quarantineAfterFailures: -1 });
    expect(bad.ok).toBe(false);
    if (!bad.ok) expect(bad.message).toMatch(/paused/);
  });

  it("validates the status the controller writes", () => {
    const status = {
      paused: false,
      managedNodes: 3,
      updating: 1,
      budget: "1",
      nodesByState: { Idle: 2, RebootedIntoUpdate: 1 },
      window: { open: false, nextOpen: "2024-06-04T02:00:00+00:00", message: "outside" },
    };
    expect(validateUpdatePolicyStatus(status).ok).toBe(true);
    expect(validateUpdatePolicyStatus({ ...status, updating: -1 }).ok).toBe(false);
  });

  describe("durations with days the controller bounds are bounded by the CRD too (a 422 naming the field)", () => {
    // The rule itself runs in kube-apiserver (test/integration/controller-policy.test.ts, controller-disruptors).
    const properties = () => updatePolicyOpenApiSchema().properties?.spec?.properties;
    const when = new Date("2024-06-03T10:00:00Z");
    const selector = { matchLabels: { canary: "true" } };

    it.each([
      ["minNodeAge", () => properties()?.minNodeAge, 365 * 86_400, "must be at most 365d"],
      ["canary.soak", () => properties()?.canary?.properties?.soak, 30 * 86_400, "must be at most 30d"],
    ])("spec.%s carries the bound as a rule", (_field, schema, seconds, message) => {
      const rules = schema()?.["x-kubernetes-validations"] ?? [];
      expect(rules.map((r) => r.message)).toEqual([message]);
      expect(rules[0]?.rule.endsWith(`<= ${seconds}`)).toBe(true);
      expect(schema()?.pattern).toBe("^([0-9]+d)?([0-9]+h)?([0-9]+m)?([0-9]+s)?$");
    });

    it.each([
      [{ minNodeAge: "365d" }, true],
      [{ minNodeAge: "400d" }, false],
      [{ canary: { selector, soak: "30d" } }, true],
      [{ canary: { selector, soak: "31d" } }, false],
    ])("the controller's own check of %j agrees (valid: %s)", (spec, valid) => {
      expect(validateUpdatePolicySpec(spec).ok).toBe(true);
      const resolved = resolveFleetPolicy({}, spec, when);
      expect(resolved.ok).toBe(valid);
      if (!resolved.ok)
        expect(resolved.errors.join("; ")).toMatch(/spec\.(minNodeAge|canary\.soak): "\d+d" is longer than/);
    });
  });
});
