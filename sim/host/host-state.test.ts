// The pure state machine: rules that cannot be reached over the socket (states real hosts only enter through odd
// paths), determinism of lazy time, and robustness against bad input.
import { describe, expect, test } from "vitest";
import { DURATION_PROFILES } from "./durations.ts";
import {
  advance,
  createHostState,
  ERROR_TEXT,
  formatTimestamp,
  grubPick,
  handleRequest,
  injectFault,
  nextWakeAt,
  type HostState,
  type HostResponse,
} from "./host-state.ts";

const T0 = Date.parse("2024-10-30T17:00:00Z");

function fresh(): HostState {
  return createHostState({ version: "1.25.0", repository: [{ version: "1.26.0" }], durations: DURATION_PROFILES.fast });
}

function post(state: HostState, path: string, now: number) {
  return handleRequest(state, { method: "POST", url: path }, now);
}

function http(response: HostResponse): { status: number; body: string } {
  if (response.kind !== "http") throw new Error(`expected an HTTP answer, got ${response.kind}`);
  return { status: response.status, body: response.body };
}

/** Runs a command to completion at its due time. */
function run(state: HostState, path: string, now: number): HostState {
  const started = post(state, path, now);
  expect(http(started.response).status).toBe(204);
  const due = nextWakeAt(started.state);
  if (due === null) throw new Error("command did not schedule its completion");
  return advance(started.state, due).state;
}

describe("host-api.md#transitions: 404 rules on states a real host reaches only through odd paths", () => {
  test("activate and deactivate with no staging_partition answer 404 'No update image applied to staging partition'", () => {
    let s = run(fresh(), "/actions/refresh-updates", T0);
    for (const [state, path] of [
      ["Staged", "/actions/activate-update"],
      ["Ready", "/actions/deactivate-update"],
    ] as const) {
      if (s.status.kind !== "present") throw new Error("status expected");
      const crafted = structuredClone(s);
      if (crafted.status.kind !== "present") throw new Error("status expected");
      crafted.status.doc.update_state = state;
      crafted.status.doc.staging_partition = null;
      const { response, state: after } = post(crafted, path, T0 + 1000);
      expect(http(response)).toEqual({ status: 404, body: ERROR_TEXT.noStagedImage });
      expect(after.lock).toEqual({ held: "none" }); // nothing started
      s = after;
    }
  });

  test("prepare in Available with no chosen_update answers 404 'Previously chosen Update no longer exists'", () => {
    const s = run(fresh(), "/actions/refresh-updates", T0);
    if (s.status.kind !== "present") throw new Error("status expected");
    s.status.doc.chosen_update = null;
    expect(http(post(s, "/actions/prepare-update", T0 + 1000).response)).toEqual({
      status: 404,
      body: ERROR_TEXT.noChosenUpdate,
    });
  });
});

describe("time is applied lazily but exactly", () => {
  test("a command's result and timestamp come from its due time, however late advance() runs", () => {
    const started = post(fresh(), "/actions/refresh-updates", T0).state;
    const late = advance(started, T0 + 60_000).state;
    if (late.status.kind !== "present") throw new Error("status expected");
    expect(late.status.doc.most_recent_command?.timestamp).toBe("2024-10-30T17:00:00.005000000Z");
  });

  test("two commands finishing in the same nanosecond still get increasing timestamps", () => {
    const zero = { ...DURATION_PROFILES.fast, refreshMs: 0 };
    let s = createHostState({ version: "1.25.0", durations: zero });
    s = run(s, "/actions/refresh-updates", T0);
    const first = s.status.kind === "present" ? s.status.doc.most_recent_command?.timestamp : undefined;
    s = run(s, "/actions/refresh-updates", T0);
    const second = s.status.kind === "present" ? s.status.doc.most_recent_command?.timestamp : undefined;
    expect(first).toBe("2024-10-30T17:00:00.000000000Z");
    expect(second).toBe("2024-10-30T17:00:00.000000001Z");
  });

  test("the input state is never mutated", () => {
    const s = fresh();
    const copy = structuredClone(s);
    run(s, "/actions/refresh-updates", T0);
    advance(s, T0 + 1e6);
    injectFault(s, { fault: { target: "status", effect: "corrupt" }, remaining: 1 }, T0);
    expect(s).toEqual(copy);
  });

  test("formatTimestamp keeps all nine fraction digits and a Z", () => {
    expect(formatTimestamp(1_698_000_000_000_000_001n)).toBe("2023-10-22T18:40:00.000000001Z");
  });
});

