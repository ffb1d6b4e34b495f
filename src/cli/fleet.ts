// Reads what the controller decides from: the BottlerocketShadows, the managed Nodes, the policy resource, and the
// controller Deployment's environment (its literal values), so that `brupop status` and `brupop explain` can run the
// controller's own pure decisions on the same inputs.
import {
  AppsV1Api,
  CoreV1Api,
  CustomObjectsApi,
  type KubeConfig,
  type V1Node,
  type V1Pod,
  type CoreV1Event,
} from "@kubernetes/client-node";
import { API_GROUP, COMPONENT, CRD_NAME, LABEL_COMPONENT, PLURAL, VERSION_V2, brsName } from "../api/constants.ts";
import { MANAGED_NODE_SELECTOR_ENV, managedNodeSelector } from "../core/model.ts";
import type { BottlerocketShadow } from "../api/bottlerocket-shadow.ts";
import type { BottlerocketUpdatePolicy } from "../api/update-policy.ts";
import {
  UPDATE_POLICY_CRD_NAME,
  UPDATE_POLICY_NAME,
  UPDATE_POLICY_PLURAL,
  UPDATE_POLICY_VERSION,
} from "../api/update-policy-names.ts";
import { NAMES } from "../deploy/names.ts";
import { isNotFound, statusCode } from "../kube/errors.ts";
import { CliError, crdMissing, describeKubeError } from "./kube.ts";

export interface ControllerSettings {
  /** Literal env values of the controller container; values from fieldRefs or Secrets cannot be read here. */
  env: Record<string, string>;
  /** Whether the controller Deployment was read: without it, environment settings are taken as unset. */
  found: "deployment" | "missing" | "unreadable";
}

export interface FleetSnapshot {
  namespace: string;
  shadows: BottlerocketShadow[];
  /** The nodes the controller watches: labelled, and matching its MANAGED_NODE_SELECTOR and the user's selector. */
  nodes: V1Node[];
  /** The policy singleton; null when absent, undefined when its CRD is not installed. */
  policy: BottlerocketUpdatePolicy | null | undefined;
  controller: ControllerSettings;
  /** The label selector the nodes were listed with. */
  nodeSelector: string;
}

/** 429s (e.g. "storage is (re)initializing" right after a CRD is installed) are retried, as client-go does. */
const TOO_MANY_REQUESTS_RETRIES = 5;

async function retryThrottled<T>(call: () => Promise<T>): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await call();
    } catch (err) {
      if (statusCode(err) !== 429 || attempt >= TOO_MANY_REQUESTS_RETRIES) throw err;
      const headers = (err as { headers?: Record<string, string> }).headers ?? {};
      const seconds = Number(headers["retry-after"] ?? "1");
      const delay = Math.min(Number.isFinite(seconds) && seconds > 0 ? seconds : 1, 5) * 1000;
      await new Promise((resolve) => setTimeout(resolve, delay));
    }
  }
}

export class FleetReader {
  readonly #kc: KubeConfig;
  readonly #namespace: string;
  readonly #custom: CustomObjectsApi;
  readonly #core: CoreV1Api;
  readonly #apps: AppsV1Api;

  constructor(kc: KubeConfig, namespace: string) {
    this.#kc = kc;
    this.#namespace = namespace;
    this.#custom = kc.makeApiClient(CustomObjectsApi);
    this.#core = kc.makeApiClient(CoreV1Api);
    this.#apps = kc.makeApiClient(AppsV1Api);
  }

  get server(): string | undefined {
    return this.#kc.getCurrentCluster()?.server;
  }

