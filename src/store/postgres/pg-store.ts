/**
 * SessionStore on a PostgreSQL database (postgres.js). A batch is one transaction, as in the
 * SQLite store; the chain, seals, encryption and outcome links are computed inside it by the
 * same code (pg-write.ts). Reads go through a small pool of their own, so the dashboard's reads
 * never wait behind a commit.
 *
 * Durability: every commit waits for the server's WAL flush (synchronous_commit on for the
 * writer's connection, whatever the server's default), so a strict-mode batch needs no journal.
 * Fast-mode batches wait too, off the proxy's path: the store's server can crash and come back
 * while dbtape runs on, and a commit it acknowledged and then lost would leave dbtape's sequence
 * numbers and chain heads ahead of the store's, refusing every later event of those sessions
 * (seen with an `immediate` restart of the store's server under load). With the SQLite store the
 * two cannot part: what loses its last commits (a power loss) loses the process too.
 *
 * One writer: `dbtape serve` opens the store with `writer` and holds a session-level advisory
 * lock on its writer connection (pg-connect.ts); a second one is refused at open.
 */
import type { Keyring } from '../../integrity/keyring.js';
import type { CheckpointSigner } from '../../integrity/signing-key.js';
import type { IntegritySource } from '../../integrity/source.js';
import type { EndReason, SessionEvent, SessionId } from '../../model/session.js';
import { crashEndBatch } from '../crash-close.js';
import { type EncodedBatch, encodeBatch } from '../encoded-batch.js';
import { encryptedStoreError, StoreError, storeClosed, storeReadOnly } from '../errors.js';
import { decodeEvent } from '../event-codec.js';
import { OutcomeTracker } from '../outcome-tracker.js';
import { decryptBody, FORMAT_ENCRYPTED } from '../session-keys.js';
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
} from '../session-store.js';
import { pgCheckpointDue, prepareCheckpoint } from './pg-checkpoint.js';
import {
  connectPg,
  displayPgUrl,
  migratePg,
  openFailed,
  type Sql,
  scrubMessage,
  takeWriterLock,
} from './pg-connect.js';
import { committedDespite, definiteFailure, WRITE_TIMEOUT_MS, withTimeout } from './pg-failures.js';
import { PgIntegritySource } from './pg-integrity.js';
import { PgKeys } from './pg-keys.js';
import { type PgBodyRow, PgReads } from './pg-reads.js';
import { toBlindTsQuery, toTsQuery } from './pg-search.js';
import { deleteTokenStatement, insertTokenStatement, loadPgTokens } from './pg-tokens.js';
import { PgBatchWriter } from './pg-write.js';

export interface PgOpenOptions {
  /** For read commands: the schema must exist and be current; nothing is written. */
  readonly readonly?: boolean;
  /** The recording's one writer (`dbtape serve`): takes the writer lock. */
  readonly writer?: boolean;
  readonly keyring?: Keyring | null;
  readonly signer?: CheckpointSigner | null;
}

const READ_POOL = 4;
export class PostgresSessionStore implements SessionStore {
  private readonly read: Sql;
  /** The writer's pool (one connection); replaced after its connection failed (replaceWriter). */
  private write: Sql | null;
  private readonly readonly: boolean;
  private readonly signer: CheckpointSigner | null;
  private readonly tracker = new OutcomeTracker();
  /** Settles once connected, migrated, locked and keyed; every method waits for it. */
  private readonly ready: Promise<void>;
  private keys: PgKeys | null = null;
  private writer: PgBatchWriter | null = null;
  private reads: PgReads | null = null;
  /** Writes one at a time: the chain heads in memory follow the order of the commits. */
  private queue: Promise<unknown> = Promise.resolve();
  /** The writer's connection closed: its advisory lock went with it. */
  private lockLost = false;
  private dirty = false;
  private closed = false;

  /** Opens and waits until the store is usable (errors surface here). */
  static async open(url: string, options: PgOpenOptions = {}): Promise<PostgresSessionStore> {
    const store = new PostgresSessionStore(url, options);
    await store.ready;
    return store;
  }

  /** Connects in the background; the first call reports a failure to open. */
  constructor(
    private readonly url: string,
    private readonly options: PgOpenOptions = {},
  ) {
    this.readonly = options.readonly ?? false;
    this.signer = options.signer ?? null;
    this.read = connectPg(url, { max: this.readonly ? 2 : READ_POOL });
    this.write = this.readonly ? null : this.connectWriter();
    this.ready = this.init();
    // Reported by whichever call awaits it; never an unhandled rejection.
    this.ready.catch(() => {});
  }

