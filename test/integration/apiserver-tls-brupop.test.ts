// Built-in TLS on a namespace that brupop's cert-manager Secrets are in (as a switch from brupop leaves it), against
// the real kube-apiserver: the CA is adopted and nothing brupop's clients trust changes; when the adopted CA rotates,
// the agents' kubernetes.io/tls Secret takes the new bundle and keeps its key pair; without brupop's CA Secret a CA of
// our own is made, and the same Secret is still written as what it is (kube-apiserver refused a kubernetes.io/tls
// Secret without tls.crt with 422, and the API server exited 1).
import { X509Certificate } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { V1Secret } from "@kubernetes/client-node";
import { pino } from "pino";
import { useCluster, type TestCluster } from "../support/cluster.ts";
import { brupopCertManagerSecrets, type CertManagerMaterial } from "../support/cert-manager.ts";
import { bundleCertificates, ensureBuiltinTls, type BuiltinTlsOptions } from "../../src/apiserver/tls/builtin.ts";

const day = 24 * 3600 * 1000;
let t: TestCluster;
const namespaces: string[] = [];

beforeAll(async () => {
  t = await useCluster(import.meta.url);
});

afterAll(async () => {
  await Promise.allSettled(namespaces.map((name) => t.core.deleteNamespace({ name })));
  await t.cleanup();
});

/** A namespace holding brupop's cert-manager Secrets (all three, or all but the CA's). */
async function brupopNamespace(suffix: string, withCa = true): Promise<{ ns: string; material: CertManagerMaterial }> {
  const ns = `${t.namespace}-${suffix}`;
  await t.core.createNamespace({ body: { metadata: { name: ns } } });
  namespaces.push(ns);
  const material = await brupopCertManagerSecrets(ns);
  for (const [which, body] of Object.entries(material.secrets)) {
    if (which !== "ca" || withCa) await t.core.createNamespacedSecret({ namespace: ns, body });
  }
  return { ns, material };
}

function options(ns: string): BuiltinTlsOptions {
  const service = `brupop-apiserver.${ns}.svc`;
  return {
    client: t.client,
    namespace: ns,
    caSecret: "brupop-apiserver-ca",
    servingSecret: "brupop-apiserver-certificate",
    publishSecret: "brupop-apiserver-client-certificate",
    dnsNames: ["brupop-apiserver", `brupop-apiserver.${ns}`, service, `${service}.cluster.local`],
    requiredDnsNames: [service, `${service}.cluster.local`],
    adoptCaSecret: "brupop-root-ca-secret",
    crdNames: [],
    log: pino({ level: "silent" }),
  };
}

const read = (ns: string, name: string) => t.core.readNamespacedSecret({ name, namespace: ns });
const text = (s: V1Secret, key: string) => Buffer.from(s.data?.[key] ?? "", "base64").toString("utf8");
const fingerprints = (pem: string) =>
  bundleCertificates(pem)
    .map((c) => new X509Certificate(c).fingerprint256)
    .sort();
const fp = (pem: string) => new X509Certificate(pem).fingerprint256;

describe("built-in TLS over brupop's cert-manager Secrets", () => {
  it("adopts brupop's CA and serves brupop's certificate, writing none of brupop's Secrets", async () => {
    const { ns, material } = await brupopNamespace("adopt");
    const names = ["brupop-root-ca-secret", "brupop-apiserver-certificate", "brupop-apiserver-client-certificate"];
    const before = await Promise.all(names.map(async (n) => (await read(ns, n)).metadata?.resourceVersion));
    const tls = await ensureBuiltinTls(options(ns));
    expect(fp(tls.material.cert)).toBe(fp(text(material.secrets.serving, "tls.crt")));
    expect(fingerprints(tls.caBundle)).toEqual([fp(material.caPem)]);
    expect(fp(text(await read(ns, "brupop-apiserver-ca"), "tls.crt"))).toBe(fp(material.caPem));
    const after = await Promise.all(names.map(async (n) => (await read(ns, n)).metadata?.resourceVersion));
    expect(after).toEqual(before);
  });

  it("rotates the adopted CA like its own, publishing the bundle into the agents' kubernetes.io/tls Secret", async () => {
    const { ns, material } = await brupopNamespace("rotate");
    await ensureBuiltinTls(options(ns));
    const client = await read(ns, "brupop-apiserver-client-certificate");
    // Two thirds into the life of brupop's 90-day CA: the next CA is published next to it.
    const later = new Date(Date.now() + 61 * day);
    const tls = await ensureBuiltinTls(options(ns), later);
    expect(tls.rotation).toBeDefined();
    const published = await read(ns, "brupop-apiserver-client-certificate");
    expect(published.type).toBe("kubernetes.io/tls");
    expect(fingerprints(text(published, "ca.crt"))).toEqual(
      fingerprints(`${material.caPem}${tls.rotation?.nextCa ?? ""}`),
    );
    expect(text(published, "tls.crt")).toBe(text(client, "tls.crt"));
    expect(text(published, "tls.key")).toBe(text(client, "tls.key"));
    // The serving certificate (brupop's expires within the month) was re-issued, still from brupop's CA.
    const serving = new X509Certificate(tls.material.cert);
    expect(serving.checkIssued(new X509Certificate(material.caPem))).toBe(true);
  });

  it("without brupop's CA Secret, makes its own CA and still writes the agents' kubernetes.io/tls Secret", async () => {
    const { ns } = await brupopNamespace("own", false);
    const client = await read(ns, "brupop-apiserver-client-certificate");
    const tls = await ensureBuiltinTls(options(ns));
    const published = await read(ns, "brupop-apiserver-client-certificate");
    expect(published.type).toBe("kubernetes.io/tls");
    expect(fingerprints(text(published, "ca.crt"))).toEqual(fingerprints(tls.caBundle));
    expect(text(published, "tls.crt")).toBe(text(client, "tls.crt"));
    const serving = await read(ns, "brupop-apiserver-certificate");
    expect(fp(text(serving, "tls.crt"))).toBe(fp(tls.material.cert));
  });
});