  #fail(err: unknown, doing: string): never {
    throw new CliError(describeKubeError(err, doing, this.server));
  }

  /** One snapshot of the fleet. `selector` narrows the nodes further, as MANAGED_NODE_SELECTOR does. */
  async read(selector?: string): Promise<FleetSnapshot> {
    const controller = await this.controllerSettings();
    const extra = [controller.env[MANAGED_NODE_SELECTOR_ENV]?.trim(), selector?.trim()]
      .filter((s): s is string => s !== undefined && s !== "")
      .join(",");
    const nodeSelector = managedNodeSelector(extra === "" ? null : extra);
    const [shadows, nodes, policy] = await Promise.all([
      this.shadows(),
      this.#core
        .listNode({ labelSelector: nodeSelector })
        .then((list) => list.items)
        .catch((err: unknown) => this.#fail(err, "listing nodes")),
      this.policy(),
    ]);
    return { namespace: this.#namespace, shadows, nodes, policy, controller, nodeSelector };
  }

  async shadows(): Promise<BottlerocketShadow[]> {
    try {
      const list = (await retryThrottled(() =>
        this.#custom.listNamespacedCustomObject({
          group: API_GROUP,
          version: VERSION_V2,
          namespace: this.#namespace,
          plural: PLURAL,
        }),
      )) as { items: BottlerocketShadow[] };
      return list.items;
    } catch (err) {
      if (isNotFound(err)) throw crdMissing("BottlerocketShadow", CRD_NAME);
      this.#fail(err, `listing BottlerocketShadows in ${this.#namespace}`);
    }
  }

  async shadow(nodeName: string): Promise<BottlerocketShadow | null> {
    try {
      return (await retryThrottled(() =>
        this.#custom.getNamespacedCustomObject({
          group: API_GROUP,
          version: VERSION_V2,
          namespace: this.#namespace,
          plural: PLURAL,
          name: brsName(nodeName),
        }),
      )) as BottlerocketShadow;
    } catch (err) {
      if (isNotFound(err)) return null;
      this.#fail(err, `reading ${brsName(nodeName)}`);
    }
  }

  /** The policy singleton; null when absent; undefined when its CRD is not installed. */
  async policy(): Promise<BottlerocketUpdatePolicy | null | undefined> {
    try {
      const list = (await retryThrottled(() =>
        this.#custom.listNamespacedCustomObject({
          group: API_GROUP,
          version: UPDATE_POLICY_VERSION,
          namespace: this.#namespace,
          plural: UPDATE_POLICY_PLURAL,
          fieldSelector: `metadata.name=${UPDATE_POLICY_NAME}`,
        }),
      )) as { items: BottlerocketUpdatePolicy[] };
      return list.items[0] ?? null;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      this.#fail(err, `reading the ${UPDATE_POLICY_CRD_NAME} policy`);
    }
  }

  async controllerSettings(): Promise<ControllerSettings> {
    try {
      const deployment = await this.#apps.readNamespacedDeployment({
        name: NAMES.controllerDeployment,
        namespace: this.#namespace,
      });
      const containers = deployment.spec?.template.spec?.containers ?? [];
      const container = containers.find((c) => c.name === "brupop") ?? containers[0];
      const env: Record<string, string> = {};
      for (const entry of container?.env ?? []) if (entry.value !== undefined) env[entry.name] = entry.value;
      return { env, found: "deployment" };
    } catch (err) {
      if (isNotFound(err)) return { env: {}, found: "missing" };
      if (statusCode(err) === 403) return { env: {}, found: "unreadable" };
      this.#fail(err, `reading Deployment ${NAMES.controllerDeployment}`);
    }
  }

  /**
   * The node the leading controller runs on (selection starts it last: src/core/order.ts): the Lease's holder, a pod
   * of the controller Deployment, and that pod's node. Null when it cannot be told (no leader, no access).
   */
  async controllerNode(settings: ControllerSettings): Promise<string | null> {
    try {
      const { CoordinationV1Api } = await import("@kubernetes/client-node");
      const lease = await this.#kc.makeApiClient(CoordinationV1Api).readNamespacedLease({
        name: settings.env.LEADER_ELECTION_LEASE_NAME ?? NAMES.controllerLease,
        namespace: this.#namespace,
      });
      const holder = lease.spec?.holderIdentity;
      if (holder === undefined || holder === "") return null;
      const pod = await this.#core.readNamespacedPod({ name: holder, namespace: this.#namespace });
      return pod.spec?.nodeName ?? null;
    } catch {
      return null;
    }
  }

  /** Namespaces holding the controller Deployment; undefined when they cannot be listed (RBAC). */
  async operatorNamespaces(): Promise<string[] | undefined> {
    try {
      const list = await this.#apps.listDeploymentForAllNamespaces({
        fieldSelector: `metadata.name=${NAMES.controllerDeployment}`,
      });
      return list.items.map((d) => d.metadata?.namespace ?? "").filter((ns) => ns !== "");
    } catch {
      return undefined;
    }
  }

  /**
   * Fails when the namespace holds no operator at all (no controller Deployment and no BottlerocketShadows): most
   * likely the wrong `-n`. Says where the operator runs, when that can be found out.
   */
  async requireOperator(snapshot: FleetSnapshot): Promise<void> {
    if (snapshot.controller.found !== "missing" || snapshot.shadows.length > 0) return;
    const found = (await this.operatorNamespaces())?.filter((ns) => ns !== this.#namespace);
    const hint =
      found === undefined
        ? "pass the operator's namespace with -n"
        : found.length > 0
          ? `the operator runs in ${found.join(", ")}: use -n ${found[0] ?? ""}`
          : "no namespace has it: is the operator installed? (brupop manifests | kubectl apply -f -)";
    throw new CliError(
      `no operator in namespace ${this.#namespace} (no Deployment ${NAMES.controllerDeployment}, no BottlerocketShadows); ${hint}`,
    );
  }

  async node(name: string): Promise<V1Node | null> {
    try {
      return await this.#core.readNode({ name });
    } catch (err) {
      if (isNotFound(err)) return null;
      this.#fail(err, `reading node ${name}`);
    }
  }

  /** The agent pods on a node; undefined when they cannot be listed (RBAC). */
  async agentPods(nodeName: string): Promise<V1Pod[] | undefined> {
    try {
      const list = await this.#core.listNamespacedPod({
        namespace: this.#namespace,
        labelSelector: `${LABEL_COMPONENT}=${COMPONENT.agent}`,
        fieldSelector: `spec.nodeName=${nodeName}`,
      });
      return list.items;
    } catch {
      return undefined;
    }
  }

  /**
   * Events about the node's shadow (in the operator namespace) and about the Node (Events on cluster-scoped objects
   * live in "default"), oldest first. Events the user may not read are left out rather than failing the command.
   */
  async events(nodeName: string): Promise<CoreV1Event[]> {
    const lists = await Promise.allSettled([
      this.#core.listNamespacedEvent({
        namespace: this.#namespace,
        fieldSelector: `involvedObject.name=${brsName(nodeName)}`,
      }),
      this.#core.listNamespacedEvent({
        namespace: "default",
        fieldSelector: `involvedObject.kind=Node,involvedObject.name=${nodeName}`,
      }),
    ]);
    return lists.flatMap((result) => (result.status === "fulfilled" ? result.value.items : []));
  }
}
