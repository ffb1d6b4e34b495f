// The conversion webhook called by the real kube-apiserver, over TLS from the built-in CA: a copy of the
// BottlerocketShadow CRD (own group, so it cannot clash with the CRD other files install) converts through
// /crdconvert while objects are written and read in v1 and v2. Also: the built-in certificates (Secrets, CA
// published for agents and into the CRD's caBundle, idempotent), and a certificate reload without a restart.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { Server as HttpsServer } from "node:https";
import { connect } from "node:tls";
import { CustomObjectsApi } from "@kubernetes/client-node";
import { pino } from "pino";
import { eventually, useCluster, type TestCluster } from "../support/cluster.ts";
import { CRDS, createWebhookCrd, startConversionServer, testTlsOptions } from "../support/webhook-crd.ts";
import { PLURAL } from "../../src/api/index.ts";
import { httpsCall } from "../../sim/cluster/https-call.ts";
import type { ApiServer } from "../../src/apiserver/server.ts";
import { bundleCertificates, ensureBuiltinTls, type BuiltinTlsOptions } from "../../src/apiserver/tls/builtin.ts";

let t: TestCluster;
let custom: CustomObjectsApi;
let server: ApiServer;
let https: HttpsServer;
let port: number;
let group: string;
let crdName: string;
let tlsOptions: BuiltinTlsOptions;
let caBundle: string;

const ref = (version: string) => ({ group, version, plural: PLURAL, namespace: t.namespace });

/** The serial number of the certificate the server presents now. */
function presentedSerial(): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, ca: caBundle, servername: "localhost" }, () => {
      resolve(socket.getPeerCertificate().serialNumber);
      socket.end();
    });
    socket.on("error", reject);
  });
}

beforeAll(async () => {
  t = await useCluster(import.meta.url);
  custom = t.kc.makeApiClient(CustomObjectsApi);
  group = `${t.namespace}.brupop.test`;
  crdName = `${PLURAL}.${group}`;
  tlsOptions = testTlsOptions(t, crdName, pino({ level: "warn" }));
  const tls = await ensureBuiltinTls(tlsOptions);
  caBundle = tls.caBundle;
  ({ server, https, port } = await startConversionServer(t, group, tls.material));

  // brupop's CRD under our group, its webhook a URL on this process; the caBundle comes from ensureBuiltinTls.
  await createWebhookCrd(custom, { name: crdName, group, port });
  await ensureBuiltinTls(tlsOptions); // now that the CRD exists, its caBundle is set
  await eventually("test CRD served", () => custom.listNamespacedCustomObject(ref("v1")));
});

afterAll(async () => {
  await server.shutdown();
  await custom.deleteClusterCustomObject({ ...CRDS, name: crdName }).catch(() => undefined);
  await t.cleanup();
});

describe("built-in certificates", () => {
  it("publishes the CA for agents and into the CRD's conversion caBundle", async () => {
    expect(bundleCertificates(caBundle)).toHaveLength(1);
    const published = await t.core.readNamespacedSecret({ name: "apiserver-client-ca", namespace: t.namespace });
    expect(Buffer.from(published.data?.["ca.crt"] ?? "", "base64").toString()).toBe(caBundle);
    expect(published.data?.["tls.key"]).toBeUndefined();
    const crd = (await custom.getClusterCustomObject({ ...CRDS, name: crdName })) as {
      spec: { conversion: { webhook: { clientConfig: { caBundle?: string } } } };
    };
    expect(crd.spec.conversion.webhook.clientConfig.caBundle).toBe(Buffer.from(caBundle).toString("base64"));
  });

  it("is idempotent: a second replica adopts the same certificate", async () => {
    const [a, b] = await Promise.all([ensureBuiltinTls(tlsOptions), ensureBuiltinTls(tlsOptions)]);
    expect(a.material.cert).toBe(b.material.cert);
    expect(a.caBundle).toBe(caBundle);
  });
});

