// Classifying errors of Kubernetes API calls (src/kube/client.ts): a KubeApiError carries the HTTP code, and its
// body is a JSON string holding a metav1.Status.

/** The HTTP status of a failed API call, or undefined for transport errors and anything else. */
export function statusCode(err: unknown): number | undefined {
  return typeof err === "object" && err !== null && "code" in err && typeof err.code === "number"
    ? err.code
    : undefined;
}

export const isNotFound = (err: unknown): boolean => statusCode(err) === 404;
export const isConflict = (err: unknown): boolean => statusCode(err) === 409;

/** The `message` of the metav1.Status in the error body, else the error's own message. */
export function apiMessage(err: unknown): string {
  if (typeof err === "object" && err !== null && "body" in err && typeof err.body === "string") {
    try {
      const status = JSON.parse(err.body) as { message?: unknown };
      if (typeof status.message === "string") return status.message;
    } catch {
      // not JSON: fall through
    }
  }
  return err instanceof Error ? err.message : String(err);
}
