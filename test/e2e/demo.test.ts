/**
 * `dbtape demo` as a user runs it: no config, no database server. The demo is started with PostgreSQL's
 * programs removed from its PATH and, where the machine allows it (root, unshare), in a network
 * namespace of its own whose loopback has nothing listening: so nothing on 127.0.0.1:5432 can be what
 * answers. Clients then connect with the printed password: psql with sslmode=require, and several
 * node-postgres and postgres.js clients at once, whose parameterised statements are split across
 * messages (Parse+Describe+Flush, then Bind+Execute+Sync) and so must not interleave in the single
 * embedded session.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { findBinary, requirePgBinary } from '../support/binaries.js';
import { removeAtExit } from '../support/cleanup.js';
import { DBTAPE_BIN, REPO_ROOT } from '../support/dbtape-process.js';
import { envWithoutPg, run, runStatus } from '../support/exec.js';
import { freePort, isPortOpen } from '../support/ports.js';
import { describeExit, ServerProcess } from '../support/server-process.js';
import { waitFor } from '../support/wait.js';

/**
 * Issue 3 wants the demo up in under 30 s on this machine; that is measured and reported (the
 * diagnostic below, and the closing note), not asserted: a shared 2-core CI machine running other
 * test files at the same time must not turn a speed figure into a failure. The wait is generous.
 */
const STARTUP_WAIT_MS = 180_000;
const PG_PROGRAMS = ['postgres', 'initdb', 'pg_ctl', 'pg_ctlcluster', 'psql'];

interface Isolation {
  /** Runs `argv` inside the demo's network namespace (or as is without one). */
  wrap(pid: number, argv: string[]): [string, string[]];
  /** Command that starts `argv` in a new network namespace with loopback up. */
  start(argv: string[]): [string, string[]];
  readonly kind: 'netns' | 'none';
  readonly why?: string;
}

/** A network namespace when we may make one (root with unshare, nsenter and ip), else none, with why. */
function isolation(): Isolation {
  const none = (why: string): Isolation => ({
    kind: 'none',
    why,
    wrap: (_pid, argv) => [argv[0]!, argv.slice(1)],
    start: (argv) => [argv[0]!, argv.slice(1)],
  });
  if (process.getuid?.() !== 0) return none('not root, so no network namespace');
  const unshare = findBinary('unshare');
  const nsenter = findBinary('nsenter');
  const ip = findBinary('ip');
  if (!unshare || !nsenter || !ip) return none('unshare, nsenter or ip is not installed');
  const probe = spawnSync(unshare, ['-n', '/bin/sh', '-c', `${ip} link set lo up`], { stdio: 'pipe' });
  if (probe.status !== 0) return none(`unshare -n failed: ${probe.stderr.toString().trim()}`);
  return {
    kind: 'netns',
    // unshare and sh exec the demo, so the child's pid is the demo's and its namespace can be entered.
    start: (argv) => [unshare, ['-n', '/bin/sh', '-c', `${ip} link set lo up && exec "$0" "$@"`, ...argv]],
    wrap: (pid, argv) => [nsenter, ['-t', String(pid), '-n', ...argv]],
  };
}

/** PATH without any folder holding a PostgreSQL program, and no PG* variables. */
function envWithoutPostgres(): NodeJS.ProcessEnv {
  const env = envWithoutPg();
  env.PATH = (process.env.PATH ?? '')
    .split(path.delimiter)
    .filter((dir) => dir && !PG_PROGRAMS.some((p) => existsSync(path.join(dir, p))))
    .join(path.delimiter);
  return env;
}

/** A base port N with N and N+2 free (PostgreSQL and the dashboard). */
async function freePortBase(): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const n = await freePort();
    if (n + 2 <= 65535 && !(await isPortOpen('127.0.0.1', n + 2, 200))) return n;
  }
  throw new Error('could not find two free ports N and N+2');
}

