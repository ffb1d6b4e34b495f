// A process that loads what talking to kube-apiserver takes (node:https, a TLS context with the system's roots) and
// idles: the floor under a component with no client library (bench/floor.ts).
const https = process.getBuiltinModule("node:https");
const tls = process.getBuiltinModule("node:tls");

(globalThis as { lib?: unknown }).lib = [new https.Agent({ keepAlive: true }), tls.createSecureContext({})];
setInterval(() => undefined, 1 << 30);
