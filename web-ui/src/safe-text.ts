/**
 * Recorded text is shown as text, never as markup: components put it in text nodes only (no
 * innerHTML anywhere in the dashboard). On top of that, control characters, bidi overrides and
 * invisible characters are made visible with the terminal's convention (src/replay/sanitize.ts),
 * so a recording cannot hide or reorder what it shows. Two things differ from the terminal:
 *  - C0 controls are named (⟨ESC⟩, ⟨BEL⟩, ⟨CR⟩, ⟨NUL⟩, ⟨DEL⟩) rather than drawn as control pictures
 *    (␛, ␇): the fonts browsers commonly have lack the U+2400 block and draw them all as one box.
 *  - Line breaks and tabs are ordinary SQL and never look alarming. Multi-line text keeps them (a
 *    CRLF is one line break: a browser cannot be moved by a CR). One-line text shows a line break
 *    as a muted ↵, so that `-- note↵drop table t` cannot pass for one commented line, and keeps a
 *    tab, which a browser draws as blank space.
 */
import { marker, splitUnsafe } from '../../src/replay/sanitize.js';

/** A run of recorded text, or the marker that stands for one character of it. */
export interface Piece {
  readonly text: string;
  /** `text`: recorded text as is; `break`: a line break in one-line text; `control`: a marker. */
  readonly kind: 'text' | 'break' | 'control';
  /** For markers, what the character was (a tooltip). */
  readonly title?: string;
}

/** Recorded text cut into what can be shown as it is and markers (`line`: one-line text). */
export function pieces(s: string, line = false): Piece[] {
  const out: Piece[] = [];
  splitUnsafe(s.replace(/\r\n/g, '\n'), { singleLine: line }).forEach((part, i) => {
    if (i % 2 === 0) {
      if (part) out.push({ text: part, kind: 'text' });
    } else {
      out.push(markerPiece(part));
    }
  });
  return out;
}

function markerPiece(c: string): Piece {
  const code = c.codePointAt(0)!;
  if (c === '\n') return { text: '↵', kind: 'break', title: 'line break' };
  if (c === '\t') return { text: '\t', kind: 'text' };
  const hex = code.toString(16).toUpperCase().padStart(4, '0');
  const text = marker(c, 'names');
  if (code < 0x20 || code === 0x7f)
    return { text, kind: 'control', title: `control character U+${hex} (${text.slice(1, -1)})` };
  if (text.startsWith('⟨x')) return { text, kind: 'control', title: 'a byte that is not valid UTF-8' };
  return { text, kind: 'control', title: `an invisible or control character (U+${hex})` };
}

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
