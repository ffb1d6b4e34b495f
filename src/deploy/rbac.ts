// ServiceAccounts and least-privilege RBAC. What each component may do, and why; cluster-wide rules only for
// cluster-scoped resources (Nodes, the CRD) or work that spans namespaces (draining pods, Node Events). Everything
// else is a Role in the operator namespace (brupop granted BottlerocketShadow access cluster-wide).
import type {
  V1ClusterRole,
  V1ClusterRoleBinding,
  V1PolicyRule,
  V1Role,
  V1RoleBinding,
  V1ServiceAccount,
} from "@kubernetes/client-node";
import {
  API_GROUP,
  COMPONENT,
  CRD_NAME,
  PLURAL,
  STATUS_SUBRESOURCE,
  UPDATE_POLICY_PLURAL,
  type Component,
} from "../api/index.ts";
import { componentLabels } from "./labels.ts";
import { CLUSTER_ROLE, NAMES, SERVICE_ACCOUNT, roleBindingName } from "./names.ts";
import type { DeployOptions } from "./options.ts";

const READ = ["get", "list", "watch"];

export interface ComponentRules {
  readonly cluster: readonly V1PolicyRule[];
  readonly namespaced: readonly V1PolicyRule[];
}

export function agentRules(): ComponentRules {
  return {
    // Its own Node (field-selected watch); RBAC cannot narrow a ServiceAccount to "its" node by name.
    cluster: [{ apiGroups: [""], resources: ["nodes"], verbs: READ }],
    // Its own brs; every write goes through the API server, which checks the caller's token.
    namespaced: [{ apiGroups: [API_GROUP], resources: [PLURAL], verbs: READ }],
  };
}

export function apiserverRules(options: DeployOptions): ComponentRules {
  const builtinTls = options.tls === "builtin";
  return {
    cluster: [
      // Agent pods (authorization) and the pods on a node being drained, in every namespace.
      { apiGroups: [""], resources: ["pods"], verbs: READ },
      { apiGroups: [""], resources: ["pods/eviction"], verbs: ["create"] },
      // A drain that times out names the PodDisruptionBudget that blocked it.
      { apiGroups: ["policy"], resources: ["poddisruptionbudgets"], verbs: ["list"] },
      // Node uid checks (a watched cache), cordon/uncordon and the load-balancer exclusion label.
      { apiGroups: [""], resources: ["nodes"], verbs: [...READ, "patch"] },
      // Built-in TLS: publish the CA in the conversion webhook's caBundle of our CRD, and no other.
      ...(builtinTls
        ? [
            {
              apiGroups: ["apiextensions.k8s.io"],
              resources: ["customresourcedefinitions"],
              resourceNames: [CRD_NAME],
              verbs: ["get", "patch"],
            },
          ]
        : []),
    ],
    namespaced: [
      // Creates an agent's brs and writes its status (with optimistic concurrency: read, then replace). `patch` is
      // brupop's API server's: while a switch replaces its replicas one by one, those still running write status
      // with a merge patch, under the same ServiceAccount.
      { apiGroups: [API_GROUP], resources: [PLURAL], verbs: ["create", "get"] },
      { apiGroups: [API_GROUP], resources: [STATUS_SUBRESOURCE], verbs: ["get", "update", "patch"] },
      // Built-in TLS: the CA, the serving certificate and the agents' copy of the CA live in Secrets it creates and
      // rotates; on a cluster switched from brupop it adopts brupop's cert-manager CA (read only).
      // (create cannot be narrowed by name; get/update are.)
      ...(builtinTls
        ? [
            { apiGroups: [""], resources: ["secrets"], verbs: ["create"] },
            {
              apiGroups: [""],
              resources: ["secrets"],
              resourceNames: [NAMES.apiserverCaSecret, NAMES.apiserverCertificateSecret, NAMES.agentCaSecret],
              verbs: ["get", "update"],
            },
            { apiGroups: [""], resources: ["secrets"], resourceNames: [NAMES.caSecret], verbs: ["get"] },
          ]
        : []),
    ],
  };
}

