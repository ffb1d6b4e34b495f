// Runs the project's commands as a user does, from the repository root: through a pipe, or in a pseudo-terminal
// (`script` from util-linux allocates one, as a terminal emulator would). Every run is bounded.
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

export function run(command: string, args: readonly string[], options: RunOptions): Promise<Finished> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, [...args], { cwd: ROOT, env: options.env ?? process.env });
    let stdout = "";
    let stderr = "";
    let lastOutput = Date.now();
    const timer = setTimeout(() => {
      child.kill("SIGINT");
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
    child.once("exit", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr, quietBeforeExitMs: Date.now() - lastOutput });
    });
  });
}

/** `node sim/cli/main.ts <args>` with its output to a pipe. */
export function devCli(args: readonly string[], options: RunOptions): Promise<Finished> {
  return run(NODE, [DEV_CLI, ...args], options);
}

/** The same in a pseudo-terminal of `rows` × `columns`; what the terminal received comes back as stdout. */
export function devCliInTerminal(
  args: readonly string[],
  size: { rows: number; columns: number },
  options: RunOptions,
): Promise<Finished> {
  const quoted = [NODE, DEV_CLI, ...args].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  return run("script", ["-qec", `stty rows ${size.rows} cols ${size.columns}; exec ${quoted}`, "/dev/null"], options);
}
