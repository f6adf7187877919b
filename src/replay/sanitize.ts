/**
 * Terminal safety for recorded text. Recordings hold what clients sent, which can include
 * escape sequences, control characters, bidi overrides and invalid UTF-8; printing that raw
 * would let a recorded session drive the viewer's terminal (change colours, set the title,
 * rewrite the screen, hide text). Every output path renders recorded text through here.
 *
 * Convention (one, everywhere):
 *  - C0 controls and DEL become their Unicode Control Pictures: ESC → ␛, CR → ␍, NUL → ␀, DEL → ␡.
 *    \n and \t are kept (unless `singleLine`, where \n → ␤ and \t → ␉).
 *  - C1 controls (U+0080–U+009F, e.g. the one-byte CSI U+009B), bidi controls, invisible
 *    format characters, line/paragraph separators and Unicode tag characters become ⟨U+XXXX⟩.
 *    So do the characters that draw nothing or a blank (soft hyphen, Hangul fillers, braille
 *    blank, Mongolian and Khmer format characters, ...), with which `us\u00ADers` would look
 *    like `users`.
 *  - The joiners (ZWJ, ZWNJ) and variation selectors are shown too, except where text needs
 *    them: between two non-ASCII characters (emoji sequences such as 👩‍💻, Persian and Indic
 *    words), after a non-ASCII character (a selector choosing emoji or text style, or a CJK
 *    glyph variant) and in a keycap (1️⃣). Next to ASCII they only ever hide something.
 *  - Lone surrogates U+DC80–U+DCFF (invalid UTF-8 bytes kept by wire/text.ts) become
 *    ⟨xNN⟩, the original byte; other lone surrogates become ⟨U+XXXX⟩.
 *  - U+FFFD stays as it is: it is harmless and already means "undecodable".
 */
import { SNIPPET_MATCH_END, SNIPPET_MATCH_START } from '../store/session-store.js';

const REST =
  '\u007f-\u009f\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b\u200e\u200f' +
  '\u2028-\u202e\u2060-\u2064\u2066-\u206f\u2800\u3164\ufeff\uffa0\ufff9-\ufffb' +
  '\u{1bca0}-\u{1bca3}\u{1d173}-\u{1d17a}\u{e0000}-\u{e007f}\ud800-\udfff';
/** Joiners and variation selectors: harmless only in the contexts the convention above names. */
const JOINER = '[\u200c\u200d]';
const SELECTOR = '[\ufe00-\ufe0f\u{e0100}-\u{e01ef}]';
/** A character that can carry a joiner or selector: not ASCII, not itself a joiner or selector. */
const CARRIER = '[^\u0000-\u007f\u200c\u200d\ufe00-\ufe0f\u{e0100}-\u{e01ef}]';
const IN_CONTEXT =
  `(?<!${CARRIER})${JOINER}|${JOINER}(?!${CARRIER})` +
  `|(?<![0-9#*])(?<!${CARRIER})${SELECTOR}|(?<=[0-9#*])${SELECTOR}(?!\u20e3)`;
/** Multi-line mode keeps \n and \t. */
const UNSAFE = new RegExp(`[\u0000-\u0008\u000b-\u001f${REST}]|${IN_CONTEXT}`, 'gu');
const UNSAFE_SINGLE_LINE = new RegExp(`[\u0000-\u001f${REST}]|${IN_CONTEXT}`, 'gu');
/** The same, capturing, for splitUnsafe (String#split keeps captured separators). */
const SPLIT = new RegExp(`(${UNSAFE.source})`, 'u');
const SPLIT_SINGLE_LINE = new RegExp(`(${UNSAFE_SINGLE_LINE.source})`, 'u');

export interface SafeTextOptions {
  /** Also render \n and \t visibly (table cells, one-line summaries). */
  readonly singleLine?: boolean;
}

/** Returns text that contains no raw control character or terminal escape; see the convention above. */
export function safeForTerminal(s: string, options: SafeTextOptions = {}): string {
  const re = options.singleLine ? UNSAFE_SINGLE_LINE : UNSAFE;
  re.lastIndex = 0;
  if (!re.test(s)) return s;
  re.lastIndex = 0;
  return s.replace(re, visible);
}

/**
 * Splits text at the characters the convention makes visible, for renderers that set the markers
 * apart themselves (the dashboard styles them): even indices hold text to show as it is (possibly
 * empty), odd indices one character each, to show as `marker(c)`.
 */
export function splitUnsafe(s: string, options: SafeTextOptions = {}): string[] {
  const re = options.singleLine ? UNSAFE_SINGLE_LINE : UNSAFE;
  re.lastIndex = 0;
  if (!re.test(s)) return [s];
  return s.split(options.singleLine ? SPLIT_SINGLE_LINE : SPLIT);
}

/** The standard abbreviations of the C0 controls, which their control pictures draw (␛ is ESC). */
const C0_NAMES = (
  'NUL SOH STX ETX EOT ENQ ACK BEL BS TAB LF VT FF CR SO SI ' +
  'DLE DC1 DC2 DC3 DC4 NAK SYN ETB CAN EM SUB ESC FS GS RS US'
).split(' ');

/**
 * The marker for one character that the convention makes visible. With `names`, C0 controls and
 * DEL are spelled ⟨ESC⟩, ⟨BEL⟩, ⟨DEL⟩ instead of drawn as control pictures: browsers need this,
 * since common fonts (DejaVu, Liberation) lack the U+2400 block and draw ␛, ␤ and ␇ all as the
 * same missing-glyph box. The other markers (⟨U+202E⟩, ⟨xff⟩) are the same in both styles.
 */
export function marker(c: string, style: 'pictures' | 'names' = 'pictures'): string {
  const code = c.codePointAt(0)!;
  if (style === 'names' && (code < 0x20 || code === 0x7f)) return `⟨${C0_NAMES[code] ?? 'DEL'}⟩`;
  return visible(c);
}

function visible(c: string): string {
  const code = c.codePointAt(0)!;
  if (code === 0x0a) return '\u2424';
  if (code < 0x20) return String.fromCharCode(0x2400 + code);
  if (code === 0x7f) return '\u2421';
  if (code >= 0xdc80 && code <= 0xdcff) return `⟨x${(code - 0xdc00).toString(16).padStart(2, '0')}⟩`;
  return `⟨U+${code.toString(16).toUpperCase().padStart(4, '0')}⟩`;
}

/**
 * Renders a search snippet: the text between the match markers is wrapped in `open`/`close`
 * (e.g. '\x1b[1m' and '\x1b[22m'), everything else made safe first, so the only escapes in
 * the result are the ones the caller chose.
 */
export function highlightSnippet(
  snippet: string,
  open: string,
  close: string,
  options: SafeTextOptions = {},
): string {
  let out = '';
  let inMatch = false;
  for (const part of snippet.split(/([\u0001\u0002])/)) {
    if (part === SNIPPET_MATCH_START) inMatch = true;
    else if (part === SNIPPET_MATCH_END) inMatch = false;
    else if (part.length > 0)
      out += inMatch ? open + safeForTerminal(part, options) + close : safeForTerminal(part, options);
  }
  return out;
}
