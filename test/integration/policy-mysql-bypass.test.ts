// The MySQL bypass corpus (test/fixtures/policy-bypass-corpus.ts, plus binary-protocol and
// table-rule cases here) sent through dbtape to a throwaway MariaDB whose general log records every
// statement it receives. Each statement carries a unique canary comment; every statement the policy
// forbids must be answered with ERROR 1142 and its canary must be absent from the server's log
// (differential check), and every statement it allows must reach the server and run.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type mysql from 'mysql2/promise';
import {
  type BypassCase,
  type Expect,
  failsOnServer,
  MYSQL_CORPUS,
  MYSQL_SETUP,
} from '../fixtures/policy-bypass-corpus.js';
import { type MariaDbServer, startMariaDb } from '../support/mariadb-server.js';
import { connectMysql2, type MysqlProxy, mariaDbTarget, startMysqlProxy } from '../support/mysql-fixtures.js';
import { waitFor } from '../support/wait.js';

interface Case {
  readonly sql: string;
  readonly expect: Expect;
  readonly why: string;
  /** Sent with the binary protocol (COM_STMT_PREPARE + EXECUTE) with these parameters. */
  readonly params?: readonly (string | number)[];
  readonly serverError?: boolean;
}

/** Prepared statements through the binary protocol: decided at COM_STMT_PREPARE. */
const BINARY: readonly (BypassCase & { params: readonly (string | number)[] })[] = [
  { sql: 'SELECT * FROM t WHERE id = ?', params: [1], read: 'allow', write: 'allow', why: 'prepared read' },
  { sql: 'select a from t where id = ? /* x */', params: [2], read: 'allow', write: 'allow', why: 'comment' },
  {
    sql: 'UPDATE t SET a = ? WHERE id = -1',
    params: [5],
    read: 'deny',
    write: 'allow',
    why: 'prepared UPDATE',
  },
  { sql: 'DELETE FROM t WHERE id = ?', params: [-1], read: 'deny', write: 'allow', why: 'prepared DELETE' },
  {
    sql: 'SELECT * FROM t WHERE id = ? FOR UPDATE',
    params: [1],
    read: 'deny',
    write: 'allow',
    why: 'prepared row lock',
  },
  {
    sql: 'SELECT * FROM t WHERE id = ? /*!50000 FOR UPDATE */',
    params: [1],
    read: 'deny',
    write: 'allow',
    why: 'prepared row lock in an executable comment',
  },
  { sql: 'SELECT LOAD_FILE(?)', params: ['/etc/hostname'], read: 'deny', write: 'deny', why: 'LOAD_FILE' },
  { sql: 'DROP TABLE t', params: [], read: 'deny', write: 'deny', why: 'prepared DDL' },
  { sql: '/*M! DROP TABLE t */', params: [], read: 'deny', write: 'deny', why: 'MariaDB comment DDL' },
  { sql: 'CALL p(?)', params: [1], read: 'deny', write: 'deny', why: 'prepared CALL' },
];

/** Forms the shared corpus lacks. */
const EXTRA: readonly BypassCase[] = [
  {
    sql: 'SELECT 1 /* a /* b */; DELETE FROM t WHERE id = -1; -- */',
    read: 'deny',
    write: 'allow',
    why: 'comments do not nest: the DELETE is code',
  },
  {
    sql: "SELECT 'x' /*M!100000 , (SELECT 1 FROM t WHERE id = 1 FOR UPDATE) */",
    read: 'deny',
    write: 'allow',
    why: 'row lock in a MariaDB comment',
  },
  { sql: 'DO GET_LOCK(0x64, 0)', read: 'deny', write: 'allow', why: 'named lock through DO' },
  { sql: 'DO RELEASE_ALL_LOCKS()', read: 'allow', write: 'allow', why: 'DO of a harmless function' },
  {
    sql: 'WITH x AS (SELECT 1 AS a) DELETE FROM t WHERE id IN (SELECT -a FROM x)',
    read: 'deny',
    write: 'allow',
    why: 'CTE with DELETE',
    serverError: true,
  },
  {
    sql: 'INSERT INTO t (id, a) SELECT 200, 1 FROM DUAL WHERE 0',
    read: 'deny',
    write: 'allow',
    why: 'INSERT SELECT',
  },
  {
    sql: 'SeLeCt 1; uPdAtE `t` SET `a` = `a` WhErE `id` = -1',
    read: 'deny',
    write: 'allow',
    why: 'case and backticks, second statement',
  },
  {
    sql: 'SET STATEMENT sql_mode = ANSI_QUOTES FOR SELECT 1',
    read: 'deny',
    write: 'deny',
    why: 'sql_mode through SET STATEMENT',
  },
  { sql: 'SET @@session.sql_log_off = 1', read: 'deny', write: 'deny', why: 'hides statements from the log' },
  { sql: 'SET SESSION general_log = 0', read: 'deny', write: 'deny', why: 'log switch' },
  { sql: 'OPTIMIZE TABLE t', read: 'deny', write: 'deny', why: 'maintenance' },
  { sql: 'XA START 0x6162', read: 'deny', write: 'allow', why: 'two-phase commit', serverError: false },
  { sql: 'SELECT 1 INTO @a; SELECT @a', read: 'allow', write: 'allow', why: 'user variables' },
];

