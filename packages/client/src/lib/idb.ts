/**
 * The client's IndexedDB store (database `tessera-client`, object store `state`), or a Map in memory
 * where IndexedDB is missing or refused (Node, some private windows). It holds the DPoP key pair as a
 * CryptoKeyPair (structured clone keeps the private key non-extractable) and the time of the newest
 * token set any tab received — never a token.
 */
const DATABASE = 'tessera-client';
const STORE = 'state';
const memory = new Map<string, unknown>();
let opened: Promise<IDBDatabase | undefined> | undefined;

function open(): Promise<IDBDatabase | undefined> {
  opened ??= new Promise((resolve) => {
    if (typeof indexedDB === 'undefined') return resolve(undefined);
    try {
      const request = indexedDB.open(DATABASE, 1);
      request.onupgradeneeded = () => request.result.createObjectStore(STORE);
      request.onsuccess = () => resolve(request.result);
      request.onerror = () => resolve(undefined);
    } catch {
      resolve(undefined);
    }
  });
  return opened;
}

/**
 * Runs `step` on the store in one readwrite transaction (IndexedDB serialises them across tabs, so
 * a read then a write inside is atomic) and resolves with its result once the transaction commits.
 */
async function transaction<T>(step: (store: IDBObjectStore, done: (value: T) => void) => void): Promise<T> {
  const db = await open();
  if (!db) {
    let result!: T;
    step(memoryStore(), (value) => {
      result = value;
    });
    return result;
  }
  return new Promise((resolve, reject) => {
    const tx = db.transaction(STORE, 'readwrite');
    let result!: T;
    step(tx.objectStore(STORE), (value) => {
      result = value;
    });
    tx.oncomplete = () => resolve(result);
    tx.onerror = tx.onabort = () => reject(tx.error);
  });
}

/** The value under `key`. */
export function read<T>(key: string): Promise<T | undefined> {
  return transaction<T | undefined>((store, done) => {
    const request = store.get(key);
    request.onsuccess = () => done(request.result as T | undefined);
  });
}

/** Stores `value` under `key` unless something is there already; resolves with what is stored. */
export function readOrWrite<T>(key: string, value: T): Promise<T> {
  return transaction<T>((store, done) => {
    const request = store.get(key);
    request.onsuccess = () => {
      if (request.result !== undefined) return done(request.result as T);
      store.put(value, key);
      done(value);
    };
  });
}

/** Stores `value` under `key` when `replace(current)` says so (compare-and-set in one transaction). */
export function writeIf<T>(
  key: string,
  value: T,
  replace: (current: T | undefined) => boolean,
): Promise<void> {
  return transaction<void>((store, done) => {
    const request = store.get(key);
    request.onsuccess = () => {
      if (replace(request.result as T | undefined)) store.put(value, key);
      done();
    };
  });
}

/** The in-memory stand-in: requests whose `onsuccess` runs synchronously when assigned. */
function memoryStore(): IDBObjectStore {
  const request = (result: unknown) => ({
    result,
    set onsuccess(handler: () => void) {
      handler();
    },
  });
  return {
    get: (key: string) => request(memory.get(key)),
    put: (value: unknown, key: string) => {
      memory.set(key, value);
      return request(key);
    },
  } as unknown as IDBObjectStore;
}
