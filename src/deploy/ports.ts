// Ports of the operator's processes. The API server's TLS port and Service port are brupop's; the HTTP ports for
// metrics and health are this project's (brupop's controller served metrics on 8080 and had no health endpoints).
export { APISERVER_INTERNAL_PORT, APISERVER_SERVICE_PORT } from "../api/index.ts";

/** Controller: Prometheus `/metrics`, `/livez`, `/readyz` (brupop's metrics port). */
export const CONTROLLER_HTTP_PORT = 8080;
/** API server: `/metrics` without agent authentication, so Prometheus can scrape it (brupop's was unscrapeable). */
export const APISERVER_METRICS_PORT = 8080;
/** The controller Service's port (brupop's `brupop-controller-server`: 80 -> 8080, named `main`). */
export const CONTROLLER_SERVICE_PORT = 80;
