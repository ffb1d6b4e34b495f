// Serving-certificate material and its checks. brupop required exactly one PKCS#8 key
// (docs/design/brupop-compatibility.md#api-server-tls); we accept any one PEM private key Node can load, and say what
// is wrong when there is not exactly one.
import { X509Certificate, createPrivateKey } from "node:crypto";

export interface TlsMaterial {
  /** The certificate chain, leaf first (PEM). */
  cert: string;
  /** One private key (PEM). */
  key: string;
}

export class TlsMaterialError extends Error {
  override name = "TlsMaterialError";
}

const CERT_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;
const KEY_BLOCK = /-----BEGIN ((?:EC |RSA )?PRIVATE KEY)-----[\s\S]+?-----END \1-----/g;

/** Checks that `cert` holds at least one certificate, `key` exactly one key, and that they belong together. */
export function checkTlsMaterial(cert: string, key: string, source = "TLS material"): TlsMaterial {
  const certs = cert.match(CERT_BLOCK) ?? [];
  if (certs.length === 0) throw new TlsMaterialError(`${source}: no PEM certificate in the certificate file`);
  const keys = key.match(KEY_BLOCK) ?? [];
  if (keys.length !== 1) {
    throw new TlsMaterialError(`${source}: expected exactly one PEM private key, found ${keys.length}`);
  }
  try {
    const leafPem = certs.at(0) ?? "";
    const keyPem = keys.at(0) ?? "";
    const leaf = new X509Certificate(leafPem);
    if (!leaf.checkPrivateKey(createPrivateKey(keyPem))) {
      throw new TlsMaterialError(`${source}: the private key does not belong to the certificate`);
    }
  } catch (err) {
    if (err instanceof TlsMaterialError) throw err;
    throw new TlsMaterialError(`${source}: cannot load: ${(err as Error).message}`);
  }
  return { cert, key };
}

/** When the leaf certificate stops being valid. */
export function certificateNotAfter(certPem: string): Date {
  return new Date(new X509Certificate(certPem).validTo);
}
