import { execFile, spawn } from "node:child_process";
import { createInterface } from "node:readline";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";

const SCRIPT = fileURLToPath(new URL("../../scripts/testenv/provision", import.meta.url));

export interface ProvisionOptions {
  /** The provisioning script (default scripts/testenv/provision); tests pass a stand-in. */
  readonly script?: string;
  /** While a step runs longer than this, say so again with the time spent (default 30 s). */
  readonly heartbeatMs?: number;
}

/** The step of one of the script's progress lines (`[provision 12:34:56] kwok: building` → `kwok: building`). */
export function provisionStep(line: string): string {
  return line.replace(/^\[provision \d\d:\d\d:\d\d\] /, "");
}

/** `75_000` → `1 min 15 s`. */
export function minutesAndSeconds(ms: number): string {
  const total = Math.round(ms / 1000);
  const minutes = Math.floor(total / 60);
  return minutes === 0 ? `${total} s` : `${minutes} min ${total % 60} s`;
}

/**
 * The directory holding the control plane binaries: $BRUPOP_TESTENV_BIN if set, else the provisioned cache,
 * provisioning it first when it is missing. A cold build takes minutes: every step the script reports is passed to
 * `log` as it starts (which binary), and a step that runs long is reported again with the time spent so far.
 */
export async function resolveBinDir(log: (line: string) => void, options: ProvisionOptions = {}): Promise<string> {
  const fromEnv = process.env["BRUPOP_TESTENV_BIN"];
  if (fromEnv) return fromEnv;
  const script = options.script ?? SCRIPT;
  try {
    const { stdout } = await promisify(execFile)(script, ["--bin-dir"]);
    return stdout.trim();
  } catch {
    log(
      "the test control plane is not built yet: building it once from the Go module proxy " +
        "(scripts/testenv/provision; about 10 min on 2 cores, cached afterwards)",
    );
  }
  const started = Date.now();
  let step = "starting";
  let stepStarted = started;
  const heartbeat = setInterval(() => {
    const now = Date.now();
    log(
      `building the test control plane: still ${step} (${minutesAndSeconds(now - stepStarted)} on this step, ${minutesAndSeconds(now - started)} in all)`,
    );
  }, options.heartbeatMs ?? 30_000);
  const tail: string[] = [];
  try {
    return await new Promise<string>((resolve, reject) => {
      const child = spawn(script, [], { stdio: ["ignore", "pipe", "pipe"] });
      let out = "";
      child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
      createInterface({ input: child.stderr }).on("line", (line) => {
        tail.push(line);
        if (tail.length > 20) tail.shift();
        step = provisionStep(line);
        stepStarted = Date.now();
        log(`building the test control plane: ${step}`);
      });
      child.once("error", reject);
      child.once("close", (code) =>
        code === 0
          ? resolve(out.trim().split("\n").at(-1) ?? "")
          : reject(new Error(`provision failed (exit ${code ?? "?"}):\n${tail.join("\n")}`)),
      );
    });
  } finally {
    clearInterval(heartbeat);
  }
}
