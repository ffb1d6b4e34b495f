import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments } from "yaml";
import { containerHeapFlags, manifestMemoryLimitBytes, memoryQuantityBytes } from "./container-memory.ts";

describe("memory quantities", () => {
  it.each([
    ["256Mi", 256 * 1024 * 1024],
    ["50Mi", 50 * 1024 * 1024],
    ["1Gi", 1024 ** 3],
    ["512Ki", 512 * 1024],
    ["1G", 1e9],
    ["128M", 128e6],
    ["1.5Gi", 1.5 * 1024 ** 3],
    ["134217728", 134217728],
  ])("%s is %d bytes", (quantity, bytes) => {
    expect(memoryQuantityBytes(quantity)).toBe(bytes);
  });

  it.each(["", "Mi", "256mi", "-1Mi", "256 Mi", "1e3"])("refuses %j", (quantity) => {
    expect(() => memoryQuantityBytes(quantity)).toThrow(/not a memory quantity/);
  });
});

describe("the manifest's memory limits", () => {
  it("are those of the committed install manifest (what `npm run manifests` wrote)", () => {
    const text = readFileSync(join(import.meta.dirname, "..", "..", "bottlerocket-update-operator.yaml"), "utf8");
    const limits = new Map<string, string>();
    for (const doc of parseAllDocuments(text)) {
      const o = doc.toJSON() as {
        kind?: string;
        metadata?: { name?: string };
        spec?: { template?: { spec?: { containers?: { resources?: { limits?: { memory?: string } } }[] } } };
      };
      const memory = o.spec?.template?.spec?.containers?.[0]?.resources?.limits?.memory;
      if (memory !== undefined) limits.set(`${o.kind ?? ""}/${o.metadata?.name ?? ""}`, memory);
    }
    expect(limits.size).toBe(3);
    const bytes = (key: string) => memoryQuantityBytes(limits.get(key) ?? "missing");
    expect(manifestMemoryLimitBytes("apiserver")).toBe(bytes("Deployment/brupop-apiserver"));
    expect(manifestMemoryLimitBytes("controller")).toBe(bytes("Deployment/brupop-controller-deployment"));
    expect(manifestMemoryLimitBytes("agent")).toBe(bytes("DaemonSet/brupop-agent"));
  });
});

describe("container heap flags", () => {
  it("size the old space to the limit and keep the semi-space small", () => {
    expect(containerHeapFlags(256 * 1024 * 1024)).toEqual(["--max-old-space-size=256", "--max-semi-space-size=1"]);
  });
});
