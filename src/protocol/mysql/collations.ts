/**
 * Handshake collation ids (one byte: ids below 256) of the character sets in which the second
 * byte of a multi-byte character may be 0x5c (backslash): the server then reads a quote that a
 * UTF-8 reader of the same bytes sees escaped (`e4 b8 ad 5c 27`: 中\' in UTF-8, in GBK a
 * character and a closing quote). Ids from MariaDB 10.11 / MySQL 8 `information_schema.collations`.
 */
const QUOTE_HIDING: ReadonlyMap<number, string> = new Map([
  [1, 'big5'],
  [84, 'big5'],
  [13, 'sjis'],
  [88, 'sjis'],
  [28, 'gbk'],
  [87, 'gbk'],
  [95, 'cp932'],
  [96, 'cp932'],
  [248, 'gb18030'],
  [249, 'gb18030'],
  [250, 'gb18030'],
]);

/** The character set of a handshake collation id when it is one of those, else null. */
export function quoteHidingCharset(collation: number): string | null {
  return QUOTE_HIDING.get(collation) ?? null;
}
