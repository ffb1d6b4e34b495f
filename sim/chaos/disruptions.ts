// How each planned disruption (plan.ts) is carried out on the simulated cluster at its moment: the draw picks the
// target among what exists then ("the leader" from the Lease, a node mid-update, the replica that starts the next
// drain). Some take effect later (the next drain, a window's end) or last a while (a kubelet down, a partition, a node
// out of the selector): those run in the background and are tracked until they are over.
//
// Targets are picked with the operator's own view where it helps to land a fault mid-update (a shadow out of Idle);
// that never decides a verdict, which is the oracle's.
import { readFile } from "node:fs/promises";
import { setTimeout as sleep } from "node:timers/promises";
import { CoreV1Api, PatchStrategy, setHeaderOptions } from "@kubernetes/client-node";
import { nodeOf, occupiesBudget, type FleetObserver } from "../cluster/fleet-observer.ts";
import type { ComponentName, SimulatedCluster } from "../cluster/simulated-cluster.ts";
import { resolveDraw, type Disruption } from "./plan.ts";
import type { PerformedDisruption } from "./report.ts";

/** The label MANAGED_NODE_SELECTOR selects in a `--faults all` run; unmanage-node sets it to "false" for a while. */
export const MANAGED_LABEL = "chaos.brupop.example/managed";

/**
 * The update window of a `--faults all` run: brupop's SCHEDULER_CRON_EXPRESSION open 45 s of every minute (UTC),
 * so that windows close often enough for failovers around their end.
 */
export const CHAOS_WINDOW = {
  cron: "0-44 * * * * *",
  open: (t: number): boolean => new Date(t).getUTCSeconds() < 45,
  /** ms from `t` until the window next closes. */
  untilClose(t: number): number {
    const d = new Date(t);
    const inMinute = d.getUTCSeconds() * 1000 + d.getUTCMilliseconds();
    return inMinute < 45_000 ? 45_000 - inMinute : 105_000 - inMinute;
  },
} as const;

export interface DisruptionContext {
  readonly cluster: SimulatedCluster;
  readonly observer: FleetObserver;
  /** What hit each node, for the report (a stuck node must say which fault made it stuck). */
  readonly hits: Map<string, string[]>;
  readonly to: string;
  readonly say: (line: string) => void;
  /** Ms since publish. */
  readonly since: () => number;
  readonly aborted: () => boolean;
  /** How many times the operator has cordoned each node since publish (a drain each). */
  readonly drains: ReadonlyMap<string, number>;
}

const mergePatch = setHeaderOptions("Content-Type", PatchStrategy.MergePatch);

/** Kinds whose effect comes later than their planned moment: they are not awaited by the plan. */
export const DEFERRED_KINDS: ReadonlySet<Disruption["kind"]> = new Set([
  "restart-apiserver-mid-drain",
  "failover-window-end",
]);

/**
 * Carries out one disruption. Resolves when it has been done (for a deferred kind: when its moment came); what lasts
 * a while is undone in the background, in `lasting`, which the run awaits before its verdict.
 */
