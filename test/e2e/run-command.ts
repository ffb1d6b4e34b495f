// Runs the project's commands as a user does, from the repository root: through a pipe, or in a pseudo-terminal
// (`script` from util-linux allocates one, as a terminal emulator would). Every run is bounded. The environment is the
// user's: the test runner's own variables (VITEST*, NODE_ENV=test) are not passed on.
import { spawn } from "node:child_process";
import { join } from "node:path";

export const ROOT = join(import.meta.dirname, "..", "..");
export const NODE = join(ROOT, "node_modules", ".bin", "node");
export const DEV_CLI = join(ROOT, "sim", "cli", "main.ts");
export const BRUPOP = join(ROOT, "bin", "brupop");

export interface Finished {
  code: number | null;
  stdout: string;
  stderr: string;
  /** Milliseconds from the last byte of output to the process's exit. */
  quietBeforeExitMs: number;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  timeoutMs: number;
  /** Called with the output so far, on each chunk of stdout. */
  onOutput?: (stdout: string) => void;
}

/** The environment a user's shell would give: this process's, without what the test runner added. */
export function userEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env = Object.fromEntries(
    Object.entries(process.env).filter(([name]) => !name.startsWith("VITEST") && name !== "NODE_ENV"),
  );
  return { ...env, ...extra };
}

export function run(command: string, args: readonly string[], options: RunOptions): Promise<Finished> {
  return new Promise((resolve, reject) => {
    // A process group of its own, so that a run past its time is interrupted whole (npm, the shell, the command).
    const child = spawn(command, [...args], { cwd: ROOT, env: options.env ?? userEnv(), detached: true });
    let stdout = "";
    let stderr = "";
    let lastOutput = Date.now();
    const timer = setTimeout(() => {
      if (child.pid !== undefined) process.kill(-child.pid, "SIGINT");
      reject(
        new Error(`${command} ${args.join(" ")} did not end within ${options.timeoutMs} ms:\n${stdout}\n${stderr}`),
      );
    }, options.timeoutMs);
    child.stdout.on("data", (chunk: Buffer) => {
      stdout += chunk.toString();
      lastOutput = Date.now();
      options.onOutput?.(stdout);
    });
    child.stderr.on("data", (chunk: Buffer) => {
      stderr += chunk.toString();
      lastOutput = Date.now();
    });
    child.once("error", reject);
    // The exit's time; the result once the output has been read to its end (as `| cat` would wait for it).
    let exitedAt = 0;
    child.once("exit", () => (exitedAt = Date.now()));
    child.once("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, quietBeforeExitMs: Math.max(0, (exitedAt || Date.now()) - lastOutput) });
    });
  });
}

/** `node sim/cli/main.ts <args>` with its output to a pipe. */
export function devCli(args: readonly string[], options: RunOptions): Promise<Finished> {
  return run(NODE, [DEV_CLI, ...args], options);
}

/** A command line as the README writes it, e.g. `npm run demo`, with its output to a pipe. */
export function shell(commandLine: string, options: RunOptions): Promise<Finished> {
  return run("sh", ["-c", commandLine], options);
}

/** The same in a pseudo-terminal of `rows` × `columns`; what the terminal received comes back as stdout. */
export function shellInTerminal(
  commandLine: string,
  size: { rows: number; columns: number },
  options: RunOptions,
): Promise<Finished> {
  return run("script", ["-qec", `stty rows ${size.rows} cols ${size.columns}; ${commandLine}`, "/dev/null"], options);
}