/** Three node-postgres clients and a postgres.js client at once, each checking its own answers. */
const CLIENTS_SCRIPT = `
import { readFileSync } from 'node:fs';
import pg from 'pg';
import postgres from 'postgres';
const { PORT, PASSWORD, CA } = process.env;
const ca = readFileSync(CA, 'utf8');
const conn = { host: '127.0.0.1', port: Number(PORT), user: 'demo', password: PASSWORD, database: 'demo' };
const out = {};

const clients = await Promise.all([1, 2, 3].map(async () => {
  const c = new pg.Client({ ...conn, ssl: { ca }, application_name: 'demo-e2e' });
  await c.connect();
  return c;
}));
const expectedCounts = new Map((await clients[0].query(
  'select customer_id, count(*)::int as n from orders group by customer_id')).rows.map((r) => [r.customer_id, r.n]));
const expectedEmails = new Map((await clients[0].query('select id, email from customers')).rows.map((r) => [r.id, r.email]));
const pjs = postgres({ ...conn, ssl: { ca }, max: 1, prepare: false, fetch_types: false, onnotice: () => {} });

const mismatches = [];
await Promise.all([
  (async () => {
    for (let id = 1; id <= 40; id++) {
      const r = await clients[0].query('select count(*)::int as n from orders where customer_id = $1', [id]);
      if (r.rows[0].n !== (expectedCounts.get(id) ?? 0)) mismatches.push(['count', id, r.rows[0].n]);
    }
  })(),
  (async () => {
    for (let id = 1; id <= 40; id++) {
      const r = await clients[1].query('select email from customers where id = $1', [id]);
      if (r.rows[0]?.email !== expectedEmails.get(id)) mismatches.push(['email', id, r.rows[0]?.email]);
    }
  })(),
  (async () => {
    for (let i = 0; i < 10; i++) {
      await clients[2].query('begin');
      const ins = await clients[2].query(
        "insert into orders (customer_id, status, total_cents, created_at) values ($1, 'pending', 100, now()) returning id", [i + 1]);
      const seen = await clients[2].query('select count(*)::int as n from orders where id = $1', [ins.rows[0].id]);
      if (seen.rows[0].n !== 1) mismatches.push(['own insert not visible', i]);
      await clients[2].query('rollback');
    }
  })(),
  (async () => {
    // postgres.js sends Parse+Describe+Flush, waits, then Bind+Execute+Sync: a split sequence.
    for (let id = 1; id <= 40; id++) {
      const [row] = await pjs\`select name, email from customers where id = \${id} and email like \${'%@example.com'}\`;
      if (row?.email !== expectedEmails.get(id)) mismatches.push(['postgres.js email', id, row?.email]);
    }
  })(),
]);
out.mismatches = mismatches;
out.ordersAfterRollbacks = (await clients[0].query('select count(*)::int as n from orders')).rows[0].n;
out.version = (await clients[1].query('select version()')).rows[0].version;
out.dataDirectory = (await clients[1].query("select current_setting('data_directory') as d")).rows[0].d;
out.tls = clients[0].connection.stream.getProtocol?.() ?? null;
await Promise.all(clients.map((c) => c.end()));
await pjs.end();
console.log(JSON.stringify(out));
`;

