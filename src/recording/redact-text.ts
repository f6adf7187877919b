/**
 * Masking for text that is not a whole SQL statement: connection strings inside literals,
 * comments, parameter values, error messages. Each function returns its input unchanged
 * (the same string) when there is nothing to mask.
 */

export const MASK = '********';

/** Words that could come with a password. */
const SECRET_WORDS = /passw(?:or)?d|\bpwd\b|identified|authentication_string/i;

/**
 * Anything that could carry a password somewhere: a password word, or `://user:...@` credentials.
 * Deliberately loose: it decides when to look closer, and when a statement we cannot tokenize is
 * redacted whole. Linear in the text's length: it runs on every recorded value, on the proxy's
 * thread, and a regular expression for URI credentials with a free scheme prefix backtracks
 * quadratically on a long word (a 100 KB one took two seconds, stalling every session).
 */
export function looksSecret(text: string): boolean {
  return SECRET_WORDS.test(text) || hasUriCredentials(text);
}

/**
 * A scheme (a letter among scheme characters) then `://`, a user part (no blank, `/` or `@`), `:`,
 * then an `@` before the next blank.
 */
function hasUriCredentials(text: string): boolean {
  let p = text.indexOf('://');
  while (p >= 0) {
    if (!hasScheme(text, p, false)) {
      p = text.indexOf('://', p + 3);
      continue;
    }
    let i = p + 3;
    while (i < text.length && !stopsUser(text, i)) i++;
    if (text.charCodeAt(i) !== COLON) {
      p = text.indexOf('://', p + 3);
      continue;
    }
    for (i++; i < text.length && !isBlank(text, i); i++) if (text.charCodeAt(i) === AT) return true;
    // No `@` up to the blank, so no later `://` before it has one either.
    p = text.indexOf('://', i);
  }
  return false;
}

const COLON = 0x3a;
const AT = 0x40;
const SLASH = 0x2f;

function isBlank(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  return c === 32 || (c >= 9 && c <= 13) || (c > 127 && /\s/.test(text[i]!));
}

/** Ends a URI's password: `/`, `@` or a blank (a `:` may be part of it). */
function stopsPassword(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  return c === SLASH || c === AT || isBlank(text, i);
}

/** Ends a URI's user part: `:`, `/`, `@` or a blank. */
function stopsUser(text: string, i: number): boolean {
  const c = text.charCodeAt(i);
  return c === COLON || c === SLASH || c === AT || isBlank(text, i);
}

/**
 * Hot-path pre-check on a whole statement: when none of this appears, no rule can fire.
 * Backslashes and `U&` are here because escapes can spell a keyword the raw text does not show.
 */
export const MIGHT_NEED_REDACTION = /passw|pwd|identif|authentication_string|conninfo|dblink|:\/\/|\\|u&/i;

/** libpq / ODBC style `password=value` pairs; the value may be single-quoted with backslash escapes. */
const CONNINFO_PASSWORD =
  /\b(\w*passw(?:or)?d|pwd)(\s*=\s*)('(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^\s;,&)]*)/gi;

/**
 * The passwords of `scheme://user:password@host` credentials, as [start, end) offsets, in one
 * left-to-right pass (see looksSecret for why not a regular expression). The scheme is a letter at
 * a word start, then letters, digits, `+`, `.` or `-`; user and password hold no blank, `/` or
 * `@`, and the user no `:` (the password may).
 */
function uriPasswords(text: string): [number, number][] {
  const out: [number, number][] = [];
  for (let p = text.indexOf('://'); p >= 0; p = text.indexOf('://', p + 3)) {
    if (!hasScheme(text, p, true)) continue;
    let i = p + 3;
    while (i < text.length && !stopsUser(text, i)) i++;
    if (text.charCodeAt(i) !== COLON) continue;
    const start = i + 1;
    for (i = start; i < text.length && !stopsPassword(text, i); i++);
    if (text.charCodeAt(i) === AT) out.push([start, i]);
  }
  return out;
}

/**
 * Whether a scheme ends at `p`: scanning back over scheme characters finds a letter (`atWordStart`:
 * one that starts a word).
 */
function hasScheme(text: string, p: number, atWordStart: boolean): boolean {
  for (let k = p - 1; k >= 0 && isSchemeChar(text.charCodeAt(k)); k--) {
    if (isLetter(text.charCodeAt(k)) && (!atWordStart || k === 0 || !isWordChar(text.charCodeAt(k - 1))))
      return true;
  }
  return false;
}

function isLetter(c: number): boolean {
  return (c >= 65 && c <= 90) || (c >= 97 && c <= 122);
}

function isSchemeChar(c: number): boolean {
  return isLetter(c) || (c >= 48 && c <= 57) || c === 0x2b || c === 0x2e || c === 0x2d;
}

function isWordChar(c: number): boolean {
  return isLetter(c) || (c >= 48 && c <= 57) || c === 0x5f;
}

/** Masks `password=...` pairs and URI passwords; what was masked is pushed onto `found`. */
export function maskConnectionStrings(text: string, found?: string[]): string {
  let out = text;
  if (/passw|pwd/i.test(out)) {
    out = out.replace(CONNINFO_PASSWORD, (all, key: string, eq: string, value: string) => {
      if (value.length === 0 || value.startsWith(MASK) || value.startsWith(`'${MASK}`)) return all;
      found?.push(value, unquote(value));
      return key + eq + MASK;
    });
  }
  if (out.includes('://')) {
    let masked = '';
    let from = 0;
    for (const [start, end] of uriPasswords(out)) {
      const pw = out.slice(start, end);
      if (pw.length === 0 || pw.startsWith(MASK)) continue;
      found?.push(pw);
      masked += out.slice(from, start) + MASK;
      from = end;
    }
    if (from > 0) out = masked + out.slice(from);
  }
  return out;
}

function unquote(value: string): string {
  const q = value[0];
  if ((q === "'" || q === '"') && value.length >= 2 && value.endsWith(q)) return value.slice(1, -1);
  return value;
}

const KEYWORD_THEN_REST =
  /(passw(?:or)?d|\bpwd|identified\s+(?:by|with|via)|authentication_string)\b([\s=:]*)(\S[\s\S]*)$/i;

/**
 * Fail-closed masking for free text that no rule understood: everything after the first
 * password keyword is masked ("the password is x" keeps "the password", loses "is x").
 */
export function maskAfterKeyword(text: string, found?: string[]): string {
  const m = KEYWORD_THEN_REST.exec(text);
  if (!m || m[3]!.startsWith(MASK) || m[3]!.startsWith(`'${MASK}'`)) return text;
  found?.push(m[3]!);
  return text.slice(0, m.index) + m[1] + (m[2] || ' ') + MASK;
}

/**
 * Redacts a server message (error, notice) or other free text: known secrets from the statement
 * it answers are replaced wherever they appear, and connection strings are masked.
 */
export function redactMessage(message: string, secrets: readonly string[] = []): string {
  let out = message;
  for (const secret of secrets) {
    if (secret.length > 0 && out.includes(secret)) out = out.split(secret).join(MASK);
  }
  if (looksSecret(out)) out = maskConnectionStrings(out);
  return out;
}
