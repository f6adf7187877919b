/**
 * The column definitions of the current result, kept as raw bytes in one reusable arena
 * (no per-column allocation while a response streams) and decoded only when asked,
 * following node-mysql2's lazy column definitions.
 */
import { columnEncoding, type TextEncoding } from './binary-values.js';
import {
  type ColumnDefinition,
  type ColumnType,
  columnTypeLabel,
  decodeColumnDefinition,
  decodeColumnType,
} from './column-definition.js';
import { type Result, success } from './errors.js';

export interface ResultColumnInfo {
  readonly name: string;
  readonly type: string;
}

export class ColumnStore {
  readonly mariadbExtendedMetadata: boolean;
  private arena = Buffer.allocUnsafe(1024);
  private used = 0;
  private readonly starts: number[] = [];
  private readonly ends: number[] = [];
  private typesCache: ColumnType[] | null = null;

  constructor(mariadbExtendedMetadata = false) {
    this.mariadbExtendedMetadata = mariadbExtendedMetadata;
  }

  get count(): number {
    return this.starts.length;
  }

  clear(): void {
    this.typesCache = null;
    // Unrecorded sessions never fill the store: skip the array resizes for every result.
    if (this.starts.length === 0) return;
    this.used = 0;
    this.starts.length = 0;
    this.ends.length = 0;
  }

  /** Copy one column definition payload in (the chunk it came from belongs to the socket). */
  add(buf: Buffer, start: number, end: number): void {
    const n = end - start;
    if (this.used + n > this.arena.length) {
      let size = this.arena.length * 2;
      while (size < this.used + n) size *= 2;
      const next = Buffer.allocUnsafe(size);
      this.arena.copy(next, 0, 0, this.used);
      this.arena = next;
    }
    buf.copy(this.arena, this.used, start, end);
    this.starts.push(this.used);
    this.used += n;
    this.ends.push(this.used);
    this.typesCache = null;
  }

  /** The raw payload of column `i` (a view into the arena, valid until the next result). */
  raw(i: number): Buffer {
    return this.arena.subarray(this.starts[i], this.ends[i]);
  }

  definition(i: number): Result<ColumnDefinition> {
    return decodeColumnDefinition(this.arena, this.mariadbExtendedMetadata, this.starts[i], this.ends[i]);
  }

  definitions(): Result<ColumnDefinition[]> {
    const out: ColumnDefinition[] = [];
    for (let i = 0; i < this.count; i++) {
      const d = this.definition(i);
      if (!d.ok) return d;
      out.push(d.value);
    }
    return success(out);
  }

  /** Types of all columns, decoded once per result (binary rows need them for every row). */
  types(): Result<readonly ColumnType[]> {
    if (this.typesCache !== null) return success(this.typesCache);
    const out: ColumnType[] = [];
    for (let i = 0; i < this.count; i++) {
      const t = decodeColumnType(this.arena, this.mariadbExtendedMetadata, this.starts[i], this.ends[i]);
      if (!t.ok) return t;
      out.push(t.value);
    }
    this.typesCache = out;
    return success(out);
  }

  /** How each column's text-row values become text. */
  encodings(): Result<TextEncoding[]> {
    const t = this.types();
    return t.ok ? success(t.value.map(columnEncoding)) : t;
  }

  /** Name and type label per column, as the recording's ResultColumn wants them. */
  resultColumns(): Result<ResultColumnInfo[]> {
    const defs = this.definitions();
    if (!defs.ok) return defs;
    return success(defs.value.map((d) => ({ name: d.name, type: columnTypeLabel(d) })));
  }
}
