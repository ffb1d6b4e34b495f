// The API server as a pod runs it: `node src/apiserver/main.ts` in its own process (configuration from the
// environment, HTTPS with a serving certificate issued by the control plane's CA, TLS from files), so its memory
// is its own and can be read from /proc. Its HTTPS client (trusting that CA) is sim/cluster/https-call.ts.
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { apiServerProcessEnv, writeApiServerTlsFiles } from "../../sim/cluster/apiserver-tls.ts";
import { httpsCall, type Answer, type HttpsCall } from "../../sim/cluster/https-call.ts";
import { freePort } from "../../sim/control-plane/ports.ts";
import { eventually, type TestCluster } from "./cluster.ts";

const ROOT = join(import.meta.dirname, "..", "..");

export { httpsCall, type Answer, type HttpsCall };

export interface ProcessMemory {
  /** VmRSS: resident now. */
  rssBytes: number;
  /** VmHWM: the highest resident size the process ever had (the kernel's own peak, no sampling gaps). */
  peakRssBytes: number;
}

export interface ApiServerProcess {
  readonly pid: number;
  /** `https://127.0.0.1:<port>` */
  readonly url: string;
  /** The CA that issued the serving certificate (the control plane's). */
  readonly caPem: string;
  /** One request on a fresh connection (as the agent sends them). */
  call(request: HttpsCall): Promise<Answer>;
  memory(): Promise<ProcessMemory>;
  /** The last lines the process wrote, for failure messages. */
  tail(): string;
  stop(): Promise<void>;
}

function kib(status: string, field: string): number {
  const match = new RegExp(`^${field}:\\s+(\\d+) kB$`, "m").exec(status);
  if (!match) throw new Error(`no ${field} in /proc status`);
  return Number(match[1]) * 1024;
}

export async function readProcessMemory(pid: number): Promise<ProcessMemory> {
  const status = await readFile(`/proc/${pid}/status`, "utf8");
  return { rssBytes: kib(status, "VmRSS"), peakRssBytes: kib(status, "VmHWM") };
}

export interface ApiServerProcessOptions {
  agentServiceAccount: string;
  /** Flags for node before the entry point. */
  nodeFlags?: readonly string[];
  /** Extra environment (e.g. rate limits). */
  env?: Record<string, string>;
}

/** Starts the API server for `t`'s namespace and resolves once it is ready for agents (/readyz 200). */
export async function startApiServerProcess(t: TestCluster, o: ApiServerProcessOptions): Promise<ApiServerProcess> {
  const dir = await mkdtemp(join(tmpdir(), "brupop-apiserver-"));
  const tls = await writeApiServerTlsFiles(t.info, { dir, namespace: t.namespace, clusterDomain: "cluster.local" });
  const [port, metricsPort] = [await freePort(), await freePort()];
  const args = [...(o.nodeFlags ?? []), join(ROOT, "src", "apiserver", "main.ts")];
  const child: ChildProcess = spawn(process.execPath, args, {
    env: {
      ...apiServerProcessEnv({
        kubeconfigPath: t.info.kubeconfigPath,
        namespace: t.namespace,
        port,
        metricsPort,
        tls,
        terminationLog: join(dir, "termination-log"),
      }),
      AGENT_SERVICE_ACCOUNT: o.agentServiceAccount,
      ...o.env,
    },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const output: string[] = [];
  const keep = (chunk: Buffer) => {
    output.push(chunk.toString("utf8"));
    if (output.length > 200) output.shift();
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const pid = child.pid;
  if (pid === undefined) throw new Error("the API server process did not start");
  const url = `https://127.0.0.1:${port}`;
  const tail = () => output.join("").split("\n").slice(-40).join("\n");
  const self: ApiServerProcess = {
    pid,
    url,
    caPem: t.info.caPem,
    call: (request) => httpsCall(url, t.info.caPem, request),
    memory: () => readProcessMemory(pid),
    tail,
    async stop() {
      if (child.exitCode === null && child.signalCode === null) {
        process.kill(pid, "SIGTERM");
        const timer = setTimeout(() => {
          if (child.exitCode === null && child.signalCode === null) process.kill(pid, "SIGKILL");
        }, 10_000);
        await exited;
        clearTimeout(timer);
      }
      await rm(dir, { recursive: true, force: true });
    },
  };
  try {
    await eventually(
      "the API server ready over TLS",
      async () => {
        if (child.exitCode !== null) throw new Error(`the API server exited with ${child.exitCode}:\n${tail()}`);
        const answer = await self.call({ method: "GET", path: "/readyz" });
        return answer.status === 200 ? true : undefined;
      },
      60_000,
    );
  } catch (err) {
    await self.stop();
    throw err;
  }
  return self;
}
