/**
 * Recorded text on screen: cut into text and markers (safe-text.ts), the markers for control and
 * invisible characters (⟨ESC⟩, ⟨U+202E⟩, ⟨xff⟩) set apart in a styled span so that they cannot pass
 * for ordinary text, a line break in one-line text (↵) muted. Only the pieces that safe-text made
 * markers are styled: recorded text that merely looks like one stays plain. Text nodes only.
 */
import { type Piece, pieces } from '../safe-text';

export function PieceView({ p }: { p: Piece }) {
  if (p.kind === 'text') return <>{p.text}</>;
  return (
    <span class={p.kind === 'control' ? 'ctl' : 'nl'} title={p.title}>
      {p.text}
    </span>
  );
}

export function Recorded({ text, line = false }: { text: string; line?: boolean }) {
  return (
    <>
      {pieces(text, line).map((p, i) => (
        <PieceView key={i} p={p} />
      ))}
    </>
  );
}
