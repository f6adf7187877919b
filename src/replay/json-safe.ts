/**
 * JSON whose bytes are safe on a terminal and whose values are exactly the recorded ones.
 * JSON.stringify already escapes C0 controls and lone surrogates; it leaves DEL, C1 controls
 * (U+009B is a one-byte CSI for many terminals), bidi overrides and invisible characters raw.
 * Those only ever occur inside JSON strings, so writing them as \uXXXX escapes keeps the
 * document equal while no raw control reaches the viewer. The set matches sanitize.ts.
 */
const UNSAFE_IN_JSON =
  /[\u007f-\u009f\u061c\u200b\u200e\u200f\u2028-\u202e\u2060-\u2064\u2066-\u2069\ufeff\ufff9-\ufffb]|\udb40[\udc00-\udc7f]/g;

function unicodeEscape(c: string): string {
  let out = '';
  for (let i = 0; i < c.length; i++) out += `\\u${c.charCodeAt(i).toString(16).padStart(4, '0')}`;
  return out;
}

/** JSON.stringify, with every character a terminal could act on written as a \u escape. */
export function terminalSafeJson(value: unknown, indent?: number): string {
  return JSON.stringify(value, null, indent).replace(UNSAFE_IN_JSON, unicodeEscape);
}
