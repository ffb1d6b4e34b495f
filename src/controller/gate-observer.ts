// What the health gates look at, read for one node in MonitoringUpdate (docs/design/health-gates.md): its Node (from
// the cache), its pods (one list per pod gate: pods are not watched, the node reconcile polls while it monitors),
// Prometheus (its HTTP API), and a job gate's Job (created on first look, src/controller/gate-jobs.ts). Reading,
// and that one create; src/core/health-gates.ts decides.
import type { V1Node, V1Pod } from "@kubernetes/client-node";
import type { GateJob } from "../core/gate-job.ts";
import {
  gateDeadline,
  promHeld,
  promQuery,
  promRange,
  type GateNode,
  type GateObservations,
  type GatePod,
  type HealthGates,
  type Observed,
  type PromObservation,
} from "../core/health-gates.ts";
import type { KubeClient } from "../kube/client.ts";
import { apiMessage } from "../kube/errors.ts";
import { GateJobs } from "./gate-jobs.ts";

// Not ES imports: they would load Node's bundled undici (docs/design/footprint.md); fetch would too.
const http = process.getBuiltinModule("node:http");
const https = process.getBuiltinModule("node:https");

/** One pod list or Prometheus query; a slow answer waits (the gate's timeout bounds the whole). */
const READ_TIMEOUT_MS = 10_000;
/** Prometheus answers larger than this are refused: a gate needs a verdict, not a dump. */
const MAX_PROMETHEUS_BYTES = 4 << 20;

export interface GateSubject {
  nodeName: string;
  node: V1Node | undefined;
  /** The version the node was updated to ($version in a query). */
  version: string;
  /** The node's shadow (a gate Job's owner). */
  shadow: { name: string; uid: string };
  /** spec.state_transition_timestamp of MonitoringUpdate as written (the attempt a gate Job belongs to), parsed. */
  attempt: string;
  since: Date;
  now: Date;
}

export class GateObserver {
  readonly #client: KubeClient;
  readonly #jobs: GateJobs;

  /** `namespace`: where gate Jobs run (the operator's). */
  constructor(client: KubeClient, namespace: string) {
    this.#client = client;
    this.#jobs = new GateJobs(client, namespace);
  }

  async observe(gates: HealthGates, subject: GateSubject, signal: AbortSignal): Promise<GateObservations> {
    const observed: {
      node: GateNode | null;
      pods?: Observed<readonly GatePod[]>;
      selected: Record<string, Observed<readonly GatePod[]>>;
      prometheus: Record<string, PromObservation>;
      jobs: Record<string, Observed<GateJob>>;
    } = {
      node: subject.node === undefined ? null : gateNode(subject.node),
      selected: {},
      prometheus: {},
      jobs: {},
    };
    const reads: Promise<void>[] = [];
    const onNode = `spec.nodeName=${subject.nodeName}`;
    // From kube-apiserver's watch cache (resourceVersion 0), as fresh as an informer's view: a quorum read waits for
    // etcd's progress notification (a median 110 ms under a rollout, docs/design/footprint.md#latency).
    const cached = { resourceVersion: "0" };
    for (const gate of gates.gates) {
      const { check } = gate;
      if (check.kind === "daemonset-pods" && observed.pods === undefined) {
        reads.push(
          this.#pods("/api/v1/pods", { ...cached, fieldSelector: onNode }, signal).then(
            (p) => void (observed.pods = p),
          ),
        );
      } else if (check.kind === "pods-ready") {
        const path = check.namespace === null ? "/api/v1/pods" : `/api/v1/namespaces/${check.namespace}/pods`;
        const query = {
          ...cached,
          fieldSelector: onNode,
          ...(check.selector === "" ? {} : { labelSelector: check.selector }),
        };
        reads.push(this.#pods(path, query, signal).then((p) => void (observed.selected[gate.name] = p)));
      } else if (check.kind === "prometheus" && gates.prometheusUrl !== null) {
        const query = promQuery(check.query, subject.nodeName, subject.version);
        reads.push(
          askPrometheus(gates.prometheusUrl, query, check.forSeconds, subject.now, signal).then(
            (p) => void (observed.prometheus[gate.name] = p),
          ),
        );
      } else if (check.kind === "job") {
        const request = {
          gate: gate.name,
          nodeName: subject.nodeName,
          version: subject.version,
          shadow: subject.shadow,
          attempt: subject.attempt,
          deadline: gateDeadline(gate, subject.since),
          now: subject.now,
        };
        reads.push(this.#jobs.observe(check.job, request, signal).then((j) => void (observed.jobs[gate.name] = j)));
      }
    }
    await Promise.all(reads);
    return observed;
  }

  async #pods(path: string, query: Record<string, string>, signal: AbortSignal): Promise<Observed<readonly GatePod[]>> {
    try {
      const list = await this.#client.get<{ items: V1Pod[] }>(path, { query, signal, timeoutMs: READ_TIMEOUT_MS });
      return { ok: true, value: list.items.map(gatePod) };
    } catch (error) {
      if (signal.aborted) throw error;
      return { ok: false, error: apiMessage(error) };
    }
  }
}

