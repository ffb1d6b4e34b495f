// The API server client against the stub's brupop routes over HTTPS: headers, token re-read, retries, deadlines,
// and the asynchronous drain with its fallback to brupop's synchronous route.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { afterEach, describe, expect, test } from "vitest";
import { ApiServerClient, ApiServerError, DrainFailedError } from "./apiserver-client.ts";
import { TransportError } from "./http.ts";
import { startStubCluster, type StubCluster, type StubOptions } from "../../sim/stand-ins/agent-kube-stub.ts";

const stubs: StubCluster[] = [];
afterEach(async () => {
  await Promise.all(stubs.splice(0).map((s) => s.stop()));
});

async function setup(
  options: StubOptions = {},
  client: Partial<ConstructorParameters<typeof ApiServerClient>[0]> = {},
): Promise<{ stub: StubCluster; api: ApiServerClient }> {
  const stub = await startStubCluster({ controller: false, ...options });
  stubs.push(stub);
  const config = stub.agentConfig("/nonexistent", null);
  const api = new ApiServerClient({
    access: config.apiServer,
    nodeName: stub.nodeName,
    nodeUid: () => "node-uid-1",
    requestTimeoutMs: 1_000,
    drainTimeoutMs: 2_000,
    drainPollIntervalMs: 10,
    ...client,
  });
  return { stub, api };
}

async function rejection(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a rejection");
    },
    (error: unknown) => error,
  );
}

describe("brupop routes", () => {
  test("create and status carry brupop's headers; the token file is re-read on every request", async () => {
    const { stub, api } = await setup();
    await api.createShadow();
    expect(stub.calls[0]?.body).toEqual({ node_selector: { node_name: "node-1", node_uid: "node-uid-1" } });
    stub.apiServerToken = "rotated";
    await writeFile(join(stub.dir, "apiserver-token"), "rotated\n");
    const status = {
      current_version: "1.25.0",
      target_version: "1.25.0",
      current_state: "Idle" as const,
      crash_count: 0,
      state_transition_failure_timestamp: null,
    };
    await api.updateStatus(status);
    expect(stub.shadow?.status).toEqual(status);
  });

  test("a refused request (403) is not retried; a 500 is retried until it succeeds", async () => {
    const { stub, api } = await setup();
    stub.apiServerToken = "something else";
    const refused = await rejection(api.uncordon());
    expect(refused).toBeInstanceOf(ApiServerError);
    expect((refused as ApiServerError).status).toBe(403);
    expect(stub.routes).toHaveLength(1);
    stub.apiServerToken = "agent-projected-token";
    let failures = 2;
    stub.hook = () => (failures-- > 0 ? 500 : undefined);
    await api.uncordon();
    expect(stub.routes.filter((r) => r.endsWith("/uncordon"))).toHaveLength(4);
  });

  test("an unanswered request ends at its deadline", async () => {
    const { stub, api } = await setup({}, { requestTimeoutMs: 150 });
    // The stub answers only once the test lets it: only the client's own deadline can end the request before that.
    const held: (() => void)[] = [];
    stub.hook = () => new Promise((resolve) => held.push(() => resolve(undefined)));
    const error = await rejection(api.excludeFromLb());
    expect(held.length).toBeGreaterThan(0); // the request reached the stub, which never answered it
    expect(error).toBeInstanceOf(TransportError);
    expect((error as TransportError).timedOut).toBe(true);
    expect((error as Error).message).toMatch(/exclude-from-lb: no answer within 150 ms$/);
    for (const answer of held) answer();
  });
});

