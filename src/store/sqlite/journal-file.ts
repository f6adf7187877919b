/**
 * The strict-mode journal's file, `<store>-strict` beside the SQLite file (sqlite-journal.ts says
 * why strict batches are journaled at all). A durable batch is one record written with O_DSYNC
 * into space the file already has: on this kind of disk that is one device write, about half the
 * latency of a SQLite commit plus an fdatasync of its WAL, and no CPU for pages and frames.
 *
 *   record = magic u32 | payload length u32 | generation u32 | number u32 | crc32 u32 | payload
 *
 * (big-endian; the CRC covers the first 16 bytes and the payload). Records are numbered from 1
 * within a generation and written back to back. Where the applied ones end is kept in the SQLite
 * store, in the transaction that applied them (journal_position), so a reader starts there and
 * takes records while each is whole, of the current generation and numbered next: a torn write,
 * the zeros of unused space and records of an older generation all end the scan.
 *
 * The file is reused from its start once everything in it is applied: the store's new
 * generation is committed and synced first, so that no crash can leave the store pointing into
 * records of the old generation that new ones overwrote.
 */
import {
  closeSync,
  constants,
  existsSync,
  fstatSync,
  openSync,
  readSync,
  writeSync,
  writevSync,
} from 'node:fs';
import { dirname } from 'node:path';
import { crc32 } from 'node:zlib';
import { syncDir } from './wal-sync.js';

const MAGIC = 0x44_54_4a_31; // "DTJ1"
export const RECORD_HEADER_BYTES = 20;
/** Space is added in steps of this size, written as zeros, so that records are never appended. */
const GROW_BYTES = 4 * 1024 * 1024;
/** A record longer than this is damage, not a batch (a batch holds at most 1,000 events). */
const MAX_PAYLOAD = 1024 * 1024 * 1024;

export interface JournalPosition {
  readonly generation: number;
  /** Number of the last record applied to the store (0: none in this generation). */
  readonly appliedNo: number;
  /** Byte offset just past it. */
  readonly appliedEnd: number;
}

export interface JournalRecord {
  readonly no: number;
  /** Byte offset just past the record. */
  readonly end: number;
  readonly payload: Buffer;
}

export function journalFilePath(storePath: string): string {
  return `${storePath}-strict`;
}

/** The records after `from`, as a reader finds them (none if the file does not exist). */
export function readJournalRecords(path: string, from: JournalPosition): JournalRecord[] {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw err;
  }
  try {
    return scan(fd, from);
  } finally {
    closeSync(fd);
  }
}

function scan(fd: number, from: JournalPosition): JournalRecord[] {
  const size = fstatSync(fd).size;
  const records: JournalRecord[] = [];
  const header = Buffer.alloc(RECORD_HEADER_BYTES);
  let at = from.appliedEnd;
  let no = from.appliedNo + 1;
  while (at + RECORD_HEADER_BYTES <= size) {
    if (readSync(fd, header, 0, RECORD_HEADER_BYTES, at) < RECORD_HEADER_BYTES) break;
    const length = header.readUInt32BE(4);
    if (
      header.readUInt32BE(0) !== MAGIC ||
      header.readUInt32BE(8) !== from.generation ||
      header.readUInt32BE(12) !== no ||
      length > MAX_PAYLOAD ||
      at + RECORD_HEADER_BYTES + length > size
    )
      break;
    const payload = Buffer.alloc(length);
    if (readSync(fd, payload, 0, length, at + RECORD_HEADER_BYTES) < length) break;
    if (crc32(payload, crc32(header.subarray(0, 16))) !== header.readUInt32BE(16)) break;
    at += RECORD_HEADER_BYTES + length;
    records.push({ no, end: at, payload });
    no++;
  }
  return records;
}

/** The writer's end of the file: appends records durably, and restarts it for a new generation. */
export class JournalFile {
  /** null until the first record: a store that never writes strictly gets no journal file. */
  private fd: number | null = null;
  private size = 0;
  private generation: number;
  private nextNo: number;
  private writeAt: number;

  /** Opens the file, if there is one, and finds the records after `position`, which it then writes after. */
  constructor(
    readonly path: string,
    position: JournalPosition,
  ) {
    this.generation = position.generation;
    this.found = existsSync(path) ? scan(this.open(), position) : [];
    const last = this.found.at(-1);
    this.nextNo = (last?.no ?? position.appliedNo) + 1;
    this.writeAt = last?.end ?? position.appliedEnd;
  }

  /** What a crashed writer left after the position given at open. */
  readonly found: JournalRecord[];

  /** Bytes written in this generation. */
  get written(): number {
    return this.writeAt;
  }

  /**
   * Writes one record, its payload given in parts; it is on disk when this returns (O_DSYNC).
   * Throws if it cannot be written (the file cannot grow, an I/O error); the next record is then
   * written at the same place. A failed write may still have reached the disk, so its header is
   * zeroed, if the disk lets us: otherwise a crash before the next write would leave a refused
   * batch in the journal.
   */
  append(parts: readonly Buffer[]): { no: number; end: number } {
    let length = 0;
    for (const p of parts) length += p.length;
    const fd = this.fd ?? this.open();
    const end = this.writeAt + RECORD_HEADER_BYTES + length;
    if (end > this.size) this.grow(fd, end);
    const header = Buffer.allocUnsafe(RECORD_HEADER_BYTES);
    header.writeUInt32BE(MAGIC, 0);
    header.writeUInt32BE(length, 4);
    header.writeUInt32BE(this.generation, 8);
    header.writeUInt32BE(this.nextNo, 12);
    let crc = crc32(header.subarray(0, 16));
    for (const p of parts) crc = crc32(p, crc);
    header.writeUInt32BE(crc, 16);
    try {
      const wrote = writevSync(fd, [header, ...parts], this.writeAt);
      if (wrote !== end - this.writeAt)
        throw new Error(`short write to the strict-mode journal (${wrote} bytes)`);
    } catch (err) {
      try {
        writeSync(fd, Buffer.alloc(RECORD_HEADER_BYTES), 0, RECORD_HEADER_BYTES, this.writeAt);
      } catch {
        // The disk refuses this too: the record stays as far as it got.
      }
      throw err;
    }
    const record = { no: this.nextNo, end };
    this.nextNo++;
    this.writeAt = end;
    return record;
  }

  /**
   * Starts writing from the beginning again, as `generation`. The caller has committed that
   * generation (with nothing applied) to the store and made it durable.
   */
  restart(generation: number): void {
    this.generation = generation;
    this.nextNo = 1;
    this.writeAt = 0;
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }

  private open(): number {
    const created = !existsSync(this.path);
    const fd = openSync(this.path, constants.O_RDWR | constants.O_CREAT | constants.O_DSYNC, 0o600);
    // The file's directory entry must survive a power loss as well.
    if (created) syncDir(dirname(this.path));
    this.fd = fd;
    this.size = fstatSync(fd).size;
    return fd;
  }

  /** Zeros up to `end` and a step more: later records then change no file size, only data. */
  private grow(fd: number, end: number): void {
    const target = Math.max(end, this.size + GROW_BYTES);
    const zeros = Buffer.alloc(Math.min(GROW_BYTES, target - this.size));
    while (this.size < target) {
      const n = Math.min(zeros.length, target - this.size);
      this.size += writeSync(fd, zeros, 0, n, this.size);
    }
  }
}
