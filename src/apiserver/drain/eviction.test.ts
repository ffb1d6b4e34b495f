import { describe, expect, it } from "vitest";
import { budgetsFromStatus, classifyEviction } from "./eviction.ts";

/** An error as src/kube/client.ts throws it: the HTTP code and the raw Status body. */
function apiError(code: number, status: object): Error {
  return Object.assign(new Error(`HTTP ${code}`), { code, body: JSON.stringify(status) });
}

const pdbRefusal = apiError(429, {
  kind: "Status",
  message: "Cannot evict pod as it would violate the pod's disruption budget.",
  reason: "TooManyRequests",
  details: {
    causes: [
      {
        reason: "DisruptionBudget",
        type: "DisruptionBudget",
        message: "The disruption budget web needs 2 healthy pods and has 2 currently",
      },
    ],
  },
  code: 429,
});

describe("classifyEviction", () => {
  it("success is evicted", () => expect(classifyEviction(undefined)).toEqual({ kind: "evicted" }));

  it("a budget refusal is blocked, naming the budget", () => {
    expect(classifyEviction(pdbRefusal)).toEqual({
      kind: "blocked",
      budgets: ["web"],
      message:
        "Cannot evict pod as it would violate the pod's disruption budget. (The disruption budget web needs 2 healthy pods and has 2 currently)",
    });
  });

  it("a budget still being processed is blocked with its Retry-After", () => {
    const err = apiError(429, {
      message: "Cannot evict pod as it would violate the pod's disruption budget.",
      details: {
        causes: [
          { type: "DisruptionBudget", message: "The disruption budget db is still being processed by the server." },
        ],
        retryAfterSeconds: 10,
      },
    });
    expect(classifyEviction(err)).toMatchObject({ kind: "blocked", budgets: ["db"], retryAfterSeconds: 10 });
  });

  it("several budgets on one pod is blocked (names come from a lookup)", () => {
    const err = apiError(500, {
      message: "This pod has more than one PodDisruptionBudget, which the eviction subresource does not support.",
    });
    expect(classifyEviction(err)).toMatchObject({ kind: "blocked", budgets: [] });
  });

  it.each<[string, unknown, string]>([
    ["404", apiError(404, { message: 'pods "x" not found' }), "gone"],
    [
      "a failed uid precondition",
      apiError(409, { message: "Precondition failed: UID in precondition: a, UID in object meta: b" }),
      "gone",
    ],
    ["another 409", apiError(409, { message: "the object has been modified" }), "retry"],
    ["403 (terminating namespace)", apiError(403, { message: "namespace is being terminated" }), "blocked"],
    ["503", apiError(503, { message: "unavailable" }), "retry"],
    ["a plain 500", apiError(500, { message: "etcd timeout" }), "retry"],
    ["a transport error", new Error("ECONNRESET"), "retry"],
    ["400", apiError(400, { message: "bad grace period" }), "failed"],
    ["422", apiError(422, { message: "invalid" }), "failed"],
  ])("%s → %s", (_, err, kind) => {
    expect(classifyEviction(err).kind).toBe(kind);
  });

  it("reads budgets from a body that is already parsed, and ignores other causes", () => {
    const err = {
      code: 429,
      body: {
        details: {
          causes: [
            { type: "Other", message: "The disruption budget x needs" },
            { type: "DisruptionBudget", message: "The disruption budget a needs 1" },
            { type: "DisruptionBudget", message: "The disruption budget a needs 1" },
          ],
        },
      },
    };
    expect(budgetsFromStatus(err)).toEqual(["a"]);
  });
});
