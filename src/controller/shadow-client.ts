// The controller's writes to BottlerocketShadows and to the policy status. Every spec write carries the
// resourceVersion the decision was made from: a JSON merge patch with metadata.resourceVersion is a precondition, so
// the API server answers 409 if anyone (an agent, another replica) changed the object since, and the caller requeues
// and decides again from the newer state.
import type { V1ObjectMeta } from "@kubernetes/client-node";
import type { KubeClient } from "../kube/client.ts";
import { API_GROUP, PLURAL, VERSION_V2 } from "../api/constants.ts";
import type { BottlerocketShadow, Condition } from "../api/bottlerocket-shadow.ts";
import type { BottlerocketUpdatePolicy, UpdatePolicyStatus } from "../api/update-policy.ts";
import { UPDATE_POLICY_PLURAL, UPDATE_POLICY_VERSION } from "../api/update-policy-names.ts";
import type { AnnotationPatch, ShadowSpec } from "../core/model.ts";
import { isNotFound } from "../kube/errors.ts";
import { trimForCache } from "../kube/informer.ts";

/** Shadows per page of the consistent read. */
const LIST_PAGE_SIZE = 250;
const FIELD_MANAGER = { fieldManager: "brupop-controller" };

export interface ShadowWrite {
  name: string;
  /** The resourceVersion the decision was made from. */
  resourceVersion: string;
  spec: ShadowSpec;
  annotations: AnnotationPatch;
}

export class ShadowClient {
  readonly #client: KubeClient;
  readonly #shadows: string;
  readonly #policies: string;
  readonly #pageSize: number;

  constructor(client: KubeClient, namespace: string, options: { pageSize?: number } = {}) {
    this.#client = client;
    this.#shadows = `/apis/${API_GROUP}/${VERSION_V2}/namespaces/${namespace}/${PLURAL}`;
    this.#policies = `/apis/${API_GROUP}/${UPDATE_POLICY_VERSION}/namespaces/${namespace}/${UPDATE_POLICY_PLURAL}`;
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
      const page = await this.#client.get<{ items: BottlerocketShadow[]; metadata?: { continue?: string } }>(
        this.#shadows,
        { query: { limit: this.#pageSize, continue: next } },
      );
      for (const item of page.items) items.push(trimForCache(item));
      const token = page.metadata?.continue;
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
    return this.#client.patch<BottlerocketShadow>(`${this.#shadows}/${write.name}`, "merge", body, {
      query: FIELD_MANAGER,
    });
  }

  /** The shadow as the API server holds it now (not the cache); undefined when it is gone. */
  async read(name: string): Promise<BottlerocketShadow | undefined> {
    try {
      return await this.#client.get<BottlerocketShadow>(`${this.#shadows}/${name}`);
    } catch (error) {
      if (isNotFound(error)) return undefined;
      throw error;
    }
  }

  /** Writes annotations only (a merge patch), conditional on `resourceVersion`. */
  async writeAnnotations(name: string, resourceVersion: string, annotations: AnnotationPatch): Promise<void> {
    await this.#client.patch(
      `${this.#shadows}/${name}`,
      "merge",
      { metadata: { resourceVersion, annotations } },
      { query: FIELD_MANAGER },
    );
  }

  /**
   * Writes the shadow's status.conditions (a merge patch of the status subresource: the agent's fields stay as they
   * are), conditional on `resourceVersion`.
   */
  async writeConditions(name: string, resourceVersion: string, conditions: Condition[]): Promise<BottlerocketShadow> {
    return this.#client.patch<BottlerocketShadow>(
      `${this.#shadows}/${name}/status`,
      "merge",
      { metadata: { resourceVersion }, status: { conditions } },
      { query: FIELD_MANAGER },
    );
  }

  /**
   * Writes status.conditions just after a spec write, onto the shadow that write returned: a JSON patch conditional on
   * that very spec (the object's uid and generation), not on the resourceVersion, so the agent's report of the spec,
   * which may land in between and touches no condition, does not make it fail. 422 when the spec moved on or
   * the shadow has no status yet (writeConditions makes one).
   */
  async writeConditionsAfter(
    written: { metadata: Pick<V1ObjectMeta, "name" | "uid" | "generation"> },
    conditions: Condition[],
  ): Promise<BottlerocketShadow> {
    const { name, uid, generation } = written.metadata;
    const operations = [
      { op: "test", path: "/metadata/uid", value: uid },
      { op: "test", path: "/metadata/generation", value: generation },
      { op: "add", path: "/status/conditions", value: conditions },
    ];
    return this.#client.patch<BottlerocketShadow>(`${this.#shadows}/${name ?? ""}/status`, "json", operations, {
      query: FIELD_MANAGER,
    });
  }

  /** Deletes a shadow, only if it is still the object `uid` (not one recreated meanwhile). */
  async delete(name: string, uid: string): Promise<void> {
    await this.#client.delete(`${this.#shadows}/${name}`, { preconditions: { uid } });
  }

  /**
   * Replaces the policy's status (PUT on the status subresource, with the resourceVersion of `policy`, so stale
   * keys disappear and a concurrent change gives 409).
   */
  async writePolicyStatus(policy: BottlerocketUpdatePolicy, status: UpdatePolicyStatus): Promise<void> {
    await this.#client.replace(
      `${this.#policies}/${policy.metadata.name ?? ""}/status`,
      { ...policy, status },
      { query: FIELD_MANAGER },
    );
  }
}
