/**
 * Rewrites the human-readable text of an ErrorResponse or NoticeResponse (PostgreSQL docs, "Error
 * and Notice Message Fields": a field type byte and a C string per field, then a zero), keeping
 * every other field as it is.
 */

/** Fields whose text may quote values: the message, its detail and its hint. */
const TEXT_FIELDS = new Set([0x4d, 0x44, 0x48]); // M, D, H

/**
 * The whole message (type byte and length included) with `rewrite` applied to its message, detail
 * and hint fields; null when `rewrite` changed none of them or the body is not well formed.
 */
export function rewriteNoticeText(
  type: number,
  body: Buffer,
  rewrite: (text: string) => string | null,
): Buffer | null {
  const parts: Buffer[] = [];
  let changed = false;
  let pos = 0;
  while (pos < body.length && body[pos] !== 0) {
    const field = body[pos]!;
    const end = body.indexOf(0, pos + 1);
    if (end < 0) return null;
    const value = body.subarray(pos + 1, end);
    const next = TEXT_FIELDS.has(field) ? rewrite(value.toString('utf8')) : null;
    if (next === null) parts.push(body.subarray(pos, end + 1));
    else {
      changed = true;
      parts.push(Buffer.from([field]), Buffer.from(next, 'utf8'), Buffer.from([0]));
    }
    pos = end + 1;
  }
  if (!changed) return null;
  parts.push(Buffer.from([0]));
  const rest = Buffer.concat(parts);
  const head = Buffer.allocUnsafe(5);
  head[0] = type;
  head.writeInt32BE(rest.length + 4, 1);
  return Buffer.concat([head, rest]);
}
