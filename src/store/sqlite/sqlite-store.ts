/**
 * SessionStore on an embedded SQLite file (better-sqlite3, synchronous). A batch is one
 * transaction: that is the group commit. Each event is chained and each ended session sealed
 * inside that transaction (sqlite-chain.ts); with a keyring, bodies are encrypted and the search
 * index holds blind tokens (sqlite-crypto.ts). Reads are in sqlite-reads.ts.
 *
 * A durable batch (strict mode) goes to the journal file first (sqlite-journal.ts) and is
 * applied within JOURNAL_APPLY_MS, before any read, and at the next open after a crash.
 */
import Database from 'better-sqlite3';
import type { BlindIndex } from '../../integrity/blind-index.js';
import type { Keyring } from '../../integrity/keyring.js';
import type { IntegritySource } from '../../integrity/source.js';
import type { EndReason, SessionEvent, SessionId, SessionMeta } from '../../model/session.js';
import { crashEndBatch } from '../crash-close.js';
import { type EncodedBatch, type EncodedEvent, encodeBatch, encodedEvents } from '../encoded-batch.js';
import { encryptedStoreError, storeClosed, storeReadOnly } from '../errors.js';
import { decodeEvent } from '../event-codec.js';
import {
  LINKED_KINDS,
  type LinkedEvent,
  linkOutcomes,
  OutcomeTracker,
  sessionsToResume,
} from '../outcome-tracker.js';
import { toBlindFts5Query, toFts5Query } from '../search-text.js';
import type {
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
import { RowInserter } from './row-inserter.js';
import { ChainWriter, type SessionState } from './sqlite-chain.js';
import { checkpointDue, writeCheckpoint } from './sqlite-checkpoint.js';
import { FORMAT_ENCRYPTED, StoreCrypto } from './sqlite-crypto.js';
import { SqliteIntegritySource } from './sqlite-integrity.js';
import { type JournalEntry, StrictJournal } from './sqlite-journal.js';
import { openDatabase, type SqliteOpenOptions, type Synchronous } from './sqlite-open.js';
import { SqliteReads, type StoredBodyRow } from './sqlite-reads.js';
import { WalSync } from './wal-sync.js';

interface Statements {
  insertSession: Database.Statement;
  insertEvent: RowInserter;
  insertFts: RowInserter;
  lastEventId: Database.Statement;
  markOutcome: Database.Statement;
  linkedEvents: Database.Statement;
  bump: Database.Statement;
  reportApplication: Database.Statement;
  end: Database.Statement;
}

interface Counts {
  state: SessionState;
  statements: number;
  errors: number;
  events: number;
}

export type { SqliteOpenOptions, Synchronous };

/** Distinct statement texts whose blind tokens are kept (cleared when full). */
const BLIND_CACHE = 512;
/**
 * How long a journaled batch waits to be applied: like fast mode's flush window, long enough
 * that one transaction carries many group commits, short enough that live replay keeps up.
 */
const JOURNAL_APPLY_MS = 100;
/** Journal rows per apply transaction (after a crash there may be many). */
const JOURNAL_APPLY_ROWS = 256;
/**
 * Journal rows per transaction when applying in the background: the thread applying is the one
 * journaling, so a long apply would hold up every strict statement. Between slices the thread
 * takes the durable writes that arrived.
 */
const JOURNAL_SLICE_ROWS = 32;
/** After a failed apply, the next attempt waits this long (the rows stay durable meanwhile). */
const JOURNAL_RETRY_MS = 1000;

export class SqliteSessionStore implements SessionStore {
  private readonly db: Database.Database;
  private readonly st: Statements;
  private readonly reads: SqliteReads;
  private readonly tracker = new OutcomeTracker();
  private readonly blindCache = new Map<string, string>();
  private readonly crypto: StoreCrypto;
  private readonly chain: ChainWriter | null;
  private readonly wal: WalSync | null;
  private readonly inlineSync: boolean;
  private readonly journal: StrictJournal | null;
  private applyTimer: NodeJS.Timeout | null = null;
  /** The last apply of the journal failed: the store proper cannot write. */
  private applyFailing = false;
  private readonly full: boolean;
  private readonly readonly: boolean;
  private readonly signer: SqliteOpenOptions['signer'];
  /** Something was written since the last checkpoint. */
  private dirty: boolean;
  private closed = false;

  constructor(
    readonly path: string,
    options: SqliteOpenOptions = {},
  ) {
    this.db = openDatabase(path, options);
    this.full = options.synchronous === 'full';
    this.readonly = options.readonly ?? false;
    this.signer = options.signer ?? null;
    try {
      this.crypto = new StoreCrypto(this.db, options.keyring ?? null, !this.readonly);
      if (!this.readonly && this.crypto.encrypted && !this.crypto.writesEncrypted) {
        throw encryptedStoreError(`the session store at ${path}`);
      }
      this.chain = this.readonly ? null : new ChainWriter(this.db, this.crypto);
    } catch (err) {
      this.db.close();
      throw err;
    }
    this.reads = new SqliteReads(
      this.db,
      (row) => this.decode(row),
      (terms) => {
        if (!this.crypto.encrypted) return toFts5Query(terms);
        const index = this.crypto.index;
        if (!index) throw encryptedStoreError(`the session store at ${path}`);
        return toBlindFts5Query(terms, (text) => index.text(text));
      },
    );
    this.st = this.readonly ? ({} as Statements) : prepareWrites(this.db);
    this.wal = this.readonly || path === ':memory:' || this.full ? null : new WalSync(path);
    this.inlineSync = options.inlineSync ?? false;
    try {
      this.journal =
        !this.readonly && options.journal
          ? new StrictJournal(this.db, this.crypto, path === ':memory:' ? null : path, () =>
              this.wal?.syncNow(),
            )
          : null;
    } catch (err) {
      this.db.close();
      throw err;
    }
    this.dirty = !this.readonly && checkpointDue(this.db);
    // Batches a crashed writer journaled but did not apply: they were durable, so they are
    // recorded now, before anything else is written or read.
    this.settleJournal();
  }

  async writeBatch(batch: WriteBatch, options: WriteOptions = {}): Promise<void> {
    return this.writeEncoded(encodeBatch(batch), options);
  }

  /** writeBatch for a batch already encoded (worker-store.ts encodes on the proxy's thread). */
  async writeEncoded(batch: EncodedBatch, options: WriteOptions = {}): Promise<void> {
    this.open();
    if (this.readonly) throw storeReadOnly();
    if (options.durable === true && this.journal) {
      // Durable once this returns (the journal writes with O_DSYNC). Nothing is journaled if it
      // throws: the writer takes the batch's sequence numbers back. While the store proper cannot
      // take what is journaled (a full disk, an I/O error), strict writes are refused as they
      // would be without a journal, rather than pile up where no read sees them; each one
      // retries the apply, so they flow again as soon as it can.
      if (this.applyFailing) this.applyJournal();
      this.journal.append(batch);
      this.scheduleApply(JOURNAL_APPLY_MS);
      return;
    }
    // Journaled batches come first: they were written before this one.
    this.applyJournal();
    this.commit([batch]);
    if (options.durable !== true) return;
    if (this.inlineSync) this.wal?.syncNow();
    else await this.sync();
  }

  /** Applies batches in one transaction (the chain, the index, the sessions' counters). */
  private commit(batches: readonly EncodedBatch[], journaled?: readonly JournalEntry[]): void {
    const events = batches.map((b) => [...encodedEvents(b)]);
    try {
      this.db
        .transaction(() => {
          for (let i = 0; i < batches.length; i++) this.apply(batches[i]!, events[i]!);
          this.st.insertFts.flush();
          if (journaled) this.journal!.applied(journaled);
        })
        .immediate();
    } catch (err) {
      this.st.insertEvent.discard();
      this.st.insertFts.discard();
      for (const list of events) for (const { sessionId } of list) this.tracker.forget(sessionId);
      this.chain!.reset();
      throw err;
    }
    this.dirty = true;
    if (journaled) this.journal!.released(journaled);
    for (const b of batches) for (const e of b.ends) this.chain!.ended(e.sessionId);
  }

  /**
   * Moves every journaled batch into the store proper, in order; throws (leaving the rest
   * journaled, still durable) if the store cannot write.
   */
  private applyJournal(): void {
    while (this.applySlice(JOURNAL_APPLY_ROWS));
  }

  /** Applies up to `limit` journaled batches in one transaction; true if more may be left. */
  private applySlice(limit: number): boolean {
    if (!this.journal || this.journal.pending() === 0) return false;
    if (this.applyTimer) clearTimeout(this.applyTimer);
    this.applyTimer = null;
    const entries = this.journal.take(limit);
    try {
      this.commit(
        entries.map((e) => e.batch),
        entries,
      );
    } catch (err) {
      this.applyFailing = true;
      this.scheduleApply(JOURNAL_RETRY_MS);
      throw err;
    }
    this.applyFailing = false;
    return this.journal.pending() > 0;
  }

  /** The background apply: one slice now, the next after the writes that arrived meanwhile. */
  private applyInSlices(): void {
    let more = false;
    try {
      more = this.applySlice(JOURNAL_SLICE_ROWS);
    } catch {
      // Left journaled and durable; applySlice scheduled the retry.
      return;
    }
    if (more && !this.closed) setImmediate(() => this.applyInSlices());
  }

  /** Reads and the integrity machinery see journaled batches too; a failed apply does not stop them. */
  private settleJournal(): void {
    try {
      this.applyJournal();
    } catch {
      // The batches stay journaled and durable; the next attempt is scheduled.
    }
  }

  private scheduleApply(ms: number): void {
    if (this.applyTimer || this.closed) return;
    this.applyTimer = setTimeout(() => {
      this.applyTimer = null;
      this.applyInSlices();
    }, ms);
    // A store left open must not keep the process alive for this.
    this.applyTimer.unref();
  }

  /** See SessionStore.sync: fdatasync of the WAL, shared by every caller waiting meanwhile. */
  async sync(): Promise<void> {
    this.open();
    if (this.wal) await this.wal.sync();
  }

  private apply(batch: EncodedBatch, events: readonly EncodedEvent[]): void {
    const chain = this.chain!;
    for (const meta of batch.sessions) {
      const sid = this.insertSession(meta);
      if (sid === null) continue;
      chain.created(sid, meta);
      this.tracker.started(meta.id);
    }
    // Inside the transaction, after the batches applied before this one in it.
    for (const id of sessionsToResume(this.tracker, events)) {
      this.tracker.resume(id, this.st.linkedEvents.iterate(id, ...LINKED_KINDS) as Iterable<LinkedEvent>);
    }
    const { failed, late } = linkOutcomes(this.tracker, events);
    const counts = new Map<number, Counts>();
    /** Sessions whose client named itself in this batch: the last name each. */
    const applications = new Map<number, string>();
    // Ids are given here rather than taken from each insert, so that rows can be inserted several
    // at a time (row-inserter.ts); the transaction is IMMEDIATE, so no other writer takes one.
    let id = (this.st.lastEventId.get() as { id: number | null }).id ?? 0;
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      const state = chain.state(event.sessionId);
      const stored = chain.append(state, event);
      id++;
      this.st.insertEvent.add(
        id,
        state.sid,
        event.seq,
        event.atUs,
        event.offsetUs,
        event.kind,
        failed[i],
        stored.format,
        stored.body,
        stored.hash,
      );
      if (event.sql !== null) this.index(id, state, event.sql, event.params);
      let c = counts.get(state.sid);
      if (!c) {
        c = { state, statements: 0, errors: 0, events: 0 };
        counts.set(state.sid, c);
      }
      c.events++;
      if (event.kind === 'query') c.statements++;
      else if (event.kind === 'error') c.errors++;
      // An encrypted session keeps it out of the clear row: SQL can name a client after any value.
      else if (event.application !== null && !state.dataKey) applications.set(state.sid, event.application);
    }
    this.st.insertEvent.flush();
    for (const mark of late) {
      this.st.markOutcome.run(mark.failed ? 1 : 0, chain.state(mark.sessionId).sid, mark.querySeq);
    }
    for (const [sid, c] of counts) {
      this.st.bump.run(c.statements, c.errors, c.events, c.state.lastSeq, c.state.head, sid);
    }
    for (const [sid, application] of applications) this.st.reportApplication.run(application, sid);
    for (const end of batch.ends) {
      const state = chain.state(end.sessionId);
      const seal = chain.sealSession(state, end.endedAtUs, end.reason);
      this.st.end.run(end.endedAtUs, end.reason, seal?.seal ?? null, seal?.sealNo ?? null, state.sid);
    }
    chain.finishBatch();
  }

  private index(rowid: number, state: SessionState, sql: string, params: string | null): void {
    const blind = state.dataKey ? this.crypto.index : null;
    if (blind)
      this.st.insertFts.add(rowid, this.blindSql(blind, sql), params === null ? null : blind.text(params));
    else this.st.insertFts.add(rowid, sql, params);
  }

  /**
   * Blind tokens of a statement text, cached: a prepared statement executed 1000 times is one
   * text, and its tokens are an HMAC per word.
   */
  private blindSql(blind: BlindIndex, sql: string): string {
    let tokens = this.blindCache.get(sql);
    if (tokens === undefined) {
      tokens = blind.text(sql);
      if (this.blindCache.size >= BLIND_CACHE) this.blindCache.clear();
      this.blindCache.set(sql, tokens);
    }
    return tokens;
  }

  /** Inserts a session row; null when the session already existed (it is left as it is). */
  private insertSession(m: SessionMeta): number | null {
    const r = this.st.insertSession.run(
      m.id,
      m.protocol,
      m.user,
      JSON.stringify(m.roles),
      m.clientAddr,
      m.clientPort,
      m.application,
      m.clientTls,
      m.target,
      m.upstreamDatabase,
      m.upstreamUser,
      m.startedAtUs,
    );
    return r.changes === 0 ? null : Number(r.lastInsertRowid);
  }

  private decode(row: StoredBodyRow): SessionEvent {
    if (row.format === FORMAT_ENCRYPTED || Buffer.isBuffer(row.body)) {
      const envelope = Buffer.isBuffer(row.body) ? row.body : Buffer.from(row.body);
      return decodeEvent(this.crypto.decryptBody(row.sid, row.sessionId, row.seq, envelope));
    }
    return decodeEvent(row.body);
  }

  async listSessions(filter: SessionFilter = {}): Promise<SessionSummary[]> {
    this.open();
    this.settleJournal();
    return this.reads.listSessions(filter);
  }

  async getSession(id: SessionId): Promise<SessionSummary | null> {
    this.open();
    this.settleJournal();
    return this.reads.getSession(id);
  }

  async getEvents(id: SessionId, query: EventQuery = {}): Promise<SessionEvent[]> {
    this.open();
    this.settleJournal();
    return this.reads.getEvents(id, query);
  }

  async search(text: string, filter: SearchFilter = {}): Promise<SearchHit[]> {
    this.open();
    this.settleJournal();
    return this.reads.search(text, filter);
  }

  async closeOpenSessions(reason: EndReason, atUs: number): Promise<number> {
    this.open();
    // Their end events follow whatever was journaled: if that cannot be applied, neither can they.
    this.applyJournal();
    const open = this.reads.openSessions();
    if (open.length === 0) return 0;
    const batch = crashEndBatch(open, reason, atUs);
    await this.writeBatch(batch, { durable: true });
    return open.length;
  }

  async checkpoint(atUs: number): Promise<CheckpointInfo | null> {
    this.open();
    if (!this.signer || this.readonly) return null;
    // A checkpoint covers what was journaled before it.
    this.applyJournal();
    if (!this.dirty) return null;
    let last: CheckpointInfo;
    for (;;) {
      const { info, more } = writeCheckpoint(this.db, this.signer, atUs);
      last = info;
      if (!more) break;
    }
    this.dirty = false;
    await this.sync();
    return last;
  }

  /**
   * A store being written reads its integrity records through a connection of their own, so that
   * verify's read transaction never holds the writer's connection.
   */
  integrity(): IntegritySource {
    this.open();
    this.settleJournal();
    if (this.readonly || this.path === ':memory:') return new SqliteIntegritySource(this.db);
    return new SqliteIntegritySource(new Database(this.path, { readonly: true, fileMustExist: true }), true);
  }

  /** See SessionStore.rewrapKeys. */
  async rewrapKeys(keyring: Keyring): Promise<number> {
    this.open();
    if (this.readonly) throw storeReadOnly();
    this.applyJournal();
    const n = this.db.transaction(() => this.crypto.rewrap(keyring)).immediate();
    await this.sync();
    return n;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    // Left journaled if this fails: the next open applies it.
    this.settleJournal();
    if (this.applyTimer) clearTimeout(this.applyTimer);
    this.closed = true;
    this.journal?.close();
    this.wal?.close();
    this.db.close();
  }

  private open(): void {
    if (this.closed) throw storeClosed();
  }
}

