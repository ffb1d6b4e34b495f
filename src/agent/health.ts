// The agent's probes. /livez answers while the event loop runs (every wait in the agent is bounded, so a stuck
// step ends in a decision, not a hang; what a liveness probe can still catch is a wedged process). /readyz answers
// 200 once both watches (its BottlerocketShadow and its Node) have listed. Plain HTTP on the pod network, like
// the kubelet's own probes; node:http via getBuiltinModule keeps Node's bundled undici unloaded (RSS budget).
import type { Server } from "node:http";

const http = process.getBuiltinModule("node:http");

export function startHealthServer(port: number, isReady: () => boolean): Promise<Server> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? "").split("?")[0];
    const ok = path === "/livez" || (path === "/readyz" && isReady());
    const known = path === "/livez" || path === "/readyz";
    res.writeHead(ok ? 200 : known ? 503 : 404, { "content-type": "text/plain" });
    res.end(ok ? "ok\n" : known ? "not ready\n" : "not found\n");
  });
  return new Promise((resolve, reject) => {
    server.once("error", reject);
    server.listen(port, () => {
      server.off("error", reject);
      server.unref(); // never keeps the process alive on its own
      resolve(server);
    });
  });
}
