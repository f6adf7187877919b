/**
 * How many terminal columns text takes, so tables line up with wide (CJK, emoji) and
 * zero-width (combining) characters. A small wcwidth: Unicode East Asian Width W/F ranges
 * and Extended_Pictographic emoji count 2, combining marks and format characters count 0.
 * Input is expected to be terminal-safe already (see sanitize.ts): no controls.
 */

const ZERO_WIDTH = /[\p{Mn}\p{Me}\p{Cf}]/u;
const EMOJI = /\p{Extended_Pictographic}/u;

/** East Asian Wide and Fullwidth blocks (Unicode 15, EastAsianWidth.txt, condensed). */
const WIDE: readonly (readonly [number, number])[] = [
  [0x1100, 0x115f],
  [0x231a, 0x231b],
  [0x2329, 0x232a],
  [0x23e9, 0x23ec],
  [0x23f0, 0x23f0],
  [0x23f3, 0x23f3],
  [0x25fd, 0x25fe],
  [0x2614, 0x2615],
  [0x2648, 0x2653],
  [0x267f, 0x267f],
  [0x2693, 0x2693],
  [0x26a1, 0x26a1],
  [0x26aa, 0x26ab],
  [0x26bd, 0x26be],
  [0x26c4, 0x26c5],
  [0x26ce, 0x26ce],
  [0x26d4, 0x26d4],
  [0x26ea, 0x26ea],
  [0x26f2, 0x26f3],
  [0x26f5, 0x26f5],
  [0x26fa, 0x26fa],
  [0x26fd, 0x26fd],
  [0x2705, 0x2705],
  [0x270a, 0x270b],
  [0x2728, 0x2728],
  [0x274c, 0x274c],
  [0x274e, 0x274e],
  [0x2753, 0x2755],
  [0x2757, 0x2757],
  [0x2795, 0x2797],
  [0x27b0, 0x27b0],
  [0x27bf, 0x27bf],
  [0x2b1b, 0x2b1c],
  [0x2b50, 0x2b50],
  [0x2b55, 0x2b55],
  [0x2e80, 0x303e],
  [0x3041, 0x33ff],
  [0x3400, 0x4dbf],
  [0x4e00, 0x9fff],
  [0xa000, 0xa4cf],
  [0xa960, 0xa97f],
  [0xac00, 0xd7a3],
  [0xf900, 0xfaff],
  [0xfe10, 0xfe19],
  [0xfe30, 0xfe6f],
  [0xff00, 0xff60],
  [0xffe0, 0xffe6],
  [0x16fe0, 0x18cff],
  [0x1b000, 0x1b2ff],
  [0x1f004, 0x1f004],
  [0x1f0cf, 0x1f0cf],
  [0x1f18e, 0x1f18e],
  [0x1f191, 0x1f19a],
  [0x1f200, 0x1f251],
  [0x1f300, 0x1f64f],
  [0x1f680, 0x1f6ff],
  [0x1f900, 0x1f9ff],
  [0x1fa70, 0x1faff],
  [0x20000, 0x2fffd],
  [0x30000, 0x3fffd],
];

function isWide(code: number): boolean {
  let lo = 0;
  let hi = WIDE.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    const [from, to] = WIDE[mid]!;
    if (code < from) hi = mid - 1;
    else if (code > to) lo = mid + 1;
    else return true;
  }
  return false;
}

/** Width of one code point in terminal columns. */
export function charWidth(ch: string): number {
  const code = ch.codePointAt(0)!;
  if (code < 0x300) return 1; // ASCII and Latin: the fast path
  if (code === 0x200d || ZERO_WIDTH.test(ch)) return 0;
  if (isWide(code)) return 2;
  // Emoji default to wide presentation only above the BMP symbols already listed.
  if (code >= 0x1f000 && EMOJI.test(ch)) return 2;
  return 1;
}

/** Columns taken by `s` on a terminal. */
export function displayWidth(s: string): number {
  // ASCII-only strings are the common case: their width is their length.
  if (/^[\x20-\x7e]*$/.test(s)) return s.length;
  let w = 0;
  for (const ch of s) w += charWidth(ch);
  return w;
}

export function padEndWidth(s: string, width: number): string {
  const w = displayWidth(s);
  return w >= width ? s : s + ' '.repeat(width - w);
}

export function padStartWidth(s: string, width: number): string {
  const w = displayWidth(s);
  return w >= width ? s : ' '.repeat(width - w) + s;
}

/** Centred as psql centres column headers: the extra space, if any, goes to the right. */
export function centerWidth(s: string, width: number): string {
  const room = width - displayWidth(s);
  if (room <= 0) return s;
  const left = Math.floor(room / 2);
  return ' '.repeat(left) + s + ' '.repeat(room - left);
}
