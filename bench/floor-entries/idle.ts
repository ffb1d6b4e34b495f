// What every floor process does: keeps what it loaded reachable, loads TLS as any Kubernetes client does (node:https,
// a TLS context with the system's roots), and idles (bench/floor.ts).
export function idleWith(loaded: readonly unknown[]): void {
  const https = process.getBuiltinModule("node:https");
  const tls = process.getBuiltinModule("node:tls");
  (globalThis as { lib?: unknown }).lib = [
    ...loaded,
    new https.Agent({ keepAlive: true }),
    tls.createSecureContext({}),
  ];
  setInterval(() => undefined, 1 << 30);
}
