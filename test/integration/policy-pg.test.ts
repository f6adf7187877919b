import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import postgres from 'postgres';
import { stringify } from 'yaml';
import type { SessionEvent } from '../../src/model/session.js';
import { requirePgBinary } from '../support/binaries.js';
import { run, runStatus } from '../support/exec.js';
import {
  cstr,
  DEFAULT_TARGET,
  dataRowBuffers,
  dataRows,
  errorFields,
  type InProcessDbtape,
  int32,
  loggedIn,
  type PgMessage,
  type PgRaw,
  queryMessage,
  simpleQuery,
  startInProcess,
  typedMessage,
  usersYaml,
} from '../support/inproc-dbtape.js';
import { aliceEnv, connectDirect, uniqueName } from '../support/pg-fixtures.js';
import {
  cliOk,
  describeMsg,
  endedSessions,
  executeMsg,
  parseMsg,
  SYNC_MSG,
  showJson,
  storedEvents,
} from '../support/recording-fixtures.js';
import { waitFor } from '../support/wait.js';

// The access policy enforced by the PostgreSQL proxy, against the machine's server through real
// clients: denials (simple, extended, prepared, FunctionCall), the session's state after them, the
// `denied` events in the recording, max_rows and masking in text and binary results.

const USERS = {
  reader: { password: 'reader-pw-1', roles: ['r'] },
  writer: { password: 'writer-pw-1', roles: ['w'] },
  capped: { password: 'capped-pw-1', roles: ['c'] },
  masked: { password: 'masked-pw-1', roles: ['m'] },
} as const;
type UserName = keyof typeof USERS;

const T = uniqueName('policy_pg');
const PEOPLE = `${T}_people`;
const NUMS = `${T}_nums`;
/** A result of about 60 MB on the wire (2 kB per row, stored compressed): far more than socket buffers hold. */
const BIG = `${T}_big`;
const BIG_ROWS = 30_000;
/** Scanned only by the extended-protocol stop test, so its scan statistics are its own. */
const LIMITED = `${T}_limited`;
let dbtape: InProcessDbtape;
let storeDir: string;
let storeUrl: string;
let direct: pg.Client;

before(async () => {
  direct = await connectDirect();
  await direct.query(
    `create table ${PEOPLE} (id int primary key, name text, email text, card text, salary int)`,
  );
  await direct.query(
    `insert into ${PEOPLE} values (1, 'Ann', 'ann.lee@example.com', 'card 4111 1111 1111 1111 on file', 52000),
                                  (2, 'Bob', 'bob@example.org', 'none', 61000)`,
  );
  await direct.query(`create table ${NUMS} (n int)`);
  await direct.query(`insert into ${NUMS} select g from generate_series(1, 10) g`);
  await direct.query(
    `create table ${BIG} as select g, repeat('x', 2000) as pad from generate_series(1, ${BIG_ROWS}) g`,
  );
  await direct.query(`create table ${LIMITED} as select g from generate_series(1, ${BIG_ROWS}) g`);
  storeDir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-policy-pg-'));
  storeUrl = `sqlite:${path.join(storeDir, 'store.db')}`;
  dbtape = await startInProcess({
    yaml: stringify({
      listen: { postgres: '127.0.0.1:0' },
      store: { url: storeUrl, capture_results: 'rows', max_rows: 50 },
      targets: [DEFAULT_TARGET],
      users: usersYaml(USERS),
      roles: [
        { name: 'r', targets: ['app'], access: 'read' },
        {
          name: 'w',
          targets: ['app'],
          access: 'write',
          rules: { deny_kinds: ['delete'], require_where: true },
        },
        { name: 'c', targets: ['app'], access: 'read', rules: { max_rows: 3 } },
        {
          name: 'm',
          targets: ['app'],
          access: 'read',
          masking: { columns: ['email', `public.${PEOPLE}.salary`], detectors: ['card'] },
        },
      ],
    }),
  });
});

after(async () => {
  await dbtape?.close();
  await direct?.query(`drop table if exists ${PEOPLE}, ${NUMS}, ${BIG}, ${LIMITED}`);
  await direct?.end();
  if (storeDir) rmSync(storeDir, { recursive: true, force: true });
});

