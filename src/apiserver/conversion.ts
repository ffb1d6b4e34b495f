// The CRD conversion webhook's handler: src/api's convertReview, optionally for a renamed copy of the CRD.
//
// kube-apiserver sends objects of the CRD's own group. Serving a copy of the BottlerocketShadow CRD under another
// group (integration tests share one cluster-scoped CRD namespace; forks may rename it) only changes the group in
// apiVersion, so the handler maps that group to brupop's and back around the pure conversion.
import { API_GROUP, convertReview, type ConversionReviewResponse } from "../api/index.ts";

function withGroup(apiVersion: unknown, from: string, to: string): unknown {
  return typeof apiVersion === "string" && apiVersion.startsWith(`${from}/`)
    ? `${to}/${apiVersion.slice(from.length + 1)}`
    : apiVersion;
}

function regroupObject(object: unknown, from: string, to: string): unknown {
  if (typeof object !== "object" || object === null || Array.isArray(object)) return object;
  const record = object as Record<string, unknown>;
  return { ...record, apiVersion: withGroup(record.apiVersion, from, to) };
}

/** Answers a ConversionReview for the BottlerocketShadow CRD served under `group` (default brupop's). */
export function handleConversionReview(review: unknown, group: string = API_GROUP): ConversionReviewResponse {
  if (group === API_GROUP) return convertReview(review);
  const request = typeof review === "object" && review !== null ? (review as { request?: unknown }).request : undefined;
  if (typeof request !== "object" || request === null) return convertReview(review);
  const { desiredAPIVersion, objects } = request as { desiredAPIVersion?: unknown; objects?: unknown };
  const response = convertReview({
    ...(review as object),
    request: {
      ...request,
      desiredAPIVersion: withGroup(desiredAPIVersion, group, API_GROUP),
      objects: Array.isArray(objects) ? objects.map((o) => regroupObject(o, group, API_GROUP)) : objects,
    },
  });
  const { convertedObjects } = response.response;
  if (convertedObjects !== undefined) {
    response.response.convertedObjects = convertedObjects.map((o) => regroupObject(o, API_GROUP, group));
  }
  return response;
}
