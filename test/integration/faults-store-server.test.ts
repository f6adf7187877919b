/**
 * Fault: a PostgreSQL session store's server goes away mid-session and comes back (issue 5's
 * store faults, for `store.url: postgres://…`), through a spawned `dbtape serve` whose store is a
 * throwaway cluster that the test crashes (`immediate` shutdown) and starts again seconds later.
 *
 *  - fast: every statement still runs while the store is down; once it is back a `gap` event with
 *    the number of lost events is recorded, the stored sequence stays dense and verifies, and
 *    dbtape goes on recording new sessions without a restart.
 *  - strict: while the store is down statements are refused with a clear `dbtape:` error (SQLSTATE
 *    58030) and are not run; once it is back they flow again within 5 s (reconnecting included),
 *    and every statement the server ran is in the recording.
 * Needs `npm run build` (npm test does it), the PostgreSQL server binaries, and PostgreSQL on
 * 127.0.0.1:5432 as the proxied target.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { type PgCluster, startPgCluster } from '../support/pg-cluster.js';
import { uniqueName } from '../support/pg-fixtures.js';
import { cli, endedSessions, storedEvents } from '../support/recording-fixtures.js';
import {
  connectAlice,
  type RecordingServe,
  recordingMetrics,
  startRecordingServe,
} from '../support/store-faults.js';
import { waitFor } from '../support/wait.js';

/** How long the store's server stays down: several of the recorder's 100 ms commit windows. */
const DOWN_MS = 3000;
/** The figure for strict mode: statements flow again within 5 s of the store working. */
const RECOVERS_WITHIN_MS = 5000;

interface StoreProxy extends RecordingServe {
  readonly storeUrl: string;
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
  const serve = await startRecordingServe({ url: storeUrl, durability });
  cleanups.push(async () => void (await serve.dbtape.stop()));
  return { ...serve, storeUrl, store };
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
  assert.deepEqual(
    events.map((e) => e.seq),
    events.map((_, i) => i + 1),
    'the stored sequence is dense',
  );
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
  const verify = await cli(proxy.storeUrl, ['verify', '--all']);
  assert.equal(verify.code, 0, `verify --all: ${verify.stdout}${verify.stderr}`);
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

  const rows = (await client.query('SELECT id FROM store_down_t ORDER BY id')).rows.map(
    (r) => r.id as number,
  );
  assert.deepEqual(rows, ran, 'exactly the statements that were not refused ran');
  await client.end();
  assert.ok(proxy.dbtape.process.running, 'dbtape is still running: no restart');

  const [session] = await endedSessions(proxy.storeUrl, (s) => s.application === application, 1);
  const events = await storedEvents(proxy.storeUrl, session!.id);
  const recorded = new Set(
    events.flatMap((e) => {
      const m = e.kind === 'query' ? /^INSERT INTO store_down_t VALUES \((\d+)\)/.exec(e.sql) : null;
      return m ? [Number(m[1])] : [];
    }),
  );
  assert.deepEqual(
    ran.filter((n) => !recorded.has(n)),
    [],
    'statements the server ran but the recording lacks',
  );
  assert.deepEqual(
    events.map((e) => e.seq),
    events.map((_, k) => k + 1),
    'the stored sequence is dense',
  );
  const verify = await cli(proxy.storeUrl, ['verify', '--all']);
  assert.equal(verify.code, 0, `verify --all: ${verify.stdout}${verify.stderr}`);
});
