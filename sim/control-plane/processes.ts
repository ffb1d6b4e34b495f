// Child processes of the simulated control plane: started with their output in a log file, stopped by PID
// (TERM, then KILL), and never left behind: a watchdog kills them when the owning process dies, however it dies.
import { spawn, type ChildProcess } from "node:child_process";
import { appendFileSync, openSync, closeSync, readFileSync } from "node:fs";
import { setTimeout as sleep } from "node:timers/promises";

export interface ManagedProcess {
  readonly name: string;
  readonly pid: number;
  readonly logFile: string;
  /** Resolves when the process has exited, with its exit code or signal. */
  readonly exited: Promise<string>;
  /** True while the process runs. */
  running(): boolean;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves once the process is gone. */
  stop(graceMs?: number): Promise<void>;
}

const live = new Set<ChildProcess>();
process.once("exit", () => {
  // Last resort for a normal exit that skipped stop(): synchronous kills only.
  for (const child of live) child.kill("SIGKILL");
});

export function startProcess(
  name: string,
  command: string,
  args: readonly string[],
  options: { logFile: string; pidFile: string; env?: NodeJS.ProcessEnv; cwd?: string },
): ManagedProcess {
  const fd = openSync(options.logFile, "a");
  const child = spawn(command, args, {
    stdio: ["ignore", fd, fd],
    env: options.env ?? process.env,
    cwd: options.cwd,
  });
  closeSync(fd);
  if (child.pid === undefined) throw new Error(`${name}: could not start ${command}`);
  const pid = child.pid;
  live.add(child);
  appendFileSync(options.pidFile, `${pid} ${command}\n`);
  let done = false;
  const exited = new Promise<string>((resolve) => {
    child.once("exit", (code, signal) => {
      done = true;
      live.delete(child);
      resolve(signal ? `signal ${signal}` : `exit code ${code ?? "?"}`);
    });
    child.once("error", (err) => {
      done = true;
      live.delete(child);
      resolve(`spawn error: ${err.message}`);
    });
  });
  return {
    name,
    pid,
    logFile: options.logFile,
    exited,
    running: () => !done,
    async stop(graceMs = 10_000) {
      if (done) return;
      child.kill("SIGTERM");
      // Unref'd: once the process has exited, a pending grace timer must not keep the caller alive for its rest.
      const result = await Promise.race([exited, sleep(graceMs, "timeout" as const, { ref: false })]);
      if (result === "timeout") {
        child.kill("SIGKILL");
        await exited;
      }
    },
  };
}

/** The last lines of a log file, for error messages. */
export function logTail(file: string, lines = 25): string {
  try {
    return readFileSync(file, "utf8").trimEnd().split("\n").slice(-lines).join("\n");
  } catch {
    return "(no log)";
  }
}

/**
 * Starts a detached shell that waits for `ownerPid` to die, then stops every process listed in `pidFile`
 * (only while its executable is still the one recorded, so a reused PID is never hit) and removes `dir`.
 * This is what cleans up when the test runner is killed with SIGKILL.
 */
export function startWatchdog(ownerPid: number, pidFile: string, dir: string): ManagedProcess {
  const script = `
    owner=$1 pids=$2 dir=$3
    while kill -0 "$owner" 2>/dev/null && [ -d "$dir" ]; do sleep 1; done
    [ -f "$pids" ] || exit 0
    ours() { [ "$(readlink "/proc/$1/exe" 2>/dev/null)" = "$2" ]; }
    tac "$pids" | while read -r pid exe; do ours "$pid" "$exe" && kill -TERM "$pid" 2>/dev/null; done
    for _ in 1 2 3 4 5 6 7 8 9 10; do
      alive=0; while read -r pid exe; do ours "$pid" "$exe" && alive=1; done < "$pids"
      [ $alive = 0 ] && break; sleep 1
    done
    while read -r pid exe; do ours "$pid" "$exe" && kill -KILL "$pid" 2>/dev/null; done < "$pids"
    rm -rf "$dir"`;
  const child = spawn("bash", ["-c", script, "watchdog", String(ownerPid), pidFile, dir], {
    stdio: "ignore",
    detached: true,
  });
  child.unref();
  if (child.pid === undefined) throw new Error("could not start the control plane watchdog");
  const pid = child.pid;
  return {
    name: "watchdog",
    pid,
    logFile: "",
    exited: new Promise((resolve) => child.once("exit", (code) => resolve(`exit code ${code ?? "?"}`))),
    running: () => child.exitCode === null && child.signalCode === null,
    stop() {
      child.kill("SIGKILL");
      return Promise.resolve();
    },
  };
}
