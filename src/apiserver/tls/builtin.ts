// Built-in certificates, no cert-manager needed: the API server keeps its own CA and serving certificate in
// Secrets, renews them before they expire, and publishes the CA where agents (a Secret with ca.crt, brupop's
// `brupop-apiserver-client-certificate`) and kube-apiserver (the CRD conversion webhook's caBundle) read it.
//
// The CA rotates in two phases (rotation.ts): a next CA is published next to the current one first, and the serving
// certificate is issued from it only after a propagation delay, so clients never meet a certificate from a CA they
// do not trust yet. The serving certificate is renewed from the current CA in the last third of its life.
//
// Every replica runs ensureBuiltinTls on start and again before anything is due (BuiltinTls.recheckAt); writes
// carry resourceVersions, so when replicas race, one wins and the others re-read and adopt its result. Unusable
// Secret content is repaired with a warning naming what was wrong. brupop's cert-manager setup pointed the CRD's CA
// injection at a Certificate that did not exist (docs/design/brupop-compatibility.md#crd); here the caBundle is
// written directly.
//
// Switched in place from brupop, the namespace holds brupop's cert-manager Secrets under the same names: its CA
// (brupop-root-ca-secret), its serving certificate and the agents' Secret (kubernetes.io/tls, issued by that CA).
// The API server adopts that CA as its current one (a copy in its own CA Secret) and keeps brupop's serving
// certificate while it is valid and covers the Service's names, so nothing any client trusts changes during the
// switch; the two-phase rotation later moves to a CA of its own. Secrets it writes keep their type and the keys it
// does not manage (a kubernetes.io/tls Secret must keep tls.crt and tls.key).
import { X509Certificate } from "node:crypto";
import type { V1Secret } from "@kubernetes/client-node";
import type { KubeClient } from "../../kube/client.ts";
import type { Logger } from "pino";
import { isConflict, isNotFound } from "../../kube/errors.ts";
import { checkTlsMaterial, type TlsMaterial } from "./material.ts";
import {
  DEFAULT_CA_PROPAGATION_DELAY_MS,
  NEXT_CA_PUBLISHED_ANNOTATION,
  applyCaDecision,
  bundleCertificates,
  caChangesAt,
  checkCa,
  composeBundle,
  decideCa,
  earliestAfter,
  needsRenewal,
  renewalStart,
  type CaDecision,
  type StoredCa,
} from "./rotation.ts";

export { bundleCertificates, needsRenewal } from "./rotation.ts";

export interface BuiltinTlsOptions {
  client: KubeClient;
  namespace: string;
  caSecret: string;
  servingSecret: string;
  publishSecret: string;
  /** Names a serving certificate it issues carries (the Service's DNS names). */
  dnsNames: string[];
  /**
   * Names an existing serving certificate must cover (wildcards count) to be kept: those clients connect to. Default
   * `dnsNames`.
   */
  requiredDnsNames?: string[];
  ipAddresses?: string[];
  /**
   * A Secret (tls.crt, tls.key) whose CA is adopted when the CA Secret does not exist yet: brupop's cert-manager CA,
   * which issued the certificates its agents and API servers use while a switch is under way.
   */
  adoptCaSecret?: string;
  /** CRDs whose conversion webhook caBundle is kept equal to the CA bundle. */
  crdNames: string[];
  log: Logger;
  caValidityDays?: number;
  servingValidityDays?: number;
  /**
   * How long a bundle holding the next CA must have been published (agents' Secret and CRD caBundle) before the
   * serving certificate is issued from that CA: the kubelet refreshes mounted Secrets after a minute or two.
   * Default 10 minutes.
   */
  caPropagationDelayMs?: number;
}

export interface BuiltinTls {
  material: TlsMaterial;
  /** PEM of the CA certificates clients should trust: the current CA, the next one during a rotation, and older
   *  ones while they are valid. */
  caBundle: string;
  /** When the certificates change next by themselves (a rotation phase due, a renewal, an expiry): check then. */
  recheckAt?: Date;
  /** While a CA rotation is under way: the next CA and when the serving certificate switches to it. */
  rotation?: { nextCa: string; switchAt: Date };
}

