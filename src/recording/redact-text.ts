/**
 * Masking for text that is not a whole SQL statement: connection strings inside literals,
 * comments, parameter values, error messages. Each function returns its input unchanged
 * (the same string) when there is nothing to mask.
 */

export const MASK = '********';

/**
 * Anything that could carry a password somewhere. Deliberately loose: it decides when to
 * look closer, and when a statement we cannot tokenize is redacted whole.
 */
export const LOOKS_SECRET =
  /passw(?:or)?d|\bpwd\b|identified|authentication_string|[a-z][a-z0-9+.-]*:\/\/[^\s/@]*:[^\s@]*@/i;

/**
 * Hot-path pre-check on a whole statement: when none of this appears, no rule can fire.
 * Backslashes and `U&` are here because escapes can spell a keyword the raw text does not show.
 */
export const MIGHT_NEED_REDACTION = /passw|pwd|identif|authentication_string|conninfo|dblink|:\/\/|\\|u&/i;

/** libpq / ODBC style `password=value` pairs; the value may be single-quoted with backslash escapes. */
const CONNINFO_PASSWORD =
  /\b(\w*passw(?:or)?d|pwd)(\s*=\s*)('(?:[^'\\]|\\.)*'?|"(?:[^"\\]|\\.)*"?|[^\s;,&)]*)/gi;

/** `scheme://user:password@host` credentials in URIs. */
const URI_PASSWORD = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/@:]*:)([^\s@/]*)(@)/gi;

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
    out = out.replace(URI_PASSWORD, (all, head: string, pw: string, at: string) => {
      if (pw.length === 0 || pw.startsWith(MASK)) return all;
      found?.push(pw);
      return head + MASK + at;
    });
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
  if (LOOKS_SECRET.test(out)) out = maskConnectionStrings(out);
  return out;
}
