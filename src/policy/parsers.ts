/**
 * The real parsers behind the policy: libpg-query (PostgreSQL's own grammar compiled to WASM) and
 * node-sql-parser's MySQL and MariaDB grammars. libpg-query needs one asynchronous load; after it
 * every parse is synchronous, which keeps `decide()` synchronous on the proxy's hot path.
 */
import { loadModule, parseSync } from 'libpg-query';
import mariadbGrammar from 'node-sql-parser/build/mariadb.js';
import mysqlGrammar from 'node-sql-parser/build/mysql.js';

let pgLoaded = false;
let pgLoading: Promise<void> | null = null;

/**
 * Loads the PostgreSQL parser (about 100 ms). Call once before serving; until it resolves, PostgreSQL
 * statements are unparsable and restricted roles fail closed.
 */
export function loadPolicyParsers(): Promise<void> {
  pgLoading ??= loadModule().then(() => {
    pgLoaded = true;
  });
  return pgLoading;
}

export function policyParsersLoaded(): boolean {
  return pgLoaded;
}

export interface PgParseTree {
  readonly stmts?: readonly { readonly stmt?: unknown; readonly stmt_location?: number }[];
}

export type ParseOutcome<T> =
  | { readonly ok: true; readonly tree: T }
  | { readonly ok: false; readonly reason: string };

export function parsePostgres(sql: string): ParseOutcome<PgParseTree> {
  if (!pgLoaded) return { ok: false, reason: 'the PostgreSQL parser is not loaded yet' };
  try {
    return { ok: true, tree: parseSync(sql) as PgParseTree };
  } catch (err) {
    return { ok: false, reason: err instanceof Error ? err.message : String(err) };
  }
}

/** node-sql-parser's AST is untyped JSON for our purposes; the classifier checks every field it reads. */
export type MysqlAst = Record<string, unknown>;

const grammars = [
  { parser: new mysqlGrammar.Parser(), database: 'MySQL' },
  { parser: new mariadbGrammar.Parser(), database: 'MariaDB' },
];

/**
 * One statement's code (comments already removed). The MySQL grammar first, then MariaDB's, which
 * knows a few statements the other lacks. Both must yield exactly one statement.
 */
export function parseMysql(code: string): ParseOutcome<MysqlAst> {
  let reason = '';
  for (const g of grammars) {
    try {
      const ast: unknown = g.parser.astify(code, { database: g.database });
      const list = Array.isArray(ast) ? ast : [ast];
      if (list.length === 1 && typeof list[0] === 'object' && list[0] !== null) {
        return { ok: true, tree: list[0] as MysqlAst };
      }
      reason = 'more than one statement';
    } catch (err) {
      if (reason === '') reason = err instanceof Error ? firstLine(err.message) : String(err);
    }
  }
  return { ok: false, reason };
}

/** node-sql-parser lists every token it expected; only what it found helps a user. */
function firstLine(s: string): string {
  const found = /but (.{1,40}) found\.?$/.exec(s);
  if (s.startsWith('Expected') && found) return `syntax error at ${found[1]}`;
  const line = s.split('\n')[0] ?? s;
  return line.length > 160 ? `${line.slice(0, 160)}...` : line;
}
