// The single-object watch: what the real kube-apiserver cannot be made to do on demand. Everything it can do (list and
// watch by field selector, bookmarks, resume after a timeout or a dropped connection, 410 Gone in the stream, a
// refused token, 429 while a rebuilt storage initialises when the race allows) is tested against it in
// test/integration/agent-watch.test.ts. Here, against the stub: a watch REQUEST answered with HTTP 410 (kube-apiserver
// 1.35 answers 200 and sends the 410 as an ERROR event, but a server may refuse the request itself), and a 429 every
// time (the real server's come only in a race); and the splitting of the stream into lines.
import { Readable } from "node:stream";
import { afterEach, expect, test } from "vitest";
import { ApiServerClient } from "./apiserver-client.ts";
import { jsonLines, SingleObjectWatch } from "./kube-watch.ts";
import { parseNode, type ObservedNode } from "./observed.ts";
import { startStubCluster, type StubCluster } from "../../sim/stand-ins/agent-kube-stub.ts";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

async function setup(
  overrides: { maxBackoffMs?: number } = {},
): Promise<{ stub: StubCluster; watch: SingleObjectWatch<ObservedNode>; errors: string[] }> {
  const stub = await startStubCluster({ controller: false });
  cleanups.push(() => stub.stop());
  const errors: string[] = [];
  const watch = new SingleObjectWatch({
    kube: stub.agentConfig("/nonexistent", null).kube,
    collectionPath: "/api/v1/nodes",
    name: stub.nodeName,
    parse: parseNode,
    timeoutSeconds: 290,
    onError: (message) => errors.push(message),
    initialBackoffMs: 10,
    maxBackoffMs: 50,
    ...overrides,
  });
  watch.start();
  cleanups.push(() => watch.stop());
  return { stub, watch, errors };
}

const nodeCalls = (stub: StubCluster, kind: "list" | "watch"): string[] =>
  stub.calls
    .filter((c) => c.path === "/api/v1/nodes" && c.query.includes("watch=1") === (kind === "watch"))
    .map((c) => c.query);

test("a watch request answered 410 Gone (not in the stream) re-lists; changes made meanwhile are seen", async () => {
  const { stub, watch } = await setup();
  await stub.until(() => stub.openWatches === 1, 5_000, "watch open");
  stub.goneOnNextWatch();
  stub.dropWatches();
  await stub.until(() => nodeCalls(stub, "list").length === 2 && stub.openWatches === 1, 5_000, "re-list");
  stub.hook = undefined;
  await cordonThroughApiServer(stub);
  await stub.until(() => watch.value?.unschedulable === true, 5_000, "change seen");
});

test("a watch answered 429 is repeated from the same resourceVersion after Retry-After, without a re-list or an error", async () => {
  const { stub, errors } = await setup({ maxBackoffMs: 5_000 });
  await stub.until(() => stub.openWatches === 1, 5_000, "watch open");
  stub.busyOnNextWatch(1, 1);
  stub.dropWatches();
  await stub.until(() => nodeCalls(stub, "watch").length === 3 && stub.openWatches === 1, 5_000, "watching again");
  const [, refused, retried] = stub.calls.filter((c) => c.path === "/api/v1/nodes" && c.query.includes("watch=1"));
  // The same watch from the same resourceVersion; only the randomised server timeout differs.
  const resumePoint = (query = "") => query.replace(/&timeoutSeconds=\d+/, "");
  expect(resumePoint(retried?.query)).toBe(resumePoint(refused?.query));
  expect(resumePoint(retried?.query)).toMatch(/resourceVersion=\d+/);
  expect((retried?.at ?? 0) - (refused?.at ?? 0)).toBeGreaterThanOrEqual(1_000); // it waited Retry-After
  expect(nodeCalls(stub, "list")).toHaveLength(1);
  expect(errors.filter((e) => e.includes("429"))).toEqual([]); // only the dropped stream is reported
  expect(errors).toHaveLength(1);
});

/** Cordons through the stub's brupop route, as the API server would on the agent's behalf. */
async function cordonThroughApiServer(stub: StubCluster): Promise<void> {
  const api = new ApiServerClient({
    access: stub.agentConfig("/nonexistent", null).apiServer,
    nodeName: stub.nodeName,
    nodeUid: () => "node-uid-1",
    requestTimeoutMs: 2_000,
    drainTimeoutMs: 2_000,
  });
  await api.cordonAndDrain();
}

test("watch lines: split at newlines across chunks, multi-byte characters kept whole, a last line without newline", async () => {
  const text = '{"a":"é"}\r\n\n{"b":1}\n{"c":2}';
  const bytes = Buffer.from(text, "utf8");
  const at = bytes.indexOf(0xa9); // the second byte of "é": the first chunk ends inside the character
  const lines: string[] = [];
  for await (const line of jsonLines(
    Readable.from([bytes.subarray(0, at), bytes.subarray(at, at + 9), bytes.subarray(at + 9)], { objectMode: false }),
  )) {
    lines.push(line);
  }
  expect(lines).toEqual(['{"a":"é"}\r', "", '{"b":1}', '{"c":2}']);
});
