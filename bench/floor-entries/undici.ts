// A process that loads all of undici and idles: a memory floor (bench/floor.ts).
import * as lib from "undici";

(globalThis as { lib?: unknown }).lib = lib;
setInterval(() => undefined, 1 << 30);
