import { describe, it, expect } from "vitest";
import type { AddressInfo } from "node:net";
import { startHealthServer } from "./health.ts";

describe("agent health server", () => {
  it("answers /livez always, /readyz only when ready, 404 otherwise", async () => {
    let ready = false;
    const server = await startHealthServer(0, () => ready);
    const { port } = server.address() as AddressInfo;
    const get = async (path: string) => (await fetch(`http://127.0.0.1:${port}${path}`)).status;
    try {
      expect(await get("/livez")).toBe(200);
      expect(await get("/readyz")).toBe(503);
      ready = true;
      expect(await get("/readyz")).toBe(200);
      expect(await get("/metrics")).toBe(404);
    } finally {
      server.close();
    }
  });
});
