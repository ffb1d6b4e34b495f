// A map that forgets its least recently used entries beyond a bound. Its memory follows the entries it holds, not
// the bound, which lru-cache allocates when it is made (README.md). A Map keeps insertion order, so a read moves its
// entry to the end and the first key is the one to forget.
export class LruMap<K, V> {
  readonly #max: number;
  readonly #entries = new Map<K, V>();

  constructor(max: number) {
    if (!(Number.isInteger(max) && max >= 1)) throw new RangeError(`an LRU map holds at least 1 entry, not ${max}`);
    this.#max = max;
  }

  /** The value, now the most recently used. */
  get(key: K): V | undefined {
    if (!this.#entries.has(key)) return undefined;
    const value = this.#entries.get(key) as V;
    this.#entries.delete(key);
    this.#entries.set(key, value);
    return value;
  }

  /** Sets the value, the most recently used; beyond the bound the least recently used entry goes. */
  set(key: K, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    if (this.#entries.size > this.#max) {
      const oldest = this.#entries.keys().next();
      if (!oldest.done) this.#entries.delete(oldest.value);
    }
  }

  delete(key: K): boolean {
    return this.#entries.delete(key);
  }

  get size(): number {
    return this.#entries.size;
  }
}
