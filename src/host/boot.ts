// Evidence that the host rebooted (docs/design/host-api.md#boot-evidence). The update API has no boot ID, so we
// combine:
// - the kernel's boot ID, which a container reads from the host kernel at /proc/sys/kernel/random/boot_id (the
//   simulator writes an equivalent file per simulated host);
// - `GET /updates/status` answering 404: the status lives on tmpfs, so only a reboot removes it;
// - `/os` `version_id` changing.
import { readFile } from "node:fs/promises";
import type { HostApiClient } from "./client.ts";

export const HOST_BOOT_ID_PATH = "/proc/sys/kernel/random/boot_id";

/** Reads a boot ID file; null if it does not exist or is empty. */
export async function readBootId(path: string = HOST_BOOT_ID_PATH): Promise<string | null> {
  try {
    const text = (await readFile(path, "utf8")).trim();
    return text === "" ? null : text;
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === "ENOENT") return null;
    throw error;
  }
}

export interface BootObservation {
  /** Kernel boot ID, or null when none could be read. */
  bootId: string | null;
  /** `/os` `version_id`. */
  versionId: string;
  /** False when `GET /updates/status` answered 404 (no action since boot). */
  statusInitialised: boolean;
}

/** Observes the host once; pass a boot ID path, or null to skip reading one. */
export async function observeBoot(
  client: HostApiClient,
  bootIdPath: string | null = HOST_BOOT_ID_PATH,
): Promise<BootObservation> {
  const os = await client.getOs();
  const response = await client.raw("GET", "/updates/status");
  // 423 means a command is running, and commands create the status file: it is initialised.
  const statusInitialised = response.status !== 404;
  return {
    bootId: bootIdPath === null ? null : await readBootId(bootIdPath),
    versionId: os.version_id,
    statusInitialised,
  };
}

export type RebootVerdict = "rebooted" | "same-boot" | "unknown";

/**
 * Did the host reboot between two observations? Boot IDs decide when both are known. Otherwise a status that was
 * initialised and is now uninitialised, or a changed version, proves a reboot; nothing else proves its absence.
 */
export function rebootVerdict(before: BootObservation, after: BootObservation): RebootVerdict {
  if (before.bootId !== null && after.bootId !== null) return before.bootId === after.bootId ? "same-boot" : "rebooted";
  if (before.statusInitialised && !after.statusInitialised) return "rebooted";
  if (before.versionId !== after.versionId) return "rebooted";
  return "unknown";
}
