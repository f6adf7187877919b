/**
 * A SessionStore (SQLite or PostgreSQL) whose work runs in a worker thread (store-worker.ts).
 * Measured: with the SQLite store on the proxy's event loop, each group commit stalled every
 * session and halved pgbench throughput; the worker keeps the loop free for forwarding. Reads go
 * through the worker too, so one store instance sees every committed write.
 */
import { Worker } from 'node:worker_threads';
import type { EndReason, SessionEvent, SessionId } from '../model/session.js';
import { encodeBatch } from './encoded-batch.js';
import { StoreError, storeClosed } from './errors.js';
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
import { deserializeError, type StoreMethod, type WorkerInit, type WorkerReply } from './worker-protocol.js';

interface Pending {
  readonly resolve: (v: unknown) => void;
  readonly reject: (e: Error) => void;
  /** A write's last event: if it is in the store, the write committed. */
  readonly last: { readonly sessionId: string; readonly seq: number } | null;
}

export interface WorkerStoreOptions {
  /** Told when the store's thread stops unexpectedly and when another has taken over. */
  readonly onThread?: (event: ThreadEvent) => void;
}

export type ThreadEvent =
  | { readonly kind: 'lost'; readonly error: Error }
  | { readonly kind: 'reopen_failed'; readonly error: Error; readonly retryInMs: number }
  | { readonly kind: 'restarted'; readonly settled: number; readonly committed: number };

/** Between attempts to open the store again in a new thread: 0.5 s, doubling, at most 10 s. */
const REOPEN_BACKOFF_MS = [500, 1000, 2000, 5000, 10_000];

export class WorkerSessionStore implements SessionStore {
  private worker!: Worker;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private ready!: Promise<void>;
  /** Set once closed, or when the first open failed: every call is refused with it. */
  private dead: Error | null = null;
  private closing = false;
  /** A thread stopped and another is being started: calls wait for it. */
  private restarting: Promise<void> | null = null;
  /** The thread's own error ('error' comes before 'exit'), for what the lost calls are told. */
  private threadError: Error | null = null;

  private constructor(
    private readonly init: WorkerInit,
    private readonly o: WorkerStoreOptions,
  ) {
    this.attach();
  }

  /** Start the worker and wait until it has opened the store (open errors surface here). */
  static async open(
    url: string,
    synchronous: Synchronous,
    keyFiles: StoreKeyFiles,
    options: WorkerStoreOptions = {},
  ): Promise<WorkerSessionStore> {
    const store = new WorkerSessionStore({ url, synchronous, keyFiles }, options);
    try {
      await store.ready;
    } catch (err) {
      store.dead = err as Error;
      await store.discardThread();
      throw err;
    }
    return store;
  }

  /** A new thread opening the store; its answer to id 0 settles `ready`. */
  private attach(): void {
    const worker = spawn(this.init);
    this.worker = worker;
    this.ready = new Promise((resolve, reject) =>
      this.pending.set(0, { resolve: () => resolve(), reject, last: null }),
    );
    // A replaced thread's late events are not this one's.
    worker.on('message', (reply: WorkerReply) => {
      if (this.worker === worker) this.settle(reply);
    });
    worker.on('error', (err) => {
      if (this.worker === worker) this.threadError = err;
    });
    worker.on('exit', (code) => {
      if (this.worker === worker) this.exited(code);
    });
  }

  /**
   * Ends a thread whose store did not open. It would otherwise wait for requests that never come,
   * keeping the process alive; its exit is not a loss to recover from.
   */
  private async discardThread(): Promise<void> {
    const worker = this.worker;
    worker.removeAllListeners('exit');
    await worker.terminate();
  }

  /**
   * The thread ended. On close, or before the store ever opened, that is the end. Otherwise it
   * stopped unexpectedly (an uncaught error, out of memory): the store is opened again in a new
   * thread from what it holds durably (SQLite applies its journal; PostgreSQL retakes the writer
   * lock), and the calls in flight are settled then. Without this, recording would stop for good
   * while dbtape serves on.
   */
  private exited(code: number): void {
    const error =
      this.threadError ??
      new StoreError('DBTAPE_STORE_THREAD_LOST', `dbtape: the session store thread exited (code ${code})`);
    this.threadError = null;
    const lost = [...this.pending.entries()];
    this.pending.clear();
    const opening = lost.find(([id]) => id === 0);
    if (this.closing || this.dead || (opening && this.restarting === null)) {
      this.dead ??= error;
      for (const [, p] of lost) p.reject(error);
      return;
    }
    if (opening) {
      // A reopen's thread died while opening (nothing else is sent before it opens): restart()
      // sees `ready` reject and tries again.
      opening[1].reject(error);
      return;
    }
    this.o.onThread?.({ kind: 'lost', error });
    this.restarting = this.restart(
      lost.map(([, p]) => p),
      error,
    );
  }