  private connectWriter(): Sql {
    return connectPg(this.url, {
      max: 1,
      synchronousCommit: 'on',
      keepOpen: true,
      onclose: () => {
        this.lockLost = true;
        this.writer?.invalidate();
      },
    });
  }

  /**
   * After the writer's connection failed, the next write starts on a new pool. postgres.js can
   * leave a pool whose connection was cut mid-transaction unable to finish a query (seen with
   * pg_terminate_backend during a pipelined batch: later queries never settled), and a wedged
   * writer would stop all recording. The old pool's connection is destroyed, which also rolls
   * back whatever it had not committed.
   */
  private replaceWriter(): void {
    const old = this.write;
    if (!old || this.closed) return;
    this.write = this.connectWriter();
    this.lockLost = true;
    this.writer?.invalidate();
    // old.end({ timeout: 0 }).catch(() => {});
  }

  private async init(): Promise<void> {
    try {
      await migratePg(this.write ?? this.read, this.url, this.readonly);
      if (this.write && this.options.writer) await takeWriterLock(this.write, this.url);
      this.lockLost = false;
      const keys = await PgKeys.load(this.write ?? this.read, this.options.keyring ?? null, !this.readonly);
      if (!this.readonly && keys.encrypted && !keys.writesEncrypted) {
        throw encryptedStoreError(`the session store at ${displayPgUrl(this.url)}`);
      }
      this.keys = keys;
      this.writer = this.readonly ? null : new PgBatchWriter(keys, this.tracker);
      this.reads = new PgReads(
        this.read,
        (rows) => this.decode(rows),
        (terms) => {
          if (!keys.encrypted) return toTsQuery(terms);
          if (!keys.index) throw encryptedStoreError(`the session store at ${displayPgUrl(this.url)}`);
          return toBlindTsQuery(terms, keys.index);
        },
      );
      this.dirty = !this.readonly && this.signer !== null && (await pgCheckpointDue(this.write!));
    } catch (err) {
      await this.end();
      throw openFailed(this.url, err);
    }
  }

  /** Every batch is durable once written (see above), so `durable` asks nothing more. */
  async writeBatch(batch: WriteBatch, _options?: WriteOptions): Promise<void> {
    return this.writeEncoded(encodeBatch(batch));
  }

  /** writeBatch for a batch already encoded (worker-store.ts encodes on the proxy's thread). */
  async writeEncoded(batch: EncodedBatch, _options?: WriteOptions): Promise<void> {
    await this.writable();
    const writer = this.writer!;
    await this.exclusive(async () => {
      let statements: string[];
      try {
        statements = await writer.prepare(this.write!, batch);
      } catch (err) {
        // Nothing was written: only reads ran.
        writer.failed(batch);
        if (!definiteFailure(err)) this.replaceWriter();
        throw this.storeError(err);
      }
      try {
        await this.runWrite(statements);
      } catch (err) {
        writer.failed(batch);
        if (definiteFailure(err) || !(await committedDespite(this.read, batch))) throw this.storeError(err);
      }
      writer.committed(batch);
      this.dirty = true;
    });
  }

  async listSessions(filter: SessionFilter = {}): Promise<SessionSummary[]> {
    return (await this.readsReady()).listSessions(filter);
  }

  async getSession(id: SessionId): Promise<SessionSummary | null> {
    return (await this.readsReady()).getSession(id);
  }

  async getEvents(id: SessionId, query: EventQuery = {}): Promise<SessionEvent[]> {
    return (await this.readsReady()).getEvents(id, query);
  }

  async search(text: string, filter: SearchFilter = {}): Promise<SearchHit[]> {
    return (await this.readsReady()).search(text, filter);
  }

  async closeOpenSessions(reason: EndReason, atUs: number): Promise<number> {
    const open = await (await this.readsReady()).openSessions();
    if (open.length === 0) return 0;
    await this.writeBatch(crashEndBatch(open, reason, atUs), { durable: true });
    return open.length;
  }

  async checkpoint(atUs: number): Promise<CheckpointInfo | null> {
    await this.opened();
    const signer = this.signer;
    if (!signer || this.readonly) return null;
    return this.exclusive(async () => {
      if (!this.dirty) return null;
      let last: CheckpointInfo | null = null;
      for (;;) {
        const { info, more, statements } = await prepareCheckpoint(this.write!, signer, atUs).catch(
          (err: unknown) => {
            throw this.storeError(err);
          },
        );
        await this.runWrite(statements).catch((err: unknown) => {
          throw this.storeError(err);
        });
        last = info;
        if (!more) break;
      }
      this.dirty = false;
      return last;
    });
  }

