// What dbtape records of real clients, checked the way a user reads it: psql, node-postgres,
// postgres.js, pgbench and hand-built extended-protocol messages go through a spawned `dbtape serve`
// (capture_results: rows, max_rows: 5) to the machine's PostgreSQL, then `dbtape show|sessions|search|
// replay --store sqlite:FILE` must show every statement with its parameters, outcome, rows and timing,
// in order. Needs `npm run build` (npm test does it) and PostgreSQL on 127.0.0.1:5432.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import postgres from 'postgres';
import type { EventJson } from '../../src/store/json.js';
import type { SessionSummary } from '../../src/store/session-store.js';
import { requirePgBinary } from '../support/binaries.js';
import { run } from '../support/exec.js';
import { loggedIn, type PgRaw } from '../support/inproc-dbtape.js';
import {
  ALICE,
  aliceEnv,
  connectDirect,
  machineTarget,
  tempDir,
  uniqueName,
} from '../support/pg-fixtures.js';
import {
  aliceDsn,
  alicePg,
  assertTimeline,
  bindMsg,
  cliOk,
  describeMsg,
  endedSessions,
  eventLine,
  executeMsg,
  type Outcome,
  outcomes,
  parseMsg,
  type RecordingProxy,
  type ShowJson,
  SYNC_MSG,
  searchJson,
  sessionsJson,
  showJson,
  startRecordingProxy,
} from '../support/recording-fixtures.js';

const PSQL = requirePgBinary('psql', 'postgresql-client');
const PGBENCH = requirePgBinary('pgbench', 'postgresql');
const BENCH_DB = uniqueName('dbtape_recbench');
/** Letters and digits only, so full-text search sees one word. */
const TOKEN = `zq${randomBytes(6).toString('hex')}tok`;
const PARAM_TOKEN = `pq${randomBytes(6).toString('hex')}prm`;

let proxy: RecordingProxy;
let monitor: pg.Client;

before(async () => {
  proxy = await startRecordingProxy({
    targets: [machineTarget('app'), machineTarget('bench', BENCH_DB)],
    capture: 'rows',
    maxRows: 5,
  });
  monitor = await connectDirect();
});

after(async () => {
  await proxy?.stop();
  await monitor?.query(`drop table if exists ${T}`);
  await monitor?.query(`drop database if exists ${BENCH_DB} with (force)`);
  await monitor?.end();
});

/** The one ended session of this application. */
async function sessionOf(application: string): Promise<SessionSummary> {
  const [s] = await endedSessions(proxy.storeUrl, (x) => x.application === application, 1);
  return s!;
}

/** show --json of an ended session (it no longer changes), run once per session. */
const shown = new Map<string, Promise<ShowJson>>();
function show(id: string): Promise<ShowJson> {
  let doc = shown.get(id);
  if (!doc) {
    doc = showJson(proxy.storeUrl, id);
    shown.set(id, doc);
  }
  return doc;
}

function after1(events: readonly EventJson[], e: EventJson): EventJson {
  const next = events[events.indexOf(e) + 1];
  assert.ok(next, `nothing after seq ${e.seq}`);
  return next;
}

// --- psql -----------------------------------------------------------------------------------------

const T = uniqueName('rec_psql');
const COPY_LINES = ['201\tcopied-1\n', '202\tcopied-2\n', '203\tcopied-3\n'];
const PSQL_SCRIPT = [
  `CREATE TABLE ${T} (id int PRIMARY KEY, name text);`,
  `INSERT INTO ${T} SELECT g, 'name-' || g FROM generate_series(1, 8) AS g;`,
  `SELECT id, name FROM ${T} ORDER BY id;`,
  `SELECT id FROM ${T} WHERE id <= 2 ORDER BY id;`,
  'SELECT 1/0;',
  'BEGIN;',
  `UPDATE ${T} SET name = 'changed' WHERE id = 1;`,
  `INSERT INTO ${T} VALUES (100, 'in-tx');`,
  'COMMIT;',
  'BEGIN;',
  `DELETE FROM ${T};`,
  'ROLLBACK;',
  `\\copy ${T} FROM STDIN`,
  ...COPY_LINES.map((l) => l.slice(0, -1)),
  '\\.',
  `DO $$BEGIN RAISE NOTICE 'notice-from-do'; END$$;`,
  `SELECT '${TOKEN}' AS token;`,
  `SELECT count(*) FROM ${T};`,
  `DROP TABLE ${T};`,
].join('\n');

/** What the recording must say, one line per event (see eventLine). */
const PSQL_EXPECTED = [
  'start',
  `query CREATE TABLE ${T} (id int PRIMARY KEY, name text);`,
  'result CREATE TABLE rows=null',
  `query INSERT INTO ${T} SELECT g, 'name-' || g FROM generate_series(1, 8) AS g;`,
  'result INSERT 0 8 rows=8',
  `query SELECT id, name FROM ${T} ORDER BY id;`,
  'result SELECT 8 rows=8',
  `query SELECT id FROM ${T} WHERE id <= 2 ORDER BY id;`,
  'result SELECT 2 rows=2',
  'query SELECT 1/0;',
  'error 22012',
  'query BEGIN;',
  'result BEGIN rows=null',
  'tx begin',
  `query UPDATE ${T} SET name = 'changed' WHERE id = 1;`,
  'result UPDATE 1 rows=1',
  `query INSERT INTO ${T} VALUES (100, 'in-tx');`,
  'result INSERT 0 1 rows=1',
  'query COMMIT;',
  'result COMMIT rows=null',
  'tx commit',
  'query BEGIN;',
  'result BEGIN rows=null',
  'tx begin',
  `query DELETE FROM ${T};`,
  'result DELETE 9 rows=9',
  'query ROLLBACK;',
  'result ROLLBACK rows=null',
  'tx rollback',
  `query COPY ${T} FROM STDIN`,
  'copy in rows=3',
  'result COPY 3 rows=3',
  `query DO $$BEGIN RAISE NOTICE 'notice-from-do'; END$$;`,
  'notice notice-from-do',
  'result DO rows=null',
  `query SELECT '${TOKEN}' AS token;`,
  'result SELECT 1 rows=1',
  `query SELECT count(*) FROM ${T};`,
  'result SELECT 1 rows=1',
  `query DROP TABLE ${T};`,
  'result DROP TABLE rows=null',
  'end client_closed',
];

