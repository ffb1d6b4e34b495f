// The spec writes this controller made that its cache may not hold yet. A reconcile runs on any event of its node
// (the Node's, or the shadow's status written just before the spec): before the watch brings back the spec we
// wrote, it would decide again from the spec we replaced, and its write would only meet a conflict. The write's own
// watch event brings the node back. metadata.generation, which only spec changes raise, tells the two apart; the
// uid keeps a shadow deleted and made again from waiting for a generation it will not reach.
//
// Also the gates' outcomes written to status.conditions after the spec that carried them: until the cache shows one,
// a reconcile would find it unreported and write it again.
import type { BottlerocketShadow } from "../api/bottlerocket-shadow.ts";

export class OwnWrites {
  readonly #written = new Map<string, { uid: string; generation: number }>();
  /** Shadow name → the outcome (ANNOTATIONS.updateHealthy) last written to its conditions, and the shadow's uid. */
  readonly #reported = new Map<string, { uid: string; recorded: string }>();

  /** After a write: the shadow as the API server returned it. */
  wrote(shadow: BottlerocketShadow): void {
    const { name, uid, generation } = shadow.metadata;
    if (name === undefined || uid === undefined || generation === undefined) return;
    this.#written.set(name, { uid, generation });
  }

  /** True while `cached` is older than the last spec written to it; forgets the write once the cache holds it. */
  behind(cached: BottlerocketShadow): boolean {
    const name = cached.metadata.name ?? "";
    const written = this.#written.get(name);
    if (written === undefined) return false;
    if (written.uid === cached.metadata.uid && (cached.metadata.generation ?? 0) < written.generation) return true;
    this.#written.delete(name);
    return false;
  }

  /** After writing to the conditions of shadow `name` (`uid`) the outcome its annotation carries. */
  reported(name: string, uid: string, recorded: string): void {
    this.#reported.set(name, { uid, recorded });
  }

  /** True when the outcome `recorded` is one this controller wrote to this shadow's conditions already. */
  hasReported(shadow: BottlerocketShadow, recorded: string): boolean {
    const reported = this.#reported.get(shadow.metadata.name ?? "");
    return reported?.uid === shadow.metadata.uid && reported?.recorded === recorded;
  }

  /** The shadow is gone: nothing to wait for. */
  forget(name: string): void {
    this.#written.delete(name);
    this.#reported.delete(name);
  }
}
