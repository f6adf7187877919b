/** classify(): what each statement reads, writes and calls, from the real parsers; the caches. */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { literalFreeKey } from '../../src/policy/cache-key.js';
import {
  type Classification,
  classify,
  clearClassifyCache,
  loadPolicyParsers,
  type StatementInfo,
} from '../../src/policy/index.js';
import { mysqlStatements } from '../../src/policy/mysql-text.js';
import { lex } from '../../src/policy/sql-lexer.js';

before(() => loadPolicyParsers());

function statements(c: Classification): readonly StatementInfo[] {
  assert.ok(c.parsed, c.parsed ? '' : c.reason);
  return c.statements;
}

function one(sql: string, dialect: 'postgres' | 'mysql' = 'postgres'): StatementInfo {
  const s = statements(classify(sql, dialect));
  assert.equal(s.length, 1, `one statement in ${sql}`);
  return s[0]!;
}

const names = (refs: readonly { schema: string | null; name: string }[]) =>
  refs.map((r) => (r.schema ? `${r.schema}.${r.name}` : r.name)).sort();

describe('PostgreSQL classification', () => {
  test('tables read and written, schema-qualified when given', () => {
    const s = one('UPDATE app.orders o SET total = p.x FROM pricing p WHERE o.id = p.id');
    assert.equal(s.kind, 'update');
    assert.deepEqual(names(s.writes), ['app.orders']);
    assert.deepEqual(names(s.reads), ['pricing']);
    assert.equal(s.hasWhere, true);
  });

  test('a WHERE that names no column does not count', () => {
    assert.equal(one('DELETE FROM t WHERE true').hasWhere, false);
    assert.equal(one('DELETE FROM t WHERE 1 = 1').hasWhere, false);
    assert.equal(one('DELETE FROM t').hasWhere, false);
    assert.equal(one('DELETE FROM t WHERE CURRENT OF c').hasWhere, true);
  });

  test('functions in subqueries, CTEs, FROM and arguments', () => {
    const s = one(
      'WITH x AS (SELECT lower(a) FROM t) SELECT f(g(1)), (SELECT max(b) FROM u) FROM x, generate_series(1, 2), pg_catalog.now() n',
    );
    assert.deepEqual([...s.functions].sort(), [
      'f',
      'g',
      'generate_series',
      'lower',
      'max',
      'pg_catalog.now',
    ]);
    assert.deepEqual(names(s.reads), ['t', 'u']);
  });

  test('a CTE name hides a table only where PostgreSQL scopes it', () => {
    // Non-recursive: the CTE body's `payments` is the real table.
    const s = one('WITH payments AS (SELECT * FROM payments) SELECT * FROM payments');
    assert.deepEqual(names(s.reads), ['payments']);
    const r = one('WITH RECURSIVE x AS (SELECT 1 UNION ALL SELECT * FROM x) SELECT * FROM x');
    assert.deepEqual(names(r.reads), []);
    const outer = one('SELECT * FROM secrets WHERE id IN (WITH secrets AS (SELECT 1) SELECT * FROM secrets)');
    assert.deepEqual(names(outer.reads), ['secrets']);
  });

  test('DML inside a CTE is a write', () => {
    const s = one('WITH d AS (DELETE FROM a.t RETURNING *) SELECT * FROM d');
    assert.equal(s.kind, 'select');
    assert.ok(s.flags.includes('dml-in-cte'));
    assert.deepEqual(names(s.writes), ['a.t']);
  });

  test('settings: SET, set_config, SET TRANSACTION, RESET ALL', () => {
    assert.deepEqual(one('SET search_path = a, b').settings, [
      { name: 'search_path', value: 'a,b', scope: 'session' },
    ]);
    assert.deepEqual(one("SELECT set_config('role', 'x', true)").settings, [
      { name: 'role', value: 'x', scope: 'session' },
    ]);
    assert.deepEqual(one('SELECT set_config(name, v, false) FROM x').settings, [
      { name: '?', value: null, scope: 'session' },
    ]);
    assert.deepEqual(one('SET LOCAL TRANSACTION READ WRITE').settings[0]?.value, 'off');
    assert.deepEqual(one('RESET ALL').settings, [{ name: '*', value: null, scope: 'session' }]);
    assert.ok(one('BEGIN READ WRITE').flags.includes('read-write-transaction'));
    assert.ok(!one('BEGIN READ ONLY').flags.includes('read-write-transaction'));
  });

  test('COPY directions and targets', () => {
    assert.deepEqual(one('COPY t FROM STDIN').flags, ['client-data-in']);
    assert.deepEqual(one('COPY t TO STDOUT').flags, []);
    assert.deepEqual(one("COPY t TO PROGRAM 'x'").flags, ['copy-program']);
    assert.deepEqual(one("COPY t FROM '/f'").flags, ['server-file-read']);
    assert.deepEqual(one("COPY (SELECT 1) TO '/f'").flags, ['server-file-write']);
  });

  test('EXPLAIN plans, EXPLAIN ANALYZE executes', () => {
    const plan = one('EXPLAIN DELETE FROM t');
    assert.equal(plan.kind, 'explain');
    assert.deepEqual(plan.writes, []);
    const run = one('EXPLAIN (ANALYZE, BUFFERS) DELETE FROM t');
    assert.equal(run.kind, 'delete');
    assert.ok(run.flags.includes('explain-analyze'));
  });

  test('PREPARE carries its statement, EXECUTE its name', () => {
    const [p, e] = statements(classify('PREPARE q AS UPDATE t SET a = 1; EXECUTE q', 'postgres'));
    assert.equal(p?.prepare?.name, 'q');
    assert.equal(p?.prepare?.body?.[0]?.kind, 'update');
    assert.equal(e?.execute, 'q');
  });

  test('a syntax error is reported, not thrown', () => {
    const c = classify('SELEC 1', 'postgres');
    assert.equal(c.parsed, false);
    if (!c.parsed) assert.match(c.reason, /syntax error/);
  });

  test('text that did not decode cleanly fails closed', () => {
    assert.equal(classify("SELECT E'\ufffd\\'; DROP TABLE t; --'", 'postgres').parsed, false);
  });
});