function prepareWrites(db: Database.Database): Statements {
  return {
    insertSession: db.prepare(
      `INSERT INTO sessions (id, protocol, user_name, roles, client_addr, client_port, application, client_tls,
         target, upstream_database, upstream_user, started_at_us)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    ),
    insertEvent: new RowInserter(
      db,
      'INSERT OR FAIL INTO events (id, session_sid, seq, at_us, offset_us, kind, failed, format, body, hash)',
      10,
      32,
    ),
    // Flushed once per transaction (row-inserter.ts says why): the recorder's batches hold at most
    // 1,000 events; applying many journaled batches at once flushes every 1,024 statements.
    insertFts: new RowInserter(db, 'INSERT INTO statement_fts (rowid, sql, params)', 3, 1024),
    lastEventId: db.prepare('SELECT max(id) AS id FROM events'),
    markOutcome: db.prepare('UPDATE events SET failed = ? WHERE session_sid = ? AND seq = ?'),
    // No session row: nothing to resume (the batch then fails where the chain finds it missing).
    linkedEvents: db.prepare(
      `SELECT e.seq, e.kind FROM events e JOIN sessions s ON s.sid = e.session_sid
       WHERE s.id = ? AND e.kind IN (${LINKED_KINDS.map(() => '?').join(', ')}) ORDER BY e.seq`,
    ),
    bump: db.prepare(
      `UPDATE sessions SET statements = statements + ?, errors = errors + ?, events = events + ?,
         last_seq = max(last_seq, ?), head_hash = ? WHERE sid = ?`,
    ),
    reportApplication: db.prepare('UPDATE sessions SET reported_application = ? WHERE sid = ?'),
    end: db.prepare(
      `UPDATE sessions SET ended_at_us = ?, end_reason = ?, seal = ?, seal_no = ?
       WHERE sid = ? AND ended_at_us IS NULL`,
    ),
  };
}
