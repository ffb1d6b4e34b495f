// The agent's drain routes: brupop's synchronous cordon-and-drain (bounded), and our asynchronous drain (POST starts
// or joins it: 202; GET reports it). The drain itself is drain/registry.ts and drain/executor.ts.
import { setTimeout as sleep } from "node:timers/promises";
import { AGENT_ROUTES } from "../../api/constants.ts";
import type { AgentRouteModule } from "../auth/gate.ts";
import { blockersOf, type DrainStatus } from "../../api/drain.ts";
import type { DrainRegistry } from "../drain/registry.ts";
import { HttpError } from "../errors.ts";
import { shuttingDown, type Lifecycle } from "../lifecycle.ts";

export interface DrainRouteOptions {
  drains: DrainRegistry;
  lifecycle: Lifecycle;
  /** How long the synchronous cordon-and-drain route waits for the drain before answering 504. */
  syncDrainTimeoutMs: number;
}

/** The sync route's answer for a finished drain. */
function drainAnswer(status: DrainStatus, lifecycle: Lifecycle): HttpError | undefined {
  const details = { drain: status, blockers: blockersOf(status) };
  switch (status.phase) {
    case "drained":
      return undefined;
    case "timed-out":
      return new HttpError(504, "DrainTimedOut", status.message, { details });
    case "failed":
      return new HttpError(502, "DrainFailed", status.message, { details });
    case "cancelled":
      return lifecycle.shuttingDown
        ? new HttpError(503, "ShuttingDown", status.message, { details, retryAfterSeconds: 1 })
        : new HttpError(409, "DrainCancelled", status.message, { details });
    default:
      return new HttpError(500, "InternalError", `drain ended in phase ${status.phase}`);
  }
}

export function drainRoutes({ drains, lifecycle, syncDrainTimeoutMs }: DrainRouteOptions): AgentRouteModule {
  function startDrain(node: string): ReturnType<DrainRegistry["start"]> {
    if (lifecycle.shuttingDown) throw shuttingDown();
    return drains.start(node);
  }

  return (routes) => {
    routes.route({
      method: "POST",
      url: AGENT_ROUTES.cordonAndDrain,
      body: "none",
      handler: async ({ node }, reply) => {
        const drain = startDrain(node.name);
        const finished = await Promise.race([drain.done, sleep(syncDrainTimeoutMs, undefined, { ref: false })]);
        if (finished === undefined) {
          throw new HttpError(
            504,
            "DrainInProgress",
            `the drain of ${node.name} is still running; poll GET ${AGENT_ROUTES.drain}`,
            { details: { drain: drain.status() } },
          );
        }
        const failure = drainAnswer(finished, lifecycle);
        if (failure) throw failure;
        return reply.code(200).send();
      },
    });

    routes.route({
      method: "POST",
      url: AGENT_ROUTES.drain,
      body: "none",
      handler: ({ node }, reply) => {
        const drain = startDrain(node.name);
        return reply
          .code(202)
          .header("location", AGENT_ROUTES.drain)
          .send({ started: drain.started, drain: drain.status() });
      },
    });

    routes.route({
      method: "GET",
      url: AGENT_ROUTES.drain,
      body: "none",
      handler: ({ node }, reply) => {
        const status = drains.status(node.name);
        if (!status) throw new HttpError(404, "NoDrain", `no drain of ${node.name} is known to this replica`);
        return reply.send({ drain: status, blockers: blockersOf(status) });
      },
    });
  };
}
