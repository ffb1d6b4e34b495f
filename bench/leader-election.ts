// Leader election timings (src/kube/leader-election.ts) against the real kube-apiserver, with the lease timing the
// integration tests use: how soon a standby leads after the leader releases the lease, after it dies, and after it
// is cut off from the API server (a fault proxy that accepts its requests and never answers); and how soon a
// leader notices that another holder took the lease. The tests check the order of events (a leader gives up before
// anyone else can take over); this measures how long each step takes.
//
//   node bench/leader-election.ts [--rounds 5]
import { join } from "node:path";
import { parseArgs } from "node:util";
import { setTimeout as sleep } from "node:timers/promises";
import { CoordinationV1Api, type KubeConfig } from "@kubernetes/client-node";
import { acquireLeadership, microTime, type Leadership } from "../src/kube/leader-election.ts";
import { proxyKubeApiserver } from "../sim/cluster/fault-proxy.ts";
import { kubeClientOf } from "../sim/cluster/kube-client.ts";
import { environment, log, percentile, report, round, startBenchCluster, waitUntil } from "./lib.ts";

const { values } = parseArgs({ options: { rounds: { type: "string", default: "5" } } });
const rounds = Number(values.rounds);
const timing = { leaseDurationMs: 3_000, renewDeadlineMs: 2_000, retryPeriodMs: 500 };

const cluster = await startBenchCluster();
const { namespace } = cluster;
const elect = (kc: KubeConfig, identity: string, name: string, stop?: AbortSignal) =>
  acquireLeadership({ client: kubeClientOf(kc), namespace, name, identity, ...timing }, stop);
/** When `leadership` ended (its signal aborted), on this process's clock. */
const endOf = (leadership: Leadership) => {
  const ended = { at: Number.NaN };
  leadership.signal.addEventListener("abort", () => (ended.at = Date.now()), { once: true });
  return ended;
};

