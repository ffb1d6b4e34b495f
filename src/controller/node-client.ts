// The controller's writes to a Node: giving back a stuck node that the operator's drain cordoned and whose agent did
// not come back to uncordon it (src/core/standing.ts), and the do-not-disrupt annotations of a node it disrupts
// (src/core/do-not-disrupt.ts). Each is conditional on the Node's resourceVersion, so a node that changed since the
// decision (a new drain, an uncordon or an annotation by someone else) is decided again, not overwritten.
import type { V1Node } from "@kubernetes/client-node";
import { ANNOTATION_DRAIN } from "../api/constants.ts";
import type { AnnotationPatch } from "../core/model.ts";
import type { KubeClient } from "../kube/client.ts";
import { isNotFound } from "../kube/errors.ts";

const FIELD_MANAGER = { fieldManager: "brupop-controller" };

export class NodeClient {
  readonly #client: KubeClient;

  constructor(client: KubeClient) {
    this.#client = client;
  }

  /** A fresh read (not the cache); undefined when the Node does not exist. */
  async read(name: string): Promise<V1Node | undefined> {
    try {
      return await this.#client.get<V1Node>(`/api/v1/nodes/${name}`);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Uncordons the node and removes the drain's annotation, only if it is still at `resourceVersion` (409 else). */
  async release(name: string, resourceVersion: string): Promise<void> {
    await this.#client.patch(
      `/api/v1/nodes/${name}`,
      "merge",
      { metadata: { resourceVersion, annotations: { [ANNOTATION_DRAIN]: null } }, spec: { unschedulable: false } },
      { query: FIELD_MANAGER },
    );
  }

  /** Sets (a string) or removes (null) these annotations and no others, only if the Node is still at `resourceVersion`. */
  async annotate(name: string, resourceVersion: string, annotations: AnnotationPatch): Promise<void> {
    await this.#client.patch(
      `/api/v1/nodes/${name}`,
      "merge",
      { metadata: { resourceVersion, annotations } },
      { query: FIELD_MANAGER },
    );
  }
}