function clientConfig(user: UserName, extra: pg.ClientConfig = {}): pg.ClientConfig {
  return {
    host: '127.0.0.1',
    port: dbtape.port,
    user,
    password: USERS[user].password,
    database: 'app',
    application_name: uniqueName(`policy_${user}`),
    ...extra,
  };
}

async function connect(user: UserName, extra: pg.ClientConfig = {}): Promise<pg.Client> {
  const c = new pg.Client(clientConfig(user, extra));
  await c.connect();
  return c;
}

type PgError = Error & { code?: string };

function denied(rule: RegExp): (err: PgError) => boolean {
  return (err) => {
    assert.equal(err.code, '42501', `expected SQLSTATE 42501, got ${err.code}: ${err.message}`);
    assert.match(err.message, /^dbtape: denied by rule /);
    assert.match(err.message, rule);
    return true;
  };
}

/** psql without ON_ERROR_STOP: it reports each error and goes on, as a person's session would. */
async function psql(user: UserName, sql: string, app: string): Promise<{ out: string }> {
  const env = { ...aliceEnv(), PGPASSWORD: USERS[user].password, PGAPPNAME: app };
  const r = await run(
    'psql',
    ['-X', '-h', '127.0.0.1', '-p', String(dbtape.port), '-U', user, '-d', 'app', '-v', 'VERBOSITY=verbose'],
    { env, input: sql },
  );
  return { out: `${r.stdout}${r.stderr}` };
}

function rawLogin(user: UserName): Promise<PgRaw> {
  return loggedIn(dbtape.port, { user, password: USERS[user].password });
}

function bind(portal = '', statement = '', resultFormat?: number): Buffer {
  const formats = resultFormat === undefined ? [0, 0] : [0, 1, 0, resultFormat];
  return typedMessage(
    'B',
    Buffer.concat([cstr(portal), cstr(statement), Buffer.from([0, 0, 0, 0]), Buffer.from(formats)]),
  );
}
const types = (ms: readonly PgMessage[]) => ms.map((m) => m.type).join('');

/** Rows the server's sequential scans of `table` have read so far (its statistics). */
async function scanned(table: string): Promise<number> {
  const r = await direct.query('select seq_tup_read::int as n from pg_stat_user_tables where relname = $1', [
    table,
  ]);
  return Number(r.rows[0]?.n ?? 0);
}

/** The rows scanned since `before`, once the server has published the sessions' statistics. */
function scannedSince(table: string, before: number): Promise<number> {
  return waitFor(
    async () => {
      const n = (await scanned(table)) - before;
      return n > 0 ? n : null;
    },
    { what: `the server's scan statistics of ${table}`, timeoutMs: 15_000, intervalMs: 200 },
  );
}

async function count(table: string): Promise<number> {
  return Number((await direct.query(`select count(*)::int as n from ${table}`)).rows[0].n);
}

