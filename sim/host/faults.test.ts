import { describe, expect, test } from "vitest";
import { parseFaultSpec } from "./faults.ts";

describe("parseFaultSpec", () => {
  test.each([
    ["prepare", { fault: { target: "prepare", effect: "fail" }, remaining: 1 }],
    ["refresh@3", { fault: { target: "refresh", effect: "fail" }, remaining: 3 }],
    ["activate@always", { fault: { target: "activate", effect: "fail" }, remaining: Infinity }],
    ["hang", { fault: { target: "prepare", effect: "hang" }, remaining: 1 }],
    ["hang:refresh", { fault: { target: "refresh", effect: "hang" }, remaining: 1 }],
    ["die:activate", { fault: { target: "activate", effect: "die" }, remaining: 1 }],
    ["slow:prepare:30000", { fault: { target: "prepare", effect: "slow", durationMs: 30000 }, remaining: 1 }],
    ["reboot", { fault: { target: "reboot", effect: "refuse" }, remaining: 1 }],
    ["reboot-drop", { fault: { target: "reboot", effect: "drop-response" }, remaining: 1 }],
    ["reboot-delay:5000", { fault: { target: "reboot", effect: "delay", durationMs: 5000 }, remaining: 1 }],
    ["boot", { fault: { target: "boot", effect: "panic" }, remaining: 1 }],
    ["boot:1.26.0", { fault: { target: "boot", effect: "panic", version: "1.26.0" }, remaining: 1 }],
    ["boot-hang", { fault: { target: "boot", effect: "hang" }, remaining: 1 }],
    ["dispatcher", { fault: { target: "dispatcher", effect: "fail" }, remaining: 1 }],
    ["stall", { fault: { target: "api", effect: "stall" }, remaining: 1 }],
    ["status-corrupt", { fault: { target: "status", effect: "corrupt" }, remaining: 1 }],
    ["status-500@3", { fault: { target: "status-read", effect: "error" }, remaining: 3 }],
    ["status-garbage", { fault: { target: "status-read", effect: "garbage" }, remaining: 1 }],
    ["contention:200", { fault: { target: "lock", effect: "hold-shared", durationMs: 200 }, remaining: 1 }],
  ])("%s", (spec, expected) => {
    expect(parseFaultSpec(spec)).toEqual(expected);
  });

  test.each([
    ["explode", /unknown fault "explode"/],
    ["prepare:now", /takes no argument/],
    ["slow:prepare", /duration in milliseconds/],
    ["slow:prepare:-1", /duration in milliseconds/],
    ["hang:reboot", /unknown command "reboot"/],
    ["boot:latest", /not a version/],
    ["prepare@0", /positive count/],
    ["prepare@1@2", /more than one/],
  ])("%s is refused", (spec, message) => {
    expect(() => parseFaultSpec(spec)).toThrow(message);
  });
});
