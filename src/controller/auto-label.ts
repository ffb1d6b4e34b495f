// Automatic node labelling (off by default; AUTO_LABEL_NODES=true): watches the Nodes that do not carry the
// updater-interface label and labels those whose kubelet reports a Bottlerocket OS image, unless the node opted out
// (annotation brupop.bottlerocket.aws/auto-label=false). Which nodes: src/core/auto-label.ts. Here only the I/O.
//
// Labels are written with a merge patch, which is idempotent: a standby replica or `brupop label` labelling the same
// node at the same time cannot conflict. A labelled node leaves the watched selection, so the cache stays small.
import type { V1Node } from "@kubernetes/client-node";
import { LABEL_UPDATER_INTERFACE_VERSION, UPDATER_INTERFACE_VERSION } from "../api/constants.ts";
import { autoLabelEnabled, decideLabel, labelPatch, type LabelCandidate } from "../core/auto-label.ts";
import type { KubeClient } from "../kube/client.ts";
import { SupervisedInformer } from "../kube/informer.ts";
import { apiMessage, isNotFound } from "../kube/errors.ts";
import { ConfigError } from "./config.ts";
import type { EventRecorder } from "./events.ts";

export interface AutoLabellerOptions {
  client: KubeClient;
  log: { info(message: string): void; warn(message: string): void };
  /** When given, each label written is explained by a Normal Event `NodeLabelled` on the Node. */
  events?: EventRecorder;
  /**
   * The controller's MANAGED_NODE_SELECTOR (config.extraNodeSelector): only nodes it would manage are labelled, so a
   * controller for one node pool does not label (and put agents on) the nodes of another.
   */
  nodeSelector?: string | null;
}

export interface AutoLabeller {
  /** Resolves once the first list of unlabelled nodes was seen (and its labels were requested). */
  readonly started: Promise<void>;
  stop(): Promise<void>;
}

export function toLabelCandidate(node: V1Node): LabelCandidate | undefined {
  const name = node.metadata?.name;
  if (name === undefined) return undefined;
  return {
    name,
    labels: node.metadata?.labels ?? {},
    annotations: node.metadata?.annotations ?? {},
    osImage: node.status?.nodeInfo?.osImage,
  };
}

/** Starts labelling; call `stop()` on shutdown. Failed patches are retried on the node's next change or resync. */
export function startAutoLabeller(options: AutoLabellerOptions): AutoLabeller {
  const unlabelled = `!${LABEL_UPDATER_INTERFACE_VERSION}`;
  const selector = options.nodeSelector ? `${unlabelled},${options.nodeSelector}` : unlabelled;
  // One patch in flight per node: a burst of status updates from one kubelet must not become a burst of patches.
  const inFlight = new Set<string>();

  const label = async (node: V1Node): Promise<void> => {
    const candidate = toLabelCandidate(node);
    if (candidate === undefined || inFlight.has(candidate.name) || !decideLabel(candidate).label) return;
    inFlight.add(candidate.name);
    try {
      await options.client.patch(`/api/v1/nodes/${candidate.name}`, "merge", labelPatch());
      options.log.info(
        `labelled node ${candidate.name} ${LABEL_UPDATER_INTERFACE_VERSION}=${UPDATER_INTERFACE_VERSION} (${candidate.osImage ?? ""})`,
      );
      options.events?.record([{ kind: "Node", apiVersion: "v1", name: candidate.name, ...uid(node) }], {
        type: "Normal",
        reason: "NodeLabelled",
        action: "Label",
        message:
          `labelled ${LABEL_UPDATER_INTERFACE_VERSION}=${UPDATER_INTERFACE_VERSION}: the OS image is ` +
          `"${candidate.osImage ?? ""}" and AUTO_LABEL_NODES is on; opt out with annotation ` +
          `brupop.bottlerocket.aws/auto-label=false`,
      });
    } catch (err) {
      if (!isNotFound(err)) options.log.warn(`labelling node ${candidate.name}: ${apiMessage(err)}`);
    } finally {
      inFlight.delete(candidate.name);
    }
  };

  const informer: SupervisedInformer<V1Node> = new SupervisedInformer<V1Node>({
    name: "unlabelled-nodes",
    client: options.client,
    path: "/api/v1/nodes",
    labelSelector: selector,
    onChange: (kind, node) => {
      if (kind !== "delete") void label(node);
    },
    onError: (err, retryInMs) =>
      options.log.warn(`unlabelled-node watch failed (${apiMessage(err)}); restarting in ${retryInMs} ms`),
  });

  // The initial list arrives as "add" events too, so every existing node is considered once at start.
  const started = informer.start();
  return {
    started,
    stop: () => informer.stop(),
  };
}

function uid(node: V1Node): { uid?: string } {
  return node.metadata?.uid === undefined ? {} : { uid: node.metadata.uid };
}

/**
 * The controller's switch: starts labelling when AUTO_LABEL_NODES=true, returns null when it is off (the default),
 * and throws a ConfigError naming the variable for any other value. Standby replicas label too: merge patches of the
 * same label are idempotent, and labelling does not need the lease.
 */
export function autoLabellerFromEnv(
  env: Readonly<Record<string, string | undefined>>,
  options: AutoLabellerOptions,
): AutoLabeller | null {
  const setting = autoLabelEnabled(env);
  if (!setting.ok) throw new ConfigError([setting.error]);
  if (!setting.enabled) return null;
  options.log.info("automatic node labelling is on (AUTO_LABEL_NODES=true)");
  return startAutoLabeller(options);
}
