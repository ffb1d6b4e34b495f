// Whether the process still takes agent work. Set once shutdown begins: agent routes and new drains answer 503 with
// Retry-After, so agents retry on another replica.
import { HttpError } from "./errors.ts";

export interface Lifecycle {
  shuttingDown: boolean;
}

export function shuttingDown(): HttpError {
  return new HttpError(503, "ShuttingDown", "the API server is shutting down; retry", { retryAfterSeconds: 1 });
}
