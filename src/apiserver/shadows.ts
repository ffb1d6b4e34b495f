// The agent's BottlerocketShadow writes: create `brs-<node>` owned by its Node, and replace its status.
//
// Differences from brupop 1.4 (docs/design/brupop-compatibility.md#routes-and-headers): create is idempotent (an
// existing shadow of the same Node is returned, one owned by an earlier Node of that name is a 409), and status writes
// carry the resourceVersion they were based on. A client may send `If-Match: <resourceVersion>` to make the write
// conditional on what it last read (409 otherwise); without it the server re-reads and retries on a conflict, so a
// concurrent metadata or spec change never fails an agent's report, while the status it sends is written whole, as
// brupop did.
import type { BottlerocketShadow, BottlerocketShadowStatus } from "../api/bottlerocket-shadow.ts";
import { API_GROUP, API_VERSION_V2, KIND, PLURAL, VERSION_V2, brsName } from "../api/constants.ts";
import type { KubeClient } from "../kube/client.ts";
import { isConflict, statusCode } from "../kube/errors.ts";
import type { NodeIdentity } from "./auth/authenticator.ts";
import { HttpError, fromKubernetesError } from "./errors.ts";

const CONFLICT_RETRIES = 3;

export class ShadowStore {
  readonly #client: KubeClient;
  readonly #namespace: string;
  readonly #shadows: string;

  constructor(client: KubeClient, namespace: string) {
    this.#client = client;
    this.#namespace = namespace;
    this.#shadows = `/apis/${API_GROUP}/${VERSION_V2}/namespaces/${namespace}/${PLURAL}`;
  }

  async #read(node: NodeIdentity): Promise<BottlerocketShadow> {
    const name = brsName(node.name);
    let shadow: BottlerocketShadow;
    try {
      shadow = await this.#client.get<BottlerocketShadow>(`${this.#shadows}/${name}`);
    } catch (err) {
      throw fromKubernetesError(err, `reading ${this.#namespace}/${name}`);
    }
    checkOwner(shadow, node);
    return shadow;
  }

  /** Creates the node's shadow, or returns it when it exists already for this very Node. */
  async create(node: NodeIdentity): Promise<BottlerocketShadow> {
    const name = brsName(node.name);
    const body: BottlerocketShadow = {
      apiVersion: API_VERSION_V2,
      kind: KIND,
      metadata: {
        name,
        namespace: this.#namespace,
        ownerReferences: [{ apiVersion: "v1", kind: "Node", name: node.name, uid: node.uid }],
      },
      spec: { state: "Idle", state_transition_timestamp: null, version: null },
    };
    try {
      return await this.#client.create<BottlerocketShadow>(this.#shadows, body);
    } catch (err) {
      if (!isConflict(err)) throw fromKubernetesError(err, `creating ${this.#namespace}/${name}`);
    }
    return this.#read(node);
  }

  /**
   * Replaces the shadow's status. `ifMatch` is the resourceVersion the caller's write is based on. Returns the
   * resourceVersion written.
   */
  async replaceStatus(node: NodeIdentity, status: BottlerocketShadowStatus, ifMatch?: string): Promise<string> {
    const patched = await this.#patchStatus(node, status, ifMatch);
    if (patched !== undefined) return patched;
    for (let attempt = 0; ; attempt++) {
      const current = await this.#read(node);
      const resourceVersion = current.metadata.resourceVersion ?? "";
      if (ifMatch !== undefined && ifMatch !== resourceVersion) {
        throw new HttpError(
          409,
          "Conflict",
          `${current.metadata.name ?? ""} changed: resourceVersion is ${resourceVersion}, not ${ifMatch}`,
          {
            details: { resourceVersion },
          },
        );
      }
      try {
        const written = await this.#client.replace<BottlerocketShadow>(
          `${this.#shadows}/${current.metadata.name ?? brsName(node.name)}/status`,
          { ...current, metadata: { ...current.metadata, resourceVersion }, status: withConditionsOf(current, status) },
        );
        return written.metadata.resourceVersion ?? "";
      } catch (err) {
        if (!isConflict(err) || ifMatch !== undefined || attempt >= CONFLICT_RETRIES) {
          throw fromKubernetesError(err, `writing the status of ${current.metadata.name ?? ""}`);
        }
      }
    }
  }

  /**
   * The usual write in one request (an agent reports at every step: a read and a replace each time were a fifth of
   * a rollout's requests, docs/design/footprint.md#latency): a JSON patch that tests the owner, carries `ifMatch` as
   * the object's resourceVersion, and sets each status field the agent reports, the conditions left alone.
   * Undefined when a precondition does not hold (no shadow or no status yet, the Node not first among the owners, a
   * stale `ifMatch`, a value kube-apiserver refuses): the read-then-replace path answers those, as it always did.
   */
  async #patchStatus(
    node: NodeIdentity,
    status: BottlerocketShadowStatus,
    ifMatch: string | undefined,
  ): Promise<string | undefined> {
    const { conditions: _sent, ...reported } = status;
    const operations: object[] = [{ op: "test", path: "/metadata/ownerReferences/0/uid", value: node.uid }];
    if (ifMatch !== undefined) operations.push({ op: "replace", path: "/metadata/resourceVersion", value: ifMatch });
    for (const field of STATUS_FIELDS) {
      const path = `/status/${field}`;
      const value = reported[field];
      operations.push({ op: "add", path, value: value ?? null });
      // A field the agent leaves out is removed, as a replace would: added first, so the removal cannot fail.
      if (value === undefined) operations.push({ op: "remove", path });
    }
    try {
      const written = await this.#client.patch<BottlerocketShadow>(
        `${this.#shadows}/${brsName(node.name)}/status`,
        "json",
        operations,
      );
      return written.metadata.resourceVersion ?? "";
    } catch (err) {
      if ([404, 409, 422].includes(statusCode(err) ?? 0)) return undefined;
      throw fromKubernetesError(err, `writing the status of ${brsName(node.name)}`);
    }
  }
}

/** Every status field but the controller's conditions. */
const STATUS_FIELDS = [
  "current_version",
  "target_version",
  "current_state",
  "crash_count",
  "state_transition_failure_timestamp",
  "failure_reason",
] as const satisfies readonly Exclude<keyof BottlerocketShadowStatus, "conditions">[];

/**
 * The status an agent sends, with the shadow's conditions as they are: the controller owns them (the Stuck condition,
 * docs/design/state-machine.md#budget), and brupop's agents, which know nothing of them, must not wipe them.
 */
function withConditionsOf(current: BottlerocketShadow, status: BottlerocketShadowStatus): BottlerocketShadowStatus {
  const { conditions: _sent, ...reported } = status;
  const conditions = current.status?.conditions;
  return conditions === undefined ? reported : { ...reported, conditions };
}

/** The shadow must belong to the Node the agent proved it runs on; one of an earlier namesake is not its to touch. */
function checkOwner(shadow: BottlerocketShadow, node: NodeIdentity): void {
  const owners = (shadow.metadata.ownerReferences ?? []).filter((o) => o.kind === "Node");
  if (owners.length > 0 && !owners.some((o) => o.uid === node.uid)) {
    throw new HttpError(
      409,
      "OwnedByAnotherNode",
      `${shadow.metadata.name ?? ""} belongs to an earlier node named ${node.name} (uid ${owners[0]?.uid ?? ""}); ` +
        "it will be garbage-collected, then the agent can create its own",
    );
  }
}
