/** Read queries of the SQLite store: listing, one session, its events, full-text search. */
import type Database from 'better-sqlite3';
import type { SessionEvent, SessionId } from '../../model/session.js';
import type { OpenSessionRow } from '../crash-close.js';
import { toHit } from '../search-hit.js';
import { parseSearchText, type SearchTerm } from '../search-text.js';
import { clampLimit as clamp, SESSION_COLUMNS, type SessionRow, toSummary } from '../session-rows.js';
import type { EventQuery, SearchFilter, SearchHit, SessionFilter, SessionSummary } from '../session-store.js';

/** Decodes a stored body (decrypting it when it is encrypted). */
export type BodyDecoder = (row: StoredBodyRow) => SessionEvent;

export interface StoredBodyRow {
  readonly sid: number;
  readonly sessionId: SessionId;
  readonly seq: number;
  readonly format: number;
  readonly body: string | Buffer;
}

/** Builds the MATCH expression for parsed terms (plain, or with blind-index alternatives). */
export type MatchBuilder = (terms: readonly SearchTerm[]) => string;

interface HitRow {
  seq: number;
  at_us: number;
  failed: number | null;
  body: string | Buffer;
  format: number;
  sid: number;
  id: string;
  user_name: string;
  target: string;
}

export type { OpenSessionRow };

export class SqliteReads {
  private readonly byId: Database.Statement;
  private readonly events: Database.Statement;

  constructor(
    private readonly db: Database.Database,
    private readonly decode: BodyDecoder,
    private readonly match: MatchBuilder,
  ) {
    this.byId = db.prepare(`SELECT ${SESSION_COLUMNS} FROM sessions WHERE id = ?`);
    this.events = db.prepare(
      `SELECT session_sid AS sid, seq, format, body FROM events
       WHERE session_sid = (SELECT sid FROM sessions WHERE id = ?) AND seq > ? ORDER BY seq LIMIT ?`,
    );
  }

  listSessions(f: SessionFilter): SessionSummary[] {
    const { where, args, add } = conditions();
    if (f.user !== undefined) add('user_name = ?', f.user);
    if (f.target !== undefined) add('target = ?', f.target);
    if (f.protocol !== undefined) add('protocol = ?', f.protocol);
    if (f.sinceUs !== undefined) {
      add('(started_at_us >= ? OR ended_at_us IS NULL OR ended_at_us >= ?)', f.sinceUs, f.sinceUs);
    }
    if (f.untilUs !== undefined) add('started_at_us < ?', f.untilUs);
    if (f.active === true) add('ended_at_us IS NULL');
    if (f.active === false) add('ended_at_us IS NOT NULL');
    if (f.hasErrors) add('errors > 0');
    if (f.before) {
      add(
        '(started_at_us < ? OR (started_at_us = ? AND id < ?))',
        f.before.startedAtUs,
        f.before.startedAtUs,
        f.before.id,
      );
    }
    const sql = `SELECT ${SESSION_COLUMNS} FROM sessions ${where.length ? `WHERE ${where.join(' AND ')}` : ''}
      ORDER BY started_at_us DESC, id DESC LIMIT ?`;
    args.push(clamp(f.limit, 100, 10_000));
    return (this.db.prepare(sql).all(...args) as SessionRow[]).map(toSummary);
  }

  getSession(id: SessionId): SessionSummary | null {
    const row = this.byId.get(id) as SessionRow | undefined;
    return row ? toSummary(row) : null;
  }

  getEvents(id: SessionId, q: EventQuery): SessionEvent[] {
    const rows = this.events.all(id, q.afterSeq ?? 0, clamp(q.limit, 1000, 100_000)) as {
      sid: number;
      seq: number;
      format: number;
      body: string | Buffer;
    }[];
    return rows.map((r) => this.decode({ ...r, sessionId: id }));
  }

  search(text: string, f: SearchFilter): SearchHit[] {
    const terms = parseSearchText(text);
    const { where, args, add } = conditions();
    add('statement_fts MATCH ?', this.match(terms));
    if (f.user !== undefined) add('s.user_name = ?', f.user);
    if (f.target !== undefined) add('s.target = ?', f.target);
    if (f.protocol !== undefined) add('s.protocol = ?', f.protocol);
    if (f.sessionId !== undefined) add('s.id = ?', f.sessionId);
    if (f.sinceUs !== undefined) add('e.at_us >= ?', f.sinceUs);
    if (f.untilUs !== undefined) add('e.at_us < ?', f.untilUs);
    if (f.errors) add('e.failed = 1');
    args.push(clamp(f.limit, 50, 1000));
    const sql = `SELECT e.seq, e.at_us, e.failed, e.body, e.format, e.session_sid AS sid, s.id, s.user_name, s.target
      FROM statement_fts JOIN events e ON e.id = statement_fts.rowid JOIN sessions s ON s.sid = e.session_sid
      WHERE ${where.join(' AND ')} ORDER BY bm25(statement_fts), e.at_us DESC LIMIT ?`;
    return (this.db.prepare(sql).all(...args) as HitRow[]).map((r) =>
      toHit(
        {
          sessionId: r.id,
          seq: r.seq,
          atUs: r.at_us,
          user: r.user_name,
          target: r.target,
          failed: r.failed === null ? null : r.failed === 1,
        },
        this.decode({ sid: r.sid, sessionId: r.id, seq: r.seq, format: r.format, body: r.body }),
        terms,
      ),
    );
  }

  openSessions(): OpenSessionRow[] {
    const rows = this.db
      .prepare(
        `SELECT s.id, s.started_at_us, e.seq, e.at_us, e.offset_us FROM sessions s
         LEFT JOIN events e ON e.session_sid = s.sid AND e.seq = (SELECT max(seq) FROM events WHERE session_sid = s.sid)
         WHERE s.ended_at_us IS NULL`,
      )
      .all() as {
      id: string;
      started_at_us: number;
      seq: number | null;
      at_us: number | null;
      offset_us: number | null;
    }[];
    return rows.map((r) => ({
      id: r.id,
      lastSeq: r.seq ?? 0,
      lastAtUs: r.at_us ?? r.started_at_us,
      lastOffsetUs: r.offset_us ?? 0,
    }));
  }
}

function conditions() {
  const where: string[] = [];
  const args: (string | number)[] = [];
  const add = (condition: string, ...values: (string | number)[]): void => {
    where.push(condition);
    args.push(...values);
  };
  return { where, args, add };
}
