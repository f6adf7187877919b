/**
 * What a user types into `dbtape search`, dialect-free: words that must all appear (AND),
 * "quoted phrases", and `prefix*`. Words are split the way the index splits them (letters and
 * digits; `user_id` is the phrase "user id"). Snippets are built here, from the stored text,
 * so they work the same for every store and, later, for encrypted recordings.
 */

import { StoreError } from './errors.js';
import { SNIPPET_MATCH_END, SNIPPET_MATCH_START } from './session-store.js';

export interface SearchTerm {
  /** The words of the term, lower-cased, in order (more than one: a phrase). */
  readonly words: readonly string[];
  readonly prefix: boolean;
}

const WORD = /[\p{L}\p{N}]+/gu;

export function parseSearchText(text: string): SearchTerm[] {
  const terms: SearchTerm[] = [];
  const re = /"([^"]*)"|(\S+)/g;
  for (let m = re.exec(text); m; m = re.exec(text)) {
    const raw = m[1] ?? m[2]!;
    const prefix = m[2] !== undefined && raw.endsWith('*');
    const words = raw.toLowerCase().match(WORD) ?? [];
    if (words.length > 0) terms.push({ words, prefix });
  }
  if (terms.length === 0) {
    throw new StoreError(
      'DBTAPE_STORE_BAD_QUERY',
      'dbtape: search needs at least one word (letters or digits); punctuation and symbols such as emoji are not indexed',
    );
  }
  return terms;
}

/** An FTS5 MATCH expression: each term a quoted phrase, all required. */
export function toFts5Query(terms: readonly SearchTerm[]): string {
  return terms.map((t) => `"${t.words.join(' ')}"${t.prefix ? '*' : ''}`).join(' AND ');
}

const SNIPPET_WIDTH = 160;
const CONTEXT_BEFORE = 40;

/**
 * An excerpt of `text` around the first match, with every match of a term's words marked.
 * Marker characters already in the text are shown as control pictures so they cannot fake a match.
 */
export function buildSnippet(text: string, terms: readonly SearchTerm[]): string {
  const clean = text.replace(/[\u0001\u0002]/g, (c) => (c === '\u0001' ? '\u2401' : '\u2402'));
  const ranges = findMatches(clean, terms);
  const first = ranges[0]?.[0] ?? 0;
  let from = Math.max(0, first - CONTEXT_BEFORE);
  // Start at a word boundary when one is near, so the excerpt does not begin mid-word.
  const space = clean.lastIndexOf(' ', first);
  if (from > 0 && space >= from && first - space < CONTEXT_BEFORE) from = space + 1;
  const to = Math.min(clean.length, from + SNIPPET_WIDTH);
  let out = from > 0 ? '…' : '';
  let at = from;
  for (const [s, e] of ranges) {
    if (s < at || e > to) continue;
    out += clean.slice(at, s) + SNIPPET_MATCH_START + clean.slice(s, e) + SNIPPET_MATCH_END;
    at = e;
  }
  out += clean.slice(at, to) + (to < clean.length ? '…' : '');
  return out;
}

function findMatches(text: string, terms: readonly SearchTerm[]): [number, number][] {
  const ranges: [number, number][] = [];
  for (const term of terms) {
    const words = term.words.map(escapeRegExp);
    const tail = term.prefix ? '[\\p{L}\\p{N}]*' : '(?![\\p{L}\\p{N}])';
    const re = new RegExp(`(?<![\\p{L}\\p{N}])${words.join('[^\\p{L}\\p{N}]+')}${tail}`, 'giu');
    for (let m = re.exec(text); m; m = re.exec(text)) {
      ranges.push([m.index, m.index + m[0].length]);
      if (m[0].length === 0) re.lastIndex++;
    }
  }
  ranges.sort((a, b) => a[0] - b[0]);
  return ranges;
}

function escapeRegExp(s: string): string {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

/**
 * The MATCH expression for a store that holds encrypted recordings: each term matches either
 * its words in clear (recordings written without a key) or their blind-index tokens (see
 * integrity/blind-index.ts). Tokens match whole words only, so a prefix term is refused.
 */
export function toBlindFts5Query(terms: readonly SearchTerm[], token: (text: string) => string): string {
  return terms
    .map((t) => {
      refusePrefixWhenBlind(t);
      return `("${t.words.join(' ')}" OR "${token(t.words.join(' '))}")`;
    })
    .join(' AND ');
}

/**
 * Blind-index tokens stand for whole words, so a store holding encrypted recordings cannot match
 * a prefix term (both stores refuse it the same way).
 */
export function refusePrefixWhenBlind(term: SearchTerm): void {
  if (!term.prefix) return;
  throw new StoreError(
    'DBTAPE_STORE_BAD_QUERY',
    'dbtape: this store holds encrypted recordings, whose search index matches whole words only: search for the whole word instead of a prefix (word*)',
  );
}
