// The controller's one write to a Node: giving back a stuck node that the operator's drain cordoned and whose
// agent did not come back to uncordon it (src/core/standing.ts). Conditional on the Node's resourceVersion, so a
// node that changed since the decision (a new drain, an uncordon by someone else) is decided again, not overwritten.
import { CoreV1Api, PatchStrategy, setHeaderOptions, type KubeConfig } from "@kubernetes/client-node";
import { ANNOTATION_DRAIN } from "../api/constants.ts";
import { isNotFound } from "../kube/errors.ts";

const MERGE_PATCH = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
const FIELD_MANAGER = "brupop-controller";

export class NodeClient {
  readonly #core: CoreV1Api;

  constructor(kc: KubeConfig) {
    this.#core = kc.makeApiClient(CoreV1Api);
  }

  /** A fresh read (not the cache); undefined when the Node does not exist. */
  async read(name: string) {
    try {
      return await this.#core.readNode({ name });
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  /** Uncordons the node and removes the drain's annotation, only if it is still at `resourceVersion` (409 else). */
  async release(name: string, resourceVersion: string): Promise<void> {
    await this.#core.patchNode(
      {
        name,
        body: {
          metadata: { resourceVersion, annotations: { [ANNOTATION_DRAIN]: null } },
          spec: { unschedulable: false },
        },
        fieldManager: FIELD_MANAGER,
      },
      MERGE_PATCH,
    );
  }
}
