// Real MySQL clients through dbtape (in this process) against the machine's MariaDB: the mariadb
// CLI (queries, errors, caching_sha2_password, Ctrl-C on SELECT SLEEP(10)), mysql2 (query,
// execute with parameters of many types, multi-statements, errors, KILL rights), and what the
// store holds afterwards. LOAD DATA LOCAL INFILE has its own file, mysql-local-infile.test.ts.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type mysql from 'mysql2/promise';
import type { SessionEvent } from '../../src/model/session.js';
import { requireBinary } from '../support/binaries.js';
import { run } from '../support/exec.js';
import {
  ALICE,
  BOB,
  CAROL,
  connectDirect,
  connectMysql2,
  type MysqlProxy,
  mariadbArgs,
  mariadbEnv,
  outcomeOf,
  Recorded,
  requireMachineMariaDb,
  startMysqlProxy,
  uniqueName,
} from '../support/mysql-fixtures.js';
import { background } from '../support/pg-fixtures.js';
import { waitFor } from '../support/wait.js';

const MARIADB = requireBinary('mariadb', 'mariadb-client');

let proxy: MysqlProxy;
let direct: mysql.Connection;
let recorded: Recorded;

before(async () => {
  await requireMachineMariaDb();
  proxy = await startMysqlProxy({ capture: 'rows', maxRows: 50 });
  direct = await connectDirect();
  recorded = new Recorded(proxy.storeUrl);
});

after(async () => {
  await recorded?.close();
  await direct?.end();
  await proxy?.close();
});

/** The mariadb client as alice through dbtape; resolves with stdout, rejects quoting stderr. */
async function cli(sql: string, extra: readonly string[] = [], database = 'app'): Promise<string> {
  const { stdout } = await run(MARIADB, [...mariadbArgs(proxy, ['--batch', ...extra], database), '-e', sql], {
    env: mariadbEnv(),
  });
  return stdout;
}

async function cliError(sql: string, extra: readonly string[] = [], database = 'app'): Promise<string> {
  try {
    await cli(sql, extra, database);
  } catch (err) {
    return (err as Error).message;
  }
  assert.fail(`expected the mariadb client to fail on: ${sql}`);
}

async function scratchTable(columns: string): Promise<string> {
  const name = uniqueName('t');
  await direct.query(`CREATE TABLE ${name} (${columns})`);
  return name;
}

function only<K extends SessionEvent['kind']>(
  events: readonly SessionEvent[],
  kind: K,
): Extract<SessionEvent, { kind: K }>[] {
  return events.filter((e): e is Extract<SessionEvent, { kind: K }> => e.kind === kind);
}

