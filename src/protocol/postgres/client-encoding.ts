/**
 * Text in the session's client_encoding. The server converts everything it exchanges with a
 * client into that encoding and reads the client's bytes in it, so a LATIN1 client's `café`
 * arrives as 63 61 66 e9: decoded as UTF-8 it would be recorded as `caf⟨xe9⟩` and no search for
 * `café` would find it. Decoded in the client's encoding it is recorded as the server read it.
 *
 * UTF8 and SQL_ASCII (no conversion: bytes are whatever the client sent) keep the lossless UTF-8
 * decoding of wire/text.ts. The other encodings go through the WHATWG decoders Node has; bytes
 * that do not decode (which the server would have refused) fall back to the lossless decoding.
 */
import { decodeWireText, type TextDecode } from '../../wire/text.js';

/** PostgreSQL's encoding names (as ParameterStatus reports them) and the WHATWG label for each. */
const LABELS: Readonly<Record<string, string>> = {
  LATIN2: 'iso-8859-2',
  LATIN3: 'iso-8859-3',
  LATIN4: 'iso-8859-4',
  LATIN5: 'iso-8859-9',
  LATIN6: 'iso-8859-10',
  LATIN7: 'iso-8859-13',
  LATIN8: 'iso-8859-14',
  LATIN9: 'iso-8859-15',
  ISO_8859_5: 'iso-8859-5',
  ISO_8859_6: 'iso-8859-6',
  ISO_8859_7: 'iso-8859-7',
  ISO_8859_8: 'iso-8859-8',
  WIN866: 'ibm866',
  WIN874: 'windows-874',
  WIN1250: 'windows-1250',
  WIN1251: 'windows-1251',
  WIN1253: 'windows-1253',
  WIN1254: 'windows-1254',
  WIN1255: 'windows-1255',
  WIN1256: 'windows-1256',
  WIN1257: 'windows-1257',
  WIN1258: 'windows-1258',
  KOI8R: 'koi8-r',
  KOI8U: 'koi8-u',
  EUC_JP: 'euc-jp',
  EUC_KR: 'euc-kr',
  EUC_CN: 'gbk',
  UHC: 'euc-kr',
  SJIS: 'shift_jis',
  BIG5: 'big5',
  GBK: 'gbk',
  GB18030: 'gb18030',
};

const cache = new Map<string, TextDecode>();

/** How to read text in `encoding` (a client_encoding value; case and `-`/`_` as PostgreSQL allows). */
export function decoderFor(encoding: string): TextDecode {
  const name = encoding.toUpperCase().replace(/-/g, '_');
  let decode = cache.get(name);
  if (decode) return decode;
  decode = build(name);
  cache.set(name, decode);
  return decode;
}

/** windows-1252 at 0x80–0x9F (the rest is ISO-8859-1); its five unused bytes stay C1 controls. */
const WIN1252_HIGH =
  '\u20ac\u0081\u201a\u0192\u201e\u2026\u2020\u2021\u02c6\u2030\u0160\u2039\u0152\u008d\u017d\u008f' +
  '\u0090\u2018\u2019\u201c\u201d\u2022\u2013\u2014\u02dc\u2122\u0161\u203a\u0153\u009d\u017e\u0178';

const latin1 = (b: Uint8Array): string =>
  Buffer.from(b.buffer, b.byteOffset, b.byteLength).toString('latin1');

function build(name: string): TextDecode {
  if (name === 'LATIN1' || name === 'ISO_8859_1') return latin1;
  // Node's TextDecoder reads "windows-1252" as ISO-8859-1 (its latin1 fast path), so by hand.
  if (name === 'WIN1252')
    return (b) => latin1(b).replace(/[\u0080-\u009f]/g, (c) => WIN1252_HIGH[c.charCodeAt(0) - 0x80]!);
  const label = LABELS[name];
  if (label === undefined) return decodeWireText;
  let decoder: TextDecoder;
  try {
    decoder = new TextDecoder(label, { fatal: true });
  } catch {
    return decodeWireText; // a Node built without this decoder
  }
  return (b) => {
    try {
      return decoder.decode(b);
    } catch {
      return decodeWireText(b);
    }
  };
}
