import { describe, expect, it } from "vitest";
import {
  classifyCall,
  describeHooksRecord,
  formatHooksRecord,
  hookVerdict,
  parseHooks,
  readHooksRecord,
  recordAfterFinish,
  recordCall,
  type CallOutcome,
  type Hook,
  type Hooks,
  type PhaseContext,
} from "./hooks.ts";
import { readFailures } from "./failures.ts";
import { ANNOTATIONS, type ShadowView } from "./model.ts";
import { decideNextSpec, type NodePolicy } from "./next-spec.ts";
import { formatTimestamp } from "../api/timestamps.ts";
import { NODE_POLICY, T0, after, iso, shadow } from "../../test/support/core-fixtures.ts";

const hook = (name: string, extra: Partial<Hook> = {}): Hook => ({
  name,
  url: `http://hooks.test:8080/${name}`,
  mode: "Blocking",
  timeoutSeconds: 10,
  attempts: 3,
  maxWaitSeconds: 600,
  caBundle: null,
  ...extra,
});

const SINCE = iso(after(-30));
const PRE: PhaseContext = { phase: "preDrain", since: SINCE, version: "1.20.0" };
const POST: PhaseContext = { phase: "postReboot", since: SINCE, version: "1.20.0" };

/** A node whose agent reached StagedAndPerformedUpdate (where the drain is asked for next). */
function staged(annotations: Record<string, string> = {}): ShadowView {
  return shadow("n1", {
    spec: { state: "StagedAndPerformedUpdate", version: "1.20.0", state_transition_timestamp: SINCE },
    status: { current_state: "StagedAndPerformedUpdate", target_version: "1.20.0" },
    annotations: { [ANNOTATIONS.previousVersion]: "1.19.0", ...annotations },
  });
}

/** A node whose agent reached MonitoringUpdate on the new version. */
function monitoring(annotations: Record<string, string> = {}): ShadowView {
  return shadow("n1", {
    spec: { state: "MonitoringUpdate", version: "1.20.0", state_transition_timestamp: SINCE },
    status: { current_state: "MonitoringUpdate", current_version: "1.20.0", target_version: "1.20.0" },
    annotations: { [ANNOTATIONS.previousVersion]: "1.19.0", ...annotations },
  });
}

/** The shadow after the call's outcome was recorded on it. */
function called(s: ShadowView, ctx: PhaseContext, h: Hook, outcome: CallOutcome, now: Date): ShadowView {
  const { record } = recordCall(s, ctx, h, outcome, now);
  return { ...s, annotations: { ...s.annotations, [ANNOTATIONS.hooks]: formatHooksRecord(record) } };
}

const OK: CallOutcome = { kind: "passed", message: "HTTP 200" };
const FAIL: CallOutcome = { kind: "failed", message: "HTTP 500: database busy" };

function policyWith(hooks: Partial<Hooks>): NodePolicy {
  return { ...NODE_POLICY, hooks: { preDrain: [], postReboot: [], ...hooks } };
}

