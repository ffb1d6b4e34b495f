// The job gate's I/O (docs/design/health-gates.md#the-job-gate): the one Job of a node's update attempt, found by
// its name or created, and read. src/core/gate-job.ts builds the Job and says what its status means.
//
// One Job per node, gate and attempt, whoever asks: its name is a hash of the shadow, the gate and the MonitoringUpdate
// spec's timestamp, so a restarted controller or a new leader finds the Job the last one created (a create that
// meets it answers 409, and the Job is read instead), and a new attempt (a new timestamp) gets a Job of its own.
import type { V1Job, V1Pod } from "@kubernetes/client-node";
import { gateJob, terminationLine, type GateJob, type JobGateTemplate, type JobSubject } from "../core/gate-job.ts";
import type { Observed } from "../core/health-gates.ts";
import type { KubeClient } from "../kube/client.ts";
import { apiMessage, isConflict, isNotFound } from "../kube/errors.ts";

/** One GET, create or list: a slow answer waits (the gate's timeout bounds the whole). */
const READ_TIMEOUT_MS = 10_000;

/**
 * The Job's name: `brupop-gate-<gate, at most 30>-<12 hex of sha256(shadow, gate, MonitoringUpdate timestamp)>`,
 * at most 55 characters (a Job's name goes into its pods' `job-name` label, at most 63).
 */
export function gateJobName(shadowName: string, gate: string, since: string): string {
  // Loaded when a job gate is first checked, not by every controller (docs/design/footprint.md).
  const { createHash } = process.getBuiltinModule("node:crypto");
  const hash = createHash("sha256").update(`${shadowName}\n${gate}\n${since}`).digest("hex").slice(0, 12);
  return `brupop-gate-${gate.slice(0, 30)}-${hash}`;
}

export type JobRequest = Omit<JobSubject, "name" | "namespace"> & {
  /** spec.state_transition_timestamp of the MonitoringUpdate spec, as written: the attempt. */
  attempt: string;
};

export class GateJobs {
  readonly #client: KubeClient;
  readonly #namespace: string;

  constructor(client: KubeClient, namespace: string) {
    this.#client = client;
    this.#namespace = namespace;
  }

  /** The attempt's Job, created when it is not there yet (and the gate's time is not up), as the gate reads it. */
  async observe(template: JobGateTemplate, request: JobRequest, signal: AbortSignal): Promise<Observed<GateJob>> {
    const name = gateJobName(request.shadow.name, request.gate, request.attempt);
    const path = `/apis/batch/v1/namespaces/${this.#namespace}/jobs`;
    const options = { signal, timeoutMs: READ_TIMEOUT_MS };
    try {
      let job: V1Job;
      try {
        job = await this.#client.get<V1Job>(`${path}/${name}`, options);
      } catch (error) {
        if (!isNotFound(error)) throw error;
        if (request.now >= request.deadline) return { ok: false, error: `not created: the gate's time is up` };
        const { gate, nodeName, version, shadow, deadline, now } = request;
        const subject = { name, namespace: this.#namespace, gate, nodeName, version, shadow, deadline, now };
        const body = gateJob(template, subject);
        try {
          job = await this.#client.create<V1Job>(path, body, options);
        } catch (createError) {
          // Created meanwhile (another leader, a reconcile before a crash): that one is this attempt's.
          if (!isConflict(createError)) throw createError;
          job = await this.#client.get<V1Job>(`${path}/${name}`, options);
        }
      }
      return { ok: true, value: await this.#read(job, signal) };
    } catch (error) {
      if (signal.aborted) throw error;
      return { ok: false, error: apiMessage(error) };
    }
  }

  async #read(job: V1Job, signal: AbortSignal): Promise<GateJob> {
    const name = job.metadata?.name ?? "";
    const conditions = (job.status?.conditions ?? []).map((c) => ({
      type: c.type,
      status: c.status,
      ...(c.reason === undefined ? {} : { reason: c.reason }),
      ...(c.message === undefined ? {} : { message: c.message }),
    }));
    const failed = conditions.some((c) => (c.type === "Failed" || c.type === "FailureTarget") && c.status === "True");
    return {
      namespace: job.metadata?.namespace ?? this.#namespace,
      name,
      conditions,
      active: job.status?.active ?? 0,
      failed: job.status?.failed ?? 0,
      // Only for a Job that failed: why its pod did, for the gate's reason.
      podMessage: failed ? await this.#podMessage(name, signal) : null,
    };
  }

  /** A failed container's termination, in the kubelet's words; null when none is known or the list fails. */
  async #podMessage(jobName: string, signal: AbortSignal): Promise<string | null> {
    try {
      const list = await this.#client.get<{ items: V1Pod[] }>(`/api/v1/namespaces/${this.#namespace}/pods`, {
        query: { labelSelector: `job-name=${jobName}` },
        signal,
        timeoutMs: READ_TIMEOUT_MS,
      });
      const terminated = list.items
        .flatMap((pod) => pod.status?.containerStatuses ?? [])
        .map((status) => status.state?.terminated)
        .filter((state) => state !== undefined && state.exitCode !== 0);
      const last = terminated.at(-1);
      if (last === undefined) return null;
      return terminationLine({
        ...(last.reason === undefined ? {} : { reason: last.reason }),
        exitCode: last.exitCode,
        ...(last.message === undefined ? {} : { message: last.message }),
      });
    } catch (error) {
      if (signal.aborted) throw error;
      return null; // the Job's own reason still says it failed
    }
  }
}
