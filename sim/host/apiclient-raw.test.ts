// `apiclient raw` output, as Bottlerocket tooling and brupop 1.4's stderr parser expect it.
import { afterEach, describe, expect, test } from "vitest";
import { startTestHost, type TestHost } from "./testing.ts";
import { apiclientRaw } from "./apiclient-raw.ts";

const hosts: TestHost[] = [];
afterEach(async () => {
  await Promise.all(hosts.splice(0).map((t) => t.close()));
});

async function host(): Promise<TestHost> {
  const t = await startTestHost();
  hosts.push(t);
  return t;
}

/** brupop 1.4's agent: the status code is the first token after the word `Status` in stderr. */
function brupopStatusCode(stderr: string): string | undefined {
  const words = stderr.split(/\s+/);
  return words[words.indexOf("Status") + 1];
}

describe("apiclient raw", () => {
  test("prints the body and a newline on success; nothing for a 204", async () => {
    const t = await host();
    const os = await apiclientRaw(t.client, { uri: "/os?prefix=version" });
    expect(os).toEqual({ exitCode: 0, stdout: '{"version_id":"1.25.0"}\n', stderr: "" });
    const refresh = await apiclientRaw(t.client, { uri: "/actions/refresh-updates", method: "post" });
    expect(refresh).toEqual({ exitCode: 0, stdout: "", stderr: "" });
  });

  test("an HTTP error prints apiclient's exact message to stderr and exits 1", async () => {
    const t = await host();
    const result = await apiclientRaw(t.client, { uri: "/actions/prepare-update", method: "POST" });
    expect(result).toEqual({
      exitCode: 1,
      stdout: "",
      stderr:
        "Failed POST request to '/actions/prepare-update': Status 409 when POSTing /actions/prepare-update: Update action not allowed according to update state\n",
    });
    expect(brupopStatusCode(result.stderr)).toBe("409");
  });

  test("a 404 status read names the GET and the host's text", async () => {
    const t = await host();
    const result = await apiclientRaw(t.client, { uri: "/updates/status" });
    expect(result.stderr).toBe(
      "Failed GET request to '/updates/status': Status 404 when GETing /updates/status: Update status is uninitialized, refresh-updates to initialize it\n",
    );
  });

  test("verbose mode prints the status line to stderr, like apiclient -v", async () => {
    const t = await host();
    expect(
      (await apiclientRaw(t.client, { uri: "/actions/refresh-updates", method: "POST", verbose: true })).stderr,
    ).toBe("204 No Content\n");
  });

  test("a missing socket reports hyper's connect error (no `Status` word) and exits 1", async () => {
    const t = await host();
    await t.host.stop();
    const result = await apiclientRaw(t.client, { uri: "/os" });
    expect(result).toEqual({
      exitCode: 1,
      stdout: "",
      stderr:
        "Failed GET request to '/os': Failed to send request: error trying to connect: No such file or directory (os error 2)\n",
    });
  });

  test("a URI without a leading slash is refused without a request", async () => {
    const t = await host();
    expect(await apiclientRaw(t.client, { uri: "os" })).toMatchObject({
      exitCode: 1,
      stderr: "Failed GET request to 'os': Failed to build request: invalid uri\n",
    });
  });
});
