// Wire shapes of the Bottlerocket host update API (thar-be-updates `status.rs`, apiserver `/os`).
// Field names are the real snake_case keys and versions are strings: openapi.yaml's kebab-case keys and
// {major,minor,patch} objects are wrong (docs/design/host-api.md#endpoints). The simulator serialises these types in
// this field order, and the client's parser produces them.

/** Where the Bottlerocket API listens on a host (mounted into the agent pod as a hostPath socket). */
export const DEFAULT_HOST_API_SOCKET = "/run/api.sock";

export const UPDATE_STATES = ["Idle", "Available", "Staged", "Ready"] as const;
export type UpdateState = (typeof UPDATE_STATES)[number];

export const COMMAND_TYPES = ["refresh", "prepare", "activate", "deactivate"] as const;
/** The asynchronous update commands. `deactivate` is what `apiclient update cancel` runs. */
export type CommandType = (typeof COMMAND_TYPES)[number];

/** `Unknown` exists in thar-be-updates' enum but is never produced; clients must still accept it. */
export const COMMAND_STATUSES = ["Success", "Failed", "Unknown"] as const;
export type CommandStatus = (typeof COMMAND_STATUSES)[number];

export interface UpdateImage {
  arch: string;
  version: string;
  variant: string;
}

export interface StagedImage {
  /** Optional in thar-be-updates' type; always set in practice. */
  image: UpdateImage | null;
  next_to_boot: boolean;
}

export interface CommandResult {
  cmd_type: CommandType;
  cmd_status: CommandStatus;
  /** RFC 3339, nanoseconds, `Z`, taken when updog finished. Compare as an opaque string (JS Date drops digits). */
  timestamp: string;
  /** updog's exit code (signed; a signal number if killed). Optional in the type, never null in practice. */
  exit_status: number | null;
  /** updog's stderr; non-empty for a successful prepare. Optional in the type, never null in practice. */
  stderr: string | null;
}

/** `GET /updates/status`. */
export interface UpdateStatus {
  update_state: UpdateState;
  /** Every eligible version, newest first, including the running one and older ones. */
  available_updates: string[];
  chosen_update: UpdateImage | null;
  active_partition: StagedImage | null;
  staging_partition: StagedImage | null;
  /** null until the first command since boot that got past the state check. */
  most_recent_command: CommandResult | null;
}

/** `GET /os`. Only `version_id` is guaranteed; it is the authoritative running version. */
export interface OsInfo {
  pretty_name?: string;
  variant_id?: string;
  version_id: string;
  build_id?: string;
  arch?: string;
}

/** The POST routes, by the command they dispatch. */
export const ACTION_PATHS = {
  refresh: "/actions/refresh-updates",
  prepare: "/actions/prepare-update",
  activate: "/actions/activate-update",
  deactivate: "/actions/deactivate-update",
} as const satisfies Record<CommandType, string>;

export const REBOOT_PATH = "/actions/reboot";
/** GET (`?keys=` / `?prefix=`) and PATCH (staged in a transaction, `?tx=`; `default` without it). */
export const SETTINGS_PATH = "/settings";
/** Commits a transaction's staged settings (`?tx=`) and applies them: 200 with the changed keys, 422 if none. */
export const COMMIT_AND_APPLY_PATH = "/tx/commit_and_apply";
/** The one setting the agent touches: pinned to roll a failed update back (docs/design/host-api.md#settings). */
export const VERSION_LOCK_KEY = "settings.updates.version-lock";
export const STATUS_PATH = "/updates/status";
export const OS_PATH = "/os";
