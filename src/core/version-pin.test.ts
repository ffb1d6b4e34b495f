import { describe, expect, it } from "vitest";
import { parseVersionPin, pastPin } from "./version-pin.ts";
import { selectNodesToStart } from "./select.ts";
import { fleetPolicy, node, shadow, T0 } from "../../test/support/core-fixtures.ts";

describe("spec.maxVersion", () => {
  it("parses a version, and names the field of anything else", () => {
    const errors: string[] = [];
    expect(parseVersionPin("1.26.0", "policy spec.maxVersion", errors)).toBe("1.26.0");
    expect(parseVersionPin("v1.26", "policy spec.maxVersion", errors)).toBeNull();
    expect(parseVersionPin(126, "policy spec.maxVersion", errors)).toBeNull();
    expect(errors).toEqual([
      'policy spec.maxVersion: "v1.26" is not a version such as "1.26.0"',
      'policy spec.maxVersion: 126 is not a version such as "1.26.0"',
    ]);
  });

  it("compares by precedence", () => {
    expect(pastPin("1.26.0", "1.26.0")).toBe(false);
    expect(pastPin("1.25.9", "1.26.0")).toBe(false);
    expect(pastPin("1.26.1", "1.26.0")).toBe(true);
    expect(pastPin("1.27.0-rc.1", "1.26.0")).toBe(true);
  });

  it("holds a node offered a version past the pin, and starts one offered the pin itself", () => {
    const past = shadow("n1", { status: { current_version: "1.25.0", target_version: "1.27.0" } });
    const at = shadow("n2", { status: { current_version: "1.25.0", target_version: "1.26.0" } });
    const selection = selectNodesToStart(
      { shadows: [past, at], nodes: [node("n1"), node("n2")], controllerNodeName: null },
      fleetPolicy({ maxVersion: "1.26.0", maxConcurrentUpdates: "unlimited" }),
      T0,
    );
    expect(selection.start.map((s) => [s.nodeName, s.spec.version])).toEqual([["n2", "1.26.0"]]);
    expect(selection.notStarted).toEqual([
      {
        shadowName: "brs-n1",
        nodeName: "n1",
        reason: {
          code: "version-pinned",
          message:
            "offered 1.27.0, past spec.maxVersion 1.26.0: staying at 1.25.0 (the operator installs what the host " +
            "offers; set the hosts' settings.updates.version-lock to v1.26.0 to have it offered)",
        },
      },
    ]);
  });
});
