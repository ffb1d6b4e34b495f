// The end of a `--faults all` run: a controller failover around a one-shot trigger. Once every node has its outcome,
// the fleet's schedule becomes a brupop one-shot trigger (the policy resource's schedulerCronExpression, firing once a
// day at a second ~20 s away). Its session finds nothing to start (every managed node is up to date; nodes left stuck
// are first taken out of MANAGED_NODE_SELECTOR, as a person would set a broken node aside), so it is over at once.
// Then a newer version is published (20 s after the trigger: the session is long over), and the controller leader is
// killed and kept down past its Lease (the standby takes over, as after a node failure): nobody may start anything
// before the next trigger, a day later. The oracle's I5 checks every start against that schedule; the report says
// which replica led when each start happened.
import { setTimeout as sleep } from "node:timers/promises";
import { CoreV1Api, CustomObjectsApi, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import type { SimulatedCluster } from "../cluster/simulated-cluster.ts";
import type { OracleObserver } from "../oracle/observer.ts";
import { MANAGED_LABEL } from "./disruptions.ts";

export interface OneShotEpilogue {
  /** The trigger's expression (brupop cron, UTC) and when it fired. */
  readonly cron: string;
  readonly firedAt: string;
  /** The version published after the session. */
  readonly published: string;
  /** Nodes taken out of the selector first (stuck ones). */
  readonly setAside: readonly string[];
  readonly killedLeader: string | null;
  readonly leaderAfter: string | null;
  /** Update attempts (host prepares) seen after the session (ms after the trigger), which must be none. */
  readonly startsAfter: readonly { readonly node: string; readonly atMs: number; readonly leader: string | null }[];
  readonly skipped?: string;
}

const POLICY = { group: "brupop.bottlerocket.aws", version: "v1alpha1", plural: "bottlerocketupdatepolicies" } as const;
const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

export async function oneShotEpilogue(o: {
  readonly cluster: SimulatedCluster;
  readonly oracle: OracleObserver;
  readonly next: string;
  readonly say: (line: string) => void;
  readonly watchMs?: number;
}): Promise<OneShotEpilogue> {
  const { cluster, oracle, say } = o;
  const core = cluster.kc.makeApiClient(CoreV1Api);
  const custom = cluster.kc.makeApiClient(CustomObjectsApi);
  const outcomes = oracle.oracle.outcomes();
  const setAside = outcomes.filter((x) => x.outcome !== "updated" && x.outcome !== "deleted").map((x) => x.node);
  for (const node of setAside) {
    await core.patchNode({ name: node, body: { metadata: { labels: { [MANAGED_LABEL]: "false" } } } }, mergePatch);
  }

  const fire = new Date(Math.ceil((Date.now() + 20_000) / 1000) * 1000);
  const cron = `${fire.getUTCSeconds()} ${fire.getUTCMinutes()} ${fire.getUTCHours()} * * *`;
  const policy = {
    apiVersion: `${POLICY.group}/${POLICY.version}`,
    kind: "BottlerocketUpdatePolicy",
    metadata: { name: "default", namespace: cluster.namespace },
    spec: { schedulerCronExpression: cron },
  };
  await custom
    .createNamespacedCustomObject({ ...POLICY, namespace: cluster.namespace, body: policy })
    .catch(async () => {
      await custom.patchNamespacedCustomObject(
        { ...POLICY, namespace: cluster.namespace, name: "default", body: { spec: policy.spec } },
        mergePatch,
      );
    });
  // The only session before tomorrow: at the trigger, with nothing to start, and over at once.
  const at = fire.getTime();
  oracle.oracle.schedule((t) => t >= at && t <= at + 5_000);
  say(
    `one-shot epilogue: schedule "${cron}" (fires ${fire.toISOString()}), set aside: ${setAside.join(", ") || "none"}`,
  );

  const starts: { node: string; atMs: number; leader: string | null }[] = [];
  let leader: string | null = null;
  const offs = [...cluster.hosts].map(([node, host]) =>
    host.onEffect((e) => {
      if (e.type === "command-started" && e.command === "prepare" && e.at > at + 5_000) {
        starts.push({ node, atMs: Math.round(e.at - at), leader });
      }
    }),
  );
  const lookUpLeader = async () => (leader = (await cluster.controllerLeader().catch(() => undefined)) ?? null);
  try {
    await sleep(Math.max(0, at + 20_000 - Date.now()));
    const before = await lookUpLeader();
    cluster.publish(o.next);
    say(`one-shot epilogue: trigger fired 20 s ago; ${o.next} published on every host (leader ${before ?? "-"})`);
    await sleep(10_000);
    const killedLeader = await lookUpLeader();
    // Down past the Lease (15 s): the standby takes over, not the same pod's restarted container.
    if (killedLeader !== null) cluster.runners.controller.crash(killedLeader, 30_000);
    say(`one-shot epilogue: controller leader ${killedLeader ?? "(none)"} killed, kept down 30 s; watching for starts`);
    const until = Date.now() + (o.watchMs ?? 60_000);
    let leaderAfter: string | null = null;
    while (Date.now() < until) {
      leaderAfter = await lookUpLeader();
      await sleep(1_000);
    }
    say(`one-shot epilogue: leader now ${leaderAfter ?? "(none)"}; ${starts.length} update(s) started since`);
    return {
      cron,
      firedAt: fire.toISOString(),
      published: o.next,
      setAside,
      killedLeader,
      leaderAfter,
      startsAfter: starts,
    };
  } finally {
    for (const off of offs) off();
  }
}