describe('MySQL classification', () => {
  test('tables, functions, locking reads, INTO OUTFILE', () => {
    const s = one('SELECT load_file(a), `sleep`(1) FROM db1.t JOIN u ON t.id = u.id FOR UPDATE', 'mysql');
    assert.deepEqual([...s.functions].sort(), ['load_file', 'sleep']);
    assert.deepEqual(names(s.reads), ['db1.t', 'u']);
    assert.ok(s.flags.includes('locking'));
    assert.ok(one("SELECT 1 INTO OUTFILE '/x'", 'mysql').flags.includes('server-file-write'));
  });

  test('SET forms: scopes, @@ prefixes, user variables', () => {
    assert.deepEqual(one('SET @@global.max_connections = 10', 'mysql').settings, [
      { name: 'max_connections', value: '10', scope: 'global' },
    ]);
    assert.deepEqual(one('SET @a = 1, sql_mode = ?', 'mysql').settings, [
      { name: 'sql_mode', value: null, scope: 'session' },
    ]);
    assert.deepEqual(one('SET tx_read_only = ON', 'mysql').settings[0]?.value, 'ON');
    assert.deepEqual(one('SET NAMES utf8mb4', 'mysql').settings, [
      { name: 'names', value: 'utf8mb4', scope: 'session' },
    ]);
  });

  test('statements the grammar lacks come from the token fallback', () => {
    assert.equal(one('SHOW FULL PROCESSLIST', 'mysql').kind, 'show');
    assert.equal(one('SAVEPOINT a', 'mysql').kind, 'transaction');
    assert.equal(one('EXECUTE s USING @a, @b', 'mysql').execute, 's');
    assert.equal(one('DEALLOCATE PREPARE s', 'mysql').deallocate, 's');
    assert.equal(one('KILL QUERY 5', 'mysql').command, 'kill');
    assert.equal(classify('FROBNICATE everything', 'mysql').parsed, false);
  });

  test('executable comments are code; conditional ones are read both ways', () => {
    const r = mysqlStatements('SELECT 1 /*!50700 , 2 */ /*M! , 3 */');
    assert.ok(r.ok);
    if (r.ok) assert.equal(r.statements.length, 4);
    const s = statements(classify('DELETE FROM t /*!99999 WHERE id = 1 */', 'mysql'));
    assert.deepEqual(
      s.map((x) => x.hasWhere),
      [false, true],
    );
  });

  test("mariadb-dump's sandbox line is a comment to every server, not a statement", () => {
    // The mysql client sends it on, without its `\-`, in front of the dump's first statement.
    const r = mysqlStatements(
      '/*M!999999 enable the sandbox mode */ \n/*!40101 SET @a=@@character_set_client */',
    );
    assert.deepEqual(r, { ok: true, statements: ['SET @a=@@character_set_client'] });
    assert.equal(classify('/*M!999999 enable the sandbox mode */ SELECT 1', 'mysql').parsed, true);
    // Other versions are still read both ways.
    assert.equal(classify('/*M!100400 enable the sandbox mode */ SELECT 1', 'mysql').parsed, false);
  });

  test('comments end where the server ends them', () => {
    assert.equal(statements(classify('SELECT 1 -- x\r; DROP TABLE t', 'mysql')).length, 1);
    assert.equal(statements(classify('SELECT 1 --x; DROP TABLE t', 'mysql')).length, 2);
    assert.equal(statements(classify('SELECT 1 -- x\r; DROP TABLE t', 'postgres')).length, 2);
  });

  test('NO_BACKSLASH_ESCAPES sessions refuse backslashes', () => {
    assert.equal(classify("SELECT 'a\\'b'", 'mysql', { noBackslashEscapes: true }).parsed, false);
    assert.equal(classify("SELECT 'a''b'", 'mysql', { noBackslashEscapes: true }).parsed, true);
  });
});

