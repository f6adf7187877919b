/**
 * The strict-mode journal. A durable write must be on disk before the proxy forwards the
 * statement, and a full store transaction (event rows, their indexes, a new FTS5 segment, the
 * chain) per group commit made strict mode a quarter of fast mode's throughput. So a durable
 * batch is first one record in the journal file (journal-file.ts: one O_DSYNC write, no SQLite
 * work), and moved into the store proper by a later, larger transaction
 * (SqliteSessionStore.applyJournal) that also advances the journal's applied position: the move
 * is atomic, so a crash either side of it loses nothing and applies nothing twice.
 *
 * The writer keeps the batches it journaled in memory until they are applied, so the apply reads
 * nothing back; the file is read only at open, for what a crashed writer left. Batches are
 * applied in the order they were written; the chain is computed as they are applied. Encrypted
 * stores seal each record (sqlite-crypto.ts, sealJournal).
 *
 * Stores written before the journal file (migration 3) kept journaled batches as rows of the
 * `journal` table; a writer applies any it finds first.
 */
import { deserialize, serialize } from 'node:v8';
import type Database from 'better-sqlite3';
import type { EncodedBatch } from '../encoded-batch.js';
import { StoreError } from '../errors.js';
import {
  JournalFile,
  type JournalPosition,
  type JournalRecord,
  journalFilePath,
  readJournalRecords,
} from './journal-file.js';
import type { StoreCrypto } from './sqlite-crypto.js';

/** Once everything written is applied, the file is reused from its start past this size. */
const RESTART_AFTER_BYTES = 8 * 1024 * 1024;

/** Where a journaled batch is, so the applying transaction can mark it applied. */
type JournalMark = { readonly row: number } | { readonly no: number; readonly end: number };

export interface JournalEntry {
  readonly batch: EncodedBatch;
  readonly mark: JournalMark;
}

interface LegacyRow {
  id: number;
  key_version: number | null;
  wrapped_key: Buffer | null;
  body: Buffer;
}

export class StrictJournal {
  private readonly file: JournalFile | null;
  /** Journaled and not yet applied, in order. */
  private readonly queue: JournalEntry[];
  private readonly setApplied: Database.Statement;
  private readonly removeRow: Database.Statement;
  /** A new generation was committed but is not known to be durable yet: nothing is written until it is. */
  private restartPending = false;

  /**
   * `storePath`: the SQLite file (null for an in-memory store, whose journal is memory too).
   * `syncStore` makes the store's commits durable (the journal restarts only after that).
   */
  constructor(
    private readonly db: Database.Database,
    private readonly crypto: StoreCrypto,
    storePath: string | null,
    private readonly syncStore: () => void,
  ) {
    this.setApplied = db.prepare('UPDATE journal_position SET applied_no = ?, applied_end = ? WHERE id = 1');
    this.removeRow = db.prepare('DELETE FROM journal WHERE id <= ?');
    this.queue = legacyRows(db).map((row) => ({ batch: openLegacy(crypto, row), mark: { row: row.id } }));
    this.file = storePath === null ? null : openJournalFile(journalFilePath(storePath), position(db));
    for (const r of this.file?.found ?? []) {
      this.queue.push({ batch: decodePayload(crypto, r.payload), mark: { no: r.no, end: r.end } });
    }
  }

  /** One batch, durable when this returns; throws if it could not be made so. */
  append(batch: EncodedBatch): void {
    if (!this.file) {
      this.queue.push({ batch, mark: { no: 0, end: 0 } });
      return;
    }
    if (this.queue.length === 0 && this.file.written >= RESTART_AFTER_BYTES) this.restart();
    if (this.restartPending) {
      this.syncStore();
      this.restartPending = false;
    }
    const record = this.file.append(encodePayload(this.crypto, batch));
    this.queue.push({ batch, mark: { no: record.no, end: record.end } });
  }

  pending(): number {
    return this.queue.length;
  }

  /**
   * The first `limit` journaled batches in order. The caller applies them in one transaction that
   * also calls `applied(entries)`, and calls `released(entries)` once it committed.
   */
  take(limit: number): JournalEntry[] {
    return this.queue.slice(0, limit);
  }

