// What an Eviction API answer means for the drain. Pure: the executor calls it with the caught error (or none).
//
// kube-apiserver refuses an eviction that a PodDisruptionBudget forbids with 429 and a StatusCause of type
// "DisruptionBudget" whose message names the budget ("The disruption budget web needs 2 healthy pods and has 2
// currently", or "... is still being processed by the server."); a pod covered by several budgets gets a 500.
import { apiMessage, statusCode } from "../../kube/errors.ts";

export type EvictionOutcome =
  /** Accepted: now wait for the pod to go. */
  | { kind: "evicted" }
  /** The pod we planned is gone already (404), or replaced by a namesake (409 on the uid precondition). */
  | { kind: "gone" }
  /** Refused for now (a budget, a terminating namespace): retry at the slow pace and report it as a blocker. */
  | { kind: "blocked"; message: string; budgets: string[]; retryAfterSeconds?: number }
  /** A transient failure (transport, 5xx): retry with backoff. */
  | { kind: "retry"; message: string }
  /** Will not succeed by retrying (e.g. an invalid request): give up on this pod. */
  | { kind: "failed"; message: string };

interface StatusBody {
  message?: unknown;
  details?: { causes?: { type?: unknown; message?: unknown }[]; retryAfterSeconds?: unknown };
}

function statusBody(err: unknown): StatusBody | undefined {
  const body = typeof err === "object" && err !== null && "body" in err ? err.body : undefined;
  if (typeof body === "object" && body !== null) return body;
  if (typeof body !== "string") return undefined;
  try {
    return JSON.parse(body) as StatusBody;
  } catch {
    return undefined;
  }
}

const BUDGET_IN_CAUSE = /^The disruption budget (\S+) /;

/** Budget names from the DisruptionBudget causes of a refused eviction. */
export function budgetsFromStatus(err: unknown): string[] {
  const causes = statusBody(err)?.details?.causes ?? [];
  const names = causes
    .filter((c) => c.type === "DisruptionBudget" && typeof c.message === "string")
    .map((c) => BUDGET_IN_CAUSE.exec(String(c.message))?.[1])
    .filter((name): name is string => name !== undefined);
  return [...new Set(names)];
}

function causeMessages(err: unknown): string {
  const causes = statusBody(err)?.details?.causes ?? [];
  const texts = causes.map((c) => c.message).filter((m): m is string => typeof m === "string");
  return texts.length > 0 ? `${apiMessage(err)} (${texts.join("; ")})` : apiMessage(err);
}

/** `err` is what the eviction call threw, or undefined when it succeeded. */
export function classifyEviction(err: unknown): EvictionOutcome {
  if (err === undefined) return { kind: "evicted" };
  const code = statusCode(err);
  const message = causeMessages(err);
  switch (code) {
    case 404:
      return { kind: "gone" };
    case 409:
      // The uid precondition failed: the name now belongs to a new pod (a recreated StatefulSet pod, say).
      return /precondition/i.test(message) ? { kind: "gone" } : { kind: "retry", message };
    case 429: {
      const retry = statusBody(err)?.details?.retryAfterSeconds;
      return {
        kind: "blocked",
        message,
        budgets: budgetsFromStatus(err),
        ...(typeof retry === "number" && retry > 0 ? { retryAfterSeconds: retry } : {}),
      };
    }
    case 500:
      // Several budgets cover the pod; the API refuses until someone fixes them. Names come from a PDB lookup.
      if (/more than one PodDisruptionBudget/i.test(message)) return { kind: "blocked", message, budgets: [] };
      return { kind: "retry", message };
    case 403:
      // A terminating namespace, or a budget in a bad state: not ours to fix, but it may pass.
      return { kind: "blocked", message, budgets: [] };
    case undefined:
      return { kind: "retry", message };
    default:
      return code >= 500 ? { kind: "retry", message } : { kind: "failed", message: `HTTP ${code}: ${message}` };
  }
}
