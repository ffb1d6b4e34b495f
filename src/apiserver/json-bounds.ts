// Depth and size of a JSON body, checked on its bytes before JSON.parse builds anything: JSON.parse is iterative,
// but what follows it is not (validation messages, serialisation for Kubernetes, the response), and a dense body
// can make it build far more than its size in objects. The same pass can find the elements of one list (a
// ConversionReview's objects), so that they can be parsed one at a time. Pure; one pass over the bytes, strings
// skipped with indexOf. Structural characters are ASCII, and UTF-8 never uses bytes below 0x80 inside a multi-byte
// character, so scanning bytes is scanning characters.

export interface JsonBounds {
  /** Most containers open at once: `[[1]]` has depth 2. */
  maxDepth: number;
  /** Most items: containers plus members and elements after the first of each (commas). */
  maxItems: number;
}

export type JsonBoundsViolation =
  | {
      kind: "depth";
      /** Where the text goes too deep, in kubectl's notation: `status.conditions[0].type`; "" at the root. */
      path: string;
    }
  | { kind: "items" }
  /** The list asked for has more elements than allowed. */
  | { kind: "elements"; path: string; max: number };

/**
 * Where a list's elements are in the bytes: element i is [bounds[2i], bounds[2i+1]), surrounding whitespace included.
 * Offsets in a typed array: a list of a million elements costs 8 MB, not the 60 of a million small arrays.
 */
export class JsonElements {
  #bounds = new Uint32Array(64);
  #count = 0;

  get count(): number {
    return this.#count;
  }