describe("host-api.md#partitions-and-rollback: partition flags", () => {
  test("prepare gives the inactive set one try; activate raises it to priority 2 and the active set to 1", () => {
    let s = run(fresh(), "/actions/refresh-updates", T0);
    s = run(s, "/actions/prepare-update", T0 + 100);
    expect(s.disk.sets.B).toEqual({ version: "1.26.0", priority: 0, triesLeft: 1, successful: false });
    expect(grubPick(s.disk.sets)).toBe("A");
    s = run(s, "/actions/activate-update", T0 + 200);
    expect(s.disk.sets.B).toMatchObject({ priority: 2, triesLeft: 1 });
    expect(s.disk.sets.A).toMatchObject({ priority: 1, successful: true });
    expect(grubPick(s.disk.sets)).toBe("B");
  });

  test("a trial boot spends the single try; an unmarked set is then unbootable and GRUB falls back", () => {
    let s = run(fresh(), "/actions/refresh-updates", T0);
    s = run(s, "/actions/prepare-update", T0 + 100);
    s = run(s, "/actions/activate-update", T0 + 200);
    s = injectFault(s, { fault: { target: "boot", effect: "panic" }, remaining: 1 }, T0 + 300).state;
    s = post(s, "/actions/reboot", T0 + 300).state;
    const { state, effects } = advance(s, T0 + 10_000);
    expect(effects.map((e) => e.type)).toEqual(["api-down", "socket-removed", "boot-failed", "api-up"]);
    expect(state.disk.sets.B).toEqual({ version: "1.26.0", priority: 2, triesLeft: 0, successful: false });
    expect(state.disk.running).toBe("A");
    expect(grubPick(state.disk.sets)).toBe("A");
  });

  test("the status created after a boot computes next_to_boot from the GPT once", () => {
    const s = fresh();
    s.disk.sets.B = { version: "1.26.0", priority: 3, triesLeft: 1, successful: false }; // would boot next
    const { state } = post(s, "/actions/prepare-update", T0); // rejected, but creates the status
    expect(state.status.kind === "present" && state.status.doc.active_partition?.next_to_boot).toBe(false);
  });
});

describe("bad input never throws", () => {
  test.each([
    ["GET", ""],
    ["GET", "//"],
    ["GET", "/os?prefix=%zz"],
    ["get", "/os"],
    ["BREW", "/actions/reboot"],
    ["POST", "/actions/refresh-updates?x=1&x=2"],
    ["GET", "/updates/status#frag"],
  ])("%s %s", (method, url) => {
    const { response } = handleRequest(fresh(), { method, url }, T0);
    expect(response.kind).toBe("http");
  });

  test("invalid configuration is refused with a clear message", () => {
    const durations = DURATION_PROFILES.fast;
    expect(() => createHostState({ version: "1.25", durations })).toThrow(/not a semantic version/);
    expect(() => createHostState({ version: "1.25.0", repository: [{ version: "x" }], durations })).toThrow(
      /release version/,
    );
    expect(() => createHostState({ version: "1.25.0", settings: { versionLock: "1.26" }, durations })).toThrow(
      /version-lock/,
    );
    expect(() => createHostState({ version: "1.25.0", settings: { seed: 2048 }, durations })).toThrow(/seed/);
    expect(() =>
      createHostState({ version: "1.25.0", repository: [{ version: "1.26.0", waves: { "0": "soon" } }], durations }),
    ).toThrow(/RFC 3339/);
  });
});