let psqlId: string;

describe('psql', () => {
  test('every statement in order with its outcome, transactions, COPY, notice, rows and the end', async () => {
    const file = path.join(tempDir('dbtape-rec-psql-'), 'session.sql');
    writeFileSync(file, `${PSQL_SCRIPT}\n`);
    const r = await run(PSQL, ['-X', '-v', 'ON_ERROR_STOP=0', '-d', aliceDsn(proxy), '-f', file], {
      env: aliceEnv(),
    });
    assert.match(r.stderr, /division by zero/, 'psql ran the script through dbtape');

    const [s] = await endedSessions(proxy.storeUrl, (x) => x.application === 'psql', 1);
    psqlId = s!.id;
    const { session, events } = await show(psqlId);
    assert.deepEqual(events.map(eventLine), PSQL_EXPECTED);
    assertTimeline(events);

    assert.equal(session.id, psqlId);
    assert.equal(session.user, ALICE.name);
    assert.equal(session.target, 'app');
    assert.equal(session.protocol, 'postgres');
    assert.equal(session.application, 'psql');
    assert.equal(session.client_addr, '127.0.0.1');
    assert.equal(session.status, 'ended');
    assert.ok(session.ended_at !== null && session.ended_at >= session.started_at);
    assert.equal(session.statements, PSQL_EXPECTED.filter((l) => l.startsWith('query ')).length);
    assert.equal(session.errors, 1);

    const byLine = (line: string) => events[PSQL_EXPECTED.indexOf(line)]!;
    // Each statement's duration fits between it and its outcome.
    for (const q of events.filter((e) => e.kind === 'query')) {
      const o = events.slice(events.indexOf(q) + 1).find((e) => e.kind === 'result' || e.kind === 'error')!;
      assert.equal(typeof o.duration_us, 'number', `duration of ${q.sql}`);
      assert.ok(o.duration_us! <= (o.offset_ms - q.offset_ms) * 1000 + 1000, `duration of ${q.sql} fits`);
    }
    assert.deepEqual(byLine('error 22012').error, {
      code: '22012',
      message: 'division by zero',
      severity: 'ERROR',
    });

    // capture_results: rows, max_rows: 5: the first five rows, and a flag when there were more.
    const eight = byLine('result SELECT 8 rows=8');
    assert.deepEqual(eight.columns, [
      { name: 'id', type: 'int4' },
      { name: 'name', type: 'text' },
    ]);
    assert.deepEqual(
      eight.row_data,
      [1, 2, 3, 4, 5].map((i) => [String(i), `name-${i}`]),
    );
    assert.equal(eight.truncated, true);
    const two = byLine('result SELECT 2 rows=2');
    assert.deepEqual(two.row_data, [['1'], ['2']]);
    assert.equal(two.truncated, undefined);
    const count = events[PSQL_EXPECTED.indexOf(`query SELECT count(*) FROM ${T};`) + 1]!;
    assert.deepEqual([count.columns, count.row_data], [[{ name: 'count', type: 'int8' }], [['12']]]);

    const copy = byLine('copy in rows=3');
    const dataBytes = Buffer.byteLength(COPY_LINES.join(''));
    // psql 15 also forwards the "\.\n" end marker as CopyData; later versions do not.
    assert.ok(
      copy.bytes === dataBytes || copy.bytes === dataBytes + 3,
      `COPY bytes: ${copy.bytes}, data ${dataBytes}`,
    );
    assert.equal(byLine('notice notice-from-do').severity, 'NOTICE');
  });

  test('replay --instant shows every statement and result', async () => {
    const out = (await cliOk(proxy.storeUrl, ['replay', psqlId, '--instant'])).stdout;
    for (const line of PSQL_SCRIPT.split('\n').filter((l) => /^[A-Z]/.test(l))) {
      assert.ok(out.includes(line), `replay shows ${line}`);
    }
    assert.match(out, new RegExp(`alice@app=> COPY\\s+${T}\\s+FROM STDIN`));
    for (const tag of [
      'INSERT 0 8',
      'UPDATE 1',
      'INSERT 0 1',
      'DELETE 9',
      'COPY 3',
      'DROP TABLE',
      'COMMIT',
      'ROLLBACK',
    ]) {
      assert.match(out, new RegExp(`^${tag}$`, 'm'), `replay shows ${tag}`);
    }
    assert.match(out, /^ERROR: {2}(22012: )?division by zero$/m);
    assert.match(out, /NOTICE: {2}notice-from-do/);
    assert.match(out, / name-5\s*$/m, 'captured rows are shown');
    assert.doesNotMatch(out, /name-6/, 'only max_rows rows were captured');
    assert.match(out, new RegExp(` ${TOKEN}\\s*$`, 'm'), 'the token row is shown');
    assert.match(out, /^\s+12\s*$/m, 'the count is shown');
  });
});