describe('denials', () => {
  test('psql: a denied statement errors with 42501 naming the rule; nothing runs; the session goes on', async () => {
    const app = uniqueName('psql_deny');
    const r = await psql(
      'reader',
      `select 'before' as step;\nupdate ${PEOPLE} set name = 'x' where id = 1;\nselect 'after' as step;\n`,
      app,
    );
    assert.match(r.out, /ERROR: {2}42501: dbtape: denied by rule access=read/);
    assert.match(r.out, /before/);
    assert.match(r.out, /after/);
    assert.doesNotMatch(r.out, /syntax error|dbtape_policy_denial/);
    assert.equal((await direct.query(`select name from ${PEOPLE} where id = 1`)).rows[0].name, 'Ann');
  });

  test('a denial inside BEGIN aborts the transaction, as a server error would; ROLLBACK recovers', async () => {
    const c = await connect('writer');
    try {
      await c.query('begin');
      await c.query(`insert into ${PEOPLE} values (10, 'Tx', null, null, 1)`);
      await assert.rejects(c.query(`delete from ${PEOPLE} where id = 1`), denied(/deny_kinds/));
      await assert.rejects(c.query('select 1'), (err: PgError) => {
        assert.equal(err.code, '25P02', 'in_failed_sql_transaction');
        return true;
      });
      await c.query('rollback');
      assert.equal((await c.query('select 2 as two')).rows[0].two, 2);
      assert.equal(await count(`${PEOPLE} where id = 10`), 0, 'the insert before the denial was rolled back');
      assert.equal(await count(PEOPLE), 2);
    } finally {
      await c.end();
    }
  });

  test('node-postgres: simple, multi-statement, extended and named prepared statements', async () => {
    const c = await connect('reader');
    try {
      await assert.rejects(c.query(`delete from ${PEOPLE} where id = 2`), denied(/access=read/));
      await assert.rejects(c.query(`select 1; delete from ${PEOPLE} where id = 2`), denied(/access=read/));
      await assert.rejects(
        c.query({ text: `update ${PEOPLE} set salary = $1 where id = 1`, values: [1] }),
        denied(/access=read/),
      );
      await assert.rejects(
        c.query({ name: 'wipe', text: `delete from ${PEOPLE} where id = $1`, values: [1] }),
        denied(/access=read/),
      );
      await assert.rejects(c.query('set default_transaction_read_only = off'), denied(/access=read/));
      await assert.rejects(
        c.query("select set_config('default_transaction_read_only', 'off', false)"),
        denied(/access=read/),
      );
      const q = { name: 'get', text: `select name from ${PEOPLE} where id = $1`, values: [1] };
      assert.equal((await c.query(q)).rows[0].name, 'Ann');
      assert.equal((await c.query({ ...q, values: [2] })).rows[0].name, 'Bob');
      assert.equal((await c.query('show transaction_read_only')).rows[0].transaction_read_only, 'on');
      assert.equal(await count(PEOPLE), 2);
    } finally {
      await c.end();
    }
  });

  test('postgres.js: tagged and unsafe statements are denied; the connection stays usable', async () => {
    const sql = postgres({
      host: '127.0.0.1',
      port: dbtape.port,
      user: 'writer',
      password: USERS.writer.password,
      database: 'app',
      max: 1,
      onnotice: () => {},
    });
    try {
      await assert.rejects(sql`update ${sql(PEOPLE)} set salary = 0`, (err: PgError) => {
        assert.equal(err.code, '42501');
        assert.match(err.message, /require_where/);
        return true;
      });
      await assert.rejects(sql.unsafe(`drop table ${PEOPLE}`), (err: PgError) => err.code === '42501');
      const rows = await sql`select count(*)::int as n from ${sql(PEOPLE)} where id = ${1}`;
      assert.equal(rows[0]!.n, 1);
      await sql`update ${sql(PEOPLE)} set salary = salary where id = ${1}`;
    } finally {
      await sql.end();
    }
    assert.equal(await count(PEOPLE), 2);
  });

  test('extended batch: a denied Parse rolls back the batch, skips to Sync, and the Sync answers', async () => {
    const raw = await rawLogin('writer');
    try {
      await raw.send(
        Buffer.concat([
          parseMsg('', `insert into ${PEOPLE} values (20, 'Batch', null, null, 1)`),
          bind(),
          executeMsg(),
          parseMsg('s_bad', `delete from ${PEOPLE} where id = 1`),
          bind('', 's_bad'),
          executeMsg(),
          SYNC_MSG,
        ]),
      );
      const ms = await raw.readUntil('Z');
      assert.equal(types(ms), '12CEZ');
      const e = errorFields(ms[3]!);
      assert.equal(e.C, '42501');
      assert.match(e.M!, /deny_kinds/);
      assert.equal(ms[4]!.body.toString(), 'I');
      assert.equal(await count(`${PEOPLE} where id = 20`), 0, 'the implicit transaction was rolled back');
      // Pipelined: an allowed batch, a denied one, an allowed one, answered in order.
      await raw.send(
        Buffer.concat([
          parseMsg('', 'select 1'),
          bind(),
          executeMsg(),
          SYNC_MSG,
          parseMsg('', `drop table ${PEOPLE}`),
          bind(),
          executeMsg(),
          SYNC_MSG,
          parseMsg('', 'select 3'),
          bind(),
          executeMsg(),
          SYNC_MSG,
        ]),
      );
      const first = await raw.readUntil('Z');
      const second = await raw.readUntil('Z');
      const third = await raw.readUntil('Z');
      assert.deepEqual(dataRows(first), [['1']]);
      assert.equal(types(second), 'EZ');
      assert.deepEqual(dataRows(third), [['3']]);
      const q = await simpleQuery(raw, 'select 4');
      assert.deepEqual(dataRows(q), [['4']]);
    } finally {
      raw.destroy();
    }
  });

  test('FunctionCall: large-object writes under read and unknown OIDs are denied; the session goes on', async () => {
    const raw = await rawLogin('reader');
    try {
      // lo_creat(-1): OID 957; one int4 argument in binary.
      const call = (oid: number) =>
        typedMessage(
          'F',
          Buffer.concat([
            int32(oid),
            Buffer.from([0, 1, 0, 1, 0, 1]),
            int32(4),
            int32(-1),
            Buffer.from([0, 1]),
          ]),
        );
      await raw.send(call(957));
      let ms = await raw.readUntil('Z');
      assert.equal(types(ms), 'EZ');
      assert.equal(errorFields(ms[0]!).C, '42501');
      assert.match(errorFields(ms[0]!).M!, /lo_creat/);
      await raw.send(call(1242));
      ms = await raw.readUntil('Z');
      assert.equal(errorFields(ms[0]!).C, '42501');
      assert.match(errorFields(ms[0]!).M!, /fail_closed/);
      assert.deepEqual(dataRows(await simpleQuery(raw, 'select 5')), [['5']]);
    } finally {
      raw.destroy();
    }
  });

  test('denials are recorded as denied events, shown by `dbtape show`', async () => {
    const app = uniqueName('show_deny');
    const c = await connect('reader', { application_name: app });
    await assert.rejects(c.query(`update ${PEOPLE} set name = 'zz' where id = 1`), denied(/access=read/));
    await assert.rejects(c.query("alter role reader password 'hunter2-very-secret'"), denied(/access=read/));
    await c.query('select 1');
    await c.end();
    const [s] = await endedSessions(storeUrl, (x) => x.application === app, 1);
    const shown = await showJson(storeUrl, s!.id);
    const d = shown.events.find((e) => e.kind === 'denied');
    assert.ok(d, 'a denied event');
    assert.equal(d.sql, `update ${PEOPLE} set name = 'zz' where id = 1`);
    assert.deepEqual(d.error, {
      code: 'access=read',
      message: 'dbtape: denied by rule access=read: UPDATE changes data',
    });
    assert.ok(!shown.events.some((e) => e.kind === 'error'), 'the stand-in error is not recorded');
    const secret = shown.events.filter((e) => e.kind === 'denied')[1];
    assert.match(String(secret?.sql), /^alter role reader password /);
    assert.doesNotMatch(JSON.stringify(shown), /hunter2/, 'a denied statement is redacted like any other');
    const text = (await cliOk(storeUrl, ['show', s!.id])).stdout;
    assert.match(text, /denied/);
    assert.match(text, /access=read/);
  });
});

