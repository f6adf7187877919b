/** The SQLite store's records as they are, for `dbtape verify` (integrity/source.ts). */
import type Database from 'better-sqlite3';
import type {
  IntegritySource,
  StoredCheckpoint,
  StoredEvent,
  StoredSession,
  StoredState,
} from '../../integrity/source.js';
import { INTEGRITY_SESSION_SELECT, type IntegritySessionRow, toStoredSession } from '../session-rows.js';
import { journaledBatches } from './sqlite-journal.js';

const PAGE = 2000;
const SESSION_SELECT = INTEGRITY_SESSION_SELECT;

export class SqliteIntegritySource implements IntegritySource {
  /**
   * `owned`: the connection was opened for this source alone (the store's writer keeps its own),
   * and is closed after the snapshot.
   */
  constructor(
    private readonly db: Database.Database,
    private readonly owned = false,
  ) {}

  async snapshot<T>(fn: () => Promise<T>): Promise<T> {
    // Already inside a transaction (a caller's own): that is the snapshot.
    const begin = !this.db.inTransaction;
    if (begin) this.db.exec('BEGIN');
    try {
      return await fn();
    } finally {
      if (begin && this.db.inTransaction) this.db.exec('COMMIT');
      if (this.owned) this.db.close();
    }
  }

  async state(): Promise<StoredState | null> {
    const r = this.db
      .prepare(
        'SELECT chain_from_sid, seal_no, seal, checkpoint_no, checkpoint_hash, encrypted FROM integrity_state WHERE id = 1',
      )
      .get() as
      | {
          chain_from_sid: number;
          seal_no: number;
          seal: Buffer | null;
          checkpoint_no: number;
          checkpoint_hash: Buffer | null;
          encrypted: number;
        }
      | undefined;
    if (!r) return null;
    return {
      chainFromSid: r.chain_from_sid,
      sealNo: r.seal_no,
      seal: r.seal,
      checkpointNo: r.checkpoint_no,
      checkpointHash: r.checkpoint_hash,
      encrypted: r.encrypted === 1,
    };
  }

  async journaled(): Promise<number> {
    return journaledBatches(this.db);
  }

  async sessionCount(): Promise<number> {
    return (this.db.prepare('SELECT count(*) AS n FROM sessions').get() as { n: number }).n;
  }

  async *sessions(): AsyncIterable<StoredSession[]> {
    const page = this.db.prepare(`${SESSION_SELECT} WHERE s.sid > ? ORDER BY s.sid LIMIT ?`);
    for (let after = -Infinity; ; ) {
      const rows = page.all(after, PAGE) as IntegritySessionRow[];
      if (rows.length === 0) return;
      after = rows[rows.length - 1]!.sid;
      yield rows.map(toStoredSession);
    }
  }

  async session(id: string): Promise<StoredSession | null> {
    const row = this.db.prepare(`${SESSION_SELECT} WHERE s.id = ?`).get(id) as
      | IntegritySessionRow
      | undefined;
    return row ? toStoredSession(row) : null;
  }

  async *events(sid?: number): AsyncIterable<StoredEvent[]> {
    const cols =
      'session_sid AS sid, seq, at_us AS atUs, offset_us AS offsetUs, kind, format, body, hash, failed';
    const page =
      sid === undefined
        ? this.db.prepare(
            `SELECT ${cols} FROM events WHERE (session_sid, seq) > (?, ?) ORDER BY session_sid, seq LIMIT ?`,
          )
        : this.db.prepare(
            `SELECT ${cols} FROM events WHERE session_sid = ? AND seq > ? ORDER BY seq LIMIT ?`,
          );
    let atSid = sid ?? -Infinity;
    let atSeq = -Infinity;
    for (;;) {
      const rows = page.all(atSid, atSeq, PAGE) as StoredEvent[];
      if (rows.length === 0) return;
      const last = rows[rows.length - 1]!;
      atSid = sid ?? last.sid;
      atSeq = last.seq;
      yield rows;
    }
  }

  async *checkpoints(): AsyncIterable<StoredCheckpoint[]> {
    const page = this.db.prepare(
      'SELECT no, at_us AS atUs, key_id AS keyId, body, hash, signature FROM checkpoints WHERE no > ? ORDER BY no LIMIT ?',
    );
    for (let after = -Infinity; ; ) {
      const rows = page.all(after, 200) as StoredCheckpoint[];
      if (rows.length === 0) return;
      after = rows[rows.length - 1]!.no;
      yield rows;
    }
  }

  async eventHash(sessionId: string, seq: number): Promise<Buffer | null | undefined> {
    const row = this.db
      .prepare(
        'SELECT e.hash FROM events e JOIN sessions s ON s.sid = e.session_sid WHERE s.id = ? AND e.seq = ?',
      )
      .get(sessionId, seq) as { hash: Buffer | null } | undefined;
    return row ? row.hash : undefined;
  }

  async signingKeys(): Promise<{ keyId: string; publicKeyDer: Buffer }[]> {
    return this.db.prepare('SELECT key_id AS keyId, public_key AS publicKeyDer FROM signing_keys').all() as {
      keyId: string;
      publicKeyDer: Buffer;
    }[];
  }
}