// A failed transaction is left for a usable one by ROLLBACK TO SAVEPOINT, by hand or by psql's
// ON_ERROR_ROLLBACK (psql then sends the savepoint statements itself).
describe('psql: a failed transaction rolled back to a savepoint', () => {
  test('the recording says the transaction recovered; replay shows =*> for the statements that committed', async () => {
    const table = uniqueName('rec_savepoint');
    const app = uniqueName('rec_psql_savepoint');
    const script = [
      `CREATE TABLE ${table} (id int);`,
      'BEGIN;',
      `INSERT INTO ${table} VALUES (1);`,
      'SAVEPOINT s1;',
      `SELECT * FROM ${table}_nosuch;`,
      'ROLLBACK TO s1;',
      `INSERT INTO ${table} VALUES (2);`,
      'COMMIT;',
      '\\set ON_ERROR_ROLLBACK on',
      'BEGIN;',
      'SELECT 1/0;',
      `INSERT INTO ${table} VALUES (3);`,
      'COMMIT;',
      `SELECT count(*) FROM ${table};`,
      `DROP TABLE ${table};`,
    ].join('\n');
    const file = path.join(tempDir('dbtape-rec-savepoint-'), 'session.sql');
    writeFileSync(file, `${script}\n`);
    const r = await run(PSQL, ['-X', '-v', 'ON_ERROR_STOP=0', '-At', '-d', aliceDsn(proxy), '-f', file], {
      env: { ...aliceEnv(), PGAPPNAME: app },
    });
    assert.match(r.stdout, /^3$/m, 'the rows inserted after each error were committed');

    const { events } = await show((await sessionOf(app)).id);
    assertTimeline(events);
    const SP = 'pg_psql_temporary_savepoint';
    assert.deepEqual(events.map(eventLine).slice(3), [
      'query BEGIN;',
      'result BEGIN rows=null',
      'tx begin',
      `query INSERT INTO ${table} VALUES (1);`,
      'result INSERT 0 1 rows=1',
      'query SAVEPOINT s1;',
      'result SAVEPOINT rows=null',
      `query SELECT * FROM ${table}_nosuch;`,
      'error 42P01',
      'tx failed',
      'query ROLLBACK TO s1;',
      'result ROLLBACK rows=null',
      'tx recovered',
      `query INSERT INTO ${table} VALUES (2);`,
      'result INSERT 0 1 rows=1',
      'query COMMIT;',
      'result COMMIT rows=null',
      'tx commit',
      'query BEGIN;',
      'result BEGIN rows=null',
      'tx begin',
      `query SAVEPOINT ${SP}`,
      'result SAVEPOINT rows=null',
      'query SELECT 1/0;',
      'error 22012',
      'tx failed',
      `query ROLLBACK TO ${SP}`,
      'result ROLLBACK rows=null',
      'tx recovered',
      `query SAVEPOINT ${SP}`,
      'result SAVEPOINT rows=null',
      `query INSERT INTO ${table} VALUES (3);`,
      'result INSERT 0 1 rows=1',
      `query RELEASE ${SP}`,
      'result RELEASE rows=null',
      `query SAVEPOINT ${SP}`,
      'result SAVEPOINT rows=null',
      'query COMMIT;',
      'result COMMIT rows=null',
      'tx commit',
      `query SELECT count(*) FROM ${table};`,
      'result SELECT 1 rows=1',
      `query DROP TABLE ${table};`,
      'result DROP TABLE rows=null',
      'end client_closed',
    ]);

    const out = (await cliOk(proxy.storeUrl, ['replay', (await sessionOf(app)).id, '--instant'])).stdout;
    const prompts = out.split('\n').filter((l) => l.startsWith('alice@app='));
    assert.deepEqual(
      prompts.filter((l) => /INSERT|COMMIT|ROLLBACK TO/.test(l)),
      [
        `alice@app=*> INSERT INTO ${table} VALUES (1);`,
        'alice@app=!> ROLLBACK TO s1;',
        `alice@app=*> INSERT INTO ${table} VALUES (2);`,
        'alice@app=*> COMMIT;',
        `alice@app=!> ROLLBACK TO ${SP}`,
        `alice@app=*> INSERT INTO ${table} VALUES (3);`,
        'alice@app=*> COMMIT;',
      ],
    );
    assert.match(out, /-- transaction recovered: rolled back to a savepoint/);
  });
});

