/**
 * MySQL/MariaDB statement text as the server will execute it: executable comments (`/*! ... *\/`,
 * `/*M! ... *\/`) turned into code, comments removed, split into statements at top-level semicolons.
 *
 * A version-conditional comment (`/*!50700 ... *\/`, `/*M!100400 ... *\/`) runs on some servers and not
 * on others (MariaDB even skips some MySQL 5.7+ versions below its own), so each distinct condition is
 * read both ways and every resulting reading is checked: a statement is allowed only if all are.
 */
import { codeOnly, type ExecComment, type LexToken, lex } from './sql-lexer.js';

/** At most 2^4 readings; more distinct conditions in one text is refused. */
const MAX_CONDITIONS = 4;

export type MysqlStatements =
  | { readonly ok: true; readonly statements: readonly string[] }
  | { readonly ok: false; readonly reason: string };

/** Every statement (as code without comments) of every reading of `sql`, without duplicates. */
export function mysqlStatements(sql: string): MysqlStatements {
  const first = lex(sql, 'mysql');
  if (!first.ok) return first;
  if (first.exec.length === 0) return { ok: true, statements: split(sql, first.tokens) };
  const conditions = [
    ...new Set(first.exec.filter((c) => isConditional(c) && !neverRuns(c)).map(conditionKey)),
  ];
  if (conditions.length > MAX_CONDITIONS) {
    return { ok: false, reason: 'too many version-conditional executable comments' };
  }
  const out = new Set<string>();
  for (let mask = 0; mask < 1 << conditions.length; mask++) {
    const runs = (c: ExecComment) =>
      !neverRuns(c) && (!isConditional(c) || (mask & (1 << conditions.indexOf(conditionKey(c)))) !== 0);
    const text = reading(sql, first.exec, runs);
    const again = lex(text, 'mysql');
    if (!again.ok) return again;
    for (const s of split(text, again.tokens)) out.add(s);
  }
  return { ok: true, statements: [...out] };
}

/**
 * `/*M!999999 ... *\/` asks for MariaDB 99.99.99, which no server is, and MySQL reads `/*M!` as a
 * comment: no server runs it. mariadb-dump starts every dump with one (`/*M!999999\- enable the
 * sandbox mode *\/`, which the mysql client passes on without its `\-`) for servers to ignore.
 */
function neverRuns(c: ExecComment): boolean {
  return c.mariadbOnly && c.version === 999999;
}

function isConditional(c: ExecComment): boolean {
  return c.version !== null || c.mariadbOnly;
}

function conditionKey(c: ExecComment): string {
  return `${c.mariadbOnly ? 'M' : ''}${c.version ?? ''}`;
}

/** The text with executed comments' markers, and skipped comments whole, replaced by spaces. */
function reading(sql: string, exec: readonly ExecComment[], runs: (c: ExecComment) => boolean): string {
  let out = '';
  let at = 0;
  for (const c of exec) {
    out += sql.slice(at, c.start);
    if (runs(c)) {
      out += ' '.repeat(c.openEnd - c.start) + sql.slice(c.openEnd, c.closeStart) + '  ';
    } else {
      out += ' '.repeat(c.end - c.start);
    }
    at = c.end;
  }
  return out + sql.slice(at);
}

function split(sql: string, tokens: readonly LexToken[]): string[] {
  const out: string[] = [];
  let from = 0;
  for (let i = 0; i <= tokens.length; i++) {
    if (i < tokens.length && tokens[i]!.kind !== 'semi') continue;
    const code = codeOnly(sql, tokens, from, i).trim();
    if (code !== '') out.push(code);
    from = i + 1;
  }
  return out;
}
