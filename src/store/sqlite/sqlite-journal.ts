/**
 * The strict-mode journal. A durable write must be on disk before the proxy forwards the
 * statement, and a full store transaction (event rows, their indexes, a new FTS5 segment, the
 * chain) per group commit made strict mode a quarter of fast mode's throughput. So a durable
 * batch is first one row here, committed and fsynced (a few pages), and moved into the store
 * proper by a later, larger transaction (SqliteSessionStore.applyJournal) that also deletes it:
 * the move is atomic, so a crash either side of it loses nothing and applies nothing twice.
 *
 * Rows are applied in id order, which is the order the batches were written in; the chain is
 * computed as they are applied. Encrypted stores seal each row (sqlite-crypto.ts, sealJournal).
 */
import { deserialize, serialize } from 'node:v8';
import type Database from 'better-sqlite3';
import type { EncodedBatch } from './encoded-batch.js';
import type { StoreCrypto } from './sqlite-crypto.js';

interface JournalRow {
  id: number;
  key_version: number | null;
  wrapped_key: Buffer | null;
  body: Buffer;
}

export class StrictJournal {
  private readonly insert: Database.Statement;
  private readonly rows: Database.Statement;
  private readonly remove: Database.Statement;

  constructor(
    private readonly db: Database.Database,
    private readonly crypto: StoreCrypto,
  ) {
    this.insert = db.prepare('INSERT INTO journal (key_version, wrapped_key, body) VALUES (?, ?, ?)');
    this.rows = db.prepare('SELECT id, key_version, wrapped_key, body FROM journal ORDER BY id LIMIT ?');
    this.remove = db.prepare('DELETE FROM journal WHERE id <= ?');
  }

  /** One batch as one row; its own transaction (autocommit). */
  append(batch: EncodedBatch): void {
    // v8 serialization keeps the Float64Array and the long strings as they are, and is several
    // times cheaper than JSON for them; rows live only until the next apply.
    const plain = serialize(batch);
    const sealed = this.crypto.sealJournal(plain);
    if (sealed) this.insert.run(sealed.version, sealed.wrapped, sealed.body);
    else this.insert.run(null, null, plain);
  }

  pending(): number {
    return journaledBatches(this.db);
  }

  /**
   * The first `limit` journaled batches in order (-1: all). The caller applies them in one
   * transaction that also calls `applied(last id)`.
   */
  take(limit: number): { id: number; batch: EncodedBatch }[] {
    return (this.rows.all(limit) as JournalRow[]).map((row) => {
      const plain =
        row.key_version === null
          ? row.body
          : this.crypto.openJournal(row.key_version, row.wrapped_key!, row.body);
      return { id: row.id, batch: deserialize(plain) as EncodedBatch };
    });
  }

  /** Inside the applying transaction: the rows up to `lastId` are in the store now. */
  applied(lastId: number): void {
    this.remove.run(lastId);
  }
}

/** Batches in the journal of the store `db`: the writer's check at open, and verify's count. */
export function journaledBatches(db: Database.Database): number {
  return (db.prepare('SELECT count(*) AS n FROM journal').get() as { n: number }).n;
}