/** Under `read` with `deny_tables: [secret*]`. */
const TABLE_RULES: readonly Case[] = [
  { sql: 'SELECT * FROM t', expect: 'allow', why: 'other table' },
  { sql: 'SELECT * FROM secret', expect: 'deny', why: 'denied table' },
  { sql: 'SELECT * FROM `SECRET`', expect: 'deny', why: 'case and backticks', serverError: true },
  { sql: 'SELECT * FROM test.secret', expect: 'deny', why: 'qualified' },
  { sql: 'SELECT * FROM t WHERE id IN (SELECT id FROM secret)', expect: 'deny', why: 'subquery' },
  { sql: 'SELECT 1 UNION SELECT v FROM secret', expect: 'deny', why: 'UNION' },
  { sql: 'WITH s AS (SELECT * FROM secret) SELECT * FROM s', expect: 'deny', why: 'CTE over the table' },
  { sql: 'SELECT 1 /*!50000 , (SELECT v FROM secret LIMIT 1) */', expect: 'deny', why: 'executable comment' },
  { sql: "PREPARE s FROM 'SELECT * FROM secret'", expect: 'deny', why: 'PREPARE text' },
  { sql: 'USE mysql', expect: 'deny', why: 'another default database' },
  { sql: 'SELECT * FROM secret', params: [], expect: 'deny', why: 'binary protocol' },
  { sql: 'DESCRIBE secret', expect: 'allow', why: 'structure is not data' },
];

let server: MariaDbServer;
let logFile: string;
const proxies: MysqlProxy[] = [];
/** Canary → whether the policy allowed it. */
const sent = new Map<string, { expect: Expect; why: string }>();
const run = Math.random().toString(36).slice(2, 8);
let n = 0;

before(async () => {
  server = await startMariaDb();
  logFile = path.join(server.dir, 'general.log');
  await server.sql(
    `SET GLOBAL general_log_file = '${logFile}'; SET GLOBAL general_log = 1; ` +
      'SET GLOBAL max_allowed_packet = 64 * 1024 * 1024;',
  );
  await server.sql(
    `${MYSQL_SETUP.join(';\n')};\nCREATE TABLE secret (id int, v text);\nINSERT INTO secret VALUES (1, 's');`,
    'test',
  );
});

after(async () => {
  for (const p of proxies) await p.close();
  await server?.stop();
});

async function proxyFor(role: Record<string, unknown>, record: boolean): Promise<MysqlProxy> {
  const p = await startMysqlProxy({
    record,
    role,
    targets: [mariaDbTarget(server.port)],
  });
  proxies.push(p);
  return p;
}

type Outcome =
  | { kind: 'denied'; message: string }
  | { kind: 'ran' }
  | { kind: 'failed'; errno: number; message: string };

/** One case on a fresh connection (so no session state leaks into the next case). */
async function send(proxy: MysqlProxy, c: Case, mode: string): Promise<Outcome> {
  const canary = `cv_${run}_${mode}_${++n}`;
  sent.set(canary, { expect: c.expect, why: `${mode}: ${c.why}: ${c.sql}` });
  const sql = `/* ${canary} */ ${c.sql}`;
  const conn = await connectMysql2(proxy, { multipleStatements: true });
  try {
    if (c.params) await conn.execute(sql, [...c.params]);
    else await conn.query(sql);
    return { kind: 'ran' };
  } catch (err) {
    const e = err as { errno?: number; message: string };
    if (e.errno === 1142 && e.message.startsWith('dbtape: denied by rule'))
      return { kind: 'denied', message: e.message };
    return { kind: 'failed', errno: e.errno ?? -1, message: e.message };
  } finally {
    await conn.end().catch(() => {});
  }
}

function check(c: Case, o: Outcome): void {
  const what = `${c.why}: ${c.sql}`;
  if (c.expect === 'deny') {
    assert.equal(o.kind, 'denied', `should be denied with 1142 (${what}), got ${JSON.stringify(o)}`);
  } else if (c.serverError) {
    assert.notEqual(o.kind, 'denied', `should be allowed (${what}): ${JSON.stringify(o)}`);
  } else {
    assert.equal(o.kind, 'ran', `should run (${what}), got ${JSON.stringify(o)}`);
  }
}

