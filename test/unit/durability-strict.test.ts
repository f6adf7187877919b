/**
 * Durability modes when the store fails: strict refuses statements quickly with a clear error
 * and lets them through again once the store works, without a restart; fast keeps sessions going
 * and records gaps. Failures are injected with a wrapper store, and, for real SQLITE_FULL, with
 * SQLite's max_page_count on a real store file.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, mock, test } from 'node:test';
import type Database from 'better-sqlite3';
import { verifyStore } from '../../src/integrity/verify.js';
import type { SessionMeta } from '../../src/model/session.js';
import { Recorder, type RecorderOptions } from '../../src/recording/recorder.js';
import { openStore } from '../../src/store/open-store.js';
import type { SessionStore, WriteBatch, WriteOptions } from '../../src/store/session-store.js';
import { WalSync } from '../../src/store/sqlite/wal-sync.js';
import { DelegatingStore } from '../support/delegating-store.js';
import { sessionMeta } from '../support/session-meta.js';

const dir = mkdtempSync(join(tmpdir(), 'dbtape-durability-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A session with an id of its own, each starting a microsecond after the last. */
const nextMeta = (): SessionMeta => sessionMeta(`d${++n}`, { startedAtUs: 1_700_000_000_000_000 + n });

const query = (sql: string) => ({ kind: 'query', sql, via: 'simple' }) as const;

/** Fails commits (like a full disk) or fsyncs on demand, counting calls. */
class FailingStore extends DelegatingStore {
  failWrites = false;
  failSyncs = false;
  writes = 0;
  syncs = 0;
  async writeBatch(batch: WriteBatch, options?: WriteOptions): Promise<void> {
    this.writes++;
    if (this.failWrites) throw Object.assign(new Error('database or disk is full'), { code: 'SQLITE_FULL' });
    if (options?.durable !== true) return this.inner.writeBatch(batch, options);
    // Committed, then made durable: a failing fsync fails after the commit, as in the real store.
    await this.inner.writeBatch(batch);
    return this.sync();
  }
  async sync(): Promise<void> {
    this.syncs++;
    if (this.failSyncs) {
      throw Object.assign(new Error('fsync failed'), { code: 'DBTAPE_STORE_SYNC_FAILED', errno: 'EIO' });
    }
    return this.inner.sync?.();
  }
  integrity = () => this.inner.integrity!();
}

function logger() {
  const lines: { level: string; obj: object; msg: string }[] = [];
  return {
    lines,
    info: (obj: object, msg: string) => lines.push({ level: 'info', obj, msg }),
    warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj, msg }),
    error: (obj: object, msg: string) => lines.push({ level: 'error', obj, msg }),
  };
}

function setup(options: Partial<RecorderOptions> = {}, file = false) {
  // journal: as dbtape serve's store thread opens it (strict batches go through the journal).
  const inner = openStore(file ? `sqlite:${join(dir, `s${++n}.db`)}` : 'sqlite::memory:', { journal: true });
  const store = new FailingStore(inner);
  const log = logger();
  const recorder = new Recorder({ store, logger: log, durability: 'strict', ...options });
  return { store, log, recorder };
}

async function assertVerifies(store: SessionStore): Promise<void> {
  const report = await verifyStore(store.integrity!());
  assert.deepEqual(report.findings, []);
}

