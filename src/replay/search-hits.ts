/** `dbtape search` results for people: where each hit is, and its snippet with the match highlighted. */
import { type SearchHit, SNIPPET_MATCH_START } from '../store/session-store.js';
import { formatTimestampShort } from './format.js';
import { highlightSnippet } from './sanitize.js';
import { paramLiteral, safeLine } from './session-renderer.js';

export interface Highlight {
  readonly open: string;
  readonly close: string;
}

/** Bold on a terminal (SGR 1 / 22, ECMA-48); visible brackets when the output is a file or a pipe. */
export const TERMINAL_HIGHLIGHT: Highlight = { open: '\u001b[1m', close: '\u001b[22m' };
export const PLAIN_HIGHLIGHT: Highlight = { open: '[[', close: ']]' };

export function hitLines(hit: SearchHit, hl: Highlight): string[] {
  const outcome = hit.kind === 'denied' ? '  denied' : hit.failed === true ? '  failed' : '';
  const lines = [
    `${safeLine(hit.sessionId)} #${hit.seq}  ${formatTimestampShort(hit.atUs)}  ${safeLine(hit.user)}@${safeLine(hit.target)}${outcome}`,
    `    ${highlightSnippet(hit.snippet, hl.open, hl.close, { singleLine: true })}`,
  ];
  const fromParams = snippetFromParams(hit);
  if (hit.params && hit.params.length > 0 && !fromParams) {
    const shown = hit.params.slice(0, 10).map(paramLiteral).join(', ');
    lines.push(`    params: ${shown}${hit.params.length > 10 ? `, … (${hit.params.length} in all)` : ''}`);
  } else if (fromParams) {
    lines.push(
      `    in the parameters of: ${safeLine(hit.sql.length > 120 ? `${hit.sql.slice(0, 119)}…` : hit.sql)}`,
    );
  }
  return lines;
}

/** The store builds the snippet from the parameters when the statement text itself did not match. */
function snippetFromParams(hit: SearchHit): boolean {
  if (!hit.params || hit.params.length === 0 || !hit.snippet.includes(SNIPPET_MATCH_START)) return false;
  const core = hit.snippet
    .replace(/[\u0001\u0002]/g, '')
    .replace(/^…/, '')
    .replace(/…$/, '');
  return !hit.sql.replace(/[\u0001\u0002]/g, (c) => (c === '\u0001' ? '\u2401' : '\u2402')).includes(core);
}

export function searchLines(hits: readonly SearchHit[], hl: Highlight, limit: number): string[] {
  if (hits.length === 0) return ['no matches'];
  const lines = hits.flatMap((h) => [...hitLines(h, hl), '']);
  const more = hits.length >= limit ? ` (the best ${limit}; use --limit to see more)` : '';
  lines.push(`${hits.length} match${hits.length === 1 ? '' : 'es'}${more}`);
  return lines;
}