  add(start: number, end: number): void {
    if (2 * this.#count + 2 > this.#bounds.length) {
      const grown = new Uint32Array(this.#bounds.length * 2);
      grown.set(this.#bounds);
      this.#bounds = grown;
    }
    this.#bounds[2 * this.#count] = start;
    this.#bounds[2 * this.#count + 1] = end;
    this.#count++;
  }

  start(index: number): number {
    return this.#bounds[2 * index] ?? 0;
  }

  end(index: number): number {
    return this.#bounds[2 * index + 1] ?? 0;
  }
}

/** Where a list is in the bytes: its brackets and its elements. */
export interface JsonList {
  open: number;
  close: number;
  elements: JsonElements;
}

export interface JsonScan {
  violation?: JsonBoundsViolation;
  /** The list at the path asked for (the last one, as JSON.parse keeps the last of duplicate keys). */
  list?: JsonList;
}

/** One open container; the scan reuses one per level (no allocation per container). */
interface Frame {
  array: boolean;
  /** Where the key of the member being read is (objects), decoded only when needed. */
  keyStart: number;
  keyEnd: number;
  /** The element being read (arrays). */
  index: number;
  expectKey: boolean;
  /** Set on the list being collected. */
  list: JsonList | undefined;
  elementStart: number;
}

const QUOTE = 34;
const BACKSLASH = 92;
const COLON = 58;
const COMMA = 44;
const OPEN_OBJECT = 123;
const CLOSE_OBJECT = 125;
const OPEN_ARRAY = 91;
const CLOSE_ARRAY = 93;
const SHOWN_KEY = 40;
const SHOWN_SEGMENTS = 8;

/** The index of the quote that ends the string opened at `open`, or -1 if it never ends (JSON.parse says so). */
function stringEnd(bytes: Uint8Array, open: number): number {
  for (let at = bytes.indexOf(QUOTE, open + 1); at !== -1; at = bytes.indexOf(QUOTE, at + 1)) {
    let backslashes = 0;
    while (bytes[at - 1 - backslashes] === BACKSLASH) backslashes++;
    if (backslashes % 2 === 0) return at;
  }
  return -1;
}

function pathOf(bytes: Uint8Array, stack: readonly Frame[]): string {
  const decoder = new TextDecoder();
  const key = (frame: Frame) =>
    decoder.decode(bytes.subarray(frame.keyStart, Math.min(frame.keyEnd, frame.keyStart + SHOWN_KEY)));
  const segments = stack.map((frame) => (frame.array ? `[${frame.index}]` : `.${key(frame)}`));
  const shown = segments.length > SHOWN_SEGMENTS ? [...segments.slice(0, SHOWN_SEGMENTS), "..."] : segments;
  return shown.join("").replace(/^\./, "");
}

function isBlank(bytes: Uint8Array, start: number, end: number): boolean {
  for (let at = start; at < end; at++) {
    const byte = bytes[at];
    if (byte !== 32 && byte !== 9 && byte !== 10 && byte !== 13) return false;
  }
  return true;
}

function keyIs(bytes: Uint8Array, frame: Frame, key: Uint8Array): boolean {
  if (frame.array || frame.keyEnd - frame.keyStart !== key.length) return false;
  return key.every((byte, i) => bytes[frame.keyStart + i] === byte);
}

/** Whether the `depth` containers open in `frames` are the objects along `path`. */
function atPath(bytes: Uint8Array, frames: readonly Frame[], depth: number, path: readonly Uint8Array[]): boolean {
  if (depth !== path.length) return false;
  for (let i = 0; i < depth; i++) {
    const frame = frames[i];
    const key = path[i];
    if (frame === undefined || key === undefined || !keyIs(bytes, frame, key)) return false;
  }
  return true;
}

/** A list to find: where it is (keys from the root) and how many elements it may have. */
export interface ListToFind {
  path: readonly string[];
  maxElements: number;
}

/** The scan, pausing (yield) after every `window` bytes. */
function* scanning(
  bytes: Uint8Array,
  bounds: JsonBounds,
  find: ListToFind | undefined,
  window: number,
): Generator<void, JsonScan> {
  const encoder = new TextEncoder();
  const path = find?.path.map((key) => encoder.encode(key));
  const frames: Frame[] = Array.from({ length: bounds.maxDepth }, () => ({
    array: false,
    keyStart: 0,
    keyEnd: 0,
    index: 0,
    expectKey: true,
    list: undefined,
    elementStart: 0,
  }));
  let depth = 0;
  let items = 0;
  let keyStart = -1;
  let keyEnd = -1;
  let list: JsonList | undefined;
  let pauseAt = window;
  for (let at = 0; at < bytes.length; at++) {
    if (at >= pauseAt) {
      yield;
      pauseAt = at + window;
    }
    const byte = bytes[at];
    const top = depth > 0 ? frames[depth - 1] : undefined;
    if (byte === QUOTE) {
      const end = stringEnd(bytes, at);
      if (end === -1) return list === undefined ? {} : { list };
      if (top !== undefined && !top.array && top.expectKey) [keyStart, keyEnd] = [at + 1, end];
      at = end;
    } else if (byte === COLON) {
      if (top !== undefined && !top.array) {
        [top.keyStart, top.keyEnd] = [keyStart, keyEnd];
        top.expectKey = false;
      }
    } else if (byte === COMMA) {
      if (++items > bounds.maxItems) return { violation: { kind: "items" } };
      if (top?.array === true) {
        if (top.list !== undefined && find !== undefined && top.list.elements.count >= find.maxElements - 1) {
          return { violation: { kind: "elements", path: find.path.join("."), max: find.maxElements } };
        }
        top.list?.elements.add(top.elementStart, at);
        top.elementStart = at + 1;
        top.index++;
      } else if (top !== undefined) top.expectKey = true;
    } else if (byte === OPEN_OBJECT || byte === OPEN_ARRAY) {
      if (++items > bounds.maxItems) return { violation: { kind: "items" } };
      const frame = frames[depth];
      if (frame === undefined) return { violation: { kind: "depth", path: pathOf(bytes, frames.slice(0, depth)) } };
      const array = byte === OPEN_ARRAY;
      const collect = array && path !== undefined && atPath(bytes, frames, depth, path);
      frame.array = array;
      frame.keyStart = frame.keyEnd = frame.index = 0;
      frame.expectKey = true;
      frame.elementStart = at + 1;
      frame.list = collect ? { open: at, close: -1, elements: new JsonElements() } : undefined;
      depth++;
    } else if ((byte === CLOSE_OBJECT || byte === CLOSE_ARRAY) && depth > 0) {
      const closed = frames[--depth];
      if (closed?.list !== undefined) {
        const { elements } = closed.list;
        if (elements.count > 0 || !isBlank(bytes, closed.elementStart, at)) elements.add(closed.elementStart, at);
        list = { ...closed.list, close: at };
      }
    }
  }
  return list === undefined ? {} : { list };
}

/**
 * Scans `bytes` (UTF-8 JSON) for the first bound it breaks and, when `find` names a list (`["request", "objects"]`),
 * where that list's elements are. Syntax errors are left to JSON.parse.
 */
export function scanJson(bytes: Uint8Array, bounds: JsonBounds, find?: ListToFind): JsonScan {
  const steps = scanning(bytes, bounds, find, Number.POSITIVE_INFINITY);
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
  }
}

/** {@link scanJson} for large bodies: awaits `pause()` after every `window` bytes, so others get a turn. */
export async function scanJsonPausing(
  bytes: Uint8Array,
  bounds: JsonBounds,
  find: ListToFind | undefined,
  pause: () => Promise<void>,
  window = 256 * 1024,
): Promise<JsonScan> {
  const steps = scanning(bytes, bounds, find, window);
  for (;;) {
    const step = steps.next();
    if (step.done === true) return step.value;
    await pause();
  }
}

/** The first bound `bytes` breaks, or undefined. */
export function checkJsonBounds(bytes: Uint8Array, bounds: JsonBounds): JsonBoundsViolation | undefined {
  return scanJson(bytes, bounds).violation;
}
