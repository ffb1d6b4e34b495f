// A real Prometheus (Debian's `prometheus` package) as a child process, for the tests that need one: the metrics
// test (test/integration/prometheus.test.ts) and the health gates' Prometheus gate. The tests fail, never skip, when
// the binary is missing.
import { spawn, type ChildProcess } from "node:child_process";
import { access } from "node:fs/promises";
import { createServer } from "node:net";
import { delimiter, join } from "node:path";
import { eventually } from "./cluster.ts";

const APT_HINT =
  "install Debian's prometheus package: apt-get update && apt-get install -y --no-install-recommends prometheus";

/** The first executable `name` on PATH (or in /usr/bin, /usr/sbin), else undefined. */
async function findBinary(name: string): Promise<string | undefined> {
  const dirs = [...(process.env.PATH ?? "").split(delimiter), "/usr/bin", "/usr/sbin"].filter((d) => d !== "");
  for (const dir of dirs) {
    const path = join(dir, name);
    try {
      await access(path, 1); // X_OK
      return path;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** The prometheus binary; throws with how to install it when there is none. */
export async function prometheusBinary(): Promise<string> {
  const binary = await findBinary("prometheus");
  if (binary === undefined) throw new Error(`the prometheus binary was not found on PATH: ${APT_HINT}`);
  return binary;
}

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address !== null ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}

/** A child process whose output is kept for error messages; stopped by its PID only. */
export class Child {
  readonly output: string[] = [];
  readonly process: ChildProcess;
  readonly exited: Promise<number | null>;
  constructor(command: string, args: readonly string[], env: NodeJS.ProcessEnv = process.env) {
    this.process = spawn(command, args, { env, stdio: ["ignore", "pipe", "pipe"] });
    const keep = (chunk: Buffer) => {
      this.output.push(chunk.toString("utf8"));
      if (this.output.length > 200) this.output.shift();
    };
    this.process.stdout?.on("data", keep);
    this.process.stderr?.on("data", keep);
    this.exited = new Promise((resolve) => this.process.once("exit", (code) => resolve(code)));
  }
  tail(): string {
    return this.output.join("").split("\n").slice(-30).join("\n");
  }
  async stop(): Promise<void> {
    if (this.process.exitCode !== null || this.process.signalCode !== null || this.process.pid === undefined) return;
    process.kill(this.process.pid, "SIGTERM");
    const timer = setTimeout(() => {
      if (this.process.pid !== undefined && this.process.exitCode === null) process.kill(this.process.pid, "SIGKILL");
    }, 10_000);
    await this.exited;
    clearTimeout(timer);
  }
}

export interface RunningPrometheus extends Child {
  /** `http://127.0.0.1:<port>`. */
  readonly url: string;
}

/** Starts Prometheus with `configFile`, its data under `dir`; resolves once it is ready. */
export async function startPrometheus(binary: string, configFile: string, dir: string): Promise<RunningPrometheus> {
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child = new Child(binary, [
    `--config.file=${configFile}`,
    `--storage.tsdb.path=${join(dir, "tsdb")}`,
    `--web.listen-address=127.0.0.1:${port}`,
  ]);
  await eventually(
    "Prometheus ready",
    async () => {
      if (child.process.exitCode !== null) throw new Error(`prometheus exited:\n${child.tail()}`);
      const response = await fetch(`${url}/-/ready`).catch(() => undefined);
      return response?.ok === true ? true : undefined;
    },
    30_000,
  );
  return Object.assign(child, { url });
}
