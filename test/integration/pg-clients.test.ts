// Real PostgreSQL clients through a spawned `dbtape serve` against the machine's PostgreSQL:
// psql (plaintext and TLS, \copy, \watch, Ctrl-C), node-postgres, postgres.js and pgbench.
import assert from 'node:assert/strict';
import { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { from as copyFrom, to as copyTo } from 'pg-copy-streams';
import postgres from 'postgres';
import { requireBinary, requirePgBinary } from '../support/binaries.js';
import { run } from '../support/exec.js';
import {
  ALICE,
  activity,
  aliceEnv,
  background,
  connectDirect,
  connectViaProxy,
  conninfo,
  type DbtapeProxy,
  machineTarget,
  startProxy,
  uniqueName,
  viaProxy,
  waitForNoBackend,
  waitForSleep,
} from '../support/pg-fixtures.js';
import { waitFor, withTimeout } from '../support/wait.js';

const PSQL = requirePgBinary('psql', 'postgresql-client');
const PGBENCH = requirePgBinary('pgbench', 'postgresql');
const BENCH_DB = uniqueName('dbtape_bench');

let proxy: DbtapeProxy;
let monitor: pg.Client;

before(async () => {
  proxy = await startProxy({
    tls: true,
    targets: [machineTarget('app'), machineTarget('bench', BENCH_DB), machineTarget('locked')],
    granted: ['app', 'bench'],
  });
  monitor = await connectDirect();
});

after(async () => {
  await monitor?.end();
  await proxy?.stop();
});

/** psql as alice through dbtape; resolves with stdout, rejects with stderr when psql fails. */
async function psql(
  args: readonly string[],
  opts: { sslmode?: string; input?: string; application?: string; port?: number } = {},
): Promise<string> {
  const target = opts.port ? { ...proxy, port: opts.port } : proxy;
  const dsn = conninfo(target, { sslmode: opts.sslmode, application: opts.application });
  const { stdout } = await run(PSQL, ['-X', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-d', dsn, ...args], {
    env: aliceEnv(),
    input: opts.input,
  });
  return stdout;
}

async function scratchTable(columns: string): Promise<string> {
  const name = uniqueName('t');
  await monitor.query(`create table ${name} (${columns})`);
  return name;
}

/** Rows in COPY text format with tabs, backslashes, NULLs and non-ASCII text, as psql sends them. */
function copyText(rows: number, width = 40): string {
  const lines: string[] = [];
  for (let i = 1; i <= rows; i++) {
    const note = i % 7 === 0 ? '\\N' : `ü 日本 🐘 tab\\there back\\\\slash ${'x'.repeat(i % width)}`;
    lines.push(`${i}\tname-${i}\t${note}\n`);
  }
  return lines.join('');
}

describe('psql', () => {
  for (const sslmode of ['disable', 'require']) {
    test(`sslmode=${sslmode}: connects as the target's user and copies both ways with \\copy`, async () => {
      const info = await psql(['-c', '\\conninfo', '-c', 'select current_user, current_database()'], {
        sslmode,
      });
      assert.match(info, /postgres\|test/);
      if (sslmode === 'require') assert.match(info, /SSL connection \(protocol: TLS/);
      else assert.doesNotMatch(info, /SSL connection/);

      const table = await scratchTable('id int primary key, name text, note text');
      const data = copyText(20_000);
      await psql(['-c', `\\copy ${table} from stdin`], { sslmode, input: data });
      const direct = await monitor.query(
        `select count(*)::int as n, count(note)::int as notes from ${table}`,
      );
      assert.deepEqual(direct.rows[0], { n: 20_000, notes: 20_000 - Math.floor(20_000 / 7) });
      const sample = await monitor.query(`select note from ${table} where id = 12`);
      assert.equal(sample.rows[0].note, `ü 日本 🐘 tab\there back\\slash ${'x'.repeat(12)}`);

      const copied = await psql(['-c', `\\copy (select * from ${table} order by id) to stdout`], { sslmode });
      assert.equal(copied, data);
      await monitor.query(`drop table ${table}`);
    });
  }

  test('\\watch repeats a query until psql is killed, and the session then ends upstream', async () => {
    const application = uniqueName('psql_watch');
    const watch = background(PSQL, ['-X', '-A', '-t', '-d', conninfo(proxy, { application })], aliceEnv());
    try {
      watch.child.stdin!.write("select 'tick-' || 6 * 7 \\watch 0.2\n");
      await watch.waitForOutput(/(tick-42\n[\s\S]*){4}/);
      assert.equal((await activity(monitor, application)).length, 1);
    } finally {
      watch.kill('SIGKILL');
    }
    await watch.exited;
    await waitForNoBackend(monitor, application);
  });

  test('Ctrl-C in interactive psql cancels the running query and the session stays usable', async () => {
    const script = requireBinary('script', 'bsdutils');
    const application = uniqueName('psql_ctrl_c');
    const dsn = conninfo(proxy, { application, sslmode: 'require' });
    // `script` gives psql a terminal, so it is interactive and Ctrl-C (0x03) reaches it as SIGINT.
    const term = background(script, ['-qfec', `${PSQL} -X -P pager=off -d '${dsn}'`, '/dev/null'], {
      ...aliceEnv(),
      TERM: 'dumb',
    });
    try {
      await term.waitForOutput(/app=# $/);
      term.child.stdin!.write('select pg_sleep(60);\n');
      const backend = await waitForSleep(monitor, application);
      term.child.stdin!.write('\x03');
      await term.waitForOutput(/canceling statement due to user request/);
      await waitFor(
        async () =>
          (await activity(monitor, application)).find((a) => a.pid === backend.pid && a.state === 'idle'),
        { what: 'the same backend to be idle after the cancel' },
      );
      term.child.stdin!.write("select 'alive-' || 6 * 7 as v;\n");
      await term.waitForOutput(/alive-42/);
      term.child.stdin!.write('\\q\n');
      // The wrapper's status is not psql's contract: under CI (SIGINT inherited as ignored,
      // no controlling terminal) `script -e` has reported 130 after a clean `\q`. What
      // matters is that psql quits on `\q` and its session then ends upstream.
      await withTimeout(term.exited, 10_000, 'psql to quit');
      assert.match(term.stdout(), /app=# \\q/);
    } finally {
      term.kill();
    }
    await waitForNoBackend(monitor, application);
  });

  test('SIGINT to psql -c cancels the query; psql reports it and exits', async () => {
    const application = uniqueName('psql_sigint');
    const run = background(
      PSQL,
      ['-X', '-d', conninfo(proxy, { application }), '-c', 'select pg_sleep(60)'],
      aliceEnv(),
    );
    try {
      await waitForSleep(monitor, application);
      run.child.kill('SIGINT');
      // Without the cancel reaching the backend, psql would wait out the 60 s sleep.
      const exit = await withTimeout(run.exited, 20_000, 'psql to exit after SIGINT');
      assert.match(run.stderr(), /canceling statement due to user request/);
      assert.equal(exit.code, 1);
    } finally {
      run.kill();
    }
    await waitForNoBackend(monitor, application);
  });

  test('with tls.require, plaintext is refused with a clear message and TLS works', async () => {
    const strict = await startProxy({ requireTls: true });
    try {
      await assert.rejects(
        psql(['-c', 'select 1'], { port: strict.port, sslmode: 'disable' }),
        /dbtape: .*requires TLS/,
      );
      assert.equal(
        (await psql(['-c', 'select 41 + 1'], { port: strict.port, sslmode: 'require' })).trim(),
        '42',
      );
    } finally {
      await strict.stop();
    }
  });
});

describe('node-postgres', () => {
  let client: pg.Client;
  before(async () => {
    client = await connectViaProxy(proxy);
  });
  after(() => client?.end());

  test('simple and parameterised queries', async () => {
    assert.equal((await client.query('select 1 as one')).rows[0].one, 1);
    const multi = (await client.query('select 1 as a; select 2 as b')) as unknown as pg.QueryResult[];
    assert.deepEqual(
      multi.map((r) => r.rows[0]),
      [{ a: 1 }, { b: 2 }],
    );
    const sum = await client.query('select $1::int + $2::int as sum, $3::text as t', [2, 3, 'añb']);
    assert.deepEqual(sum.rows[0], { sum: 5, t: 'añb' });
  });

  test('a named prepared statement executed many times', async () => {
    for (let i = 0; i < 300; i++) {
      const r = await client.query({ name: 'double_it', text: 'select $1::int * 2 as x', values: [i] });
      assert.equal(r.rows[0].x, i * 2);
    }
    const prepared = await client.query(
      "select statement from pg_prepared_statements where name = 'double_it'",
    );
    assert.equal(prepared.rowCount, 1);
  });

  test('types round trip', async () => {
    const bytes = Buffer.from(Array.from({ length: 256 }, (_, i) => i));
    const when = new Date('2024-02-29T12:34:56.789Z');
    const doc = { a: [1, 'two', null], b: { ü: true } };
    const r = await client.query(
      `select $1::int8 as big, $2::numeric as num, $3::bytea as bin, $4::timestamptz as at, $5::uuid as id,
              $6::json as doc, $7::jsonb as docb, $8::int[] as ints, $9::text[] as texts, $10::text as nothing,
              $11::text as uni, char_length($11::text) as uni_len, 9223372036854775807::int8 as max_big`,
      [
        '-9223372036854775808',
        '12345678901234567890.000000000123',
        bytes,
        when,
        'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11',
        JSON.stringify(doc),
        JSON.stringify(doc),
        [1, -2, 3],
        ['x', 'with "quotes", commas', null, 'ß'],
        null,
        '日本語 🐘 ñ',
      ],
    );
    const row = r.rows[0];
    assert.equal(row.big, '-9223372036854775808');
    assert.equal(row.num, '12345678901234567890.000000000123');
    assert.deepEqual(row.bin, bytes);
    assert.equal(row.at.getTime(), when.getTime());
    assert.equal(row.id, 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11');
    assert.deepEqual(row.doc, doc);
    assert.deepEqual(row.docb, doc);
    assert.deepEqual(row.ints, [1, -2, 3]);
    assert.deepEqual(row.texts, ['x', 'with "quotes", commas', null, 'ß']);
    assert.equal(row.nothing, null);
    assert.equal(row.uni, '日本語 🐘 ñ');
    assert.equal(row.uni_len, 7);
    assert.equal(row.max_big, '9223372036854775807');
  });

  test('errors keep the session usable', async () => {
    await assert.rejects(client.query('selec 1'), { code: '42601' });
    assert.equal((await client.query('select 2 as two')).rows[0].two, 2);
    await assert.rejects(client.query('select 1 / $1::int', [0]), { code: '22012' });
    assert.equal((await client.query('select $1::int as three', [3])).rows[0].three, 3);
  });

  test('transactions commit and roll back on the server', async () => {
    const table = await scratchTable('id int');
    await client.query('begin');
    await client.query(`insert into ${table} values (1)`);
    await client.query('rollback');
    await client.query('begin');
    await client.query(`insert into ${table} values (2)`);
    await assert.rejects(client.query('select nonsense'), { code: '42703' });
    await assert.rejects(client.query('select 1'), { code: '25P02' });
    await client.query('rollback');
    await client.query('begin');
    await client.query(`insert into ${table} values ($1)`, [3]);
    await client.query('commit');
    const direct = await monitor.query(`select array_agg(id) as ids from ${table}`);
    assert.deepEqual(direct.rows[0].ids, [3]);
    await monitor.query(`drop table ${table}`);
  });

  test('LISTEN/NOTIFY between two dbtape sessions', async () => {
    const listener = await connectViaProxy(proxy);
    const notifier = await connectViaProxy(proxy);
    try {
      const channel = uniqueName('chan');
      await listener.query(`listen ${channel}`);
      const received = new Promise<pg.Notification>((resolve) => listener.once('notification', resolve));
      await notifier.query('select pg_notify($1, $2)', [channel, 'héllo 🐘']);
      const n = await withTimeout(received, 10_000, 'the notification');
      assert.equal(n.channel, channel);
      assert.equal(n.payload, 'héllo 🐘');
    } finally {
      await listener.end();
      await notifier.end();
    }
  });

  test('notices from RAISE NOTICE reach the client', async () => {
    const notice = new Promise<{ message?: string; severity?: string }>((resolve) =>
      client.once('notice', resolve),
    );
    await client.query("do $$ begin raise notice 'hello %', 6 * 7; end $$");
    const n = await withTimeout(notice, 10_000, 'the notice');
    assert.equal(n.message, 'hello 42');
    assert.equal(n.severity, 'NOTICE');
  });

  test('COPY FROM STDIN and TO STDOUT with pg-copy-streams, a few MB', async () => {
    const table = await scratchTable('id int primary key, name text, note text');
    const data = copyText(40_000, 150);
    assert.ok(data.length > 3_000_000);
    const chunks = Array.from({ length: Math.ceil(data.length / 65_536) }, (_, i) =>
      Buffer.from(data.slice(i * 65_536, (i + 1) * 65_536)),
    );
    await pipeline(Readable.from(chunks), client.query(copyFrom(`copy ${table} from stdin`)));
    assert.equal((await monitor.query(`select count(*)::int as n from ${table}`)).rows[0].n, 40_000);

    const out: Buffer[] = [];
    const sink = new Writable({
      write(chunk: Buffer, _enc, done) {
        out.push(chunk);
        done();
      },
    });
    await pipeline(client.query(copyTo(`copy (select * from ${table} order by id) to stdout`)), sink);
    assert.equal(Buffer.concat(out).toString('utf8'), data);

    await assert.rejects(
      pipeline(
        Readable.from([Buffer.from('1\tx\ty\nnot-a-number\tx\ty\n')]),
        client.query(copyFrom(`copy ${table} from stdin`)),
      ),
      { code: '22P02' },
    );
    assert.equal((await client.query('select 5 as five')).rows[0].five, 5);
    await monitor.query(`drop table ${table}`);
  });
});

describe('postgres.js', () => {
  let sql: postgres.Sql;
  const application = uniqueName('postgresjs');
  before(() => {
    sql = postgres({
      host: proxy.host,
      port: proxy.port,
      user: ALICE.name,
      pass: ALICE.password,
      database: 'app',
      ssl: false,
      max: 1,
      onnotice: () => {},
      connection: { application_name: application },
    });
  });
  after(() => sql?.end({ timeout: 5 }));

  test('pipelines many queries on one connection', async () => {
    const results = await Promise.all(
      Array.from({ length: 500 }, (_, i) => sql`select ${i}::int as i, ${`v${i}`} as v`),
    );
    results.forEach((rows, i) => {
      assert.deepEqual([...rows], [{ i, v: `v${i}` }]);
    });
  });

  test('sql.begin with several pipelined statements', async () => {
    const table = await scratchTable('id int, label text');
    const [, , count] = await sql.begin((tx) => [
      tx`insert into ${tx(table)} values (1, 'one')`,
      tx`insert into ${tx(table)} values (2, 'two')`,
      tx`select count(*)::int as n from ${tx(table)}`,
    ]);
    assert.equal(count[0].n, 2);
    const direct = await monitor.query(`select string_agg(label, ',' order by id) as labels from ${table}`);
    assert.equal(direct.rows[0].labels, 'one,two');
    await monitor.query(`drop table ${table}`);
  });

  test('query.cancel() cancels pg_sleep with 57014', async () => {
    const query = sql`select pg_sleep(30)`;
    const outcome = query.then(
      () => null,
      (err: { code?: string }) => err,
    );
    await waitForSleep(monitor, application);
    query.cancel();
    const err = await withTimeout(outcome, 20_000, 'the cancelled query to fail');
    assert.equal(err?.code, '57014');
    assert.deepEqual([...(await sql`select 1 as one`)], [{ one: 1 }]);
  });
});

describe('pgbench', () => {
  before(async () => {
    await monitor.query(`create database ${BENCH_DB}`);
    // Initialise directly against the server; only the benchmark runs go through dbtape.
    await run(PGBENCH, ['-i', '-s', '1', '-q', '-h', '127.0.0.1', '-p', '5432', '-U', 'postgres', BENCH_DB], {
      env: aliceEnv(),
    });
  });
  after(() => monitor.query(`drop database if exists ${BENCH_DB} with (force)`));

  for (const mode of ['simple', 'extended', 'prepared']) {
    for (const script of ['select-only', 'tpcb']) {
      test(`-M ${mode} ${script}: no failed transactions`, async () => {
        const args = [
          '-n',
          '-M',
          mode,
          '-c',
          '4',
          '-j',
          '2',
          '-T',
          '2',
          ...(script === 'select-only' ? ['-S'] : []),
        ];
        const { stdout } = await run(
          PGBENCH,
          [...args, '-h', proxy.host, '-p', String(proxy.port), '-U', ALICE.name, 'bench'],
          { env: aliceEnv() },
        );
        assert.match(stdout, new RegExp(`query mode: ${mode}`));
        assert.match(stdout, /number of failed transactions: 0 /);
        const processed = /number of transactions actually processed: (\d+)/.exec(stdout);
        assert.ok(processed && Number(processed[1]) > 0, stdout);
      });
    }
  }
});

describe('refusals', () => {
  test('an unknown target and a forbidden one give the same error', async () => {
    const refusal = async (database: string) => {
      const c = new pg.Client(viaProxy(proxy, { database }));
      const err = await c.connect().then(
        () => assert.fail(`connected to ${database}`),
        (e: { code?: string; message: string }) => e,
      );
      await c.end().catch(() => {});
      return { code: err.code, message: err.message };
    };
    const unknown = await refusal('no_such_target');
    const forbidden = await refusal('locked');
    assert.match(forbidden.message, /^dbtape: /);
    // The target name is what the client typed; everything else must be identical.
    assert.deepEqual(unknown, {
      ...forbidden,
      message: forbidden.message.replace('locked', 'no_such_target'),
    });
  });

  test('a wrong password is refused with 28P01', async () => {
    const c = new pg.Client(viaProxy(proxy, { password: 'not-her-password' }));
    await assert.rejects(c.connect(), { code: '28P01' });
    await c.end().catch(() => {});
  });
});