describe("drain", () => {
  test("prefers the asynchronous drain: start, poll until drained", async () => {
    const { stub, api } = await setup({ asyncDrain: true });
    await api.cordonAndDrain();
    expect(stub.routes).toEqual([
      "POST /bottlerocket-node-resource/drain",
      "GET /bottlerocket-node-resource/drain",
      "GET /bottlerocket-node-resource/drain",
    ]);
    expect(stub.unschedulable).toBe(true);
  });

  test("a drain that ends timed-out is an error carrying the server's explanation", async () => {
    const { stub, api } = await setup({ asyncDrain: true });
    stub.drainOutcome = {
      phase: "timed-out",
      message: "pod shop/web-0 blocked (PodDisruptionBudget web)",
      afterPolls: 1,
    };
    const error = await rejection(api.cordonAndDrain());
    expect(error).toBeInstanceOf(DrainFailedError);
    expect((error as Error).message).toBe("drain timed-out: pod shop/web-0 blocked (PodDisruptionBudget web)");
  });

  test("a replica that does not know the drain (404) gets it started again", async () => {
    const { stub, api } = await setup({ asyncDrain: true });
    stub.drainOutcome = { phase: "drained", message: "drained", afterPolls: 3 };
    let forgotten = false;
    stub.hook = (call) => {
      if (call.method === "GET" && !forgotten) {
        forgotten = true;
        stub.forgetDrain();
      }
      return undefined;
    };
    await api.cordonAndDrain();
    expect(stub.routes.filter((r) => r.startsWith("POST"))).toHaveLength(2);
  });

  test("'drained' from another drain (a replica remembering an earlier attempt) is not trusted", async () => {
    const { stub, api } = await setup({ asyncDrain: true }, { drainTimeoutMs: 300 });
    stub.staleDrain = { id: "an-earlier-drain", phase: "drained", message: "drained an hour ago", polls: 0 };
    const error = await rejection(api.cordonAndDrain());
    expect((error as Error).message).toMatch(/did not finish within/);
    // It asked again where its polls landed, for the drain it follows.
    expect(stub.routes.filter((r) => r.startsWith("POST")).length).toBeGreaterThan(1);
  });

  test("status polls rate limited (429) past the retries do not end the drain; the next poll goes on", async () => {
    const { stub, api } = await setup({ asyncDrain: true }, { requestTimeoutMs: 300 });
    stub.drainOutcome = { phase: "drained", message: "drained", afterPolls: 2 };
    let limited = 0;
    stub.hook = (call) => {
      if (call.method !== "GET" || limited >= 6) return undefined;
      limited++;
      return 429;
    };
    await api.cordonAndDrain();
    expect(limited).toBe(6); // more than one call's retries: the poll loop itself carried on
  });

  test("a drain cancelled by a replica shutting down is started again, and finishes", async () => {
    const { stub, api } = await setup({ asyncDrain: true });
    stub.drainOutcome = { phase: "cancelled", message: "cancelled: the API server is shutting down", afterPolls: 1 };
    stub.hook = (call) => {
      // The second start (on "another replica") drains normally.
      if (call.method === "POST" && stub.routes.filter((r) => r.startsWith("POST")).length >= 2) {
        stub.drainOutcome = { phase: "drained", message: "drained", afterPolls: 1 };
      }
      return undefined;
    };
    await api.cordonAndDrain();
    expect(stub.routes.filter((r) => r.startsWith("POST"))).toHaveLength(2);
  });

  test("a drain still running at drainTimeout is an error", async () => {
    const { stub, api } = await setup({ asyncDrain: true }, { drainTimeoutMs: 200 });
    stub.drainOutcome = { phase: "drained", message: "drained", afterPolls: 1_000 };
    const error = await rejection(api.cordonAndDrain());
    expect((error as Error).message).toMatch(/did not finish within/);
  });

  test("a drain timeout on the agent's side names the pods and budgets the server reported as blocking", async () => {
    const { stub, api } = await setup({ asyncDrain: true }, { drainTimeoutMs: 200 });
    stub.drainOutcome = {
      phase: "drained",
      message: "drained",
      afterPolls: 1_000,
      blockers: [{ namespace: "shop", name: "db-0", state: "blocked", budgets: ["db-pdb"] }, { bogus: true }],
    };
    const error = await rejection(api.cordonAndDrain());
    expect((error as Error).message).toBe(
      "the drain did not finish within 0 s; blocked by shop/db-0 blocked by PodDisruptionBudget db-pdb",
    );
  });

  test("falls back to brupop's synchronous cordon-and-drain when /drain is unknown, and remembers", async () => {
    const { stub, api } = await setup({ asyncDrain: false });
    await api.cordonAndDrain();
    await api.cordonAndDrain();
    expect(stub.routes).toEqual([
      "POST /bottlerocket-node-resource/drain",
      "POST /bottlerocket-node-resource/cordon-and-drain",
      "POST /bottlerocket-node-resource/cordon-and-drain",
    ]);
  });
});
