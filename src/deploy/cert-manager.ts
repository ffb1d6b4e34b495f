// Optional TLS through cert-manager, as brupop did it (a self-signed CA, then the API server's serving certificate
// and the certificate whose ca.crt the agents trust), with its faults fixed: the CRD's CA injection names the
// Certificate that exists (see cluster-objects.ts), and the serving names are the Service's, in the configured
// cluster domain, rather than wildcards under `cluster.local`.
import { COMPONENT } from "../api/index.ts";
import { componentLabels } from "./labels.ts";
import { NAMES } from "./names.ts";
import type { ManifestObject } from "./object.ts";
import type { DeployOptions } from "./options.ts";

const API_VERSION = "cert-manager.io/v1";
// ECDSA P-256 in PKCS#8, like the built-in mode's certificates (src/pki).
const PRIVATE_KEY = { algorithm: "ECDSA", size: 256, encoding: "PKCS8", rotationPolicy: "Always" } as const;

export function certManagerObjects(options: DeployOptions): ManifestObject[] {
  const labels = componentLabels(COMPONENT.apiserver);
  const meta = (name: string) => ({ name, namespace: options.namespace, labels });
  const service = `${NAMES.apiserverService}.${options.namespace}.svc`;
  const issuerRef = { name: NAMES.caIssuer, kind: "Issuer", group: "cert-manager.io" };
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
        issuerRef: { name: NAMES.selfSignedIssuer, kind: "Issuer", group: "cert-manager.io" },
      },
    },
    {
      apiVersion: API_VERSION,
      kind: "Issuer",
      metadata: meta(NAMES.caIssuer),
      spec: { ca: { secretName: NAMES.caSecret } },
    },
    {
      apiVersion: API_VERSION,
      kind: "Certificate",
      metadata: meta(NAMES.apiserverCertificateSecret),
      spec: {
        secretName: NAMES.apiserverCertificateSecret,
        dnsNames: [service, `${service}.${options.clusterDomain}`],
        usages: ["server auth", "key encipherment", "digital signature"],
        privateKey: PRIVATE_KEY,
        issuerRef,
      },
    },
    {
      // The agents mount only this Secret's ca.crt (to verify the API server); the key pair itself is unused.
      apiVersion: API_VERSION,
      kind: "Certificate",
      metadata: meta(NAMES.agentCaSecret),
      spec: {
        secretName: NAMES.agentCaSecret,
        commonName: "brupop-agent",
        usages: ["client auth", "key encipherment", "digital signature"],
        privateKey: PRIVATE_KEY,
        issuerRef,
      },
    },
  ];
}
