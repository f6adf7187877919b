/**
 * Fault: the session store's disk is full (issue 5), in both durability modes, through a spawned
 * `dbtape serve` in front of the machine's PostgreSQL.
 *
 * "Full" is the process's file-size limit (RLIMIT_FSIZE, what `ulimit -f` sets), lowered to one
 * byte on the running dbtape with `prlimit --pid` and lifted again the same way: no root, no
 * special filesystem, and the store's files cannot grow, exactly as on a full disk. Node ignores
 * SIGXFSZ, so a write past the limit fails with EFBIG (SQLite: SQLITE_FULL or SQLITE_IOERR_WRITE)
 * instead of killing the process. SQLite rewrites its WAL from the start after a checkpoint, the
 * strict-mode journal file has room written ahead, and writes inside a file's current size still
 * succeed, so the tests send large statements until the store runs past its files' sizes and fails.
 *
 *  - fast: every statement still runs; once the limit is lifted a `gap` event with the number of
 *    lost events is recorded, /metrics counts it, and a log line names the session.
 *  - strict: statements are refused with a clear `dbtape:` error (SQLSTATE 58030) and are not
 *    run; the session stays usable, and once the limit is lifted statements flow again within
 *    5 s, without a restart. Every statement the server ran is in the recording.
 * Needs `npm run build` (npm test does it), prlimit (util-linux) and PostgreSQL on 127.0.0.1:5432.
 */
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import type { Dbtape } from '../support/dbtape-process.js';
import { run } from '../support/exec.js';
import { uniqueName } from '../support/pg-fixtures.js';
import {
  endedSessions,
  type RecordingProxy,
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

/** Statements of ~64 KB: each one's record makes the store's files grow quickly. */
const PAD = 'x'.repeat(64 * 1024);
/** Enough to run far past any WAL or database size a fresh store has (~25 MB of records). */
const MAX_STATEMENTS = 400;
/** The figure for strict mode: statements flow again within 5 s of the store working. */
const RECOVERS_WITHIN_MS = 5000;

interface DiskProxy extends RecordingProxy {
  readonly metricsUrl: string;
  readonly pid: number;
}

const started: Dbtape[] = [];
const limited = new Set<number>();

after(async () => {
  for (const pid of limited) await setFileSizeLimit(pid, 'unlimited').catch(() => {});
  for (const d of started) await d.stop();
});

async function startDiskProxy(durability: 'fast' | 'strict'): Promise<DiskProxy> {
  const serve = await startRecordingProxy({ capture: 'summary', store: { durability }, dashboard: true });
  started.push(serve.dbtape);
  return { ...serve, metricsUrl: serve.metricsUrl!, pid: serve.dbtape.process.pid! };
}

/** Sets the soft RLIMIT_FSIZE of a running process (prlimit(1), util-linux). */
async function setFileSizeLimit(pid: number, soft: number | 'unlimited'): Promise<void> {
  await run('prlimit', ['--pid', String(pid), `--fsize=${soft}:`]).catch((err: Error) => {
    throw new Error(`prlimit failed (install util-linux for this test): ${err.message}`);
  });
  if (soft === 'unlimited') limited.delete(pid);
  else limited.add(pid);
}

const insert = (i: number) => `INSERT INTO disk_full_t VALUES (${i}, '${PAD}')`;

test('fast: with the disk full sessions go on; then a gap with the lost count, a metric and a log line', async (t) => {
  const proxy = await startDiskProxy('fast');
  const application = uniqueName('faults_disk_fast');
  const client = await connectAlice(proxy, application);
  await client.query('CREATE TEMP TABLE disk_full_t (id int, pad text)');
  await waitFor(async () => (await recordingMetrics(proxy.metricsUrl)).dbtape_recording_queue_depth === 0, {
    what: 'the recording queue to drain',
  });

  await setFileSizeLimit(proxy.pid, 1);
  let sent = 0;
  for (; sent < MAX_STATEMENTS; sent++) {
    // Every statement runs: in fast mode the store never holds a session up.
    await client.query(insert(sent));
    if (sent % 10 === 9 && (await recordingMetrics(proxy.metricsUrl)).dbtape_recording_lost_events_total! > 0)
      break;
  }
  const during = await recordingMetrics(proxy.metricsUrl);
  assert.ok(
    during.dbtape_recording_lost_events_total! > 0,
    `no event was lost after ${sent} statements of 64 KB with a 1-byte file size limit: ${JSON.stringify(during)}`,
  );
  assert.ok(during.dbtape_recording_errors_total! > 0, 'the failed writes are counted');
  const failedLog = await proxy.dbtape.waitForLog(/recording store write failed/);
  t.diagnostic(`store failed after ${sent + 1} statements of 64 KB: ${failedLog}`);

  await setFileSizeLimit(proxy.pid, 'unlimited');
  assert.equal((await client.query('SELECT count(*)::int AS n FROM disk_full_t')).rows[0].n, sent + 1);
  await waitFor(async () => (await recordingMetrics(proxy.metricsUrl)).dbtape_recording_gaps_total! >= 1, {
    timeoutMs: 20_000,
    what: 'dbtape_recording_gaps_total to count the gap',
  });
  const gapLog = await proxy.dbtape.waitForLog(/recorded a gap/);
  await client.end();

  const [session] = await endedSessions(proxy.storeUrl, (s) => s.application === application, 1);
  assert.ok(gapLog.includes(session!.id), `the gap log line names the session: ${gapLog}`);
  const events = await storedEvents(proxy.storeUrl, session!.id);
  const gaps = events.filter((e) => e.kind === 'gap');
  assert.ok(gaps.length >= 1, 'a gap event in the recording');
  const after = await recordingMetrics(proxy.metricsUrl);
  assert.equal(
    gaps.reduce((sum, g) => sum + (g.kind === 'gap' ? g.lost : 0), 0),
    after.dbtape_recording_lost_events_total,
    'the gaps hold every lost event',
  );
  assertDense(events);
  assert.equal(events.at(-1)?.kind, 'end');
  await assertVerifies(proxy.storeUrl);
});

test('strict: with the disk full statements are refused clearly, and flow again within 5 s once it is not', async (t) => {
  const proxy = await startDiskProxy('strict');
  const application = uniqueName('faults_disk_strict');
  const client = await connectAlice(proxy, application);
  await client.query('CREATE TEMP TABLE disk_full_t (id int, pad text)');

  await setFileSizeLimit(proxy.pid, 1);
  let refusal: (Error & { code?: string; severity?: string }) | null = null;
  const ran: number[] = [];
  for (let i = 0; i < MAX_STATEMENTS && !refusal; i++) {
    try {
      await client.query(insert(i));
      ran.push(i);
    } catch (err) {
      refusal = err as Error & { code?: string };
    }
  }
  assert.ok(
    refusal,
    `no statement was refused after ${MAX_STATEMENTS} of 64 KB with a 1-byte file size limit`,
  );
  t.diagnostic(`statement ${ran.length + 1} refused: ${refusal.message}`);
  assert.equal(refusal.code, '58030', refusal.message);
  assert.equal(refusal.severity, 'ERROR', 'an ERROR, not FATAL: the session stays');
  assert.match(
    refusal.message,
    // SQLite's error, or EFBIG/ENOSPC from the strict-mode journal file when it cannot grow.
    /^dbtape: the statement was not run because it could not be recorded: .*the session store cannot write \((disk full|I\/O error): (SQLITE_\w+|EFBIG|ENOSPC)\)$/,
  );
  // Still refused, promptly, while the disk stays full; the connection stays open.
  await assert.rejects(client.query('SELECT 1'), (err: Error & { code?: string }) => err.code === '58030');
  const during = await recordingMetrics(proxy.metricsUrl);
  assert.ok(during.dbtape_recording_refused_total! >= 2, `refusals are counted: ${JSON.stringify(during)}`);
  // Each statement that ran waited for a durable write of its own (one client, one at a time).
  assert.ok(
    during.dbtape_recording_durable_write_seconds_count! >= ran.length + 1,
    `durable writes are timed: ${JSON.stringify(during)}`,
  );

  await setFileSizeLimit(proxy.pid, 'unlimited');
  const liftedAt = performance.now();
  // Retry as an application would; each refused attempt is answered at once (see durability docs).
  await waitFor(
    async () => {
      await client.query('SELECT 1');
      return true;
    },
    { timeoutMs: 30_000, intervalMs: 50, what: 'a statement to run again after the disk was freed' },
  );
  const flowedAfterMs = performance.now() - liftedAt;
  t.diagnostic(`statements flowed again ${Math.round(flowedAfterMs)} ms after the disk was freed`);
  assert.ok(
    flowedAfterMs <= RECOVERS_WITHIN_MS,
    `statements flowed again only ${Math.round(flowedAfterMs)} ms after the disk was freed (limit ${RECOVERS_WITHIN_MS} ms)`,
  );

  // The same session: refused statements did not run, the others did, and each is recorded.
  const events = await assertRanAndRecorded(proxy, client, application, 'disk_full_t', ran);
  // The refused statements are recorded too, once the disk was freed, each followed by its
  // refusal: the recording tells what was tried, and nothing is lost.
  const lost = events.reduce((sum, e) => sum + (e.kind === 'gap' ? e.lost : 0), 0);
  assert.equal(lost, 0, 'no event was lost while the disk was full');
  const refusals = events.flatMap((e, i) =>
    e.kind === 'error' && /could not be recorded/.test(e.message) ? [i] : [],
  );
  assert.ok(refusals.length >= 2, `the refusals are recorded: ${refusals.length}`);
  for (const i of refusals) {
    const before = events[i - 1]!;
    assert.ok(before.kind === 'query', `refusal at seq ${events[i]!.seq} follows its statement`);
  }
  const refusedInsert = events[refusals[0]! - 1]!;
  assert.equal(refusedInsert.kind === 'query' && refusedInsert.sql, insert(ran.length));
  t.diagnostic(`recording: ${refusals.length} refused statement(s) recorded with their refusals`);
  assertDense(events);
  await assertVerifies(proxy.storeUrl);
});

test('strict: a statement refused inside a transaction block fails the transaction upstream too, so COMMIT commits nothing', async (t) => {
  const proxy = await startDiskProxy('strict');
  const application = uniqueName('faults_disk_tx');
  const client = await connectAlice(proxy, application);
  await client.query('CREATE TEMP TABLE disk_full_t (id int, pad text)');
  await client.query('BEGIN');
  await client.query(insert(-1));

  await setFileSizeLimit(proxy.pid, 1);
  let refusal: (Error & { code?: string }) | null = null;
  let ran = 0;
  for (let i = 0; i < MAX_STATEMENTS && !refusal; i++) {
    try {
      await client.query(insert(i));
      ran++;
    } catch (err) {
      refusal = err as Error & { code?: string };
    }
  }
  assert.ok(refusal, `no statement was refused after ${MAX_STATEMENTS} of 64 KB`);
  assert.equal(refusal.code, '58030', refusal.message);
  t.diagnostic(`refused after ${ran + 1} inserts in the transaction: ${refusal.message}`);
  await setFileSizeLimit(proxy.pid, 'unlimited');

  // As after any error in a transaction block: the server ignores what follows until its end ...
  const ignored = await waitFor(
    async () => {
      try {
        await client.query('SELECT 1');
        return 'ran';
      } catch (err) {
        const code = (err as { code?: string }).code;
        return code === '58030' ? null : code; // still refused by dbtape: the store is catching up
      }
    },
    { timeoutMs: 30_000, intervalMs: 50, what: 'the server to answer once the disk was freed' },
  );
  assert.equal(ignored, '25P02', 'in failed transaction: commands ignored until end of transaction block');
  // ... and COMMIT rolls it back: nothing of it was committed.
  const commit = await client.query('COMMIT');
  assert.equal(commit.command, 'ROLLBACK');
  // The inserts before the refused one were rolled back with it.
  const events = await assertRanAndRecorded(proxy, client, application, 'disk_full_t', []);
  const tx = events.flatMap((e) => (e.kind === 'tx' ? [e.state] : []));
  assert.deepEqual(
    tx.slice(-2),
    ['failed', 'rollback'],
    'the recording says the transaction failed, then ended',
  );
  assertDense(events);
  await assertVerifies(proxy.storeUrl);
});
