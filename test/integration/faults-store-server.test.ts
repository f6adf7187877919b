/**
 * Fault: a PostgreSQL session store's server goes away mid-session and comes back (issue 5's
 * store faults, for `store.url: postgres://…`), through a spawned `dbtape serve` whose store is a
 * throwaway cluster that the test crashes (`immediate` shutdown) and starts again seconds later.
 *
 *  - fast: every statement still runs while the store is down; once it is back a `gap` event with
 *    the number of lost events is recorded, the stored sequence stays dense and verifies, and
 *    dbtape goes on recording new sessions without a restart.
 *  - restored: the store comes back from a copy taken earlier in the session (a restore from a
 *    backup, or a failover to a standby that lagged), so it has lost events it had acknowledged.
 *    Recording goes on from what it holds, the lost events reported by a gap.
 *  - strict: while the store is down statements are refused with a clear `dbtape:` error (SQLSTATE
 *    58030) and are not run; once it is back they flow again within 5 s (reconnecting included),
 *    and every statement the server ran is in the recording.
 * Needs `npm run build` (npm test does it), the PostgreSQL server binaries, and PostgreSQL on
 * 127.0.0.1:5432 as the proxied target.
 */
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { rm } from 'node:fs/promises';
import { after, test } from 'node:test';
import { promisify } from 'node:util';
import { type PgCluster, startPgCluster } from '../support/pg-cluster.js';
import { uniqueName } from '../support/pg-fixtures.js';
import {
  endedSessions,
  type RecordingProxy,
  readStore,
  startRecordingProxy,
  storedEvents,
} from '../support/recording-fixtures.js';
import {
  assertDense,
  assertRanAndRecorded,
  assertVerifies,
  connectAlice,
  recordingMetrics,
} from '../support/store-faults.js';
import { waitFor } from '../support/wait.js';

const execFileP = promisify(execFile);

/** How long the store's server stays down: several of the recorder's 100 ms commit windows. */
const DOWN_MS = 3000;
/** The figure for strict mode: statements flow again within 5 s of the store working. */
const RECOVERS_WITHIN_MS = 5000;

interface StoreProxy extends RecordingProxy {
  readonly metricsUrl: string;
  readonly store: PgCluster;
}

const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
});

async function startStoreProxy(durability: 'fast' | 'strict'): Promise<StoreProxy> {
  const store = await startPgCluster({ databases: ['dbtape_store'] });
  cleanups.push(() => store.stop());
  const storeUrl = `postgres://${store.superuser}@127.0.0.1:${store.port}/dbtape_store`;
  const serve = await startRecordingProxy({
    capture: 'summary',
    store: { url: storeUrl, durability },
    dashboard: true,
  });
  cleanups.push(async () => void (await serve.dbtape.stop()));
  return { ...serve, metricsUrl: serve.metricsUrl!, storeUrl, store };
}

test('fast: sessions go on while the store server is down; then a gap, and recording goes on', async (t) => {
  const proxy = await startStoreProxy('fast');
  const application = uniqueName('faults_store_fast');
  const client = await connectAlice(proxy, application);
  await client.query('CREATE TEMP TABLE store_down_t (id int)');
  await waitFor(async () => (await recordingMetrics(proxy.metricsUrl)).dbtape_recording_queue_depth === 0, {
    what: 'the recording queue to drain',
  });

  // Statements run throughout the crash, the downtime and the restart.
  let sent = 0;
  let running = true;
  const load = (async () => {
    while (running) {
      await client.query(`INSERT INTO store_down_t VALUES (${sent})`);
      sent++;
      await new Promise((r) => setTimeout(r, 20));
    }
  })();
  await new Promise((r) => setTimeout(r, 300));
  await proxy.store.restart('immediate', DOWN_MS);
  await new Promise((r) => setTimeout(r, 500));
  running = false;
  await load;
  assert.equal((await client.query('SELECT count(*)::int AS n FROM store_down_t')).rows[0].n, sent);

  await waitFor(async () => (await recordingMetrics(proxy.metricsUrl)).dbtape_recording_gaps_total! >= 1, {
    timeoutMs: 30_000,
    what: 'dbtape_recording_gaps_total to count the gap once the store is back',
  });
  const during = await recordingMetrics(proxy.metricsUrl);
  t.diagnostic(`${sent} statements; ${during.dbtape_recording_lost_events_total} events lost`);
  assert.ok(during.dbtape_recording_lost_events_total! > 0, 'events were lost while the store was down');
  await client.end();

  const [session] = await endedSessions(proxy.storeUrl, (s) => s.application === application, 1);
  const events = await storedEvents(proxy.storeUrl, session!.id);
  const lost = events.reduce((sum, e) => sum + (e.kind === 'gap' ? e.lost : 0), 0);
  assert.equal(
    lost,
    (await recordingMetrics(proxy.metricsUrl)).dbtape_recording_lost_events_total,
    'the gaps hold every lost event',
  );
  assertDense(events);
  assert.equal(events.at(-1)?.kind, 'end');

  // dbtape itself went on: a new session is recorded whole.
  const next = uniqueName('faults_store_after');
  const again = await connectAlice(proxy, next);
  await again.query('SELECT 42 AS after_the_store_came_back');
  await again.end();
  const [later] = await endedSessions(proxy.storeUrl, (s) => s.application === next, 1);
  const laterEvents = await storedEvents(proxy.storeUrl, later!.id);
  assert.ok(laterEvents.some((e) => e.kind === 'query' && /after_the_store_came_back/.test(e.sql)));
  assert.ok(!laterEvents.some((e) => e.kind === 'gap'));
  assert.ok(proxy.dbtape.process.running, 'dbtape is still running');
  await assertVerifies(proxy.storeUrl);
});

