/** Terminal rendering of recorded sessions: psql/mysql-like tables, prompts, outcomes, and terminal safety. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SessionEvent, SessionEventBody } from '../../src/model/session.js';
import { mysqlTable, plainTable, psqlTable } from '../../src/replay/render-table.js';
import { createRenderer } from '../../src/replay/renderer.js';
import { PLAIN_HIGHLIGHT, searchLines, TERMINAL_HIGHLIGHT } from '../../src/replay/search-hits.js';
import { displayWidth } from '../../src/replay/text-width.js';
import type { SearchHit, SessionSummary } from '../../src/store/session-store.js';

function summary(over: Partial<SessionSummary> = {}): SessionSummary {
  return {
    id: 'm6abc1234-0a1b2c3d4e',
    user: 'alice',
    roles: ['analyst'],
    target: 'app',
    protocol: 'postgres',
    clientAddr: '127.0.0.1',
    clientPort: 50123,
    application: 'psql',
    clientTls: 'TLSv1.3',
    upstreamDatabase: 'appdb',
    upstreamUser: 'app_rw',
    startedAtUs: 1_738_324_800_000_000,
    endedAtUs: null,
    endReason: null,
    statements: 0,
    errors: 0,
    events: 0,
    lastSeq: 0,
    status: 'active',
    ...over,
  };
}

let seq = 0;
function ev(body: SessionEventBody, offsetUs = seq * 1000): SessionEvent {
  seq++;
  return { seq, atUs: 1_738_324_800_000_000 + offsetUs, offsetUs, ...body } as SessionEvent;
}

/** Every event's text, concatenated, as replay prints it. */
function render(bodies: SessionEventBody[], over: Partial<SessionSummary> = {}, timing = false): string {
  const r = createRenderer(summary(over), { timing });
  return bodies.map((b) => r.event(ev(b))).join('');
}

/** Bytes a terminal acts on: C0 except \n and \t, DEL, C1, bidi controls, lone surrogates. */
const CONTROL =
  /[\u0000-\u0008\u000b-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069\u200e\u200f]|[\ud800-\udfff]/u;

export const HOSTILE_TEXTS = [
  '\u001b[31mred\u001b[0m',
  '\u001b]52;c;ZWNobyBoaQ==\u0007',
  '\u001b]0;pwned\u001b\\',
  '\u009b2J',
  'DROP TABLE users;\rSELECT 1;',
  'a\u0000b',
  'SELECT \u202e1 ;--',
  '\u2066x\u2069',
  'bad \udc80\udcff utf8',
  'lone \ud800 high',
  'del\u007f bs\b',
];

describe('psqlTable', () => {
  test('aligns like psql: centred headers, numbers right, text left, NULL empty', () => {
    const lines = psqlTable(
      [
        { name: 'id', type: 'int4' },
        { name: 'name', type: 'text' },
        { name: 'n', type: 'text' },
        { name: 'amount', type: 'numeric' },
      ],
      [
        ['1', 'alice', null, '12.5'],
        ['100', 'bö 日本', 'x', '1'],
      ],
    );
    // Exactly what psql 15 prints for the same rows (trailing spaces of the header included).
    assert.deepEqual(lines, [
      ' id  |  name   | n | amount ',
      '-----+---------+---+--------',
      '   1 | alice   |   |   12.5',
      ' 100 | bö 日本 | x |      1',
    ]);
  });

  test('column separators line up with wide and combining characters', () => {
    const lines = psqlTable(
      [
        { name: 'naïve', type: 'text' },
        { name: 'emoji', type: 'text' },
        { name: 'z', type: 'int8' },
      ],
      [
        ['e\u0301', '😀😀', '1'],
        ['日本語テキスト', 'ok', '123456789'],
      ],
    );
    // The column separators (| in rows, + in the rule) sit at the same display columns on every line.
    const separators = (line: string, mark: string) => {
      const at: number[] = [];
      let col = 0;
      for (const ch of line) {
        if (ch === mark) at.push(col);
        col += displayWidth(ch);
      }
      return at;
    };
    const rule = separators(lines[1]!, '+');
    assert.equal(rule.length, 2);
    for (const line of [lines[0]!, ...lines.slice(2)]) {
      assert.deepEqual(separators(line, '|'), rule, `misaligned:\n${lines.join('\n')}`);
    }
    // As in psql, the rule runs one column past a right-aligned last value (its trailing space).
    assert.equal(
      displayWidth(lines[3]!),
      displayWidth(lines[1]!) - 1,
      'a right-aligned last column fills its width',
    );
  });

  test('a cell with newlines continues with + like psql', () => {
    const lines = psqlTable(
      [
        { name: 'm', type: 'text' },
        { name: 'y', type: 'text' },
      ],
      [['line1\nline2', 'x']],
    );
    // psql 15 prints exactly this, trailing space included.
    assert.deepEqual(lines.slice(2), [' line1+| x', ' line2 | ']);
  });

  test('recorded cells and column names cannot carry escapes into the table', () => {
    const lines = psqlTable(
      [{ name: '\u001b[2Jcol', type: 'text' }],
      HOSTILE_TEXTS.map((t) => [t]),
    );
    for (const line of lines) assert.doesNotMatch(line, CONTROL);
    assert.ok(lines.join('\n').includes('␛[31mred'));
  });
});