/** Attempts before giving up: each step of a rotation is one write, and a lost race costs one re-read. */
const MAX_ATTEMPTS = 12;

/** The DNS names and IP addresses in a certificate's subjectAltName, e.g. ["DNS:a", "IP:127.0.0.1"]. */
export function subjectAltNames(certPem: string): string[] {
  const text = new X509Certificate(certPem).subjectAltName ?? "";
  return text
    .split(",")
    .map((s) => s.trim().replace(/^IP Address:/, "IP:"))
    .filter((s) => s !== "")
    .sort();
}

/** Whether a certificate's DNS name (possibly a wildcard, `*.ns.svc`) matches `name`, as a TLS client checks it. */
export function dnsNameCovers(pattern: string, name: string): boolean {
  const p = pattern.toLowerCase();
  const n = name.toLowerCase();
  if (!p.startsWith("*.")) return p === n;
  const dot = n.indexOf(".");
  return dot > 0 && n.slice(dot + 1) === p.slice(2);
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
    const sans = subjectAltNames(serving.cert);
    const dns = sans.filter((n) => n.startsWith("DNS:")).map((n) => n.slice(4));
    const missing = [
      ...want.dnsNames.filter((name) => !dns.some((pattern) => dnsNameCovers(pattern, name))),
      ...want.ipAddresses.filter((ip) => !sans.includes(`IP:${ip}`)),
    ];
    if (missing.length > 0) return `the serving certificate does not cover ${missing.join(", ")}`;
  } catch (err) {
    return `the serving certificate is unusable: ${(err as Error).message}`;
  }
  return undefined;
}

/**
 * Whether two PEM bundles hold the same certificates in the same order, however the PEM is written (cert-manager
 * writes it otherwise than we do; the order says which CA is the current one).
 */
export function sameCertificates(a: string | undefined, b: string | undefined): boolean {
  const list = (pem: string | undefined) =>
    bundleCertificates(pem ?? "").map((c) => {
      try {
        return new X509Certificate(c).fingerprint256;
      } catch {
        return `unparsable:${c}`;
      }
    });
  return JSON.stringify(list(a)) === JSON.stringify(list(b));
}

const b64 = (text: string) => Buffer.from(text, "utf8").toString("base64");
const unb64 = (text: string | undefined) =>
  text === undefined ? undefined : Buffer.from(text, "base64").toString("utf8");

const secretsOf = (namespace: string) => `/api/v1/namespaces/${namespace}/secrets`;

async function readSecret(client: KubeClient, namespace: string, name: string): Promise<V1Secret | undefined> {
  try {
    return await client.get<V1Secret>(`${secretsOf(namespace)}/${name}`);
  } catch (err) {
    if (isNotFound(err)) return undefined;
    throw err;
  }
}

/** The annotation cert-manager puts on the Secret a Certificate issues into. */
const CERT_MANAGER_CERTIFICATE = "cert-manager.io/certificate-name";

/**
 * Creates or replaces (at `basedOn`'s resourceVersion) a Secret; false when another writer got there first. Labels and
 * annotations of others are kept; `annotations` are ours (NEXT_CA_PUBLISHED_ANNOTATION is kept only if given). `data`
 * names the keys we manage (undefined removes one); keys it does not name are kept as they are.
 */
