/**
 * Recorded text is shown as text, never as markup: components put it in text nodes only (no
 * innerHTML anywhere in the dashboard). On top of that, control characters, bidi overrides and
 * invisible characters are made visible as the HTML export shows them (src/replay/text-pieces.ts),
 * so a recording cannot hide or reorder what it shows.
 */
import { type Piece, pieces } from '../../src/replay/text-pieces.js';

export { type Piece, pieces };

const join = (ps: Piece[]) => ps.map((p) => p.text).join('');

/** Multi-line text (SQL) as one string: newlines and tabs kept. */
export function safe(s: string): string {
  return join(pieces(s));
}

/** One-line text (attributes, labels, lists) as one string: a newline shown as ↵. */
export function safeLine(s: string): string {
  return join(pieces(s, true));
}

export interface SnippetPart extends Piece {
  readonly match: boolean;
}

/** A search snippet split at the server's match markers (U+0001 … U+0002), as one-line pieces. */
export function snippetParts(snippet: string): SnippetPart[] {
  const out: SnippetPart[] = [];
  let match = false;
  for (const part of snippet.split(/([\u0001\u0002])/)) {
    if (part === '\u0001') match = true;
    else if (part === '\u0002') match = false;
    else if (part) for (const p of pieces(part, true)) out.push({ ...p, match });
  }
  return out;
}
