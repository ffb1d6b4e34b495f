import { execFile, spawn } from "node:child_process";
import { promisify } from "node:util";
import { fileURLToPath } from "node:url";

const script = fileURLToPath(new URL("../../scripts/testenv/provision", import.meta.url));

/**
 * The directory holding the control plane binaries: $BRUPOP_TESTENV_BIN if set, else the provisioned cache,
 * provisioning it first (a cold build takes minutes and prints its progress) when it is missing.
 */
export async function resolveBinDir(log: (line: string) => void): Promise<string> {
  const fromEnv = process.env["BRUPOP_TESTENV_BIN"];
  if (fromEnv) return fromEnv;
  try {
    const { stdout } = await promisify(execFile)(script, ["--bin-dir"]);
    return stdout.trim();
  } catch {
    log("test control plane not provisioned yet: building it (scripts/testenv/provision)");
  }
  return new Promise((resolve, reject) => {
    const child = spawn(script, [], { stdio: ["ignore", "pipe", "inherit"] });
    let out = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.once("error", reject);
    child.once("exit", (code) =>
      code === 0 ? resolve(out.trim().split("\n").at(-1) ?? "") : reject(new Error(`provision failed (exit ${code})`)),
    );
  });
}
