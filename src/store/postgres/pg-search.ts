/**
 * Full-text search in the PostgreSQL store, in the query language of store/search-text.ts.
 *
 * What is indexed is not the raw text: PostgreSQL's parser would keep `zed@example.org` or
 * `1.5` as one token where the SQLite store (and search-text.ts) sees the words `zed example
 * org` and `1 5`. Text is therefore split into words here, the way the blind index and the
 * query parser split it (runs of letters and digits, accents and case folded), and only those
 * words, separated by spaces, reach `to_tsvector('simple', …)`; queries reach `to_tsquery` as
 * the same words, so both sides agree on every word.
 */
import { type BlindIndex, normalizedWords } from '../../integrity/blind-index.js';
import { refusePrefixWhenBlind, type SearchTerm } from '../search-text.js';

/**
 * Most characters of words indexed per statement with its parameters: a tsvector holds at
 * most 1 MB, and a batch whose statement went over would fail as a whole. Words past this are
 * not searchable; the recording keeps the whole statement.
 */
export const MAX_INDEXED_CHARS = 200_000;

/** Words (or tokens) separated by spaces, cut at a word boundary to MAX_INDEXED_CHARS. */
export function capIndexText(words: string): string {
  if (words.length <= MAX_INDEXED_CHARS) return words;
  const cut = words.lastIndexOf(' ', MAX_INDEXED_CHARS);
  return words.slice(0, cut > 0 ? cut : MAX_INDEXED_CHARS);
}

/**
 * Stands between a statement's words and its parameters' in the index text, so that a quoted
 * phrase cannot run from one into the other (SQLite keeps them in two columns). PostgreSQL's parser
 * keeps `0.0` as one lexeme, which no query word can be: dbtape splits words at the dot.
 */
export const PART_SEPARATOR = '0.0';

/** The words of a text as the index keeps them, for `to_tsvector('simple', …)`. */
export function indexText(text: string): string {
  return capIndexText(normalizedWords(text).join(' '));
}

/** One term as `to_tsquery` input: its words in sequence (`<->`), the last a prefix if asked. */
function phrase(words: readonly string[], prefix: boolean): string {
  return words.join(' <-> ') + (prefix ? ':*' : '');
}

/** Words of a term as the index holds them (accents folded too, as indexText does). */
function termWords(t: SearchTerm): string[] {
  return normalizedWords(t.words.join(' '));
}

/** `to_tsquery('simple', …)` input for a store holding clear recordings only: all terms required. */
export function toTsQuery(terms: readonly SearchTerm[]): string {
  return terms
    .map((t) => termWords(t))
    .map((words, i) => (words.length ? phrase(words, terms[i]!.prefix) : ''))
    .filter((p) => p !== '')
    .join(' & ');
}

/**
 * For a store that holds encrypted recordings: each term matches its words in clear (sessions
 * recorded without a key) or their blind-index tokens. Tokens match whole words only, so a prefix
 * term is refused, as in the SQLite store.
 */
export function toBlindTsQuery(terms: readonly SearchTerm[], index: BlindIndex): string {
  return terms
    .map((t) => {
      refusePrefixWhenBlind(t);
      const words = termWords(t);
      if (words.length === 0) return '';
      return `(${phrase(words, false)} | ${phrase(index.text(words.join(' ')).split(' '), false)})`;
    })
    .filter((p) => p !== '')
    .join(' & ');
}
