// The latency floor's reactor (`Fleet.floorRollout` in bench/fleet.ts starts it): the least a controller can do in a
// rollout, as a process of its own. It watches the shadows and, on the event of a status that reached its spec,
// writes the next spec at once (the same merge patch, resourceVersion precondition and field manager as the
// controller's), with no queue, no worker or connection limit, no consistent read, no Events, no Node annotations
// and no health gate; it starts a node when fewer than BUDGET are in flight, by its own count. Whatever status → spec
// latency the fleet measures with it is what the machine gives any controller, with the same agents, watches and
// kube-apiserver.
//
// Environment: BRUPOP_NAMESPACE, BUDGET, and the connection (KUBECONFIG, or in-cluster). It prints `ready` once its
// cache is filled and, on SIGTERM, one JSON line, `{ handledMs, writes, conflicts, failures }` (handledMs: for every
// watch event, its arrival to the end of the write it caused, 0 without one: the counterpart of a reconcile).
import { API_GROUP, PLURAL, VERSION_V2 } from "../src/api/constants.ts";
import type { BrsState } from "../src/api/state-machine.ts";
import { KubeClient } from "../src/kube/client.ts";
import { loadConnection } from "../src/kube/connection.ts";
import { isConflict } from "../src/kube/errors.ts";
import { shadowInformer, type ShadowObject } from "../src/kube/shadow-informer.ts";

const NEXT: Partial<Record<BrsState, BrsState>> = {
  StagedAndPerformedUpdate: "RebootedIntoUpdate",
  RebootedIntoUpdate: "MonitoringUpdate",
  MonitoringUpdate: "Idle",
};

const namespace = process.env.BRUPOP_NAMESPACE ?? "";
const budget = Number(process.env.BUDGET);
if (namespace === "" || !Number.isInteger(budget) || budget < 1) throw new Error("BRUPOP_NAMESPACE and BUDGET");

// More connections than writes can be in flight (the budget's worth): no write waits for one.
const client = new KubeClient(await loadConnection(), {
  userAgent: "brupop-bench-latency-floor",
  maxConnections: 4 * budget,
});
const path = `/apis/${API_GROUP}/${VERSION_V2}/namespaces/${namespace}/${PLURAL}`;
const handledMs: number[] = [];
/** Nodes started and not yet back at Idle with their target. */
const inFlight = new Set<string>();
/** Nodes offered an update, not started. */
const waiting = new Set<string>();
/** The spec state last written per node: an event that still shows the state before it is not acted on again. */
const written = new Map<string, BrsState>();
let writes = 0;
let conflicts = 0;
let failures = 0;

async function writeSpec(shadow: ShadowObject, state: BrsState, version: string | null): Promise<void> {
  const name = shadow.metadata.name ?? "";
  written.set(name, state);
  writes++;
  try {
    await client.patch(
      `${path}/${name}`,
      "merge",
      {
        metadata: { resourceVersion: shadow.metadata.resourceVersion },
        spec: { state, version, state_transition_timestamp: new Date().toISOString() },
      },
      { query: { fieldManager: "brupop-controller" } },
    );
  } catch (err) {
    written.delete(name); // decided again on the next event
    if (isConflict(err)) conflicts++;
    else failures++;
  }
}

function startWaiting(): void {
  for (const name of waiting) {
    if (inFlight.size >= budget) return;
    waiting.delete(name);
    const shadow = informer.get(name, namespace);
    const status = shadow?.status;
    if (shadow === undefined || status == null) continue;
    inFlight.add(name);
    void writeSpec(shadow, "StagedAndPerformedUpdate", status.target_version);
  }
}

async function handle(shadow: ShadowObject): Promise<void> {
  const name = shadow.metadata.name ?? "";
  const { spec, status } = shadow;
  if (status == null) return;
  if (spec.state === "Idle" && status.current_state === "Idle") {
    if (status.current_version === status.target_version) {
      if (inFlight.delete(name)) startWaiting();
    } else if (!inFlight.has(name)) {
      waiting.add(name);
      startWaiting();
    }
    return;
  }
  const next = NEXT[spec.state];
  if (next === undefined || status.current_state !== spec.state || written.get(name) === next) return;
  await writeSpec(shadow, next, next === "Idle" ? null : (spec.version ?? null));
}

const informer = shadowInformer(client, namespace, {
  name: "latency-floor",
  onChange: (kind, shadow) => {
    if (kind === "delete") return;
    const arrived = performance.now();
    void handle(shadow).then(() => handledMs.push(performance.now() - arrived));
  },
});
await informer.start();
process.stdout.write("ready\n");

process.once("SIGTERM", () => {
  void informer.stop().finally(() => {
    process.stdout.write(`${JSON.stringify({ handledMs, writes, conflicts, failures })}\n`, () => process.exit(0));
  });
});
