// The webhook's answers from bytes: the same verdicts as src/api's whole-review conversion, made one object at a
// time, plus the refusals of bodies that are not JSON or break the bounds.
import { Readable } from "node:stream";
import { describe, expect, it } from "vitest";
import { convertReview } from "../api/conversion.ts";
import { answerReview, type ReviewAnswer } from "./conversion-review.ts";

const V1 = "brupop.bottlerocket.aws/v1";
const V2 = "brupop.bottlerocket.aws/v2";
const bounds = { maxDepth: 32, maxItems: 100_000 };

function shadow(name: string, state = "StagedAndPerformedUpdate", apiVersion = V2) {
  return {
    apiVersion,
    kind: "BottlerocketShadow",
    metadata: { name, namespace: "ns", labels: { team: "a" } },
    spec: { state, state_transition_timestamp: "2024-06-21T11:55:48.896347269+00:00", version: "1.21.0" },
    status: { current_version: "1.20.0", target_version: "1.21.0", current_state: "Idle", crash_count: 1 },
  };
}

function review(objects: unknown[], desiredAPIVersion = V1) {
  return {
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "ConversionReview",
    request: { uid: "u-1", desiredAPIVersion, objects },
  };
}

async function text(answer: ReviewAnswer): Promise<string> {
  if (typeof answer.body === "string") return answer.body;
  const chunks: Buffer[] = [];
  for await (const chunk of answer.body) chunks.push(Buffer.from(chunk as Buffer));
  return Buffer.concat(chunks).toString("utf8");
}

async function answer(body: unknown, group?: string) {
  const bytes = Buffer.from(typeof body === "string" ? body : JSON.stringify(body));
  const result = await answerReview(bytes, bounds, group);
  return { statusCode: result.statusCode, json: JSON.parse(await text(result)) as Record<string, unknown>, result };
}

describe("answerReview", () => {
  it.each([
    ["several objects to v1", review([shadow("a"), shadow("b", "Idle"), shadow("c", "ErrorReset")])],
    ["one object to v2", review([shadow("a", "StagedUpdate", V1)], V2)],
    ["no objects", review([])],
    ["an object that does not convert", review([shadow("a"), { ...shadow("b"), spec: { state: "Exploded" } }])],
    ["an unknown desired version, no objects", review([], "brupop.bottlerocket.aws/v9")],
    ["a malformed review", { apiVersion: "apiextensions.k8s.io/v1", request: { uid: "x", objects: "no" } }],
    ["not a review at all", [1, 2, 3]],
  ])("answers %s as the whole-review conversion does", async (_, body) => {
    const { statusCode, json } = await answer(body);
    expect(statusCode).toBe(200);
    expect(json).toEqual(JSON.parse(JSON.stringify(convertReview(body))));
  });

  it("streams a large review's answer in order, every object converted", async () => {
    const objects = Array.from({ length: 3_000 }, (_, i) => shadow(`brs-${i}`));
    const { json, result } = await answer(review(objects));
    expect(result.body).toBeInstanceOf(Readable);
    const converted = (json.response as { convertedObjects: { apiVersion: string; metadata: { name: string } }[] })
      .convertedObjects;
    expect(converted.map((o) => o.metadata.name)).toEqual(objects.map((o) => o.metadata.name));
    expect(new Set(converted.map((o) => o.apiVersion))).toEqual(new Set([V1]));
    expect(result.summary).toEqual({ uid: "u-1", result: "Success", objects: 3_000 });
  });

  it("serves a renamed copy of the CRD: its group in, brupop's conversion, its group out", async () => {
    const group = "copy.example.com";
    const objects = [{ ...shadow("a"), apiVersion: `${group}/v2` }];
    const { json } = await answer(review(objects, `${group}/v1`), group);
    expect(json).toMatchObject({
      response: { result: { status: "Success" }, convertedObjects: [{ apiVersion: `${group}/v1` }] },
    });
  });

  it.each([
    ["an empty body", "", 400, /a ConversionReview is required/],
    ["a body that is not JSON", "{", 400, /body: /],
    [
      "an object that is not JSON",
      `{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview","request":{"uid":"u","desiredAPIVersion":"${V1}","objects":[{"a":}]}}`,
      400,
      /request\.objects\[0\]/,
    ],
    [
      "an empty element",
      `{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview","request":{"uid":"u","desiredAPIVersion":"${V1}","objects":[,{}]}}`,
      400,
      /request\.objects\[0\]/,
    ],
    [
      "deep metadata",
      JSON.stringify(review([{ ...shadow("a"), metadata: "@" }])).replace('"@"', "[".repeat(40) + "]".repeat(40)),
      400,
      /objects\[0\]\.metadata.*deeper than 32/,
    ],
    [
      "more objects than a cluster has",
      JSON.stringify(review(Array(10_001).fill({}))),
      413,
      /request\.objects: more than 10000 elements/,
    ],
  ])("refuses %s (4xx naming it)", async (_, body, status, message) => {
    const { statusCode, json } = await answer(body);
    expect(statusCode).toBe(status);
    expect(json.message).toMatch(message);
  });
});
