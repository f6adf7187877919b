/**
 * Content detectors for masking: find sensitive substrings in a text value and hide them while keeping
 * the value's shape (length, separators, the domain of an email, the last digits of a number), so
 * screens and client-side validation keep working. Card numbers must pass the Luhn check and IBANs
 * the ISO 13616 mod-97 check, which keeps order numbers and ids from being masked by accident.
 */
import type { MaskDetector } from '../model/identity.js';

/**
 * The local part is at most 64 characters (RFC 5321, 4.5.3.1.1): unbounded, the engine would rescan
 * the rest of a long run of its characters from every start inside it (a 200 KB word ending in `@`
 * took minutes). A longer local part has its last 64 characters masked.
 */
const EMAIL = /[A-Za-z0-9._%+-]{1,64}@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+/g;
/** 13-19 digits, single spaces or dashes allowed between them, not inside a longer digit run. */
const CARD = /(?<![\d-])\d(?:[ -]?\d){12,18}(?![\d])/g;
const IBAN = /(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]){11,30}(?![A-Za-z0-9])/g;
/** International (+CC ...), with an area code in parentheses, or 3-3-4 / 0-prefixed national forms. */
const PHONE =
  /(?<![\w+])(?:\+\d{1,3}[ .-]?(?:\(\d{1,5}\)[ .-]?)?\d[\d .-]{5,16}\d|\(\d{2,5}\)[ .-]?\d[\d .-]{4,12}\d|\d{3}[-. ]\d{3}[-. ]\d{4}|0\d{2,4}[ /-]\d{4,9})(?![\w])/g;

/** Applies the given detectors to `value`; null when nothing was found. */
export function detectAndMask(value: string, detectors: readonly MaskDetector[]): string | null {
  const { digits, at } = quickScan(value);
  if (digits < 7 && !at) return null;
  // A fixed order: digits masked as part of an IBAN or card are no longer digits for the next.
  let out = value;
  if (digits >= 2 && detectors.includes('iban')) out = out.replace(IBAN, maskIban);
  if (digits >= 13 && detectors.includes('card')) out = out.replace(CARD, maskCard);
  if (at && detectors.includes('email')) out = out.replace(EMAIL, maskEmail);
  if (digits >= 7 && detectors.includes('phone')) out = out.replace(PHONE, maskPhone);
  return out === value ? null : out;
}

function quickScan(v: string): { digits: number; at: boolean } {
  let digits = 0;
  let at = false;
  for (let i = 0; i < v.length; i++) {
    const c = v.charCodeAt(i);
    if (c >= 48 && c <= 57) digits++;
    else if (c === 64) at = true;
  }
  return { digits, at };
}

export function luhnValid(digits: string): boolean {
  let sum = 0;
  let double = false;
  for (let i = digits.length - 1; i >= 0; i--) {
    let d = digits.charCodeAt(i) - 48;
    if (double) {
      d *= 2;
      if (d > 9) d -= 9;
    }
    sum += d;
    double = !double;
  }
  return digits.length > 0 && sum % 10 === 0;
}

/** ISO 13616: move the first four characters to the end, letters to 10..35, the number mod 97 is 1. */
export function ibanValid(iban: string): boolean {
  const s = iban.replace(/ /g, '');
  if (s.length < 15 || s.length > 34) return false;
  const r = s.slice(4) + s.slice(0, 4);
  let rem = 0;
  for (const ch of r) {
    const c = ch.charCodeAt(0);
    const v = c >= 65 ? c - 55 : c - 48;
    rem = v >= 10 ? (rem * 100 + v) % 97 : (rem * 10 + v) % 97;
  }
  return rem === 1;
}

/** Replaces digits with `*`, keeping the last `keep` digits and every separator. */
function maskDigits(s: string, keep: number): string {
  let total = 0;
  for (let i = 0; i < s.length; i++) if (isDigit(s.charCodeAt(i))) total++;
  let seen = 0;
  let out = '';
  for (let i = 0; i < s.length; i++) {
    const ch = s[i]!;
    if (isDigit(s.charCodeAt(i))) {
      seen++;
      out += seen > total - keep ? ch : '*';
    } else out += ch;
  }
  return out;
}

function isDigit(c: number): boolean {
  return c >= 48 && c <= 57;
}

function maskCard(m: string): string {
  return luhnValid(m.replace(/[ -]/g, '')) ? maskDigits(m, 4) : m;
}

/** Country code and the last four characters stay. */
function maskIban(m: string): string {
  if (!ibanValid(m)) return m;
  const total = m.replace(/ /g, '').length;
  let seen = 0;
  let out = '';
  for (const ch of m) {
    if (ch === ' ') {
      out += ch;
      continue;
    }
    seen++;
    out += seen <= 2 || seen > total - 4 ? ch : '*';
  }
  return out;
}

/** `john.doe@example.com` → `j*******@example.com`. */
function maskEmail(m: string): string {
  const at = m.indexOf('@');
  return m[0] + '*'.repeat(Math.max(at - 1, 0)) + m.slice(at);
}

function maskPhone(m: string): string {
  let digits = 0;
  for (let i = 0; i < m.length; i++) if (isDigit(m.charCodeAt(i))) digits++;
  return digits >= 7 && digits <= 15 ? maskDigits(m, 2) : m;
}

const LETTER_OR_DIGIT = /^[\p{L}\p{N}]$/u;

/**
 * A column masked by name: letters and digits (one `*` per code point) become `*`, separators stay
 * (the value's shape). A scan with an ASCII fast path: a global Unicode-property regex replace took
 * over a second per MiB, blocking the event loop on large values.
 */
export function maskWhole(value: string): string {
  const out = new Uint16Array(value.length);
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const c = value.charCodeAt(i);
    if (c < 0x80) {
      const alnum = (c >= 48 && c <= 57) || ((c | 0x20) >= 97 && (c | 0x20) <= 122);
      out[n++] = alnum ? 42 : c;
      continue;
    }
    const cp = value.codePointAt(i)!;
    const width = cp > 0xffff ? 2 : 1;
    if (LETTER_OR_DIGIT.test(String.fromCodePoint(cp))) {
      out[n++] = 42;
    } else {
      out[n++] = c;
      if (width === 2) out[n++] = value.charCodeAt(i + 1);
    }
    i += width - 1;
  }
  // UTF-16 code units copied as they are (lone surrogates included).
  return Buffer.from(out.buffer, 0, n * 2).toString('utf16le');
}
