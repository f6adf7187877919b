/**
 * Recorded text cut into what a rich viewer (the dashboard, the HTML export) shows as it is and the
 * markers that stand for one character each, with the terminal's convention (sanitize.ts) adapted
 * to a browser, so that both viewers show a recording the same way:
 *  - C0 controls are named (⟨ESC⟩, ⟨BEL⟩, ⟨CR⟩, ⟨NUL⟩, ⟨DEL⟩) rather than drawn as control pictures
 *    (␛, ␇): the fonts browsers commonly have lack the U+2400 block and draw them all as one box.
 *  - Line breaks and tabs are ordinary SQL and never look alarming. Multi-line text keeps them (a
 *    CRLF is one line break: a browser cannot be moved by a CR). One-line text shows a line break
 *    as a muted ↵, so that `-- note↵drop table t` cannot pass for one commented line, and keeps a
 *    tab, which a browser draws as blank space.
 */
import { marker, splitUnsafe } from './sanitize.js';

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