  integrity(): IntegritySource {
    this.open();
    return new PgIntegritySource(this.read, this.ready, (onclose) =>
      connectPg(this.url, { max: 1, keepOpen: true, onclose }),
    );
  }

  async rewrapKeys(keyring: Keyring): Promise<number> {
    await this.writable();
    return this.exclusive(async () => {
      const { count, statements } = await PgKeys.rewrap(this.write!, keyring);
      await this.runWrite(statements);
      return count;
    });
  }

  async loadApiTokens(): Promise<ApiTokenRecord[]> {
    await this.opened();
    return loadPgTokens(this.read);
  }

  async saveApiToken(token: ApiTokenRecord): Promise<void> {
    await this.writeToken(insertTokenStatement(token));
  }

  async deleteApiToken(id: string): Promise<void> {
    await this.writeToken(deleteTokenStatement(id));
  }

  /**
   * A token change is written like a checkpoint: durable before it resolves (the API hands out
   * the secret only then), in turn with the recording's batches on the writer's connection.
   */
  private async writeToken(statement: string): Promise<void> {
    await this.writable();
    await this.exclusive(() =>
      this.runWrite([statement]).catch((err: unknown) => {
        throw this.storeError(err);
      }),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await this.ready.catch(() => {});
    await this.queue.catch(() => {});
    await this.end();
  }

  private async end(): Promise<void> {
    await Promise.all([this.read.end({ timeout: 5 }), this.write?.end({ timeout: 5 })]);
  }

  /**
   * Runs a write's statements as one simple-protocol query on the writer's connection: the server
   * runs them as one implicit transaction (pg-write.ts says why not `begin()`), durable once it
   * returns (synchronous_commit on, see above). Retakes the writer lock first if the connection was
   * lost, and refuses to write if another process took it meanwhile.
   */
  private async runWrite(statements: readonly string[]): Promise<void> {
    if (statements.length === 0) return;
    const sql = this.write!;
    try {
      if (this.options.writer && this.lockLost) {
        await withTimeout(takeWriterLock(sql, this.url), WRITE_TIMEOUT_MS);
        this.lockLost = false;
      }
      await withTimeout(sql.unsafe(statements.join(';\n')).execute(), WRITE_TIMEOUT_MS);
    } catch (err) {
      if (!definiteFailure(err)) this.replaceWriter();
      throw err;
    }
  }

  /** Runs `fn` after every write queued before it. */
  private exclusive<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(fn, fn);
    this.queue = run.catch(() => {});
    return run;
  }

  private async decode(rows: readonly PgBodyRow[]): Promise<SessionEvent[]> {
    const keys = this.keys!;
    const encrypted = rows.filter((r) => r.format === FORMAT_ENCRYPTED);
    if (encrypted.length > 0)
      await keys.preload(
        this.read,
        encrypted.map((r) => ({ sid: r.sid, id: r.sessionId })),
      );
    return rows.map((r) =>
      r.format === FORMAT_ENCRYPTED
        ? decodeEvent(decryptBody(keys.sessionKey(r.sid, r.sessionId, null), r.sessionId, r.seq, r.body))
        : decodeEvent(r.body.toString('utf8')),
    );
  }

  /**
   * A driver or server error as the recorder reports it (recording/errors.ts): the SQLSTATE or the
   * socket error in `errno`, and never the URL's password.
   */
  private storeError(err: unknown): Error {
    if (err instanceof StoreError || !(err instanceof Error)) return err as Error;
    const code = (err as { code?: unknown }).code;
    const errno = typeof code !== 'string' ? null : /^[0-9A-Z]{5}$/.test(code) ? `SQLSTATE ${code}` : code;
    const out = new StoreError(
      'DBTAPE_STORE_WRITE_FAILED',
      `dbtape: the session store at ${displayPgUrl(this.url)} failed: ${scrubMessage(err.message, this.url)}`,
    );
    return errno ? Object.assign(out, { errno }) : out;
  }

  private async readsReady(): Promise<PgReads> {
    await this.opened();
    return this.reads!;
  }

  private async opened(): Promise<void> {
    this.open();
    await this.ready;
  }

  private open(): void {
    if (this.closed) throw storeClosed();
  }

  /** Opened, and for writing: the writer's pool and batch writer exist. */
  private async writable(): Promise<void> {
    await this.opened();
    if (this.readonly) throw storeReadOnly();
  }
}
