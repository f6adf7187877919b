// The access policy on the MySQL side, through real clients (the mariadb CLI, mysql2's text and
// binary protocols, hand-built packets) against the machine's MariaDB: denials answered with ERROR
// 1142 naming the rule, nothing of a denied text reaching the server, the session usable after it,
// pipelined answers in order; max_rows cutting text, binary and cursor results; masking of text and
// binary rows; and what the recording holds (denied events, masked rows only).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type mysql from 'mysql2/promise';
import type { SessionEvent } from '../../src/model/session.js';
import * as M from '../../src/protocol/mysql/index.js';
import { requireBinary } from '../support/binaries.js';
import { runStatus } from '../support/exec.js';
import {
  ALICE,
  connectDirect,
  connectMysql2,
  errOf,
  FAKE_CAPABILITIES,
  fakeTarget,
  type MysqlProxy,
  mariadbArgs,
  mariadbEnv,
  queryPayload,
  RawMysql,
  type RawPacket,
  Recorded,
  requireMachineMariaDb,
  startFakeUpstream,
  startMysqlProxy,
  uniqueName,
} from '../support/mysql-fixtures.js';
import { cli as storeCli } from '../support/recording-fixtures.js';
import { waitFor, within } from '../support/wait.js';

const MARIADB = requireBinary('mariadb', 'mariadb-client');

const PEOPLE = uniqueName('pm_people');
const SECRET = uniqueName('pm_secret');
const CARD = '4111 1111 1111 1111';

let direct: mysql.Connection;
let proxy: MysqlProxy;
let recorded: Recorded;

before(async () => {
  await requireMachineMariaDb();
  direct = await connectDirect({ multipleStatements: true });
  await direct.query(
    `CREATE TABLE ${PEOPLE} (id INT PRIMARY KEY, name VARCHAR(40), email VARCHAR(80), ssn VARCHAR(20), ` +
      `salary INT, note TEXT, amount DECIMAL(10,2), born DATE); CREATE TABLE ${SECRET} (id INT, v TEXT)`,
  );
  const rows = Array.from({ length: 10 }, (_, i) => {
    const n = i + 1;
    return `(${n}, 'person ${n}', 'person${n}@example.com', '123-45-67${String(n).padStart(2, '0')}', ${50000 + n}, 'paid with ${CARD} today', ${n}.25, '1990-01-${String(n).padStart(2, '0')}')`;
  });
  await direct.query(
    `INSERT INTO ${PEOPLE} VALUES ${rows.join(', ')}; INSERT INTO ${SECRET} VALUES (1, 'x')`,
  );
  proxy = await startMysqlProxy({
    capture: 'rows',
    maxRows: 100,
    role: {
      access: 'read',
      rules: { deny_tables: ['pm_secret_*'], max_rows: 3 },
      masking: { columns: ['email', '*.ssn', 'salary', 'amount', 'born'], detectors: ['card'] },
    },
  });
  recorded = new Recorded(proxy.storeUrl);
});

after(async () => {
  // One CI run hung past the file's 300 s after every test had passed, as mysql-sysbench once did:
  // each step is bounded so that, if it happens again, the failure names the step.
  await within(30_000, 'closing the read-only store', recorded?.close() ?? Promise.resolve());
  await within(30_000, 'stopping dbtape', proxy?.close() ?? Promise.resolve());
  // A metadata lock still held by a session would block DROP TABLE indefinitely.
  await direct?.query('SET SESSION lock_wait_timeout = 20');
  await within(
    30_000,
    'dropping the test tables',
    direct?.query(`DROP TABLE IF EXISTS ${PEOPLE}, ${SECRET}`) ?? Promise.resolve(),
  );
  await direct?.end();
});

interface CliResult {
  readonly stdout: string;
  readonly stderr: string;
  readonly status: number | null;
}

/**
 * The mariadb client through dbtape, with its exit status (it fails on a denied statement). The SQL
 * goes on stdin, where `--force` makes the client go on after an error (with `-e` it stops).
 */
