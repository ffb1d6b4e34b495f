import { describe, expect, it } from "vitest";
import { connect, createServer, type AddressInfo, type Server } from "node:net";
import { startServiceProxy } from "./service-proxy.ts";

async function listen(server: Server): Promise<number> {
  await new Promise<void>((done) => server.listen(0, "127.0.0.1", done));
  return (server.address() as AddressInfo).port;
}

/** Connects and waits until the proxy closes the connection or the backend answers. */
function attempt(port: number): Promise<string> {
  return new Promise((resolve) => {
    const socket = connect({ host: "127.0.0.1", port });
    let data = "";
    socket.on("data", (chunk: Buffer) => {
      data += chunk.toString();
      socket.end();
    });
    socket.on("error", () => undefined);
    socket.on("close", () => resolve(data));
  });
}

describe("service proxy", () => {
  it("logs an outage once when it begins and once when it ends, not per refused client", async () => {
    // A port nothing listens on yet.
    const backend = createServer((socket) => socket.end("hello"));
    const port = await listen(backend);
    await new Promise((done) => backend.close(done));
    const lines: string[] = [];
    const proxy = await startServiceProxy({ backends: () => [port], log: (line) => lines.push(line) });
    try {
      for (let i = 0; i < 3; i++) expect(await attempt(proxy.port)).toBe("");
      expect(lines).toEqual([
        "no backend accepts connections (1 known, starting or stopping): refusing clients until one does",
      ]);
      const revived = createServer((socket) => socket.end("hello"));
      await new Promise<void>((done) => revived.listen(port, "127.0.0.1", done));
      expect(await attempt(proxy.port)).toBe("hello");
      expect(lines[1]).toMatch(
        /^a backend accepts connections again after [\d.]+ s \(3 connections refused meanwhile\)$/,
      );
      expect(await attempt(proxy.port)).toBe("hello");
      expect(lines).toHaveLength(2);
      await new Promise((done) => revived.close(done));
    } finally {
      await proxy.stop();
    }
  });
});