function casesFor(level: 'read' | 'write'): Case[] {
  const out: Case[] = [];
  for (const b of [...MYSQL_CORPUS, ...EXTRA, ...BINARY]) {
    // KILL names a dbtape connection id and is judged by dbtape's kill rules (mysql-clients tests it).
    if (/^KILL\b/i.test(b.sql)) continue;
    const params = 'params' in b ? (b as { params: readonly (string | number)[] }).params : undefined;
    out.push({
      sql: b.sql,
      expect: b[level],
      why: b.why,
      ...(params ? { params } : {}),
      ...(failsOnServer(b, level) ? { serverError: true } : {}),
    });
  }
  return out;
}

describe('the corpus through dbtape', () => {
  test('access: read (recording on)', async () => {
    const proxy = await proxyFor({ access: 'read' }, true);
    const cases = casesFor('read');
    assert.ok(cases.length >= 60, `the corpus has ${cases.length} statements`);
    for (const c of cases) check(c, await send(proxy, c, 'read'));
  });

  test('access: write (recording off)', async () => {
    const proxy = await proxyFor({ access: 'write' }, false);
    for (const c of casesFor('write')) check(c, await send(proxy, c, 'write'));
  });

  test('access: read with deny_tables', async () => {
    const proxy = await proxyFor({ access: 'read', rules: { deny_tables: ['secret*'] } }, true);
    for (const c of TABLE_RULES) check(c, await send(proxy, c, 'tables'));
  });
});

test("the server's general log has every allowed statement and no denied one", async () => {
  const allowed = [...sent].filter(([, v]) => v.expect === 'allow').map(([k]) => k);
  const denied = [...sent].filter(([, v]) => v.expect === 'deny');
  assert.ok(denied.length >= 60, `${denied.length} denied statements`);
  // The log is written as statements arrive; wait until the last allowed one is there.
  const log = await waitFor(
    () => {
      const text = readFileSync(logFile, 'utf8');
      return allowed.every((k) => text.includes(k)) ? text : null;
    },
    { timeoutMs: 10_000, what: 'every allowed statement in the general log' },
  ).catch(() => readFileSync(logFile, 'utf8'));
  const missing = allowed.filter((k) => !log.includes(k)).map((k) => sent.get(k)!.why);
  assert.deepEqual(missing, [], 'allowed statements that never reached the server');
  const leaked = denied.filter(([k]) => log.includes(k)).map(([, v]) => v.why);
  assert.deepEqual(leaked, [], 'denied statements that reached the server');
});

describe('rows of 16 MiB and more (several physical packets)', () => {
  const SIZE = 17 * 1024 * 1024;

  test('a masked value is rewritten whole, in text and binary rows; the columns after it are intact', async () => {
    const proxy = await proxyFor({ access: 'read', masking: { columns: ['email'] } }, false);
    const conn = await connectMysql2(proxy);
    try {
      // Separators keep their place in a masked value, so this one is cheap to mask (masking long runs
      // of letters costs about a second per MiB in the policy's maskWhole).
      const sql = `SELECT CONCAT(REPEAT('-', ${SIZE}), 'secret') AS email, 'tail' AS t`;
      const masked = `${'-'.repeat(SIZE)}******`;
      const [text] = await conn.query<mysql.RowDataPacket[]>(sql);
      assert.ok(text[0]!.email === masked, 'the text row holds the masked value');
      assert.equal(text[0]!.t, 'tail');
      const [binary] = await conn.execute<mysql.RowDataPacket[]>(`${sql} FROM DUAL WHERE ? = 1`, [1]);
      assert.ok(binary[0]!.email === masked, 'the binary row holds the masked value');
      assert.equal(binary[0]!.t, 'tail');
    } finally {
      await conn.end();
    }
  });

  test('max_rows drops a row of several packets and the sequence ids stay right', async () => {
    const proxy = await proxyFor({ access: 'read', rules: { max_rows: 1 } }, true);
    const conn = await connectMysql2(proxy);
    try {
      const sql = `SELECT id, REPEAT('b', ${SIZE}) AS big FROM t ORDER BY id`;
      const [text] = await conn.query<mysql.RowDataPacket[]>(sql);
      assert.deepEqual(
        text.map((r) => [r.id, r.big.length]),
        [[1, SIZE]],
      );
      const [binary] = await conn.execute<mysql.RowDataPacket[]>(
        `${sql.replace('ORDER', 'WHERE id > ? ORDER')}`,
        [0],
      );
      assert.deepEqual(
        binary.map((r) => [r.id, r.big.length]),
        [[1, SIZE]],
      );
      const [after] = await conn.query<mysql.RowDataPacket[]>('SELECT 2 AS two');
      assert.deepEqual(after, [{ two: 2 }]);
    } finally {
      await conn.end();
    }
  });
});
