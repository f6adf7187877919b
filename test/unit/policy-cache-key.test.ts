/**
 * The single-pass literal-free key (src/policy/fast-key.ts) against its definition, the lexer-based
 * key (cache-key.ts `lexedLiteralFreeKey`): for every text it must give the very same key and spans,
 * or decline (UNSURE). Two texts may share a cache entry only if the lexer would key them alike.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { type LiteralFreeKey, lexedLiteralFreeKey, literalFreeKey } from '../../src/policy/cache-key.js';
import { fastLiteralFreeKey } from '../../src/policy/fast-key.js';
import { classify, clearClassifyCache, loadPolicyParsers } from '../../src/policy/index.js';
import type { Dialect } from '../../src/policy/sql-lexer.js';
import { MYSQL_CORPUS, MYSQL_SETUP, PG_CORPUS, PG_SETUP } from '../fixtures/policy-bypass-corpus.js';
import { mulberry32 } from '../support/random.js';

const DIALECTS: readonly Dialect[] = ['postgres', 'mysql'];

interface Tally {
  texts: number;
  /** The fast scanner answered (a key or null). */
  answered: number;
  /** ... with a key. */
  keyed: number;
}

function check(sql: string, dialect: Dialect, tally?: Tally): LiteralFreeKey | null | undefined {
  const slow = lexedLiteralFreeKey(sql, dialect);
  const fast = fastLiteralFreeKey(sql, dialect);
  const label = `${dialect}: ${JSON.stringify(sql)}`;
  if (fast !== undefined) assert.deepEqual(fast, slow, label);
  assert.deepEqual(literalFreeKey(sql, dialect), slow, label);
  if (tally) {
    tally.texts++;
    if (fast !== undefined) tally.answered++;
    if (fast) tally.keyed++;
  }
  return fast;
}

/** Pieces of SQL text, chosen to sit on every boundary the lexer cares about. */
const FRAGMENTS: readonly string[] = [
  'SELECT',
  'select',
  'FROM',
  'WHERE',
  'a',
  't1',
  '_x',
  'abc$',
  'a$b',
  'e',
  'E',
  'x',
  'X',
  'n',
  'N',
  'b',
  'B',
  'u',
  'U',
  '_utf8',
  '_binary',
  '$1',
  '$12',
  '$',
  '$$',
  '$tag$',
  '$a$',
  '$1$',
  '?',
  "'",
  "''",
  "'abc'",
  "'it''s'",
  "'a\\'b'",
  "'\\\\'",
  '\\',
  '\\N',
  '"',
  '""',
  '"id"',
  '"a""b"',
  '"a\\"',
  '`',
  '``',
  '`c`',
  '`a``b`',
  '--',
  '-- ',
  '--\t',
  '-',
  '#',
  '/*',
  '*/',
  '/* c */',
  '/*!',
  '/*!50001',
  '/*!123456',
  '/*M!',
  '/*M!100400',
  '*',
  '/',
  '1',
  '42',
  '007',
  '1e5',
  '1E+5',
  '1e-3',
  '1e',
  '1e+',
  '5e',
  '0x1F',
  '0X',
  '0b01',
  '1.2.3',
  '.5',
  '5.',
  '5.e3',
  '.',
  '..',
  '1_000',
  '1a',
  '9$',
  "x'0A'",
  "X'",
  "e'a\\'b'",
  "E'",
  "n'x'",
  "N'",
  "b'01'",
  "B'",
  "_utf8'x'",
  "U&'d\\0061'",
  'U&"x"',
  'u&',
  '&',
  '@',
  "@'x'",
  '@@',
  '@5',
  ';',
  ',',
  '(',
  ')',
  '=',
  '+',
  '::',
  'é',
  'ü',
  '😀',
  "'é'",
  '"ä"',
  '\u0000',
  '\n',
  '\r',
  '\t',
  ' ',
  '\f',
  '\v',
  '\u00a0',
  'ŝ1',
];

const CHARS = '\'"`\\-#/*!$1e.5xEN _aU&@;?\n\r0M+';