async function writeSecret(
  client: KubeClient,
  namespace: string,
  name: string,
  type: string,
  data: Record<string, string | undefined>,
  basedOn: V1Secret | undefined,
  annotations: Record<string, string> = {},
  log?: Logger,
): Promise<boolean> {
  const certificate = basedOn?.metadata?.annotations?.[CERT_MANAGER_CERTIFICATE];
  if (certificate !== undefined) {
    // Both would keep rewriting it. After a switch from brupop, its Certificates are left over (kubectl apply
    // deletes nothing): docs/migrating-from-brupop.md says to delete them.
    log?.warn(
      { secret: name, certificate },
      "this Secret is also issued by a cert-manager Certificate; with built-in TLS, delete that Certificate",
    );
  }
  const kept = Object.entries(basedOn?.metadata?.annotations ?? {}).filter(([k]) => k !== NEXT_CA_PUBLISHED_ANNOTATION);
  const allAnnotations = { ...Object.fromEntries(kept), ...annotations };
  const body: V1Secret = {
    apiVersion: "v1",
    kind: "Secret",
    // A Secret's type cannot change; keep whatever an existing one has.
    type: basedOn?.type ?? type,
    metadata: {
      name,
      namespace,
      labels: {
        ...basedOn?.metadata?.labels,
        "app.kubernetes.io/managed-by": "brupop",
        "brupop.bottlerocket.aws/component": "apiserver",
      },
      ...(Object.keys(allAnnotations).length > 0 ? { annotations: allAnnotations } : {}),
      ...(basedOn?.metadata?.resourceVersion ? { resourceVersion: basedOn.metadata.resourceVersion } : {}),
    },
    data: {
      ...Object.fromEntries(Object.entries(basedOn?.data ?? {}).filter(([k]) => !(k in data))),
      ...Object.fromEntries(
        Object.entries(data).flatMap(([k, v]) => (v === undefined ? [] : [[k, b64(v)] as [string, string]])),
      ),
    },
  };
  try {
    if (basedOn) await client.replace(`${secretsOf(namespace)}/${name}`, body);
    else await client.create(secretsOf(namespace), body);
    return true;
  } catch (err) {
    if (isConflict(err)) return false; // another replica wrote it (or created it first); the caller re-reads
    throw err;
  }
}

function storedCa(secret: V1Secret | undefined): StoredCa {
  const data = secret?.data ?? {};
  return {
    cert: unb64(data["tls.crt"]),
    key: unb64(data["tls.key"]),
    nextCert: unb64(data["next.crt"]),
    nextKey: unb64(data["next.key"]),
    bundle: unb64(data["ca.crt"]),
    nextPublishedAt: secret?.metadata?.annotations?.[NEXT_CA_PUBLISHED_ANNOTATION],
  };
}

function writeCaSecret(options: BuiltinTlsOptions, state: StoredCa, basedOn: V1Secret | undefined): Promise<boolean> {
  return writeSecret(
    options.client,
    options.namespace,
    options.caSecret,
    "kubernetes.io/tls",
    {
      "tls.crt": state.cert,
      "tls.key": state.key,
      "ca.crt": state.bundle,
      "next.crt": state.nextCert,
      "next.key": state.nextKey,
    },
    basedOn,
    state.nextPublishedAt === undefined ? {} : { [NEXT_CA_PUBLISHED_ANNOTATION]: state.nextPublishedAt },
    options.log,
  );
}

/**
 * The CA of `options.adoptCaSecret` as the first content of our CA Secret, when it holds a CA usable to issue
 * certificates (brupop's cert-manager CA); undefined when there is none to adopt.
 */
async function adoptableCa(options: BuiltinTlsOptions, now: Date): Promise<StoredCa | undefined> {
  if (options.adoptCaSecret === undefined) return undefined;
  const secret = await readSecret(options.client, options.namespace, options.adoptCaSecret);
  const cert = unb64(secret?.data?.["tls.crt"]);
  const key = unb64(secret?.data?.["tls.key"]);
  if (secret === undefined) return undefined;
  const check = checkCa(cert, key, now);
  if (!check.ok) {
    options.log.warn(
      { secret: options.adoptCaSecret, problem: check.problem },
      "not adopting the CA of this Secret; creating a new CA",
    );
    return undefined;
  }
  return { cert: check.ca.cert, key: check.ca.key, bundle: composeBundle([check.ca.cert], undefined, now) };
}