describe('mysqlTable', () => {
  test('boxes like the mysql client, NULL shown as NULL, numbers right-aligned', () => {
    const lines = mysqlTable(
      [
        { name: 'id', type: 'LONG' },
        { name: 'name', type: 'VARCHAR' },
      ],
      [
        ['1', 'alice'],
        ['22', null],
      ],
    );
    assert.deepEqual(lines, [
      '+----+-------+',
      '| id | name  |',
      '+----+-------+',
      '|  1 | alice |',
      '| 22 | NULL  |',
      '+----+-------+',
    ]);
  });
});

describe('plainTable', () => {
  test('pads by display width', () => {
    assert.deepEqual(
      plainTable(
        ['A', 'B'],
        [
          ['日本', 'x'],
          ['a', 'y'],
        ],
      ),
      ['A     B', '日本  x', 'a     y'],
    );
  });
});

describe('PostgresRenderer', () => {
  test('header names the session, its user, target and client', () => {
    const text = createRenderer(summary()).header();
    assert.match(text, /m6abc1234-0a1b2c3d4e: alice@app \(postgres\)/);
    assert.match(text, /127\.0\.0\.1:50123, psql, TLSv1\.3/);
  });

  test('prompt, statement, result table with footer, command tags, errors with SQLSTATE', () => {
    const out = render([
      { kind: 'query', sql: 'SELECT id FROM t;', via: 'simple' },
      {
        kind: 'result',
        tag: 'SELECT 2',
        rows: 2,
        durationUs: 1500,
        columns: [{ name: 'id', type: 'int4' }],
        rowData: [['1'], ['2']],
      },
      { kind: 'query', sql: 'INSERT INTO t VALUES (3);', via: 'simple' },
      { kind: 'result', tag: 'INSERT 0 1', rows: 1, durationUs: 800 },
      { kind: 'query', sql: 'SELECT * FROM nope;', via: 'simple' },
      { kind: 'error', code: '42P01', message: 'relation "nope" does not exist', severity: 'ERROR' },
      { kind: 'notice', severity: 'NOTICE', code: '00000', message: 'table "x" does not exist, skipping' },
    ]);
    assert.equal(
      out,
      [
        'alice@app=> SELECT id FROM t;',
        ' id ',
        '----',
        '  1',
        '  2',
        '(2 rows)',
        '',
        'alice@app=> INSERT INTO t VALUES (3);',
        'INSERT 0 1',
        'alice@app=> SELECT * FROM nope;',
        'ERROR:  42P01: relation "nope" does not exist',
        'NOTICE:  table "x" does not exist, skipping',
        '',
      ].join('\n'),
    );
  });

  test('row counts without captured rows, and the command tag when nothing was captured', () => {
    const out = render([
      { kind: 'result', tag: 'SELECT 3', rows: 3, durationUs: 1, columns: [{ name: 'a', type: 'int4' }] },
      { kind: 'result', tag: 'SELECT 3', rows: 3, durationUs: 1 },
      { kind: 'result', tag: 'SELECT 1', rows: 1, durationUs: 1, columns: [], rowData: [[]] },
    ]);
    assert.match(out, /^\(3 rows\)\n\nSELECT 3\n/);
    assert.match(out, /\(1 row\)/);
  });

  test('says when only the first rows were recorded', () => {
    const out = render([
      {
        kind: 'result',
        tag: 'SELECT 250',
        rows: 250,
        durationUs: 1,
        columns: [{ name: 'a', type: 'int4' }],
        rowData: [['1'], ['2']],
        truncated: true,
      },
    ]);
    assert.match(out, /\(250 rows\)\n-- dbtape: only the first 2 rows were recorded \(store\.max_rows\)/);
  });

  test('the prompt shows the transaction state as psql does (=*> inside, =!> failed)', () => {
    const out = render([
      { kind: 'query', sql: 'BEGIN;', via: 'simple' },
      { kind: 'result', tag: 'BEGIN', rows: null, durationUs: 1 },
      { kind: 'tx', state: 'begin' },
      { kind: 'query', sql: 'SELECT 1/0;', via: 'simple' },
      { kind: 'error', code: '22012', message: 'division by zero', severity: 'ERROR' },
      { kind: 'tx', state: 'failed' },
      { kind: 'query', sql: 'ROLLBACK;', via: 'simple' },
      { kind: 'result', tag: 'ROLLBACK', rows: null, durationUs: 1 },
      { kind: 'tx', state: 'rollback' },
      { kind: 'query', sql: 'SELECT 2;', via: 'simple' },
    ]);
    const prompts = out.split('\n').filter((l) => l.startsWith('alice@app='));
    assert.deepEqual(prompts, [
      'alice@app=> BEGIN;',
      'alice@app=*> SELECT 1/0;',
      'alice@app=!> ROLLBACK;',
      'alice@app=> SELECT 2;',
    ]);
    assert.match(out, /-- transaction failed/);
    assert.doesNotMatch(out, /transaction started|rolled back/, 'BEGIN and ROLLBACK tags already say it');
  });

  test('after ROLLBACK TO SAVEPOINT recovers a failed transaction the prompt is =*> again', () => {
    const out = render([
      { kind: 'query', sql: 'BEGIN;', via: 'simple' },
      { kind: 'result', tag: 'BEGIN', rows: null, durationUs: 1 },
      { kind: 'tx', state: 'begin' },
      { kind: 'query', sql: 'SELECT * FROM nosuch;', via: 'simple' },
      { kind: 'error', code: '42P01', message: 'relation "nosuch" does not exist', severity: 'ERROR' },
      { kind: 'tx', state: 'failed' },
      { kind: 'query', sql: 'ROLLBACK TO s1;', via: 'simple' },
      { kind: 'result', tag: 'ROLLBACK', rows: null, durationUs: 1 },
      { kind: 'tx', state: 'recovered' },
      { kind: 'query', sql: 'INSERT INTO t VALUES (2);', via: 'simple' },
      { kind: 'result', tag: 'INSERT 0 1', rows: 1, durationUs: 1 },
      { kind: 'query', sql: 'COMMIT;', via: 'simple' },
    ]);
    const prompts = out.split('\n').filter((l) => l.startsWith('alice@app='));
    assert.deepEqual(prompts, [
      'alice@app=> BEGIN;',
      'alice@app=*> SELECT * FROM nosuch;',
      'alice@app=!> ROLLBACK TO s1;',
      'alice@app=*> INSERT INTO t VALUES (2);',
      'alice@app=*> COMMIT;',
    ]);
    assert.match(
      out,
      /^ROLLBACK\n-- transaction recovered: rolled back to a savepoint, statements run again\n/m,
    );
  });

  test("a portal read in chunks: the statement once, each fetch, then the statement's row count", () => {
    const cols = [{ name: 'g', type: 'int4' }];
    const out = render([
      { kind: 'query', sql: 'SELECT g FROM t', params: [], via: 'extended' },
      { kind: 'result', tag: 'SUSPENDED', rows: 2, durationUs: 1, columns: cols, rowData: [['1'], ['2']] },
      {
        kind: 'result',
        tag: 'SUSPENDED',
        rows: 4,
        fetched: 2,
        durationUs: 1,
        columns: cols,
        rowData: [['3']],
        truncated: true,
      },
      {
        kind: 'result',
        tag: 'SELECT 1',
        rows: 5,
        fetched: 1,
        durationUs: 1,
        columns: cols,
        rowData: [],
        truncated: true,
      },
      { kind: 'query', sql: 'SELECT 2', via: 'simple' },
    ]);
    assert.equal(
      out,
      [
        'alice@app=> SELECT g FROM t',
        ' g ',
        '---',
        ' 1',
        ' 2',
        '-- portal suspended after 2 rows',
        ' g ',
        '---',
        ' 3',
        '-- dbtape: only the first 1 of these rows were recorded (store.max_rows)',
        '-- fetched 2 more rows (4 so far), portal suspended',
        '-- dbtape: these rows were not recorded (store.max_rows)',
        '-- fetched 1 more row',
        '(5 rows)',
        '',
        'alice@app=> SELECT 2',
        '',
      ].join('\n'),
    );
  });

  test('a transaction state a newer dbtape recorded is shown as stored', () => {
    const out = render([{ kind: 'tx', state: 'someday' } as unknown as SessionEventBody]);
    assert.equal(out, '-- transaction someday\n');
  });

  test('multi-line statements use the continuation prompt; bound parameters are listed', () => {
    const out = render([
      { kind: 'query', sql: 'SELECT *\nFROM t\nWHERE id = $1', params: ['42', null], via: 'extended' },
    ]);
    assert.equal(
      out,
      "alice@app=> SELECT *\nalice@app-> FROM t\nalice@app-> WHERE id = $1\n-- $1 = '42', $2 = NULL\n",
    );
  });

  test('timing lines like \\timing, COPY summaries, denials, gaps and the end', () => {
    const out = render(
      [
        { kind: 'query', sql: 'COPY t FROM STDIN;', via: 'simple' },
        { kind: 'copy', direction: 'in', bytes: 2048, rows: 3 },
        { kind: 'result', tag: 'COPY 3', rows: 3, durationUs: 1234 },
        { kind: 'denied', rule: 'no-drop', sql: 'DROP TABLE t;', message: 'dbtape: DROP is not allowed' },
        { kind: 'gap', lost: 12 },
        { kind: 'end', reason: 'client_closed' },
      ],
      {},
      true,
    );
    assert.match(out, /-- COPY from the client: 2\.0 kB, 3 rows\nCOPY 3\nTime: 1\.234 ms\n/);
    assert.match(
      out,
      /alice@app=> DROP TABLE t;\nERROR: {2}dbtape: DROP is not allowed\n-- dbtape: denied by policy rule no-drop\n/,
    );
    assert.match(out, /12 events not recorded here/);
    assert.match(out, /-- session ended: client_closed after/);
  });

  test('hostile text in every recorded field reaches the output only as visible characters', () => {
    for (const h of HOSTILE_TEXTS) {
      const r = createRenderer(
        summary({ user: h, target: h, application: h, clientAddr: h, clientTls: h, upstreamUser: h, id: h }),
        { timing: true },
      );
      const out =
        r.header() +
        [
          { kind: 'query', sql: h, params: [h, null], via: 'extended', statement: h },
          { kind: 'result', tag: h, rows: 1, durationUs: 1, columns: [{ name: h, type: h }], rowData: [[h]] },
          { kind: 'result', tag: h, rows: 1, durationUs: 1 },
          { kind: 'error', code: h, message: h, severity: h },
          { kind: 'notice', code: h, message: h, severity: h },
          { kind: 'notification', channel: h, payload: h },
          { kind: 'command', command: h, detail: h },
          { kind: 'denied', rule: h, sql: h, message: h },
          { kind: 'end', reason: 'killed', detail: h },
        ]
          .map((b) => r.event(ev(b as SessionEventBody)))
          .join('');
      assert.doesNotMatch(out, CONTROL, `unsafe output for ${JSON.stringify(h)}`);
      assert.ok(!Buffer.from(out).includes(0x1b));
    }
  });
});