export async function performDisruption(
  c: DisruptionContext,
  d: Disruption,
  lasting: Set<Promise<unknown>>,
): Promise<PerformedDisruption> {
  const { cluster, observer } = c;
  const base = () => ({ atMs: c.since(), kind: d.kind });
  const hit = (node: string, what: string) => c.hits.set(node, [...(c.hits.get(node) ?? []), what]);
  const shadowOf = (node: string) => observer.shadows().find((s) => nodeOf(s) === node);
  const cordoned = (node: string) => observer.node(node)?.spec?.unschedulable === true;
  const present = () => cluster.nodeNames.filter((n) => !cluster.offline.has(n) && observer.node(n) !== undefined);
  const busy = () =>
    present().filter((n) => {
      const s = shadowOf(n);
      return cordoned(n) || (s !== undefined && occupiesBudget(s));
    });
  const preferBusy = (candidates = present()) => {
    const b = busy().filter((n) => candidates.includes(n));
    return resolveDraw(b.length > 0 ? b : candidates, d.draw);
  };
  const running = (component: ComponentName): string[] =>
    [...cluster.runners[component].processes()]
      .filter(([, p]) => p?.running())
      .map(([pod]) => pod)
      .sort((a, b) => a.localeCompare(b));
  const later = (ms: number, what: () => Promise<unknown>) => {
    const task = sleep(ms).then(what);
    lasting.add(task);
    void task.finally(() => lasting.delete(task)).catch(() => undefined);
  };
  const secs = (ms: number) => `${(ms / 1000).toFixed(0)} s`;
  const killLeader = async (): Promise<{ target: string; pid: number } | { skipped: string }> => {
    const holder = await cluster.controllerLeader().catch(() => undefined);
    if (holder === undefined) return { skipped: "no leader in the Lease" };
    const pid = cluster.runners.controller.crash(holder);
    return pid === undefined ? { skipped: `leader ${holder} not running` } : { target: holder, pid };
  };

  switch (d.kind) {
    case "kill-controller-leader": {
      const killed = await killLeader();
      if ("skipped" in killed) return { ...base(), skipped: killed.skipped };
      return { ...base(), target: killed.target, detail: `(pid ${killed.pid}, the Lease holder)` };
    }
    case "kill-controller":
    case "kill-apiserver": {
      const component = d.kind === "kill-controller" ? "controller" : "apiserver";
      const pick = resolveDraw(running(component), d.draw);
      const holder = component === "controller" ? await cluster.controllerLeader().catch(() => undefined) : undefined;
      const pid = pick === undefined ? undefined : cluster.runners[component].crash(pick);
      if (pick === undefined || pid === undefined) return { ...base(), skipped: `no ${component} process running` };
      return { ...base(), target: pick, detail: `(pid ${pid}${holder === pick ? ", the leader" : ""})` };
    }
    case "kill-agent": {
      const agents = cluster.nodeNames.flatMap((node) => {
        const pod = cluster.runners.agent.podOn(node);
        return pod === undefined ? [] : [{ node, pod, shadow: shadowOf(node) }];
      });
      const busyAgents = agents.filter((a) => a.shadow !== undefined && occupiesBudget(a.shadow));
      const pick = resolveDraw(d.prefer === "busy" && busyAgents.length > 0 ? busyAgents : agents, d.draw);
      const pid = pick === undefined ? undefined : cluster.runners.agent.crash(pick.pod);
      if (pick === undefined || pid === undefined) return { ...base(), skipped: "no agent running" };
      const state = pick.shadow
        ? `spec ${pick.shadow.spec.state}, status ${pick.shadow.status?.current_state ?? "-"}`
        : "no shadow";
      hit(pick.node, "agent killed (Ready node)");
      return { ...base(), target: pick.pod, detail: `on ${pick.node} (pid ${pid}; ${state})` };
    }
    case "host-fault": {
      const fault = d.fault ?? "prepare";
      // A node that has not started yet, so that the fault can still fire; else any node still to update.
      const toUpdate = present().filter(
        (n) =>
          !(c.hits.get(n) ?? []).some((h) => h.startsWith("host fault ")) &&
          cluster.hosts.get(n)?.runningVersion !== c.to &&
          cluster.hosts.get(n)?.apiUp,
      );
      const notStarted = toUpdate.filter((n) => !busy().includes(n));
      const node = resolveDraw(notStarted.length > 0 ? notStarted : toUpdate, d.draw);
      const host = node === undefined ? undefined : cluster.hosts.get(node);
      if (node === undefined || host === undefined) return { ...base(), skipped: "no node left to update" };
      const afterReboot = fault.startsWith("after-reboot:");
      const specs = fault.replace(/^after-reboot:/, "").split("+");
      if (afterReboot) {
        // Armed the instant the host comes up from the operator's reboot, before its agent can uncordon the node.
        let requested = false;
        const off = host.onEffect((effect) => {
          if (effect.type === "reboot-requested") requested = true;
          if (effect.type !== "api-up" || !requested) return;
          off();
          for (const spec of specs) host.inject(spec);
          c.say(`t+${secs(c.since())} ${node}: ${fault} fired as its host came up`);
        });
      } else {
        for (const spec of specs) host.inject(spec);
      }
      hit(node, `host fault ${fault}`);
      return { ...base(), target: node, detail: `${fault} (node ${shadowOf(node)?.status?.current_state ?? "?"})` };
    }
    case "kill-agent-notready": {
      const node = preferBusy();
      if (node === undefined) return { ...base(), skipped: "no node" };
      const ms = d.durationMs ?? 30_000;
      await cluster.setKubelet(node, false);
      hit(node, `kubelet down ${secs(ms)} (NotReady, agent stopped)`);
      later(ms, () => cluster.setKubelet(node, true));
      return { ...base(), target: node, detail: `kubelet down for ${secs(ms)}: NotReady, its agent stopped` };
    }
    case "cut-agent-off": {
      const node = preferBusy([...cluster.links.keys()].filter((n) => present().includes(n)));
      const link = node === undefined ? undefined : cluster.links.get(node);
      if (node === undefined || link === undefined) return { ...base(), skipped: "no node with a network link" };
      const ms = d.durationMs ?? 30_000;
      link.cut();
      hit(node, `network cut off ${secs(ms)}`);
      later(ms, () => Promise.resolve(link.restore()));
      return { ...base(), target: node, detail: `agent cut off from the API servers for ${secs(ms)}` };
    }
    case "restart-host-api": {
      const node = preferBusy(present().filter((n) => cluster.hosts.get(n)?.apiUp));
      const host = node === undefined ? undefined : cluster.hosts.get(node);
      if (node === undefined || host === undefined) return { ...base(), skipped: "no host up" };
      const ms = d.durationMs ?? 10_000;
      const restarted = host.restartApi(ms);
      lasting.add(restarted);
      void restarted.finally(() => lasting.delete(restarted));
      hit(node, `host API restarted (ECONNREFUSED ${secs(ms)})`);
      return { ...base(), target: node, detail: `host API down ${secs(ms)}, no reboot` };
    }
    case "unmanage-node": {
      const node = preferBusy();
      if (node === undefined) return { ...base(), skipped: "no node" };
      const ms = d.durationMs ?? 60_000;
      const core = cluster.kc.makeApiClient(CoreV1Api);
      const label = (value: string) =>
        core.patchNode({ name: node, body: { metadata: { labels: { [MANAGED_LABEL]: value } } } }, mergePatch);
      await label("false");
      hit(node, `out of MANAGED_NODE_SELECTOR ${secs(ms)}`);
      later(ms, () => label("true"));
      const state = cordoned(node) ? "cordoned" : (shadowOf(node)?.spec.state ?? "?");
      return { ...base(), target: node, detail: `out of the selector for ${secs(ms)} (was ${state})` };
    }
    case "delete-node": {
      const node = preferBusy();
      if (node === undefined) return { ...base(), skipped: "no node" };
      const state = cordoned(node) ? "cordoned" : (shadowOf(node)?.spec.state ?? "?");
      await cluster.deleteNode(node);
      hit(node, "deleted");
      return { ...base(), target: node, detail: `deleted (was ${state})` };
    }
    case "failover-window-end": {
      // Just before the window closes, or just after: a new leader decides around the close.
      const wait = CHAOS_WINDOW.untilClose(Date.now()) + (d.before ? -1_500 : 1_000);
      await sleep(Math.max(0, wait));
      if (c.aborted()) return { ...base(), skipped: "interrupted" };
      const killed = await killLeader();
      if ("skipped" in killed) return { ...base(), skipped: killed.skipped };
      return {
        ...base(),
        target: killed.target,
        detail: `(pid ${killed.pid}, the leader) ${d.before ? "1.5 s before" : "1 s after"} the window closed`,
      };
    }
    case "restart-apiserver-mid-drain":
      return restartMidDrain(c, d, base);
  }
}