describe("parseHooks", () => {
  it("fills the defaults", () => {
    const errors: string[] = [];
    const hooks = parseHooks({ preDrain: [{ name: "db", url: "http://db:8080/x" }] }, "spec.hooks", errors);
    expect(errors).toEqual([]);
    expect(hooks.preDrain).toEqual([
      {
        name: "db",
        url: "http://db:8080/x",
        mode: "Blocking",
        timeoutSeconds: 10,
        attempts: 3,
        maxWaitSeconds: 600,
        caBundle: null,
      },
    ]);
    expect(hooks.postReboot).toEqual([]);
  });

  it.each([
    [{ preDrain: [{ name: "db", url: "db:8080" }] }, "spec.hooks.preDrain[0].url"],
    [{ preDrain: [{ name: "db", url: "http://x", timeout: "0s" }] }, "spec.hooks.preDrain[0].timeout: must be"],
    [{ preDrain: [{ name: "db", url: "http://x", timeout: "2m" }] }, "spec.hooks.preDrain[0].timeout: must be"],
    [{ postReboot: [{ name: "db", url: "http://x", mode: "Sometimes" }] }, "spec.hooks.postReboot[0].mode"],
    [{ preDrain: [{ name: "db", url: "http://x", attempts: 0 }] }, "spec.hooks.preDrain[0].attempts"],
    [{ preDrain: [{ name: "db", url: "http://x", maxWait: "2h" }] }, "spec.hooks.preDrain[0].maxWait"],
    [{ preDrain: [{ name: "db", url: "http://x", caBundle: btoa("hello") }] }, "spec.hooks.preDrain[0].caBundle"],
    [{ preDrain: [{ name: "Db", url: "http://x" }] }, "spec.hooks.preDrain[0].name"],
    [
      {
        preDrain: [
          { name: "a", url: "http://x" },
          { name: "a", url: "http://y" },
        ],
      },
      'spec.hooks.preDrain[1].name: "a" is taken',
    ],
    [{ preDrain: "x" }, "spec.hooks.preDrain must be a list"],
  ])("%j: an error naming %s", (raw, field) => {
    const errors: string[] = [];
    parseHooks(raw, "spec.hooks", errors);
    expect(errors.join("; ")).toContain(field);
  });

  it("keeps a CA bundle as PEM", () => {
    const errors: string[] = [];
    const pem = "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n";
    const hooks = parseHooks({ preDrain: [{ name: "a", url: "https://x", caBundle: btoa(pem) }] }, "h", errors);
    expect(errors).toEqual([]);
    expect(hooks.preDrain[0]?.caBundle).toBe(pem);
  });
});

describe("classifyCall: the answer contract", () => {
  it.each([
    [{ kind: "answered", status: 200, retryAfter: null, body: "" }, { kind: "passed" }],
    [{ kind: "answered", status: 204, retryAfter: null, body: "" }, { kind: "passed" }],
    [
      { kind: "answered", status: 500, retryAfter: null, body: "busy" },
      { kind: "failed", message: "HTTP 500: busy" },
    ],
    [
      { kind: "answered", status: 302, retryAfter: null, body: "" },
      { kind: "failed", message: "HTTP 302" },
    ],
    [{ kind: "answered", status: 503, retryAfter: null, body: "" }, { kind: "failed" }],
    [
      { kind: "answered", status: 503, retryAfter: "30", body: "" },
      { kind: "not-yet", afterSeconds: 30 },
    ],
    [
      { kind: "answered", status: 429, retryAfter: "0", body: "" },
      { kind: "not-yet", afterSeconds: 1 },
    ],
    [
      { kind: "answered", status: 429, retryAfter: "86400", body: "" },
      { kind: "not-yet", afterSeconds: 300 },
    ],
    // An HTTP date is not honoured: a failed call (bounded by attempts), not an unbounded wait.
    [{ kind: "answered", status: 429, retryAfter: "Wed, 21 Oct 2015 07:28:00 GMT", body: "" }, { kind: "failed" }],
    [{ kind: "error", message: "no answer within 2s (timeout)" }, { kind: "failed" }],
  ] as const)("%j → %j", (result, outcome) => {
    expect(classifyCall(result)).toMatchObject(outcome);
  });
});

