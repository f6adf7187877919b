/** The PostgreSQL store's records as they are, for `dbtape verify` (integrity/source.ts). */
import type {
  IntegritySource,
  StoredCheckpoint,
  StoredEvent,
  StoredSession,
  StoredState,
} from '../../integrity/source.js';
import { StoreError } from '../errors.js';
import { FORMAT_CLEAR } from '../session-keys.js';
import { INTEGRITY_SESSION_SELECT, type IntegritySessionRow, toStoredSession } from '../session-rows.js';
import type { Sql, TxSql } from './pg-connect.js';
import { connectionFailure } from './pg-failures.js';

const PAGE = 2000;

interface EventRow {
  sid: number;
  seq: number;
  atUs: number;
  offsetUs: number;
  kind: string;
  format: number;
  body: Buffer;
  hash: Buffer | null;
  failed: boolean | null;
}

export class PgIntegritySource implements IntegritySource {
  /** The snapshot's connection while one is taken; the read pool otherwise. */
  private current: Sql | TxSql;
  /** While a snapshot is taken: whether its connection was lost. */
  private lost: (() => boolean) | null = null;

  /**
   * `snapshotPool` opens the one-connection pool a snapshot runs on, telling `onclose` if that
   * connection is lost; null: `sql` is a transaction of the caller's, which is then the snapshot
   * (as a SQLite source inside a caller's transaction), for checking a store as a transaction
   * that is not committed yet sees it.
   */
  constructor(
    private readonly sql: Sql | TxSql,
    /** The store's opening: a store that cannot be opened says why before anything is read. */
    private readonly opened: Promise<void>,
    private readonly snapshotPool: ((onclose: () => void) => Sql) | null,
  ) {
    this.current = sql;
  }

  /**
   * Where every read goes: checked as each is issued. On a lost snapshot connection a later query
   * would run outside the snapshot on a new one (the pool reconnects), or, on a reserved or
   * transaction connection, be written by postgres.js 3.4 to its null socket from a timer: an
   * uncaught TypeError. So nothing more is issued once it is lost.
   */
  private get q(): Sql | TxSql {
    if (this.lost?.()) throw snapshotLost();
    return this.current;
  }

  /**
   * One REPEATABLE READ transaction: every read of the check sees the store as of its start, so a
   * writer recording meanwhile does not make the store look damaged. It runs on a pool of its own
   * with one connection (postgres.js allows a plain BEGIN there), not through `begin()`, which
   * sends ROLLBACK on a connection it has just seen die (the same uncaught TypeError).
   */
  async snapshot<T>(fn: () => Promise<T>): Promise<T> {
    await this.opened;
    if (!this.snapshotPool) return fn();
    let lost = false;
    const sql = this.snapshotPool(() => {
      lost = true;
    });
    try {
      await sql`BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY`;
      this.current = sql;
      this.lost = () => lost;
      const value = await fn();
      if (lost) throw snapshotLost();
      await sql`COMMIT`;
      return value;
    } catch (err) {
      // The server's "terminating connection" can arrive before the close is seen.
      throw lost || connectionFailure(err) ? snapshotLost(err) : err;
    } finally {
      this.current = this.sql;
      this.lost = null;
      // Ending the connection ends an unfinished transaction too.
      await sql.end({ timeout: 5 }).catch(() => {});
    }
  }

  async state(): Promise<StoredState | null> {
    const [r] = await this.q<
      {
        chain_from_sid: number;
        seal_no: number;
        seal: Buffer | null;
        checkpoint_no: number;
        checkpoint_hash: Buffer | null;
        encrypted: boolean;
      }[]
    >`SELECT chain_from_sid, seal_no, seal, checkpoint_no, checkpoint_hash, encrypted FROM integrity_state WHERE id = 1`;
    if (!r) return null;
    return {
      chainFromSid: r.chain_from_sid,
      sealNo: r.seal_no,
      seal: r.seal,
      checkpointNo: r.checkpoint_no,
      checkpointHash: r.checkpoint_hash,
      encrypted: r.encrypted,
    };
  }

