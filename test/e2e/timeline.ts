// What happened to the nodes in an end-to-end test, seen from outside the controller: each host's update steps and
// reboots, each cordon, and each update start the controller wrote. Shared by the tests that check that nothing
// starts while the controller must hold nodes back (the halt, canaries and soak).
import { nodeOf } from "../../sim/cluster/fleet-observer.ts";
import type { Running } from "./support.ts";

/**
 * What happened to the nodes, seen from outside the controller: each host's update steps (prepare, activate, ...)
 * and accepted reboots, each cordon, and each update start (a shadow's spec set to StagedAndPerformedUpdate, with the
 * time the controller stamped on it: the controller's own clock, as the Halted condition's transition time is).
 */
export class Timeline {
  readonly #disruptions: { node: string; what: string; at: number }[] = [];
  readonly #cordoned = new Set<string>();
  readonly #starts = new Map<string, Set<number>>();

  watchHosts(cluster: Running["cluster"]): void {
    for (const [node, host] of cluster.hosts) {
      host.onEffect((effect) => {
        if (effect.type === "reboot-requested") this.#disruptions.push({ node, what: "reboot", at: effect.at });
        if (effect.type === "command-started" && effect.command !== "refresh") {
          this.#disruptions.push({ node, what: effect.command, at: effect.at });
        }
      });
    }
  }

  /** On every change the observer sees. */
  observe({ cluster, observer }: Running): void {
    for (const node of cluster.nodeNames) {
      const isCordoned = observer.node(node)?.spec?.unschedulable === true;
      if (isCordoned && !this.#cordoned.has(node)) this.#disruptions.push({ node, what: "cordon", at: Date.now() });
      if (isCordoned) this.#cordoned.add(node);
      else this.#cordoned.delete(node);
    }
    for (const shadow of observer.shadows()) {
      const at = Date.parse(shadow.spec.state_transition_timestamp ?? "");
      if (shadow.spec.state !== "StagedAndPerformedUpdate" || Number.isNaN(at)) continue;
      const starts = this.#starts.get(nodeOf(shadow)) ?? new Set<number>();
      this.#starts.set(nodeOf(shadow), starts.add(at));
    }
  }

  /** Whether the controller started the node's update at or before `at`. */
  startedBy(node: string, at: number): boolean {
    return [...(this.#starts.get(node) ?? [])].some((t) => t <= at);
  }

  /** Updates started after `from` (and before `until`). */
  startsAfter(from: number, until = Infinity): string[] {
    return [...this.#starts].flatMap(([node, times]) =>
      [...times].filter((t) => t > from && t < until).map((t) => `${node} started at ${new Date(t).toISOString()}`),
    );
  }

  /** When the node was first disrupted (a host step other than refresh, a reboot, a cordon); undefined: never. */
  firstDisruption(node: string): number | undefined {
    const times = this.#disruptions.filter((d) => d.node === node).map((d) => d.at);
    return times.length === 0 ? undefined : Math.min(...times);
  }

  /** When the node's host was last asked to reboot; undefined: never. */
  lastReboot(node: string): number | undefined {
    const times = this.#disruptions.filter((d) => d.node === node && d.what === "reboot").map((d) => d.at);
    return times.length === 0 ? undefined : Math.max(...times);
  }

  /** Steps, reboots and cordons between `from` and `until` of nodes not started by `from`. */
  disruptedAfter(from: number, until: number): string[] {
    return this.#disruptions
      .filter((d) => d.at >= from && d.at < until && !this.startedBy(d.node, from))
      .map((d) => `${d.node} ${d.what} at ${new Date(d.at).toISOString()}`);
  }
}
