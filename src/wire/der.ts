/**
 * Reading DER (X.690 section 10) far enough to walk a certificate or a public key's fixed
 * structure: one tag-length-value at a time. Throws RangeError on lengths that run past the
 * buffer, so a malformed certificate is an error and never a read of unrelated bytes.
 */
export interface Tlv {
  readonly tag: number;
  readonly contentStart: number;
  /** Just past the content: where the next sibling starts. */
  readonly end: number;
}

export function readTlv(buf: Uint8Array, pos: number, limit = buf.length): Tlv {
  if (pos + 2 > limit) throw new RangeError('DER value runs past its container');
  const tag = buf[pos]!;
  let len = buf[pos + 1]!;
  let start = pos + 2;
  if (len & 0x80) {
    const n = len & 0x7f;
    // Four length bytes already describe 4 GiB; more (or the indefinite form, n = 0) is not DER.
    if (n === 0 || n > 4 || start + n > limit) throw new RangeError('DER length is malformed');
    len = 0;
    for (let i = 0; i < n; i++) len = len * 256 + buf[start + i]!;
    start += n;
  }
  if (start + len > limit) throw new RangeError('DER value runs past its container');
  return { tag, contentStart: start, end: start + len };
}
