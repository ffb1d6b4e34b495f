// Minimal X.509 issuance: a CA and the leaf certificates it signs, as PEM. Used by the simulated cluster's
// control plane and by the API server's built-in certificate mode. ECDSA P-256 throughout: fast to generate,
// accepted by Go (kube-apiserver, etcd) and Node alike.
import "reflect-metadata"; // @peculiar/x509 depends on tsyringe, which needs the Reflect metadata polyfill
import * as x509 from "@peculiar/x509";
import { createPrivateKey, webcrypto } from "node:crypto";

type CryptoKey = webcrypto.CryptoKey;
type CryptoKeyPair = webcrypto.CryptoKeyPair;

// Node's WebCrypto is the standard one; its TS type lives in node:crypto rather than the DOM lib.
x509.cryptoProvider.set(webcrypto);

const algorithm = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const dayMs = 24 * 60 * 60 * 1000;

export interface KeyPairPem {
  /** PKCS#8 private key, "-----BEGIN PRIVATE KEY-----". */
  readonly keyPem: string;
  /** SPKI public key, "-----BEGIN PUBLIC KEY-----". */
  readonly publicKeyPem: string;
}

export interface CertificatePem extends KeyPairPem {
  readonly certPem: string;
  readonly notAfter: Date;
}

export interface CertificateAuthority extends CertificatePem {
  readonly subject: string;
  /** Signs a leaf certificate with this CA. */
  issue(request: LeafRequest): Promise<CertificatePem>;
}

export interface LeafRequest {
  /** Common name; for Kubernetes client certificates this is the user name. */
  readonly commonName: string;
  /** Organizations; for Kubernetes client certificates these are the groups. */
  readonly organizations?: readonly string[];
  readonly dnsNames?: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly usages: readonly ("server" | "client")[];
  readonly validForDays?: number;
}

export async function generateKeyPair(): Promise<CryptoKeyPair & KeyPairPem> {
  const keys = await webcrypto.subtle.generateKey(algorithm, true, ["sign", "verify"]);
  return { ...keys, ...(await toPem(keys)) };
}

export async function createCertificateAuthority(
  commonName: string,
  validForDays = 365,
): Promise<CertificateAuthority> {
  const keys = await generateKeyPair();
  const now = Date.now();
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: serialNumber(),
    name: distinguishedName(commonName),
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + validForDays * dayMs),
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return {
    certPem: cert.toString("pem"),
    keyPem: keys.keyPem,
    publicKeyPem: keys.publicKeyPem,
    notAfter: cert.notAfter,
    subject: cert.subject,
    issue: (request) => issueLeaf(cert, keys.privateKey, request),
  };
}

/** How a CA with an RSA key signs: a CA that cert-manager made (brupop's, adopted by the API server) has one. */
const rsaAlgorithm = { name: "RSASSA-PKCS1-v1_5", hash: "SHA-256" } as const;

/**
 * A CA from its PEM certificate and PKCS#8 private key, e.g. read back from a file or a Secret. The key is ECDSA P-256
 * (ours) or RSA (cert-manager's); the leaves it issues have ECDSA P-256 keys either way.
 */
export async function loadCertificateAuthority(certPem: string, keyPem: string): Promise<CertificateAuthority> {
  const cert = new x509.X509Certificate(certPem);
  const rsa = createPrivateKey(keyPem).asymmetricKeyType === "rsa";
  const signing = rsa ? rsaAlgorithm : algorithm;
  const privateKey = await webcrypto.subtle.importKey("pkcs8", x509.PemConverter.decodeFirst(keyPem), signing, true, [
    "sign",
  ]);
  const publicKeyPem = x509.PemConverter.encode(cert.publicKey.rawData, "PUBLIC KEY");
  return {
    certPem,
    keyPem,
    publicKeyPem,
    notAfter: cert.notAfter,
    subject: cert.subject,
    issue: (request) => issueLeaf(cert, privateKey, request, signing),
  };
}

async function issueLeaf(
  ca: x509.X509Certificate,
  caKey: CryptoKey,
  request: LeafRequest,
  signingAlgorithm: typeof algorithm | typeof rsaAlgorithm = algorithm,
): Promise<CertificatePem> {
  const keys = await generateKeyPair();
  const now = Date.now();
  const usages = request.usages.map((u) =>
    u === "server" ? x509.ExtendedKeyUsage.serverAuth : x509.ExtendedKeyUsage.clientAuth,
  );
  const altNames: x509.JsonGeneralName[] = [
    ...(request.dnsNames ?? []).map((value) => ({ type: "dns" as const, value })),
    ...(request.ipAddresses ?? []).map((value) => ({ type: "ip" as const, value })),
  ];
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: serialNumber(),
    subject: distinguishedName(request.commonName, request.organizations),
    issuer: ca.subject,
    notBefore: new Date(now - 60_000),
    notAfter: new Date(now + (request.validForDays ?? 365) * dayMs),
    signingKey: caKey,
    publicKey: keys.publicKey,
    signingAlgorithm,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension(usages),
      await x509.AuthorityKeyIdentifierExtension.create(ca, false),
      ...(altNames.length > 0 ? [new x509.SubjectAlternativeNameExtension(altNames)] : []),
    ],
  });
  return {
    certPem: cert.toString("pem"),
    keyPem: keys.keyPem,
    publicKeyPem: keys.publicKeyPem,
    notAfter: cert.notAfter,
  };
}

async function toPem(keys: CryptoKeyPair): Promise<KeyPairPem> {
  const pkcs8 = await webcrypto.subtle.exportKey("pkcs8", keys.privateKey);
  const spki = await webcrypto.subtle.exportKey("spki", keys.publicKey);
  return {
    keyPem: x509.PemConverter.encode(pkcs8, "PRIVATE KEY"),
    publicKeyPem: x509.PemConverter.encode(spki, "PUBLIC KEY"),
  };
}

function distinguishedName(commonName: string, organizations: readonly string[] = []): string {
  const escape = (v: string) => v.replace(/([,+"\\<>;=])/g, "\\$1");
  return [`CN=${escape(commonName)}`, ...organizations.map((o) => `O=${escape(o)}`)].join(", ");
}

/** A positive 128-bit serial, hex encoded (RFC 5280 asks for unique, at most 20 octets). */
function serialNumber(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = (bytes[0] ?? 0) & 0x7f;
  return Buffer.from(bytes).toString("hex");
}
