// Deadlines and answers on the node: how long after its deadline the host API client and the agent's API server
// client give up, and how fast the simulated host answers an action (204) or a second one (423). The tests assert
// which deadline fired and that an answer came before the work was done (src/host/client.test.ts,
// src/agent/apiserver-client.test.ts, sim/host/conformance.test.ts); the figures, which a loaded machine stretches,
// are measured here, against the bounds those tests used to assert.
//
//   node bench/deadlines.ts [--runs 30]
import { parseArgs } from "node:util";
import { ApiServerClient } from "../src/agent/apiserver-client.ts";
import { HostApiError } from "../src/host/errors.ts";
import { rawRequest, startTestHost, type TestHost } from "../sim/host/testing.ts";
import { startStubCluster } from "../sim/stand-ins/agent-kube-stub.ts";
import { environment, log, percentile, report, round, type Goal } from "./lib.ts";

const { values } = parseArgs({ options: { runs: { type: "string", default: "30" } } });
const runs = Number(values.runs);

interface Figure {
  n: number;
  p50: number;
  p99: number;
  max: number;
}

const figure = (ms: readonly number[]): Figure => ({
  n: ms.length,
  p50: round(percentile(ms, 0.5), 1),
  p99: round(percentile(ms, 0.99), 1),
  max: round(Math.max(...ms), 1),
});

async function timed(what: string, once: () => Promise<number>): Promise<Figure> {
  const ms: number[] = [];
  for (let i = 0; i < runs; i++) ms.push(await once());
  const f = figure(ms);
  log(`deadlines: ${what}: p50 ${f.p50} / p99 ${f.p99} / max ${f.max} ms over ${f.n}`);
  return f;
}

/** Milliseconds until `promise` rejects with a HostApiError of `kind` (anything else is a failed run). */
async function untilFailure(promise: Promise<unknown>, kind: string): Promise<number> {
  const began = performance.now();
  try {
    await promise;
  } catch (error) {
    if (error instanceof HostApiError && error.kind === kind) return performance.now() - began;
    throw error;
  }
  throw new Error(`expected a ${kind} failure`);
}

async function withHost<T>(
  options: Parameters<typeof startTestHost>[0],
  client: Parameters<typeof startTestHost>[1],
  fn: (t: TestHost) => Promise<T>,
): Promise<T> {
  const t = await startTestHost(options, client);
  try {
    return await fn(t);
  } finally {
    await t.close();
  }
}

const REQUEST_TIMEOUT_MS = 80;
const LOCK_WAIT_MS = 80;
const COMMAND_TIMEOUT_MS = 120;
const APISERVER_TIMEOUT_MS = 150;

const requestTimeout = await timed(`host request, no answer, timeout ${REQUEST_TIMEOUT_MS} ms`, () =>
  withHost({}, { requestTimeoutMs: REQUEST_TIMEOUT_MS }, async (t) => {
    t.host.inject("stall");
    return untilFailure(t.client.getOs(), "timeout");
  }),
);
const lockWait = await timed(`host lock held by another command, lock wait ${LOCK_WAIT_MS} ms`, () =>
  withHost({}, { lockWaitMs: LOCK_WAIT_MS }, async (t) => {
    t.host.inject("hang:refresh");
    t.host.request("POST", "/actions/refresh-updates");
    return untilFailure(t.client.refreshUpdates(), "locked");
  }),
);
const commandTimeout = await timed(`our command never finishing, deadline ${COMMAND_TIMEOUT_MS} ms`, () =>
  withHost({}, { waitPolicies: { prepare: { pollIntervalMs: 10, timeoutMs: COMMAND_TIMEOUT_MS } } }, async (t) => {
    await t.client.refreshUpdates();
    t.host.inject("hang:prepare");
    return untilFailure(t.client.prepareUpdate("1.26.0"), "timeout");
  }),
);
const actionAnswer = await timed("simulated host: 204 to a 600 ms prepare", () =>
  withHost({ durations: { prepareMs: 600 } }, {}, async (t) => {
    await t.client.refreshUpdates();
    const began = performance.now();
    const response = await rawRequest(t.socketPath, "POST", "/actions/prepare-update");
    if (response.status !== 204) throw new Error(`prepare answered ${response.status}`);
    return performance.now() - began;
  }),
);
const lockedAnswer = await timed("simulated host: 423 to an action while another runs", () =>
  withHost({ durations: { prepareMs: 1_000 } }, {}, async (t) => {
    await t.client.refreshUpdates();
    await rawRequest(t.socketPath, "POST", "/actions/prepare-update");
    const began = performance.now();
    const response = await rawRequest(t.socketPath, "POST", "/actions/refresh-updates");
    if (response.status !== 423) throw new Error(`refresh answered ${response.status}`);
    return performance.now() - began;
  }),
);