test('strict: statements are refused while the store server is down, and flow again within 5 s of its return', async (t) => {
  const proxy = await startStoreProxy('strict');
  const application = uniqueName('faults_store_strict');
  const client = await connectAlice(proxy, application);
  await client.query('CREATE TEMP TABLE store_down_t (id int)');

  const ran: number[] = [];
  let refusal: (Error & { code?: string; severity?: string }) | null = null;
  let backAt = 0;
  let flowedAt = 0;
  let i = 0;
  const restarted = proxy.store.restart('immediate', DOWN_MS).then(() => {
    backAt = performance.now();
  });
  // Statements go on, one at a time as an application's retries would, until one runs again after
  // the store is back.
  for (; flowedAt === 0; i++) {
    if (i > 5000) assert.fail('statements did not flow again');
    try {
      await client.query(`INSERT INTO store_down_t VALUES (${i})`);
      ran.push(i);
      if (refusal && backAt > 0) flowedAt = performance.now();
    } catch (err) {
      refusal ??= err as Error & { code?: string; severity?: string };
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  await restarted;
  assert.ok(refusal, 'statements were refused while the store was down');
  t.diagnostic(`refused: ${refusal.message}`);
  assert.equal(refusal.code, '58030', refusal.message);
  assert.equal(refusal.severity, 'ERROR', 'an ERROR, not FATAL: the session stays');
  assert.match(refusal.message, /^dbtape: the statement was not run because it could not be recorded/);
  const flowedAfterMs = flowedAt - backAt;
  t.diagnostic(`statements flowed again ${Math.round(flowedAfterMs)} ms after the store server was back`);
  assert.ok(
    flowedAfterMs <= RECOVERS_WITHIN_MS,
    `statements flowed again only ${Math.round(flowedAfterMs)} ms after the store was back (limit ${RECOVERS_WITHIN_MS} ms)`,
  );

  const events = await assertRanAndRecorded(proxy, client, application, 'store_down_t', ran);
  assertDense(events);
  await assertVerifies(proxy.storeUrl);
});

test('restored: a store that comes back without events it had acknowledged is written on from what it holds, with a gap, and sessions that ended meanwhile are ended again', async (t) => {
  const proxy = await startStoreProxy('fast');
  const application = uniqueName('faults_store_restored');
  const client = await connectAlice(proxy, application);
  const drained = async (what: string) =>
    waitFor(async () => (await recordingMetrics(proxy.metricsUrl)).dbtape_recording_queue_depth === 0, {
      timeoutMs: 30_000,
      what,
    });
  const run = async (label: string, n: number) => {
    for (let i = 0; i < n; i++) await client.query(`SELECT '${label}' AS phase, ${i} AS i`);
  };
  await run('before_snapshot', 5);
  // In the store, not just out of the queue: a batch in flight when the server stops for the copy
  // is written after it, and the restore would take it away too.
  await waitFor(
    async () =>
      (await storedEvents(proxy.storeUrl, await sessionIdOf(proxy.storeUrl, application))).filter(
        (e) => e.kind === 'result',
      ).length >= 5,
    { timeoutMs: 30_000, what: 'the statements before the snapshot and their results to be stored' },
  );
  await drained('the events before the snapshot to be stored');
  const snapshot = `${proxy.store.dir}/snapshot`;
  await proxy.store.restart('fast', 0, async () => {
    await execFileP('cp', ['-a', proxy.store.dataDir, snapshot]);
  });
  // Stored after the snapshot: the restore takes them away again, and the whole of a session that
  // started after it.
  await run('after_snapshot', 5);
  const lateApplication = uniqueName('faults_store_restored_late');
  const late = await connectAlice(proxy, lateApplication);
  await late.query(`SELECT 'late_before_restore' AS phase`);
  // Starts and ends between the snapshot and the restore: nothing more is written for it after
  // the restore, yet the store must not keep it open.
  const briefApplication = uniqueName('faults_store_restored_brief');
  const brief = await connectAlice(proxy, briefApplication);
  await brief.query(`SELECT 'brief' AS phase`);
  await brief.end();
  await endedSessions(proxy.storeUrl, (s) => s.application === briefApplication, 1, 30_000);
  await waitFor(
    async () =>
      (await storedEvents(proxy.storeUrl, await sessionIdOf(proxy.storeUrl, application))).some(
        (e) => e.kind === 'query' && /after_snapshot/.test(e.sql),
      ) && (await sessionIdOf(proxy.storeUrl, lateApplication)),
    { timeoutMs: 30_000, what: 'the statements after the snapshot to be stored' },
  );
  await drained('the queue to drain before the restore');
  await proxy.store.restart('fast', 0, async () => {
    await rm(proxy.store.dataDir, { recursive: true, force: true });
    await execFileP('cp', ['-a', snapshot, proxy.store.dataDir]);
  });
  await run('after_restore', 5);
  await late.query(`SELECT 'late_after_restore' AS phase`);
  await client.end();
  await late.end();

  const [session] = await endedSessions(proxy.storeUrl, (s) => s.application === application, 1, 30_000);
  const events = await storedEvents(proxy.storeUrl, session!.id);
  const phases = events.flatMap((e) =>
    e.kind === 'query' ? [/'(\w+)' AS phase/.exec(e.sql)?.[1] ?? ''] : [],
  );
  t.diagnostic(
    `stored: ${events.length} events, gaps ${JSON.stringify(events.filter((e) => e.kind === 'gap'))}`,
  );
  assert.equal(phases.filter((p) => p === 'before_snapshot').length, 5);
  assert.equal(phases.filter((p) => p === 'after_snapshot').length, 0, 'the restore took these away');
  assert.equal(phases.filter((p) => p === 'after_restore').length, 5, 'recording went on after the restore');
  const lost = events.reduce((sum, e) => sum + (e.kind === 'gap' ? e.lost : 0), 0);
  assert.ok(
    lost >= 10,
    `a gap holds at least the 5 statements and 5 results the restore took away (${lost})`,
  );
  assertDense(events);
  assert.equal(events.at(-1)?.kind, 'end');
  assert.ok(await proxy.dbtape.waitForLog(/lost events it had acknowledged/), 'the log says what happened');

  // The session the store lost whole is started again from the metadata dbtape kept, then the gap.
  const [lateSession] = await endedSessions(proxy.storeUrl, (s) => s.application === lateApplication, 1);
  const lateEvents = await storedEvents(proxy.storeUrl, lateSession!.id);
  assert.deepEqual(
    lateEvents.map((e) => e.kind),
    ['start', 'gap', 'query', 'result', 'end'],
    JSON.stringify(lateEvents),
  );
  assert.match(lateEvents[2]!.kind === 'query' ? lateEvents[2]!.sql : '', /late_after_restore/);
  assert.equal(lateEvents[1]!.kind === 'gap' && lateEvents[1]!.lost, 2, 'the lost query and its result');
  assert.equal(lateSession!.user, 'alice');

  // The session that ended in the part the restore took away is ended again, as it ended.
  const [briefSession] = await endedSessions(proxy.storeUrl, (s) => s.application === briefApplication, 1);
  const briefEvents = await storedEvents(proxy.storeUrl, briefSession!.id);
  assert.deepEqual(
    briefEvents.map((e) => (e.kind === 'gap' ? `gap ${e.lost}` : e.kind)),
    ['start', 'gap 2', 'end'],
    JSON.stringify(briefEvents),
  );
  assert.equal(briefSession!.endReason, 'client_closed');

  await assertVerifies(proxy.storeUrl);
});

async function sessionIdOf(storeUrl: string, application: string): Promise<string> {
  const found = await readStore(storeUrl, (store) => store.listSessions({ limit: 1000 }));
  const s = found.find((x) => x.application === application);
  if (!s) throw new Error(`no session of ${application} yet`);
  return s.id;
}
