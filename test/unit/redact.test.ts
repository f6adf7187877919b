import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  REDACTED_STATEMENT,
  redactParams,
  redactSql,
  redactStatement,
  redactValue,
} from '../../src/recording/redact.js';
import { EventRedactor, REDACTED_MESSAGE } from '../../src/recording/redact-event.js';
import { tokenize } from '../../src/recording/sql-tokenizer.js';
import { CANARY_CORE, HARMLESS_CORPUS, SECRET_CORPUS } from '../fixtures/redaction-corpus.js';

const leaks = (text: string): boolean => text.toLowerCase().includes(CANARY_CORE);

describe('redaction corpus', () => {
  test('has at least 50 forms across both dialects, each carrying the canary', () => {
    assert.ok(SECRET_CORPUS.length >= 50);
    assert.ok(SECRET_CORPUS.filter((c) => c.dialect === 'mysql').length >= 20);
    for (const c of SECRET_CORPUS) assert.ok(leaks(c.sql + JSON.stringify(c.params ?? [])), c.note);
  });

  for (const c of SECRET_CORPUS) {
    test(`${c.dialect}: ${c.note}`, () => {
      const r = redactStatement(c.sql, c.params, c.dialect);
      assert.ok(!leaks(r.sql), `statement still holds the canary: ${r.sql}`);
      assert.ok(
        !leaks(JSON.stringify(r.params ?? [])),
        `params still hold the canary: ${JSON.stringify(r.params)}`,
      );
      assert.ok(
        r.sql.includes('********') ||
          r.redactedWhole ||
          r.params?.includes('********') ||
          /\*{8}/.test(JSON.stringify(r.params)),
      );
    });
  }

  for (const c of HARMLESS_CORPUS) {
    test(`${c.dialect} harmless, unchanged: ${c.sql}`, () => {
      assert.equal(redactSql(c.sql, c.dialect), c.sql);
    });
  }
});

describe('redactSql', () => {
  test('keeps the statement useful: only the secret is masked', () => {
    assert.equal(
      redactSql(`CREATE ROLE app LOGIN PASSWORD 'x' VALID UNTIL 'infinity'`),
      `CREATE ROLE app LOGIN PASSWORD '********' VALID UNTIL 'infinity'`,
    );
  });

  test('fails closed on an unterminated statement that mentions a password', () => {
    assert.equal(redactSql(`ALTER ROLE a PASSWORD 'oops`), REDACTED_STATEMENT);
    assert.equal(redactSql(`CREATE USER a IDENTIFIED BY "oops`, 'mysql'), REDACTED_STATEMENT);
  });

  test('leaves an unterminated statement without a password keyword alone', () => {
    assert.equal(redactSql(`SELECT 'oops`), `SELECT 'oops`);
  });

  test('returns the same string object when nothing needs masking (hot path)', () => {
    const sql = 'SELECT abalance FROM pgbench_accounts WHERE aid = 42';
    assert.equal(redactSql(sql), sql);
  });

  test('MySQL: `--` without a following space is not a comment', () => {
    assert.equal(redactSql(`SELECT 1--1, password FROM t`, 'mysql'), `SELECT 1--1, password FROM t`);
  });
});

describe('redactParams', () => {
  test('masks only the parameter in the secret position', () => {
    assert.deepEqual(
      redactParams(`SELECT * FROM users WHERE name = $1 AND password = $2`, ['bob', 's3cret']),
      ['bob', '********'],
    );
  });

  test('masks every parameter of a statement that carries credentials by nature', () => {
    assert.deepEqual(redactParams(`CREATE USER ? IDENTIFIED BY ?`, ['bob', 'x'], 'mysql'), [
      '********',
      '********',
    ]);
  });

  test('keeps NULL as NULL', () => {
    assert.deepEqual(redactParams(`ALTER ROLE a PASSWORD $1`, [null]), [null]);
  });

  test('returns the same array when nothing is secret', () => {
    const params = ['1', null, 'x'];
    assert.equal(redactParams('SELECT $1, $2, $3', params), params);
  });
});

describe('redactValue (result cells, free text)', () => {
  test('masks a SHOW CREATE USER line and a user-mapping option', () => {
    assert.ok(
      !leaks(
        redactValue(
          `CREATE USER 'b'@'%' IDENTIFIED WITH 'caching_sha2_password' AS '$A$005$7f3a91'`,
          'mysql',
        ),
      ),
    );
    assert.ok(!leaks(redactValue('{user=bob,password=7f3a91}')));
  });
});

describe('EventRedactor', () => {
  test('masks a secret when the server error echoes it', () => {
    const r = new EventRedactor('mysql');
    r.redact({ kind: 'query', sql: `CREATE USER b IDENTIFIED BY CANARY_7f3a91 x`, via: 'simple' });
    const e = r.redact({
      kind: 'error',
      code: '42000',
      message: `You have an error near 'CANARY_7f3a91 x' at line 1`,
    });
    assert.equal(e.kind === 'error' && leaks(e.message), false);
  });

  test('redacts the outcome message of a statement redacted whole', () => {
    const r = new EventRedactor('postgres');
    r.redact({ kind: 'query', sql: `ALTER ROLE a PASSWORD 'x7f3a91`, via: 'simple' });
    const e = r.redact({
      kind: 'error',
      code: '42601',
      message: 'unterminated quoted string at or near "\'x7f3a91"',
    });
    assert.equal(e.kind === 'error' && e.message, REDACTED_MESSAGE);
    const next = r.redact({ kind: 'error', code: '42601', message: 'plain' });
    assert.equal(next.kind === 'error' && next.message, 'plain');
  });

  test('masks captured result columns named like passwords', () => {
    const r = new EventRedactor('postgres');
    const out = r.redact({
      kind: 'result',
      tag: 'SELECT 1',
      rows: 1,
      durationUs: 1,
      columns: [
        { name: 'rolname', type: 'name' },
        { name: 'rolpassword', type: 'text' },
      ],
      rowData: [['alice', 'SCRAM-SHA-256$4096:7f3a91']],
    });
    assert.deepEqual(out.kind === 'result' && out.rowData, [['alice', '********']]);
  });

  test('returns the same object when nothing changes', () => {
    const r = new EventRedactor('postgres');
    const body = { kind: 'query', sql: 'SELECT 1', via: 'simple' } as const;
    assert.equal(r.redact(body), body);
  });
});

describe('tokenizer', () => {
  test('PostgreSQL placeholders, dollar quotes and E strings', () => {
    const t = tokenize(`SELECT $1, $a$x$a$, E'\\x41\\n', U&'\\0042'`, 'postgres');
    assert.ok(t.ok);
    const strings = t.tokens.filter((k) => k.kind === 'string').map((k) => k.value);
    assert.deepEqual(strings, ['x', 'A\n', 'B']);
    assert.equal(t.tokens.find((k) => k.kind === 'param')?.paramIndex, 0);
  });

  test('MySQL placeholders are numbered in order', () => {
    const t = tokenize(`SELECT ?, '?', ?`, 'mysql');
    assert.ok(t.ok);
    assert.deepEqual(
      t.tokens.filter((k) => k.kind === 'param').map((k) => k.paramIndex),
      [0, 1],
    );
  });

  test('fails on unterminated strings, comments, dollar quotes and identifiers', () => {
    for (const sql of [`'a`, `/* a`, `$$a`, `"a`, `E'a\\'`])
      assert.equal(tokenize(sql, 'postgres').ok, false, sql);
    assert.equal(tokenize('`a', 'mysql').ok, false);
  });
});