describe('MysqlRenderer', () => {
  const mysql = { protocol: 'mysql' as const, application: 'mysql' };

  test('mysql-style prompt, boxed table, rows in set, Query OK, ERROR with errno and SQLSTATE', () => {
    const out = render(
      [
        { kind: 'query', sql: 'SELECT id, name\nFROM t', via: 'simple' },
        {
          kind: 'result',
          tag: 'SELECT',
          rows: 1,
          durationUs: 10_000,
          columns: [
            { name: 'id', type: 'LONG' },
            { name: 'name', type: 'VARCHAR' },
          ],
          rowData: [['1', null]],
        },
        { kind: 'query', sql: 'UPDATE t SET x = 1', via: 'simple' },
        { kind: 'result', tag: 'OK', rows: 2, durationUs: 5000, warnings: 1 },
        { kind: 'query', sql: 'SELECT * FROM nope', via: 'simple' },
        { kind: 'error', code: '42S02', errno: 1146, message: "Table 'test.nope' doesn't exist" },
        {
          kind: 'result',
          tag: 'SELECT',
          rows: 0,
          durationUs: 0,
          columns: [{ name: 'a', type: 'LONG' }],
          rowData: [],
        },
      ],
      mysql,
      true,
    );
    assert.equal(
      out,
      [
        'alice@app mysql> SELECT id, name',
        '              -> FROM t',
        '+----+------+',
        '| id | name |',
        '+----+------+',
        '|  1 | NULL |',
        '+----+------+',
        '1 row in set (0.01 sec)',
        '',
        'alice@app mysql> UPDATE t SET x = 1',
        'Query OK, 2 rows affected, 1 warning (0.01 sec)',
        '',
        'alice@app mysql> SELECT * FROM nope',
        "ERROR 1146 (42S02): Table 'test.nope' doesn't exist",
        'Empty set (0.00 sec)',
        '',
        '',
      ].join('\n'),
    );
  });
});

