import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import type { Worker } from 'node:worker_threads';
import { verifyStore } from '../../src/integrity/verify.js';
import type { SessionEvent } from '../../src/model/session.js';
import { encodeBatch, encodedEvents, encodeV1 } from '../../src/store/encoded-batch.js';
import { encodeEvent } from '../../src/store/event-codec.js';
import { openStore } from '../../src/store/open-store.js';
import { type ThreadEvent, WorkerSessionStore } from '../../src/store/worker-store.js';
import { sessionMeta } from '../support/session-meta.js';
import { POSTGRES, pgAdminOn, STORE_KINDS } from '../support/store-kinds.js';
import { waitFor } from '../support/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'dbtape-store-worker-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const T0 = 1_700_000_000_000_000;

/** The store's current thread, to stop it as a crash would. */
function threadOf(store: WorkerSessionStore): Worker {
  return (store as unknown as { worker: Worker }).worker;
}

function ev(seq: number, body: Record<string, unknown>): SessionEvent {
  return { seq, atUs: T0 + seq * 1000, offsetUs: seq * 1000, ...body } as unknown as SessionEvent;
}

const hostile = 'SELECT \'\u0000\u001b[2J\n\r\t\u2028\ud800\udcff😀\' -- "quoted" \\ backslash';

describe('encoded batches', () => {
  test('the v1 text is exactly what event-codec writes', () => {
    const events = [
      ev(1, { kind: 'start', meta: sessionMeta('a') }),
      ev(2, {
        kind: 'query',
        sql: hostile,
        params: ['\n', null, '\udc80'],
        via: 'extended',
        statement: 's1',
      }),
      ev(3, {
        kind: 'result',
        tag: 'SELECT 1',
        rows: 1,
        durationUs: 5,
        columns: [{ name: 'a', type: 'int4' }],
      }),
      ev(4, { kind: 'error', code: '42P01', message: 'no\nsuch table', durationUs: 7 }),
      ev(5, { kind: 'denied', rule: 'read-only', sql: 'DROP TABLE t', message: 'no' }),
      ev(6, { kind: 'end', reason: 'client_closed' }),
    ];
    for (const e of events) assert.equal(encodeV1(e), encodeEvent(e));
    const batch = encodeBatch({
      sessions: [],
      events: events.map((event) => ({ sessionId: 'a', event })),
      ends: [],
    });
    const back = [...encodedEvents(batch)];
    assert.deepEqual(
      back.map((e) => [e.sessionId, e.seq, e.atUs, e.offsetUs, e.kind, e.json, e.sql, e.params]),
      events.map((e) => [
        'a',
        e.seq,
        e.atUs,
        e.offsetUs,
        e.kind,
        encodeEvent(e),
        e.kind === 'query' || e.kind === 'denied' ? e.sql : null,
        e.kind === 'query' ? '\n \udc80' : null,
      ]),
    );
  });
});

