// A process that loads all of @kubernetes/client-node and idles: a memory floor (bench/floor.ts).
import * as lib from "@kubernetes/client-node";

(globalThis as { lib?: unknown }).lib = lib;
setInterval(() => undefined, 1 << 30);
