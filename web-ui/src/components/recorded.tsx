/**
 * Recorded text on screen: made safe (safe-text.ts), then the stand-ins for control and invisible
 * characters (␛, ␀, ⟨U+202E⟩, ⟨xff⟩) are set apart in a styled span, so that they cannot pass for
 * ordinary text. Text nodes only.
 */
import { safe, safeLine } from '../safe-text';

const STAND_IN = /([\u2400-\u2421\u2424]|⟨(?:U\+[0-9A-F]{4,6}|x[0-9a-f]{2})⟩)/u;

function title(part: string): string {
  const code = part.codePointAt(0)!;
  if (part.length === 1) {
    const original = code === 0x2424 ? 0x0a : code === 0x2421 ? 0x7f : code - 0x2400;
    return `control character U+${original.toString(16).toUpperCase().padStart(4, '0')}`;
  }
  return part.startsWith('⟨x') ? 'a byte that is not valid UTF-8' : 'an invisible or control character';
}

export function Recorded({ text, line = false }: { text: string; line?: boolean }) {
  const s = line ? safeLine(text) : safe(text);
  if (!STAND_IN.test(s)) return <>{s}</>;
  return (
    <>
      {s.split(STAND_IN).map((part, i) =>
        i % 2 === 1 ? (
          <span key={i} class="ctl" title={title(part)}>
            {part}
          </span>
        ) : (
          part
        ),
      )}
    </>
  );
}