describe("hookVerdict and recordCall", () => {
  const [first, second] = [hook("first"), hook("second")];
  const hooks = [first, second];

  it("calls the hooks in order, each once the one before passed, then is done", () => {
    let s = staged();
    const v1 = hookVerdict(hooks, s, PRE, T0);
    expect(v1).toMatchObject({ kind: "call", call: { hook: { name: "first" }, request: { attempt: 1 } } });
    s = called(s, PRE, first, OK, T0);
    const v2 = hookVerdict(hooks, s, PRE, T0);
    expect(v2).toMatchObject({ kind: "call", call: { hook: { name: "second" } } });
    s = called(s, PRE, second, OK, after(1));
    expect(hookVerdict(hooks, s, PRE, after(1))).toMatchObject({ kind: "done", advisoryFailed: [] });
  });

  it("tells the receiver who, what and an idempotency key that a repeated call keeps", () => {
    const v = hookVerdict(hooks, staged(), PRE, T0);
    expect(v.kind === "call" && v.call.request).toEqual({
      apiVersion: "brupop.bottlerocket.aws/v1alpha1",
      kind: "UpdateHook",
      phase: "preDrain",
      hook: "first",
      node: "n1",
      shadow: { name: "brs-n1" },
      fromVersion: "1.19.0",
      toVersion: "1.20.0",
      rollback: false,
      attempt: 1,
      idempotencyKey: `brs-n1/preDrain/1.20.0/${SINCE}/first`,
    });
    // A controller that crashed after the call and before recording it calls again, with the same key.
    const again = hookVerdict(hooks, staged(), PRE, after(60));
    expect(again.kind === "call" && again.call.request.idempotencyKey).toBe(`brs-n1/preDrain/1.20.0/${SINCE}/first`);
    // A retry after a failed call: the same key, the next attempt number.
    const retried = called(staged(), PRE, first, FAIL, T0);
    const v3 = hookVerdict(hooks, retried, PRE, after(5));
    expect(v3.kind === "call" && v3.call.request).toMatchObject({
      attempt: 2,
      idempotencyKey: `brs-n1/preDrain/1.20.0/${SINCE}/first`,
    });
  });

  it("retries a failed call after 5 s, 10 s, and fails the hook at its attempts", () => {
    const h = hook("first");
    let s = called(staged(), PRE, h, FAIL, T0);
    expect(hookVerdict([h], s, PRE, after(4))).toMatchObject({ kind: "waiting", recheckAt: after(5) });
    expect(hookVerdict([h], s, PRE, after(5))).toMatchObject({ kind: "call" });
    s = called(s, PRE, h, FAIL, after(5));
    expect(hookVerdict([h], s, PRE, after(14))).toMatchObject({ kind: "waiting", recheckAt: after(15) });
    s = called(s, PRE, h, FAIL, after(15));
    expect(hookVerdict([h], s, PRE, after(15))).toMatchObject({
      kind: "failed",
      hook: "first",
      message: "HTTP 500: database busy",
    });
  });

  it("an advisory hook that failed is recorded and passed over", () => {
    const h = hook("notify", { mode: "Advisory", attempts: 1 });
    const s = called(staged(), PRE, h, FAIL, T0);
    expect(hookVerdict([h, hook("next")], s, PRE, T0)).toMatchObject({
      kind: "call",
      call: { hook: { name: "next" } },
    });
    expect(hookVerdict([h], s, PRE, T0)).toMatchObject({ kind: "done", advisoryFailed: ["notify"] });
  });

  it("waits as long as the receiver says not yet, within maxWait from the first call, then fails", () => {
    const h = hook("failover", { maxWaitSeconds: 60 });
    const notYet: CallOutcome = { kind: "not-yet", afterSeconds: 40, message: "HTTP 429, not yet" };
    let s = called(staged(), PRE, h, notYet, T0);
    expect(hookVerdict([h], s, PRE, after(39))).toMatchObject({ kind: "waiting", recheckAt: after(40) });
    s = called(s, PRE, h, notYet, after(40));
    // Asked for 40 s more, but maxWait ends 60 s after the first call.
    expect(hookVerdict([h], s, PRE, after(41))).toMatchObject({ kind: "waiting", recheckAt: after(60) });
    s = called(s, PRE, h, notYet, after(60));
    const v = hookVerdict([h], s, PRE, after(60));
    expect(v).toMatchObject({ kind: "failed", hook: "failover" });
    expect(v.kind === "failed" && v.message).toMatch(/not ready within maxWait 1m/);
    // Not-yet answers use no attempt.
    expect(readHooksRecord(s).preDrain?.hooks.failover).toMatchObject({ calls: 3, failures: 0, state: "failed" });
  });

  it("a record of another phase or attempt counts for nothing: the hooks are called again", () => {
    const h = hook("first");
    const s = called(staged(), PRE, h, OK, T0);
    expect(hookVerdict([h], s, PRE, T0).kind).toBe("done");
    expect(hookVerdict([h], s, { ...PRE, since: iso(after(600)) }, after(600)).kind).toBe("call");
    expect(hookVerdict([h], s, POST, T0).kind).toBe("call");
  });

  it("an unreadable record calls again (at least once, never skipped)", () => {
    const s = staged({ [ANNOTATIONS.hooks]: "{not json" });
    expect(hookVerdict([hook("first")], s, PRE, T0).kind).toBe("call");
    const edited = staged({
      [ANNOTATIONS.hooks]: JSON.stringify({
        preDrain: { since: SINCE, version: "1.20.0", hooks: { first: { state: "passed" } } },
      }),
    });
    expect(hookVerdict([hook("first")], edited, PRE, T0).kind).toBe("call");
  });

  it("keeps the record small: two phases of two failed hooks with long answers stay under 800 bytes", () => {
    // Hooks are called one after the other: at most one waits (three timestamps), the others are final.
    const two = ["alpha-hook-name", "bravo-hook-name"].map((n) => hook(n, { mode: "Advisory", attempts: 1 }));
    let s = monitoring();
    const long: CallOutcome = { kind: "failed", message: `HTTP 500: ${"x".repeat(3000)}` };
    for (const h of two) s = called(s, PRE, h, long, T0);
    for (const h of two) s = called(s, POST, h, long, T0);
    const text = s.annotations?.[ANNOTATIONS.hooks] ?? "";
    expect(Object.keys(readHooksRecord(s))).toEqual(["preDrain", "postReboot"]);
    expect(text.length).toBeLessThan(800);
  });

  it("a finished update drops a record of passes, and keeps one with a failed advisory hook", () => {
    let ok = monitoring();
    ok = called(ok, PRE, hook("db"), OK, T0);
    ok = called(ok, POST, hook("smoke"), OK, T0);
    expect(recordAfterFinish(ok)).toEqual({ [ANNOTATIONS.hooks]: null });
    const advisory = hook("notify", { mode: "Advisory", attempts: 1 });
    const kept = called(ok, PRE, advisory, { kind: "failed", message: "HTTP 503" }, T0);
    expect(recordAfterFinish(kept)).toEqual({});
    expect(recordAfterFinish(monitoring())).toEqual({});
  });

  it("describes the record for brupop explain", () => {
    const s = called(
      called(staged(), PRE, hook("db"), OK, T0),
      PRE,
      hook("notify", { mode: "Advisory", attempts: 1 }),
      FAIL,
      T0,
    );
    expect(describeHooksRecord(readHooksRecord(s))).toEqual([
      [
        "Pre-drain hooks",
        `update to 1.20.0: db passed at ${formatTimestamp(T0)}; notify failed at ${formatTimestamp(T0)}: HTTP 500: database busy`,
      ],
    ]);
  });
});

