// The single-object watch against the stub's Kubernetes endpoints over HTTPS.
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
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

async function setup(): Promise<{ stub: StubCluster; watch: SingleObjectWatch<ObservedNode>; errors: string[] }> {
  const stub = await startStubCluster({ controller: false });
  cleanups.push(() => stub.stop());
  const errors: string[] = [];
  const watch = new SingleObjectWatch({
    kube: stub.agentConfig("/nonexistent", null).kube,
    collectionPath: "/api/v1/nodes",
    name: stub.nodeName,
    parse: parseNode,
    onError: (message) => errors.push(message),
    initialBackoffMs: 10,
    maxBackoffMs: 50,
  });
  watch.start();
  cleanups.push(() => watch.stop());
  return { stub, watch, errors };
}

const nodeCalls = (stub: StubCluster, kind: "list" | "watch"): string[] =>
  stub.calls
    .filter((c) => c.path === "/api/v1/nodes" && c.query.includes("watch=1") === (kind === "watch"))
    .map((c) => c.query);

test("lists with the field selector, then watches from the list's resourceVersion with bookmarks", async () => {
  const { stub, watch } = await setup();
  await stub.until(() => stub.openWatches === 1, 5_000, "watch open");
  expect(watch.value).toEqual({ uid: "node-uid-1", unschedulable: false, excludedFromLb: false });
  expect(nodeCalls(stub, "list")).toEqual(["fieldSelector=metadata.name%3Dnode-1"]);
  expect(nodeCalls(stub, "watch")[0]).toMatch(
    /^fieldSelector=metadata.name%3Dnode-1&watch=1&allowWatchBookmarks=true&resourceVersion=\d+&timeoutSeconds=290$/,
  );
});

test("a dropped stream resumes from the last bookmark without re-listing", async () => {
  const { stub } = await setup();
  await stub.until(() => stub.openWatches === 1, 5_000, "watch open");
  stub.bookmark();
  await new Promise((resolve) => setTimeout(resolve, 50));
  const bookmarkRv = /resourceVersion=(\d+)/.exec(nodeCalls(stub, "watch")[0] ?? "")?.[1];
  stub.dropWatches();
  await stub.until(() => nodeCalls(stub, "watch").length === 2 && stub.openWatches === 1, 5_000, "re-watch");
  const resumedRv = /resourceVersion=(\d+)/.exec(nodeCalls(stub, "watch")[1] ?? "")?.[1];
  expect(Number(resumedRv)).toBe(Number(bookmarkRv) + 1);
  expect(nodeCalls(stub, "list")).toHaveLength(1);
});

test("410 Gone re-lists; changes made meanwhile are seen", async () => {
  const { stub, watch } = await setup();
  await stub.until(() => stub.openWatches === 1, 5_000, "watch open");
  stub.goneOnNextWatch();
  stub.dropWatches();
  await stub.until(() => nodeCalls(stub, "list").length === 2 && stub.openWatches === 1, 5_000, "re-list");
  stub.hook = undefined;
  await cordonThroughApiServer(stub);
  await stub.until(() => watch.value?.unschedulable === true, 5_000, "change seen");
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

test("a rejected token backs off and retries; stop() ends it", async () => {
  const { stub, watch, errors } = await setup();
  await stub.until(() => stub.openWatches === 1, 5_000, "watch open");
  await writeFile(join(stub.dir, "kube-token"), "wrong\n");
  stub.goneOnNextWatch();
  stub.dropWatches();
  await stub.until(() => errors.some((e) => /list answered 401/.test(e)), 5_000, "401 reported");
  await writeFile(join(stub.dir, "kube-token"), "kube-token\n"); // token rotated back: re-read on the next request
  await stub.until(() => stub.openWatches === 1, 5_000, "recovered");
  await watch.stop();
  await stub.until(() => stub.openWatches === 0, 5_000, "closed");
});

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
