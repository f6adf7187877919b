/**
 * One batch into the PostgreSQL store: the same rules as the SQLite store's write loop
 * (chain-heads.ts for the chain and seals, session-keys.ts for encryption, outcome-tracker.ts for
 * statement outcomes), shaped by two facts of PostgreSQL through postgres.js:
 *
 * - A statement's cost is a round trip, so the whole batch is one simple-protocol query holding
 *   all its statements, which the server runs as one implicit transaction: atomic, and rolled
 *   back whole when any statement fails. Values are inlined as literals (pg-literals.ts), rows as
 *   one joined text per column split by the server (string_to_array): postgres.js array
 *   parameters quote and escape every element, which cost more client CPU than the rest.
 * - postgres.js 3.4's `begin()` sends ROLLBACK on a connection it has just seen die, which throws
 *   an uncaught TypeError (its socket is null) and would end the process; a single query outside
 *   `begin()` only fails, and the pool connects again.
 *
 * prepare() reads what the batch needs (session rows the process has not cached) with ordinary
 * queries first, then builds the statements; sessions are referred to by id, since the sids of new
 * ones are given by the insert that the same query makes.
 */
import type { SessionId } from '../../model/session.js';
import { ChainHeads, type ChainRow, type SealHeadRow, type SessionState } from '../chain-heads.js';
import { type EncodedBatch, type EncodedEvent, encodedEvents } from '../encoded-batch.js';
import {
  LINKED_KINDS,
  type LinkedEvent,
  linkOutcomes,
  type OutcomeTracker,
  sessionsToResume,
} from '../outcome-tracker.js';
import { FORMAT_CLEAR, newDataKey } from '../session-keys.js';
import { SESSION_META_COLUMNS } from '../session-rows.js';
import type { Sql } from './pg-connect.js';
import type { PgKeys } from './pg-keys.js';
import { boolLit, byteaLit, intListLit, intLit, textArrayParam, textLit, valuesList } from './pg-literals.js';
import { capIndexText, indexText, PART_SEPARATOR } from './pg-search.js';

/** Distinct statement texts whose index text is kept, per kind (cleared when full). */
const TEXT_CACHE = 512;

interface LoadRow extends ChainRow {
  key_version: number | null;
  wrapped: Buffer | null;
}

interface Counts {
  state: SessionState;
  statements: number;
  errors: number;
  events: number;
  /** The application of the batch's last `client` event (clear sessions only). */
  application: string | null;
}

export class PgBatchWriter {
  readonly heads = new ChainHeads();
  /** Cached heads may be wrong (a failed write, a lost connection): reload before writing. */
  private stale = true;
  private readonly blindCache = new Map<string, string>();
  private readonly wordsCache = new Map<string, string>();

  constructor(
    private readonly keys: PgKeys,
    private readonly tracker: OutcomeTracker,
  ) {}

  /** Something went wrong between this process and the store: forget what it cached. */
  invalidate(): void {
    this.stale = true;
  }

