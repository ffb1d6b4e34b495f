// cert-manager's Issuers and Certificates for the API server's TLS (`tls: cert-manager`), in brupop's shapes: the same
// names, key algorithm and encoding, DNS names and usages, so that applying them over a brupop installation changes
// nothing cert-manager would re-issue for, and switching back finds them as brupop left them. The one fix is where
// the CRD's CA injection points (cluster-objects.ts).
import { COMPONENT } from "../api/index.ts";
import { componentLabels } from "./labels.ts";
import { NAMES } from "./names.ts";
import type { ManifestObject } from "./object.ts";
import type { DeployOptions } from "./options.ts";

const API_VERSION = "cert-manager.io/v1";
const PRIVATE_KEY = { algorithm: "RSA", encoding: "PKCS8" } as const;

export function certManagerObjects(options: DeployOptions): ManifestObject[] {
  const labels = componentLabels(COMPONENT.apiserver);
  const meta = (name: string) => ({ name, namespace: options.namespace, labels });
  // Every Service of the namespace, as brupop's: the agents reach brupop-apiserver.<ns>.svc[.<domain>].
  const dnsNames = [`*.${options.namespace}.svc.${options.clusterDomain}`, `*.${options.namespace}.svc`];
  const issuerRef = { name: NAMES.caIssuer, kind: "Issuer" };
  const leaf = (secretName: string, usage: "server auth" | "client auth"): ManifestObject => ({
    apiVersion: API_VERSION,
    kind: "Certificate",
    metadata: meta(secretName),
    spec: {
      secretName,
      privateKey: PRIVATE_KEY,
      dnsNames,
      usages: [usage, "key encipherment", "digital signature"],
      issuerRef,
    },
  });
  return [
    { apiVersion: API_VERSION, kind: "Issuer", metadata: meta(NAMES.selfSignedIssuer), spec: { selfSigned: {} } },
    {
      apiVersion: API_VERSION,
      kind: "Certificate",
      metadata: meta(NAMES.caCertificate),
      spec: {
        isCA: true,
        commonName: NAMES.caCertificate,
        secretName: NAMES.caSecret,
        privateKey: PRIVATE_KEY,
        issuerRef: { name: NAMES.selfSignedIssuer, kind: "Issuer" },
      },
    },
    {
      apiVersion: API_VERSION,
      kind: "Issuer",
      metadata: meta(NAMES.caIssuer),
      spec: { ca: { secretName: NAMES.caSecret } },
    },
    // The agents mount only the client certificate Secret's ca.crt, to verify the API server.
    leaf(NAMES.agentCaSecret, "client auth"),
    leaf(NAMES.apiserverCertificateSecret, "server auth"),
  ];
}