describe('max_rows', () => {
  test('psql gets the first N rows, a warning, and a tag counting the rows sent', async () => {
    const r = await psql('capped', `select n from ${NUMS} order by n;\n`, uniqueName('psql_cap'));
    assert.match(r.out, /\(3 rows\)/);
    assert.match(
      r.out,
      /WARNING: {2}01000: dbtape: result truncated to 3 rows by rule max_rows \(7 more rows not sent\)/,
    );
  });

  test('a single SELECT outside a transaction is stopped at the cap: the server reads no further; recorded', async () => {
    const before = await scanned(BIG);
    const app = uniqueName('psql_stop');
    const r = await psql('capped', `select * from ${BIG};\nselect 'goes on' as next;\n`, app);
    assert.match(r.out, /\(3 rows\)/);
    assert.match(
      r.out,
      /WARNING: {2}01000: dbtape: result truncated to 3 rows by rule max_rows \(the query was stopped there\)/,
    );
    assert.doesNotMatch(r.out, /ERROR|57014|cancel/i, r.out);
    assert.match(r.out, /goes on/, 'the session goes on after the stopped query');
    const read = await scannedSince(BIG, before);
    assert.ok(read < BIG_ROWS, `the server stopped scanning (${read} of ${BIG_ROWS} rows read)`);

    const [s] = await endedSessions(storeUrl, (x) => x.application === app, 1);
    const events = (await showJson(storeUrl, s!.id)).events;
    assert.ok(!events.some((e) => e.kind === 'error'), 'the cancel is not recorded as an error');
    const result = events.find((e) => e.kind === 'result' && e.tag === 'SELECT 3');
    assert.ok(result, JSON.stringify(events));
    assert.ok(
      events.some((e) => e.kind === 'notice' && /the query was stopped there/.test(String(e.message))),
    );
  });

  test('inside a transaction block, or before another statement of its Query, the query is not stopped', async () => {
    const before = await scanned(BIG);
    const r = await psql(
      'capped',
      `begin;\nselect * from ${BIG};\nselect 'still in' as tx;\ncommit;\nselect * from ${BIG} \\; select 'second' as s;\n`,
      uniqueName('psql_nostop'),
    );
    assert.equal(r.out.match(/\(29997 more rows not sent\)/g)?.length, 2, r.out);
    assert.match(r.out, /still in/);
    assert.match(r.out, /COMMIT/);
    assert.match(r.out, /second/, "the Query's next statement ran");
    assert.doesNotMatch(r.out, /ERROR|stopped there/, r.out);
    assert.ok((await scannedSince(BIG, before)) >= 2 * BIG_ROWS, 'both results were read to the end');
  });

  test('a SELECT followed by extended messages sent before its answer is not stopped: the cancel could hit them', async () => {
    const raw = await rawLogin('capped');
    try {
      // The server runs Parse/Bind/Execute as they come, without waiting for their Sync.
      await raw.send(
        Buffer.concat([
          queryMessage(`select * from ${BIG}`),
          parseMsg('', 'select 42'),
          bind(),
          executeMsg('', 0),
        ]),
      );
      const first = await raw.readUntil('Z');
      const warning = first.find((m) => m.type === 'N');
      assert.match(String(warning?.body), /\(29997 more rows not sent\)/);
      await raw.send(SYNC_MSG);
      const second = await raw.readUntil('Z');
      assert.ok(!second.some((m) => m.type === 'E'), types(second));
      assert.deepEqual(dataRows(second), [['42']]);
    } finally {
      raw.destroy();
    }
  });

  test('node-postgres simple and extended results are capped', async () => {
    const c = await connect('capped');
    try {
      const a = await c.query(`select n from ${NUMS} order by n`);
      assert.deepEqual(
        a.rows.map((r) => r.n),
        [1, 2, 3],
      );
      assert.equal(a.rowCount, 3);
      const b = await c.query({ text: `select n from ${NUMS} where n > $1 order by n`, values: [2] });
      assert.deepEqual(
        b.rows.map((r) => r.n),
        [3, 4, 5],
      );
      const small = await c.query(`select n from ${NUMS} where n <= 2`);
      assert.equal(small.rowCount, 2);
    } finally {
      await c.end();
    }
  });

  test('a portal read in pages (Execute with a row limit) is capped across pages', async () => {
    const raw = await rawLogin('capped');
    try {
      await simpleQuery(raw, 'begin');
      await raw.send(
        Buffer.concat([
          parseMsg('', `select n from ${NUMS} order by n`),
          bind('pg1'),
          executeMsg('pg1', 2),
          executeMsg('pg1', 2),
          executeMsg('pg1', 0),
          SYNC_MSG,
        ]),
      );
      const ms = await raw.readUntil('Z');
      assert.deepEqual(dataRows(ms), [['1'], ['2'], ['3']]);
      assert.ok(ms.some((m) => m.type === 'N'));
      const cc = ms.find((m) => m.type === 'C')!;
      assert.equal(cc.body.toString('utf8', 0, cc.body.length - 1), 'SELECT 3');
      await simpleQuery(raw, 'commit');
    } finally {
      raw.destroy();
    }
  });
});

