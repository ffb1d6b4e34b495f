// The health gate that runs a Job on the node (docs/design/health-gates.md#the-job-gate): the policy's `job` as
// written, the Job the controller creates for one node's one attempt, and what the Job's status says of the gate.
// Pure: src/controller/gate-jobs.ts names, creates and reads the Job.
import { API_VERSION_V2, KIND } from "../api/constants.ts";

/** Finished Jobs (and their pods) are deleted by Kubernetes' TTL controller after this: an hour to read the logs. */
export const JOB_TTL_SECONDS = 3600;
/** Pod retries of a gate Job at most: a check that fails 4 times on the node says something about the node. */
export const MAX_JOB_BACKOFF_LIMIT = 3;
/** The container's name in the Job's pod. */
export const JOB_CONTAINER = "gate";

/** Labels on a gate Job and its pod: which gate, which node (when the node's name fits a label value). */
export const JOB_LABELS = Object.freeze({
  gate: "brupop.bottlerocket.aws/gate",
  node: "brupop.bottlerocket.aws/gate-node",
});
/** The node's full name and the version checked, on the Job (a node name may be too long for a label). */
export const JOB_ANNOTATIONS = Object.freeze({
  node: "brupop.bottlerocket.aws/gate-node",
  version: "brupop.bottlerocket.aws/gate-version",
});
/** Environment the check gets from the controller; user env may not use the prefix. */
export const JOB_ENV = Object.freeze({ node: "BRUPOP_NODE_NAME", version: "BRUPOP_VERSION" });
const RESERVED_ENV_PREFIX = "BRUPOP_";
/** The operator's own ServiceAccounts (and any other of that prefix): a gate's pod never runs as them. */
const RESERVED_SERVICE_ACCOUNT_PREFIX = "brupop-";

// ---- The policy's `job`, as written ----

export interface JobGateSpec {
  image: string;
  command?: string[];
  args?: string[];
  env?: { name: string; value: string }[];
  serviceAccountName?: string;
  backoffLimit?: number;
}

/** A job gate's check, checked and with its defaults. */
export interface JobGateTemplate {
  readonly image: string;
  readonly command: readonly string[] | null;
  readonly args: readonly string[] | null;
  readonly env: readonly { readonly name: string; readonly value: string }[];
  /** Null: no ServiceAccount token is mounted. */
  readonly serviceAccountName: string | null;
  readonly backoffLimit: number;
}

type Raw = Record<string, unknown>;

const ENV_NAME = /^[-._a-zA-Z][-._a-zA-Z0-9]*$/;
const DNS_SUBDOMAIN = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$/;

/** `body`: the gate's `job` object; `at` names it in errors. Null (with errors) when it is not a valid one. */
export function parseJobGate(body: Raw, at: string, errors: string[]): JobGateTemplate | null {
  const before = errors.length;
  const { image, serviceAccountName } = body;
  if (typeof image !== "string" || !/^\S+$/.test(image)) errors.push(`${at}.image must be a container image`);
  const strings = (field: "command" | "args"): string[] | null => {
    const value = body[field];
    if (value === undefined) return null;
    if (!Array.isArray(value) || !value.every((s) => typeof s === "string")) {
      errors.push(`${at}.${field} must be a list of strings`);
      return null;
    }
    return value;
  };
  const command = strings("command");
  const args = strings("args");
  const env: { name: string; value: string }[] = [];
  if (body.env !== undefined && !Array.isArray(body.env)) errors.push(`${at}.env must be a list of {name, value}`);
  (Array.isArray(body.env) ? (body.env as unknown[]) : []).forEach((entry, i) => {
    const e = typeof entry === "object" && entry !== null ? (entry as Raw) : {};
    if (typeof e.name !== "string" || !ENV_NAME.test(e.name)) {
      errors.push(`${at}.env[${i}].name must be an environment variable name`);
    } else if (e.name.startsWith(RESERVED_ENV_PREFIX)) {
      errors.push(`${at}.env[${i}].name: ${RESERVED_ENV_PREFIX}* is set by the controller`);
    } else if (typeof e.value !== "string") {
      errors.push(`${at}.env[${i}].value must be a string`);
    } else env.push({ name: e.name, value: e.value });
  });
  if (serviceAccountName !== undefined) {
    if (typeof serviceAccountName !== "string" || !DNS_SUBDOMAIN.test(serviceAccountName)) {
      errors.push(`${at}.serviceAccountName must be a ServiceAccount name`);
    } else if (serviceAccountName.startsWith(RESERVED_SERVICE_ACCOUNT_PREFIX)) {
      errors.push(`${at}.serviceAccountName: the operator's own ServiceAccounts (brupop-*) are not for gates`);
    }
  }
  const backoffLimit = body.backoffLimit ?? 0;
  if (
    typeof backoffLimit !== "number" ||
    !Number.isSafeInteger(backoffLimit) ||
    backoffLimit < 0 ||
    backoffLimit > MAX_JOB_BACKOFF_LIMIT
  ) {
    errors.push(`${at}.backoffLimit must be a whole number from 0 to ${MAX_JOB_BACKOFF_LIMIT}`);
  }
  if (errors.length > before || typeof image !== "string" || typeof backoffLimit !== "number") return null;
  return {
    image,
    command,
    args,
    env,
    serviceAccountName: typeof serviceAccountName === "string" ? serviceAccountName : null,
    backoffLimit,
  };
}

// ---- The Job ----