describe("decideNextSpec with hooks", () => {
  const db = hook("db");

  it("pre-drain: the drain is not asked for until the hook passed", () => {
    const policy = policyWith({ preDrain: [db] });
    expect(decideNextSpec(staged(), policy, T0)).toMatchObject({
      kind: "keep",
      why: "in-progress",
      hook: { phase: "preDrain", hook: { name: "db" } },
    });
    const passed = called(staged(), PRE, db, OK, T0);
    expect(decideNextSpec(passed, policy, after(1))).toMatchObject({
      kind: "advance",
      step: "next",
      spec: { state: "RebootedIntoUpdate", version: "1.20.0" },
    });
    expect(decideNextSpec(passed, policy, after(1)).reason).toContain("pre-drain hooks done");
  });

  it("pre-drain: a blocking hook that failed fails the update before the drain, counted like a crash", () => {
    const policy = policyWith({ preDrain: [hook("db", { attempts: 1 })] });
    const failed = called(staged(), PRE, hook("db", { attempts: 1 }), FAIL, T0);
    const decision = decideNextSpec(failed, policy, after(1));
    expect(decision).toMatchObject({
      kind: "reset",
      cause: "hook-failed",
      spec: { state: "Idle", version: "1.20.0", state_transition_timestamp: formatTimestamp(after(1)) },
      annotations: {
        [ANNOTATIONS.hookFailures]: "1",
        [ANNOTATIONS.lastHookFailure]: formatTimestamp(after(1)),
        [ANNOTATIONS.lastFailureReason]: "pre-drain hook db failed",
      },
    });
    expect(decision.kind === "reset" && decision.reason).toBe(
      "pre-drain hook db failed before the update to 1.20.0: HTTP 500: database busy; not drained, back to Idle",
    );
    const reset = {
      ...failed,
      annotations: { ...failed.annotations, ...(decision.kind === "reset" ? decision.annotations : {}) },
    } as ShadowView;
    expect(readFailures(reset)).toMatchObject({
      hookFailures: 1,
      failures: 1,
      lastFailureAt: after(1),
      lastFailure: "pre-drain hook db failed",
    });
  });

  it("pre-drain: hooks wait for their next call without a write", () => {
    const policy = policyWith({ preDrain: [db] });
    const s = called(staged(), PRE, db, FAIL, T0);
    expect(decideNextSpec(s, policy, after(2))).toMatchObject({ kind: "keep", recheckAt: after(5) });
  });

  it("post-reboot: called once the gates passed; the update finishes after it", () => {
    const policy = policyWith({ postReboot: [db] });
    const gates = { kind: "passed", results: [] } as const;
    const waiting = decideNextSpec(monitoring(), policy, T0, { kind: "waiting", results: [], recheckAt: after(60) });
    expect(waiting.kind).toBe("keep");
    expect(waiting.kind === "keep" && waiting.hook).toBeUndefined();
    expect(decideNextSpec(monitoring(), policy, T0, gates)).toMatchObject({
      kind: "keep",
      hook: { phase: "postReboot" },
    });
    const passed = called(monitoring(), POST, db, OK, T0);
    expect(decideNextSpec(passed, policy, after(1), gates)).toMatchObject({
      kind: "advance",
      step: "finish",
      annotations: { [ANNOTATIONS.hookFailures]: null },
    });
  });

  it("post-reboot: a blocking hook that failed rolls the node back, like a failed gate", () => {
    const policy = policyWith({ postReboot: [hook("db", { attempts: 1 })] });
    const failed = called(monitoring(), POST, hook("db", { attempts: 1 }), FAIL, T0);
    const decision = decideNextSpec(failed, policy, after(1), { kind: "passed", results: [] });
    expect(decision).toMatchObject({
      kind: "reset",
      cause: "hook-failed",
      spec: { state: "StagedAndPerformedUpdate", version: "1.19.0" },
      annotations: {
        [ANNOTATIONS.hookFailures]: "1",
        [ANNOTATIONS.lastFailureReason]: "post-reboot hook db failed",
        [ANNOTATIONS.rollbackTo]: "1.19.0",
        [ANNOTATIONS.rollbackFrom]: "1.20.0",
      },
    });
    expect(decision.reason).toBe(
      "post-reboot hook db failed after the update to 1.20.0: HTTP 500: database busy; rolling back to 1.19.0",
    );
  });

  it("the rollback's drain calls the pre-drain hooks too, saying it is a rollback", () => {
    const policy = policyWith({ preDrain: [db] });
    const rollback = shadow("n1", {
      spec: { state: "StagedAndPerformedUpdate", version: "1.19.0", state_transition_timestamp: SINCE },
      status: { current_state: "StagedAndPerformedUpdate", current_version: "1.20.0", target_version: "1.19.0" },
      annotations: { [ANNOTATIONS.rollbackTo]: "1.19.0", [ANNOTATIONS.rollbackFrom]: "1.20.0" },
    });
    const decision = decideNextSpec(rollback, policy, T0);
    expect(decision.kind === "keep" && decision.hook?.request).toMatchObject({
      rollback: true,
      fromVersion: "1.20.0",
      toVersion: "1.19.0",
    });
  });

  it("a new start clears the last update's record", () => {
    const idle = shadow("n1", { status: { target_version: "1.20.0" }, annotations: { [ANNOTATIONS.hooks]: "{}" } });
    expect(decideNextSpec(idle, policyWith({ preDrain: [db] }), T0)).toMatchObject({
      kind: "start",
      annotations: { [ANNOTATIONS.hooks]: null },
    });
  });
});
