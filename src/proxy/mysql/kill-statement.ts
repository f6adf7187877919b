/**
 * Recognises the KILL forms whose connection id dbtape must map (MariaDB "KILL"; MySQL "KILL
 * Statement"): `KILL [HARD | SOFT] [CONNECTION | QUERY] id`. The mysql and mariadb clients send
 * `KILL QUERY <id>` on a second connection when Ctrl-C interrupts a statement.
 */

export type KillStatement =
  | {
      readonly kind: 'kill';
      /** true: only the running statement; false: the whole connection. */
      readonly query: boolean;
      /** 'HARD ' / 'SOFT ' when given (MariaDB), kept in the rewritten statement. */
      readonly modifier: string;
      readonly id: number;
    }
  /** A KILL form dbtape cannot map (KILL QUERY ID, KILL USER, an id in an expression...). */
  | { readonly kind: 'unmappable' };

const KILL = /^KILL\s+(?:(HARD|SOFT)\s+)?(?:(CONNECTION|QUERY)\s+)?(\d{1,10})\s*;?\s*$/i;
const STARTS_WITH_KILL = /^KILL\b/i;
/** Leading whitespace and comments (`/* ... *\/`, `-- ...`, `# ...`). */
const LEADING = /^(?:\s+|\/\*(?:[^*]|\*(?!\/))*\*\/|(?:--\s|#)[^\n]*(?:\n|$))*/;

/** Null when `sql` is not a KILL statement. */
export function parseKill(sql: string): KillStatement | null {
  const text = sql.replace(LEADING, '');
  if (!STARTS_WITH_KILL.test(text)) return null;
  const m = KILL.exec(text);
  if (!m) return { kind: 'unmappable' };
  const id = Number(m[3]);
  if (id > 0xffff_ffff) return { kind: 'unmappable' };
  return {
    kind: 'kill',
    query: m[2]?.toUpperCase() === 'QUERY',
    modifier: m[1] ? `${m[1].toUpperCase()} ` : '',
    id,
  };
}

/**
 * With multi-statements a KILL could hide after a `;` and reach the server unmapped, where it
 * would name a raw thread id of the shared upstream account. True when any `;`-separated part
 * starts with KILL. Quotes are not parsed, so a `;` inside a string literal may give a false
 * positive: the statement is then refused, never forwarded unchecked.
 */
export function hidesKill(sql: string): boolean {
  if (!sql.includes(';')) return false;
  const parts = sql.split(';');
  for (let i = 1; i < parts.length; i++) {
    if (STARTS_WITH_KILL.test(parts[i].replace(LEADING, ''))) return true;
  }
  return false;
}

/** The statement sent upstream instead: the same form, naming the server's thread id. */
export function killText(k: Extract<KillStatement, { kind: 'kill' }>, upstreamId: number): string {
  return `KILL ${k.modifier}${k.query ? 'QUERY ' : ''}${upstreamId}`;
}

/** Cheap pre-check on raw COM_QUERY bytes, so unrecorded sessions decode only what may be a KILL. */
export function mayBeKill(payload: Buffer): boolean {
  // Up to 512 bytes of leading comments/whitespace are looked at; KILL statements are short.
  const head = payload.toString('latin1', 1, Math.min(payload.length, 512));
  return /kill/i.test(head);
}