describe('mariadb CLI', () => {
  test('prints what it prints against the server directly, and the session is recorded', async () => {
    const marker = uniqueName('cli');
    const sql = `SELECT 1 AS one, 'ü 日本' AS txt, NULL AS nothing, 2.50 AS amount, '${marker}' AS m UNION ALL SELECT 2, 'b', 3, 1.25, 'x'`;
    const through = await cli(sql);
    const { stdout: straight } = await run(MARIADB, [
      '--no-defaults',
      '-h127.0.0.1',
      '-uroot',
      '--batch',
      'test',
      '-e',
      sql,
    ]);
    assert.equal(through, straight);

    const { events } = await recorded.sessionWith(marker);
    const start = events[0];
    assert.equal(start.kind, 'start');
    if (start.kind === 'start') {
      assert.equal(start.meta.protocol, 'mysql');
      assert.equal(start.meta.user, 'alice');
      assert.equal(start.meta.target, 'app');
      assert.equal(start.meta.upstreamDatabase, 'test');
      assert.equal(start.meta.application, 'mysql');
    }
    const [query, result] = outcomeOf(events, marker);
    assert.equal(query.kind === 'query' && query.via, 'simple');
    assert.equal(result.kind, 'result');
    if (result.kind === 'result') {
      assert.equal(result.rows, 2);
      assert.deepEqual(
        result.columns?.map((c) => c.name),
        ['one', 'txt', 'nothing', 'amount', 'm'],
      );
      assert.deepEqual(result.rowData, [
        ['1', 'ü 日本', null, '2.50', marker],
        ['2', 'b', '3', '1.25', 'x'],
      ]);
    }
    assert.equal(events.at(-1)?.kind === 'end' && events.at(-1)?.kind, 'end');
  });

  test('server errors reach the client as the server sent them and are recorded with errno and SQLSTATE', async () => {
    const table = uniqueName('missing');
    const message = await cliError(`SELECT * FROM ${table}`);
    assert.match(
      message,
      new RegExp(`ERROR 1146 \\(42S02\\) at line 1: Table 'test.${table}' doesn't exist`),
    );
    const { events } = await recorded.sessionWith(table);
    const error = outcomeOf(events, table)[1];
    assert.equal(error.kind, 'error');
    if (error.kind === 'error') {
      assert.equal(error.errno, 1146);
      assert.equal(error.code, '42S02');
    }
  });

  test('a wrong password and an unknown target: the errors a user sees', async () => {
    const denied = await run(MARIADB, [...mariadbArgs(proxy), '-e', 'SELECT 1'], {
      env: mariadbEnv({ ...ALICE, password: 'nope' }),
    }).catch((e: Error) => e.message);
    assert.match(
      String(denied),
      /ERROR 1045 \(28000\): dbtape: Access denied for user 'alice'@'127.0.0.1' \(using password: YES\)/,
    );
    assert.match(
      await cliError('SELECT 1', [], 'nosuch'),
      /ERROR 1044 \(42000\): dbtape: target "nosuch" does not exist or you may not use it/,
    );
  });

  test('passwords in statements are redacted before they are stored', async () => {
    const user = uniqueName('nobody');
    // A write role may not change users: dbtape denies the statement, and records it redacted.
    const message = await cliError(
      `SELECT '${user}'; ALTER USER '${user}'@'%' IDENTIFIED BY 'hunter2-very-secret'`,
    );
    assert.match(message, /ERROR 1142 \(42000\) at line 1: dbtape: denied by rule access=write/);
    const { events } = await recorded.sessionWith(user);
    const denied = outcomeOf(events, user).find((e) => e.kind === 'denied');
    assert.ok(denied?.kind === 'denied' && denied.sql.includes(user));
    assert.doesNotMatch(JSON.stringify(events), /hunter2/);
  });

  test('caching_sha2_password from the client is verified against the stored hash', async () => {
    assert.equal(await cli("SELECT 'sha2' AS via", ['--default-auth=caching_sha2_password']), 'via\nsha2\n');
  });

  test('Ctrl-C on SELECT SLEEP(10) kills that statement only, through the mapped connection id', async () => {
    const marker = uniqueName('ctrl_c');
    const other = uniqueName('bystander');
    const bystander = await connectMysql2(proxy);
    const running = bystander.query<mysql.RowDataPacket[]>(`SELECT SLEEP(3) AS s, '${other}' AS m`);
    await waitForProcess(other);
    const client = background(
      MARIADB,
      [...mariadbArgs(proxy), '-e', `SELECT SLEEP(10) AS '${marker}'`],
      mariadbEnv(),
    );
    try {
      await waitForProcess(marker);
      const t0 = Date.now();
      client.child.kill('SIGINT');
      const exit = await client.exited;
      assert.match(
        client.stderr(),
        /Query execution was interrupted/,
        `exit ${JSON.stringify(exit)} out ${client.stdout()}`,
      );
      assert.notEqual(exit.code, 0);
      assert.ok(Date.now() - t0 < 9000, 'the statement ended before its 10 seconds');
    } finally {
      client.kill();
    }
    const [rows] = await running;
    assert.equal(rows[0].s, 0, 'the other session slept its full time, uninterrupted');
    await bystander.end();

    const { events } = await recorded.sessionWith(marker);
    const kill = only(events, 'command').find((e) => e.command === 'KILL');
    assert.match(kill?.detail ?? '', /^KILL QUERY by alice/);
    const error = only(events, 'error')[0];
    assert.equal(error?.errno, 1317);
  });
});

/** Waits until the machine's MariaDB runs a statement containing `marker`. */
async function waitForProcess(marker: string): Promise<void> {
  await waitFor(
    async () => {
      const [rows] = await direct.query<mysql.RowDataPacket[]>(
        'SELECT id FROM information_schema.processlist WHERE info LIKE ? AND id <> CONNECTION_ID()',
        [`%${marker}%`],
      );
      return rows.length > 0;
    },
    { what: `MariaDB to run the statement marked ${marker}` },
  );
}