  /** Inside the applying transaction: these entries are in the store now. */
  applied(entries: readonly JournalEntry[]): void {
    let row = 0;
    let file: { no: number; end: number } | null = null;
    for (const { mark } of entries) {
      if ('row' in mark) row = mark.row;
      else file = mark;
    }
    if (row > 0) this.removeRow.run(row);
    if (file && this.file) this.setApplied.run(file.no, file.end);
  }

  /** After the applying transaction committed. */
  released(entries: readonly JournalEntry[]): void {
    this.queue.splice(0, entries.length);
  }

  close(): void {
    this.file?.close();
  }

  /**
   * Everything written is applied: reuse the file from its start, as a new generation. If the
   * store cannot take the new generation, writing goes on in this one.
   */
  private restart(): void {
    let generation: number;
    try {
      generation = (
        this.db
          .prepare(
            'UPDATE journal_position SET generation = generation + 1, applied_no = 0, applied_end = 0 WHERE id = 1 RETURNING generation',
          )
          .get() as { generation: number }
      ).generation;
    } catch {
      return;
    }
    this.file!.restart(generation);
    this.restartPending = true;
  }
}

function openJournalFile(path: string, from: JournalPosition): JournalFile {
  try {
    return new JournalFile(path, from);
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    throw new StoreError(
      'DBTAPE_STORE_OPEN_FAILED',
      `dbtape: cannot open the strict-mode journal at ${path}: ${e.code ?? e.message}`,
      { cause: err },
    );
  }
}

/** Batches journaled and not yet applied, as a reader of the store `db` (verify) counts them. */
export function journaledBatches(db: Database.Database): number {
  const legacy = (db.prepare('SELECT count(*) AS n FROM journal').get() as { n: number }).n;
  return legacy + fileRecords(db).length;
}

/** The batches themselves, for a reader with the store's keys (tests look inside). */
export function readJournaled(db: Database.Database, crypto: StoreCrypto): EncodedBatch[] {
  return [
    ...legacyRows(db).map((row) => openLegacy(crypto, row)),
    ...fileRecords(db).map((r) => decodePayload(crypto, r.payload)),
  ];
}

function fileRecords(db: Database.Database): JournalRecord[] {
  return db.memory ? [] : readJournalRecords(journalFilePath(db.name), position(db));
}

function position(db: Database.Database): JournalPosition {
  const row = db
    .prepare('SELECT generation, applied_no, applied_end FROM journal_position WHERE id = 1')
    .get() as { generation: number; applied_no: number; applied_end: number } | undefined;
  if (!row) return { generation: 1, appliedNo: 0, appliedEnd: 0 };
  return { generation: row.generation, appliedNo: row.applied_no, appliedEnd: row.applied_end };
}

function legacyRows(db: Database.Database): LegacyRow[] {
  return db
    .prepare('SELECT id, key_version, wrapped_key, body FROM journal ORDER BY id')
    .all() as LegacyRow[];
}

function openLegacy(crypto: StoreCrypto, row: LegacyRow): EncodedBatch {
  const plain =
    row.key_version === null ? row.body : crypto.openJournal(row.key_version, row.wrapped_key!, row.body);
  return deserialize(plain) as EncodedBatch;
}

/**
 * A record's payload: 0 and the batch, or 1, the key version (u32), the wrapped journal key's
 * length (u16), the wrapped key and the sealed batch. v8 serialization keeps the Float64Array and
 * the long strings as they are, and is several times cheaper than JSON for them; records live
 * only until the next apply.
 */
function encodePayload(crypto: StoreCrypto, batch: EncodedBatch): Buffer[] {
  const plain = serialize(batch);
  const sealed = crypto.sealJournal(plain);
  if (!sealed) return [CLEAR, plain];
  const head = Buffer.alloc(7);
  head.writeUInt8(1, 0);
  head.writeUInt32BE(sealed.version, 1);
  head.writeUInt16BE(sealed.wrapped.length, 5);
  return [head, sealed.wrapped, sealed.body];
}

const CLEAR = Buffer.of(0);

function decodePayload(crypto: StoreCrypto, payload: Buffer): EncodedBatch {
  if (payload[0] === 0) return deserialize(payload.subarray(1)) as EncodedBatch;
  const version = payload.readUInt32BE(1);
  const wrappedEnd = 7 + payload.readUInt16BE(5);
  const plain = crypto.openJournal(version, payload.subarray(7, wrappedEnd), payload.subarray(wrappedEnd));
  return deserialize(plain) as EncodedBatch;
}