async function cli(sql: string, extra: readonly string[] = []): Promise<CliResult> {
  const r = await runStatus(MARIADB, mariadbArgs(proxy, ['--batch', ...extra]), {
    env: mariadbEnv(),
    input: `${sql}\n`,
  });
  return { stdout: r.stdout, stderr: r.stderr, status: r.code };
}

async function mysqlError(
  p: Promise<unknown>,
): Promise<{ errno: number; sqlState: string; message: string }> {
  try {
    await p;
  } catch (err) {
    const e = err as { errno: number; sqlState: string; message: string };
    return { errno: e.errno, sqlState: e.sqlState, message: e.message };
  }
  assert.fail('expected the statement to fail');
}

/** Events of the session that ran a statement (or had one denied) containing `marker`, once ended. */
async function sessionWith(marker: string): Promise<{ id: string; events: SessionEvent[] }> {
  return waitFor(
    async () => {
      for (const s of await recorded.sessions()) {
        const events = await recorded.events(s.id);
        const hit = events.some((e) => (e.kind === 'query' || e.kind === 'denied') && e.sql.includes(marker));
        if (hit && events.some((e) => e.kind === 'end')) return { id: s.id, events };
      }
      return null;
    },
    { timeoutMs: 10_000, what: `a recorded session mentioning ${marker}` },
  );
}

