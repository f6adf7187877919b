import type { MaskColumn, MaskingRules, ValueMasker } from '../../policy/index.js';
import { isTextualMysqlType } from '../../policy/index.js';
import {
  binaryNullBitmapSize,
  type ColumnDefinition,
  type ColumnType,
  columnEncoding,
  encodeLenencInt,
  MYSQL_TYPE_BIT,
  MYSQL_TYPE_GEOMETRY,
  newRowFields,
  type RowFields,
  rewriteRowFields,
  scanBinaryRow,
  scanTextRow,
} from '../../protocol/mysql/index.js';

/**
 * Masking of resultset rows (docs/policy.md "Masking"): which columns of a result need work, and
 * the row rewritten with their values masked (MySQL "Text Resultset Row", "Binary Protocol
 * Resultset Row"). Text rows are lenenc strings throughout, so every masked value is rewritten as
 * text with its length prefix fixed up. In binary rows only lenenc values (strings, blobs, DECIMAL,
 * JSON...) can carry masked text; a number, date or time masked by name has no text form there and
 * is sent as NULL instead. BIT and GEOMETRY values masked by name are sent empty in both.
 */

export interface RowMaskPlan {
  readonly maskers: readonly (ValueMasker | null)[];
  readonly types: readonly ColumnType[];
  /** Buffer encodings to read and write each column's value as text (binary data: latin1, lossless). */
  readonly encodings: readonly BufferEncoding[];
  readonly fields: RowFields;
}

/**
 * The plan for a result's columns, or null when no column needs masking (rows then pass untouched).
 * `warnings`: the result of SHOW WARNINGS, whose Message column is a server message (masked like an
 * error's: `CAST(email AS SIGNED)` warns with the value quoted).
 */
export function planRowMask(
  rules: MaskingRules,
  defs: readonly ColumnDefinition[],
  types: readonly ColumnType[],
  warnings = false,
): RowMaskPlan | null {
  const columns: MaskColumn[] = defs.map((d) => ({
    name: d.name,
    sourceName: d.orgName || null,
    table: d.orgTable || null,
    schema: d.schema || null,
    textual: isTextualMysqlType(d.type),
  }));
  let planned = rules.planColumns(columns);
  if (warnings) {
    const message = (v: string) => rules.maskMessage(v);
    const base = planned ?? columns.map(() => null);
    planned = base.map((m, i) => (defs[i]!.name.toLowerCase() === 'message' ? message : m));
  }
  if (planned === null) return null;
  // Bit strings and geometries are bytes with no text form to keep the shape of: emptied.
  const maskers = planned.map((m, i) =>
    m !== null && (types[i]!.type === MYSQL_TYPE_BIT || types[i]!.type === MYSQL_TYPE_GEOMETRY) ? empty : m,
  );
  return {
    maskers,
    types,
    encodings: types.map((t) => (columnEncoding(t) === 'utf8' ? 'utf8' : 'latin1')),
    fields: newRowFields(types.length),
  };
}

/** The text row with masked values, `payload` itself when nothing changed, null when malformed. */
export function maskTextRow(payload: Buffer, plan: RowMaskPlan): Buffer | null {
  const f = plan.fields;
  if (!scanTextRow(payload, f)) return null;
  let repl: Map<number, Uint8Array> | null = null;
  for (let i = 0; i < plan.maskers.length; i++) {
    const masker = plan.maskers[i];
    if (!masker || f.lenenc[i] !== 1) continue;
    const masked = maskBytes(payload, f.dataStart[i], f.fieldEnd[i], masker, plan.encodings[i]);
    if (masked === null) continue;
    repl ??= new Map();
    repl.set(i, masked);
  }
  return repl === null ? payload : rewriteRowFields(payload, f, repl);
}

/** The binary row with masked values (non-lenenc masked values become NULL); null when malformed. */
export function maskBinaryRow(payload: Buffer, plan: RowMaskPlan): Buffer | null {
  const f = plan.fields;
  const n = plan.types.length;
  if (!scanBinaryRow(payload, plan.types, f)) return null;
  const bitmapSize = binaryNullBitmapSize(n);
  let bitmap: Buffer | null = null;
  const replaced: (Uint8Array | null)[] = new Array(n).fill(null);
  let changed = false;
  for (let i = 0; i < n; i++) {
    const masker = plan.maskers[i];
    if (!masker || f.fieldStart[i] < 0) continue;
    if (f.lenenc[i] === 1) {
      const masked = maskBytes(payload, f.dataStart[i], f.fieldEnd[i], masker, plan.encodings[i]);
      if (masked === null) continue;
      replaced[i] = masked;
    } else {
      bitmap ??= Buffer.from(payload.subarray(1, 1 + bitmapSize));
      const bit = i + 2;
      bitmap[bit >> 3] |= 1 << (bit & 7);
      f.fieldStart[i] = -1;
    }
    changed = true;
  }
  if (!changed) return payload;
  const parts: Uint8Array[] = [payload.subarray(0, 1), bitmap ?? payload.subarray(1, 1 + bitmapSize)];
  for (let i = 0; i < n; i++) {
    const value = replaced[i];
    if (value !== null) parts.push(encodeLenencInt(value.length), value);
    else if (f.fieldStart[i] >= 0) parts.push(payload.subarray(f.fieldStart[i], f.fieldEnd[i]));
  }
  return Buffer.concat(parts);
}

function empty(): string {
  return '';
}

function maskBytes(
  payload: Buffer,
  start: number,
  end: number,
  masker: ValueMasker,
  encoding: BufferEncoding,
): Uint8Array | null {
  const masked = masker(payload.toString(encoding, start, end));
  return masked === null ? null : Buffer.from(masked, encoding);
}