function fragmentText(next: () => number): string {
  const count = 1 + Math.floor(next() * 14);
  let s = '';
  for (let i = 0; i < count; i++) {
    if (i > 0 && next() < 0.5) s += next() < 0.8 ? ' ' : '\n';
    s += FRAGMENTS[Math.floor(next() * FRAGMENTS.length)]!;
  }
  return s;
}

function charText(next: () => number): string {
  const len = Math.floor(next() * 24);
  let s = '';
  for (let i = 0; i < len; i++) s += CHARS[Math.floor(next() * CHARS.length)]!;
  return s;
}

/** Statement-shaped texts: common SQL with a random fragment spliced in somewhere. */
const TEMPLATES: readonly string[] = [
  'SELECT abalance FROM pgbench_accounts WHERE aid = 12345;',
  "UPDATE t SET a = a + -5, note = 'x' WHERE id = 7",
  'SELECT "u"."id", "u"."email" FROM "users" "u" WHERE "u"."id" = $1 LIMIT 21',
  'SELECT `users`.`id` FROM `users` WHERE `users`.`id` = 42 AND name = ? LIMIT 1',
  "INSERT INTO orders (a, b, c) VALUES (1, 'two', 3.5e2), (.5, 5., 'it''s')",
];

function splicedText(next: () => number): string {
  const t = TEMPLATES[Math.floor(next() * TEMPLATES.length)]!;
  const at = Math.floor(next() * (t.length + 1));
  return t.slice(0, at) + FRAGMENTS[Math.floor(next() * FRAGMENTS.length)]! + t.slice(at);
}

describe('literal-free key: fast scanner = lexer', () => {
  test('bypass corpora and their setup statements, both dialects', () => {
    const texts = [...PG_CORPUS, ...MYSQL_CORPUS].map((c) => c.sql).concat(PG_SETUP, MYSQL_SETUP);
    for (const dialect of DIALECTS) for (const sql of texts) check(sql, dialect);
  });

  test('hand-written tricky cases', () => {
    const cases: readonly [string, Dialect, 'key' | 'null' | 'unsure' | 'any'][] = [
      ['SELECT abalance FROM pgbench_accounts WHERE aid = 12345;', 'postgres', 'key'],
      ['SELECT c FROM sbtest1 WHERE id=5023', 'mysql', 'key'],
      ['SELECT "a""b", 1 FROM "t"', 'postgres', 'key'],
      ['SELECT `a``b`, 1 FROM `t`', 'mysql', 'key'],
      ['SELECT "x", 1', 'mysql', 'unsure'],
      ["SELECT 'a''b', 'c'", 'postgres', 'key'],
      ["SELECT 'a\\'b', 1", 'mysql', 'unsure'],
      ["SELECT 'a\\'b', 1", 'postgres', 'unsure'],
      ["SELECT E'a\\'; DROP TABLE t; --'", 'postgres', 'unsure'],
      ["SELECT e'x', 1", 'postgres', 'unsure'],
      ["SELECT x'0A', 1", 'mysql', 'unsure'],
      ["SELECT _utf8'x', 1", 'mysql', 'unsure'],
      ["SELECT N'x', 1", 'postgres', 'unsure'],
      ["SELECT U&'\\0041', 1", 'postgres', 'unsure'],
      ['SELECT U&"x", 1', 'postgres', 'unsure'],
      ['SELECT 1 -- 2', 'postgres', 'unsure'],
      ['SELECT 1 --2', 'mysql', 'unsure'],
      ['SELECT 1 # 2', 'mysql', 'unsure'],
      ['SELECT 1 # 2', 'postgres', 'key'],
      ['SELECT /*! 1 */ 2', 'mysql', 'unsure'],
      ['SELECT 1 */ 2', 'mysql', 'key'],
      ['SELECT $$1$$, 2', 'postgres', 'unsure'],
      ['SELECT $1, 2', 'postgres', 'key'],
      ['SELECT $1, 2', 'mysql', 'key'],
      ['SELECT $1', 'mysql', 'null'],
      ['SELECT a$1, 2', 'mysql', 'key'],
      ['SELECT 1e5, 1E+5, 1e-5, 1e', 'postgres', 'key'],
      ['SELECT 0x1F, 1.2.3, 1_000, 1a', 'postgres', 'null'],
      ['SELECT 0x1F, 1.2.3, 1_000, 1a', 'mysql', 'null'],
      ['SELECT .5, 5., 5.e3, t.5', 'postgres', 'key'],
      ['SELECT @5, @a, @@b', 'mysql', 'null'],
      ["SELECT @'x'", 'mysql', 'null'],
      ['SELECT 1 ; SELECT 2', 'mysql', 'key'],
      ['SELECT \u00e9, 1', 'postgres', 'unsure'],
      ["SELECT '\u00e9', 1", 'mysql', 'unsure'],
      ['SELECT \u0000, 1', 'postgres', 'any'],
      ['SELECT \\N, 1', 'mysql', 'unsure'],
      ["SELECT 'unterminated", 'postgres', 'unsure'],
      ['SELECT "unterminated', 'postgres', 'unsure'],
      ['SELECT `unterminated', 'mysql', 'unsure'],
      ['', 'postgres', 'null'],
      ['SELECT 1', 'postgres', 'key'],
      ['1', 'mysql', 'key'],
      ["'", 'mysql', 'unsure'],
    ];
    for (const [sql, dialect, want] of cases) {
      const fast = check(sql, dialect);
      const got = fast === undefined ? 'unsure' : fast === null ? 'null' : 'key';
      if (want !== 'any') assert.equal(got, want, `${dialect}: ${JSON.stringify(sql)}`);
    }
  });

  for (const dialect of DIALECTS) {
    test(`random texts from SQL fragments, ${dialect}`, () => {
      const next = mulberry32(dialect === 'postgres' ? 7 : 11);
      const tally: Tally = { texts: 0, answered: 0, keyed: 0 };
      for (let i = 0; i < 20_000; i++) check(fragmentText(next), dialect, tally);
      for (let i = 0; i < 20_000; i++) check(charText(next), dialect, tally);
      for (let i = 0; i < 20_000; i++) check(splicedText(next), dialect, tally);
      // Not vacuous: the scanner answered for a good share, keys included.
      assert.ok(tally.answered > tally.texts / 5, JSON.stringify(tally));
      assert.ok(tally.keyed > tally.texts / 10, JSON.stringify(tally));
    });
  }
});

