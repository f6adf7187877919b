/**
 * Fault: the upstream PostgreSQL restarted mid-session (issue 5). A throwaway cluster is shut down
 * the way `pg_ctl restart -m immediate` does it (SIGQUIT to the postmaster, which takes every
 * backend down at once; the harness restarts it on the same port) while a client waits in
 * `select pg_sleep(30)` through a spawned `dbtape serve`:
 *  - that client gets a clear `dbtape:` error (08006) instead of a hang or a bare reset;
 *  - the recording of its session ends with `upstream_lost`;
 *  - dbtape keeps serving: a session to another target, open all along, still works, and new
 *    clients log in and query both the restarted target and the other one.
 * Needs `npm run build` (npm test does it), the PostgreSQL server binaries, and PostgreSQL on
 * 127.0.0.1:5432 for the other target.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { type PgCluster, startPgCluster } from '../support/pg-cluster.js';
import {
  ALICE,
  machineTarget,
  type ServerAddress,
  uniqueName,
  waitForNoBackend,
  waitForSleep,
} from '../support/pg-fixtures.js';
import { endedSessions, type RecordingProxy, startRecordingProxy } from '../support/recording-fixtures.js';
import { errorText, withTimeout } from '../support/wait.js';

let cluster: PgCluster;
let proxy: RecordingProxy;
const opened: pg.Client[] = [];

before(async () => {
  cluster = await startPgCluster();
  proxy = await startRecordingProxy({
    targets: [
      {
        name: 'app',
        protocol: 'postgres',
        host: cluster.host,
        port: cluster.port,
        database: 'postgres',
        user: cluster.superuser,
        tls: 'disable',
      },
      machineTarget('other', 'test'),
    ],
  });
});

after(async () => {
  for (const c of opened) await c.end().catch(() => {});
  await proxy?.stop();
  await cluster?.stop();
});

/** alice through dbtape; errors after the connect (the restart) are the test's to see, not crashes. */
async function viaDbtape(database: string, application: string): Promise<pg.Client> {
  const client = new pg.Client({
    host: proxy.host,
    port: proxy.port,
    user: ALICE.name,
    password: ALICE.password,
    database,
    application_name: application,
  });
  client.on('error', () => {});
  opened.push(client);
  await client.connect();
  return client;
}

function clusterAddress(): ServerAddress {
  return { host: cluster.host, port: cluster.port, user: cluster.superuser, database: 'postgres' };
}

test('pg restart -m immediate during pg_sleep: clear error, upstream_lost, dbtape keeps serving', async () => {
  const sleeperApp = uniqueName('faults_sleeper');
  const bystanderApp = uniqueName('faults_bystander');
  const bystander = await viaDbtape('other', bystanderApp);
  assert.equal((await bystander.query('select 1 as one')).rows[0].one, 1);

  const sleeper = await viaDbtape('app', sleeperApp);
  let failedAt = Number.NaN;
  const sleeping = sleeper.query('select pg_sleep(30)').then(
    () => null,
    (err: Error & { code?: string }) => {
      failedAt = performance.now();
      return err;
    },
  );
  const monitor = new pg.Client({ ...clusterAddress(), application_name: 'dbtape-test-monitor' });
  monitor.on('error', () => {});
  await monitor.connect();
  try {
    await waitForSleep(monitor, sleeperApp);
  } finally {
    await monitor.end().catch(() => {});
  }

  const shutdownAt = performance.now();
  await cluster.restart('immediate');
  const err = await withTimeout(sleeping, 20_000, 'the sleeping query to fail after the restart');
  assert.ok(err, 'the query through the restarted server succeeded');
  assert.equal(err.code, '08006', `error: ${errorText(err)}`);
  assert.match(err.message, /^dbtape: lost the connection to the database server/);
  // pg_sleep(30) would only end by itself 30 s after it started: the error is the shutdown's.
  assert.ok(failedAt - shutdownAt < 20_000, 'the client waited for pg_sleep to run out');

  const [session] = await endedSessions(proxy.storeUrl, (s) => s.application === sleeperApp, 1);
  assert.equal(session!.endReason, 'upstream_lost');
  assert.equal(session!.statements, 1);

  // The other target's session was open all along and is untouched.
  assert.equal((await bystander.query('select 2 as two')).rows[0].two, 2);
  // New clients log in and query, on the restarted target and on the other one.
  const again = await viaDbtape('app', uniqueName('faults_after_restart'));
  assert.equal((await again.query('select 3 as three')).rows[0].three, 3);
  const other = await viaDbtape('other', uniqueName('faults_other_after'));
  assert.equal((await other.query('select 4 as four')).rows[0].four, 4);
  assert.ok(proxy.dbtape.process.running, 'dbtape is still running');

  for (const c of [bystander, again, other]) await c.end();
  const monitorAfter = new pg.Client(clusterAddress());
  await monitorAfter.connect();
  try {
    await waitForNoBackend(monitorAfter, 'faults_');
  } finally {
    await monitorAfter.end();
  }
  assert.equal(
    proxy.dbtape.logs.filter((l) => /unexpected error|uncaught/i.test(l)).length,
    0,
    'dbtape logged an unexpected error',
  );
});
