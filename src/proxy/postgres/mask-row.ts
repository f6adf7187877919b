import type { ValueMasker } from '../../policy/index.js';
import { B } from '../../protocol/postgres/codes.js';
import type { Column } from '../../protocol/postgres/decode.js';

/**
 * Rewrites one DataRow with masked values (PostgreSQL docs, "Message Formats": DataRow is an int16
 * count, then per column an int32 length, -1 for NULL, and the bytes), fixing every length.
 *
 * Text format values are the type's text output. In binary format, text, varchar, bpchar, name,
 * json, xml and unknown are also the plain string and jsonb is a version byte then the string; any
 * other binary value a rule applies to (a number, a date, an array, an extension type) cannot be
 * masked in place and is sent as NULL.
 */

const BINARY_AS_TEXT = new Set([25, 1043, 1042, 19, 114, 142, 705]);
const JSONB = 3802;

/** The whole DataRow message (header included) with masked values, or null when nothing changed. */
export function maskDataRow(
  body: Buffer,
  plan: readonly (ValueMasker | null)[],
  columns: readonly Column[] | null,
): Buffer | null {
  const n = body.readInt16BE(0);
  let pos = 2;
  let out: (Buffer | null)[] | null = null;
  for (let i = 0; i < n; i++) {
    const len = body.readInt32BE(pos);
    pos += 4;
    const start = pos;
    if (len > 0) pos += len;
    const masker = plan[i];
    if (!masker || len < 0) continue;
    const next = maskValue(body.subarray(start, pos), masker, columns?.[i]);
    if (next === undefined) continue;
    out ??= values(body, n);
    out[i] = next;
  }
  return out ? encodeDataRow(out) : null;
}

/** undefined: unchanged; null: send SQL NULL. */
function maskValue(v: Buffer, masker: ValueMasker, col: Column | undefined): Buffer | null | undefined {
  // Without the columns (an Execute dbtape saw no Describe for) nothing is known: fail closed.
  if (!col) return null;
  if (col.format === 0 || BINARY_AS_TEXT.has(col.typeOid)) {
    const m = masker(v.toString('utf8'));
    return m === null ? undefined : Buffer.from(m, 'utf8');
  }
  if (col.typeOid === JSONB && v.length > 0 && v[0] === 1) {
    const m = masker(v.toString('utf8', 1));
    return m === null ? undefined : Buffer.concat([v.subarray(0, 1), Buffer.from(m, 'utf8')]);
  }
  return null;
}

function values(body: Buffer, n: number): (Buffer | null)[] {
  const out: (Buffer | null)[] = new Array(n);
  let pos = 2;
  for (let i = 0; i < n; i++) {
    const len = body.readInt32BE(pos);
    pos += 4;
    out[i] = len < 0 ? null : body.subarray(pos, pos + len);
    if (len > 0) pos += len;
  }
  return out;
}

function encodeDataRow(vals: readonly (Buffer | null)[]): Buffer {
  let size = 7;
  for (const v of vals) size += 4 + (v ? v.length : 0);
  const b = Buffer.allocUnsafe(size);
  b[0] = B.DataRow;
  b.writeInt32BE(size - 1, 1);
  b.writeInt16BE(vals.length, 5);
  let pos = 7;
  for (const v of vals) {
    if (v === null) {
      b.writeInt32BE(-1, pos);
      pos += 4;
    } else {
      b.writeInt32BE(v.length, pos);
      v.copy(b, pos + 4);
      pos += 4 + v.length;
    }
  }
  return b;
}