  private async restart(lost: Pending[], error: Error): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      this.attach();
      try {
        await this.ready;
        break;
      } catch (err) {
        await this.discardThread();
        if (this.closing) {
          this.restarting = null;
          for (const p of lost) p.reject(error);
          return;
        }
        const retryInMs = REOPEN_BACKOFF_MS[Math.min(attempt, REOPEN_BACKOFF_MS.length - 1)]!;
        this.o.onThread?.({ kind: 'reopen_failed', error: err as Error, retryInMs });
        await new Promise((r) => setTimeout(r, retryInMs));
      }
    }
    this.restarting = null;
    // A write the thread had taken may have committed before it stopped: reporting that one failed
    // would have the recorder write its sequence numbers again, which the store refuses for good.
    let committed = 0;
    for (const p of lost) {
      const stored =
        p.last !== null &&
        (await this.getEvents(p.last.sessionId, { afterSeq: p.last.seq - 1, limit: 1 }).then(
          ([e]) => e?.seq === p.last!.seq,
          () => false,
        ));
      if (stored) {
        committed++;
        p.resolve(undefined);
      } else p.reject(error);
    }
    this.o.onThread?.({ kind: 'restarted', settled: lost.length, committed });
  }

  /**
   * The batch is encoded here, on the proxy's thread, into the form the store writes (v1 JSON
   * and a few columns): cheaper overall than structured-cloning event objects to the worker and
   * encoding them there. The numbers' buffer is transferred, not copied.
   */
  writeBatch(batch: WriteBatch, options?: WriteOptions): Promise<void> {
    const encoded = encodeBatch(batch);
    const tail = batch.events.at(-1);
    return this.post(
      'writeEncoded',
      [encoded, options],
      [encoded.numbers.buffer as ArrayBuffer],
      tail ? { sessionId: tail.sessionId, seq: tail.event.seq } : null,
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
    if (this.dead || this.closing) return;
    this.closing = true;
    await this.restarting;
    if (this.dead) return;
    // Listen before asking: the thread exits right after its answer, and Node can deliver that
    // answer and emit 'exit' in one turn, before code after an awaited call gets to listen (shutdown
    // then waited forever, about one run in fifteen of a test that stops dbtape).
    const exited = new Promise<void>((resolve) => this.worker.once('exit', () => resolve()));
    await this.send('close', [], [], null);
    await exited;
  }

  private call(method: StoreMethod, ...args: unknown[]): Promise<unknown> {
    return this.post(method, args, [], null);
  }

  private post(
    method: StoreMethod,
    args: unknown[],
    transfer: ArrayBuffer[],
    last: Pending['last'],
  ): Promise<unknown> {
    if (this.dead) return Promise.reject(this.dead);
    if (this.closing) return Promise.reject(storeClosed());
    if (this.restarting) return this.restarting.then(() => this.post(method, args, transfer, last));
    return this.send(method, args, transfer, last);
  }

  private send(
    method: StoreMethod,
    args: unknown[],
    transfer: ArrayBuffer[],
    last: Pending['last'],
  ): Promise<unknown> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject, last });
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
}

/**
 * Compiled (dist/), the worker is store-worker.js beside this file. Run from TypeScript sources
 * (tests under tsx), the worker registers tsx first, then imports store-worker.ts.
 */
function spawn(workerData: WorkerInit): Worker {
  const here = import.meta.url;
  if (here.endsWith('.js')) return new Worker(new URL('./store-worker.js', here), { workerData });
  const entry = new URL('./store-worker.ts', here).href;
  const api = import.meta.resolve('tsx/esm/api');
  const boot = `const { register } = await import(${JSON.stringify(api)}); register(); await import(${JSON.stringify(entry)});`;
  return new Worker(new URL(`data:text/javascript,${encodeURIComponent(boot)}`), { workerData });
}