// How a transaction ended is what the server did, not what the client asked: a COMMIT whose deferred
// constraint fails rolls back, and BEGIN ... COMMIT sent in one query string (psql -c, migration
// tools) has one ReadyForQuery, idle before and after, so only the statements' tags tell.
describe("psql: text in the client's encoding", () => {
  test('a LATIN1 client, then WIN1251 after SET client_encoding: statements and rows recorded as the server read them', async () => {
    const app = uniqueName('rec_psql_encoding');
    // Bytes as such a client sends them: 'café' in LATIN1, 'привет' in WIN1251.
    const file = path.join(tempDir('dbtape-rec-encoding-'), 'session.sql');
    writeFileSync(
      file,
      Buffer.concat([
        Buffer.from("SELECT 'caf\u00e9' AS w;\nSET client_encoding = 'WIN1251';\n", 'latin1'),
        Buffer.from("SELECT '"),
        Buffer.from([0xef, 0xf0, 0xe8, 0xe2, 0xe5, 0xf2]),
        Buffer.from("' AS r;\n"),
      ]),
    );
    await run(PSQL, ['-X', '-v', 'ON_ERROR_STOP=1', '-At', '-d', aliceDsn(proxy), '-f', file], {
      env: { ...aliceEnv(), PGAPPNAME: app, PGCLIENTENCODING: 'LATIN1' },
    });
    const { events } = await show((await sessionOf(app)).id);
    const queries = events.flatMap((e) => (e.kind === 'query' ? [e.sql] : []));
    assert.deepEqual(queries, [
      "SELECT 'café' AS w;",
      "SET client_encoding = 'WIN1251';",
      "SELECT 'привет' AS r;",
    ]);
    const rows = events.flatMap((e) => (e.kind === 'result' && e.row_data ? e.row_data : []));
    assert.deepEqual(rows, [['café'], ['привет']]);
    const found = await cliOk(proxy.storeUrl, ['search', 'привет', '--json']);
    assert.match(found.stdout, new RegExp((await sessionOf(app)).id));
  });
});

describe('psql: how each transaction ended', () => {
  test('a failed COMMIT is a rollback; BEGIN ... COMMIT in one query string is a transaction', async () => {
    const parent = uniqueName('rec_txend_parent');
    const child = uniqueName('rec_txend_child');
    const app = uniqueName('rec_psql_txend');
    const r = await run(
      PSQL,
      [
        '-X',
        '-d',
        aliceDsn(proxy),
        '-c',
        `CREATE TABLE ${parent} (id int PRIMARY KEY); CREATE TABLE ${child} (pid int REFERENCES ${parent} DEFERRABLE INITIALLY DEFERRED)`,
        '-c',
        `BEGIN; INSERT INTO ${child} VALUES (1); COMMIT`,
        '-c',
        `BEGIN; INSERT INTO ${parent} VALUES (1); COMMIT`,
        '-c',
        `DROP TABLE ${child}, ${parent}`,
        // psql exits with this transaction open: the server rolls it back as the connection closes.
        '-c',
        'BEGIN; SELECT 1',
      ],
      { env: { ...aliceEnv(), PGAPPNAME: app } },
    );
    assert.match(r.stderr, /violates foreign key constraint/);

    const { events } = await show((await sessionOf(app)).id);
    assertTimeline(events);
    assert.deepEqual(
      events.flatMap((e) => (e.kind === 'tx' || e.kind === 'error' ? [eventLine(e)] : [])),
      ['tx begin', 'error 23503', 'tx rollback', 'tx begin', 'tx commit', 'tx begin', 'tx rollback'],
    );
    assert.deepEqual(
      events.slice(-2).map((e) => e.kind),
      ['tx', 'end'],
      'the transaction left open ends with the session',
    );
    const out = (await cliOk(proxy.storeUrl, ['replay', (await sessionOf(app)).id, '--instant'])).stdout;
    assert.doesNotMatch(out, /transaction committed/);
    assert.match(out, /-- transaction rolled back/);
  });
});

// --- node-postgres ----------------------------------------------------------------------------------

const APP_PG = uniqueName('rec_nodepg');

describe('node-postgres', () => {
  test('a named prepared statement executed 1000 times: 1000 executions, each with its parameters and result', async () => {
    const table = uniqueName('rec_prep');
    await monitor.query(`create table ${table} (i int, s text, ts timestamptz, n numeric, b bytea)`);
    const INSERT = `INSERT INTO ${table} (i, s, ts, n, b) VALUES ($1, $2, $3, $4, $5)`;
    const FAIL_PARSE = `SELECT * FROM ${table}_missing WHERE i = $1`;
    const FAIL_EXEC = 'SELECT 1/($1::int * (random() < 2)::int) AS boom';
    const client = new pg.Client(alicePg(proxy, APP_PG));
    await client.connect();
    const expected: (string | null)[][] = [];
    try {
      for (let i = 0; i < 1000; i++) {
        const s = i === 777 ? PARAM_TOKEN : i % 10 === 0 ? null : `text ${i} ü`;
        const ts = new Date(Date.UTC(2024, 0, 1) + i * 1000).toISOString();
        const n = `${i}.${String(i % 100).padStart(2, '0')}`;
        // node-postgres sends a Buffer as a binary-format parameter.
        const b = Buffer.from([i & 0xff, i >> 8, 0x00, 0xff]);
        await client.query({ name: 'rec_ins', text: INSERT, values: [i, s, ts, n, b] });
        expected.push([String(i), s, ts, n, `\\x${b.toString('hex')}`]);
      }
      // Errors at Parse and at Execute time: each is one statement with one error.
      await assert.rejects(client.query(FAIL_PARSE, [1]), { code: '42P01' });
      await assert.rejects(client.query(FAIL_EXEC, [0]), { code: '22012' });
      // One simple query, three statements: the second fails, the third never runs.
      await assert.rejects(client.query('SELECT 1 AS one; SELECT 1/0; SELECT 3'), { code: '22012' });
    } finally {
      await client.end();
      const direct = await monitor.query(`select count(*)::int as n from ${table}`);
      await monitor.query(`drop table ${table}`);
      assert.equal(direct.rows[0].n, 1000);
    }

    const s = await sessionOf(APP_PG);
    const { session, events } = await show(s.id);
    assertTimeline(events);
    const inserts = events.filter((e) => e.kind === 'query' && e.sql === INSERT);
    assert.equal(inserts.length, 1000);
    assert.deepEqual(
      inserts.map((e) => e.params),
      expected,
    );
    for (const q of inserts) {
      assert.equal(q.via, 'extended');
      assert.equal(q.statement, 'rec_ins');
      const r = after1(events, q);
      assert.deepEqual(
        [r.kind, r.tag, r.rows],
        ['result', 'INSERT 0 1', 1],
        `outcome of execution seq ${q.seq}`,
      );
    }
    const tail = events.slice(events.indexOf(inserts.at(-1)!) + 2).map(eventLine);
    assert.deepEqual(tail, [
      `query ${FAIL_PARSE} ["1"]`,
      'error 42P01',
      `query ${FAIL_EXEC} ["0"]`,
      'error 22012',
      'query SELECT 1 AS one; SELECT 1/0; SELECT 3',
      'result SELECT 1 rows=1',
      'error 22012',
      'end client_closed',
    ]);
    assert.equal(session.statements, 1003);
    assert.equal(session.errors, 3);
  });
});