const stub = await startStubCluster({ controller: false });
let apiServerTimeout: Figure;
try {
  const config = stub.agentConfig("/nonexistent", null);
  const api = new ApiServerClient({
    access: config.apiServer,
    nodeName: stub.nodeName,
    nodeUid: () => "node-uid-1",
    requestTimeoutMs: APISERVER_TIMEOUT_MS,
    drainTimeoutMs: 2_000,
    drainPollIntervalMs: 10,
  });
  const held: (() => void)[] = [];
  stub.hook = () => new Promise((resolve) => held.push(() => resolve(undefined)));
  apiServerTimeout = await timed(`agent → API server, no answer, timeout ${APISERVER_TIMEOUT_MS} ms`, async () => {
    const began = performance.now();
    const outcome = await api.excludeFromLb().then(
      () => "answered",
      (error: unknown) => (error as { timedOut?: boolean }).timedOut === true,
    );
    if (outcome !== true) throw new Error(`expected the request to time out, got ${String(outcome)}`);
    return performance.now() - began;
  });
  for (const answer of held) answer();
} finally {
  await stub.stop();
}

const within = (description: string, f: Figure, limitMs: number): Goal => ({
  description,
  measured: `max ${f.max} ms (p50 ${f.p50}, p99 ${f.p99}, ${f.n} runs)`,
  met: f.max < limitMs,
});

await report({
  name: "deadlines",
  title: "Deadlines and answers on the node: host API client, agent → API server, simulated host",
  at: new Date().toISOString(),
  environment: await environment(),
  parameters: {
    runs,
    requestTimeoutMs: REQUEST_TIMEOUT_MS,
    lockWaitMs: LOCK_WAIT_MS,
    commandTimeoutMs: COMMAND_TIMEOUT_MS,
    apiServerTimeoutMs: APISERVER_TIMEOUT_MS,
  },
  results: { requestTimeout, lockWait, commandTimeout, apiServerTimeout, actionAnswer, lockedAnswer },
  headline: {
    [`Host request timeout (${REQUEST_TIMEOUT_MS} ms): gave up after, p50 / p99 / max`]: `${requestTimeout.p50} / ${requestTimeout.p99} / ${requestTimeout.max} ms`,
    [`Host lock wait (${LOCK_WAIT_MS} ms): gave up after, p50 / p99 / max`]: `${lockWait.p50} / ${lockWait.p99} / ${lockWait.max} ms`,
    [`Host command deadline (${COMMAND_TIMEOUT_MS} ms, polls every 10 ms): gave up after, p50 / p99 / max`]: `${commandTimeout.p50} / ${commandTimeout.p99} / ${commandTimeout.max} ms`,
    [`Agent → API server timeout (${APISERVER_TIMEOUT_MS} ms): gave up after, p50 / p99 / max`]: `${apiServerTimeout.p50} / ${apiServerTimeout.p99} / ${apiServerTimeout.max} ms`,
    "Simulated host: 204 to an action, p50 / p99 / max": `${actionAnswer.p50} / ${actionAnswer.p99} / ${actionAnswer.max} ms`,
    "Simulated host: 423 while another action runs, p50 / p99 / max": `${lockedAnswer.p50} / ${lockedAnswer.p99} / ${lockedAnswer.max} ms`,
  },
  goals: [
    within(`host request timeout of ${REQUEST_TIMEOUT_MS} ms ends the request within 1 s`, requestTimeout, 1_000),
    within(`host lock wait of ${LOCK_WAIT_MS} ms gives up within 1 s`, lockWait, 1_000),
    within(
      `agent → API server timeout of ${APISERVER_TIMEOUT_MS} ms ends the request within 800 ms`,
      apiServerTimeout,
      800,
    ),
    within("simulated host answers an action's 204 within 500 ms (before a 600 ms prepare is done)", actionAnswer, 500),
    within("simulated host answers 423 to a second action within 300 ms (non-blocking lock)", lockedAnswer, 300),
  ],
  notes: [
    "Each run starts its own simulated host (a Unix socket in a temp dir) or reuses one agent test stub (HTTPS on loopback); the client and the host share one Node process.",
    "The goals are the bounds the unit tests used to assert on elapsed time; the tests now assert which deadline fired (its message, a host that never answered or still held the lock) instead.",
  ],
});
