// The controller's writes to BottlerocketShadows and to the policy status. Every spec write carries the
// resourceVersion the decision was made from: a JSON merge patch with metadata.resourceVersion is a precondition, so
// the API server answers 409 if anyone (an agent, another replica) changed the object since, and the caller requeues
// and decides again from the newer state.
import { CustomObjectsApi, PatchStrategy, setHeaderOptions, type KubeConfig } from "@kubernetes/client-node";
import { API_GROUP, PLURAL, VERSION_V2 } from "../api/constants.ts";
import type { BottlerocketShadow, Condition } from "../api/bottlerocket-shadow.ts";
import {
  UPDATE_POLICY_PLURAL,
  UPDATE_POLICY_VERSION,
  type BottlerocketUpdatePolicy,
  type UpdatePolicyStatus,
} from "../api/update-policy.ts";
import type { AnnotationPatch, ShadowSpec } from "../core/model.ts";
import { trimForCache } from "../kube/informer.ts";

/** Shadows per page of the consistent read. */
const LIST_PAGE_SIZE = 250;
const MERGE_PATCH = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);
const FIELD_MANAGER = "brupop-controller";

export interface ShadowWrite {
  name: string;
  /** The resourceVersion the decision was made from. */
  resourceVersion: string;
  spec: ShadowSpec;
  annotations: AnnotationPatch;
}

export class ShadowClient {
  readonly #api: CustomObjectsApi;
  readonly #namespace: string;

  readonly #pageSize: number;

  constructor(kc: KubeConfig, namespace: string, options: { pageSize?: number } = {}) {
    this.#api = kc.makeApiClient(CustomObjectsApi);
    this.#namespace = namespace;
    this.#pageSize = options.pageSize ?? LIST_PAGE_SIZE;
  }

  /**
   * A consistent read of every shadow (a quorum list, not a cache): what fleet decisions that grant budget use.
   * Read in pages, all of one snapshot (each continuation reads at the first page's resourceVersion), and each
   * page trimmed as it arrives, so a 1,000-node fleet's list is never held whole with its managedFields. (It did
   * not lower the controller's rollout peak, which lies outside the JavaScript heap: docs/design/footprint.md.)
   */
  async list(): Promise<BottlerocketShadow[]> {
    const items: BottlerocketShadow[] = [];
    let next: string | undefined;
    do {
      const page = (await this.#api.listNamespacedCustomObject({
        group: API_GROUP,
        version: VERSION_V2,
        namespace: this.#namespace,
        plural: PLURAL,
        limit: this.#pageSize,
        ...(next === undefined ? {} : { _continue: next }),
      })) as { items: BottlerocketShadow[]; metadata?: { _continue?: string; continue?: string } };
      for (const item of page.items) items.push(trimForCache(item));
      const token = page.metadata?.continue ?? page.metadata?._continue;
      next = token === undefined || token === "" ? undefined : token;
    } while (next !== undefined);
    return items;
  }

  /** Writes spec and annotations; throws the API error (409 when the object changed since `resourceVersion`). */
  async writeSpec(write: ShadowWrite): Promise<BottlerocketShadow> {
    const body = {
      metadata: { resourceVersion: write.resourceVersion, annotations: write.annotations },
      // All three keys always, so a merge patch cannot leave a stale version or timestamp behind.
      spec: {
        state: write.spec.state,
        version: write.spec.version,
        state_transition_timestamp: write.spec.state_transition_timestamp,
      },
    };
    return (await this.#api.patchNamespacedCustomObject(
      {
        group: API_GROUP,
        version: VERSION_V2,
        namespace: this.#namespace,
        plural: PLURAL,
        name: write.name,
        body,
        fieldManager: FIELD_MANAGER,
      },
      MERGE_PATCH,
    )) as BottlerocketShadow;
  }

  /**
   * Writes the shadow's status.conditions (a merge patch of the status subresource: the agent's fields stay as they
   * are), conditional on `resourceVersion`.
   */
  async writeConditions(name: string, resourceVersion: string, conditions: Condition[]): Promise<void> {
    await this.#api.patchNamespacedCustomObjectStatus(
      {
        group: API_GROUP,
        version: VERSION_V2,
        namespace: this.#namespace,
        plural: PLURAL,
        name,
        body: { metadata: { resourceVersion }, status: { conditions } },
        fieldManager: FIELD_MANAGER,
      },
      MERGE_PATCH,
    );
  }

  /** Deletes a shadow, only if it is still the object `uid` (not one recreated meanwhile). */
  async delete(name: string, uid: string): Promise<void> {
    await this.#api.deleteNamespacedCustomObject({
      group: API_GROUP,
      version: VERSION_V2,
      namespace: this.#namespace,
      plural: PLURAL,
      name,
      body: { preconditions: { uid } },
    });
  }

  /**
   * Replaces the policy's status (PUT on the status subresource, with the resourceVersion of `policy`, so stale
   * keys disappear and a concurrent change gives 409).
   */
  async writePolicyStatus(policy: BottlerocketUpdatePolicy, status: UpdatePolicyStatus): Promise<void> {
    await this.#api.replaceNamespacedCustomObjectStatus({
      group: API_GROUP,
      version: UPDATE_POLICY_VERSION,
      namespace: this.#namespace,
      plural: UPDATE_POLICY_PLURAL,
      name: policy.metadata.name ?? "",
      body: { ...policy, status },
      fieldManager: FIELD_MANAGER,
    });
  }
}
