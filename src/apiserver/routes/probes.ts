// Probes, without a token: liveness, readiness (not ready until the caches are synced, or once shutting down), and
// brupop's /ping.
import { HttpError } from "../errors.ts";
import type { HttpApp } from "../http/app.ts";
import type { Lifecycle } from "../lifecycle.ts";

export interface ProbeOptions {
  lifecycle: Lifecycle;
  /** undefined when ready to serve agents, else why not (e.g. caches not synced). */
  notReadyReason: () => string | undefined;
}

export function probes(app: HttpApp, { lifecycle, notReadyReason }: ProbeOptions): void {
  app.route({
    method: "GET",
    url: "/ping",
    body: "json",
    handler: (_request, reply) => reply.type("text/plain").send("pong"),
  });
  app.route({ method: "GET", url: "/livez", body: "json", handler: (_request, reply) => reply.send({ status: "ok" }) });
  app.route({
    method: "GET",
    url: "/readyz",
    body: "json",
    handler: (_request, reply) => {
      const why = lifecycle.shuttingDown ? "shutting down" : notReadyReason();
      if (why === undefined) return reply.send({ status: "ok" });
      return reply.code(503).send(new HttpError(503, "NotReady", why).toBody());
    },
  });
}
