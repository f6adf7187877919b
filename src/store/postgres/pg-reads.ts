/** Read queries of the PostgreSQL store: listing, one session, its events, full-text search. */
import type postgres from 'postgres';
import type { SessionEvent, SessionId } from '../../model/session.js';
import type { OpenSessionRow } from '../crash-close.js';
import { toHit } from '../search-hit.js';
import { parseSearchText, type SearchTerm } from '../search-text.js';
import { clampLimit, SESSION_COLUMNS, type SessionRow, toSummary } from '../session-rows.js';
import type { EventQuery, SearchFilter, SearchHit, SessionFilter, SessionSummary } from '../session-store.js';
import type { Sql } from './pg-connect.js';

/** A stored event body with what decrypting it needs. */
export interface PgBodyRow {
  readonly sid: number;
  readonly sessionId: SessionId;
  readonly seq: number;
  readonly format: number;
  readonly body: Buffer;
}

/** Decodes stored bodies (decrypting those that are encrypted); async to load their data keys. */
export type PgBodyDecoder = (rows: readonly PgBodyRow[]) => Promise<SessionEvent[]>;

/** The `to_tsquery('simple', …)` input for parsed terms (plain, or with blind-index alternatives). */
export type TsQueryBuilder = (terms: readonly SearchTerm[]) => string;

interface HitRow {
  seq: number;
  at_us: number;
  failed: boolean | null;
  body: Buffer;
  format: number;
  sid: number;
  id: string;
  user_name: string;
  target: string;
}

export class PgReads {
  constructor(
    private readonly sql: Sql,
    private readonly decode: PgBodyDecoder,
    private readonly query: TsQueryBuilder,
  ) {}

  async listSessions(f: SessionFilter): Promise<SessionSummary[]> {
    const sql = this.sql;
    const where: Fragment[] = [sql`true`];
    if (f.user !== undefined) where.push(sql`user_name = ${f.user}`);
    if (f.target !== undefined) where.push(sql`target = ${f.target}`);
    if (f.protocol !== undefined) where.push(sql`protocol = ${f.protocol}`);
    if (f.sinceUs !== undefined)
      where.push(sql`(started_at_us >= ${f.sinceUs} OR ended_at_us IS NULL OR ended_at_us >= ${f.sinceUs})`);
    if (f.untilUs !== undefined) where.push(sql`started_at_us < ${f.untilUs}`);
    if (f.active === true) where.push(sql`ended_at_us IS NULL`);
    if (f.active === false) where.push(sql`ended_at_us IS NOT NULL`);
    if (f.hasErrors) where.push(sql`errors > 0`);
    if (f.before) {
      const b = f.before;
      where.push(
        sql`(started_at_us < ${b.startedAtUs} OR (started_at_us = ${b.startedAtUs} AND id < ${b.id}))`,
      );
    }
    const rows = await sql<SessionRow[]>`
      SELECT ${sql.unsafe(SESSION_COLUMNS)} FROM sessions WHERE ${and(sql, where)}
      ORDER BY started_at_us DESC, id DESC LIMIT ${clampLimit(f.limit, 100, 10_000)}`;
    return rows.map(toSummary);
  }

  async getSession(id: SessionId): Promise<SessionSummary | null> {
    const [row] = await this.sql<
      SessionRow[]
    >`SELECT ${this.sql.unsafe(SESSION_COLUMNS)} FROM sessions WHERE id = ${id}`;
    return row ? toSummary(row) : null;
  }

  async getEvents(id: SessionId, q: EventQuery): Promise<SessionEvent[]> {
    const rows = await this.sql<{ sid: number; seq: number; format: number; body: Buffer }[]>`
      SELECT session_sid AS sid, seq, format, body FROM events
      WHERE session_sid = (SELECT sid FROM sessions WHERE id = ${id}) AND seq > ${q.afterSeq ?? 0}
      ORDER BY seq LIMIT ${clampLimit(q.limit, 1000, 100_000)}`;
    return this.decode(rows.map((r) => ({ ...r, sessionId: id })));
  }

  async search(text: string, f: SearchFilter): Promise<SearchHit[]> {
    const sql = this.sql;
    const terms = parseSearchText(text);
    const query = this.query(terms);
    const where: Fragment[] = [sql`e.search @@ to_tsquery('simple', ${query})`];
    if (f.user !== undefined) where.push(sql`s.user_name = ${f.user}`);
    if (f.target !== undefined) where.push(sql`s.target = ${f.target}`);
    if (f.protocol !== undefined) where.push(sql`s.protocol = ${f.protocol}`);
    if (f.sessionId !== undefined) where.push(sql`s.id = ${f.sessionId}`);
    if (f.sinceUs !== undefined) where.push(sql`e.at_us >= ${f.sinceUs}`);
    if (f.untilUs !== undefined) where.push(sql`e.at_us < ${f.untilUs}`);
    if (f.errors) where.push(sql`e.failed`);
    const rows = await sql<HitRow[]>`
      SELECT e.seq, e.at_us, e.failed, e.body, e.format, e.session_sid AS sid, s.id, s.user_name, s.target
      FROM events e JOIN sessions s ON s.sid = e.session_sid
      WHERE ${and(sql, where)}
      ORDER BY ts_rank(e.search, to_tsquery('simple', ${query})) DESC, e.at_us DESC
      LIMIT ${clampLimit(f.limit, 50, 1000)}`;
    const events = await this.decode(
      rows.map((r) => ({ sid: r.sid, sessionId: r.id, seq: r.seq, format: r.format, body: r.body })),
    );
    return rows.map((r, i) =>
      toHit(
        { sessionId: r.id, seq: r.seq, atUs: r.at_us, user: r.user_name, target: r.target, failed: r.failed },
        events[i]!,
        terms,
      ),
    );
  }

  async openSessions(): Promise<OpenSessionRow[]> {
    const rows = await this.sql<
      {
        id: string;
        started_at_us: number;
        seq: number | null;
        at_us: number | null;
        offset_us: number | null;
      }[]
    >`
      SELECT s.id, s.started_at_us, e.seq, e.at_us, e.offset_us FROM sessions s
      LEFT JOIN LATERAL (SELECT seq, at_us, offset_us FROM events WHERE session_sid = s.sid ORDER BY seq DESC LIMIT 1) e
        ON true
      WHERE s.ended_at_us IS NULL`;
    return rows.map((r) => ({
      id: r.id,
      lastSeq: r.seq ?? 0,
      lastAtUs: r.at_us ?? r.started_at_us,
      lastOffsetUs: r.offset_us ?? 0,
    }));
  }
}

/** Conditions joined with AND (each a fragment with its own parameters). */
type Fragment = postgres.PendingQuery<postgres.Row[]>;

function and(sql: Sql, parts: Fragment[]): Fragment {
  return parts.slice(1).reduce((acc, p) => sql`${acc} AND ${p}`, parts[0]!);
}
