/**
 * A bounded least-recently-used map. A `Map` keeps insertion order, so re-inserting on every hit
 * makes its first key the least recently used one. A hit on the key that is already the most
 * recently used one (the common case of a verifier that sees one header) is not re-inserted.
 */
export class LruCache<K, V> {
  readonly #entries = new Map<K, V>();
  /** The most recently used key, when known; always the last key of `#entries` when set. */
  #newest: K | undefined;
  #hasNewest = false;

  constructor(readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new TypeError('cache size must be a positive integer');
  }

  get(key: K): V | undefined {
    const value = this.#entries.get(key);
    if (value !== undefined && !(this.#hasNewest && this.#newest === key)) {
      this.#entries.delete(key);
      this.#entries.set(key, value);
      this.#newest = key;
      this.#hasNewest = true;
    }
    return value;
  }

  set(key: K, value: V): void {
    this.#entries.delete(key);
    this.#entries.set(key, value);
    this.#newest = key;
    this.#hasNewest = true;
    if (this.#entries.size > this.max) this.#entries.delete(this.#entries.keys().next().value as K);
  }

  delete(key: K): void {
    this.#entries.delete(key);
    if (this.#hasNewest && this.#newest === key) {
      this.#newest = undefined;
      this.#hasNewest = false;
    }
  }

  clear(): void {
    this.#entries.clear();
    this.#newest = undefined;
    this.#hasNewest = false;
  }

  get size(): number {
    return this.#entries.size;
  }
}
