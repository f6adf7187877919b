/**
 * A search result from a matched row and its decoded event, the same for every store: the
 * snippet is built from the stored text (search-text.ts), never from what an index holds, so it
 * works alike for clear and blind-indexed (encrypted) recordings.
 */
import type { SessionEvent } from '../model/session.js';
import { buildSnippet, type SearchTerm } from './search-text.js';
import { type SearchHit, SNIPPET_MATCH_START } from './session-store.js';

export interface HitRow {
  readonly sessionId: string;
  readonly seq: number;
  readonly atUs: number;
  readonly user: string;
  readonly target: string;
  readonly failed: boolean | null;
}

export function toHit(r: HitRow, event: SessionEvent, terms: readonly SearchTerm[]): SearchHit {
  const sql = event.kind === 'query' || event.kind === 'denied' ? event.sql : '';
  const params = event.kind === 'query' ? event.params : undefined;
  let snippet = buildSnippet(sql, terms);
  if (!snippet.includes(SNIPPET_MATCH_START) && params && params.length > 0) {
    const fromParams = buildSnippet(params.filter((p) => p !== null).join(' '), terms);
    if (fromParams.includes(SNIPPET_MATCH_START)) snippet = fromParams;
  }
  return {
    sessionId: r.sessionId,
    seq: r.seq,
    atUs: r.atUs,
    user: r.user,
    target: r.target,
    kind: event.kind === 'denied' ? 'denied' : 'query',
    sql,
    ...(params !== undefined ? { params } : {}),
    snippet,
    failed: r.failed,
  };
}