describe("conversion webhook called by kube-apiserver", () => {
  it("stores a v1 object as v2 and reads it back in both versions", async () => {
    await custom.createNamespacedCustomObject({
      ...ref("v1"),
      body: {
        apiVersion: `${group}/v1`,
        kind: "BottlerocketShadow",
        metadata: { name: "brs-old-agent", labels: { team: "a" } },
        spec: { state: "StagedUpdate", version: "1.21.0" },
      },
    });
    const v2 = (await custom.getNamespacedCustomObject({ ...ref("v2"), name: "brs-old-agent" })) as {
      apiVersion: string;
      metadata: { labels?: Record<string, string> };
      spec: { state: string };
    };
    expect(v2.apiVersion).toBe(`${group}/v2`);
    expect(v2.spec.state).toBe("StagedAndPerformedUpdate"); // converted, not just relabelled
    expect(v2.metadata.labels).toEqual({ team: "a" }); // brupop's conversion dropped labels
    const v1 = (await custom.getNamespacedCustomObject({ ...ref("v1"), name: "brs-old-agent" })) as {
      spec: { state: string };
    };
    expect(v1.spec.state).toBe("StagedUpdate");
  });

  it("serves a v2 status with v2-only fields to v1 readers, and lists in v1", async () => {
    await custom.createNamespacedCustomObject({
      ...ref("v2"),
      body: {
        apiVersion: `${group}/v2`,
        kind: "BottlerocketShadow",
        metadata: { name: "brs-new-agent" },
        spec: { state: "Idle" },
      },
    });
    const current = (await custom.getNamespacedCustomObject({ ...ref("v2"), name: "brs-new-agent" })) as object;
    await custom.replaceNamespacedCustomObjectStatus({
      ...ref("v2"),
      name: "brs-new-agent",
      body: {
        ...current,
        status: {
          current_version: "1.20.0",
          target_version: "1.21.0",
          current_state: "ErrorReset",
          crash_count: 3,
          state_transition_failure_timestamp: "2025-01-01T00:00:00.000+00:00",
        },
      },
    });
    const v1 = (await custom.getNamespacedCustomObject({ ...ref("v1"), name: "brs-new-agent" })) as {
      status: Record<string, unknown>;
    };
    expect(v1.status).toEqual({
      current_version: "1.20.0",
      target_version: "1.21.0",
      current_state: "MonitoringUpdate",
    });
    const list = (await custom.listNamespacedCustomObject(ref("v1"))) as { items: { apiVersion: string }[] };
    expect(list.items.map((i) => i.apiVersion)).toEqual([`${group}/v1`, `${group}/v1`]);
  });

  it("answers a malformed review with a Failure, not an HTTP error", async () => {
    const response = await httpsCall(`https://127.0.0.1:${port}`, caBundle, {
      method: "POST",
      path: "/crdconvert",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({ apiVersion: "apiextensions.k8s.io/v1", kind: "ConversionReview", request: { uid: "x" } }),
    });
    expect(response.status).toBe(200);
    expect(response.json).toMatchObject({ response: { uid: "x", result: { status: "Failure" } } });
  });
});

describe("certificate reload", () => {
  it("serves a renewed certificate without a restart, and kube-apiserver keeps converting", async () => {
    const before = await presentedSerial();
    await t.core.deleteNamespacedSecret({ name: "apiserver-tls", namespace: t.namespace });
    const renewed = await ensureBuiltinTls(tlsOptions);
    expect(renewed.caBundle).toBe(caBundle); // same CA, new leaf
    https.setSecureContext({ cert: renewed.material.cert, key: renewed.material.key });
    const after = await presentedSerial();
    expect(after).not.toBe(before);
    const v1 = (await custom.getNamespacedCustomObject({ ...ref("v1"), name: "brs-new-agent" })) as {
      apiVersion: string;
    };
    expect(v1.apiVersion).toBe(`${group}/v1`);
  });
});
