// The agents' own kube-apiserver traffic at rest: each node's agent keeps two watches (its shadow, its Node), the
// agent's SingleObjectWatch with the agent's default timing, so the footprint's idle request count includes what a
// fleet of real agents costs, not only the stand-ins' shared watch. They run in the bench process through a counting
// proxy of their own. The proxy presents the admin identity upstream: the count, not the agent's RBAC, is measured
// here (the agent's access is tested in test/integration/agent-watch.test.ts).
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { API_GROUP, brsName, PLURAL, VERSION_V2 } from "../src/api/constants.ts";
import { DEFAULT_TIMING } from "../src/agent/config.ts";
import { SingleObjectWatch } from "../src/agent/kube-watch.ts";
import { parseNode, parseShadow } from "../src/agent/observed.ts";
import type { ProxiedAccess } from "../sim/cluster/fault-proxy.ts";
import { PROXIED_TOKEN } from "./in-cluster.ts";
import { log, waitUntil } from "./lib.ts";

export interface AgentWatches {
  /** Watches whose first list has not yet answered (or failed). */
  readonly unsynced: number;
  stop(): Promise<void>;
}

export async function startAgentWatches(
  access: ProxiedAccess,
  namespace: string,
  nodes: readonly string[],
): Promise<AgentWatches> {
  const dir = await mkdtemp(join(tmpdir(), "brupop-agent-watches-"));
  const tokenFile = join(dir, "token");
  await writeFile(tokenFile, PROXIED_TOKEN, { mode: 0o600 });
  const kube = { url: access.proxy.url, tokenFile, caFile: access.caFile };
  const common = {
    kube,
    timeoutSeconds: DEFAULT_TIMING.watchTimeoutSeconds,
    requestTimeoutMs: DEFAULT_TIMING.requestTimeoutMs,
    onError: (message: string) => log(`agent watch: ${message}`),
  };
  const watches: { value: unknown; start(): void; stop(): Promise<void> }[] = [];
  for (const node of nodes) {
    watches.push(
      new SingleObjectWatch({
        ...common,
        collectionPath: `/apis/${API_GROUP}/${VERSION_V2}/namespaces/${namespace}/${PLURAL}`,
        name: brsName(node),
        parse: parseShadow,
      }),
      new SingleObjectWatch({ ...common, collectionPath: "/api/v1/nodes", name: node, parse: parseNode }),
    );
  }
  for (const w of watches) w.start();
  const unsynced = () => watches.filter((w) => w.value === undefined).length;
  await waitUntil(`${watches.length} agent watches listed`, () => unsynced() === 0, 120_000);
  log(`agent watches: ${watches.length} open (2 per node)`);
  return {
    get unsynced() {
      return unsynced();
    },
    async stop() {
      await Promise.all(watches.map((w) => w.stop()));
      await rm(dir, { recursive: true, force: true });
    },
  };
}