describe('strict durability with a failing store', () => {
  test('durable() refuses at once with a clear, coded error while the store fails', async () => {
    const { store, recorder, log } = setup({ maxBackoffMs: 60_000 });
    const rec = recorder.open(nextMeta());
    rec.event(query('SELECT 1'));
    await rec.durable();
    store.failWrites = true;
    rec.event(query('SELECT refused'));
    await assert.rejects(rec.durable(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'DBTAPE_RECORDING_STORE_FAILED');
      assert.match(err.message, /^dbtape: the session store cannot write \(disk full: SQLITE_FULL\)/);
      return true;
    });
    // One statement may wait for the next retry; every other is refused without waiting for it.
    rec.event(query('SELECT probe'));
    const probe = rec.durable();
    const writes = store.writes;
    for (let i = 0; i < 5; i++) {
      rec.event(query(`SELECT refused ${i}`));
      await assert.rejects(rec.durable(), { code: 'DBTAPE_RECORDING_STORE_FAILED' });
    }
    assert.equal(store.writes, writes, 'refusals did not wait for a write attempt');
    assert.ok(recorder.stats().refused >= 5);
    assert.ok(log.lines.some((l) => l.level === 'error' && /store write failed/.test(l.msg)));
    await recorder.shutdown(0);
    probe.catch(() => {});
  });

  test('the outcome of a statement that ran is kept across a store failure, and the refused statement is recorded before its refusal', async () => {
    const { store, recorder } = setup({ maxBackoffMs: 5 });
    const m = nextMeta();
    const rec = recorder.open(m);
    rec.event(query('SELECT ran'));
    await rec.durable();
    // It ran; its result is queued when the store starts failing, with the next statement.
    store.failWrites = true;
    rec.event({ kind: 'result', tag: 'SELECT 1', rows: 1, durationUs: 10 });
    rec.event(query('SELECT refused'));
    await assert.rejects(rec.durable(), { code: 'DBTAPE_RECORDING_STORE_FAILED' });
    rec.event({
      kind: 'error',
      code: '58030',
      message: 'dbtape: the statement was not run because it could not be recorded',
    });
    store.failWrites = false;
    await recorder.flush();
    const events = await store.getEvents(m.id);
    assert.deepEqual(
      events.map((e) => (e.kind === 'gap' ? `gap ${e.lost}` : e.kind)),
      ['start', 'query', 'result', 'query', 'error'],
    );
    const refused = events[3]!;
    assert.equal(refused.kind === 'query' && refused.sql, 'SELECT refused');
    assert.equal(recorder.stats().refused, 1);
    await recorder.shutdown();
    await assertVerifies(store);
  });

  test('statements flow again once the store works, within the 1 s backoff cap, without a restart', async () => {
    mock.timers.enable({ apis: ['setTimeout', 'Date'] });
    try {
      const { store, recorder } = setup();
      const m = nextMeta();
      const rec = recorder.open(m);
      rec.event(query('SELECT before'));
      const first = rec.durable();
      await drainMicrotasks();
      await first;
      store.failWrites = true;
      // Thirty seconds of failure: the backoff doubles, then stays at the 1 s cap.
      for (let t = 0; t < 30; t++) {
        rec.event(query(`SELECT during ${t}`));
        rec.durable().catch(() => {});
        await drainMicrotasks();
        mock.timers.tick(1000);
        await drainMicrotasks();
      }
      store.failWrites = false;
      rec.event(query('SELECT after'));
      let done = false;
      const after = rec.durable().then(() => {
        done = true;
      });
      mock.timers.tick(1000);
      await drainMicrotasks();
      assert.equal(done, true, 'durable() resolved within one backoff period of the store recovering');
      await after;
      rec.event(query('SELECT flowing'));
      const flowing = rec.durable();
      await drainMicrotasks();
      await flowing;
      const kinds = (await store.getEvents(m.id)).map((e) => e.kind);
      // The thirty refused statements are recorded too, in order, with no gap.
      assert.deepEqual(kinds, ['start', ...Array<string>(33).fill('query')]);
      await assertVerifies(store);
    } finally {
      mock.timers.reset();
    }
  });

  test('a failed fsync refuses the statement but keeps the committed events and a dense sequence', async () => {
    const { store, recorder } = setup({ maxBackoffMs: 5 });
    const m = nextMeta();
    const rec = recorder.open(m);
    await rec.durable();
    store.failSyncs = true;
    rec.event(query('SELECT committed but not synced'));
    await assert.rejects(rec.durable(), /\(fsync failed, I\/O error: EIO\)/);
    store.failSyncs = false;
    rec.event(query('SELECT next'));
    await rec.durable();
    const events = await store.getEvents(m.id);
    assert.deepEqual(
      events.map((e) => [e.seq, e.kind]),
      [
        [1, 'start'],
        [2, 'query'],
        [3, 'query'],
      ],
    );
    await assertVerifies(store);
  });

  test('group commit: one fsync serves many sessions waiting at once', async () => {
    const { store, recorder } = setup({}, true);
    const recs = Array.from({ length: 50 }, () => recorder.open(nextMeta()));
    await Promise.all(recs.map((r) => r.durable()));
    const before = store.syncs;
    for (const r of recs) r.event(query('SELECT 1'));
    await Promise.all(recs.map((r) => r.durable()));
    assert.ok(store.syncs - before < 10, `fsyncs for 50 sessions: ${store.syncs - before}`);
    assert.ok(recorder.stats().syncs > 0);
  });
});