  /**
   * The statements that write the batch (empty when there is nothing to write). Advances the
   * chain heads in memory: the caller runs the statements and then calls committed() or failed().
   */
  async prepare(sql: Sql, batch: EncodedBatch): Promise<string[]> {
    if (this.stale) {
      const [head] = await sql<
        SealHeadRow[]
      >`SELECT chain_from_sid, seal_no, seal FROM integrity_state WHERE id = 1`;
      this.heads.reset(head);
      this.keys.forgetAll();
      this.stale = false;
    }
    const statements: string[] = [];
    const events = [...encodedEvents(batch)];
    await this.loadSessions(sql, batch, statements);
    await this.resumeOutcomes(sql, events);
    const { failed, late } = linkOutcomes(this.tracker, events);
    const ev = {
      idx: [] as number[],
      seq: [] as number[],
      at: [] as number[],
      off: [] as number[],
      kind: [] as string[],
      /** 't', 'f', or '' (not known). */
      failed: [] as string[],
      format: [] as number[],
      /** The v1 JSON, or the encrypted envelope in base64. */
      body: [] as string[],
      /** Hex, or '' (no hash). */
      hash: [] as string[],
      /** Words for the index, or '' (not a statement). */
      search: [] as string[],
    };
    const counts = new Map<SessionId, Counts>();
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      const state = this.heads.cached(event.sessionId)!;
      const stored = this.heads.append(state, event);
      ev.idx.push(batch.numbers[i * 4]!);
      ev.seq.push(event.seq);
      ev.at.push(event.atUs);
      ev.off.push(event.offsetUs);
      ev.kind.push(event.kind);
      ev.failed.push(failed[i] === null ? '' : failed[i] === 1 ? 't' : 'f');
      ev.format.push(stored.format);
      ev.body.push(typeof stored.body === 'string' ? stored.body : stored.body.toString('base64'));
      ev.hash.push(stored.hash ? stored.hash.toString('hex') : '');
      ev.search.push(event.sql === null ? '' : this.indexText(state, event));
      let c = counts.get(state.id);
      if (!c) {
        c = { state, statements: 0, errors: 0, events: 0, application: null };
        counts.set(state.id, c);
      }
      c.events++;
      if (event.kind === 'query') c.statements++;
      else if (event.kind === 'error') c.errors++;
      // An encrypted session keeps it out of the clear row: SQL can name a client after any value.
      else if (event.application !== null && !state.dataKey) c.application = event.application;
    }
    if (ev.seq.length > 0) {
      const numbers = intListLit;
      // No separator can occur in its column: JSON text holds no raw newline, base64 and hex none,
      // index text only words and spaces, kinds no space.
      statements.push(`
        INSERT INTO events (session_sid, seq, at_us, offset_us, kind, failed, format, body, hash, search)
        SELECT s.sid, u.seq, u.at_us, u.offset_us, u.kind, u.failed, u.format,
               CASE WHEN u.format = ${FORMAT_CLEAR} THEN convert_to(u.body, 'UTF8') ELSE decode(u.body, 'base64') END,
               decode(u.hash, 'hex'), to_tsvector('simple', u.search)
        FROM unnest(
          string_to_array(${numbers(ev.idx)}, ',')::int[],
          string_to_array(${numbers(ev.seq)}, ',')::bigint[],
          string_to_array(${numbers(ev.at)}, ',')::bigint[],
          string_to_array(${numbers(ev.off)}, ',')::bigint[],
          string_to_array(${textLit(ev.kind.join(' '))}, ' '),
          string_to_array(${textLit(ev.failed.join(','))}, ',', '')::boolean[],
          string_to_array(${numbers(ev.format)}, ',')::smallint[],
          string_to_array(${textLit(ev.body.join('\n'))}, chr(10)),
          string_to_array(${textLit(ev.hash.join(','))}, ',', ''),
          string_to_array(${textLit(ev.search.join('\n'))}, chr(10), '')
        ) AS u(idx, seq, at_us, offset_us, kind, failed, format, body, hash, search)
        JOIN unnest(ARRAY[${batch.sessionIds.map(textLit).join(', ')}]::text[]) WITH ORDINALITY AS i(id, n)
          ON i.n = u.idx + 1
        JOIN sessions s ON s.id = i.id`);
    }
    if (late.length > 0) {
      const rows = late.map((m) => [textLit(m.sessionId), intLit(m.querySeq), boolLit(m.failed)]);
      statements.push(`
        UPDATE events e SET failed = u.failed
        FROM (VALUES ${valuesList(rows)}) AS u(id, seq, failed), sessions s
        WHERE s.id = u.id AND e.session_sid = s.sid AND e.seq = u.seq`);
    }
    if (counts.size > 0) {
      const rows = [...counts.values()].map((c) => [
        textLit(c.state.id),
        intLit(c.statements),
        intLit(c.errors),
        intLit(c.events),
        intLit(c.state.lastSeq),
        byteaLit(c.state.head),
        textLit(c.application),
      ]);
      statements.push(`
        UPDATE sessions s SET statements = s.statements + u.statements, errors = s.errors + u.errors,
          events = s.events + u.events, last_seq = greatest(s.last_seq, u.last_seq), head_hash = u.head,
          reported_application = coalesce(u.application, s.reported_application)
        FROM (VALUES ${valuesList(rows)}) AS u(id, statements, errors, events, last_seq, head, application)
        WHERE s.id = u.id`);
    }
    if (batch.ends.length > 0) {
      const rows = batch.ends.map((end) => {
        const state = this.heads.cached(end.sessionId)!;
        const seal = this.heads.sealSession(state, end.endedAtUs, end.reason);
        return [
          textLit(end.sessionId),
          intLit(end.endedAtUs),
          textLit(end.reason),
          byteaLit(seal?.seal ?? null),
          intLit(seal?.sealNo ?? null),
        ];
      });
      statements.push(`
        UPDATE sessions s SET ended_at_us = u.ended_at_us, end_reason = u.end_reason, seal = u.seal, seal_no = u.seal_no
        FROM (VALUES ${valuesList(rows)}) AS u(id, ended_at_us, end_reason, seal, seal_no)
        WHERE s.id = u.id AND s.ended_at_us IS NULL`);
    }
    const sealHead = this.heads.finishBatch();
    if (sealHead) {
      statements.push(
        `UPDATE integrity_state SET seal_no = ${intLit(sealHead.sealNo)}, seal = ${byteaLit(sealHead.seal)} WHERE id = 1`,
      );
    }
    return statements;
  }

  /** After the batch's statements committed. */
  committed(batch: EncodedBatch): void {
    for (const end of batch.ends) {
      const s = this.heads.ended(end.sessionId);
      if (s) this.keys.forget(s.sid);
    }
  }

  /** After the batch failed: nothing of it was stored. */
  failed(batch: EncodedBatch): void {
    for (const id of batch.sessionIds) this.tracker.forget(id);
    this.stale = true;
  }

  /**
   * Chain heads (and data keys) of the batch's sessions this process has not cached, read from
   * the store; the sessions it starts that the store does not hold yet are inserted (statements
   * appended) with a new chain and, when encrypted, a new data key.
   */
  private async loadSessions(sql: Sql, batch: EncodedBatch, statements: string[]): Promise<void> {
    const missing = new Set<string>();
    for (const m of batch.sessions) if (!this.heads.cached(m.id)) missing.add(m.id);
    for (const id of batch.sessionIds) if (!this.heads.cached(id)) missing.add(id);
    for (const e of batch.ends) if (!this.heads.cached(e.sessionId)) missing.add(e.sessionId);
    if (missing.size === 0) return;
    const rows = await sql<LoadRow[]>`
      SELECT s.sid, s.last_seq, s.head_hash, s.ended_at_us, ${sql.unsafe(SESSION_META_COLUMNS.replace(/(\w+)/g, 's.$1'))},
             k.key_version, k.wrapped
      FROM sessions s LEFT JOIN session_keys k ON k.session_sid = s.sid
      WHERE s.id = ANY(${textArrayParam([...missing])}::text[])`;
    const byId = new Map(rows.map((r) => [r.id, r]));
    const inserts: string[][] = [];
    const keyRows: string[][] = [];
    const ring = this.keys.writesEncrypted ? this.keys.ring : null;
    for (const m of batch.sessions) {
      // A session that already exists is left as it is (its chain goes on below).
      if (!missing.has(m.id) || byId.has(m.id)) continue;
      missing.delete(m.id);
      let dataKey = null;
      if (ring) {
        const { dk, stored } = newDataKey(ring, m.id);
        dataKey = dk;
        keyRows.push([
          textLit(m.id),
          intLit(stored.version),
          byteaLit(stored.wrapped),
          byteaLit(dk.fingerprint),
        ]);
      }
      // Its sid is given by the insert; nothing in memory needs it.
      this.heads.created(0, m, dataKey);
      this.tracker.started(m.id);
      inserts.push([
        textLit(m.id),
        textLit(m.protocol),
        textLit(m.user),
        textLit(JSON.stringify(m.roles)),
        textLit(m.clientAddr),
        intLit(m.clientPort),
        textLit(m.application),
        textLit(m.clientTls),
        textLit(m.target),
        textLit(m.upstreamDatabase),
        textLit(m.upstreamUser),
        intLit(m.startedAtUs),
      ]);
    }
    if (inserts.length > 0) {
      statements.push(
        `INSERT INTO sessions (${SESSION_META_COLUMNS}) VALUES ${valuesList(inserts)} ON CONFLICT (id) DO NOTHING`,
      );
    }
    if (keyRows.length > 0) {
      statements.push(`
        INSERT INTO session_keys (session_sid, key_version, wrapped, fingerprint)
        SELECT s.sid, v.key_version, v.wrapped, v.fingerprint
        FROM (VALUES ${valuesList(keyRows)}) AS v(id, key_version, wrapped, fingerprint) JOIN sessions s ON s.id = v.id`);
    }
    // In event order, so that an unknown session fails the batch at its first event, as in SQLite.
    const order = [...batch.sessionIds, ...batch.ends.map((e) => e.sessionId)];
    for (const id of order) {
      if (!missing.has(id)) continue;
      missing.delete(id);
      const row = byId.get(id);
      const stored =
        row?.wrapped && row.key_version !== null ? { version: row.key_version, wrapped: row.wrapped } : null;
      this.heads.loaded(id, row, row ? this.keys.sessionKey(row.sid, id, stored) : null);
    }
  }

  /**
   * The outcome links of the batch's sessions this process does not know (it is new, or a write
   * failed), taken up from the events the store holds (outcome-tracker.ts).
   */
  private async resumeOutcomes(sql: Sql, events: readonly EncodedEvent[]): Promise<void> {
    const ids = sessionsToResume(this.tracker, events);
    if (ids.length === 0) return;
    const rows = await sql<{ id: string; seq: number; kind: string }[]>`
      SELECT s.id, e.seq, e.kind FROM events e JOIN sessions s ON s.sid = e.session_sid
      WHERE s.id = ANY(${textArrayParam(ids)}::text[]) AND e.kind = ANY(${textArrayParam(LINKED_KINDS)}::text[])
      ORDER BY e.session_sid, e.seq`;
    const byId = new Map<string, LinkedEvent[]>(ids.map((id) => [id, []]));
    for (const r of rows) byId.get(r.id)!.push(r);
    for (const [id, stored] of byId) this.tracker.resume(id, stored);
  }

  /**
   * The index text of a statement: its words (or blind tokens), then its parameters'. A statement
   * text's part is cached: a prepared statement run 1,000 times is one text, and splitting it into
   * normalised words (NFKD) or tokens (an HMAC per word) each time cost as much as its insert.
   */
  private indexText(state: SessionState, event: EncodedEvent): string {
    const sql = event.sql!;
    const blind = state.dataKey ? this.keys.index : null;
    const cache = blind ? this.blindCache : this.wordsCache;
    let words = cache.get(sql);
    if (words === undefined) {
      words = blind ? blind.text(sql) : indexText(sql);
      if (cache.size >= TEXT_CACHE) cache.clear();
      cache.set(sql, words);
    }
    if (event.params === null) return words;
    const params = blind ? blind.text(event.params) : indexText(event.params);
    return capIndexText(`${words} ${PART_SEPARATOR} ${params}`);
  }
}