describe('literal-free key: which classifications are shared', () => {
  before(() => loadPolicyParsers());

  test('a negated number is confirmed as a constant at its minus sign (pgbench tpcb)', () => {
    clearClassifyCache();
    const a = classify('UPDATE t SET a = a + -2345 WHERE aid = 7;', 'postgres');
    assert.equal(classify('UPDATE t SET a = a + -17 WHERE aid = 9;', 'postgres'), a);
    const spaced = classify('UPDATE t SET a = a + - \n 1.5 WHERE aid = 9;', 'postgres');
    assert.equal(classify('UPDATE t SET a = a + - \n 2.5 WHERE aid = 9;', 'postgres'), spaced);
    // The sign is outside the key's holes: a positive delta is another text.
    assert.notEqual(classify('UPDATE t SET a = a + 17 WHERE aid = 9;', 'postgres'), a);
  });

  test('a minus that is not folded into the number confirms nothing', () => {
    clearClassifyCache();
    // `-(5)`: the constant is reported at the sign, but the span after `(` has no constant of its own.
    const a = classify('SELECT -(5), 1', 'postgres');
    assert.notEqual(classify('SELECT -(6), 1', 'postgres'), a);
    // `- 5::int` negates a cast; the constant stays at its own place, as before.
    const b = classify('SELECT - 5::int', 'postgres');
    assert.equal(classify('SELECT - 6::int', 'postgres'), b);
    // A vertical tab is no blank to PostgreSQL before 16: no confirmation across it.
    const c = classify('SELECT -\v5', 'postgres');
    assert.notEqual(classify('SELECT -\v6', 'postgres'), c);
  });
});
