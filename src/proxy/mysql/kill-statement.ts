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

/**
 * The server runs the text of an executable comment (`/*! ... *\/`, `/*!50700 ... *\/`, MariaDB's
 * `/*M!100100 ... *\/`) as code, so `/*!KILL 7*\/` kills thread 7. Such a comment's markers are
 * blanked, so what it holds is judged like the rest of the text. A version the server is older
 * than makes it skip the text: judging it anyway only ever refuses or maps a KILL that would not
 * have run.
 */
const EXECUTABLE_OPEN = /\/\*M?!\d*/g;

export function unwrapExecutable(sql: string): string {
  if (!sql.includes('/*')) return sql;
  let out = '';
  let at = 0;
  for (;;) {
    EXECUTABLE_OPEN.lastIndex = at;
    const m = EXECUTABLE_OPEN.exec(sql);
    if (!m) return out + sql.slice(at);
    const inner = m.index + m[0].length;
    const close = sql.indexOf('*/', inner);
    out += `${sql.slice(at, m.index)} `;
    if (close < 0) return out + sql.slice(inner);
    out += `${sql.slice(inner, close)} `;
    at = close + 2;
  }
}

/** Null when `sql` is not a KILL statement. */
export function parseKill(sql: string): KillStatement | null {
  const text = unwrapExecutable(sql).replace(LEADING, '');
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
  const parts = unwrapExecutable(sql).split(';');
  for (let i = 1; i < parts.length; i++) {
    if (STARTS_WITH_KILL.test(parts[i].replace(LEADING, ''))) return true;
  }
  return false;
}

/** A statement that runs SQL from a string, which text checks cannot see into. */
const DYNAMIC_SQL = /^(?:PREPARE|EXECUTE\s+IMMEDIATE)\b/i;
const KILL_WORD = /\bKILL\b/i;

/**
 * `PREPARE s FROM 'KILL 7'` or `EXECUTE IMMEDIATE 'KILL 7'` with the KILL in sight: the server
 * would run it with a raw thread id. (A KILL assembled in a user variable cannot be seen: the
 * README says so, and roles with rules deny dynamic SQL they cannot analyse.)
 */
export function dynamicKill(sql: string): boolean {
  const text = unwrapExecutable(sql);
  if (!KILL_WORD.test(text)) return false;
  // Each `;`-separated part that starts a PREPARE or EXECUTE IMMEDIATE (quotes are not parsed, as
  // in hidesKill: a false positive refuses, never forwards unchecked). Anchored patterns only, so
  // the check stays linear in the text's length whatever it holds.
  return text.split(';').some((part) => DYNAMIC_SQL.test(part.replace(LEADING, '')));
}

/**
 * A KILL the server would run that is not the statement itself (after a `;`, or in dynamic SQL):
 * dbtape cannot map it, so the text is refused.
 */
export function hiddenKill(sql: string): boolean {
  return hidesKill(sql) || dynamicKill(sql);
}

/** The client's error for a KILL dbtape cannot map to the upstream's thread id. */
export const UNMAPPABLE_KILL =
  'dbtape: this KILL form is not supported through dbtape: send KILL [QUERY] <connection id> as a statement of its own';

/** The statement sent upstream instead: the same form, naming the server's thread id. */
export function killText(k: Extract<KillStatement, { kind: 'kill' }>, upstreamId: number): string {
  return `KILL ${k.modifier}${k.query ? 'QUERY ' : ''}${upstreamId}`;
}

/**
 * Cheap pre-check on raw COM_QUERY bytes (after the command byte), so unrecorded sessions decode
 * only what may hold a KILL: `kill` in any case, anywhere (a KILL may follow a long statement in a
 * multi-statement text). Read from the bytes, without building a string.
 */
export function mayBeKill(payload: Buffer): boolean {
  return holdsKill(payload, 0x6b) || holdsKill(payload, 0x4b);
}

/** Whether `k` (a `k` or a `K`) starts `kill`, in any case, at or after offset 1. */
function holdsKill(payload: Buffer, k: number): boolean {
  const last = payload.length - 4;
  let at = payload.indexOf(k, 1);
  while (at >= 0 && at <= last) {
    if (
      (payload[at + 1]! | 0x20) === 0x69 &&
      (payload[at + 2]! | 0x20) === 0x6c &&
      (payload[at + 3]! | 0x20) === 0x6c
    )
      return true;
    at = payload.indexOf(k, at + 1);
  }
  return false;
}