describe('max_rows stops extended-protocol SELECTs by a row limit', () => {
  test('node-postgres: the server reads no further than the cap, outside and inside a transaction; recorded', async () => {
    const before = await scanned(LIMITED);
    const app = uniqueName('pg_limit');
    const c = await connect('capped', { application_name: app });
    const notices: string[] = [];
    c.on('notice', (n) => notices.push(String(n.message)));
    try {
      const sql = { text: `select g from ${LIMITED} where $1::int > 0`, values: [1] };
      const a = await c.query(sql);
      assert.equal(a.rows.length, 3);
      assert.equal(a.rowCount, 3);
      await c.query('begin');
      const b = await c.query(sql);
      assert.equal(b.rows.length, 3);
      assert.equal(b.rowCount, 3);
      assert.equal((await c.query({ text: 'select $1::text as s', values: ['in tx'] })).rows[0].s, 'in tx');
      await c.query('commit');
      const stopped = 'dbtape: result truncated to 3 rows by rule max_rows (the query was stopped there)';
      assert.deepEqual(notices, [stopped, stopped]);
    } finally {
      await c.end();
    }
    // Each SELECT read the row over the cap and no further (a full read is 30,000 rows).
    const read = await scannedSince(LIMITED, before);
    assert.ok(read <= 2 * 4, `the server stopped scanning (${read} rows read by two capped SELECTs)`);

    const [s] = await endedSessions(storeUrl, (x) => x.application === app, 1);
    const events = (await showJson(storeUrl, s!.id)).events;
    assert.ok(!events.some((e) => e.kind === 'error'), JSON.stringify(events));
    assert.equal(events.filter((e) => e.kind === 'result' && e.tag === 'SELECT 3').length, 2);
    assert.equal(
      events.filter((e) => e.kind === 'notice' && /the query was stopped there/.test(String(e.message)))
        .length,
      2,
    );
  });

  test("in a pipeline: each Execute asking for every row is limited; a client's own row limit still pages", async () => {
    const raw = await rawLogin('capped');
    try {
      await raw.send(
        Buffer.concat([
          parseMsg('', `select n from ${NUMS} order by n`),
          bind(),
          executeMsg('', 0), // limited by dbtape: 3 rows, then the end
          bind(),
          executeMsg('', 2), // the client pages: 2 rows, PortalSuspended
          executeMsg('', 0), // the rest: 1 more row up to the cap, then the end
          SYNC_MSG,
        ]),
      );
      const ms = await raw.readUntil('Z');
      assert.equal(types(ms), '12DDDNC2DDsDNCZ');
      assert.deepEqual(dataRows(ms), [['1'], ['2'], ['3'], ['1'], ['2'], ['3']]);
      const tags = ms.filter((m) => m.type === 'C').map((m) => m.body.toString('utf8', 0, m.body.length - 1));
      assert.deepEqual(tags, ['SELECT 3', 'SELECT 3']);
      const warnings = ms.filter((m) => m.type === 'N').map((m) => String(m.body));
      assert.equal(warnings.length, 2);
      for (const w of warnings) assert.match(w, /the query was stopped there/);
    } finally {
      raw.destroy();
    }
  });
});