// --- postgres.js: a pipelined batch -----------------------------------------------------------------

const APP_JS = uniqueName('rec_postgresjs');
let pipelined: Outcome[] = [];

describe('a client that names itself after login', () => {
  // pgjdbc (DBeaver's driver) sends ApplicationName as `SET application_name` after login, so the
  // startup packet holds none: the session's application follows what the server reports.
  test('each change of application_name is a client event, and the session lists the last one', async () => {
    const start = uniqueName('rec_app_start');
    const renamed = uniqueName('rec_app_renamed');
    const viaConfig = uniqueName('rec_app_config');
    const last = uniqueName('rec_app_last');
    const client = new pg.Client(alicePg(proxy, start));
    await client.connect();
    try {
      await client.query(`SET application_name = '${renamed}'`);
      // The same name again changes nothing.
      await client.query(`SET application_name = '${renamed}'`);
      await client.query('SELECT 1');
      await client.query('SELECT set_config($1, $2, false)', ['application_name', viaConfig]);
      // Back to the startup name, inside a transaction.
      await client.query('BEGIN; RESET application_name; COMMIT');
      await client.query(`SET application_name = '${last}'`);
    } finally {
      await client.end();
    }

    const [s] = await endedSessions(proxy.storeUrl, (x) => x.application === last, 1);
    const { session, events } = await show(s!.id);
    assertTimeline(events);
    assert.equal(session.application, last);
    const named = events.filter((e) => e.kind === 'client');
    assert.deepEqual(
      named.map((e) => e.application),
      [renamed, viaConfig, start, last],
    );
    // Each follows the statement that made it.
    const before = (e: EventJson) =>
      events
        .slice(0, events.indexOf(e))
        .filter((x) => x.kind === 'query')
        .at(-1)!.sql;
    assert.equal(before(named[0]!), `SET application_name = '${renamed}'`);
    assert.equal(before(named[3]!), `SET application_name = '${last}'`);
    const listed = (await sessionsJson(proxy.storeUrl)).find((x) => x.id === s!.id);
    assert.equal(listed?.application, last);
    const replay = (await cliOk(proxy.storeUrl, ['replay', s!.id, '--instant'])).stdout;
    assert.match(replay, new RegExp(`-- client application: ${last}`));
    await cliOk(proxy.storeUrl, ['verify', s!.id]);
  });
});

describe('postgres.js', () => {
  test('a pipelined batch: every statement with its own outcome, errors on the statements that failed', async () => {
    const sql = postgres({
      host: proxy.host,
      port: proxy.port,
      user: ALICE.name,
      pass: ALICE.password,
      database: 'app',
      ssl: false,
      max: 1,
      onnotice: () => {},
      connection: { application_name: APP_JS },
    });
    const N = 40;
    const EXEC_FAIL = 17; // fails while executing
    const BIND_FAIL = 29; // fails at Bind: the planner folds 1/0 with the parameter's value
    const ok = 'select $1::int as i, $2::text as v';
    try {
      const settled = await Promise.allSettled(
        Array.from({ length: N }, (_, i) =>
          i === EXEC_FAIL
            ? sql`select 1/(${0}::int * (random() < 2)::int) as boom`
            : i === BIND_FAIL
              ? sql`select 1/${0}::int as folded`
              : sql`select ${i}::int as i, ${`v${i}`}::text as v`,
        ),
      );
      const failed = settled.flatMap((r, i) => (r.status === 'rejected' ? [i] : []));
      assert.deepEqual(failed, [EXEC_FAIL, BIND_FAIL]);
    } finally {
      await sql.end({ timeout: 5 });
    }

    const s = await sessionOf(APP_JS);
    const { session, events } = await show(s.id);
    assertTimeline(events);
    const { pairs, maxInFlight } = outcomes(events);
    assert.ok(maxInFlight >= 2, `the statements were pipelined (at most ${maxInFlight} in flight)`);
    // postgres.js first asks for the array types; then our statements, in the order they were sent.
    const ours = pairs.filter((p) => !p.query.sql!.includes('pg_catalog.pg_type'));
    assert.equal(ours.length, N);
    ours.forEach(({ query, outcome }, i) => {
      if (i === EXEC_FAIL || i === BIND_FAIL) {
        assert.deepEqual(query.params, ['0']);
        assert.deepEqual([outcome.kind, outcome.error?.code], ['error', '22012'], `statement ${i}`);
      } else {
        assert.deepEqual([query.sql, query.params], [ok, [String(i), `v${i}`]], `statement ${i}`);
        assert.deepEqual(
          [outcome.kind, outcome.tag, outcome.rows],
          ['result', 'SELECT 1', 1],
          `outcome ${i}`,
        );
      }
    });
    assert.equal(session.statements, N + 1);
    assert.equal(session.errors, 2);
    pipelined = ours;
  });

  // postgres.js describes a statement once and then executes it without a Describe, so no
  // RowDescription precedes its rows: the tracker must remember the statement's columns.
  test('rows are captured for executions without a Describe', () => {
    assert.ok(pipelined.length > 0, 'the pipelined batch ran');
    pipelined.forEach(({ outcome }, i) => {
      if (outcome.kind !== 'result') return;
      assert.deepEqual(outcome.row_data, [[String(i), `v${i}`]], `rows of statement ${i}`);
    });
  });
});

