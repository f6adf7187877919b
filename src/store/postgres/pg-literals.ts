/**
 * SQL literals for the statements the store sends as one simple-protocol query (pg-write.ts says
 * why). Strings are quoted with '' doubling, which is exact because the store's connections run
 * with standard_conforming_strings on (pg-connect.ts), so a backslash is an ordinary character.
 * Recorded text never holds NUL (the v1 JSON escapes it; names come from C strings), which a
 * PostgreSQL text value cannot hold however it is sent.
 */

export function textLit(s: string | null): string {
  return s === null ? 'NULL::text' : `'${s.replaceAll("'", "''")}'`;
}

export function intLit(n: number | null): string {
  if (n === null) return 'NULL::bigint';
  if (!Number.isSafeInteger(n)) throw new Error(`not an integer: ${n}`);
  return `${n}::bigint`;
}

export function byteaLit(b: Buffer | null): string {
  return b === null ? 'NULL::bytea' : `'\\x${b.toString('hex')}'::bytea`;
}

export function boolLit(b: boolean | null): string {
  return b === null ? 'NULL::boolean' : b ? 'true' : 'false';
}

/** `(a, b, c), (d, e, f)` for a VALUES list of already formatted literals. */
export function valuesList(rows: readonly (readonly string[])[]): string {
  return rows.map((r) => `(${r.join(', ')})`).join(', ');
}

/** Integers joined by commas, as one text literal (for string_to_array). */
export function intListLit(xs: readonly number[]): string {
  for (const x of xs) if (!Number.isSafeInteger(x)) throw new Error(`not an integer: ${x}`);
  return `'${xs.join(',')}'`;
}

/**
 * A text[] value as one text parameter in array-literal form (`'{"a","b"}'`, cast with
 * `::text[]`): the store's connections do not read the server's array types (pg-connect.ts), so
 * postgres.js cannot send a JavaScript array as one.
 */
export function textArrayParam(xs: readonly string[]): string {
  return `{${xs.map((x) => `"${x.replace(/[\\"]/g, '\\$&')}"`).join(',')}}`;
}