export function gateNode(node: V1Node): GateNode {
  const conditions = (node.status?.conditions ?? []).map((c) => ({
    type: c.type,
    status: c.status,
    ...(c.reason === undefined ? {} : { reason: c.reason }),
    ...(c.message === undefined ? {} : { message: c.message }),
  }));
  const ready = conditions.find((c) => c.type === "Ready")?.status;
  return {
    ready: ready === "True" ? true : ready === "False" ? false : null,
    unschedulable: node.spec?.unschedulable === true,
    conditions,
  };
}

export function gatePod(pod: V1Pod): GatePod {
  const owner = pod.metadata?.ownerReferences?.find((ref) => ref.controller === true) ?? null;
  const ready = pod.status?.conditions?.find((c) => c.type === "Ready");
  // The wire has strings where client-node's types say Date.
  const since = ready?.lastTransitionTime as unknown as string | undefined;
  const parsed = since === undefined ? Number.NaN : Date.parse(since);
  return {
    namespace: pod.metadata?.namespace ?? "",
    name: pod.metadata?.name ?? "",
    owner: owner === null ? null : { kind: owner.kind, name: owner.name },
    ready: ready?.status === "True",
    readySince: Number.isNaN(parsed) ? null : new Date(parsed),
    why: ready?.status === "True" ? null : unreadyWhy(pod),
    terminating: (pod.metadata as { deletionTimestamp?: unknown } | undefined)?.deletionTimestamp != null,
  };
}

/** The kubelet's words: a waiting container's reason (CrashLoopBackOff), else the Ready condition's reason. */
function unreadyWhy(pod: V1Pod): string | null {
  for (const status of pod.status?.containerStatuses ?? []) {
    const waiting = status.state?.waiting?.reason;
    if (waiting) return `${status.name} ${waiting}`;
  }
  const ready = pod.status?.conditions?.find((c) => c.type === "Ready");
  if (ready?.reason) return ready.message ? `${ready.reason}: ${ready.message}` : ready.reason;
  return pod.status?.phase ? `phase ${pod.status.phase}` : null;
}

/** One query of the Prometheus HTTP API: an instant query, or a range over [now − for, now]. */
export async function askPrometheus(
  baseUrl: string,
  query: string,
  forSeconds: number,
  now: Date,
  signal: AbortSignal,
): Promise<PromObservation> {
  let url: URL;
  let instants: number[] | null = null;
  if (forSeconds === 0) {
    url = new URL(`${baseUrl}/api/v1/query`);
    url.searchParams.set("time", String(now.getTime() / 1000));
  } else {
    const range = promRange(forSeconds, now);
    url = new URL(`${baseUrl}/api/v1/query_range`);
    url.searchParams.set("start", String(range.start));
    url.searchParams.set("end", String(range.end));
    url.searchParams.set("step", `${range.stepSeconds}s`);
    instants = [];
    for (let t = range.start; t <= range.end; t += range.stepSeconds) instants.push(t);
  }
  url.searchParams.set("query", query);
  try {
    const { status, body } = await getText(url, signal);
    let parsed: unknown;
    try {
      parsed = JSON.parse(body);
    } catch {
      return { ok: false, error: `HTTP ${status}, not JSON: ${body.slice(0, 200)}` };
    }
    return promHeld(parsed, instants);
  } catch (error) {
    if (signal.aborted) throw error;
    return { ok: false, error: error instanceof Error ? error.message : String(error) };
  }
}

function getText(url: URL, signal: AbortSignal): Promise<{ status: number; body: string }> {
  const client = url.protocol === "https:" ? https : http;
  return new Promise((resolve, reject) => {
    const request = client.get(
      url,
      { signal: AbortSignal.any([signal, AbortSignal.timeout(READ_TIMEOUT_MS)]) },
      (response) => {
        const chunks: Buffer[] = [];
        let size = 0;
        response.on("data", (chunk: Buffer) => {
          size += chunk.length;
          if (size > MAX_PROMETHEUS_BYTES)
            request.destroy(new Error(`answer larger than ${MAX_PROMETHEUS_BYTES} bytes`));
          else chunks.push(chunk);
        });
        response.on("end", () =>
          resolve({ status: response.statusCode ?? 0, body: Buffer.concat(chunks).toString("utf8") }),
        );
        response.on("error", reject);
      },
    );
    request.on("error", reject);
  });
}
