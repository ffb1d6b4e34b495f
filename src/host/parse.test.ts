// Tolerant parsing where Bottlerocket's types are optional/signed (brupop 1.4 broke on these), strict where a
// wrong value would mislead a decision.
import { describe, expect, test } from "vitest";
import { isHostApiError } from "./errors.ts";
import { decodeJson, parseOsInfo, parseUpdateStatus } from "./parse.ts";

const READY = {
  update_state: "Ready",
  available_updates: ["1.26.1", "1.26.0", "1.25.0"],
  chosen_update: { arch: "x86_64", version: "1.26.1", variant: "aws-k8s-1.30" },
  active_partition: { image: { arch: "x86_64", version: "1.25.0", variant: "aws-k8s-1.30" }, next_to_boot: false },
  staging_partition: { image: { arch: "x86_64", version: "1.26.1", variant: "aws-k8s-1.30" }, next_to_boot: true },
  most_recent_command: {
    cmd_type: "activate",
    cmd_status: "Success",
    timestamp: "2024-10-30T17:05:53.611204777Z",
    exit_status: 0,
    stderr: "",
  },
};

function badResponse(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (isHostApiError(error, "bad-response")) return error.message;
    throw error;
  }
  throw new Error("expected a bad-response error");
}

describe("parseUpdateStatus", () => {
  test("a real Ready document parses as is", () => {
    expect(parseUpdateStatus(READY)).toEqual(READY);
  });

  test("tolerates what thar-be-updates' types allow: deactivate, Unknown, signed or null exit_status, null stderr", () => {
    const status = parseUpdateStatus({
      ...READY,
      most_recent_command: {
        cmd_type: "deactivate",
        cmd_status: "Unknown",
        timestamp: "t",
        exit_status: -9,
        stderr: null,
      },
    });
    expect(status.most_recent_command).toEqual({
      cmd_type: "deactivate",
      cmd_status: "Unknown",
      timestamp: "t",
      exit_status: -9,
      stderr: null,
    });
    const absent = parseUpdateStatus({
      ...READY,
      most_recent_command: { cmd_type: "refresh", cmd_status: "Failed", timestamp: "t" },
    });
    expect(absent.most_recent_command).toMatchObject({ exit_status: null, stderr: null });
  });

  test("optional members may be null or absent; unknown extra fields are ignored", () => {
    const status = parseUpdateStatus({
      update_state: "Idle",
      future_field: { x: 1 },
      active_partition: { image: null, next_to_boot: true },
    });
    expect(status).toEqual({
      update_state: "Idle",
      available_updates: [],
      chosen_update: null,
      active_partition: { image: null, next_to_boot: true },
      staging_partition: null,
      most_recent_command: null,
    });
    expect(status).not.toHaveProperty("future_field");
  });

  test.each([
    [
      { ...READY, update_state: "Preparing" },
      /update_state: expected one of Idle, Available, Staged, Ready, got "Preparing"/,
    ],
    [{ ...READY, update_state: undefined }, /update_state: expected a string, got undefined/],
    [{ ...READY, available_updates: [{ major: 1, minor: 26, patch: 1 }] }, /available_updates\[0\]: expected a string/],
    [
      { ...READY, chosen_update: { arch: "x86_64", version: "1.26", variant: "v" } },
      /chosen_update.version: expected a semantic version/,
    ],
    [{ ...READY, staging_partition: { image: null } }, /staging_partition.next_to_boot: expected a boolean/],
    [
      { ...READY, most_recent_command: { ...READY.most_recent_command, cmd_type: "cancel" } },
      /most_recent_command.cmd_type/,
    ],
    [
      { ...READY, most_recent_command: { ...READY.most_recent_command, exit_status: 1.5 } },
      /exit_status: expected an integer/,
    ],
    [{ ...READY, most_recent_command: { ...READY.most_recent_command, timestamp: "" } }, /timestamp: empty/],
    [[], /status: expected an object, got an array/],
  ])("refuses a misleading value %#", (input, message) => {
    expect(badResponse(() => parseUpdateStatus(input))).toMatch(message);
  });
});

describe("parseOsInfo", () => {
  test("keeps the known fields and requires only a semver version_id", () => {
    expect(parseOsInfo({ version_id: "1.25.0", arch: "aarch64", extra: 1, pretty_name: null })).toEqual({
      version_id: "1.25.0",
      arch: "aarch64",
    });
    expect(badResponse(() => parseOsInfo({ pretty_name: "Bottlerocket" }))).toMatch(/version_id: expected a string/);
    expect(badResponse(() => parseOsInfo({ version_id: "latest" }))).toMatch(/version_id: expected a semantic version/);
  });
});

describe("decodeJson", () => {
  test("turns a syntax error into a bad-response error that quotes the body", () => {
    expect(badResponse(() => decodeJson("Update lock held", "/updates/status"))).toMatch(
      /invalid JSON from \/updates\/status: "Update lock held"/,
    );
  });
});