  /** The PostgreSQL store keeps no journal: a durable batch is a committed one. */
  async journaled(): Promise<number> {
    return 0;
  }

  async sessionCount(): Promise<number> {
    const [r] = await this.q<{ n: number }[]>`SELECT count(*) AS n FROM sessions`;
    return r?.n ?? 0;
  }

  async *sessions(): AsyncIterable<StoredSession[]> {
    for (let after = 0; ; ) {
      const rows = await this.q<IntegritySessionRow[]>`
        ${this.q.unsafe(INTEGRITY_SESSION_SELECT)} WHERE s.sid > ${after} ORDER BY s.sid LIMIT ${PAGE}`;
      if (rows.length === 0) return;
      after = rows[rows.length - 1]!.sid;
      yield rows.map(toStoredSession);
    }
  }

  async session(id: string): Promise<StoredSession | null> {
    const [row] = await this.q<
      IntegritySessionRow[]
    >`${this.q.unsafe(INTEGRITY_SESSION_SELECT)} WHERE s.id = ${id}`;
    return row ? toStoredSession(row) : null;
  }

  async *events(sid?: number): AsyncIterable<StoredEvent[]> {
    let atSid = sid ?? 0;
    let atSeq = 0;
    for (;;) {
      const q = this.q;
      const rows =
        sid === undefined
          ? await q<EventRow[]>`
              SELECT session_sid AS sid, seq, at_us AS "atUs", offset_us AS "offsetUs", kind, format, body, hash, failed
              FROM events WHERE (session_sid, seq) > (${atSid}, ${atSeq}) ORDER BY session_sid, seq LIMIT ${PAGE}`
          : await q<EventRow[]>`
              SELECT session_sid AS sid, seq, at_us AS "atUs", offset_us AS "offsetUs", kind, format, body, hash, failed
              FROM events WHERE session_sid = ${sid} AND seq > ${atSeq} ORDER BY seq LIMIT ${PAGE}`;
      if (rows.length === 0) return;
      const last = rows[rows.length - 1]!;
      atSid = sid ?? last.sid;
      atSeq = last.seq;
      // Clear bodies are text to verify (as SQLite returns them): the hash covers their UTF-8 bytes.
      yield rows.map((r) => (r.format === FORMAT_CLEAR ? { ...r, body: r.body.toString('utf8') } : r));
    }
  }

  async *checkpoints(): AsyncIterable<StoredCheckpoint[]> {
    for (let after = 0; ; ) {
      const rows = await this.q<StoredCheckpoint[]>`
        SELECT no, at_us AS "atUs", key_id AS "keyId", body, hash, signature FROM checkpoints
        WHERE no > ${after} ORDER BY no LIMIT 200`;
      if (rows.length === 0) return;
      after = rows[rows.length - 1]!.no;
      yield rows;
    }
  }

  async eventHash(sessionId: string, seq: number): Promise<Buffer | null | undefined> {
    const [row] = await this.q<{ hash: Buffer | null }[]>`
      SELECT e.hash FROM events e JOIN sessions s ON s.sid = e.session_sid WHERE s.id = ${sessionId} AND e.seq = ${seq}`;
    return row ? row.hash : undefined;
  }

  async signingKeys(): Promise<{ keyId: string; publicKeyDer: Buffer }[]> {
    return [
      ...(await this.q<{ keyId: string; publicKeyDer: Buffer }[]>`
        SELECT key_id AS "keyId", public_key AS "publicKeyDer" FROM signing_keys`),
    ];
  }
}

function snapshotLost(cause?: unknown): StoreError {
  const why = cause instanceof Error ? `: ${cause.message}` : '';
  return new StoreError(
    'DBTAPE_STORE_READ_FAILED',
    `dbtape: the connection to the session store was lost during the check${why}; run it again`,
  );
}
