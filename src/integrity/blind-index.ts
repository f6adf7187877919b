/**
 * A keyed blind index for search over encrypted recordings. Each word of a statement or
 * parameter is normalised (Unicode NFKD, combining marks dropped, lower-cased) and replaced by
 * a token: "k" + the first 64 bits of HMAC-SHA256(index key, word), in hex. The full-text index
 * then holds tokens instead of words, in the statement's word order, so whole words and phrases
 * of whole words match, and nothing else: no prefixes, no substrings, no fuzzy matches.
 *
 * What it reveals to someone holding the store file without the key: how many words each
 * statement has, and which statements share a word (equal words give equal tokens in every
 * session), so frequent words can be guessed by frequency. It reveals no word itself.
 */
import { createHmac } from 'node:crypto';

const WORD = /[\p{L}\p{N}]+/gu;
const MARKS = /\p{M}/gu;
const CACHE_LIMIT = 50_000;

/** Words as the index sees them: letters and digits, case and accents folded. */
export function normalizedWords(text: string): string[] {
  return normalizeText(text).match(WORD) ?? [];
}

export function normalizeText(text: string): string {
  return text.normalize('NFKD').replace(MARKS, '').toLowerCase();
}

export class BlindIndex {
  private readonly cache = new Map<string, string>();

  constructor(private readonly key: Buffer) {}

  token(word: string): string {
    let t = this.cache.get(word);
    if (t === undefined) {
      t = `k${createHmac('sha256', this.key).update(word, 'utf8').digest('hex').slice(0, 16)}`;
      if (this.cache.size >= CACHE_LIMIT) this.cache.clear();
      this.cache.set(word, t);
    }
    return t;
  }

  /** The indexed form of a text: its tokens in order, space-separated. */
  text(text: string): string {
    return normalizedWords(text)
      .map((w) => this.token(w))
      .join(' ');
  }
}
