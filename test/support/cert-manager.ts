// The Secrets cert-manager keeps for a brupop 1.4 installation, made here as cert-manager would make them from
// brupop's Certificates (bottlerocket-update-operator.yaml): a self-signed RSA CA `brupop-selfsigned-ca` in
// `brupop-root-ca-secret`, and two leaves it issues for `*.<ns>.svc.cluster.local` and `*.<ns>.svc` (server auth for
// the API server, client auth for the agents' Secret). Each is a kubernetes.io/tls Secret with tls.crt, tls.key
// (PKCS#8) and ca.crt, annotated as cert-manager annotates them. No cert-manager runs in the tests; these stand for
// what it left behind.
import "reflect-metadata";
import * as x509 from "@peculiar/x509";
import { webcrypto } from "node:crypto";
import type { V1Secret } from "@kubernetes/client-node";

x509.cryptoProvider.set(webcrypto);

const rsa = {
  name: "RSASSA-PKCS1-v1_5",
  hash: "SHA-256",
  publicExponent: new Uint8Array([1, 0, 1]),
  modulusLength: 2048,
};
const day = 24 * 3600 * 1000;

async function keyPair() {
  return webcrypto.subtle.generateKey(rsa, true, ["sign", "verify"]);
}

async function pkcs8(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey("pkcs8", key), "PRIVATE KEY");
}

const serial = () =>
  Buffer.from(webcrypto.getRandomValues(new Uint8Array(16)))
    .toString("hex")
    .replace(/^./, "1");

export interface CertManagerMaterial {
  /** PEM of brupop's CA, what every brupop agent trusts. */
  readonly caPem: string;
  readonly caKeyPem: string;
  readonly secrets: { readonly ca: V1Secret; readonly serving: V1Secret; readonly client: V1Secret };
}

/** cert-manager's Secrets of a brupop installation in `namespace` (cert-manager's default lifetime: 90 days). */
export async function brupopCertManagerSecrets(namespace: string): Promise<CertManagerMaterial> {
  const now = Date.now();
  const caKeys = await keyPair();
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serial(),
    name: "CN=brupop-selfsigned-ca",
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + 90 * day),
    keys: caKeys,
    signingAlgorithm: rsa,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(
        x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment,
        true,
      ),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });
  const caPem = ca.toString("pem");
  const leaf = async (usage: string) => {
    const keys = await keyPair();
    const cert = await x509.X509CertificateGenerator.create({
      serialNumber: serial(),
      subject: "",
      issuer: ca.subject,
      notBefore: new Date(now - 60_000),
      notAfter: new Date(now + 90 * day),
      signingKey: caKeys.privateKey,
      publicKey: keys.publicKey,
      signingAlgorithm: rsa,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([usage]),
        await x509.AuthorityKeyIdentifierExtension.create(ca, false),
        new x509.SubjectAlternativeNameExtension(
          [`*.${namespace}.svc.cluster.local`, `*.${namespace}.svc`].map((value) => ({ type: "dns" as const, value })),
          true,
        ),
      ],
    });
    return { cert: cert.toString("pem"), key: await pkcs8(keys.privateKey) };
  };
  const caKeyPem = await pkcs8(caKeys.privateKey);
  const serving = await leaf(x509.ExtendedKeyUsage.serverAuth);
  const client = await leaf(x509.ExtendedKeyUsage.clientAuth);
  const secret = (name: string, cert: string, key: string): V1Secret => ({
    apiVersion: "v1",
    kind: "Secret",
    type: "kubernetes.io/tls",
    metadata: {
      name,
      namespace,
      annotations: {
        "cert-manager.io/certificate-name": name === "brupop-root-ca-secret" ? "brupop-selfsigned-ca" : name,
        "cert-manager.io/issuer-kind": "Issuer",
        "cert-manager.io/issuer-name":
          name === "brupop-root-ca-secret" ? "selfsigned-issuer" : "brupop-root-certificate-issuer",
      },
    },
    data: {
      "tls.crt": Buffer.from(cert).toString("base64"),
      "tls.key": Buffer.from(key).toString("base64"),
      "ca.crt": Buffer.from(caPem).toString("base64"),
    },
  });
  return {
    caPem,
    caKeyPem,
    secrets: {
      ca: secret("brupop-root-ca-secret", caPem, caKeyPem),
      serving: secret("brupop-apiserver-certificate", serving.cert, serving.key),
      client: secret("brupop-apiserver-client-certificate", client.cert, client.key),
    },
  };
}