for (const kind of STORE_KINDS) {
  describe(`WorkerSessionStore (${kind.name})`, () => {
    test('writes through the worker thread: events read back as written, search and outcomes work, the chain verifies', async () => {
      const url = await kind.url('w.db');
      const store = await WorkerSessionStore.open(url, 'normal', {});
      const a = sessionMeta('wa');
      const first = [
        ev(1, { kind: 'start', meta: a }),
        ev(2, { kind: 'query', sql: hostile, params: ['zqxtoken', null], via: 'extended' }),
        ev(3, { kind: 'error', code: '42P01', message: 'boom', durationUs: 3 }),
        ev(4, { kind: 'query', sql: 'SELECT late_outcome', via: 'simple' }),
      ];
      await store.writeBatch({
        sessions: [a],
        events: first.map((event) => ({ sessionId: a.id, event })),
        ends: [],
      });
      // The outcome of seq 4 arrives in the next batch, so it updates a stored row.
      const second = [
        ev(5, { kind: 'error', code: '22012', message: 'division by zero', durationUs: 4 }),
        ev(6, { kind: 'query', sql: 'SELECT ok_in_batch', via: 'simple' }),
        ev(7, { kind: 'result', tag: 'SELECT 1', rows: 1, durationUs: 2 }),
        ev(8, { kind: 'denied', rule: 'read-only', sql: 'DROP TABLE deniedword', message: 'refused' }),
        ev(9, { kind: 'end', reason: 'client_closed' }),
      ];
      await store.writeBatch({
        sessions: [],
        events: second.map((event) => ({ sessionId: a.id, event })),
        ends: [{ sessionId: a.id, endedAtUs: T0 + 9000, reason: 'client_closed' }],
      });

      assert.deepEqual(await store.getEvents(a.id), [...first, ...second]);
      const summary = await store.getSession(a.id);
      assert.equal(summary?.statements, 3);
      assert.equal(summary?.errors, 2);
      assert.equal(summary?.events, 9);
      assert.equal(summary?.status, 'ended');

      assert.deepEqual(
        (await store.search('zqxtoken')).map((h) => h.seq),
        [2],
      );
      assert.deepEqual(
        (await store.search('deniedword')).map((h) => [h.seq, h.kind]),
        [[8, 'denied']],
      );
      const failed = await store.search('select', { errors: true });
      assert.deepEqual(failed.map((h) => h.seq).sort(), [2, 4]);
      const ok = await store.search('ok_in_batch');
      assert.equal(ok[0]?.failed, false);
      await store.close();

      const reader = openStore(url);
      assert.deepEqual((await verifyStore(reader.integrity!())).findings, []);
      await reader.close();
    });

    test('a store thread that stops is replaced: calls made meanwhile wait, writes go on, outcomes link across it, the chain verifies', async () => {
      const url = await kind.url('restart.db');
      const events: ThreadEvent[] = [];
      const store = await WorkerSessionStore.open(url, 'normal', {}, { onThread: (e) => events.push(e) });
      const m = sessionMeta('restart');
      await store.writeBatch({
        sessions: [m],
        events: [
          ev(1, { kind: 'start', meta: m }),
          ev(2, { kind: 'query', sql: 'SELECT 1', via: 'simple' }),
        ].map((event) => ({ sessionId: m.id, event })),
        ends: [],
      });
      await threadOf(store).terminate();
      // Sent while the new thread opens the store: it waits for it.
      await store.writeBatch({
        sessions: [],
        events: [ev(3, { kind: 'error', code: '42P01', message: 'no such table' })].map((event) => ({
          sessionId: m.id,
          event,
        })),
        ends: [],
      });
      assert.deepEqual(
        (await store.getEvents(m.id)).map((e) => e.seq),
        [1, 2, 3],
      );
      // The new thread's store takes up the statement the old one left waiting for its outcome.
      assert.deepEqual(
        (await store.search('SELECT', { sessionId: m.id, errors: true })).map((h) => h.seq),
        [2],
      );
      assert.deepEqual(
        events.map((e) => e.kind),
        ['lost', ...events.slice(1, -1).map(() => 'reopen_failed'), 'restarted'],
      );
      await store.close();
      const reader = openStore(url);
      assert.deepEqual((await verifyStore(reader.integrity!())).findings, []);
      await reader.close();
    });

    test('a write in flight when the thread stops resolves if it committed and rejects if not, never both', async (t) => {
      const url = await kind.url('inflight.db');
      const store = await WorkerSessionStore.open(url, 'normal', {});
      const m = sessionMeta('inflight');
      await store.writeBatch({
        sessions: [m],
        events: [{ sessionId: m.id, event: ev(1, { kind: 'start', meta: m }) }],
        ends: [],
      });
      let seq = 2;
      const outcomes = { committed: 0, refused: 0 };
      for (let round = 0; round < 12; round++) {
        // A batch of some size, so that the stop lands before, during or after its commit.
        const batch = Array.from({ length: 50 }, (_, i) => ({
          sessionId: m.id,
          event: ev(seq + i, { kind: 'query', sql: `SELECT ${seq + i}`, via: 'simple' }),
        }));
        const write = store.writeBatch({ sessions: [], events: batch, ends: [] }).then(
          () => true,
          (err: Error & { code?: string }) => {
            assert.equal(err.code, 'DBTAPE_STORE_THREAD_LOST', err.message);
            return false;
          },
        );
        await new Promise((r) => setTimeout(r, round % 4));
        await threadOf(store).terminate();
        const written = await write;
        const stored = (await store.getEvents(m.id, { afterSeq: seq - 1, limit: 100 })).map((e) => e.seq);
        if (written) {
          assert.deepEqual(
            stored,
            batch.map((b) => b.event.seq),
            `round ${round}: reported written`,
          );
          seq += batch.length;
          outcomes.committed++;
        } else {
          assert.deepEqual(stored, [], `round ${round}: reported failed, so nothing of it may be stored`);
          outcomes.refused++;
        }
      }
      // The numbers of a refused write are written again by the next one, as the recorder does.
      t.diagnostic(`writes cut by the stop: ${JSON.stringify(outcomes)}`);
      await store.close();
      const reader = openStore(url);
      assert.deepEqual((await verifyStore(reader.integrity!())).findings, []);
      await reader.close();
    });

    test('a store that cannot open fails the open with its own code, across the thread', async () => {
      const url =
        kind.name === 'sqlite'
          ? `sqlite:${join(dir, 'not-a-dir-file')}/x.db`
          : 'postgres://root@127.0.0.1:1/nowhere';
      if (kind.name === 'sqlite') writeFileSync(join(dir, 'not-a-dir-file'), 'x');
      await assert.rejects(WorkerSessionStore.open(url, 'normal', {}), (err: Error & { code?: string }) => {
        assert.match(err.message, /dbtape: /);
        assert.ok(err.code, `an error code crosses the thread: ${err.message}`);
        return true;
      });
    });
  });
}