async function count(table: string): Promise<number> {
  const [rows] = await direct.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${table}`);
  return Number(rows[0].n);
}

/** SHOW WARNINGS after a result dbtape stopped: the server's own note of the interruption, then dbtape's. */
async function assertStopWarnings(conn: mysql.Connection): Promise<void> {
  const [w] = await conn.query<mysql.RowDataPacket[]>('SHOW WARNINGS');
  assert.deepEqual(
    w.map((x) => `${x.Code} ${x.Message}`),
    [
      '1317 Query execution was interrupted',
      '1105 dbtape: result truncated to 3 rows by rule max_rows (the query was stopped there)',
    ],
  );
}

/** The rows the server has sent on this connection (its session status). */
async function rowsSent(conn: mysql.Connection): Promise<number> {
  const [st] = await conn.query<mysql.RowDataPacket[]>("SHOW SESSION STATUS LIKE 'Rows_sent'");
  return Number(st[0]!.Value);
}

describe('denials', () => {
  test('the mysql CLI gets ERROR 1142 naming the rule, and the session goes on', async () => {
    const marker = uniqueName('cli_deny');
    const r = await cli(
      `UPDATE ${PEOPLE} SET name = '${marker}' WHERE id = 1; SELECT '${marker}' AS after_it`,
      ['--force'],
    );
    assert.match(
      r.stderr,
      /ERROR 1142 \(42000\) at line 1: dbtape: denied by rule access=read: UPDATE changes data/,
    );
    assert.match(r.stdout, new RegExp(`after_it\\n${marker}\\n`));
    const [rows] = await direct.query<mysql.RowDataPacket[]>(`SELECT name FROM ${PEOPLE} WHERE id = 1`);
    assert.equal(rows[0].name, 'person 1', 'the denied UPDATE never ran');

    const { events } = await sessionWith(marker);
    const denied = events.find((e) => e.kind === 'denied');
    assert.ok(denied?.kind === 'denied');
    assert.equal(denied.rule, 'access=read');
    assert.match(denied.sql, new RegExp(`^UPDATE ${PEOPLE} SET name = '${marker}'`));
    assert.match(denied.message, /^dbtape: denied by rule access=read/);
    assert.ok(
      events.some((e) => e.kind === 'query' && e.sql.includes('after_it')),
      'the statement after the denial ran and was recorded',
    );
  });

  test('mysql2 query() and execute(): denied with 1142, nothing runs, the connection stays usable', async () => {
    const conn = await connectMysql2(proxy, { multipleStatements: true });
    try {
      const q = await mysqlError(conn.query(`DELETE FROM ${PEOPLE} WHERE id = 2`));
      assert.deepEqual({ errno: q.errno, sqlState: q.sqlState }, { errno: 1142, sqlState: '42000' });
      assert.match(q.message, /denied by rule access=read: DELETE changes data/);

      // Prepared: the COM_STMT_PREPARE is denied, so there is never a statement to execute.
      const p = await mysqlError(conn.execute(`INSERT INTO ${PEOPLE} (id) VALUES (?)`, [99]));
      assert.equal(p.errno, 1142);
      assert.match(p.message, /access=read: INSERT changes data/);

      // Every statement of a multi-statement text is checked; the first denial stops all of it.
      const multi = await mysqlError(conn.query(`SELECT 1; SELECT * FROM ${SECRET}`));
      assert.equal(multi.errno, 1142);
      assert.match(multi.message, new RegExp(`deny_tables: ${SECRET} matches 'pm_secret_\\*'`));
      const hidden = await mysqlError(conn.query(`SELECT 1; DELETE FROM ${PEOPLE} WHERE id = 3`));
      assert.equal(hidden.errno, 1142);

      const [ok] = await conn.query<mysql.RowDataPacket[]>('SELECT 7 AS seven');
      assert.deepEqual(ok, [{ seven: 7 }]);
      const [prepared] = await conn.execute<mysql.RowDataPacket[]>(
        `SELECT name FROM ${PEOPLE} WHERE id = ?`,
        [4],
      );
      assert.deepEqual(prepared, [{ name: 'person 4' }]);
    } finally {
      await conn.end();
    }
    assert.equal(await count(PEOPLE), 10, 'no denied statement reached the server');
  });

  test('the upstream session is read-only too, again after COM_RESET_CONNECTION: a stored function cannot write', async () => {
    // A function's body is not in the statement's parse tree: the policy allows calling it under
    // read, and the server's read-only transaction mode is what stops its INSERT.
    const fn = uniqueName('pm_writes');
    await direct.query(
      `CREATE FUNCTION ${fn}() RETURNS INT MODIFIES SQL DATA BEGIN INSERT INTO ${SECRET} VALUES (2, 'w'); RETURN 1; END`,
    );
    try {
      const conn = await connectMysql2(proxy);
      try {
        const e = await mysqlError(conn.query(`SELECT ${fn}() AS w`));
        assert.equal(e.errno, 1792, e.message);
        const [rows] = await conn.query('SELECT @@tx_read_only AS ro');
        assert.equal((rows as { ro: number }[])[0]!.ro, 1);
      } finally {
        await conn.end();
      }
      const raw = await RawMysql.connect(proxy.port);
      try {
        const { answer } = await raw.login();
        assert.equal(answer.payload[0], M.OK_HEADER);
        raw.command(Buffer.from([M.COM_RESET_CONNECTION]));
        const [reset] = await raw.response(M.COM_RESET_CONNECTION);
        assert.equal(reset!.payload[0], M.OK_HEADER, "the client gets the reset's own OK");
        raw.command(queryPayload(`SELECT ${fn}() AS w`));
        const [after] = await raw.response(M.COM_QUERY);
        assert.equal(errOf(after).errno, 1792, 'still read-only after the reset');
      } finally {
        raw.close();
      }
      assert.equal(await count(SECRET), 1, 'the function wrote nothing');
    } finally {
      await direct.query(`DROP FUNCTION IF EXISTS ${fn}`);
    }
  });

  test('pipelined commands: the denied one is answered in its turn with the right sequence ids', async () => {
    const raw = await RawMysql.connect(proxy.port);
    const { answer } = await raw.login();
    assert.equal(answer.payload[0], M.OK_HEADER);
    raw.write(
      Buffer.concat([
        M.framePayload(queryPayload('SELECT 1 AS a'), 0).bytes,
        M.framePayload(queryPayload(`DROP TABLE ${PEOPLE}`), 0).bytes,
        M.framePayload(queryPayload('SELECT 2 AS b'), 0).bytes,
        M.framePayload(Buffer.concat([Buffer.from([M.COM_INIT_DB]), Buffer.from('mysql')]), 0).bytes,
        M.framePayload(Buffer.from([M.COM_PING]), 0).bytes,
      ]),
    );
    const first = await raw.response(M.COM_QUERY);
    assert.ok(first.some((p) => p.payload.includes(Buffer.from('a'))));
    const denied = await raw.read();
    assert.equal(denied?.seq, 1, 'the ERR answers the command at sequence id 1');
    const err = errOf(denied);
    assert.equal(err.errno, 1142);
    assert.equal(err.sqlState, '42000');
    assert.match(err.message, /access=read: DROP changes the schema/);
    const third = await raw.response(M.COM_QUERY);
    assert.deepEqual(
      third.map((p: RawPacket) => p.seq),
      third.map((_, i) => i + 1),
    );
    // COM_INIT_DB is judged as USE: another database is denied while table rules apply.
    const initDb = errOf(await raw.read());
    assert.equal(initDb.errno, 1142);
    assert.match(initDb.message, /deny_tables: USE mysql/);
    const [pong] = await raw.response(M.COM_PING);
    assert.equal(pong.payload[0], M.OK_HEADER);
    raw.close();
    assert.equal(await count(PEOPLE), 10);
  });

  test('denials are visible through `dbtape show` and in search', async () => {
    const marker = uniqueName('shown');
    const conn = await connectMysql2(proxy);
    await mysqlError(conn.query(`UPDATE ${PEOPLE} SET name = '${marker}' WHERE id = 5`));
    await conn.end();
    const { id } = await sessionWith(marker);
    const show = await storeCli(proxy.storeUrl, ['show', id, '--json']);
    assert.equal(show.code, 0, show.stderr);
    const { stdout } = show;
    const shown = JSON.parse(stdout) as {
      events: { kind: string; sql?: string; error?: { code: string; message: string } }[];
    };
    const denied = shown.events.find((e) => e.kind === 'denied');
    assert.equal(denied?.error?.code, 'access=read');
    assert.match(denied?.error?.message ?? '', /^dbtape: denied by rule access=read: UPDATE changes data/);
    assert.match(denied?.sql ?? '', new RegExp(marker));
    const search = await storeCli(proxy.storeUrl, ['search', marker, '--json']);
    assert.equal(search.code, 0, search.stderr);
    const found = search.stdout;
    assert.equal((JSON.parse(found) as { session_id: string }[])[0]?.session_id, id);
  });
});

describe('max_rows', () => {
  test('text results: the mysql CLI gets the first 3 rows, each result of a multi-statement alike', async () => {
    const r = await cli(`SELECT id FROM ${PEOPLE} ORDER BY id; SELECT id FROM ${PEOPLE} ORDER BY id DESC`);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout, 'id\n1\n2\n3\nid\n10\n9\n8\n');
    const verbose = await cli(`SELECT id FROM ${PEOPLE}`, ['-vvv']);
    assert.match(verbose.stdout, /^3 rows in set, 1 warning/m);
  });

  test('the mysql CLI: a SELECT of 20 million rows is stopped after 3, and the client ends cleanly', async () => {
    const r = await cli('SELECT seq FROM seq_1_to_20000000', ['-vvv', '--show-warnings']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stdout, /^3 rows in set, 2 warnings/m, r.stdout);
    assert.match(
      r.stdout,
      /dbtape: result truncated to 3 rows by rule max_rows \(the query was stopped there\)/,
    );
  });

  test("SHOW WARNINGS right after a capped result lists dbtape's warning (the mysql CLI's --show-warnings)", async () => {
    const r = await cli(`SELECT id FROM ${PEOPLE}`, ['--show-warnings']);
    assert.equal(r.status, 0, r.stderr);
    assert.match(
      r.stdout,
      /^Warning \(Code 1105\): dbtape: result truncated to 3 rows by rule max_rows \(7 more rows not sent\)$/m,
    );
  });

  for (const eof of ['DEPRECATE_EOF', '-DEPRECATE_EOF']) {
    test(`mysql2 (${eof}): SHOW WARNINGS adds dbtape's warning to the server's, for the command just before only`, async () => {
      const conn = await connectMysql2(proxy, { flags: [eof] });
      const warnings = async () =>
        (await conn.query<mysql.RowDataPacket[]>('show warnings'))[0].map((w) => `${w.Code} ${w.Message}`);
      const preparedWarnings = async () =>
        (await conn.execute<mysql.RowDataPacket[]>('SHOW WARNINGS'))[0].map((w) => `${w.Code} ${w.Message}`);
      try {
        await conn.query(`SELECT id, 1/0 AS boom FROM ${PEOPLE} WHERE id <= 2`);
        assert.deepEqual(await warnings(), ['1365 Division by 0', '1365 Division by 0'], 'nothing cut');
        await conn.query(`SELECT id, 1/0 AS boom FROM ${PEOPLE} WHERE id <= 5`);
        // The server's list is a result too, capped at 3 rows, before dbtape's row.
        assert.deepEqual(await warnings(), [
          '1365 Division by 0',
          '1365 Division by 0',
          '1365 Division by 0',
          '1105 dbtape: result truncated to 3 rows by rule max_rows (2 more rows not sent)',
        ]);
        await conn.execute(`SELECT id FROM ${PEOPLE} WHERE id > ?`, [0]);
        const cut = ['1105 dbtape: result truncated to 3 rows by rule max_rows (7 more rows not sent)'];
        assert.deepEqual(await warnings(), cut);
        assert.deepEqual(await warnings(), cut, 'SHOW WARNINGS leaves the list as it was');
        // Prepared (binary rows), as PHP's PDO sends it: prepared once, then only executed.
        assert.deepEqual(await preparedWarnings(), cut);
        await conn.query(`SELECT id FROM ${PEOPLE}`);
        assert.deepEqual(await preparedWarnings(), cut);
        await conn.query('SELECT 1');
        assert.deepEqual(await warnings(), [], 'only the command just before counts');
        const [after] = await conn.query<mysql.RowDataPacket[]>('SELECT 2 AS two');
        assert.deepEqual(after, [{ two: 2 }]);
      } finally {
        await conn.end();
      }
    });

    test(`mysql2 (${eof}): a SELECT sent alone is stopped at the cap; the server sends no more; recorded`, async () => {
      const conn = await connectMysql2(proxy, { flags: [eof] });
      const marker = uniqueName('stopped');
      const total = 20_000_000;
      try {
        const [rows] = await conn.query<mysql.RowDataPacket[]>(
          `SELECT seq /* ${marker} */ FROM seq_1_to_${total}`,
        );
        assert.deepEqual(
          rows.map((r) => r.seq),
          [1, 2, 3],
        );
        await assertStopWarnings(conn);
        const sent = await rowsSent(conn);
        assert.ok(sent < total, `the server stopped sending (${sent} of ${total} rows)`);
        const [after] = await conn.query<mysql.RowDataPacket[]>('SELECT 7 AS n');
        assert.deepEqual(after, [{ n: 7 }], 'the session goes on');
      } finally {
        await conn.end();
      }
      const { events } = await sessionWith(marker);
      assert.ok(!events.some((e) => e.kind === 'error'), 'the KILL is not recorded as an error');
      const result = events.find((e) => e.kind === 'result' && e.rows === 3);
      assert.ok(result, JSON.stringify(events.slice(0, 8)));
    });

    test(`mysql2 (${eof}): an execute of a prepared SELECT is stopped at the cap too; the statement stays usable`, async () => {
      const conn = await connectMysql2(proxy, { flags: [eof] });
      const marker = uniqueName('stopped_ps');
      const total = 20_000_000;
      try {
        // Prepared once, executed twice (mysql2 keeps the statement): binary rows, as PDO and JDBC get them.
        const sql = `SELECT seq /* ${marker} */ FROM seq_1_to_${total} WHERE seq > ?`;
        for (const from of [0, 10]) {
          const [rows] = await conn.execute<mysql.RowDataPacket[]>(sql, [from]);
          assert.deepEqual(
            rows.map((r) => r.seq),
            [from + 1, from + 2, from + 3],
          );
          await assertStopWarnings(conn);
        }
        const sent = await rowsSent(conn);
        assert.ok(sent < total, `the server stopped sending (${sent} rows for two executes of ${total})`);
        const [after] = await conn.execute<mysql.RowDataPacket[]>('SELECT ? AS n', [7]);
        assert.deepEqual(after, [{ n: 7 }], 'the session goes on');
      } finally {
        await conn.end();
      }
      const { events } = await sessionWith(marker);
      assert.ok(!events.some((e) => e.kind === 'error'), 'the KILL is not recorded as an error');
      assert.equal(events.filter((e) => e.kind === 'result' && e.rows === 3).length >= 2, true);
    });

    test(`mysql2 (${eof}): text and binary results end cleanly after 3 rows`, async () => {
      const conn = await connectMysql2(proxy, { flags: [eof] });
      try {
        const [text] = await conn.query<mysql.RowDataPacket[]>(`SELECT id FROM ${PEOPLE} ORDER BY id`);
        assert.deepEqual(
          text.map((r) => r.id),
          [1, 2, 3],
        );
        const [binary] = await conn.execute<mysql.RowDataPacket[]>(
          `SELECT id, name FROM ${PEOPLE} WHERE id > ? ORDER BY id`,
          [0],
        );
        assert.deepEqual(
          binary.map((r) => r.id),
          [1, 2, 3],
        );
        // The session is in step afterwards.
        const [after] = await conn.query<mysql.RowDataPacket[]>('SELECT 1 AS one');
        assert.deepEqual(after, [{ one: 1 }]);
      } finally {
        await conn.end();
      }
    });
  }

  test('a cursor is capped across its fetches, and the last fetch says LAST_ROW_SENT', async () => {
    const raw = await RawMysql.connect(proxy.port);
    await raw.login();
    raw.command(
      Buffer.concat([Buffer.from([M.COM_STMT_PREPARE]), Buffer.from(`SELECT id FROM ${PEOPLE} ORDER BY id`)]),
    );
    const prep = M.decodePrepareOk((await raw.response(M.COM_STMT_PREPARE))[0].payload);
    assert.ok(prep.ok);
    const id = prep.value.statementId;
    raw.command(new M.PacketWriter(16).u8(M.COM_STMT_EXECUTE).u32(id).u8(1).u32(1).payload());
    await raw.response(M.COM_STMT_EXECUTE, { cursor: true });
    const rows: number[] = [];
    for (let i = 0; i < 6; i++) {
      raw.command(new M.PacketWriter(16).u8(M.COM_STMT_FETCH).u32(id).u32(2).payload());
      const packets = await raw.response(M.COM_STMT_FETCH);
      for (const p of packets.slice(0, -1)) rows.push(p.payload.readInt32LE(2));
      const last = packets.at(-1)!.payload;
      const eof = M.decodeOk(last, raw.capabilities);
      assert.ok(eof.ok);
      if ((eof.value.statusFlags & M.SERVER_STATUS_LAST_ROW_SENT) !== 0) break;
    }
    assert.deepEqual(rows, [1, 2, 3]);
    raw.close();
  });

  test('the recording says how many rows the client got, with the warning', async () => {
    const marker = uniqueName('capped');
    const conn = await connectMysql2(proxy);
    await conn.query(`SELECT id, '${marker}' AS m FROM ${PEOPLE} ORDER BY id`);
    await conn.end();
    const { events } = await sessionWith(marker);
    const i = events.findIndex((e) => e.kind === 'query' && e.sql.includes(marker));
    const result = events.slice(i).find((e) => e.kind === 'result');
    assert.ok(result?.kind === 'result');
    assert.equal(result.rows, 3);
    assert.equal(result.warnings, 1);
    assert.equal(result.rowData?.length, 3);
  });
});

describe('masking', () => {
  const EMAIL = /person\d+@example\.com/;

  test('text rows through the mysql CLI: by column, through an alias, by detector, numbers zeroed', async () => {
    const r = await cli(
      `SELECT email, ssn AS s, note, salary, amount, born, name FROM ${PEOPLE} WHERE id = 7`,
    );
    assert.equal(r.status, 0, r.stderr);
    const [header, row] = r.stdout.trimEnd().split('\n');
    assert.equal(header, 'email\ts\tnote\tsalary\tamount\tborn\tname');
    const [email, ssn, note, salary, amount, born, name] = row!.split('\t');
    // A column rule keeps the value's shape: letters and digits become `*`, separators stay.
    assert.equal(email, '*******@*******.***');
    assert.equal(ssn, '***-**-****');
    assert.equal(note, 'paid with **** **** **** 1111 today');
    assert.equal(salary, '00000');
    assert.equal(amount, '0.00');
    assert.equal(born, '0000-00-00');
    assert.equal(name, 'person 7', 'other columns pass unchanged');
  });

  test('binary rows through mysql2 execute(): strings masked, numbers and dates become NULL', async () => {
    const conn = await connectMysql2(proxy, { dateStrings: true });
    try {
      const [rows] = await conn.execute<mysql.RowDataPacket[]>(
        `SELECT id, email, ssn, note, salary, amount, born, name FROM ${PEOPLE} WHERE id = ?`,
        [8],
      );
      assert.equal(rows.length, 1);
      const r = rows[0]!;
      assert.equal(r.id, 8);
      assert.doesNotMatch(String(r.email), EMAIL);
      assert.equal(r.ssn, '***-**-****');
      assert.equal(r.note, 'paid with **** **** **** 1111 today');
      assert.equal(r.salary, null, 'an INT masked by name has no text form in binary rows');
      assert.equal(r.amount, '0.00', 'DECIMAL is a string in binary rows');
      assert.equal(r.born, null);
      assert.equal(r.name, 'person 8');
      const [text] = await conn.query<mysql.RowDataPacket[]>(`SELECT email FROM ${PEOPLE} WHERE id = 8`);
      assert.doesNotMatch(String(text[0]!.email), EMAIL);
    } finally {
      await conn.end();
    }
  });

  test('the recording holds only masked values', async () => {
    const marker = uniqueName('masked');
    const conn = await connectMysql2(proxy);
    await conn.query(`SELECT '${marker}' AS m, email, note FROM ${PEOPLE} WHERE id = 9`);
    await conn.execute(`SELECT '${marker}' AS m, email, ssn FROM ${PEOPLE} WHERE id = ?`, [9]);
    await conn.end();
    const { events } = await sessionWith(marker);
    const results = events.filter((e) => e.kind === 'result' && e.rowData !== undefined);
    assert.equal(results.length, 2);
    const stored = JSON.stringify(events);
    assert.doesNotMatch(stored, /person9@example\.com/);
    assert.doesNotMatch(stored, /4111 1111 1111 1111/);
    assert.doesNotMatch(stored, /123-45-6709/);
    assert.match(stored, /\*\*\*-\*\*-\*\*\*\*/);
  });

  test("values quoted in the server's errors and warnings are masked too, and recorded masked", async () => {
    const marker = uniqueName('leak');
    const conn = await connectMysql2(proxy);
    try {
      // The classic error-based read: the value comes back inside an XPATH error.
      await assert.rejects(
        conn.query(
          `SELECT EXTRACTVALUE(1, CONCAT('~', (SELECT email FROM ${PEOPLE} WHERE id = 3))) AS '${marker}'`,
        ),
        (e: Error & { errno?: number }) => {
          assert.equal(e.errno, 1105);
          assert.match(e.message, /^XPATH syntax error: '~p\*+@example\.com'$/);
          return true;
        },
      );
      await conn.query(`SELECT CAST(email AS SIGNED) AS n FROM ${PEOPLE} WHERE id = 4`);
      for (const run of [() => conn.query('SHOW WARNINGS'), () => conn.execute('SHOW WARNINGS')]) {
        const [w] = (await run()) as [mysql.RowDataPacket[], unknown];
        assert.equal(w.length, 1);
        assert.match(String(w[0]!.Message), /^Truncated incorrect INTEGER value: 'p\*+@example\.com'$/);
      }
    } finally {
      await conn.end();
    }
    const { events } = await sessionWith(marker);
    const stored = JSON.stringify(events);
    assert.doesNotMatch(stored, /person[34]@example\.com/);
    assert.match(stored, /XPATH syntax error: '~p\*+@example\.com'/);
  });
});

test('an admin role without rules is not checked at all', async () => {
  const admin = await startMysqlProxy({ record: false, role: { access: 'admin' } });
  const table = uniqueName('pm_admin');
  const conn = await connectMysql2(admin, {}, ALICE);
  try {
    await conn.query(`CREATE TABLE ${table} (id INT)`);
    await conn.query(`DROP TABLE ${table}`);
  } finally {
    await conn.end();
    await admin.close();
  }
});

describe('when client and server disagree on DEPRECATE_EOF (dbtape translates the framing)', () => {
  const BASE =
    M.CLIENT_PROTOCOL_41 |
    M.CLIENT_SECURE_CONNECTION |
    M.CLIENT_PLUGIN_AUTH |
    M.CLIENT_LONG_PASSWORD |
    M.CLIENT_TRANSACTIONS |
    M.CLIENT_MULTI_RESULTS;

  for (const [label, serverCaps, clientCaps] of [
    [
      'classic server, DEPRECATE_EOF client',
      FAKE_CAPABILITIES & ~M.CLIENT_DEPRECATE_EOF,
      BASE | M.CLIENT_DEPRECATE_EOF,
    ],
    ['DEPRECATE_EOF server, classic client', FAKE_CAPABILITIES, BASE],
  ] as const) {
    test(`${label}: rows capped and masked, SHOW WARNINGS with dbtape's row, sequence ids consecutive`, async () => {
      const fake = await startFakeUpstream({
        capabilities: serverCaps,
        answer: (sql) =>
          sql === 'SHOW WARNINGS'
            ? { columns: ['Level', 'Code', 'Message'], rows: [['Note', '1003', 'from the server']] }
            : {
                columns: ['a', 'b'],
                rows: [
                  ['1', 'xy'],
                  ['2', null],
                  ['3', 'zz'],
                ],
              },
      });
      const p = await startMysqlProxy({
        record: false,
        role: { access: 'read', rules: { max_rows: 2 }, masking: { columns: ['b'] } },
        targets: [fakeTarget(fake)],
      });
      try {
        const raw = await RawMysql.connect(p.port);
        await raw.login(undefined, 'app', clientCaps);
        for (let round = 0; round < 2; round++) {
          raw.command(queryPayload('SELECT a, b FROM t'));
          const packets = await raw.response(M.COM_QUERY);
          assert.deepEqual(
            packets.map((x) => x.seq),
            packets.map((_, i) => i + 1),
          );
          const rows = packets
            .filter((x) => x.payload[0] !== M.EOF_HEADER)
            .slice(3)
            .map((x) => {
              const r = M.decodeTextRow(x.payload, ['utf8', 'utf8']);
              assert.ok(r.ok);
              return r.value;
            });
          assert.deepEqual(rows, [
            ['1', '**'],
            ['2', null],
          ]);
          const last = packets.at(-1)!.payload;
          const warnings =
            (clientCaps & M.CLIENT_DEPRECATE_EOF) !== 0
              ? M.decodeOk(last, raw.capabilities)
              : M.decodeEof(last, raw.capabilities);
          assert.ok(warnings.ok);
          assert.equal(warnings.value.warnings, 1);
        }
        raw.command(queryPayload('SHOW WARNINGS'));
        const packets = await raw.response(M.COM_QUERY);
        assert.deepEqual(
          packets.map((x) => x.seq),
          packets.map((_, i) => i + 1),
        );
        const listed = packets
          .filter((x) => x.payload[0] !== M.EOF_HEADER)
          .slice(4)
          .map((x) => {
            const r = M.decodeTextRow(x.payload, ['utf8', 'utf8', 'utf8']);
            assert.ok(r.ok);
            return r.value.join(' ');
          });
        assert.deepEqual(listed, [
          'Note 1003 from the server',
          'Warning 1105 dbtape: result truncated to 2 rows by rule max_rows (1 more row not sent)',
        ]);
        raw.close();
      } finally {
        await p.close();
        await fake.close();
      }
    });
  }
});
