import { mkdtempSync, renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { stringify } from "yaml";
import { inClusterConnection, loadConnection, TOKEN_REREAD_MS, tokenFile } from "./connection.ts";
import { connectionFromKubeconfig } from "./kubeconfig.ts";

const b64 = (s: string) => Buffer.from(s).toString("base64");

function kubeconfig(user: Record<string, unknown>, cluster: Record<string, unknown> = {}): string {
  return stringify({
    apiVersion: "v1",
    kind: "Config",
    clusters: [
      { name: "other", cluster: { server: "https://wrong:1" } },
      { name: "c", cluster: { server: "https://10.0.0.1:6443", ...cluster } },
    ],
    users: [{ name: "u", user }],
    contexts: [
      { name: "other", context: { cluster: "other", user: "u" } },
      { name: "ctx", context: { cluster: "c", user: "u" } },
    ],
    "current-context": "ctx",
  });
}

describe("connectionFromKubeconfig", () => {
  it("takes the current context's cluster and user, decoding embedded data", async () => {
    const c = connectionFromKubeconfig(
      kubeconfig(
        { "client-certificate-data": b64("CERT"), "client-key-data": b64("KEY"), token: "t0k" },
        { "certificate-authority-data": b64("CA"), "tls-server-name": "kubernetes" },
      ),
    );
    expect(c).toMatchObject({
      server: "https://10.0.0.1:6443",
      ca: "CA",
      cert: "CERT",
      key: "KEY",
      insecureSkipTlsVerify: false,
      tlsServerName: "kubernetes",
    });
    expect(await c.token?.()).toBe("t0k");
  });

  it("reads files relative to the kubeconfig's directory, and insecure-skip-tls-verify", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kubeconfig-"));
    writeFileSync(join(dir, "ca.crt"), "CA FILE");
    writeFileSync(join(dir, "client.crt"), "CERT FILE");
    writeFileSync(join(dir, "client.key"), "KEY FILE");
    writeFileSync(join(dir, "token"), "file-token\n");
    const c = connectionFromKubeconfig(
      kubeconfig(
        { "client-certificate": "client.crt", "client-key": join(dir, "client.key"), tokenFile: "token" },
        { "certificate-authority": "ca.crt", "insecure-skip-tls-verify": true },
      ),
      dir,
    );
    expect(c).toMatchObject({ ca: "CA FILE", cert: "CERT FILE", key: "KEY FILE", insecureSkipTlsVerify: true });
    expect(await c.token?.()).toBe("file-token");
  });

  it("refuses what it cannot do rather than connecting without credentials", () => {
    expect(() => connectionFromKubeconfig(kubeconfig({ exec: { command: "aws" } }))).toThrow(/exec is not supported/);
    expect(() => connectionFromKubeconfig(stringify({ contexts: [] }))).toThrow(/no current-context/);
    expect(() =>
      connectionFromKubeconfig(kubeconfig({}).replace("current-context: ctx", "current-context: x")),
    ).toThrow(/context "x" not found/);
  });
});

describe("tokenFile", () => {
  it("re-reads the token once the last read is a minute old (bound tokens rotate), not on every call", async () => {
    const dir = mkdtempSync(join(tmpdir(), "token-"));
    const path = join(dir, "token");
    writeFileSync(path, "first");
    let now = 1_000_000;
    const token = tokenFile(path, () => now);
    expect(await token()).toBe("first");
    // As the kubelet rotates a projected token: a new file renamed over the old one.
    writeFileSync(join(dir, "next"), "second");
    renameSync(join(dir, "next"), path);
    now += TOKEN_REREAD_MS - 1;
    expect(await token()).toBe("first");
    now += 1;
    expect(await token()).toBe("second");
    writeFileSync(join(dir, "empty"), "");
    renameSync(join(dir, "empty"), path);
    now += TOKEN_REREAD_MS;
    await expect(token()).rejects.toThrow(/is empty/);
    // The clock set back: read again at once, not an hour later.
    writeFileSync(join(dir, "third"), "third");
    renameSync(join(dir, "third"), path);
    expect(await token()).toBe("third");
    now -= 3_600_000;
    writeFileSync(join(dir, "fourth"), "fourth");
    renameSync(join(dir, "fourth"), path);
    expect(await token()).toBe("fourth");
  });
});

describe("inClusterConnection and loadConnection", () => {
  it("use the service account when there is no kubeconfig", async () => {
    const dir = mkdtempSync(join(tmpdir(), "sa-"));
    writeFileSync(join(dir, "ca.crt"), "SA CA");
    writeFileSync(join(dir, "token"), "sa-token");
    const c = inClusterConnection({ KUBERNETES_SERVICE_HOST: "fd00::1", KUBERNETES_SERVICE_PORT: "443" }, dir);
    expect(c.server).toBe("https://[fd00::1]:443");
    expect(c.ca).toBe("SA CA");
    expect(await c.token?.()).toBe("sa-token");
    // Neither a kubeconfig nor a cluster: kubectl's last resort, so the component starts and says what fails.
    expect(await loadConnection({ HOME: dir })).toEqual({ server: "http://localhost:8080" });
  });

  it("prefer $KUBECONFIG", async () => {
    const dir = mkdtempSync(join(tmpdir(), "kc-"));
    writeFileSync(join(dir, "config"), kubeconfig({ token: "x" }));
    const c = await loadConnection({ KUBECONFIG: join(dir, "config"), KUBERNETES_SERVICE_HOST: "10.0.0.9", HOME: dir });
    expect(c.server).toBe("https://10.0.0.1:6443");
  });
});