describe('a real full disk (SQLITE_FULL from SQLite)', () => {
  /** Caps the store file at its current size, like a full disk; `null` lifts the cap. */
  function capDisk(store: SessionStore, full: boolean): void {
    // The test reaches into the store for its connection: that is what a full disk acts on.
    const db = (store as unknown as { db: Database.Database }).db;
    const pages = db.pragma('page_count', { simple: true }) as number;
    db.pragma(`max_page_count = ${full ? pages : 1_000_000_000}`);
  }
  const big = (i: number) => query(`INSERT INTO t VALUES ('${'x'.repeat(4000)}', ${i})`);

  test('strict: statements are refused while full, and flow again once there is room', async () => {
    const inner = openStore(`sqlite:${join(dir, 'full-strict.db')}`, { journal: true });
    const recorder = new Recorder({ store: inner, durability: 'strict', maxBackoffMs: 5 });
    const m = nextMeta();
    const rec = recorder.open(m);
    await rec.durable();
    capDisk(inner, true);
    // The journal takes strict batches until its background apply meets the full store (within
    // 100 ms); from then on they are refused.
    let refused = 0;
    let tried = 0;
    const deadline = Date.now() + 10_000;
    for (let i = 0; refused < 5 && Date.now() < deadline; i++, tried++) {
      rec.event(big(i));
      try {
        await rec.durable();
      } catch (err) {
        assert.match((err as Error).message, /disk full: SQLITE_FULL/);
        refused++;
      }
      await new Promise((r) => setTimeout(r, 10));
    }
    assert.equal(refused, 5, 'statements were refused');
    capDisk(inner, false);
    rec.event(big(99));
    await rec.durable();
    rec.event({ kind: 'end', reason: 'client_closed' });
    await recorder.shutdown();
    const events = await inner.getEvents(m.id);
    // Every statement is recorded, those refused as well as those that went through.
    assert.equal(events.filter((e) => e.kind === 'query').length, tried + 1);
    assert.ok(!events.some((e) => e.kind === 'gap'));
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_, i) => i + 1),
    );
    await assertVerifies(inner);
    await inner.close();
  });

  test('fast: sessions go on, and a gap with the lost count, a metric and a log line follow', async () => {
    const inner = openStore(`sqlite:${join(dir, 'full-fast.db')}`);
    const log = logger();
    const recorder = new Recorder({ store: inner, logger: log, maxBackoffMs: 5 });
    const m = nextMeta();
    const rec = recorder.open(m);
    await recorder.flush();
    capDisk(inner, true);
    for (let i = 0; i < 20; i++) rec.event(big(i));
    await recorder.flush();
    const lost = recorder.stats().lost;
    assert.ok(lost > 0, 'events were lost while the disk was full');
    capDisk(inner, false);
    rec.event(query('SELECT after'));
    await recorder.flush();
    const events = await inner.getEvents(m.id);
    const gaps = events.filter((e) => e.kind === 'gap');
    assert.equal(
      gaps.reduce((sum, g) => sum + (g.kind === 'gap' ? g.lost : 0), 0),
      lost,
    );
    assert.equal(recorder.stats().gaps, gaps.length);
    assert.ok(
      log.lines.some((l) => l.level === 'warn' && (l.obj as { sessionId?: string }).sessionId === m.id),
    );
    await recorder.shutdown();
    await assertVerifies(inner);
    await inner.close();
  });
});

describe('an outage longer than the writer retries an event for', () => {
  // 60 failed writes, more than the 50 that an event the store refuses for itself is tried:
  // with a 1 s backoff cap, about a minute of a full disk or a store server down.
  const FAILED_WRITES = 60;

  for (const durability of ['fast', 'strict'] as const) {
    test(`${durability}: a session begun and ended during it is still recorded, start and end`, async () => {
      const { store, recorder } = setup({ durability, maxBackoffMs: 2 });
      const before = recorder.open(nextMeta());
      before.event(query('SELECT before'));
      await recorder.flush();
      store.failWrites = true;
      const during = nextMeta();
      const rec = recorder.open(during);
      const failedAt = store.writes;
      for (let i = 0; store.writes - failedAt < FAILED_WRITES; i++) {
        rec.event(query(`SELECT during ${i}`));
        before.event(query(`SELECT before ${i}`));
        if (durability === 'strict') {
          await assert.rejects(rec.durable(), { code: 'DBTAPE_RECORDING_STORE_FAILED' });
          before.durable().catch(() => {});
        }
        await new Promise((r) => setTimeout(r, 3));
      }
      rec.event({ kind: 'end', reason: 'client_closed' });
      store.failWrites = false;
      await recorder.flush();
      const session = await store.getSession(during.id);
      assert.ok(session, 'the session begun during the outage is in the store');
      assert.equal(session.endReason, 'client_closed');
      const kinds = (await store.getEvents(during.id)).map((e) => e.kind);
      assert.equal(kinds[0], 'start');
      assert.equal(kinds.at(-1), 'end');
      // Fast mode gives up what it could not write (a gap says how much); strict mode keeps the
      // refused statements (the proxy would record each refusal after it).
      if (durability === 'fast') assert.deepEqual(kinds, ['start', 'gap', 'end']);
      else assert.ok(kinds.slice(1, -1).every((k) => k === 'query') && kinds.length > 2);
      await recorder.shutdown();
      await assertVerifies(store);
    });
  }
});

describe('WalSync', () => {
  test('callers that arrive during an fsync share the next one', async () => {
    const store = openStore(`sqlite:${join(dir, 'wal.db')}`);
    await store.writeBatch({ sessions: [nextMeta()], events: [], ends: [] });
    const wal = new WalSync(join(dir, 'wal.db'));
    await Promise.all(Array.from({ length: 20 }, () => wal.sync()));
    assert.ok(wal.syncs <= 2, `fsyncs: ${wal.syncs}`);
    wal.close();
    await store.close();
  });
});

/** Lets pending promise callbacks (store writes, waiters) run under mocked timers. */
async function drainMicrotasks(): Promise<void> {
  for (let i = 0; i < 20; i++) await new Promise<void>((r) => queueMicrotask(r));
  await new Promise<void>((r) => setImmediate(r));
}