describe('masking', () => {
  test('psql (text results): columns by name, card numbers by detector', async () => {
    const r = await psql(
      'masked',
      `select id, name, email, card, salary from ${PEOPLE} order by id;\n`,
      uniqueName('psql_mask'),
    );
    assert.doesNotMatch(r.out, /ann\.lee@example\.com|4111 1111 1111 1111|52000|61000/);
    assert.match(r.out, /Ann/);
    assert.match(r.out, /\*\*\*\* \*\*\*\* \*\*\*\* 1111/);
    assert.match(r.out, /50000|00000/);
  });

  test('psql: COPY ... TO STDOUT, whose rows masking does not rewrite, is denied; SELECT shows them masked', async () => {
    const r = await psql(
      'masked',
      `\\copy ${PEOPLE} to stdout\ncopy (select email from ${PEOPLE}) to stdout;\nselect email from ${PEOPLE} order by id;\n`,
      uniqueName('psql_copy_mask'),
    );
    assert.doesNotMatch(r.out, /ann\.lee@example\.com|bob@example\.org/);
    const denials =
      r.out.match(/ERROR: {2}42501: dbtape: denied by rule masking: COPY \.\.\. TO STDOUT/g) ?? [];
    assert.equal(denials.length, 2, r.out);
    assert.match(r.out, /\*+\.\*+@/);
  });

  test("values quoted in the server's errors are masked too, and recorded masked", async () => {
    const app = uniqueName('err_mask');
    const c = await connect('masked', { application_name: app });
    try {
      await assert.rejects(c.query(`select email::int from ${PEOPLE} where id = 1`), (e: PgError) => {
        assert.equal(e.code, '22P02');
        assert.match(e.message, /^invalid input syntax for type integer: "a\*+@example\.com"$/);
        return true;
      });
      assert.deepEqual((await c.query('select 1 as one')).rows, [{ one: 1 }], 'the session goes on');
    } finally {
      await c.end();
    }
    const [session] = await endedSessions(storeUrl, (x) => x.application === app, 1);
    const stored = JSON.stringify(await storedEvents(storeUrl, session!.id));
    assert.doesNotMatch(stored, /ann\.lee@example\.com/);
    assert.match(stored, /invalid input syntax for type integer/);
  });

  test('notification payloads and reported settings are masked like messages (a trigger may send whole rows)', async () => {
    const channel = uniqueName('chan');
    const c = await connect('masked');
    try {
      await c.query(`listen ${channel}`);
      const got = new Promise<string>((resolve) => c.on('notification', (n) => resolve(n.payload ?? '')));
      await direct.query('select pg_notify($1, $2)', [channel, '{"id": 1, "email": "ann.lee@example.com"}']);
      assert.match(await got, /^\{"id": 1, "email": "a\*+@example\.com"\}$/);
      // A setting the server reports back (ParameterStatus) is masked too.
      const statuses: string[] = [];
      // node-postgres keeps its Connection off the typings; it emits each ParameterStatus it reads.
      const connection = (c as unknown as { connection: NodeJS.EventEmitter }).connection;
      connection.on('parameterStatus', (m: { parameterName: string; parameterValue: string }) => {
        if (m.parameterName === 'application_name') statuses.push(m.parameterValue);
      });
      await c.query(`select set_config('application_name', email, false) from ${PEOPLE} where id = 1`);
      assert.equal(statuses.length, 1);
      assert.match(statuses[0]!, /^a\*+@example\.com$/);
    } finally {
      await c.end();
    }
  });

  test('node-postgres binary results: text masked, masked numbers sent as NULL; recording holds masked values', async () => {
    const app = uniqueName('bin_mask');
    const c = await connect('masked', { application_name: app, binary: true } as pg.ClientConfig);
    let rows: Record<string, unknown>[];
    try {
      const aliased = await c.query(
        `select email as contact, salary as pay, 7 as salary from ${PEOPLE} order by id`,
      );
      assert.match(String(aliased.rows[0].contact), /^\*+\.\*+@/, 'an alias does not escape a column rule');
      // A simple query: text results, the number's digits zeroed.
      assert.equal(aliased.rows[0].pay, 0, 'nor a table.column rule');
      assert.equal(
        aliased.rows[0].salary,
        7,
        'a table.column rule does not match a computed column of that name',
      );
      rows = (
        await c.query({
          text: `select id, name, email, card, salary from ${PEOPLE} where id > $1 order by id`,
          values: [0],
        })
      ).rows;
    } finally {
      await c.end();
    }
    assert.equal(rows.length, 2);
    assert.equal(rows[0]!.id, 1);
    assert.equal(rows[0]!.name, 'Ann');
    assert.notEqual(rows[0]!.email, 'ann.lee@example.com');
    assert.match(String(rows[0]!.email), /^\*+\.\*+@\*+\.\*+$/);
    assert.match(String(rows[0]!.card), /\*\*\*\* \*\*\*\* \*\*\*\* 1111/);
    assert.equal(rows[0]!.salary, null);
    const [s] = await endedSessions(storeUrl, (x) => x.application === app, 1);
    const events: SessionEvent[] = await waitFor(
      async () => {
        const ev = await storedEvents(storeUrl, s!.id);
        return ev.some((e) => e.kind === 'result' && e.rowData) ? ev : null;
      },
      { what: 'recorded rows' },
    );
    const recorded = JSON.stringify(events);
    assert.doesNotMatch(recorded, /ann\.lee@example\.com|4111 1111 1111 1111/);
    assert.match(recorded, /\*\*\*\* \*\*\*\* \*\*\*\* 1111/);
  });
  test('a named statement run again without Describe (pgjdbc, binary results) is masked, not blanked', async () => {
    // pgjdbc past its prepareThreshold: Parse S_1, Bind, Describe the portal, Execute; then only
    // Bind S_1 and Execute, with binary results. The portal's description tells the statement's
    // columns; without them dbtape could only send every masked-rule column as NULL.
    const raw = await rawLogin('masked');
    const sql = `select id, email from ${PEOPLE} where id = 1`;
    const expectRow = (ms: readonly PgMessage[], what: string) => {
      const rows = dataRowBuffers(ms);
      assert.equal(rows.length, 1, `${what}: ${types(ms)}`);
      assert.deepEqual(rows[0]![0], Buffer.from([0, 0, 0, 1]), `${what}: the id, as binary int4`);
      assert.match(String(rows[0]![1]), /^\*+\.\*+@\*+\.\*+$/, `${what}: the email, masked`);
    };
    try {
      await raw.send(
        Buffer.concat([parseMsg('S_1', sql), bind('', 'S_1', 1), describeMsg('P'), executeMsg(), SYNC_MSG]),
      );
      expectRow(await raw.readUntil('Z'), 'described');
      for (let i = 0; i < 2; i++) {
        await raw.send(Buffer.concat([bind('', 'S_1', 1), executeMsg(), SYNC_MSG]));
        expectRow(await raw.readUntil('Z'), `run again (${i + 1})`);
      }
      // Pipelined: the second Bind is sent before the first Describe is answered.
      await raw.send(
        Buffer.concat([
          parseMsg('S_2', sql),
          bind('', 'S_2', 1),
          describeMsg('P'),
          executeMsg(),
          bind('', 'S_2', 1),
          executeMsg(),
          SYNC_MSG,
        ]),
      );
      const ms = await raw.readUntil('Z');
      assert.equal(dataRowBuffers(ms).length, 2, types(ms));
      expectRow(ms.filter((m) => m.type === 'D').slice(1), 'pipelined');
    } finally {
      raw.destroy();
    }
  });
});

