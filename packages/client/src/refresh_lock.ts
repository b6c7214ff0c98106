/**
 * Runs `task` holding the cross-tab lock `name` (Web Locks: one holder per origin at a time; the
 * browser releases it if the holding tab closes or crashes, so a waiting tab takes over). Without
 * Web Locks (older browsers, Node) it runs at once: the caller still keeps one refresh in flight per
 * tab, and concurrent refreshes from several tabs fall within the server's refresh grace window
 * (`refreshGrace`, 5 s), where a repeated refresh token is answered, not treated as reuse.
 */
export function withRefreshLock<T>(name: string, task: () => Promise<T>): Promise<T> {
  const locks = typeof navigator === 'undefined' ? undefined : navigator.locks;
  // request() resolves with what the task resolves with.
  return locks ? (locks.request(name, task) as unknown as Promise<T>) : task();
}