// --- hand-built extended protocol -----------------------------------------------------------------

const APP_RAW = uniqueName('rec_raw');

function be(bytes: number, write: (b: Buffer) => void): Buffer {
  const b = Buffer.alloc(bytes);
  write(b);
  return b;
}

/** -12345.678 in numeric's binary form: base-10000 digits 1 2345 6780, weight 1, negative, dscale 3. */
const NUMERIC_BIN = Buffer.from([0, 3, 0, 1, 0x40, 0, 0, 3, 0, 1, 0x09, 0x29, 0x1a, 0x7c]);
const PG_EPOCH_MS = Date.UTC(2000, 0, 1);
const TS_MS = Date.UTC(2024, 1, 29, 12, 34, 56, 789);

/** Binary parameters of common types, with their OIDs; the server prints each back for comparison. */
const BINARY_PARAMS: [number, Buffer][] = [
  [21, be(2, (b) => b.writeInt16BE(-7))],
  [23, be(4, (b) => b.writeInt32BE(2_000_000_001))],
  [20, be(8, (b) => b.writeBigInt64BE(-9_000_000_000n))],
  [701, be(8, (b) => b.writeDoubleBE(3.25))],
  [700, be(4, (b) => b.writeFloatBE(0.1))],
  [16, Buffer.from([1])],
  [2950, Buffer.from('8f1c2b3a4d5e6f708192a3b4c5d6e7f8', 'hex')],
  [1082, be(4, (b) => b.writeInt32BE((Date.UTC(2024, 1, 29) - PG_EPOCH_MS) / 86_400_000))],
  [1184, be(8, (b) => b.writeBigInt64BE(BigInt(TS_MS - PG_EPOCH_MS) * 1000n))],
  [1114, be(8, (b) => b.writeBigInt64BE(BigInt(TS_MS - PG_EPOCH_MS) * 1000n + 1n))],
  [1700, NUMERIC_BIN],
  [17, Buffer.from([0x00, 0x01, 0xfe])],
  [25, Buffer.from('héllo wörld')],
];

async function extended(raw: PgRaw, messages: Buffer[]): Promise<void> {
  await raw.send(Buffer.concat([...messages, SYNC_MSG]));
  await raw.readUntil('Z');
}

describe('extended protocol by hand', () => {
  test('one Sync for three statements: the failure is the second one, the third is not executed', async () => {
    const raw = await loggedIn(proxy.port, {
      user: ALICE.name,
      password: ALICE.password,
      params: [['application_name', APP_RAW]],
    });
    const DOUBLE = 'SELECT $1::int * 2 AS doubled';
    const BOOM = 'SELECT 1/($1::int * (random() < 2)::int) AS boom';
    const types = BINARY_PARAMS.map(([oid]) => oid);
    // Each value comes back through its type's output function, the text a client would show.
    const ECHO = `SELECT ${types.map((_, i) => `$${i + 1}`).join(', ')}`;
    try {
      await extended(raw, [parseMsg('', "SET TimeZone = 'UTC'"), bindMsg('', '', []), executeMsg()]);
      await extended(raw, [
        parseMsg('dbl', DOUBLE, [23]),
        bindMsg('', 'dbl', [Buffer.from('21')]),
        describeMsg('P'),
        executeMsg(),
        parseMsg('boom', BOOM, [23]),
        bindMsg('', 'boom', [Buffer.from('0')]),
        describeMsg('P'),
        executeMsg(),
        bindMsg('', 'dbl', [Buffer.from('50')]),
        describeMsg('P'),
        executeMsg(),
      ]);
      await extended(raw, [
        parseMsg('echo', ECHO, types),
        bindMsg(
          '',
          'echo',
          BINARY_PARAMS.map(([, v]) => v),
          1,
        ),
        describeMsg('P'),
        executeMsg(),
      ]);
      await raw.send(Buffer.from([0x58, 0, 0, 0, 4])); // Terminate
      await raw.closed();
    } finally {
      raw.destroy();
    }

    const s = await sessionOf(APP_RAW);
    const { events } = await show(s.id);
    assertTimeline(events);
    const lines = events.map(eventLine);
    assert.deepEqual(lines.slice(3, 9), [
      `query ${DOUBLE} ["21"]`,
      `query ${BOOM} ["0"]`,
      `query ${DOUBLE} ["50"]`,
      'result SELECT 1 rows=1',
      'error 22012',
      'error ',
    ]);
    assert.deepEqual(events[6]!.row_data, [['42']]);
    assert.match(events[8]!.error!.message, /not executed/);

    // Binary parameters are recorded as the server itself prints them.
    const echo = events[9]!;
    assert.equal(echo.sql, ECHO);
    const printed = events[10]!;
    assert.equal(printed.kind, 'result');
    assert.deepEqual(echo.params, printed.row_data![0]);
    assert.deepEqual(echo.params, [
      '-7',
      '2000000001',
      '-9000000000',
      '3.25',
      '0.1',
      't',
      '8f1c2b3a-4d5e-6f70-8192-a3b4c5d6e7f8',
      '2024-02-29',
      '2024-02-29 12:34:56.789+00',
      '2024-02-29 12:34:56.789001',
      '-12345.678',
      '\\x0001fe',
      'héllo wörld',
    ]);
  });
});