describe('pg_dump', () => {
  async function pgDump(user: UserName, extra: readonly string[] = []) {
    const env = { ...aliceEnv(), PGPASSWORD: USERS[user].password };
    return runStatus(
      requirePgBinary('pg_dump', 'postgresql-client'),
      ['-h', '127.0.0.1', '-p', String(dbtape.port), '-U', user, '-d', 'app', '-t', PEOPLE, ...extra],
      { env },
    );
  }

  test('a read role dumps a table (its set_config, LOCK ... IN ACCESS SHARE MODE and COPY are reads)', async () => {
    const r = await pgDump('reader');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`CREATE TABLE public\\.${PEOPLE}`));
    assert.match(r.stdout, /ann\.lee@example\.com/);
  });

  test('a masked role: the COPY of a plain dump is denied; --inserts dumps the masked rows', async () => {
    const plain = await pgDump('masked');
    assert.notEqual(plain.code, 0);
    assert.match(plain.stderr, /denied by rule masking: COPY \.\.\. TO STDOUT/);
    const inserts = await pgDump('masked', ['--inserts']);
    assert.equal(inserts.code, 0, inserts.stderr);
    assert.match(inserts.stdout, /INSERT INTO public\./);
    assert.doesNotMatch(inserts.stdout, /ann\.lee@example\.com|4111 1111 1111 1111/);
    assert.match(inserts.stdout, /\*\*\*\* \*\*\*\* \*\*\*\* 1111/);
  });
});