describe('large literal-only INSERTs', () => {
  const rows = Array.from({ length: 500 }, (_, i) => `(${i}, 'n''${i}', -${i}.5, NULL)`).join(', ');
  test('are recognised from tokens with the table they write', () => {
    for (const dialect of ['postgres', 'mysql'] as const) {
      const s = one(`INSERT INTO app.t (id, name, x, y) VALUES ${rows};`, dialect);
      assert.equal(s.kind, 'insert');
      assert.deepEqual(names(s.writes), ['app.t']);
    }
  });
  test('anything beyond literals goes to the parser', () => {
    const s = statements(classify(`INSERT INTO t VALUES ${rows}, (1, pg_read_file('/x'), 1, 1)`, 'postgres'));
    assert.deepEqual(s[0]?.functions, ['pg_read_file']);
    const two = statements(classify(`INSERT INTO t VALUES ${rows}; DROP TABLE t`, 'mysql'));
    assert.deepEqual(
      two.map((x) => x.command),
      ['insert', 'drop'],
    );
  });
});

describe('lexer', () => {
  test('PostgreSQL strings, dollar quotes and nested comments', () => {
    const r = lex("SELECT E'\\'', $a$ ' $a$, /* /* */ */ 'x''y', U&'\\0041'", 'postgres');
    assert.ok(r.ok);
    if (r.ok) assert.deepEqual(r.tokens.filter((t) => t.kind === 'string').length, 4);
  });

  test('unterminated constructs fail', () => {
    for (const s of ["SELECT 'x", 'SELECT $a$ x', 'SELECT /* x', 'SELECT "x'])
      assert.equal(lex(s, 'postgres').ok, false, s);
    assert.equal(lex('SELECT /*! 1', 'mysql').ok, false);
    assert.equal(lex('SELECT /*! /*! 1 */ */', 'mysql').ok, false);
    assert.equal(lex('SELECT 1 /*! ; DELETE FROM t */', 'mysql').ok, false);
  });
});

describe('caches', () => {
  test('statements differing only in literals share one classification', () => {
    clearClassifyCache();
    const a = classify('SELECT * FROM t WHERE id = 1', 'postgres');
    const b = classify('SELECT * FROM t WHERE id = 2', 'postgres');
    assert.equal(a, b);
    assert.equal(classify('SELECT * FROM t WHERE id = 1', 'postgres'), a);
    const m1 = classify("SELECT * FROM t WHERE e = 'x'", 'mysql');
    assert.equal(classify("SELECT * FROM t WHERE e = 'y'", 'mysql'), m1);
  });

  test('literal-dependent classifications are cached by exact text only', () => {
    const on = classify('SET default_transaction_read_only = 1', 'postgres');
    const off = classify('SET default_transaction_read_only = 0', 'postgres');
    assert.notEqual(on, off);
    assert.equal(on.parsed && on.literalSensitive, true);
    const r1 = classify("SELECT set_config('application_name', 'x', false)", 'postgres');
    const r2 = classify("SELECT set_config('role', 'x', false)", 'postgres');
    assert.notEqual(r1, r2);
  });

  test('prefixed or backslashed strings and glued numbers are not blanked', () => {
    assert.equal(literalFreeKey("SELECT E'a'", 'postgres'), null);
    assert.equal(literalFreeKey("SELECT 'a\\b'", 'mysql'), null);
    assert.equal(literalFreeKey('SELECT 1from t', 'postgres'), null);
    assert.equal(literalFreeKey('SELECT 0x1F', 'postgres'), null);
    assert.deepEqual(literalFreeKey("SELECT 'a', 2", 'postgres')?.spans, [7, 12]);
  });
});
