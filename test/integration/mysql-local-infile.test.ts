// LOAD DATA LOCAL INFILE through dbtape against the machine's MariaDB, with the mariadb CLI and mysql2.
// For a role without local_infile the server is not offered CLIENT_LOCAL_FILES, so it refuses the
// statement itself, before reading anything, and runs nothing after it in a multi-statement; the
// client gets dbtape's reason. For a role with local_infile the client's file passes through. In
// every case what the server did, what the client saw and what the recording holds agree.
import assert from 'node:assert/strict';
import { createReadStream, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type mysql from 'mysql2/promise';
import type { SessionEvent } from '../../src/model/session.js';
import { requireBinary } from '../support/binaries.js';
import { runStatus } from '../support/exec.js';
import {
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

const MARIADB = requireBinary('mariadb', 'mariadb-client');

/** What the client gets (and the recording holds) for a LOAD DATA LOCAL its role may not run. */
const REFUSED = /^dbtape: LOAD DATA LOCAL INFILE is not allowed for your role \(roles\[\]\.local_infile\)/;
const REFUSED_CLI = /ERROR 1148 \(42000\) at line \d+: dbtape: LOAD DATA LOCAL INFILE is not allowed/g;

/** Role without local_infile (the default). */
let refusing: MysqlProxy;
/** Role with local_infile: true. */
let allowing: MysqlProxy;
let direct: mysql.Connection;
const recorded = new Map<MysqlProxy, Recorded>();
const tables: string[] = [];

before(async () => {
  await requireMachineMariaDb();
  refusing = await startMysqlProxy({ capture: 'summary' });
  allowing = await startMysqlProxy({ capture: 'summary', role: { local_infile: true } });
  for (const p of [refusing, allowing]) recorded.set(p, new Recorded(p.storeUrl));
  direct = await connectDirect();
});

after(async () => {
  for (const t of tables) await direct?.query(`DROP TABLE IF EXISTS ${t}`);
  for (const r of recorded.values()) await r.close();
  await direct?.end();
  await refusing?.close();
  await allowing?.close();
});

/** A table holding row 902, and a CSV file of rows 1 and 2 for it. */
async function scratch(proxy: MysqlProxy): Promise<{ table: string; file: string }> {
  const table = uniqueName('ld');
  tables.push(table);
  await direct.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, name VARCHAR(20))`);
  await direct.query(`INSERT INTO ${table} VALUES (902, 'kept')`);
  const file = path.join(proxy.dir, `${table}.csv`);
  writeFileSync(file, '1,one\n2,two\n');
  return { table, file };
}

async function ids(table: string): Promise<number[]> {
  const [rows] = await direct.query<mysql.RowDataPacket[]>(`SELECT id FROM ${table} ORDER BY id`);
  return rows.map((r) => r.id as number);
}

/** The QA repro: LOAD DATA LOCAL, then an INSERT and a DELETE, in one multi-statement text. */
function multiStatement(table: string, file: string): string {
  return (
    `load data local infile '${file}' into table ${table} fields terminated by ','; ` +
    `insert into ${table} values (777,'ghost'); delete from ${table} where id=902`
  );
}

/** The mariadb CLI as alice through `proxy`, reading `input` as a script; never rejects. */
function mariadb(proxy: MysqlProxy, input: string, extra: readonly string[]) {
  return runStatus(MARIADB, mariadbArgs(proxy, ['--batch', ...extra]), { env: mariadbEnv(), input });
}

function kinds(events: readonly SessionEvent[]): string[] {
  return events.map((e) => e.kind);
}

describe('a role without local_infile', () => {
  test('a LOAD DATA LOCAL INFILE is refused: no file reaches the server, the session goes on', async () => {
    const { table, file } = await scratch(refusing);
    const r = await mariadb(
      refusing,
      `LOAD DATA LOCAL INFILE '${file}' INTO TABLE ${table};\nSELECT 'after' AS a;\n`,
      ['--local-infile=1', '--force'],
    );
    assert.equal(r.stderr.match(REFUSED_CLI)?.length, 1, r.stderr);
    assert.equal(r.stdout, 'a\nafter\n');
    assert.deepEqual(await ids(table), [902]);
    const { events } = await recorded.get(refusing)!.sessionWith(table);
    const outcome = outcomeOf(events, table);
    assert.deepEqual(kinds(outcome), ['query', 'error']);
    const err = outcome[1];
    assert.ok(err.kind === 'error');
    assert.equal(err.errno, 1148);
    assert.equal(err.code, '42000');
    assert.match(err.message, REFUSED);
  });

  test('nothing after the refused statement of a multi-statement runs (mariadb CLI, --force)', async () => {
    const { table, file } = await scratch(refusing);
    const text = multiStatement(table, file);
    const r = await mariadb(refusing, `delimiter //\n${text}//\nSELECT 'after' AS a//\n`, [
      '--local-infile=1',
      '--force',
    ]);
    assert.equal(r.stderr.match(REFUSED_CLI)?.length, 1, r.stderr);
    assert.equal(r.stdout, 'a\nafter\n', 'the session goes on after the refusal');
    assert.deepEqual(await ids(table), [902], 'neither the INSERT nor the DELETE ran');
    // The statement and its one error, and no outcome claiming the INSERT or DELETE ran.
    const { events } = await recorded.get(refusing)!.sessionWith(`${table} values (777`);
    const outcome = outcomeOf(events, `${table} values (777`);
    assert.deepEqual(kinds(outcome), ['query', 'error']);
    assert.ok(outcome[0].kind === 'query' && outcome[0].sql === text);
    assert.ok(outcome[1].kind === 'error' && outcome[1].errno === 1148);
    assert.match(outcome[1].message, REFUSED);
    assert.ok(!events.some((e) => e.kind === 'copy'), 'no file was recorded as sent');
  });

  test('mysql2 with multipleStatements: the refusal, and the statements after it do not run', async () => {
    const { table, file } = await scratch(refusing);
    let opened = 0;
    const conn = await connectMysql2(refusing, {
      multipleStatements: true,
      infileStreamFactory: (p: string) => {
        opened++;
        return createReadStream(p);
      },
    });
    try {
      await assert.rejects(conn.query(multiStatement(table, file)), (e: mysql.QueryError) => {
        assert.equal(e.errno, 1148);
        assert.equal(e.sqlState, '42000');
        assert.match(e.message, REFUSED);
        return true;
      });
      assert.equal(opened, 0, 'the client was never asked for its file');
      assert.deepEqual(await ids(table), [902]);
      const [rows] = await conn.query<mysql.RowDataPacket[]>(`SELECT 'still here' AS s`);
      assert.equal(rows[0].s, 'still here');
    } finally {
      await conn.end();
    }
    const { events } = await recorded.get(refusing)!.sessionWith(`${table} values (777`);
    assert.deepEqual(kinds(outcomeOf(events, `${table} values (777`)), ['query', 'error']);
  });

  test("a client that declines to send files gets the server's own refusal (--local-infile=0)", async () => {
    const { table, file } = await scratch(refusing);
    const r = await mariadb(refusing, `delimiter //\n${multiStatement(table, file)}//\n`, [
      '--local-infile=0',
    ]);
    // Exactly what the server says to that client directly: nothing here is dbtape's doing.
    assert.match(r.stderr, /ERROR 4166 \(HY000\) at line 2: The used command is not allowed because/);
    assert.deepEqual(await ids(table), [902]);
  });
});