describe('with durability: strict', () => {
  test('denials go through the strict gate in order; the session goes on', async () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-policy-strict-'));
    const strict = await startInProcess({
      yaml: stringify({
        listen: { postgres: '127.0.0.1:0' },
        store: { url: `sqlite:${path.join(dir, 'store.db')}`, durability: 'strict' },
        targets: [DEFAULT_TARGET],
        users: usersYaml({ reader: USERS.reader }),
        roles: [{ name: 'r', targets: ['app'], access: 'read' }],
      }),
    });
    const c = new pg.Client({ ...clientConfig('reader'), port: strict.port });
    try {
      await c.connect();
      const results = await Promise.allSettled([
        c.query('select 1 as one'),
        c.query(`delete from ${PEOPLE} where id = 1`),
        c.query({ text: `update ${PEOPLE} set name = $1 where id = 1`, values: ['x'] }),
        c.query({ text: 'select $1::int as two', values: [2] }),
      ]);
      assert.equal(results[0].status === 'fulfilled' && results[0].value.rows[0].one, 1);
      assert.equal(results[1].status === 'rejected' && (results[1].reason as PgError).code, '42501');
      assert.equal(results[2].status === 'rejected' && (results[2].reason as PgError).code, '42501');
      assert.equal(results[3].status === 'fulfilled' && results[3].value.rows[0].two, 2);
      assert.equal(await count(PEOPLE), 2);
    } finally {
      await c.end().catch(() => {});
      await strict.close();
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
