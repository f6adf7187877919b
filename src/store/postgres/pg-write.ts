/**
 * One batch into the PostgreSQL store, inside the caller's transaction: the same rules as the
 * SQLite store's write loop (chain-heads.ts for the chain and seals, session-keys.ts for
 * encryption, outcome-tracker.ts for statement outcomes), with PostgreSQL's costs in mind: a
 * statement's cost here is a round trip, not a call, so rows go in as arrays (`unnest`), one
 * statement per table, and the statements after the session rows are sent pipelined.
 */
import type { SessionId } from '../../model/session.js';
import { ChainHeads, type ChainRow, type SealHeadRow, type SessionState } from '../chain-heads.js';
import { type EncodedBatch, type EncodedEvent, encodedEvents } from '../encoded-batch.js';
import { linkOutcomes, type OutcomeTracker } from '../outcome-tracker.js';
import { FORMAT_CLEAR, newDataKey } from '../session-keys.js';
import { SESSION_META_COLUMNS } from '../session-rows.js';
import { OID, type TxSql } from './pg-connect.js';
import type { PgKeys } from './pg-keys.js';
import { capIndexText, indexText } from './pg-search.js';

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
  /** Cached heads may be wrong (a failed transaction, a lost connection): reload before writing. */
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

  /** Writes the batch inside `tx`; on failure the caller rolls back and calls failed(). */
  async write(tx: TxSql, batch: EncodedBatch): Promise<{ ended: SessionId[] }> {
    if (this.stale) {
      const [head] = await tx<
        SealHeadRow[]
      >`SELECT chain_from_sid, seal_no, seal FROM integrity_state WHERE id = 1`;
      this.heads.reset(head);
      this.keys.forgetAll();
      this.stale = false;
    }
    const events = [...encodedEvents(batch)];
    await this.insertSessions(tx, batch);
    await this.loadSessions(tx, events, batch);
    const { failed, late } = linkOutcomes(this.tracker, events);
    const ev = {
      sid: [] as number[],
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
    const counts = new Map<number, Counts>();
    for (let i = 0; i < events.length; i++) {
      const event = events[i]!;
      const state = this.heads.cached(event.sessionId)!;
      const stored = this.heads.append(state, event);
      ev.sid.push(state.sid);
      ev.seq.push(event.seq);
      ev.at.push(event.atUs);
      ev.off.push(event.offsetUs);
      ev.kind.push(event.kind);
      ev.failed.push(failed[i] === null ? '' : failed[i] === 1 ? 't' : 'f');
      ev.format.push(stored.format);
      ev.body.push(typeof stored.body === 'string' ? stored.body : stored.body.toString('base64'));
      ev.hash.push(stored.hash ? stored.hash.toString('hex') : '');
      ev.search.push(event.sql === null ? '' : this.indexText(state, event));
      let c = counts.get(state.sid);
      if (!c) {
        c = { state, statements: 0, errors: 0, events: 0, application: null };
        counts.set(state.sid, c);
      }
      c.events++;
      if (event.kind === 'query') c.statements++;
      else if (event.kind === 'error') c.errors++;
      // An encrypted session keeps it out of the clear row: SQL can name a client after any value.
      else if (event.application !== null && !state.dataKey) c.application = event.application;
    }
    const ends = batch.ends.map((end) => {
      const state = this.heads.cached(end.sessionId)!;
      const seal = this.heads.sealSession(state, end.endedAtUs, end.reason);
      return { sid: state.sid, end, seal };
    });
    const sealHead = this.heads.finishBatch();
    const writes: Promise<unknown>[] = [];
    if (ev.sid.length > 0) {
      // Each column as one joined text, split by the server: postgres.js writes an array
      // parameter element by element, quoting and escaping each (and bytea as hex), which cost
      // more client CPU than the rest of the write. No separator can occur in its column: JSON
      // text holds no raw newline, base64 and hex none, index text only words and spaces.
      writes.push(tx`
        INSERT INTO events (session_sid, seq, at_us, offset_us, kind, failed, format, body, hash, search)
        SELECT u.sid, u.seq, u.at_us, u.offset_us, u.kind, u.failed, u.format,
               CASE WHEN u.format = ${FORMAT_CLEAR} THEN convert_to(u.body, 'UTF8') ELSE decode(u.body, 'base64') END,
               decode(u.hash, 'hex'), to_tsvector('simple', u.search)
        FROM unnest(
          string_to_array(${ev.sid.join(',')}, ',')::bigint[],
          string_to_array(${ev.seq.join(',')}, ',')::bigint[],
          string_to_array(${ev.at.join(',')}, ',')::bigint[],
          string_to_array(${ev.off.join(',')}, ',')::bigint[],
          string_to_array(${ev.kind.join(' ')}, ' '),
          string_to_array(${ev.failed.join(',')}, ',', '')::boolean[],
          string_to_array(${ev.format.join(',')}, ',')::smallint[],
          string_to_array(${ev.body.join('\n')}, chr(10)),
          string_to_array(${ev.hash.join(',')}, ',', ''),
          string_to_array(${ev.search.join('\n')}, chr(10), '')
        ) AS u(sid, seq, at_us, offset_us, kind, failed, format, body, hash, search)`);
    }
    if (late.length > 0) {
      const sids = late.map((m) => this.heads.cached(m.sessionId)?.sid ?? -1);
      writes.push(tx`
        UPDATE events e SET failed = u.failed
        FROM unnest(${tx.array(sids, OID.bigint)}::bigint[], ${tx.array(
          late.map((m) => m.querySeq),
          OID.bigint,
        )}::bigint[], ${tx.array(
          late.map((m) => m.failed),
          OID.boolean,
        )}::boolean[])
          AS u(sid, seq, failed)
        WHERE e.session_sid = u.sid AND e.seq = u.seq`);
    }
    if (counts.size > 0) {
      const c = [...counts.values()];
      writes.push(tx`
        UPDATE sessions s SET statements = s.statements + u.statements, errors = s.errors + u.errors,
          events = s.events + u.events, last_seq = greatest(s.last_seq, u.last_seq), head_hash = u.head,
          reported_application = coalesce(u.application, s.reported_application)
        FROM unnest(${tx.array(
          c.map((x) => x.state.sid),
          OID.bigint,
        )}::bigint[], ${tx.array(
          c.map((x) => x.statements),
          OID.bigint,
        )}::bigint[],
                    ${tx.array(
                      c.map((x) => x.errors),
                      OID.bigint,
                    )}::bigint[], ${tx.array(
                      c.map((x) => x.events),
                      OID.bigint,
                    )}::bigint[],
                    ${tx.array(
                      c.map((x) => x.state.lastSeq),
                      OID.bigint,
                    )}::bigint[], ${tx.array(
                      c.map((x) => x.state.head),
                      OID.bytea,
                    )}::bytea[],
                    ${tx.array(
                      c.map((x) => x.application),
                      OID.text,
                    )}::text[])
          AS u(sid, statements, errors, events, last_seq, head, application)
        WHERE s.sid = u.sid`);
    }
    if (ends.length > 0) {
      writes.push(tx`
        UPDATE sessions s SET ended_at_us = u.ended_at_us, end_reason = u.end_reason, seal = u.seal, seal_no = u.seal_no
        FROM unnest(${tx.array(
          ends.map((e) => e.sid),
          OID.bigint,
        )}::bigint[], ${tx.array(
          ends.map((e) => e.end.endedAtUs),
          OID.bigint,
        )}::bigint[],
                    ${tx.array(
                      ends.map((e) => e.end.reason),
                      OID.text,
                    )}::text[], ${tx.array(
                      ends.map((e) => e.seal?.seal ?? null),
                      OID.bytea,
                    )}::bytea[],
                    ${tx.array(
                      ends.map((e) => e.seal?.sealNo ?? null),
                      OID.bigint,
                    )}::bigint[])
          AS u(sid, ended_at_us, end_reason, seal, seal_no)
        WHERE s.sid = u.sid AND s.ended_at_us IS NULL`);
    }
    if (sealHead) {
      writes.push(
        tx`UPDATE integrity_state SET seal_no = ${sealHead.sealNo}, seal = ${sealHead.seal} WHERE id = 1`,
      );
    }
    await Promise.all(writes);
    return { ended: batch.ends.map((e) => e.sessionId) };
  }

  /** After the transaction committed. */
  committed(ended: readonly SessionId[]): void {
    for (const id of ended) {
      const s = this.heads.ended(id);
      if (s) this.keys.forget(s.sid);
    }
  }

  /** After the transaction failed: nothing of it was stored. */
  failed(batch: EncodedBatch): void {
    for (const id of batch.sessionIds) this.tracker.forget(id);
    this.stale = true;
  }

  private async insertSessions(tx: TxSql, batch: EncodedBatch): Promise<void> {
    const ms = batch.sessions;
    if (ms.length === 0) return;
    const rows = await tx<{ sid: number; id: string }[]>`
      INSERT INTO sessions (${tx.unsafe(SESSION_META_COLUMNS)})
      SELECT * FROM unnest(${tx.array(
        ms.map((m) => m.id),
        OID.text,
      )}::text[], ${tx.array(
        ms.map((m) => m.protocol),
        OID.text,
      )}::text[],
        ${tx.array(
          ms.map((m) => m.user),
          OID.text,
        )}::text[], ${tx.array(
          ms.map((m) => JSON.stringify(m.roles)),
          OID.text,
        )}::text[],
        ${tx.array(
          ms.map((m) => m.clientAddr),
          OID.text,
        )}::text[], ${tx.array(
          ms.map((m) => m.clientPort),
          OID.int,
        )}::int[],
        ${tx.array(
          ms.map((m) => m.application),
          OID.text,
        )}::text[], ${tx.array(
          ms.map((m) => m.clientTls),
          OID.text,
        )}::text[],
        ${tx.array(
          ms.map((m) => m.target),
          OID.text,
        )}::text[], ${tx.array(
          ms.map((m) => m.upstreamDatabase),
          OID.text,
        )}::text[],
        ${tx.array(
          ms.map((m) => m.upstreamUser),
          OID.text,
        )}::text[], ${tx.array(
          ms.map((m) => m.startedAtUs),
          OID.bigint,
        )}::bigint[])
      ON CONFLICT (id) DO NOTHING
      RETURNING sid, id`;
    const byId = new Map(ms.map((m) => [m.id, m]));
    const ring = this.keys.writesEncrypted ? this.keys.ring : null;
    const keyRows = {
      sid: [] as number[],
      version: [] as number[],
      wrapped: [] as Buffer[],
      fingerprint: [] as Buffer[],
    };
    for (const r of rows) {
      const meta = byId.get(r.id)!;
      let dataKey = null;
      if (ring) {
        const { dk, stored } = newDataKey(ring, r.id);
        dataKey = dk;
        this.keys.remember(r.sid, dk);
        keyRows.sid.push(r.sid);
        keyRows.version.push(stored.version);
        keyRows.wrapped.push(stored.wrapped);
        keyRows.fingerprint.push(dk.fingerprint);
      }
      this.heads.created(r.sid, meta, dataKey);
    }
    if (keyRows.sid.length > 0) {
      await tx`
        INSERT INTO session_keys (session_sid, key_version, wrapped, fingerprint)
        SELECT * FROM unnest(${tx.array(keyRows.sid, OID.bigint)}::bigint[], ${tx.array(keyRows.version, OID.int)}::int[], ${tx.array(keyRows.wrapped, OID.bytea)}::bytea[], ${tx.array(keyRows.fingerprint, OID.bytea)}::bytea[])`;
    }
  }

  /** Chain heads (and data keys) of the batch's sessions this process has not cached. */
  private async loadSessions(tx: TxSql, events: readonly EncodedEvent[], batch: EncodedBatch): Promise<void> {
    const missing = new Set<string>();
    for (const id of batch.sessionIds) if (!this.heads.cached(id)) missing.add(id);
    for (const e of batch.ends) if (!this.heads.cached(e.sessionId)) missing.add(e.sessionId);
    if (missing.size === 0) return;
    const rows = await tx<LoadRow[]>`
      SELECT s.sid, s.last_seq, s.head_hash, ${tx.unsafe(SESSION_META_COLUMNS.replace(/(\w+)/g, 's.$1'))},
             k.key_version, k.wrapped
      FROM sessions s LEFT JOIN session_keys k ON k.session_sid = s.sid
      WHERE s.id = ANY(${tx.array([...missing], OID.text)}::text[])`;
    const byId = new Map(rows.map((r) => [r.id, r]));
    // In event order, so that an unknown session fails the batch at its first event, as in SQLite.
    const order = [...events.map((e) => e.sessionId), ...batch.ends.map((e) => e.sessionId)];
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
    return capIndexText(`${words} ${blind ? blind.text(event.params) : indexText(event.params)}`);
  }
}
