// Built-in certificates, no cert-manager needed: the API server keeps its own CA and serving certificate in
// Secrets, renews them before they expire, and publishes the CA where agents (a Secret with ca.crt, brupop's
// `brupop-apiserver-client-certificate`) and kube-apiserver (the CRD conversion webhook's caBundle) read it.
//
// Every replica runs ensureBuiltinTls on start and periodically; writes carry resourceVersions, so when replicas
// race, one wins and the others adopt its result. brupop's cert-manager setup pointed the CRD's CA injection at a
// Certificate that did not exist (reference §10.5); here the caBundle is written directly.
import { X509Certificate } from "node:crypto";
import type { CoreV1Api, CustomObjectsApi, V1Secret } from "@kubernetes/client-node";
import type { Logger } from "pino";
import { createCertificateAuthority, loadCertificateAuthority } from "../../pki/certificates.ts";
import { isConflict, isNotFound } from "../../kube/errors.ts";
import { checkTlsMaterial, type TlsMaterial } from "./material.ts";

export interface BuiltinTlsOptions {
  core: CoreV1Api;
  custom: CustomObjectsApi;
  namespace: string;
  caSecret: string;
  servingSecret: string;
  publishSecret: string;
  /** Names the serving certificate must carry (the Service's DNS names). */
  dnsNames: string[];
  ipAddresses?: string[];
  /** CRDs whose conversion webhook caBundle is kept equal to the CA. */
  crdNames: string[];
  log: Logger;
  caValidityDays?: number;
  servingValidityDays?: number;
}

