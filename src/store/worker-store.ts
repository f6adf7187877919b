/**
 * A SessionStore (SQLite or PostgreSQL) whose work runs in a worker thread (store-worker.ts).
 * Measured: with the SQLite store on the proxy's event loop, each group commit stalled every
 * session and halved pgbench throughput; the worker keeps the loop free for forwarding. Reads go
 * through the worker too, so one store instance sees every committed write.
 */
import { Worker } from 'node:worker_threads';
import type { EndReason, SessionEvent, SessionId } from '../model/session.js';
import { encodeBatch } from './encoded-batch.js';
import type { StoreKeyFiles, Synchronous } from './open-store.js';
import type {
  ApiTokenRecord,
  CheckpointInfo,
  EventQuery,
  SearchFilter,
  SearchHit,
  SessionFilter,
  SessionStore,
  SessionSummary,
  WriteBatch,
  WriteOptions,
} from './session-store.js';
import { deserializeError, type StoreMethod, type WorkerReply } from './worker-protocol.js';

export class WorkerSessionStore implements SessionStore {
  private readonly worker: Worker;
  private readonly pending = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  private nextId = 1;
  private readonly ready: Promise<void>;
  private dead: Error | null = null;

  private constructor(worker: Worker) {
    this.worker = worker;
    this.ready = new Promise((resolve, reject) => this.pending.set(0, { resolve: () => resolve(), reject }));
    worker.on('message', (reply: WorkerReply) => this.settle(reply));
    worker.on('error', (err) => this.fail(err));
    worker.on('exit', (code) =>
      this.fail(new Error(`dbtape: the session store thread exited (code ${code})`)),
    );
  }

  /** Start the worker and wait until it has opened the store (open errors surface here). */
  static async open(
    url: string,
    synchronous: Synchronous,
    keyFiles: StoreKeyFiles,
  ): Promise<WorkerSessionStore> {
    const store = new WorkerSessionStore(spawn({ url, synchronous, keyFiles }));
    try {
      await store.ready;
    } catch (err) {
      // The thread would otherwise wait for requests that never come, keeping the process alive.
      await store.worker.terminate();
      throw err;
    }
    return store;
  }

  /**
   * The batch is encoded here, on the proxy's thread, into the form the store writes (v1 JSON
   * and a few columns): cheaper overall than structured-cloning event objects to the worker and
   * encoding them there. The numbers' buffer is transferred, not copied.
   */
  writeBatch(batch: WriteBatch, options?: WriteOptions): Promise<void> {
    const encoded = encodeBatch(batch);
    return this.post(
      'writeEncoded',
      [encoded, options],
      [encoded.numbers.buffer as ArrayBuffer],
    ) as Promise<void>;
  }

  sync(): Promise<void> {
    return this.call('sync') as Promise<void>;
  }

  checkpoint(atUs: number): Promise<CheckpointInfo | null> {
    return this.call('checkpoint', atUs) as Promise<CheckpointInfo | null>;
  }

  closeOpenSessions(reason: EndReason, atUs: number): Promise<number> {
    return this.call('closeOpenSessions', reason, atUs) as Promise<number>;
  }

  listSessions(filter?: SessionFilter): Promise<SessionSummary[]> {
    return this.call('listSessions', filter) as Promise<SessionSummary[]>;
  }

  getSession(id: SessionId): Promise<SessionSummary | null> {
    return this.call('getSession', id) as Promise<SessionSummary | null>;
  }

  getEvents(id: SessionId, query?: EventQuery): Promise<SessionEvent[]> {
    return this.call('getEvents', id, query) as Promise<SessionEvent[]>;
  }

  search(text: string, filter?: SearchFilter): Promise<SearchHit[]> {
    return this.call('search', text, filter) as Promise<SearchHit[]>;
  }

  /** Null when the worker's store keeps no tokens (SQLite: they live in a file beside it). */
  loadApiTokens(): Promise<ApiTokenRecord[] | null> {
    return this.call('loadApiTokens') as Promise<ApiTokenRecord[] | null>;
  }

  saveApiToken(token: ApiTokenRecord): Promise<void> {
    return this.call('saveApiToken', token) as Promise<void>;
  }

  deleteApiToken(id: string): Promise<void> {
    return this.call('deleteApiToken', id) as Promise<void>;
  }

  async close(): Promise<void> {
    if (this.dead) return;
    // Listen before asking: the thread exits right after its answer, and Node can deliver that
    // answer and emit 'exit' in one turn, before code after an awaited call gets to listen (shutdown
    // then waited forever, about one run in fifteen of a test that stops dbtape).
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    await this.call('close');
    await exited;
  }

  private call(method: StoreMethod, ...args: unknown[]): Promise<unknown> {
    return this.post(method, args, []);
  }

  private post(method: StoreMethod, args: unknown[], transfer: ArrayBuffer[]): Promise<unknown> {
    if (this.dead) return Promise.reject(this.dead);
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ id, method, args }, transfer);
    });
  }

  private settle(reply: WorkerReply): void {
    const p = this.pending.get(reply.id);
    if (!p) return;
    this.pending.delete(reply.id);
    if (reply.ok) p.resolve(reply.value);
    else p.reject(deserializeError(reply.error));
  }

  private fail(err: Error): void {
    this.dead ??= err;
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}

/**
 * Compiled (dist/), the worker is store-worker.js beside this file. Run from TypeScript sources
 * (tests under tsx), the worker registers tsx first, then imports store-worker.ts.
 */
function spawn(workerData: unknown): Worker {
  const here = import.meta.url;
  if (here.endsWith('.js')) return new Worker(new URL('./store-worker.js', here), { workerData });
  const entry = new URL('./store-worker.ts', here).href;
  const api = import.meta.resolve('tsx/esm/api');
  const boot = `const { register } = await import(${JSON.stringify(api)}); register(); await import(${JSON.stringify(entry)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(boot)}`), { workerData });
}
