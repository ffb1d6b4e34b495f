import { describe, expect, it } from "vitest";
import { orderCandidates } from "./order.ts";

describe("orderCandidates (state-machine.md#fleet-selection)", () => {
  it("fewest failures first, the controller's node last, then by name", () => {
    const ordered = orderCandidates(
      [
        { nodeName: "own", failures: 0 },
        { nodeName: "c", failures: 1 },
        { nodeName: "b", failures: 0 },
        { nodeName: "a", failures: 2 },
        { nodeName: "d", failures: 0 },
      ],
      "own",
    );
    expect(ordered.map((c) => c.nodeName)).toEqual(["b", "d", "c", "a", "own"]);
  });

  it("without a controller node name nobody is moved", () => {
    expect(
      orderCandidates(
        [
          { nodeName: "b", failures: 0 },
          { nodeName: "a", failures: 0 },
        ],
        null,
      ).map((c) => c.nodeName),
    ).toEqual(["a", "b"]);
  });

  it("is independent of the input order and does not mutate it", () => {
    const input = [
      { nodeName: "z", failures: 0 },
      { nodeName: "y", failures: 3 },
      { nodeName: "x", failures: 0 },
    ];
    const reversed = [...input].reverse();
    expect(orderCandidates(input, null)).toEqual(orderCandidates(reversed, null));
    expect(input.map((c) => c.nodeName)).toEqual(["z", "y", "x"]);
  });
});
