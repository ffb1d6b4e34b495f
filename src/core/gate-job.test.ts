import { describe, expect, it } from "vitest";
import { gateJob, jobCheck, parseJobGate, terminationLine, type GateJob, type JobGateTemplate } from "./gate-job.ts";
import { evaluateGates, parseHealthGates, type GateObservations, type HealthGates } from "./health-gates.ts";
import { T0, after } from "../../test/support/core-fixtures.ts";

function parseJob(raw: Record<string, unknown>): { job: JobGateTemplate | null; errors: string[] } {
  const errors: string[] = [];
  return { job: parseJobGate(raw, "spec.healthGates.gates[0].job", errors), errors };
}

describe("parseJobGate", () => {
  it("an image alone: no command of its own, no retries, no ServiceAccount", () => {
    expect(parseJob({ image: "check:1" })).toEqual({
      job: { image: "check:1", command: null, args: null, env: [], serviceAccountName: null, backoffLimit: 0 },
      errors: [],
    });
  });

  it("every field", () => {
    const { job, errors } = parseJob({
      image: "registry.example.com/check:1",
      command: ["/check"],
      args: ["--disk", "--net"],
      env: [{ name: "LEVEL", value: "deep" }],
      serviceAccountName: "node-checker",
      backoffLimit: 2,
    });
    expect(errors).toEqual([]);
    expect(job).toEqual({
      image: "registry.example.com/check:1",
      command: ["/check"],
      args: ["--disk", "--net"],
      env: [{ name: "LEVEL", value: "deep" }],
      serviceAccountName: "node-checker",
      backoffLimit: 2,
    });
  });

  it.each([
    [{}, /gates\[0\]\.job\.image must be a container image/],
    [{ image: "has space" }, /job\.image must be a container image/],
    [{ image: "c", command: "/check" }, /job\.command must be a list of strings/],
    [{ image: "c", args: [1] }, /job\.args must be a list of strings/],
    [{ image: "c", env: [{ name: "1 x", value: "v" }] }, /job\.env\[0\]\.name must be an environment variable name/],
    [{ image: "c", env: [{ name: "BRUPOP_NODE_NAME", value: "v" }] }, /job\.env\[0\]\.name: BRUPOP_\* is set/],
    [{ image: "c", env: [{ name: "A" }] }, /job\.env\[0\]\.value must be a string/],
    [{ image: "c", serviceAccountName: "brupop-controller-service-account" }, /operator's own ServiceAccounts/],
    [{ image: "c", serviceAccountName: "Not_A_Name" }, /job\.serviceAccountName must be a ServiceAccount name/],
    [{ image: "c", backoffLimit: 4 }, /job\.backoffLimit must be a whole number from 0 to 3/],
    [{ image: "c", backoffLimit: 1.5 }, /job\.backoffLimit must be a whole number/],
  ])("%j is refused: %s", (raw, error) => {
    const { job, errors } = parseJob(raw);
    expect(job).toBeNull();
    expect(errors.join("\n")).toMatch(error);
  });

  it("as a gate of the policy: its own kind, with the gate's timeout", () => {
    const errors: string[] = [];
    const gates = parseHealthGates(
      { builtIn: false, gates: [{ name: "smoke", timeout: "3m", job: { image: "check:1" } }] },
      "spec.healthGates",
      errors,
    );
    expect(errors).toEqual([]);
    expect(gates.gates).toEqual([
      {
        name: "smoke",
        timeoutSeconds: 180,
        check: {
          kind: "job",
          job: { image: "check:1", command: null, args: null, env: [], serviceAccountName: null, backoffLimit: 0 },
        },
      },
    ]);
    parseHealthGates({ gates: [{ name: "x", job: { image: "c" }, prometheus: { query: "up" } }] }, "h", errors);
    expect(errors).toEqual(["h.gates[0]: set exactly one of podsReady, nodeCondition, prometheus, job"]);
  });
});

const TEMPLATE: JobGateTemplate = {
  image: "check:1",
  command: ["/check"],
  args: null,
  env: [{ name: "LEVEL", value: "deep" }],
  serviceAccountName: null,
  backoffLimit: 1,
};
const SUBJECT = {
  name: "brupop-gate-smoke-0123456789ab",
  namespace: "brupop-bottlerocket-aws",
  gate: "smoke",
  nodeName: "ip-10-0-0-1.ec2.internal",
  version: "1.26.0",
  shadow: { name: "brs-ip-10-0-0-1.ec2.internal", uid: "uid-1" },
  deadline: after(300),
  now: T0,
};

describe("gateJob: the Job of one node's attempt", () => {
  const job = gateJob(TEMPLATE, SUBJECT);
  const pod = job.spec.template.spec;

  it("runs one pod on the node, whatever its taints, not retried, and told which node and version", () => {
    expect(pod.nodeName).toBe("ip-10-0-0-1.ec2.internal");
    expect(pod.restartPolicy).toBe("Never");
    expect(pod.tolerations).toEqual([{ operator: "Exists" }]);
    expect(pod.containers).toEqual([
      {
        name: "gate",
        image: "check:1",
        command: ["/check"],
        env: [
          { name: "LEVEL", value: "deep" },
          { name: "BRUPOP_NODE_NAME", value: "ip-10-0-0-1.ec2.internal" },
          { name: "BRUPOP_VERSION", value: "1.26.0" },
        ],
        terminationMessagePolicy: "FallbackToLogsOnError",
        securityContext: { allowPrivilegeEscalation: false, capabilities: { drop: ["ALL"] } },
      },
    ]);
    expect(job.spec.backoffLimit).toBe(1);
  });

  it("mounts no token unless the gate names a ServiceAccount", () => {
    expect(pod.automountServiceAccountToken).toBe(false);
    expect(pod.serviceAccountName).toBeUndefined();
    const withAccount = gateJob({ ...TEMPLATE, serviceAccountName: "node-checker" }, SUBJECT).spec.template.spec;
    expect(withAccount.serviceAccountName).toBe("node-checker");
    expect(withAccount.automountServiceAccountToken).toBeUndefined();
  });

  it("stops at the gate's deadline, goes an hour after it finished, and with the node's shadow", () => {
    expect(job.spec.activeDeadlineSeconds).toBe(300);
    expect(gateJob(TEMPLATE, { ...SUBJECT, now: after(299.2) }).spec.activeDeadlineSeconds).toBe(1);
    expect(gateJob(TEMPLATE, { ...SUBJECT, now: after(400) }).spec.activeDeadlineSeconds).toBe(1);
    expect(job.spec.ttlSecondsAfterFinished).toBe(3600);
    expect(job.metadata.ownerReferences).toEqual([
      {
        apiVersion: "brupop.bottlerocket.aws/v2",
        kind: "BottlerocketShadow",
        name: "brs-ip-10-0-0-1.ec2.internal",
        uid: "uid-1",
      },
    ]);
  });

  it("names the gate and the node in labels (the node when it fits) and annotations", () => {
    expect(job.metadata).toMatchObject({
      name: "brupop-gate-smoke-0123456789ab",
      namespace: "brupop-bottlerocket-aws",
      labels: { "brupop.bottlerocket.aws/gate": "smoke", "brupop.bottlerocket.aws/gate-node": SUBJECT.nodeName },
      annotations: {
        "brupop.bottlerocket.aws/gate-node": SUBJECT.nodeName,
        "brupop.bottlerocket.aws/gate-version": "1.26.0",
      },
    });
    expect(job.spec.template.metadata.labels).toEqual(job.metadata.labels);
    const long = `${"a".repeat(60)}.example.com`;
    const other = gateJob(TEMPLATE, { ...SUBJECT, nodeName: long });
    expect(other.metadata.labels).toEqual({ "brupop.bottlerocket.aws/gate": "smoke" });
    expect(other.metadata.annotations["brupop.bottlerocket.aws/gate-node"]).toBe(long);
  });
});

const observedJob = (patch: Partial<GateJob> = {}): GateJob => ({
  namespace: "ops",
  name: "brupop-gate-smoke-x",
  conditions: [],
  active: 0,
  failed: 0,
  podMessage: null,
  ...patch,
});

describe("jobCheck: what the Job's status says", () => {
  it("waits for its pod, then while it runs, saying when a pod failed and was retried", () => {
    expect(jobCheck(observedJob())).toEqual({
      pass: false,
      final: false,
      message: "Job ops/brupop-gate-smoke-x waiting for its pod",
    });
    expect(jobCheck(observedJob({ active: 1, failed: 1 }))).toEqual({
      pass: false,
      final: false,
      message: "Job ops/brupop-gate-smoke-x running, 1 pod failed and retried",
    });
  });

  it("passes when Complete", () => {
    const complete = [
      { type: "SuccessCriteriaMet", status: "True" },
      { type: "Complete", status: "True" },
    ];
    expect(jobCheck(observedJob({ conditions: complete }))).toEqual({
      pass: true,
      message: "Job ops/brupop-gate-smoke-x completed",
    });
  });

  it("fails for good when Failed (or about to be), with the Job's reason and the pod's", () => {
    const failed = [
      {
        type: "Failed",
        status: "True",
        reason: "BackoffLimitExceeded",
        message: "Job has reached the specified backoff limit",
      },
    ];
    expect(jobCheck(observedJob({ conditions: failed, podMessage: "Error (exit code 3): disk check failed" }))).toEqual(
      {
        pass: false,
        final: true,
        message:
          "Job ops/brupop-gate-smoke-x failed: BackoffLimitExceeded: Job has reached the specified backoff limit; " +
          "pod: Error (exit code 3): disk check failed",
      },
    );
    const target = [{ type: "FailureTarget", status: "True", reason: "DeadlineExceeded" }];
    expect(jobCheck(observedJob({ conditions: target }))).toMatchObject({
      final: true,
      message: "Job ops/brupop-gate-smoke-x failed: DeadlineExceeded",
    });
    // A condition that is not True says nothing.
    expect(jobCheck(observedJob({ conditions: [{ type: "Failed", status: "False" }] }))).toMatchObject({
      final: false,
    });
  });

  it("a termination as one bounded line", () => {
    expect(terminationLine({ reason: "Error", exitCode: 1 })).toBe("Error (exit code 1)");
    expect(terminationLine({ reason: "Error", exitCode: 1, message: "bad\n" })).toBe("Error (exit code 1): bad");
    expect(terminationLine({ exitCode: 2, message: "x".repeat(600) })).toBe(
      `terminated (exit code 2): …${"x".repeat(500)}`,
    );
  });
});

describe("evaluateGates with a job gate", () => {
  const gates: HealthGates = {
    prometheusUrl: null,
    gates: [{ name: "smoke", timeoutSeconds: 300, check: { kind: "job", job: TEMPLATE } }],
  };
  const ctx = (now: Date) => ({ since: T0, updateStartedAt: null, now });
  const observe = (job: GateObservations["jobs"]): GateObservations => ({
    node: null,
    ...(job === undefined ? {} : { jobs: job }),
  });

  it("waits while the Job runs, passes when it completed", () => {
    expect(
      evaluateGates(gates, observe({ smoke: { ok: true, value: observedJob({ active: 1 }) } }), ctx(after(10))),
    ).toMatchObject({ kind: "waiting", recheckAt: after(300) });
    expect(
      evaluateGates(
        gates,
        observe({ smoke: { ok: true, value: observedJob({ conditions: [{ type: "Complete", status: "True" }] }) } }),
        ctx(after(10)),
      ),
    ).toEqual({
      kind: "passed",
      results: [{ gate: "smoke", state: "passed", message: "Job ops/brupop-gate-smoke-x completed" }],
    });
  });

  it("fails the update as soon as the Job failed, with its reason (no wait for the timeout)", () => {
    const failed = observedJob({ conditions: [{ type: "Failed", status: "True", reason: "BackoffLimitExceeded" }] });
    expect(evaluateGates(gates, observe({ smoke: { ok: true, value: failed } }), ctx(after(10)))).toEqual({
      kind: "failed",
      gate: "smoke",
      reason: "Job ops/brupop-gate-smoke-x failed: BackoffLimitExceeded",
      results: [
        { gate: "smoke", state: "failed", message: "Job ops/brupop-gate-smoke-x failed: BackoffLimitExceeded" },
      ],
    });
  });

  it("a Job that cannot be read or created waits, saying why, and fails at the timeout", () => {
    const forbidden = observe({ smoke: { ok: false, error: "jobs.batch is forbidden" } });
    expect(evaluateGates(gates, forbidden, ctx(after(10)))).toMatchObject({
      kind: "waiting",
      results: [{ message: "the Job: jobs.batch is forbidden" }],
    });
    expect(evaluateGates(gates, forbidden, ctx(after(300)))).toMatchObject({
      kind: "failed",
      reason: "not passed within 5m: the Job: jobs.batch is forbidden",
    });
    expect(evaluateGates(gates, observe(undefined), ctx(after(10))).results[0]?.message).toBe("the Job was not read");
  });
});