// A portal read in chunks (Execute with a row limit, PortalSuspended, Execute again), as pgjdbc's
// setFetchSize and cursor-style clients read: one statement, its rows in total.
const APP_PAGED = uniqueName('rec_paged');
const PAGED_TOKEN = `zq${randomBytes(6).toString('hex')}pg`;

/** eventLine, with how many rows a continued portal's Execute fetched. */
function chunkLine(e: EventJson): string {
  return e.kind === 'result' && e.fetched !== undefined
    ? `${eventLine(e)} fetched=${e.fetched}`
    : eventLine(e);
}

describe('a portal read in chunks', () => {
  const PAGED = `SELECT g, '${PAGED_TOKEN}' AS tok FROM generate_series(1, 12) AS g`;
  const PIPELINED = 'SELECT g FROM generate_series(1, 4) AS g';
  let id: string;

  test('is one statement: later Executes add results that say how many more rows they fetched', async () => {
    const raw = await loggedIn(proxy.port, {
      user: ALICE.name,
      password: ALICE.password,
      params: [['application_name', APP_PAGED]],
    });
    try {
      // A named portal outlives its Sync only inside a transaction block.
      await extended(raw, [parseMsg('', 'BEGIN'), bindMsg('', '', []), executeMsg()]);
      await extended(raw, [
        parseMsg('', PAGED),
        bindMsg('c1', '', []),
        describeMsg('P', 'c1'),
        executeMsg('c1', 5),
      ]);
      await extended(raw, [executeMsg('c1', 5)]);
      // Another statement between two fetches.
      await extended(raw, [parseMsg('', 'SELECT 42'), bindMsg('', '', []), executeMsg()]);
      await extended(raw, [executeMsg('c1', 5)]);
      // Three Executes sent before the first answer; the last finds no row left.
      await extended(raw, [
        parseMsg('', PIPELINED),
        bindMsg('c2', '', []),
        describeMsg('P', 'c2'),
        executeMsg('c2', 2),
        executeMsg('c2', 2),
        executeMsg('c2', 2),
      ]);
      await extended(raw, [parseMsg('', 'COMMIT'), bindMsg('', '', []), executeMsg()]);
      await raw.send(Buffer.from([0x58, 0, 0, 0, 4])); // Terminate
      await raw.closed();
    } finally {
      raw.destroy();
    }

    const s = await sessionOf(APP_PAGED);
    id = s.id;
    const { session, events } = await show(id);
    assertTimeline(events);
    assert.deepEqual(events.slice(1).map(chunkLine), [
      'query BEGIN []',
      'result BEGIN rows=null',
      'tx begin',
      `query ${PAGED} []`,
      'result SUSPENDED rows=5',
      'result SUSPENDED rows=10 fetched=5',
      'query SELECT 42 []',
      'result SELECT 1 rows=1',
      // The server's tag counts the last Execute's rows; `rows` counts the statement's.
      'result SELECT 2 rows=12 fetched=2',
      `query ${PIPELINED} []`,
      'result SUSPENDED rows=2',
      'result SUSPENDED rows=4 fetched=2',
      'result SELECT 0 rows=4 fetched=0',
      'query COMMIT []',
      'result COMMIT rows=null',
      'tx commit',
      'end client_closed',
    ]);
    assert.equal(session.statements, 5);
    // max_rows (5) counts the statement's rows, not each Execute's.
    const results = events.filter((e) => e.kind === 'result');
    assert.deepEqual(
      results.slice(1, 3).map((e) => [e.row_data, e.truncated]),
      [
        [[1, 2, 3, 4, 5].map((i) => [String(i), PAGED_TOKEN]), undefined],
        [[], true],
      ],
    );
    const listed = (await sessionsJson(proxy.storeUrl)).find((x) => x.id === id);
    assert.equal(listed?.statements, 5);
    const hits = await searchJson(proxy.storeUrl, [PAGED_TOKEN]);
    assert.deepEqual(
      hits.map((h) => [h.session_id, h.sql]),
      [[id, PAGED]],
      'search finds the statement once',
    );
  });

  test('replay and the HTML export show the statement once, then each fetch and the total', async () => {
    assert.ok(id, 'the session was recorded');
    const out = (await cliOk(proxy.storeUrl, ['replay', id, '--instant'])).stdout;
    assert.equal(out.split(PAGED_TOKEN).length - 1, 1 + 5, 'the statement once, and its five rows captured');
    assert.match(out, /^-- portal suspended after 5 rows$/m);
    assert.match(out, /^-- fetched 5 more rows \(10 so far\), portal suspended$/m);
    assert.match(out, /^-- fetched 2 more rows\n\(12 rows\)$/m);
    assert.match(out, /^-- fetched 0 more rows\n\(4 rows\)$/m);
    const shown = (await cliOk(proxy.storeUrl, ['show', id])).stdout;
    assert.match(shown, /-> SUSPENDED \(fetched 5 more rows, 10 rows in all, 0 recorded\)/);
    assert.match(shown, /-> SELECT 2 \(fetched 2 more rows, 12 rows in all, 0 recorded\)/);
    const html = (await cliOk(proxy.storeUrl, ['export', id, '--format', 'html'])).stdout;
    assert.equal(html.split(PAGED_TOKEN).length - 1, 1 + 5);
    assert.match(html, /fetched 2 more rows: 12 rows in all/);
  });
});