describe('search hits', () => {
  const hit = (over: Partial<SearchHit> = {}): SearchHit => ({
    sessionId: 'm6abc1234-0a1b2c3d4e',
    seq: 7,
    atUs: 1_738_324_800_000_000,
    user: 'alice',
    target: 'app',
    kind: 'query',
    sql: "SELECT '\u001b]52;c;eA==\u0007' || token_x",
    snippet: "SELECT '\u001b]52;c;eA==\u0007' || \u0001token_x\u0002",
    failed: true,
    ...over,
  });

  test('plain output marks the match with [[ ]] and shows recorded escapes visibly', () => {
    const out = searchLines([hit()], PLAIN_HIGHLIGHT, 50).join('\n');
    assert.match(out, /^m6abc1234-0a1b2c3d4e #7 {2}2025-01-31 12:00:00Z {2}alice@app {2}failed$/m);
    assert.ok(out.includes("SELECT '␛]52;c;eA==␇' || [[token_x]]"));
    assert.doesNotMatch(out, CONTROL);
    assert.match(out, /1 match$/);
  });

  test('on a terminal the only escapes are the bold around the match', () => {
    const out = searchLines([hit()], TERMINAL_HIGHLIGHT, 50).join('\n');
    assert.equal(out.replaceAll('\u001b[1m', '').replaceAll('\u001b[22m', '').match(CONTROL), null);
    assert.ok(out.includes('\u001b[1mtoken_x\u001b[22m'));
  });

  test('a match in the parameters names the statement; otherwise parameters are listed', () => {
    const inParams = searchLines(
      [hit({ sql: 'SELECT $1', params: ['abc token_x'], snippet: 'abc \u0001token_x\u0002', failed: false })],
      PLAIN_HIGHLIGHT,
      50,
    ).join('\n');
    assert.match(inParams, /abc \[\[token_x\]\]\n {4}in the parameters of: SELECT \$1/);
    const inSql = searchLines(
      [hit({ sql: 'SELECT token_x, $1', params: ['7'], snippet: 'SELECT \u0001token_x\u0002, $1' })],
      PLAIN_HIGHLIGHT,
      50,
    ).join('\n');
    assert.match(inSql, /params: '7'/);
    assert.equal(searchLines([], PLAIN_HIGHLIGHT, 50).join('\n'), 'no matches');
  });
});