describe('dbtape demo', { timeout: 180_000 }, () => {
  const iso = isolation();
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-demo-e2e-'));
  removeAtExit(dir);
  const demoDir = path.join(dir, 'demo-folder');
  let demo: ServerProcess;
  let base: number;
  let startupMs: number;
  let password: string;
  let output: string;

  /** psql -XAt in the demo's network namespace, one -c per statement; resolves whatever its exit status. */
  function psqlInDemo(url: string, statements: readonly string[]) {
    const psql = requirePgBinary('psql', 'postgresql-client');
    const [cmd, args] = iso.wrap(demo.pid!, [
      psql,
      url,
      '-X',
      '-A',
      '-t',
      ...statements.flatMap((q) => ['-c', q]),
    ]);
    return runStatus(cmd, args, { env: envWithoutPg(), timeoutMs: 60_000 });
  }

  before(async () => {
    const main = path.join(REPO_ROOT, 'dist', 'cli', 'main.js');
    if (!existsSync(main))
      throw new Error(`${main} does not exist: run \`npm run build\` first (npm test does).`);
    base = await freePortBase();
    const [cmd, args] = iso.start([
      process.execPath,
      DBTAPE_BIN,
      'demo',
      '--ports-from',
      String(base),
      '--dir',
      demoDir,
    ]);
    const started = Date.now();
    demo = new ServerProcess(cmd, args, { cwd: dir, env: envWithoutPostgres(), exitSignal: 'SIGKILL' });
    await demo.waitForLine(/^ready in /, STARTUP_WAIT_MS, 'the demo to be ready');
    startupMs = Date.now() - started;
    output = demo.lines.join('\n');
    password = /postgresql:\/\/demo:([^@]+)@/.exec(output)?.[1] ?? '';
  });

  after(async () => {
    if (demo?.running) await demo.stop('SIGKILL');
  });

  test('comes up and prints how to connect, replay and reach the dashboard', (t) => {
    t.diagnostic(
      `started in ${startupMs} ms (target: under 30 s on an idle machine); isolation: ${iso.kind === 'netns' ? 'own network namespace' : `none (${iso.why})`}`,
    );
    assert.match(password, /^[A-Za-z0-9_-]{16}$/, 'a generated password in the connection URL');
    assert.ok(
      output.includes(`psql "postgresql://demo:${password}@127.0.0.1:${base}/demo?sslmode=require"`),
      output,
    );
    assert.match(output, /npx dbtape sessions --store sqlite:\S*dbtape\.db/);
    assert.match(output, /npx dbtape replay \S+ --store sqlite:\S*dbtape\.db/);
    assert.ok(output.includes(`http://127.0.0.1:${base + 2}`), 'the dashboard on N+2');
    assert.match(output, /A sample session \(\d+ statements\) ran through the proxy/);
  });

  test('writes its certificate (key readable by its owner only) and store into --dir', () => {
    const key = path.join(demoDir, 'tls', 'demo.key');
    assert.ok(existsSync(path.join(demoDir, 'tls', 'demo.crt')));
    assert.equal(statSync(key).mode & 0o077, 0, 'the private key must not be readable by others');
    assert.equal(readFileSync(path.join(demoDir, '.gitignore'), 'utf8'), '*\n');
    assert.ok(readdirSync(demoDir).includes('dbtape.db'), `store file in ${readdirSync(demoDir).join(', ')}`);
  });

  test('signs its recordings: the printed verify command finds the sample sealed in a signed checkpoint', async () => {
    assert.doesNotMatch(output, /signing_key_file is not set/, 'the demo has a signing key');
    const key = path.join(demoDir, 'keys', 'signing.key');
    assert.equal(statSync(key).mode & 0o077, 0, 'the signing key must not be readable by others');
    const printed = /npx dbtape verify --all --store (\S+) --public-key (\S+)/.exec(output);
    assert.ok(printed, output);
    const { stdout } = await run(
      process.execPath,
      [DBTAPE_BIN, 'verify', '--all', '--store', printed[1]!, '--public-key', printed[2]!],
      { cwd: dir, timeoutMs: 60_000 },
    );
    assert.match(stdout, /1 sealed, 0 open\) and 1 signed checkpoint.*no damage found/, stdout);
    assert.doesNotMatch(stdout, /not signed yet|no signed checkpoints/, stdout);
  });

  test('psql connects with sslmode=require and finds the sample schema in the embedded database', async () => {
    const r = await psqlInDemo(`postgresql://demo:${password}@127.0.0.1:${base}/demo?sslmode=require`, [
      'select version()',
      "select current_setting('data_directory')",
      'select (select count(*) from customers), (select count(*) from orders), (select count(*) from payments)',
      "select count(*) from payments where card_number = '4111 1111 1111 1111'",
    ]);
    assert.equal(r.code, 0, r.stderr);
    const stdout = r.stdout;
    const [version, dataDir, counts, visa] = stdout.trim().split('\n');
    assert.match(version!, /PGlite/, 'the target is the embedded PGlite, not a PostgreSQL server');
    assert.equal(dataDir, '/pglite/data');
    const [customers, orders, payments] = counts!.split('|').map(Number);
    assert.equal(customers, 200);
    assert.equal(orders, 600);
    assert.ok(payments! > 100 && payments! < orders!, `payments: ${payments}`);
    assert.ok(Number(visa) > 0, 'fake card numbers for the masking demo');
  });

  test('the analyst sign-in reads masked card numbers and emails, may not write, and is recorded masked', async () => {
    const analyst = /postgresql:\/\/analyst:([^@]+)@/.exec(output)?.[1] ?? '';
    assert.match(analyst, /^[A-Za-z0-9_-]{16}$/, 'the analyst connection URL is printed');
    const r = await psqlInDemo(
      `postgresql://analyst:${analyst}@127.0.0.1:${base}/demo?sslmode=require&application_name=masking-check`,
      [
        "select card_number from payments where card_brand = 'visa' order by id limit 1",
        'select email from customers order by id limit 1',
        'update payments set amount_cents = 0',
      ],
    );
    const [card, email] = r.stdout.trim().split('\n');
    assert.match(card!, /^\*{4} \*{4} \*{4} \d{4}$/, `card: ${card}`);
    assert.match(email!, /^[a-z]\*+@example\.com$/, `email: ${email}`);
    assert.match(r.stderr, /dbtape: denied by rule access=read/);
    const store = `sqlite:${path.join(demoDir, 'dbtape.db')}`;
    const cli = async (...a: string[]) =>
      JSON.parse((await run(process.execPath, [DBTAPE_BIN, ...a, '--json'])).stdout);
    const id = await waitFor(
      async () => {
        const list = (await cli('sessions', '--store', store)) as {
          id: string;
          application: string | null;
          status: string;
        }[];
        return list.find((s) => s.application === 'masking-check' && s.status === 'ended')?.id;
      },
      { what: 'the analyst session to be recorded and ended', timeoutMs: 30_000, intervalMs: 200 },
    );
    const shown = JSON.stringify(await cli('show', id, '--store', store));
    assert.ok(shown.includes(card!), 'the recording holds the masked card number');
    assert.doesNotMatch(shown, /\d{4} \d{4} \d{4} \d{4}/, 'and no card number in clear');
  });

  test('several clients at once (node-postgres and postgres.js) each get their own correct answers', async () => {
    const [cmd, args] = iso.wrap(demo.pid!, [process.execPath, '--input-type=module', '-e', CLIENTS_SCRIPT]);
    const env = envWithoutPg({
      PORT: String(base),
      PASSWORD: password,
      CA: path.join(demoDir, 'tls', 'demo.crt'),
    });
    const { stdout } = await run(cmd, args, { cwd: REPO_ROOT, env, timeoutMs: 120_000 });
    const result = JSON.parse(stdout.trim().split('\n').pop()!) as {
      mismatches: unknown[];
      ordersAfterRollbacks: number;
      version: string;
      dataDirectory: string;
      tls: string | null;
    };
    assert.deepEqual(result.mismatches, [], 'no client saw another client’s statement or data');
    assert.equal(result.ordersAfterRollbacks, 600, 'rolled-back inserts are gone');
    assert.match(result.version, /PGlite/);
    assert.equal(result.dataDirectory, '/pglite/data');
    assert.match(result.tls ?? '', /^TLSv1\.[23]$/, 'verified TLS with the demo certificate');
  });

  test('needs no PostgreSQL server: nothing answers on 5432 where the demo runs', async (t) => {
    if (iso.kind !== 'netns') {
      // Still proven above: version() and data_directory are PGlite's. Said, not skipped silently.
      t.diagnostic(`no network namespace (${iso.why}); relying on the PGlite checks above`);
      return;
    }
    const probe = `require('net').connect(5432, '127.0.0.1').on('connect', () => process.exit(3)).on('error', () => process.exit(0))`;
    const [cmd, args] = iso.wrap(demo.pid!, [process.execPath, '-e', probe]);
    await run(cmd, args, { timeoutMs: 120_000 });
  });

  test('a second demo in the same folder is refused, naming --dir (the demo has no store.url)', async () => {
    const second = await runStatus(
      process.execPath,
      [DBTAPE_BIN, 'demo', '--ports-from', String(base + 10), '--dir', demoDir, '--no-sample'],
      { cwd: dir, env: envWithoutPostgres(), timeoutMs: 60_000 },
    );
    assert.equal(second.code, 1, `exit ${second.code} ${second.signal}\n${second.stderr}`);
    assert.match(
      second.stderr,
      /dbtape: another dbtape demo is already running with the folder .*; stop it, or give this one another folder with --dir/,
    );
    assert.ok(demo.running, 'the first demo still runs');
  });

  test('Ctrl-C stops it cleanly with exit status 0, after it saved its database for the next start', async () => {
    // The save starts after "ready"; wait for it so the next block can start from it.
    await waitFor(() => seedFile(demoDir), { timeoutMs: 60_000, what: 'the saved demo database' });
    const exit = await demo.stop('SIGINT', 15_000);
    assert.deepEqual(exit, { code: 0, signal: null }, `exit: ${describeExit(exit)}\n${demo.tail()}`);
  });

  test('a second run in the same folder starts from the saved database, with the same data', async () => {
    const again = new ServerProcess(
      process.execPath,
      [
        DBTAPE_BIN,
        'demo',
        '--ports-from',
        String(base),
        '--dir',
        demoDir,
        '--no-sample',
        '--log-level',
        'info',
      ],
      { cwd: dir, env: envWithoutPostgres(), exitSignal: 'SIGKILL' },
    );
    try {
      await again.waitForLine(/^ready in /, STARTUP_WAIT_MS, 'the second demo run to be ready');
      assert.ok(
        again.lines.some((l) => l.includes('"fromSeed":true')),
        `expected the saved database to be used:\n${again.tail()}`,
      );
      const pw = /postgresql:\/\/demo:([^@]+)@/.exec(again.lines.join('\n'))?.[1] ?? '';
      assert.notEqual(pw, password, 'a new password on every start');
      const psql = requirePgBinary('psql', 'postgresql-client');
      const { stdout } = await run(
        psql,
        [
          `postgresql://demo:${pw}@127.0.0.1:${base}/demo?sslmode=require`,
          '-XAtc',
          "select count(*) from orders where status = 'refunded'",
        ],
        { env: envWithoutPg(), timeoutMs: 60_000 },
      );
      assert.equal(stdout.trim(), String(REFUNDED_ORDERS), 'the sample session rolled its refund back');
      const exit = await again.stop('SIGTERM', 15_000);
      assert.deepEqual(exit, { code: 0, signal: null }, `exit: ${describeExit(exit)}\n${again.tail()}`);
    } finally {
      if (again.running) await again.stop('SIGKILL');
    }
  });
});

/** Orders the sample data marks refunded: every 6th status, by the generator's (i * 31) % 6 == 5. */
const REFUNDED_ORDERS = Array.from({ length: 600 }, (_, k) => ((k + 1) * 31) % 6).filter(
  (r) => r === 5,
).length;

function seedFile(folder: string): string | undefined {
  return readdirSync(folder).find((n) => n.startsWith('pglite-seed-') && n.endsWith('.tar.gz'));
}