const released: number[] = [];
const crashed: number[] = [];
const partition = { lossAfterRenewal: [] as number[], standbyAfterRenewal: [] as number[], overlaps: 0 };
const stolen: number[] = [];
try {
  for (let i = 0; i < rounds; i++) {
    log(`leader election: round ${i + 1}/${rounds}`);
    {
      const a = await elect(cluster.kc, "a", `release-${i}`);
      const b = elect(cluster.kc, "b", `release-${i}`);
      await sleep(2 * timing.retryPeriodMs); // b is waiting
      const at = Date.now();
      await a.release();
      await (await b).release();
      released.push(Date.now() - at);
    }
    {
      const crash = new AbortController();
      await elect(cluster.kc, "a", `crash-${i}`, crash.signal);
      const b = elect(cluster.kc, "b", `crash-${i}`);
      await sleep(2 * timing.retryPeriodMs);
      crash.abort(); // a stops renewing, without releasing
      const at = Date.now();
      const leadershipB = await b;
      crashed.push(Date.now() - at);
      await leadershipB.release();
    }
    {
      const access = await proxyKubeApiserver({
        server: cluster.cp.server,
        caPem: cluster.cp.caPem,
        pkiDir: join(cluster.cp.dir, "pki"),
        kc: cluster.kc,
        asAdmin: true,
      });
      const renewals = () =>
        access.proxy.log.filter(
          (r) => r.method === "PUT" && r.url.includes(`/leases/partition-${i}`) && r.fate === "forwarded",
        );
      const a = await elect(access.kc, "a", `partition-${i}`);
      const endA = endOf(a);
      const b = elect(cluster.kc, "b", `partition-${i}`);
      await waitUntil("a renews through the proxy", () => renewals().length >= 2, 10_000);
      access.proxy.partition();
      const lastRenewal = Math.max(...renewals().map((r) => r.at));
      const leadershipB = await b;
      const bLeads = Date.now();
      partition.lossAfterRenewal.push(endA.at - lastRenewal);
      partition.standbyAfterRenewal.push(bLeads - lastRenewal);
      if (!(endA.at < bLeads)) partition.overlaps++;
      await leadershipB.release();
      await access.proxy.stop();
    }
    {
      const a = await elect(cluster.kc, "a", `stolen-${i}`);
      const endA = endOf(a);
      const api = cluster.kc.makeApiClient(CoordinationV1Api);
      const lease = await api.readNamespacedLease({ name: `stolen-${i}`, namespace });
      const at = Date.now();
      await api.replaceNamespacedLease({
        name: `stolen-${i}`,
        namespace,
        body: {
          ...lease,
          spec: { ...lease.spec, holderIdentity: "intruder", renewTime: microTime(new Date()) as unknown as Date },
        },
      });
      await waitUntil("a notices the loss", () => a.signal.aborted, 10_000);
      stolen.push(endA.at - at);
    }
  }

  const stats = (xs: readonly number[]) => ({ p50: round(percentile(xs, 0.5)), max: round(Math.max(...xs)) });
  const text = (xs: readonly number[]) => `${stats(xs).p50} / ${stats(xs).max} ms`;
  const slackMs = 100; // a timer on a busy event loop
  await report({
    name: "leader-election",
    title: "Leader election: hand-over, takeover and giving up",
    at: new Date().toISOString(),
    environment: await environment(),
    parameters: { rounds, ...timing },
    results: {
      releaseToStandbyMs: released,
      crashToStandbyMs: crashed,
      partitionLossAfterLastRenewalMs: partition.lossAfterRenewal,
      partitionStandbyAfterLastRenewalMs: partition.standbyAfterRenewal,
      partitionOverlaps: partition.overlaps,
      theftToLossMs: stolen,
    },
    headline: {
      "Release → standby leads (p50 / max)": text(released),
      "Leader dies → standby leads (p50 / max)": text(crashed),
      "Cut off: last renewal → leader gives up (p50 / max)": text(partition.lossAfterRenewal),
      "Cut off: last renewal → standby leads (p50 / max)": text(partition.standbyAfterRenewal),
      "Rounds where both led at once": `${partition.overlaps} of ${rounds}`,
      "Lease taken → leader notices (p50 / max)": text(stolen),
    },
    goals: [
      {
        description: "hand-over on release < 1 s",
        measured: `max ${stats(released).max} ms`,
        met: stats(released).max < 1_000,
      },
      {
        description: `a dead leader's lease taken over within lease duration + 2 retry periods (${timing.leaseDurationMs + 2 * timing.retryPeriodMs} ms)`,
        measured: `max ${stats(crashed).max} ms`,
        met: stats(crashed).max <= timing.leaseDurationMs + 2 * timing.retryPeriodMs,
      },
      {
        description: `a leader cut off gives up within the renew deadline of its last renewal (${timing.renewDeadlineMs} ms + ${slackMs} ms timer slack)`,
        measured: `max ${stats(partition.lossAfterRenewal).max} ms`,
        met: stats(partition.lossAfterRenewal).max <= timing.renewDeadlineMs + slackMs,
      },
      {
        description: "never two leaders at once",
        measured: `${partition.overlaps} of ${rounds} rounds`,
        met: partition.overlaps === 0,
      },
      {
        description: `a taken lease noticed within 2 retry periods (${2 * timing.retryPeriodMs} ms)`,
        measured: `max ${stats(stolen).max} ms`,
        met: stats(stolen).max <= 2 * timing.retryPeriodMs,
      },
    ],
    notes: [
      "In-process electors against the real kube-apiserver 1.35 on loopback; a leader cut off talks through sim/cluster/fault-proxy.ts, which accepts its requests and never answers them.",
      "Last renewal: when the proxy received the leader's last lease write that reached the server. The leader counts from when it sent its last renewal that was ANSWERED: when the partition swallowed the answer of the last one, it gives up a retry period or so earlier (the shorter numbers).",
      "A standby counts the lease duration from when it saw the last renewal, so it leads a lease duration (and up to a retry period) after it.",
    ],
  });
} finally {
  await cluster.stop();
}