/**
 * Waits for the next drain to start (a node newly cordoned; with prefer "again", of a node drained before in this
 * run, whose earlier drain a replica may still remember), then kills the API server replica whose log shows it
 * planning that drain, before the agent's first poll of it reaches it (the agent polls every second).
 */
async function restartMidDrain(
  c: DisruptionContext,
  d: Disruption,
  base: () => { atMs: number; kind: Disruption["kind"] },
): Promise<PerformedDisruption> {
  const { cluster, observer } = c;
  const cordonedNow = () => new Set(cluster.nodeNames.filter((n) => observer.node(n)?.spec?.unschedulable === true));
  const before = cordonedNow();
  const again = d.prefer === "again";
  // A second drain comes after a failure and its backoff (3 min): wait for it longer.
  const deadline = Date.now() + (again ? 420_000 : 60_000);
  let node: string | undefined;
  while (node === undefined && Date.now() < deadline && !c.aborted()) {
    await sleep(50);
    const now = cordonedNow();
    node = [...now].find((n) => !before.has(n) && (!again || (c.drains.get(n) ?? 0) >= 2));
    for (const n of before) if (!now.has(n)) before.delete(n);
  }
  if (node === undefined) {
    return { ...base(), skipped: `no ${again ? "second drain of a node" : "drain"} started in time` };
  }
  const startedAfter = Date.now() - 5_000;
  let replica: string | undefined;
  const until = Date.now() + 3_000;
  while (replica === undefined && Date.now() < until) {
    replica = await replicaDraining(cluster, node, startedAfter);
    if (replica === undefined) await sleep(25);
  }
  const pick =
    replica ??
    resolveDraw(
      [...cluster.runners.apiserver.processes()]
        .filter(([, p]) => p?.running())
        .map(([pod]) => pod)
        .sort(),
      d.draw,
    );
  const pid = pick === undefined ? undefined : cluster.runners.apiserver.crash(pick);
  if (pick === undefined || pid === undefined) return { ...base(), skipped: "no API server running" };
  c.hits.set(node, [...(c.hits.get(node) ?? []), "API server replica killed mid-drain"]);
  return {
    ...base(),
    target: pick,
    detail:
      `(pid ${pid}) ${replica ? "running" : "a replica; none was seen running"} the drain of ${node} just started` +
      (again ? ` (its drain #${c.drains.get(node) ?? "?"})` : ""),
  };
}

/** The running API server pod whose log shows it planning a drain of `node` after `after` (ms), the latest. */
async function replicaDraining(cluster: SimulatedCluster, node: string, after: number): Promise<string | undefined> {
  let best: { pod: string; at: number } | undefined;
  for (const [pod, proc] of cluster.runners.apiserver.processes()) {
    if (!proc?.running()) continue;
    const lines = (await readFile(proc.logFile, "utf8").catch(() => "")).split("\n");
    const last = lines.findLastIndex((l) => l.includes(`"node":"${node}"`) && l.includes("drain planned"));
    if (last < 0) continue;
    const time = Number(/"time":(\d+)/.exec(lines[last] ?? "")?.[1] ?? 0);
    if (time >= after && (best === undefined || time > best.at)) best = { pod, at: time };
  }
  return best?.pod;
}