/** A batch/v1 Job, as much of it as a gate writes (the wire's shape). */
export interface GateJobObject {
  apiVersion: "batch/v1";
  kind: "Job";
  metadata: {
    name: string;
    namespace: string;
    labels: Record<string, string>;
    annotations: Record<string, string>;
    ownerReferences: { apiVersion: string; kind: string; name: string; uid: string }[];
  };
  spec: {
    backoffLimit: number;
    activeDeadlineSeconds: number;
    ttlSecondsAfterFinished: number;
    template: {
      metadata: { labels: Record<string, string> };
      spec: Record<string, unknown>;
    };
  };
}

export interface JobSubject {
  /** The Job's name (deterministic per node, gate and attempt: src/controller/gate-jobs.ts). */
  name: string;
  namespace: string;
  gate: string;
  nodeName: string;
  /** The version the node was updated to. */
  version: string;
  /** The node's shadow, the Job's owner: deleted with it. */
  shadow: { name: string; uid: string };
  /** The gate's deadline: the Job may not run past it. */
  deadline: Date;
  now: Date;
}

const isLabelValue = (v: string) => v.length <= 63 && /^(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?$/.test(v);

/**
 * The Job that checks `subject.nodeName` after its update: one pod, pinned to the node by `nodeName` (the scheduler
 * is not asked; the node was just uncordoned and may carry taints of its own, all tolerated), not retried past the
 * gate's backoffLimit nor run past its deadline, deleted an hour after it finished and with the node's shadow.
 */
export function gateJob(template: JobGateTemplate, subject: JobSubject): GateJobObject {
  const labels: Record<string, string> = { [JOB_LABELS.gate]: subject.gate };
  if (isLabelValue(subject.nodeName)) labels[JOB_LABELS.node] = subject.nodeName;
  const remaining = Math.ceil((subject.deadline.getTime() - subject.now.getTime()) / 1000);
  const container: Record<string, unknown> = {
    name: JOB_CONTAINER,
    image: template.image,
    ...(template.command === null ? {} : { command: [...template.command] }),
    ...(template.args === null ? {} : { args: [...template.args] }),
    env: [
      ...template.env.map((e) => ({ ...e })),
      { name: JOB_ENV.node, value: subject.nodeName },
      { name: JOB_ENV.version, value: subject.version },
    ],
    // The last lines of the log when the check wrote no termination message: the gate's reason quotes it.
    terminationMessagePolicy: "FallbackToLogsOnError",
    securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
  };
  return {
    apiVersion: "batch/v1",
    kind: "Job",
    metadata: {
      name: subject.name,
      namespace: subject.namespace,
      labels,
      annotations: { [JOB_ANNOTATIONS.node]: subject.nodeName, [JOB_ANNOTATIONS.version]: subject.version },
      ownerReferences: [{ apiVersion: API_VERSION_V2, kind: KIND, name: subject.shadow.name, uid: subject.shadow.uid }],
    },
    spec: {
      backoffLimit: template.backoffLimit,
      activeDeadlineSeconds: Math.max(1, remaining),
      ttlSecondsAfterFinished: JOB_TTL_SECONDS,
      template: {
        metadata: { labels: { ...labels } },
        spec: {
          nodeName: subject.nodeName,
          restartPolicy: "Never",
          tolerations: [{ operator: "Exists" }],
          ...(template.serviceAccountName === null
            ? { automountServiceAccountToken: false }
            : { serviceAccountName: template.serviceAccountName }),
          containers: [container],
        },
      },
    },
  };
}

// ---- What the Job says ----

/** A gate Job as the controller read it. */
export interface GateJob {
  namespace: string;
  name: string;
  conditions: readonly { type: string; status: string; reason?: string; message?: string }[];
  active: number;
  failed: number;
  /** A failed pod's container, in the kubelet's words ("Error (exit code 1): disk check failed"), when read. */
  podMessage: string | null;
}

/** The gate's state from its Job: passed when Complete, failed at once when Failed (final: no wait will change it). */
export type JobCheck = { pass: true; message: string } | { pass: false; message: string; final: boolean };

export function jobCheck(job: GateJob): JobCheck {
  const at = `Job ${job.namespace}/${job.name}`;
  const holds = (type: string) => job.conditions.find((c) => c.type === type && c.status === "True");
  if (holds("Complete") !== undefined) return { pass: true, message: `${at} completed` };
  // FailureTarget: the Job controller decided it fails and is stopping its pods (Failed follows).
  const failed = holds("Failed") ?? holds("FailureTarget");
  if (failed !== undefined) {
    const why = [failed.reason, failed.message].filter(Boolean).join(": ");
    const pod = job.podMessage === null ? "" : `; pod: ${job.podMessage}`;
    return { pass: false, final: true, message: `${at} failed${why ? `: ${why}` : ""}${pod}` };
  }
  const retried = job.failed > 0 ? `, ${job.failed} pod${job.failed === 1 ? "" : "s"} failed and retried` : "";
  const running = job.active > 0 ? "running" : "waiting for its pod";
  return { pass: false, final: false, message: `${at} ${running}${retried}` };
}

/** A terminated container's state as a line: "Error (exit code 1): the message". */
export function terminationLine(state: { reason?: string; exitCode?: number; message?: string }): string {
  const head = `${state.reason ?? "terminated"}${state.exitCode === undefined ? "" : ` (exit code ${state.exitCode})`}`;
  const message = state.message?.trim() ?? "";
  // Bounded: FallbackToLogsOnError gives up to 80 lines; the reason keeps the last of them.
  const clipped = message.length > 500 ? `…${message.slice(-500)}` : message;
  return clipped === "" ? head : `${head}: ${clipped}`;
}