export function controllerRules(): ComponentRules {
  return {
    cluster: [
      // Patching Nodes: uncordoning a stuck node that the operator's drain cordoned (its agent did not come back),
      // the do-not-disrupt annotations of a node it updates (Karpenter, cluster-autoscaler), and labelling nodes
      // when it does that itself (AUTO_LABEL_NODES, a label patch like the uncordon).
      { apiGroups: [""], resources: ["nodes"], verbs: [...READ, "patch"] },
      // Events about Nodes are recorded in the "default" namespace, so Event writes cannot be namespaced.
      { apiGroups: [""], resources: ["events"], verbs: ["create"] },
      // Health gates after the reboot: the pods on a node (DaemonSet pods, a gate's selected pods), in any namespace.
      { apiGroups: [""], resources: ["pods"], verbs: ["list"] },
    ],
    namespaced: [
      // Writes specs (patch), deletes the brs of nodes that lost their label; the agents' API server creates them.
      { apiGroups: [API_GROUP], resources: [PLURAL], verbs: [...READ, "patch", "delete"] },
      // status.conditions only (a merge patch): the Stuck condition. The rest of the status is the agents'.
      { apiGroups: [API_GROUP], resources: [`${PLURAL}/status`], verbs: ["patch"] },
      { apiGroups: [API_GROUP], resources: [UPDATE_POLICY_PLURAL], verbs: READ },
      { apiGroups: [API_GROUP], resources: [`${UPDATE_POLICY_PLURAL}/status`], verbs: ["get", "update"] },
      // Leader election: one Lease, by name (create cannot be narrowed by name).
      { apiGroups: ["coordination.k8s.io"], resources: ["leases"], verbs: ["create"] },
      {
        apiGroups: ["coordination.k8s.io"],
        resources: ["leases"],
        resourceNames: [NAMES.controllerLease],
        // list and watch: a standby watches the Lease (by name: a metadata.name field selector is authorized as
        // the named object) instead of reading it every retry period.
        verbs: ["get", "update", "list", "watch"],
      },
      // Job health gates: one Job per node and attempt, found by name or created (create cannot be narrowed by
      // name). Kubernetes deletes them (ttlSecondsAfterFinished, and with their shadow): no delete here.
      { apiGroups: ["batch"], resources: ["jobs"], verbs: ["create", "get"] },
      // What the fleet has used up (a one-shot schedule's consumed trigger), shared by every replica.
      { apiGroups: [""], resources: ["configmaps"], verbs: ["create"] },
      {
        apiGroups: [""],
        resources: ["configmaps"],
        resourceNames: [NAMES.controllerState],
        verbs: ["get", "update"],
      },
    ],
  };
}

const NAMESPACED_ROLE: Readonly<Record<Component, string>> = {
  [COMPONENT.agent]: NAMES.agentRole,
  [COMPONENT.apiserver]: NAMES.apiserverRole,
  [COMPONENT.controller]: NAMES.controllerRole,
};

export function serviceAccount(component: Component, options: DeployOptions): V1ServiceAccount {
  const name = SERVICE_ACCOUNT[component];
  return {
    apiVersion: "v1",
    kind: "ServiceAccount",
    metadata: {
      name,
      namespace: options.namespace,
      labels: componentLabels(component),
      annotations: { "kubernetes.io/service-account.name": name },
    },
  };
}

/** ClusterRole, ClusterRoleBinding, Role and RoleBinding of one component (empty rule sets are left out). */
export function componentRbac(
  component: Component,
  rules: ComponentRules,
  options: DeployOptions,
): (V1ClusterRole | V1ClusterRoleBinding | V1Role | V1RoleBinding)[] {
  const labels = componentLabels(component);
  const subject = { kind: "ServiceAccount", name: SERVICE_ACCOUNT[component], namespace: options.namespace };
  const objects: (V1ClusterRole | V1ClusterRoleBinding | V1Role | V1RoleBinding)[] = [];
  if (rules.cluster.length > 0) {
    const name = CLUSTER_ROLE[component];
    objects.push(
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRole",
        metadata: { name, labels },
        rules: [...rules.cluster],
      },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "ClusterRoleBinding",
        metadata: { name: roleBindingName(name), labels },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name },
        subjects: [subject],
      },
    );
  }
  if (rules.namespaced.length > 0) {
    const name = NAMESPACED_ROLE[component];
    const metadata = { name, namespace: options.namespace, labels };
    objects.push(
      { apiVersion: "rbac.authorization.k8s.io/v1", kind: "Role", metadata, rules: [...rules.namespaced] },
      {
        apiVersion: "rbac.authorization.k8s.io/v1",
        kind: "RoleBinding",
        metadata: { ...metadata, name: roleBindingName(name) },
        roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "Role", name },
        subjects: [subject],
      },
    );
  }
  return objects;
}

/** TokenReview (and SubjectAccessReview) for the API server, through the built-in ClusterRole made for it. */
export function apiserverAuthDelegatorBinding(options: DeployOptions): V1ClusterRoleBinding {
  return {
    apiVersion: "rbac.authorization.k8s.io/v1",
    kind: "ClusterRoleBinding",
    metadata: { name: NAMES.apiserverAuthDelegatorBinding, labels: componentLabels(COMPONENT.apiserver) },
    roleRef: { apiGroup: "rbac.authorization.k8s.io", kind: "ClusterRole", name: "system:auth-delegator" },
    subjects: [{ kind: "ServiceAccount", name: SERVICE_ACCOUNT[COMPONENT.apiserver], namespace: options.namespace }],
  };
}