// --- pgbench ------------------------------------------------------------------------------------------

describe('pgbench', () => {
  before(async () => {
    await monitor.query(`create database ${BENCH_DB}`);
    // Initialised directly on the server; only the benchmark goes through dbtape.
    await run(PGBENCH, ['-i', '-s', '1', '-q', '-h', '127.0.0.1', '-p', '5432', '-U', 'postgres', BENCH_DB], {
      env: aliceEnv(),
    });
  });

  test('-M prepared -S -t 50 -c 2: two sessions of 50 executions, each with its parameter and result', async () => {
    const { stdout } = await run(
      PGBENCH,
      [
        '-n',
        '-M',
        'prepared',
        '-S',
        '-t',
        '50',
        '-c',
        '2',
        '-h',
        proxy.host,
        '-p',
        String(proxy.port),
        '-U',
        ALICE.name,
        'bench',
      ],
      { env: aliceEnv() },
    );
    assert.match(stdout, /number of transactions actually processed: 100\/100/);

    // pgbench also opens a connection of its own first, to count the branches.
    const sessions = await endedSessions(proxy.storeUrl, (x) => x.application === 'pgbench', 3);
    const docs = await Promise.all(sessions.map((x) => show(x.id)));
    const SELECT = 'SELECT abalance FROM pgbench_accounts WHERE aid = $1;';
    const workers = docs.filter((d) => d.events.some((e) => e.sql === SELECT));
    assert.equal(workers.length, 2, `two client sessions among ${docs.length}`);
    for (const { session, events } of workers) {
      assertTimeline(events);
      assert.equal(session.target, 'bench');
      const { pairs } = outcomes(events);
      assert.equal(pairs.length, 50);
      assert.equal(session.statements, 50);
      assert.equal(session.errors, 0);
      for (const { query, outcome } of pairs) {
        assert.equal(query.sql, SELECT);
        assert.equal(query.via, 'extended');
        assert.equal(query.params!.length, 1);
        const aid = Number(query.params![0]);
        assert.ok(Number.isInteger(aid) && aid >= 1 && aid <= 100_000, `aid ${query.params![0]}`);
        assert.deepEqual(
          [outcome.kind, outcome.tag, outcome.rows, outcome.row_data],
          ['result', 'SELECT 1', 1, [['0']]],
        );
      }
      assert.equal(events.at(-1)!.reason, 'client_closed');
    }
  });
});

// --- listing and search ----------------------------------------------------------------------------------

describe('sessions and search', () => {
  test('sessions --json: newest first, statement and error counts as show --json has them', async () => {
    const list = await sessionsJson(proxy.storeUrl);
    assert.ok(list.length >= 7, `${list.length} sessions`);
    for (let i = 1; i < list.length; i++) {
      assert.ok(list[i - 1]!.started_at >= list[i]!.started_at, 'newest first');
    }
    for (const app of ['psql', APP_PG, APP_JS, APP_RAW, 'pgbench']) {
      assert.ok(
        list.some((s) => s.application === app),
        `lists the ${app} session`,
      );
    }
    const docs = await Promise.all(list.map((s) => show(s.id)));
    list.forEach((s, i) => {
      const { session, events } = docs[i]!;
      // show's session holds the list's fields, and more metadata besides.
      const listed = Object.fromEntries(
        Object.keys(s).map((k) => [k, (session as unknown as Record<string, unknown>)[k]]),
      );
      assert.deepEqual(s, listed, 'sessions --json and show --json agree');
      assert.equal(s.statements, events.filter((e) => e.kind === 'query').length, `statements of ${s.id}`);
      assert.equal(s.errors, events.filter((e) => e.kind === 'error').length, `errors of ${s.id}`);
    });
  });

  test('search finds a unique token in a statement, and one in a bound parameter', async () => {
    const hits = await searchJson(proxy.storeUrl, [TOKEN]);
    assert.equal(hits.length, 1, JSON.stringify(hits));
    const { events } = await show(psqlId);
    const stmt = events.find((e) => e.sql?.includes(TOKEN))!;
    assert.deepEqual(
      [hits[0]!.session_id, hits[0]!.seq, hits[0]!.sql, hits[0]!.user, hits[0]!.target],
      [psqlId, stmt.seq, `SELECT '${TOKEN}' AS token;`, ALICE.name, 'app'],
    );
    assert.ok(hits[0]!.snippet.includes(TOKEN));

    const byParam = await searchJson(proxy.storeUrl, [PARAM_TOKEN]);
    assert.equal(byParam.length, 1, JSON.stringify(byParam));
    const pgSession = await sessionOf(APP_PG);
    assert.equal(byParam[0]!.session_id, pgSession.id);
    assert.deepEqual(byParam[0]!.params?.slice(0, 2), ['777', PARAM_TOKEN]);
  });
});
