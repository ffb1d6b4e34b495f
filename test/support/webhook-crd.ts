// The conversion webhook against the real kube-apiserver: an in-process API server serving /crdconvert over HTTPS
// on loopback, brupop's BottlerocketShadow CRD under a test's own group with its webhook pointed there, and the
// built-in TLS options that publish its CA into the CRD's caBundle.
import { createServer as createHttpsServer, type Server as HttpsServer } from "node:https";
import type { CustomObjectsApi } from "@kubernetes/client-node";
import { pino, type Logger } from "pino";
import { bottlerocketShadowCrd } from "../../src/api/index.ts";
import { createApiServer, type ApiServer } from "../../src/apiserver/server.ts";
import type { BuiltinTlsOptions } from "../../src/apiserver/tls/builtin.ts";
import type { TlsMaterial } from "../../src/apiserver/tls/material.ts";
import type { TestCluster } from "./cluster.ts";

import { CRDS } from "./shadow-crd.ts";

export { CRDS };

export async function createWebhookCrd(
  custom: CustomObjectsApi,
  o: { name: string; group: string; port: number },
): Promise<void> {
  const crd = bottlerocketShadowCrd({ conversion: "none" });
  await custom.createClusterCustomObject({
    ...CRDS,
    body: {
      ...crd,
      metadata: { name: o.name },
      spec: {
        ...crd.spec,
        group: o.group,
        conversion: {
          strategy: "Webhook",
          webhook: {
            clientConfig: { url: `https://127.0.0.1:${o.port}/crdconvert` },
            conversionReviewVersions: ["v1"],
          },
        },
      },
    },
  });
}

/** Built-in TLS in the test's namespace, for a server reached as localhost / 127.0.0.1, publishing into `crdName`. */
export function testTlsOptions(t: TestCluster, crdName: string, log: Logger): BuiltinTlsOptions {
  return {
    client: t.client,
    namespace: t.namespace,
    caSecret: "apiserver-ca",
    servingSecret: "apiserver-tls",
    publishSecret: "apiserver-client-ca",
    dnsNames: ["localhost"],
    ipAddresses: ["127.0.0.1"],
    crdNames: [crdName],
    log,
  };
}

/** The API server converting `group` over HTTPS with `material`; `onHttps` sees the HTTPS server before it listens. */
export async function startConversionServer(
  t: TestCluster,
  group: string,
  material: TlsMaterial,
  onHttps?: (https: HttpsServer) => void,
): Promise<{ server: ApiServer; https: HttpsServer; port: number }> {
  let https: HttpsServer | undefined;
  const server = createApiServer({
    client: t.client,
    log: pino({ level: "warn" }),
    namespace: t.namespace,
    agentServiceAccount: "unused",
    defaultMetrics: false,
    conversionGroup: group,
    serverFactory: (handler) => {
      https = createHttpsServer({ cert: material.cert, key: material.key }, handler);
      onHttps?.(https);
      return https;
    },
  });
  const address = await server.app.listen({ host: "127.0.0.1", port: 0 });
  if (!https) throw new Error("the API server did not create its HTTPS server");
  return { server, https, port: Number(new URL(address).port) };
}
