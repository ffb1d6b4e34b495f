import { describe, expect, test } from "vitest";
import { parseShadow } from "./observed.ts";

const brs = (annotations?: Record<string, unknown>) => ({
  metadata: { name: "brs-n", ...(annotations === undefined ? {} : { annotations }) },
  spec: { state: "StagedAndPerformedUpdate", version: "1.25.0", state_transition_timestamp: null },
});

describe("parseShadow: the controller's rollback-to annotation", () => {
  test("names the version a rollback stages", () => {
    expect(parseShadow(brs({ "brupop.bottlerocket.aws/rollback-to": "1.25.0" }))).toMatchObject({
      valid: true,
      rollbackTo: "1.25.0",
    });
  });

  test.each([[undefined], [{}], [{ "brupop.bottlerocket.aws/rollback-to": "latest" }]])(
    "is no rollback when absent or not a version: %j",
    (annotations) => {
      const parsed = parseShadow(brs(annotations));
      expect(parsed.valid).toBe(true);
      expect(parsed).not.toHaveProperty("rollbackTo");
    },
  );
});
