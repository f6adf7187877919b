/**
 * SessionStore on an embedded SQLite file (better-sqlite3, synchronous). A batch is one
 * transaction: that is the group commit. Reads are in sqlite-reads.ts.
 */
import type Database from 'better-sqlite3';
import type { EndReason, SessionEvent, SessionId, SessionMeta } from '../../model/session.js';
import { StoreError } from '../errors.js';
import { encodeEvent } from '../event-codec.js';
import { OutcomeTracker } from '../outcome-tracker.js';
import type {
  EventQuery,
  SearchFilter,
  SearchHit,
  SessionFilter,
  SessionStore,
  SessionSummary,
  WriteBatch,
  WriteOptions,
} from '../session-store.js';
import { openDatabase, type SqliteOpenOptions, type Synchronous } from './sqlite-open.js';
import { SqliteReads } from './sqlite-reads.js';

interface Statements {
  insertSession: Database.Statement;
  sidOf: Database.Statement;
  insertEvent: Database.Statement;
  insertFts: Database.Statement;
  markOutcome: Database.Statement;
  bump: Database.Statement;
  end: Database.Statement;
}

interface Counts {
  statements: number;
  errors: number;
  events: number;
  lastSeq: number;
}

export type { SqliteOpenOptions, Synchronous };

export class SqliteSessionStore implements SessionStore {
  private readonly db: Database.Database;
  private readonly st: Statements;
  private readonly reads: SqliteReads;
  private readonly tracker = new OutcomeTracker();
  private readonly sids = new Map<SessionId, number>();
  private readonly full: boolean;
  private readonly readonly: boolean;
  private closed = false;

  constructor(
    readonly path: string,
    options: SqliteOpenOptions = {},
  ) {
    this.db = openDatabase(path, options);
    this.full = options.synchronous === 'full';
    this.readonly = options.readonly ?? false;
    this.reads = new SqliteReads(this.db);
    this.st = options.readonly ? ({} as Statements) : prepareWrites(this.db);
  }

  async writeBatch(batch: WriteBatch, options: WriteOptions = {}): Promise<void> {
    this.open();
    if (this.readonly)
      throw new StoreError('DBTAPE_STORE_CLOSED', 'dbtape: this session store was opened read-only');
    const sync = options.durable === true && !this.full;
    if (sync) this.db.pragma('synchronous = FULL');
    try {
      this.db.transaction(() => this.apply(batch)).immediate();
    } catch (err) {
      for (const { sessionId } of batch.events) this.tracker.forget(sessionId);
      for (const s of batch.sessions) this.sids.delete(s.id);
      throw err;
    } finally {
      if (sync) this.db.pragma('synchronous = NORMAL');
    }
    for (const e of batch.ends) this.sids.delete(e.sessionId);
  }

  private apply(batch: WriteBatch): void {
    for (const meta of batch.sessions) this.insertSession(meta);
    const counts = new Map<number, Counts>();
    for (const { sessionId, event } of batch.events) {
      const sid = this.sid(sessionId);
      const id = Number(
        this.st.insertEvent.run(sid, event.seq, event.atUs, event.offsetUs, event.kind, encodeEvent(event))
          .lastInsertRowid,
      );
      if (event.kind === 'query' || event.kind === 'denied') {
        const params = event.kind === 'query' ? paramsText(event.params) : null;
        this.st.insertFts.run(id, event.sql, params);
      }
      const mark = this.tracker.observe(sessionId, event);
      if (mark) this.st.markOutcome.run(mark.failed ? 1 : 0, sid, mark.querySeq);
      let c = counts.get(sid);
      if (!c) {
        c = { statements: 0, errors: 0, events: 0, lastSeq: 0 };
        counts.set(sid, c);
      }
      c.events++;
      c.lastSeq = Math.max(c.lastSeq, event.seq);
      if (event.kind === 'query') c.statements++;
      else if (event.kind === 'error') c.errors++;
    }
    for (const [sid, c] of counts) this.st.bump.run(c.statements, c.errors, c.events, c.lastSeq, sid);
    for (const end of batch.ends) this.st.end.run(end.endedAtUs, end.reason, this.sid(end.sessionId));
  }

  private insertSession(m: SessionMeta): void {
    this.st.insertSession.run(
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
  }

  private sid(id: SessionId): number {
    let sid = this.sids.get(id);
    if (sid === undefined) {
      const row = this.st.sidOf.get(id) as { sid: number } | undefined;
      if (!row) {
        throw new StoreError(
          'DBTAPE_STORE_BAD_EVENT',
          `dbtape: event for unknown session ${id} (no start recorded)`,
        );
      }
      sid = row.sid;
      this.sids.set(id, sid);
    }
    return sid;
  }

  async listSessions(filter: SessionFilter = {}): Promise<SessionSummary[]> {
    this.open();
    return this.reads.listSessions(filter);
  }

  async getSession(id: SessionId): Promise<SessionSummary | null> {
    this.open();
    return this.reads.getSession(id);
  }

  async getEvents(id: SessionId, query: EventQuery = {}): Promise<SessionEvent[]> {
    this.open();
    return this.reads.getEvents(id, query);
  }

  async search(text: string, filter: SearchFilter = {}): Promise<SearchHit[]> {
    this.open();
    return this.reads.search(text, filter);
  }

  async closeOpenSessions(reason: EndReason, atUs: number): Promise<number> {
    this.open();
    const open = this.reads.openSessions();
    if (open.length === 0) return 0;
    const detected = new Date(Math.floor(atUs / 1000)).toISOString();
    const batch: WriteBatch = {
      sessions: [],
      events: open.map((s) => ({
        sessionId: s.id,
        event: {
          seq: s.lastSeq + 1,
          atUs: s.lastAtUs,
          offsetUs: s.lastOffsetUs,
          kind: 'end',
          reason,
          detail: `dbtape was not running to record the end; found open at ${detected}`,
        },
      })),
      ends: open.map((s) => ({ sessionId: s.id, endedAtUs: s.lastAtUs, reason })),
    };
    await this.writeBatch(batch, { durable: true });
    return open.length;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.db.close();
  }

  private open(): void {
    if (this.closed) throw new StoreError('DBTAPE_STORE_CLOSED', 'dbtape: the session store is closed');
  }
}

function paramsText(params: readonly (string | null)[] | undefined): string | null {
  if (!params || params.length === 0) return null;
  return params.filter((p) => p !== null).join(' ');
}

function prepareWrites(db: Database.Database): Statements {
  return {
    insertSession: db.prepare(
      `INSERT INTO sessions (id, protocol, user_name, roles, client_addr, client_port, application, client_tls,
         target, upstream_database, upstream_user, started_at_us)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO NOTHING`,
    ),
    sidOf: db.prepare('SELECT sid FROM sessions WHERE id = ?'),
    insertEvent: db.prepare(
      'INSERT INTO events (session_sid, seq, at_us, offset_us, kind, body) VALUES (?, ?, ?, ?, ?, ?)',
    ),
    insertFts: db.prepare('INSERT INTO statement_fts (rowid, sql, params) VALUES (?, ?, ?)'),
    markOutcome: db.prepare('UPDATE events SET failed = ? WHERE session_sid = ? AND seq = ?'),
    bump: db.prepare(
      `UPDATE sessions SET statements = statements + ?, errors = errors + ?, events = events + ?,
         last_seq = max(last_seq, ?) WHERE sid = ?`,
    ),
    end: db.prepare(
      'UPDATE sessions SET ended_at_us = ?, end_reason = ? WHERE sid = ? AND ended_at_us IS NULL',
    ),
  };
}