describe('a role with local_infile: true', () => {
  test("the client's file passes through, is recorded as a copy in, and the statements after it run", async () => {
    const { table, file } = await scratch(allowing);
    const text = multiStatement(table, file);
    const r = await mariadb(allowing, `delimiter //\n${text}//\n`, ['--local-infile=1']);
    assert.equal(r.stderr, '');
    assert.equal(r.code, 0);
    assert.deepEqual(await ids(table), [1, 2, 777]);
    const { events } = await recorded.get(allowing)!.sessionWith(`${table} values (777`);
    const outcome = outcomeOf(events, `${table} values (777`);
    const copy = outcome.find((e) => e.kind === 'copy');
    assert.ok(copy?.kind === 'copy' && copy.direction === 'in');
    assert.equal(copy.bytes, statSync(file).size);
    const results = outcome.filter((e) => e.kind === 'result');
    assert.deepEqual(
      results.map((e) => (e.kind === 'result' ? e.rows : -1)),
      [2, 1, 1],
      'LOAD DATA, INSERT and DELETE each report their rows',
    );
    assert.ok(!outcome.some((e) => e.kind === 'error'));
  });

  test('a client that declines to send files is not offered upstream either: the server refuses', async () => {
    const { table, file } = await scratch(allowing);
    const r = await mariadb(allowing, `delimiter //\n${multiStatement(table, file)}//\n`, [
      '--local-infile=0',
    ]);
    assert.match(r.stderr, /ERROR 4166 \(HY000\) at line 2: The used command is not allowed because/);
    assert.deepEqual(await ids(table), [902]);
  });
});
