// What the fleet has used up, kept in the cluster so that every replica, and a restarted one, agrees: when the last
// session of a one-shot schedule ran dry (FleetView.triggerConsumedAt). brupop kept it in its controller's memory
// and waited for the next trigger after a restart; a standby taking over kept its own start time and opened a
// trigger the leader had already used (docs/design/state-machine.md#one-shot-schedules).
//
// One ConfigMap, written by the leader only when the value changes, with optimistic concurrency.
import type { V1ConfigMap } from "@kubernetes/client-node";
import { formatTimestamp, parseTimestamp } from "../api/timestamps.ts";
import type { KubeClient } from "../kube/client.ts";
import { isConflict, isNotFound } from "../kube/errors.ts";

/** The ConfigMap's name; the manifest grants the controller access to it by this name (src/deploy/names.ts). */
export const FLEET_STATE_CONFIGMAP = "brupop-controller-state";
const TRIGGER_CONSUMED_AT = "oneshotTriggerConsumedAt";

export interface FleetState {
  /**
   * When the fleet last consumed a one-shot trigger. Without a record yet, `now` is recorded and returned: like
   * brupop after a restart, a new controller waits for the next trigger.
   */
  triggerConsumedAt(now: Date): Promise<Date>;
  /** Records that the open session ran dry at `at`. */
  consumeTrigger(at: Date): Promise<void>;
}

export class ConfigMapFleetState implements FleetState {
  readonly #client: KubeClient;
  readonly #namespace: string;
  readonly #configMaps: string;
  #known: { at: Date; resourceVersion: string } | undefined;

  constructor(client: KubeClient, namespace: string) {
    this.#client = client;
    this.#namespace = namespace;
    this.#configMaps = `/api/v1/namespaces/${namespace}/configmaps`;
  }

  async triggerConsumedAt(now: Date): Promise<Date> {
    if (this.#known !== undefined) return this.#known.at;
    const stored = await this.#read();
    const at = stored === undefined ? undefined : parseTimestamp(stored.data?.[TRIGGER_CONSUMED_AT]);
    if (stored !== undefined && at !== undefined) {
      this.#known = { at, resourceVersion: stored.metadata?.resourceVersion ?? "" };
      return at;
    }
    await this.consumeTrigger(now);
    return now;
  }

  async consumeTrigger(at: Date): Promise<void> {
    if (this.#known?.at.getTime() === at.getTime()) return;
    const body: V1ConfigMap = {
      metadata: {
        name: FLEET_STATE_CONFIGMAP,
        namespace: this.#namespace,
        ...(this.#known === undefined ? {} : { resourceVersion: this.#known.resourceVersion }),
      },
      data: { [TRIGGER_CONSUMED_AT]: formatTimestamp(at) },
    };
    try {
      const written =
        this.#known === undefined
          ? await this.#createOrReplace(body)
          : await this.#client.replace<V1ConfigMap>(`${this.#configMaps}/${FLEET_STATE_CONFIGMAP}`, body);
      this.#known = { at, resourceVersion: written.metadata?.resourceVersion ?? "" };
    } catch (err) {
      // Someone else wrote it (a previous leader, a person): read it again next time.
      if (isConflict(err)) this.#known = undefined;
      throw err;
    }
  }

  async #createOrReplace(body: V1ConfigMap): Promise<V1ConfigMap> {
    try {
      return await this.#client.create<V1ConfigMap>(this.#configMaps, body);
    } catch (err) {
      if (!isConflict(err)) throw err;
      const current = await this.#read();
      return this.#client.replace<V1ConfigMap>(`${this.#configMaps}/${FLEET_STATE_CONFIGMAP}`, {
        ...body,
        metadata: { ...body.metadata, resourceVersion: current?.metadata?.resourceVersion ?? "" },
      });
    }
  }

  async #read(): Promise<V1ConfigMap | undefined> {
    try {
      return await this.#client.get<V1ConfigMap>(`${this.#configMaps}/${FLEET_STATE_CONFIGMAP}`);
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}