describe('mysql2', () => {
  test('execute with parameters of many types: values round-trip and are recorded as text', async () => {
    const table = await scratchTable(
      'id BIGINT PRIMARY KEY, small TINYINT, big BIGINT UNSIGNED, price DECIMAL(10,2), ratio DOUBLE, ' +
        'day DATE, at DATETIME(3), name VARCHAR(50), data BLOB, flag BOOLEAN, note TEXT',
    );
    const conn = await connectMysql2(proxy, {
      dateStrings: true,
      supportBigNumbers: true,
      bigNumberStrings: true,
    });
    const values = [
      9007199254740993n,
      -7,
      '18446744073709551615',
      '12345.67',
      -1.5e-7,
      '2024-02-29',
      '2024-02-29 13:14:15.678',
      'Grüße, 世界 🐬',
      Buffer.from([0, 1, 2, 0xff]),
      true,
      null,
    ];
    const sql = `INSERT INTO ${table} VALUES (?,?,?,?,?,?,?,?,?,?,?)`;
    await conn.execute(sql, values);
    const [rows] = await conn.execute<mysql.RowDataPacket[]>(`SELECT * FROM ${table} WHERE id = ?`, [
      9007199254740993n,
    ]);
    assert.deepEqual(rows[0], {
      id: '9007199254740993',
      small: -7,
      big: '18446744073709551615',
      price: '12345.67',
      ratio: -1.5e-7,
      day: '2024-02-29',
      at: '2024-02-29 13:14:15.678',
      name: 'Grüße, 世界 🐬',
      data: Buffer.from([0, 1, 2, 0xff]),
      flag: 1,
      note: null,
    });
    await conn.end();

    const { events } = await recorded.sessionWith(table);
    const insert = outcomeOf(events, 'INSERT INTO')[0];
    assert.equal(insert.kind, 'query');
    if (insert.kind === 'query') {
      assert.equal(insert.via, 'prepared');
      assert.equal(insert.sql, sql);
      assert.deepEqual(insert.params, [
        '9007199254740993',
        '-7',
        '18446744073709551615',
        '12345.67',
        '-1.5e-7',
        '2024-02-29',
        '2024-02-29 13:14:15.678',
        'Grüße, 世界 🐬',
        '0x000102ff',
        '1',
        null,
      ]);
    }
    const select = outcomeOf(events, 'SELECT * FROM');
    assert.equal(select[1].kind === 'result' && select[1].rows, 1);
    await direct.query(`DROP TABLE ${table}`);
  });

  test('multi-statements give every result, each recorded', async () => {
    const marker = uniqueName('multi');
    const conn = await connectMysql2(proxy, { multipleStatements: true });
    const [results] = await conn.query<mysql.RowDataPacket[][]>(
      `SELECT '${marker}' AS m; SELECT 1 AS a UNION ALL SELECT 2; DO 1`,
    );
    assert.equal(results.length, 3);
    assert.deepEqual(results[1], [{ a: 1 }, { a: 2 }]);
    await conn.end();
    const { events } = await recorded.sessionWith(marker);
    const outcome = outcomeOf(events, marker);
    assert.deepEqual(
      outcome.filter((e) => e.kind === 'result').map((e) => (e.kind === 'result' ? [e.tag, e.rows] : null)),
      [
        ['SELECT', 1],
        ['SELECT', 2],
        ['DO', 0],
      ],
    );
  });

  test('a prepared statement error is recorded with its statement', async () => {
    const conn = await connectMysql2(proxy);
    const table = uniqueName('nope');
    await assert.rejects(conn.execute(`SELECT * FROM ${table} WHERE a = ?`, [1]), { errno: 1146 });
    await conn.end();
    const { events } = await recorded.sessionWith(table);
    const [query, error] = outcomeOf(events, table);
    assert.equal(query.kind === 'query' && query.via, 'prepared');
    assert.equal(error.kind === 'error' && error.code, '42S02');
  });

  test("an execute without its parameters gets the server's own answer (1210), and the session goes on", async () => {
    const conn = await connectMysql2(proxy);
    const marker = uniqueName('noargs');
    // mysql2 sends no parameter block at all for execute(sql, []) on a statement with a placeholder.
    await assert.rejects(conn.execute(`SELECT ? AS ${marker}`, []), {
      errno: 1210,
      message: 'Incorrect arguments to mysqld_stmt_execute',
    });
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT 1 AS x');
    assert.equal(rows[0]?.x, 1);
    await conn.end();
    const { events } = await recorded.sessionWith(marker);
    const [query, error] = outcomeOf(events, marker);
    assert.equal(query.kind === 'query' && query.via, 'prepared');
    assert.equal(error.kind === 'error' && error.errno, 1210);
  });

  test('capture_results: rows keeps the first max_rows rows and the full count', async () => {
    const marker = uniqueName('many');
    const conn = await connectMysql2(proxy);
    await conn.query(`SELECT seq, '${marker}' AS m FROM seq_1_to_1000`);
    await conn.end();
    const { events } = await recorded.sessionWith(marker);
    const result = outcomeOf(events, marker)[1];
    assert.equal(result.kind, 'result');
    if (result.kind === 'result') {
      assert.equal(result.rows, 1000);
      assert.equal(result.rowData?.length, 50);
      assert.equal(result.truncated, true);
    }
  });

  test('KILL QUERY: allowed on your own sessions and for an admin, unknown thread for anyone else', async () => {
    const victim = await connectMysql2(proxy);
    const id = victim.threadId;
    const bob = await connectMysql2(proxy, {}, BOB);
    await assert.rejects(bob.query(`KILL QUERY ${id}`), { errno: 1094, message: `Unknown thread id: ${id}` });
    await assert.rejects(bob.query('KILL QUERY 1'), { errno: 1094 });

    const marker = uniqueName('kill_me');
    const sleeping = victim.query(`SELECT SLEEP(10), '${marker}'`);
    await waitForProcess(marker);
    const carol = await connectMysql2(proxy, {}, CAROL);
    // Expect the interruption before the KILL is sent: the victim's error may arrive before the
    // KILL's OK, and a rejection nobody waits for yet fails the test.
    const interrupted = assert.rejects(sleeping, { errno: 1317 });
    await carol.query(`KILL QUERY ${id}`);
    await interrupted;
    assert.deepEqual((await victim.query('SELECT 7 AS n'))[0], [{ n: 7 }]);

    // The id CONNECTION_ID() returns (the upstream thread's, since the statement runs there) works too.
    const [[{ upstreamId }]] = (await victim.query('SELECT CONNECTION_ID() AS upstreamId')) as unknown as [
      [{ upstreamId: number }],
    ];
    assert.notEqual(upstreamId, id);
    const marker2 = uniqueName('kill_me_too');
    const sleeping2 = victim.query(`SELECT SLEEP(10), '${marker2}'`);
    await waitForProcess(marker2);
    const interrupted2 = assert.rejects(sleeping2, { errno: 1317 });
    await assert.rejects(bob.query(`KILL QUERY ${upstreamId}`), { errno: 1094 });
    await carol.query(`KILL QUERY ${upstreamId}`);
    await interrupted2;

    const alice2 = await connectMysql2(proxy);
    await alice2.query(`KILL ${id}`);
    // The server ends the victim's connection: dbtape passes its goodbye on and closes. KILL answers
    // before the server has closed it, so a statement sent at once may still run.
    await waitFor(
      () =>
        victim.query('SELECT 1').then(
          () => false,
          () => true,
        ),
      { what: 'the killed connection to close' },
    );
    await Promise.all([bob.end(), carol.end(), alice2.end()]);
    victim.destroy();
  });

  test('a KILL inside an executable comment, after a long statement, in dynamic SQL or prepared never reaches the server with a raw thread id', async () => {
    // The victim is a connection straight to MariaDB under the account dbtape uses upstream, so
    // the server itself would let any dbtape session kill it by its raw thread id.
    const victim = await connectDirect();
    const rawId = victim.threadId!;
    const marker = uniqueName('not_killed');
    const sleeping = victim.query(`SELECT SLEEP(4), '${marker}'`);
    await waitForProcess(marker);
    const admin = await connectMysql2(proxy, { multipleStatements: true }, CAROL);
    const padding = `SELECT '${'x'.repeat(600)}'`;
    for (const sql of [
      `/*!KILL QUERY ${rawId}*/`,
      `/*M!100000 KILL QUERY ${rawId} */`,
      `SELECT 1; /*! KILL QUERY ${rawId} */`,
      `${padding}; KILL QUERY ${rawId}`,
      `EXECUTE IMMEDIATE 'KILL QUERY ${rawId}'`,
      `PREPARE k FROM 'KILL QUERY ${rawId}'`,
    ]) {
      // Mapped (an unknown dbtape id: 1094) or refused (1235), never forwarded as it is.
      await assert.rejects(admin.query(sql), (err: { errno?: number }) => {
        assert.ok(err.errno === 1094 || err.errno === 1235, `${sql.slice(0, 40)}: errno ${err.errno}`);
        return true;
      });
    }
    await assert.rejects(admin.execute(`KILL QUERY ${rawId}`), { errno: 1235 });
    // The victim's statement ran to its end: SLEEP returns 0 when not interrupted.
    const [rows] = (await sleeping) as [mysql.RowDataPacket[], unknown];
    assert.equal(Object.values(rows[0]!)[0], 0);
    await admin.end();
    await victim.end();
  });

  test('COM_CHANGE_USER is refused with a clear error', async () => {
    const conn = await connectMysql2(proxy);
    await assert.rejects(conn.changeUser({ user: 'root' }), /COM_CHANGE_USER is not supported/);
    conn.destroy();
  });
});
