// Object names of an installation. Most are brupop 1.4's (docs/design/brupop-compatibility.md#names-and-labels) so that
// `kubectl apply` over a brupop install updates objects in place instead of leaving orphans; the new ones are marked.
import { APISERVER_SERVICE_NAME, COMPONENT, type Component } from "../api/index.ts";

export const SERVICE_ACCOUNT: Readonly<Record<Component, string>> = {
  [COMPONENT.agent]: "brupop-agent-service-account",
  [COMPONENT.apiserver]: "brupop-apiserver-service-account",
  [COMPONENT.controller]: "brupop-controller-service-account",
};

export const CLUSTER_ROLE: Readonly<Record<Component, string>> = {
  [COMPONENT.agent]: "brupop-agent-role",
  [COMPONENT.apiserver]: "brupop-apiserver-role",
  [COMPONENT.controller]: "brupop-controller-role",
};

export const NAMES = Object.freeze({
  agentDaemonSet: "brupop-agent",
  apiserverDeployment: "brupop-apiserver",
  controllerDeployment: "brupop-controller-deployment",
  apiserverService: APISERVER_SERVICE_NAME,
  controllerService: "brupop-controller-server",
  /** New: brupop had no PodDisruptionBudget for the API server (docs/design/brupop-compatibility.md#installation). */
  apiserverPdb: "brupop-apiserver",
  /** Built-in TLS: the CA's certificate and key (the API server's own; never mounted). */
  apiserverCaSecret: "brupop-apiserver-ca",
  /** Serving certificate (tls.crt, tls.key, ca.crt) mounted by the API server. */
  apiserverCertificateSecret: "brupop-apiserver-certificate",
  /** CA (ca.crt) mounted by the agents; the name brupop's cert-manager Certificate gave it. */
  agentCaSecret: "brupop-apiserver-client-certificate",
  /** New: namespaced Roles for what brupop granted cluster-wide or not at all. */
  agentRole: "brupop-agent-role",
  apiserverRole: "brupop-apiserver-role",
  controllerRole: "brupop-controller-role",
  apiserverAuthDelegatorBinding: "brupop-apiserver-auth-delegator-role-binding",
  /** New: the controller's leader-election Lease (in the operator namespace). */
  controllerLease: "brupop-controller-leader",
  /** New: what the fleet has used up, shared by the controller's replicas (src/controller/fleet-state.ts). */
  controllerState: "brupop-controller-state",
  // cert-manager objects (brupop's names).
  selfSignedIssuer: "selfsigned-issuer",
  caCertificate: "brupop-selfsigned-ca",
  caSecret: "brupop-root-ca-secret",
  caIssuer: "brupop-root-certificate-issuer",
});

export const roleBindingName = (role: string): string => `${role}-binding`;
