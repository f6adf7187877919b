/**
 * The thread that owns the session store for `dbtape serve` (worker-store.ts is its other end).
 * SQLite commits are synchronous; here they block only this thread, never the proxy's event loop.
 * The PostgreSQL store's commits are round trips, but encoding, chaining and building each batch's
 * statements cost it about 12 µs of CPU per event, which here stays off the proxy's thread too.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { loadStoreKeys, openStoreReady } from './open-store.js';
import type { SessionStore } from './session-store.js';
import type { WorkerInit, WorkerReply, WorkerRequest } from './worker-protocol.js';
import { serializeError } from './worker-protocol.js';

const init = workerData as WorkerInit;
const port = parentPort!;
let store: SessionStore | null = null;

async function open(): Promise<SessionStore> {
  return openStoreReady(init.url, {
    synchronous: init.synchronous,
    // This thread does nothing but the store: blocking it on fsync is cheaper than a hand-off.
    inlineSync: true,
    journal: true,
    ...loadStoreKeys(init.keyFiles),
  });
}

// The other end sends nothing before this answer (id 0), which reports an open error too.
open().then(
  (opened) => {
    store = opened;
    port.postMessage({ id: 0, ok: true, value: null } satisfies WorkerReply);
  },
  (err: unknown) => port.postMessage({ id: 0, ok: false, error: serializeError(err) } satisfies WorkerReply),
);

port.on('message', (req: WorkerRequest) => {
  void handle(req).then((reply) => port.postMessage(reply));
});

async function handle(req: WorkerRequest): Promise<WorkerReply> {
  try {
    if (!store) throw new Error('dbtape: the session store did not open');
    // The method table is the SessionStore interface; a missing optional method answers null.
    const fn = (store as unknown as Record<string, ((...a: unknown[]) => unknown) | undefined>)[req.method];
    const value = fn ? await fn.apply(store, [...req.args]) : null;
    if (req.method === 'close') setImmediate(() => process.exit(0));
    return { id: req.id, ok: true, value };
  } catch (err) {
    return { id: req.id, ok: false, error: serializeError(err) };
  }
}
