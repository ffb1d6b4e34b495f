// Tolerant, validating parsers for what the host API returns. Tolerant where Bottlerocket's own types are
// (optional fields, null, signed exit codes, `deactivate`, unknown extra fields); strict where a wrong value would
// mislead a decision (states, command types, versions). Brupop 1.4 failed on several of these
// (docs/design/host-api.md#brupops-use-of-the-api).
import { HostApiError } from "./errors.ts";
import { isSemVer } from "./semver.ts";
import {
  COMMAND_STATUSES,
  COMMAND_TYPES,
  UPDATE_STATES,
  type CommandResult,
  type OsInfo,
  type StagedImage,
  type UpdateImage,
  type UpdateStatus,
} from "./types.ts";

type JsonObject = Record<string, unknown>;

class ShapeError extends Error {}

function isObject(value: unknown): value is JsonObject {
  return typeof value === "object" && value !== null && !Array.isArray(value);
}

function object(value: unknown, at: string): JsonObject {
  if (!isObject(value)) throw new ShapeError(`${at}: expected an object, got ${describe(value)}`);
  return value;
}

function string(value: unknown, at: string): string {
  if (typeof value !== "string") throw new ShapeError(`${at}: expected a string, got ${describe(value)}`);
  return value;
}

function version(value: unknown, at: string): string {
  const text = string(value, at);
  if (!isSemVer(text)) throw new ShapeError(`${at}: expected a semantic version, got ${JSON.stringify(text)}`);
  return text;
}

function oneOf<T extends string>(allowed: readonly T[], value: unknown, at: string): T {
  const text = string(value, at);
  const found = allowed.find((candidate) => candidate === text);
  if (found === undefined)
    throw new ShapeError(`${at}: expected one of ${allowed.join(", ")}, got ${JSON.stringify(text)}`);
  return found;
}

function optionalString(value: unknown, at: string): string | undefined {
  return value === undefined || value === null ? undefined : string(value, at);
}

function describe(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "an array";
  return typeof value;
}

function parseImage(value: unknown, at: string): UpdateImage | null {
  if (value === undefined || value === null) return null;
  const o = object(value, at);
  return {
    arch: string(o.arch, `${at}.arch`),
    version: version(o.version, `${at}.version`),
    variant: string(o.variant, `${at}.variant`),
  };
}

function parsePartition(value: unknown, at: string): StagedImage | null {
  if (value === undefined || value === null) return null;
  const o = object(value, at);
  const nextToBoot = o.next_to_boot;
  if (typeof nextToBoot !== "boolean")
    throw new ShapeError(`${at}.next_to_boot: expected a boolean, got ${describe(nextToBoot)}`);
  return { image: parseImage(o.image, `${at}.image`), next_to_boot: nextToBoot };
}

function parseCommand(value: unknown, at: string): CommandResult | null {
  if (value === undefined || value === null) return null;
  const o = object(value, at);
  const timestamp = string(o.timestamp, `${at}.timestamp`);
  if (timestamp === "") throw new ShapeError(`${at}.timestamp: empty`);
  let exitStatus: number | null = null;
  if (o.exit_status !== undefined && o.exit_status !== null) {
    if (typeof o.exit_status !== "number" || !Number.isInteger(o.exit_status)) {
      throw new ShapeError(`${at}.exit_status: expected an integer, got ${describe(o.exit_status)}`);
    }
    exitStatus = o.exit_status;
  }
  return {
    cmd_type: oneOf(COMMAND_TYPES, o.cmd_type, `${at}.cmd_type`),
    cmd_status: oneOf(COMMAND_STATUSES, o.cmd_status, `${at}.cmd_status`),
    timestamp,
    exit_status: exitStatus,
    stderr: optionalString(o.stderr, `${at}.stderr`) ?? null,
  };
}

function parseAvailable(value: unknown, at: string): string[] {
  if (value === undefined || value === null) return [];
  if (!Array.isArray(value)) throw new ShapeError(`${at}: expected an array, got ${describe(value)}`);
  return value.map((item, i) => version(item, `${at}[${i}]`));
}

function wrap<T>(what: string, path: string, parse: () => T): T {
  try {
    return parse();
  } catch (error) {
    if (error instanceof ShapeError) {
      throw new HostApiError("bad-response", `invalid ${what} from ${path}: ${error.message}`, { path, cause: error });
    }
    throw error;
  }
}

/** Validates a decoded `GET /updates/status` body. Throws HostApiError("bad-response") naming the bad field. */
export function parseUpdateStatus(json: unknown, path = "/updates/status"): UpdateStatus {
  return wrap("update status", path, () => {
    const o = object(json, "status");
    return {
      update_state: oneOf(UPDATE_STATES, o.update_state, "update_state"),
      available_updates: parseAvailable(o.available_updates, "available_updates"),
      chosen_update: parseImage(o.chosen_update, "chosen_update"),
      active_partition: parsePartition(o.active_partition, "active_partition"),
      staging_partition: parsePartition(o.staging_partition, "staging_partition"),
      most_recent_command: parseCommand(o.most_recent_command, "most_recent_command"),
    };
  });
}

/** Validates a decoded `GET /os` body. Only `version_id` is required. */
export function parseOsInfo(json: unknown, path = "/os"): OsInfo {
  return wrap("os info", path, () => {
    const o = object(json, "os");
    const info: OsInfo = { version_id: version(o.version_id, "version_id") };
    for (const key of ["pretty_name", "variant_id", "build_id", "arch"] as const) {
      const value = optionalString(o[key], key);
      if (value !== undefined) info[key] = value;
    }
    return info;
  });
}

/** Decodes a JSON body, turning a syntax error into HostApiError("bad-response"). */
export function decodeJson(body: string, path: string): unknown {
  try {
    return JSON.parse(body) as unknown;
  } catch (error) {
    const excerpt = body.length > 200 ? `${body.slice(0, 200)}…` : body;
    throw new HostApiError("bad-response", `invalid JSON from ${path}: ${JSON.stringify(excerpt)}`, {
      path,
      body,
      cause: error,
    });
  }
}
