/**
 * Binary arrays (array_send in src/backend/utils/adt/arrayfuncs.c) rendered as array_out prints
 * them, for the recording: pgjdbc sends `setArray` and `createArrayOf` values this way, and as hex
 * they could be neither read nor searched.
 */

/** Array type OID to its element type OID, for the element types recordings decode. */
export const ARRAY_ELEMENTS: ReadonlyMap<number, number> = new Map([
  [1000, 16], // _bool
  [1001, 17], // _bytea
  [1002, 18], // _char
  [1003, 19], // _name
  [1005, 21], // _int2
  [1007, 23], // _int4
  [1009, 25], // _text
  [1014, 1042], // _bpchar
  [1015, 1043], // _varchar
  [1016, 20], // _int8
  [1021, 700], // _float4
  [1022, 701], // _float8
  [1028, 26], // _oid
  [1115, 1114], // _timestamp
  [1182, 1082], // _date
  [1185, 1184], // _timestamptz
  [1231, 1700], // _numeric
  [2951, 2950], // _uuid
  [199, 114], // _json
  [3807, 3802], // _jsonb
]);

/** More dimensions than PostgreSQL allows (MAXDIM) mean the bytes are not an array. */
const MAXDIM = 6;

/**
 * `{1,NULL,"a b"}` for a binary array of type `arrayOid`, or null when the bytes are not one of a
 * known element type (the caller then records hex). `element` renders one binary element.
 */
export function renderBinaryArray(
  v: Buffer,
  arrayOid: number,
  element: (value: Buffer, oid: number) => string | null,
): string | null {
  const elementOid = ARRAY_ELEMENTS.get(arrayOid);
  if (elementOid === undefined || v.length < 12) return null;
  const ndim = v.readInt32BE(0);
  if (ndim < 0 || ndim > MAXDIM || v.readUInt32BE(8) !== elementOid) return null;
  if (ndim === 0) return v.length === 12 ? '{}' : null;
  if (v.length < 12 + ndim * 8) return null;
  const dims: number[] = [];
  let bounds = '';
  let allFromOne = true;
  let total = 1;
  for (let d = 0; d < ndim; d++) {
    const size = v.readInt32BE(12 + d * 8);
    const lower = v.readInt32BE(16 + d * 8);
    total *= size;
    // Each element takes at least its 4-byte length: a larger count is not an array.
    if (size < 0 || total * 4 > v.length) return null;
    dims.push(size);
    bounds += `[${lower}:${lower + size - 1}]`;
    if (lower !== 1) allFromOne = false;
  }
  const items: string[] = [];
  let at = 12 + ndim * 8;
  for (let i = 0; i < total; i++) {
    if (at + 4 > v.length) return null;
    const len = v.readInt32BE(at);
    at += 4;
    if (len === -1) {
      items.push('NULL');
      continue;
    }
    if (len < 0 || at + len > v.length) return null;
    const text = element(v.subarray(at, at + len), elementOid);
    if (text === null) return null;
    items.push(quoteElement(text));
    at += len;
  }
  if (at !== v.length) return null;
  // array_out shows the bounds only when one is not 1.
  return (allFromOne ? '' : `${bounds}=`) + nest(items, dims, 0, { next: 0 });
}

function nest(
  items: readonly string[],
  dims: readonly number[],
  d: number,
  cursor: { next: number },
): string {
  const parts: string[] = [];
  for (let i = 0; i < dims[d]!; i++) {
    parts.push(d === dims.length - 1 ? items[cursor.next++]! : nest(items, dims, d + 1, cursor));
  }
  return `{${parts.join(',')}}`;
}

/** array_out's quoting: empty, NULL, and anything with braces, quotes, commas, backslashes or spaces. */
function quoteElement(s: string): string {
  if (s !== '' && !/^null$/i.test(s) && !/[{}",\\\s]/.test(s)) return s;
  return `"${s.replace(/[\\"]/g, '\\$&')}"`;
}
