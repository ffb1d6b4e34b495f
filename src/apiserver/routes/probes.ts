// Probes, without a token: liveness, readiness (not ready until the caches are synced, or once shutting down), and
// brupop's /ping.
import type { FastifyPluginCallback } from "fastify";
import { HttpError } from "../errors.ts";
import type { Lifecycle } from "../lifecycle.ts";

export interface ProbeOptions {
  lifecycle: Lifecycle;
  /** undefined when ready to serve agents, else why not (e.g. caches not synced). */
  notReadyReason: () => string | undefined;
}

export const probes: FastifyPluginCallback<ProbeOptions> = (app, { lifecycle, notReadyReason }, registered) => {
  app.get("/ping", (_request, reply) => reply.type("text/plain").send("pong"));
  app.get("/livez", (_request, reply) => reply.send({ status: "ok" }));
  app.get("/readyz", (_request, reply) => {
    const why = lifecycle.shuttingDown ? "shutting down" : notReadyReason();
    if (why === undefined) return reply.send({ status: "ok" });
    return reply.code(503).send(new HttpError(503, "NotReady", why).toBody());
  });
  registered();
};