test('a replacement thread that cannot open the store retries until it can; calls wait meanwhile', async () => {
  const url = await POSTGRES.url();
  const events: ThreadEvent[] = [];
  const store = await WorkerSessionStore.open(url, 'normal', {}, { onThread: (e) => events.push(e) });
  const m = sessionMeta('reopen');
  await store.writeBatch({
    sessions: [m],
    events: [{ sessionId: m.id, event: ev(1, { kind: 'start', meta: m }) }],
    ends: [],
  });
  // Queued behind the store's own writer lock: granted when the thread's connection goes, before
  // the replacement thread asks, which then finds the lock taken.
  const other = pgAdminOn(url);
  try {
    const taken = other`SELECT pg_advisory_lock(${0x64627470}::int, 1)`;
    await new Promise((r) => setTimeout(r, 200));
    await threadOf(store).terminate();
    await taken;
    const write = store.writeBatch({
      sessions: [],
      events: [{ sessionId: m.id, event: ev(2, { kind: 'query', sql: 'SELECT waited', via: 'simple' }) }],
      ends: [],
    });
    await waitFor(() => events.some((e) => e.kind === 'reopen_failed'), {
      what: 'the replacement thread to find the store locked',
    });
    const failed = events.find((e) => e.kind === 'reopen_failed');
    assert.equal(
      failed?.kind === 'reopen_failed' && (failed.error as Error & { code?: string }).code,
      'DBTAPE_STORE_LOCKED',
    );
    await other`SELECT pg_advisory_unlock(${0x64627470}::int, 1)`;
    await write;
    assert.deepEqual(
      (await store.getEvents(m.id)).map((e) => e.seq),
      [1, 2],
    );
    assert.equal(events.at(-1)?.kind, 'restarted');
  } finally {
    await other.end();
    await store.close();
  }
});

test('a second recording writer on one PostgreSQL store is refused from its worker with DBTAPE_STORE_LOCKED', async () => {
  const url = await POSTGRES.url();
  const first = await WorkerSessionStore.open(url, 'normal', {});
  try {
    await assert.rejects(WorkerSessionStore.open(url, 'normal', {}), { code: 'DBTAPE_STORE_LOCKED' });
  } finally {
    await first.close();
  }
  // The lock goes with the first writer's connection.
  const next = await WorkerSessionStore.open(url, 'normal', {});
  await next.close();
});
