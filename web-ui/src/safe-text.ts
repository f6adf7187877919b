/**
 * Recorded text is shown as text, never as markup: components put it in text nodes only (no
 * innerHTML anywhere in the dashboard). On top of that, control characters, bidi overrides and
 * invisible characters are made visible with the same convention as the terminal (␛, ⟨U+202E⟩),
 * so a recording cannot hide or reorder what it shows.
 */
import { safeForTerminal } from '../../src/replay/sanitize.js';

/** Multi-line text (SQL): newlines and tabs kept. */
export function safe(s: string): string {
  return safeForTerminal(s);
}

/** One-line text (table cells, lists): newlines and tabs shown as ␤ and ␉. */
export function safeLine(s: string): string {
  return safeForTerminal(s, { singleLine: true });
}

export interface SnippetPart {
  readonly text: string;
  readonly match: boolean;
}

/** A search snippet split at the server's match markers (U+0001 … U+0002), each part made safe. */
export function snippetParts(snippet: string): SnippetPart[] {
  const out: SnippetPart[] = [];
  let match = false;
  for (const part of snippet.split(/([\u0001\u0002])/)) {
    if (part === '\u0001') match = true;
    else if (part === '\u0002') match = false;
    else if (part) out.push({ text: safeLine(part), match });
  }
  return out;
}
