// sysbench oltp_read_only (prepared and text protocol) and oltp_read_write, short runs through
// dbtape against the machine's MariaDB (tables prepared directly first); every statement,
// parameter and transaction recorded.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type mysql from 'mysql2/promise';
import type { SessionEvent } from '../../src/model/session.js';
import { requireBinary } from '../support/binaries.js';
import { run } from '../support/exec.js';
import {
  ALICE,
  connectDirect,
  type MysqlProxy,
  machineTarget,
  Recorded,
  requireMachineMariaDb,
  startMysqlProxy,
  uniqueName,
} from '../support/mysql-fixtures.js';
import { waitFor, within } from '../support/wait.js';

const SYSBENCH = requireBinary('sysbench', 'sysbench');
const DB = uniqueName('sbtest');
const TABLES = ['--tables=2', '--table-size=2000'];

let proxy: MysqlProxy;
let direct: mysql.Connection;
let recorded: Recorded;

before(async () => {
  await requireMachineMariaDb();
  direct = await connectDirect();
  await direct.query(`CREATE DATABASE ${DB}`);
  await run(SYSBENCH, [
    'oltp_read_write',
    '--db-driver=mysql',
    '--mysql-host=127.0.0.1',
    '--mysql-port=3306',
    '--mysql-user=root',
    `--mysql-db=${DB}`,
    ...TABLES,
    'prepare',
  ]);
  proxy = await startMysqlProxy({ targets: [machineTarget('bench', DB)], capture: 'summary' });
  recorded = new Recorded(proxy.storeUrl);
});

after(async () => {
  // One CI run hung here past the file's 300 s after every test had passed: each step is bounded
  // so that, if it happens again, the failure names the step.
  await within(30_000, 'closing the read-only store', recorded?.close() ?? Promise.resolve());
  await within(30_000, 'stopping dbtape', proxy?.close() ?? Promise.resolve());
  // A metadata lock still held by a sysbench session would block DROP DATABASE indefinitely.
  await direct?.query('SET SESSION lock_wait_timeout = 20');
  await within(
    30_000,
    `DROP DATABASE ${DB}`,
    direct?.query(`DROP DATABASE IF EXISTS ${DB}`) ?? Promise.resolve(),
  );
  await direct?.end();
});

interface Outcome {
  readonly transactions: number;
  readonly ignoredErrors: number;
  readonly reconnects: number;
}

/** A short sysbench run through dbtape as alice; fails quoting sysbench's output. */
async function sysbench(workload: string, extra: readonly string[] = []): Promise<Outcome> {
  const { stdout } = await run(
    SYSBENCH,
    [
      workload,
      '--db-driver=mysql',
      `--mysql-host=${proxy.host}`,
      `--mysql-port=${proxy.port}`,
      `--mysql-user=${ALICE.name}`,
      `--mysql-password=${ALICE.password}`,
      '--mysql-db=bench',
      ...TABLES,
      '--threads=2',
      '--time=3',
      ...extra,
      'run',
    ],
    { timeoutMs: 60_000 },
  );
  const num = (label: string): number => {
    const m = new RegExp(`${label}:\\s+(\\d+)`).exec(stdout);
    assert.ok(m, `sysbench printed no "${label}":\n${stdout}`);
    return Number(m[1]);
  };
  return {
    transactions: num('transactions'),
    ignoredErrors: num('ignored errors'),
    reconnects: num('reconnects'),
  };
}

/** Every event of the sessions started since `since` (µs), once they have all ended. */
async function eventsSince(since: number, sessions: number): Promise<SessionEvent[][]> {
  return waitFor(
    async () => {
      const ours = (await recorded.sessions()).filter((s) => s.startedAtUs >= since);
      if (ours.length < sessions) return null;
      const all = await Promise.all(ours.map((s) => recorded.events(s.id)));
      return all.every((ev) => ev.some((e) => e.kind === 'end')) ? all : null;
    },
    { what: `${sessions} recorded sysbench sessions to end` },
  );
}

function queries(events: readonly SessionEvent[][]): Extract<SessionEvent, { kind: 'query' }>[] {
  return events.flat().filter((e): e is Extract<SessionEvent, { kind: 'query' }> => e.kind === 'query');
}

test('oltp_read_only with prepared statements: no errors, statements recorded with parameters', async () => {
  const since = Date.now() * 1000;
  const r = await sysbench('oltp_read_only');
  assert.ok(r.transactions > 0);
  assert.equal(r.ignoredErrors, 0);
  assert.equal(r.reconnects, 0);
  const events = await eventsSince(since, 2);
  const point = queries(events).find((q) => /^SELECT c FROM sbtest\d WHERE id=\?$/.test(q.sql));
  assert.ok(point, 'the point select is recorded');
  assert.equal(point.via, 'prepared');
  assert.match(point.params?.[0] ?? '', /^\d+$/);
  const results = events.flat().filter((e) => e.kind === 'result');
  assert.ok(results.length >= r.transactions * 10, 'each statement has its outcome');
  assert.ok(!events.flat().some((e) => e.kind === 'error'), 'no errors recorded');
});

test('oltp_read_only over the text protocol (--db-ps-mode=disable)', async () => {
  const since = Date.now() * 1000;
  const r = await sysbench('oltp_read_only', ['--db-ps-mode=disable']);
  assert.ok(r.transactions > 0);
  assert.equal(r.ignoredErrors, 0);
  const events = await eventsSince(since, 2);
  const point = queries(events).find((q) => /^SELECT c FROM sbtest\d WHERE id=\d+$/.test(q.sql));
  assert.ok(point, 'the point select is recorded with its literal');
  assert.equal(point.via, 'simple');
});

test('oltp_read_write: writes and transactions recorded', async () => {
  const since = Date.now() * 1000;
  const r = await sysbench('oltp_read_write');
  assert.ok(r.transactions > 0);
  assert.equal(r.reconnects, 0);
  const events = (await eventsSince(since, 2)).flat();
  const updates = events.filter((e) => e.kind === 'result' && e.tag === 'UPDATE');
  assert.ok(updates.length > 0, 'UPDATE results are recorded');
  assert.ok(updates.every((e) => e.kind === 'result' && e.rows !== null));
  assert.ok(events.some((e) => e.kind === 'tx' && e.state === 'begin'));
  assert.ok(events.some((e) => e.kind === 'tx' && e.state === 'commit'));
  const [rows] = await direct.query<mysql.RowDataPacket[]>(`SELECT COUNT(*) AS n FROM ${DB}.sbtest1`);
  assert.equal(rows[0].n, 2000, 'the table is as large as before (deletes and inserts pair up)');
});