const CA_STEP_MESSAGES: Record<Exclude<CaDecision["kind"], "steady" | "publish-next">, string> = {
  create: "created the API server CA",
  promote: "the next CA is now the current one",
  begin: "CA rotation, phase 1: created the next CA; the serving certificate stays with the current CA for now",
  switch: "CA rotation, phase 2: the next CA is now the current one; the serving certificate is re-issued from it",
  "rewrite-bundle": "updated the CA bundle",
};

/** Makes sure the CA, the serving certificate and their publications exist and are current. */
/**
 * The code that makes certificates (@peculiar/x509 and its ASN.1 schemas: ~4 MiB once loaded), loaded only when a
 * certificate must be made: a replica that finds valid ones in the Secrets, as nearly every start does, never holds it.
 */
const certificates = () => import("../../pki/certificates.ts");

export async function ensureBuiltinTls(options: BuiltinTlsOptions, now = new Date()): Promise<BuiltinTls> {
  const { client, namespace, log } = options;
  const delayMs = options.caPropagationDelayMs ?? DEFAULT_CA_PROPAGATION_DELAY_MS;
  for (let attempt = 0; attempt < MAX_ATTEMPTS; attempt++) {
    // ---- The CA ----
    const caSecret = await readSecret(client, namespace, options.caSecret);
    if (caSecret === undefined) {
      const adopted = await adoptableCa(options, now);
      if (adopted !== undefined) {
        if (await writeCaSecret(options, adopted, undefined)) {
          log.info(
            { secret: options.caSecret, from: options.adoptCaSecret },
            "adopted the CA of brupop's cert-manager Secret: certificates it issued stay trusted",
          );
        }
        continue; // re-read whichever CA won
      }
    }
    const stored = storedCa(caSecret);
    const decision = decideCa(stored, now, delayMs);
    if (decision.kind !== "steady" && decision.kind !== "publish-next") {
      const fresh =
        decision.kind === "create" || decision.kind === "begin"
          ? await (await certificates()).createCertificateAuthority(caName(now), options.caValidityDays ?? 3650)
          : undefined;
      const fresher = fresh && { cert: fresh.certPem, key: fresh.keyPem };
      const written = await writeCaSecret(options, applyCaDecision(stored, decision, now, fresher), caSecret);
      const fields = { secret: options.caSecret, step: decision.kind, reason: decision.reason };
      if (!written) log.debug(fields, "another replica changed the CA first; re-reading");
      else if (!decision.repair) log.info(fields, CA_STEP_MESSAGES[decision.kind]);
      else if (decision.kind === "create" || decision.kind === "promote") {
        // No time to publish first: the serving certificate follows at once.
        log.warn(
          fields,
          `repaired the CA Secret: ${CA_STEP_MESSAGES[decision.kind]}; clients fail TLS until they trust it`,
        );
      } else log.warn(fields, `repaired the CA Secret: ${CA_STEP_MESSAGES[decision.kind]}`);
      continue; // re-read whichever CA won
    }
    const { current, bundle } = decision;

    // ---- The serving certificate, always from the current CA ----
    const servingSecret = await readSecret(client, namespace, options.servingSecret);
    const serving =
      servingSecret?.data?.["tls.crt"] && servingSecret.data["tls.key"]
        ? { cert: unb64(servingSecret.data["tls.crt"]) ?? "", key: unb64(servingSecret.data["tls.key"]) ?? "" }
        : undefined;
    const want = { dnsNames: options.requiredDnsNames ?? options.dnsNames, ipAddresses: options.ipAddresses ?? [] };
    const problem = servingProblem(serving, current.cert, want, now);
    if (problem !== undefined || serving === undefined) {
      const ca = await (await certificates()).loadCertificateAuthority(current.cert, current.key);
      const leaf = await ca.issue({
        commonName: options.dnsNames[0] ?? "brupop-apiserver",
        dnsNames: options.dnsNames,
        ipAddresses: want.ipAddresses,
        usages: ["server"],
        validForDays: options.servingValidityDays ?? 365,
      });
      const data = { "tls.crt": leaf.certPem, "tls.key": leaf.keyPem, "ca.crt": bundle };
      const { servingSecret: name } = options;
      if (await writeSecret(client, namespace, name, "kubernetes.io/tls", data, servingSecret, {}, log)) {
        log.info({ secret: options.servingSecret, reason: problem }, "issued the API server's serving certificate");
      }
      continue;
    }
    if (!sameCertificates(unb64(servingSecret?.data?.["ca.crt"]), bundle)) {
      const data = { "tls.crt": serving.cert, "tls.key": serving.key, "ca.crt": bundle };
      await writeSecret(client, namespace, options.servingSecret, "kubernetes.io/tls", data, servingSecret, {}, log);
      continue;
    }

    // ---- Where clients read the bundle ----
    if (!(await publishCa(options, bundle))) continue;
    if (decision.kind === "publish-next") {
      const published = applyCaDecision(stored, decision, now);
      if (await writeCaSecret(options, published, caSecret)) {
        const switchAt = new Date(now.getTime() + delayMs);
        const fields = { secret: options.caSecret, reason: decision.reason, switchAt: switchAt.toISOString() };
        const message = "CA rotation: published the bundle with the next CA; the switch waits for the delay";
        if (decision.repair) log.warn(fields, `${message} (repaired the recorded publication time)`);
        else log.info(fields, message);
      }
      continue;
    }
    return {
      material: { cert: serving.cert, key: serving.key },
      caBundle: bundle,
      ...optional("recheckAt", earliestAfter([caChangesAt(decision, now), safeRenewalStart(serving.cert)], now)),
      ...(decision.next && decision.switchAt
        ? { rotation: { nextCa: decision.next.cert, switchAt: decision.switchAt } }
        : {}),
    };
  }
  throw new Error(`could not settle the built-in certificates after ${MAX_ATTEMPTS} attempts (replicas racing?)`);
}

