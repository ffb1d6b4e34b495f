import { afterEach, describe, expect, test } from "vitest";
import { join } from "node:path";
import { startTestHost, type TestHost } from "../../sim/host/testing.ts";
import { observeBoot, readBootId, rebootVerdict, type BootObservation } from "./boot.ts";

const hosts: TestHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((t) => t.close()));
});

const seen = (patch: Partial<BootObservation>): BootObservation => ({
  bootId: null,
  versionId: "1.25.0",
  statusInitialised: true,
  ...patch,
});

describe("rebootVerdict", () => {
  test.each([
    ["boot IDs differ", seen({ bootId: "a" }), seen({ bootId: "b" }), "rebooted"],
    [
      "boot IDs equal, even if the status was reset",
      seen({ bootId: "a" }),
      seen({ bootId: "a", statusInitialised: false }),
      "same-boot",
    ],
    ["status went from initialised to 404 (tmpfs cleared)", seen({}), seen({ statusInitialised: false }), "rebooted"],
    ["version changed", seen({}), seen({ versionId: "1.26.0" }), "rebooted"],
    ["nothing tells", seen({ statusInitialised: false }), seen({}), "unknown"],
  ])("%s", (_name, before, after, verdict) => {
    expect(rebootVerdict(before, after)).toBe(verdict);
  });
});

describe("boot evidence from a simulated host", () => {
  test("the boot ID file changes across a reboot, even one that rolls back to the same version", async () => {
    const t = await startTestHost();
    hosts.push(t);
    await t.client.prepareUpdate("1.26.0");
    await t.client.activateUpdate("1.26.0");
    const before = await observeBoot(t.client, t.bootIdPath);
    t.host.inject("boot"); // rollback: /os shows the same version afterwards
    const up = t.host.waitFor("api-up");
    await t.client.reboot();
    await up;
    const after = await observeBoot(t.client, t.bootIdPath);
    expect(after.versionId).toBe(before.versionId);
    expect(after.bootId).not.toBe(before.bootId);
    expect(after.bootId).toBe(t.host.bootId);
    expect(rebootVerdict(before, after)).toBe("rebooted");
  });

  test("readBootId is null when the file does not exist", async () => {
    const t = await startTestHost();
    hosts.push(t);
    expect(await readBootId(join(t.dir, "missing"))).toBeNull();
    expect(await readBootId(t.bootIdPath)).toMatch(/^[0-9a-f-]{36}$/);
  });
});
