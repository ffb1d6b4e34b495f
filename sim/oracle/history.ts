// What the oracle's observer saw, one timed observation at a time, in the shapes the watches and the simulated hosts
// deliver (Kubernetes objects, host effects), and how each reaches the pure InvariantOracle. One home for that
// mapping: the live observer (observer.ts) feeds every observation through `replay`, and a test can feed a recorded
// history the same way. Pure.
import type { CoreV1Event, V1Node, V1Pod, V1PodDisruptionBudget } from "@kubernetes/client-node";
import type { HostEffect } from "../host/host-state.ts";
import type { HostSignal, InvariantOracle } from "./invariants.ts";
import { nodeView, operatorEventView, pdbView, podView, shadowReason, shadowSpecState } from "./views.ts";

export type Observation =
  | { readonly at: number; readonly kind: "node"; readonly object: V1Node }
  | { readonly at: number; readonly kind: "node-deleted"; readonly name: string }
  | { readonly at: number; readonly kind: "pod"; readonly object: V1Pod }
  | { readonly at: number; readonly kind: "pod-deleted"; readonly uid: string }
  | { readonly at: number; readonly kind: "pdb"; readonly object: V1PodDisruptionBudget }
  | { readonly at: number; readonly kind: "pdb-deleted"; readonly namespace: string; readonly name: string }
  | { readonly at: number; readonly kind: "event"; readonly object: CoreV1Event }
  /** A BottlerocketShadow of `node` as the watch delivered it; undefined once deleted. Read only for its reason. */
  | { readonly at: number; readonly kind: "shadow"; readonly node: string; readonly object: unknown }
  /** A node's host as observation begins: its API up or not, the version it runs. */
  | {
      readonly at: number;
      readonly kind: "host-initially";
      readonly node: string;
      readonly up: boolean;
      readonly version: string;
    }
  | { readonly at: number; readonly kind: "host"; readonly node: string; readonly effect: HostEffect }
  /** After a reboot: the node's pods the cache showed at that instant, and a fresh LIST of them (I1). */
  | {
      readonly at: number;
      readonly kind: "reboot-checked";
      readonly node: string;
      readonly cached: readonly V1Pod[];
      readonly listed: readonly V1Pod[];
    }
  | { readonly at: number; readonly kind: "publish"; readonly version: string }
  | { readonly at: number; readonly kind: "tick" };

/** What a host effect tells the oracle; undefined for effects it does not judge. */
export function hostSignal(effect: HostEffect): HostSignal | undefined {
  switch (effect.type) {
    case "reboot-requested":
      return { kind: "reboot-requested" };
    case "api-down":
      return { kind: "down" };
    case "api-up":
      return { kind: "up", version: effect.version };
    case "boot-failed":
      // A panic rolls back and boots again by itself (an api-up follows); anything else hangs.
      return effect.mode === "panic" ? undefined : { kind: "boot-hung" };
    case "command-started":
      return { kind: "command", command: effect.command };
    default:
      return undefined;
  }
}

/** Feeds one observation to the oracle. */
export function replay(oracle: InvariantOracle, o: Observation): void {
  switch (o.kind) {
    case "node":
      return oracle.node(o.at, nodeView(o.object));
    case "node-deleted":
      return oracle.nodeDeleted(o.at, o.name);
    case "pod":
      return oracle.pod(o.at, podView(o.object));
    case "pod-deleted":
      return oracle.podDeleted(o.at, o.uid);
    case "pdb":
      return oracle.pdb(o.at, pdbView(o.object));
    case "pdb-deleted":
      return oracle.pdbDeleted(o.namespace, o.name);
    case "event": {
      const view = operatorEventView(o.object);
      if (view) oracle.event(o.at, view);
      return;
    }
    case "shadow":
      oracle.shadowSpec(o.at, o.node, o.object === undefined ? undefined : shadowSpecState(o.object));
      return oracle.shadowReason(o.at, o.node, o.object === undefined ? undefined : shadowReason(o.object));
    case "host-initially":
      return oracle.hostInitially(o.node, o.up, o.version);
    case "host": {
      const signal = hostSignal(o.effect);
      if (signal) oracle.host(o.at, o.node, signal);
      return;
    }
    case "reboot-checked":
      return oracle.rebootChecked(o.at, o.node, o.cached.map(podView), o.listed.map(podView));
    case "publish":
      return oracle.publish(o.at, o.version);
    case "tick":
      return oracle.tick(o.at);
  }
}
