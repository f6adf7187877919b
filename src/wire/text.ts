/**
 * Lossless text from wire bytes. Statement text from a client is normally UTF-8, but nothing
 * forces it to be; `buf.toString('utf8')` would turn bad bytes into U+FFFD and lose them. These
 * helpers use the "surrogate escape" convention (as Python's surrogateescape): each byte of an
 * invalid sequence becomes the lone surrogate U+DC80+byte (bytes 0x80–0xFF only; ASCII is
 * always valid). Recordings keep such strings exactly (JSON escapes lone surrogates), replay
 * shows them as ⟨xNN⟩ (replay/sanitize.ts), and `encodeWireText` gives back the original bytes.
 * Valid UTF-8 (the common case) takes the fast path and is decoded by Node itself.
 */
import { isUtf8 } from 'node:buffer';

/** Text from wire bytes in a session's encoding (decodeWireText when it is UTF-8 or unknown). */
export type TextDecode = (bytes: Uint8Array) => string;

export function decodeWireText(bytes: Uint8Array): string {
  if (isUtf8(bytes)) return Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8');
  let out = '';
  let i = 0;
  while (i < bytes.length) {
    const len = sequenceLength(bytes, i);
    if (len === 0) {
      out += String.fromCharCode(0xdc00 + bytes[i]!);
      i++;
      continue;
    }
    out += Buffer.from(bytes.buffer, bytes.byteOffset + i, len).toString('utf8');
    i += len;
  }
  return out;
}

/** Length of the valid UTF-8 sequence at i, or 0 (RFC 3629 section 4 well-formed sequences). */
function sequenceLength(b: Uint8Array, i: number): number {
  const c = b[i]!;
  if (c < 0x80) return 1;
  const cont = (k: number, lo = 0x80, hi = 0xbf): boolean =>
    i + k < b.length && b[i + k]! >= lo && b[i + k]! <= hi;
  if (c >= 0xc2 && c <= 0xdf) return cont(1) ? 2 : 0;
  if (c === 0xe0) return cont(1, 0xa0) && cont(2) ? 3 : 0;
  if ((c >= 0xe1 && c <= 0xec) || c === 0xee || c === 0xef) return cont(1) && cont(2) ? 3 : 0;
  if (c === 0xed) return cont(1, 0x80, 0x9f) && cont(2) ? 3 : 0;
  if (c === 0xf0) return cont(1, 0x90) && cont(2) && cont(3) ? 4 : 0;
  if (c >= 0xf1 && c <= 0xf3) return cont(1) && cont(2) && cont(3) ? 4 : 0;
  if (c === 0xf4) return cont(1, 0x80, 0x8f) && cont(2) && cont(3) ? 4 : 0;
  return 0;
}

/** The bytes `decodeWireText` came from. */
export function encodeWireText(text: string): Buffer {
  if (!/[\udc80-\udcff]/.test(text)) return Buffer.from(text, 'utf8');
  const parts: Buffer[] = [];
  let run = '';
  for (let i = 0; i < text.length; i++) {
    const code = text.charCodeAt(i);
    const lone = code >= 0xdc80 && code <= 0xdcff && !(i > 0 && isHigh(text.charCodeAt(i - 1)));
    if (lone) {
      parts.push(Buffer.from(run, 'utf8'), Buffer.of(code - 0xdc00));
      run = '';
    } else run += text[i];
  }
  parts.push(Buffer.from(run, 'utf8'));
  return Buffer.concat(parts);
}

function isHigh(code: number): boolean {
  return code >= 0xd800 && code <= 0xdbff;
}