export interface BuiltinTls {
  material: TlsMaterial;
  /** PEM of the CA certificates clients should trust (current first, the previous one while it is valid). */
  caBundle: string;
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----\n?/g;
const dayMs = 86_400_000;

/** Whether a certificate is in the last third of its life (or past it), when it should be replaced. */
export function needsRenewal(certPem: string, now: Date): boolean {
  const cert = new X509Certificate(certPem);
  const from = new Date(cert.validFrom).getTime();
  const to = new Date(cert.validTo).getTime();
  return now.getTime() >= to - (to - from) / 3;
}

/** The DNS names and IP addresses in a certificate's subjectAltName, e.g. ["DNS:a", "IP:127.0.0.1"]. */
export function subjectAltNames(certPem: string): string[] {
  const text = new X509Certificate(certPem).subjectAltName ?? "";
  return text
    .split(",")
    .map((s) => s.trim().replace(/^IP Address:/, "IP:"))
    .filter((s) => s !== "")
    .sort();
}

/** Why the serving certificate must be (re)issued, or undefined when it is fine. */
export function servingProblem(
  serving: { cert: string; key: string } | undefined,
  caCertPem: string,
  want: { dnsNames: readonly string[]; ipAddresses: readonly string[] },
  now: Date,
): string | undefined {
  if (!serving) return "no serving certificate yet";
  try {
    checkTlsMaterial(serving.cert, serving.key, "serving certificate");
    const leaf = new X509Certificate(serving.cert);
    if (!leaf.checkIssued(new X509Certificate(caCertPem)) || !leaf.verify(new X509Certificate(caCertPem).publicKey)) {
      return "the serving certificate was not issued by the current CA";
    }
    if (needsRenewal(serving.cert, now)) return `the serving certificate expires on ${leaf.validTo}`;
    const wanted = [...want.dnsNames.map((d) => `DNS:${d}`), ...want.ipAddresses.map((ip) => `IP:${ip}`)].sort();
    if (JSON.stringify(subjectAltNames(serving.cert)) !== JSON.stringify(wanted)) {
      return "the serving certificate's names differ from the Service's";
    }
  } catch (err) {
    return `the serving certificate is unusable: ${(err as Error).message}`;
  }
  return undefined;
}

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
const unb64 = (text: string | undefined) =>
  text === undefined ? undefined : Buffer.from(text, "base64").toString("utf8");

async function readSecret(core: CoreV1Api, namespace: string, name: string): Promise<V1Secret | undefined> {
  try {
    return await core.readNamespacedSecret({ name, namespace });
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** Creates or replaces (at `basedOn`'s resourceVersion) a Secret; false when another writer got there first. */
async function writeSecret(
  core: CoreV1Api,
  namespace: string,
  name: string,
  type: string,
  data: Record<string, string>,
  basedOn: V1Secret | undefined,
): Promise<boolean> {
  const body: V1Secret = {
    apiVersion: "v1",
    kind: "Secret",
    type,
    metadata: {
      name,
      namespace,
      labels: { "app.kubernetes.io/managed-by": "brupop", "brupop.bottlerocket.aws/component": "apiserver" },
      ...(basedOn?.metadata?.resourceVersion ? { resourceVersion: basedOn.metadata.resourceVersion } : {}),
    },
    data: Object.fromEntries(Object.entries(data).map(([k, v]) => [k, b64(v)])),
  };
  try {
    if (basedOn) await core.replaceNamespacedSecret({ name, namespace, body });
    else await core.createNamespacedSecret({ namespace, body });
    return true;
  } catch (err) {
    if (isConflict(err)) return false; // another replica wrote it; the caller re-reads
    throw err;
  }
}

/** Makes sure the CA, the serving certificate and their publications exist and are current. */
export async function ensureBuiltinTls(options: BuiltinTlsOptions, now = new Date()): Promise<BuiltinTls> {
  const { core, namespace, log } = options;
  for (let attempt = 0; attempt < 5; attempt++) {
    // ---- The CA ----
    const caSecret = await readSecret(core, namespace, options.caSecret);
    const caCert = unb64(caSecret?.data?.["tls.crt"]);
    const caKey = unb64(caSecret?.data?.["tls.key"]);
    let caUsable: boolean;
    try {
      caUsable = caCert !== undefined && caKey !== undefined && !needsRenewal(caCert, now);
    } catch {
      caUsable = false; // unparsable: replace it
    }
    if (!caUsable || caCert === undefined || caKey === undefined) {
      const ca = await createCertificateAuthority("brupop-apiserver-ca", options.caValidityDays ?? 3650);
      // Keep trusting the previous CA while it is valid, so agents with the old bundle reach the new certificate.
      const previous = caCert !== undefined && safeNotExpired(caCert, now) ? caCert : "";
      const bundle = ca.certPem + previous;
      log.info({ secret: options.caSecret, previous: previous !== "" }, "creating the API server CA");
      await writeSecret(
        core,
        namespace,
        options.caSecret,
        "kubernetes.io/tls",
        { "tls.crt": ca.certPem, "tls.key": ca.keyPem, "ca.crt": bundle },
        caSecret,
      );
      continue; // re-read whichever CA won
    }
    const caBundle = unb64(caSecret?.data?.["ca.crt"]) ?? caCert;

    // ---- The serving certificate ----
    const servingSecret = await readSecret(core, namespace, options.servingSecret);
    const serving =
      servingSecret?.data?.["tls.crt"] && servingSecret.data["tls.key"]
        ? { cert: unb64(servingSecret.data["tls.crt"]) ?? "", key: unb64(servingSecret.data["tls.key"]) ?? "" }
        : undefined;
    const want = { dnsNames: options.dnsNames, ipAddresses: options.ipAddresses ?? [] };
    const problem = servingProblem(serving, caCert, want, now);
    if (problem !== undefined || serving === undefined) {
      log.info({ secret: options.servingSecret, reason: problem }, "issuing the API server's serving certificate");
      const ca = await loadCertificateAuthority(caCert, caKey);
      const leaf = await ca.issue({
        commonName: options.dnsNames[0] ?? "brupop-apiserver",
        dnsNames: options.dnsNames,
        ipAddresses: want.ipAddresses,
        usages: ["server"],
        validForDays: options.servingValidityDays ?? 365,
      });
      await writeSecret(
        core,
        namespace,
        options.servingSecret,
        "kubernetes.io/tls",
        { "tls.crt": leaf.certPem, "tls.key": leaf.keyPem, "ca.crt": caBundle },
        servingSecret,
      );
      continue;
    }

    await publishCa(options, caBundle);
    return { material: { cert: serving.cert, key: serving.key }, caBundle };
  }
  throw new Error("could not settle the built-in certificates after 5 attempts (replicas racing?)");
}

function safeNotExpired(certPem: string, now: Date): boolean {
  try {
    return new Date(new X509Certificate(certPem).validTo).getTime() > now.getTime() + dayMs;
  } catch {
    return false;
  }
}

/** The CA bundle, where agents and kube-apiserver read it. */
async function publishCa(options: BuiltinTlsOptions, caBundle: string): Promise<void> {
  const { core, custom, namespace, log } = options;
  const published = await readSecret(core, namespace, options.publishSecret);
  if (unb64(published?.data?.["ca.crt"]) !== caBundle) {
    // No key here: agents only need to trust the server.
    await writeSecret(core, namespace, options.publishSecret, "Opaque", { "ca.crt": caBundle }, published);
    log.info({ secret: options.publishSecret }, "published the CA for agents");
  }
  const crds = { group: "apiextensions.k8s.io", version: "v1", plural: "customresourcedefinitions" };
  for (const name of options.crdNames) {
    let crd: { spec?: { conversion?: { strategy?: string; webhook?: { clientConfig?: { caBundle?: string } } } } };
    try {
      crd = (await custom.getClusterCustomObject({ ...crds, name })) as typeof crd;
    } catch (err) {
      if (isNotFound(err)) {
        log.debug({ crd: name }, "CRD not installed; no caBundle to set");
        continue;
      }
      throw err;
    }
    const conversion = crd.spec?.conversion;
    if (conversion?.strategy !== "Webhook" || conversion.webhook?.clientConfig === undefined) continue;
    if (conversion.webhook.clientConfig.caBundle === b64(caBundle)) continue;
    await custom.patchClusterCustomObject({
      ...crds,
      name,
      body: [{ op: "add", path: "/spec/conversion/webhook/clientConfig/caBundle", value: b64(caBundle) }],
    });
    log.info({ crd: name }, "set the conversion webhook caBundle");
  }
}

/** The CA certificates in a bundle, for tests and logs. */
export function bundleCertificates(bundle: string): string[] {
  return bundle.match(CERT_BLOCK) ?? [];
}
