// ConversionReviews for the brupop API server's conversion webhook, as kube-apiserver sends them (many stored
// shadows, each as kube-apiserver stores it) and as an attacker would (one huge nested array): for the hardening
// test and the footprint benchmark, which watch the webhook's memory while it answers them.
import { API_VERSION_V1 } from "../../src/api/constants.ts";
import type { BottlerocketShadow } from "../../src/api/bottlerocket-shadow.ts";

/**
 * Kubernetes' supported maximum cluster size: one shadow per node makes the largest list kube-apiserver can ask the
 * webhook to convert in one review.
 */
export const LARGEST_FLEET = 5_000;

/** `depth` nested arrays around `inner`: `[[[0]]]`. */
export function nestedArrays(depth: number, inner = "0"): string {
  return "[".repeat(depth) + inner + "]".repeat(depth);
}

/** A ConversionReview to `desired` whose request.objects is the JSON text `objects`, whatever it holds. */
export const reviewEnvelope = (desired: string, objects: string): string =>
  `{"apiVersion":"apiextensions.k8s.io/v1","kind":"ConversionReview","request":{"uid":"x","desiredAPIVersion":"${desired}","objects":${objects}}}`;

/** A ConversionReview as kube-apiserver sends one: `count` copies of `stored` (distinct names and uids) to `desired`. */
export function conversionReview(stored: BottlerocketShadow, count: number, desired = API_VERSION_V1): string {
  const objects = Array.from({ length: count }, (_, i) => ({
    ...stored,
    metadata: {
      ...stored.metadata,
      name: `brs-node-${i}`,
      uid: `00000000-0000-4000-8000-${String(i).padStart(12, "0")}`,
    },
  }));
  return JSON.stringify({
    apiVersion: "apiextensions.k8s.io/v1",
    kind: "ConversionReview",
    request: { uid: "review-1", desiredAPIVersion: desired, objects },
  });
}

/** The attack: objects is one array nested `depth` deep (8,000,000 makes 16 MB). */
export function nestedArrayReview(depth: number, desired = API_VERSION_V1): string {
  return reviewEnvelope(desired, nestedArrays(depth));
}