const optional = <K extends string, V>(key: K, value: V | undefined) =>
  (value === undefined ? {} : { [key]: value }) as Partial<Record<K, V>>;

function safeRenewalStart(certPem: string): Date | undefined {
  try {
    return renewalStart(certPem);
  } catch {
    return undefined;
  }
}

/** A name per CA (brupop-apiserver-ca-20250102T030405Z), so the current and the next one differ in their subject. */
function caName(now: Date): string {
  return `brupop-apiserver-ca-${now.toISOString().replace(/[-:]/g, "").replace(/\.\d+/, "")}`;
}

/**
 * The CA bundle, where agents and kube-apiserver read it. False when another replica wrote the agents' Secret at the
 * same time (the caller re-reads and tries again).
 */
async function publishCa(options: BuiltinTlsOptions, caBundle: string): Promise<boolean> {
  const { client, namespace, log } = options;
  const published = await readSecret(client, namespace, options.publishSecret);
  if (!sameCertificates(unb64(published?.data?.["ca.crt"]), caBundle)) {
    // Only ca.crt: agents only need to trust the server (brupop's cert-manager Secret keeps its tls.crt and tls.key).
    const data = { "ca.crt": caBundle };
    if (!(await writeSecret(client, namespace, options.publishSecret, "Opaque", data, published, {}, log))) {
      return false;
    }
    log.info({ secret: options.publishSecret }, "published the CA bundle for agents");
  }
  const crds = "/apis/apiextensions.k8s.io/v1/customresourcedefinitions";
  for (const name of options.crdNames) {
    let crd: { spec?: { conversion?: { strategy?: string; webhook?: { clientConfig?: { caBundle?: string } } } } };
    try {
      crd = await client.get<typeof crd>(`${crds}/${name}`);
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
    await client.patch(`${crds}/${name}`, "json", [
      { op: "add", path: "/spec/conversion/webhook/clientConfig/caBundle", value: b64(caBundle) },
    ]);
    log.info({ crd: name }, "set the conversion webhook caBundle");
  }
  return true;
}
