import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { verifyStore } from '../../src/integrity/verify.js';
import type { SessionEvent, SessionMeta } from '../../src/model/session.js';
import { LiveBus } from '../../src/recording/live-bus.js';
import { Recorder, type RecorderOptions } from '../../src/recording/recorder.js';
import { openStore } from '../../src/store/open-store.js';
import type { SessionStore, WriteBatch, WriteOptions } from '../../src/store/session-store.js';
import { DelegatingStore } from '../support/delegating-store.js';
import { sessionMeta } from '../support/session-meta.js';
import { waitFor } from '../support/wait.js';

let n = 0;
/** A session with an id of its own, starting now. */
const nextMeta = (): SessionMeta => sessionMeta(`sess-${++n}`, { startedAtUs: Date.now() * 1000 });

/** A store that fails on demand, like a full disk. */
class FlakyStore extends DelegatingStore {
  failing = false;
  /** The next write commits, then reports a lost connection: a COMMIT whose answer never came. */
  commitThenFail = false;
  readonly writes: { batch: WriteBatch; options?: WriteOptions }[] = [];
  constructor(inner: SessionStore = openStore('sqlite::memory:')) {
    super(inner);
  }
  async writeBatch(batch: WriteBatch, options?: WriteOptions): Promise<void> {
    this.writes.push({ batch, options });
    if (this.failing)
      throw Object.assign(new Error('SQLITE_FULL: database or disk is full'), { code: 'SQLITE_FULL' });
    if (this.commitThenFail) {
      this.commitThenFail = false;
      await this.inner.writeBatch(batch, options);
      throw Object.assign(new Error('write CONNECTION_CLOSED'), { code: 'DBTAPE_STORE_WRITE_FAILED' });
    }
    return this.inner.writeBatch(batch, options);
  }
}

function logger() {
  const lines: { level: string; obj: object; msg: string }[] = [];
  return {
    lines,
    warn: (obj: object, msg: string) => lines.push({ level: 'warn', obj, msg }),
    error: (obj: object, msg: string) => lines.push({ level: 'error', obj, msg }),
  };
}

function setup(options: Partial<RecorderOptions> = {}) {
  const store = new FlakyStore();
  const log = logger();
  const recorder = new Recorder({ store, logger: log, maxBackoffMs: 10, ...options });
  return { store, log, recorder };
}

const query = (sql: string) => ({ kind: 'query', sql, via: 'simple' }) as const;

/**
 * A session with one stored query, and `SELECT in_doubt` queued, whose write will commit and then
 * report a lost connection.
 */
async function sessionInDoubt() {
  const { store, recorder } = setup();
  const m = nextMeta();
  const rec = recorder.open(m);
  rec.event(query('SELECT 1'));
  await recorder.flush();
  store.commitThenFail = true;
  rec.event(query('SELECT in_doubt'));
  return { store, recorder, m, rec };
}

/**
 * Once the session has ended in the store: it holds start, two queries and the end, once each,
 * nothing counts as lost, and the store verifies.
 */
async function assertEndedOnce(store: FlakyStore, recorder: Recorder, m: SessionMeta): Promise<void> {
  await waitFor(
    async () => (await store.getSession(m.id))?.status === 'ended' && recorder.stats().queueDepth === 0,
    { what: 'the session to end in the store' },
  );
  const events = await store.getEvents(m.id);
  assert.deepEqual(
    events.map((e) => [e.seq, e.kind]),
    [
      [1, 'start'],
      [2, 'query'],
      [3, 'query'],
      [4, 'end'],
    ],
  );
  assert.equal((await store.getSession(m.id))?.endReason, 'client_closed');
  assert.equal(recorder.stats().lost, 0, 'the in-doubt events were stored, so none is lost');
  assert.equal((await verifyStore(store.inner.integrity!())).findings.length, 0);
}

describe('Recorder', () => {
  test('records start, dense seqs, consistent monotonic times, and the end', async () => {
    const { store, recorder } = setup();
    const m = nextMeta();
    const rec = recorder.open(m);
    for (let i = 0; i < 50; i++) {
      rec.event(query(`SELECT ${i}`));
      rec.event({ kind: 'result', tag: 'SELECT 1', rows: 1, durationUs: 1 });
    }
    rec.event({ kind: 'end', reason: 'client_closed' });
    rec.event(query('after the end: ignored'));
    await recorder.flush();
    const events = await store.getEvents(m.id);
    assert.equal(events.length, 102);
    assert.deepEqual(
      events.map((e) => e.seq),
      Array.from({ length: 102 }, (_, i) => i + 1),
    );
    assert.equal(events[0]!.kind, 'start');
    assert.equal(events[101]!.kind, 'end');
    for (let i = 1; i < events.length; i++) {
      assert.ok(events[i]!.offsetUs >= events[i - 1]!.offsetUs);
      assert.equal(events[i]!.atUs, m.startedAtUs + events[i]!.offsetUs);
    }
    const s = await store.getSession(m.id);
    assert.equal(s?.status, 'ended');
    assert.equal(s?.statements, 50);
    assert.equal(recorder.stats().openSessions, 0);
  });

  test('a store that already holds events the recorder was told failed is written on after them', async () => {
    // What a write whose COMMIT went through but whose answer was lost leaves: the store holds more
    // of the session than the recorder believes. Here the store is written behind its back.
    const { store, log, recorder } = setup();
    const m = nextMeta();
    const rec = recorder.open(m);
    rec.event(query('SELECT before'));
    await recorder.flush();
    await store.inner.writeBatch({
      sessions: [],
      events: [
        {
          sessionId: m.id,
          event: { seq: 3, atUs: m.startedAtUs + 5, offsetUs: 5, ...query('SELECT in_doubt') },
        },
      ],
      ends: [],
    });
    rec.event(query('SELECT after'));
    rec.event({ kind: 'end', reason: 'client_closed' });
    await recorder.flush();
    await recorder.flush();
    const events = await store.getEvents(m.id);
    assert.deepEqual(
      events.map((e) => [e.seq, e.kind, e.kind === 'query' ? e.sql : '']),
      [
        [1, 'start', ''],
        [2, 'query', 'SELECT before'],
        [3, 'query', 'SELECT in_doubt'],
        [4, 'query', 'SELECT after'],
        [5, 'end', ''],
      ],
    );
    assert.ok(log.lines.some((l) => /reported failed had been stored/.test(l.msg)));
    assert.equal((await verifyStore(store.inner.integrity!())).findings.length, 0);
  });

  test('a write reported failed that had committed, its end included, is not written twice', async () => {
    const { store, recorder, m, rec } = await sessionInDoubt();
    rec.event({ kind: 'end', reason: 'client_closed' });
    await recorder.flush();
    await recorder.flush();
    await assertEndedOnce(store, recorder, m);
  });

  test('an end first sent in a write that truly failed, after one that committed unseen, is still written', async () => {
    // Two faults: a write commits but reports failure (its events counted lost), then the write
    // carrying the end fails for real. The next one finds the store ahead of the recorder; the end
    // is not in the store, so it must be written, not taken as stored.
    const { store, recorder, m, rec } = await sessionInDoubt();
    await recorder.flush();
    store.failing = true;
    const writes = store.writes.length;
    rec.event({ kind: 'end', reason: 'client_closed' });
    await waitFor(() => store.writes.length > writes, { what: 'the write carrying the end to fail' });
    store.failing = false;
    await recorder.flush();
    await assertEndedOnce(store, recorder, m);
  });

  test('after a restore, sessions whose end the store lost are ended again, after a gap', async () => {
    const { store, log, recorder } = setup();
    const live = nextMeta();
    const early = nextMeta();
    const late = nextMeta();
    const liveRec = recorder.open(live);
    const earlyRec = recorder.open(early);
    liveRec.event(query('SELECT live 1'));
    earlyRec.event(query('SELECT early 1'));
    await recorder.flush();
    const backup = store.writes.length;
    earlyRec.event(query('SELECT early 2'));
    earlyRec.event({ kind: 'end', reason: 'client_closed' });
    const lateRec = recorder.open(late);
    lateRec.event(query('SELECT late'));
    lateRec.event({ kind: 'end', reason: 'killed' });
    liveRec.event(query('SELECT live 2'));
    await recorder.flush();

    // The store comes back from the backup: without the ends of `early` and `late`, nor `late` at all.
    const restored = openStore('sqlite::memory:');
    for (const w of store.writes.slice(0, backup)) await restored.writeBatch(w.batch, w.options);
    store.inner = restored;
    liveRec.event(query('SELECT live 3'));
    await recorder.flush();
    await waitFor(
      async () =>
        (await restored.getSession(early.id))?.status === 'ended' &&
        (await restored.getSession(late.id))?.status === 'ended' &&
        recorder.stats().queueDepth === 0,
      { what: 'the sessions that ended after the backup to be ended again' },
    );
    const kinds = async (id: string) =>
      (await restored.getEvents(id)).map((e) => (e.kind === 'gap' ? `gap ${e.lost}` : e.kind));
    assert.deepEqual(await kinds(early.id), ['start', 'query', 'gap 1', 'end']);
    assert.deepEqual(await kinds(late.id), ['start', 'gap 1', 'end']);
    assert.deepEqual(await kinds(live.id), ['start', 'query', 'gap 1', 'query']);
    assert.equal((await restored.getSession(late.id))?.endReason, 'killed', 'the original reason');
    assert.ok(log.lines.some((l) => /lost events it had acknowledged/.test(l.msg)));
    assert.equal((await verifyStore(restored.integrity!())).findings.length, 0);
  });

  test('a restore is noticed with no session live: the sessions it lost the end of are ended again', async () => {
    const { store, log, recorder } = setup({ restoreProbeMs: 20 });
    const kept = nextMeta();
    const lost = nextMeta();
    const keptRec = recorder.open(kept);
    keptRec.event(query('SELECT kept'));
    keptRec.event({ kind: 'end', reason: 'client_closed' });
    const lostRec = recorder.open(lost);
    lostRec.event(query('SELECT lost 1'));
    await recorder.flush();
    const backup = store.writes.length;
    lostRec.event(query('SELECT lost 2'));
    lostRec.event({ kind: 'end', reason: 'killed' });
    await recorder.flush();
    const writes = store.writes.length;

    const restored = openStore('sqlite::memory:');
    for (const w of store.writes.slice(0, backup)) await restored.writeBatch(w.batch, w.options);
    store.inner = restored;
    await waitFor(
      async () =>
        (await restored.getSession(lost.id))?.status === 'ended' && recorder.stats().queueDepth === 0,
      { what: 'the session whose end the restore took to be ended again, with no session live' },
    );
    assert.ok(store.writes.length > writes, 'written by the probe, not by a session');
    const kinds = async (id: string) =>
      (await restored.getEvents(id)).map((e) => (e.kind === 'gap' ? `gap ${e.lost}` : e.kind));
    assert.deepEqual(await kinds(lost.id), ['start', 'query', 'gap 1', 'end']);
    assert.deepEqual(await kinds(kept.id), ['start', 'query', 'end'], 'its end survived: untouched');
    assert.equal((await restored.getSession(lost.id))?.endReason, 'killed');
    assert.ok(log.lines.some((l) => /no longer holds a session end/.test(l.msg)));
    assert.equal((await verifyStore(restored.integrity!())).findings.length, 0);
    // The store holds every end now: the probe finds nothing more to do.
    const after = store.writes.length;
    await new Promise((r) => setTimeout(r, 100));
    assert.equal(store.writes.length, after);
    await recorder.shutdown();
  });

  test('redacts before queueing: the store never sees the secret', async () => {
    const { store, recorder } = setup();
    const m = nextMeta();
    const rec = recorder.open(m);
    rec.event(query(`ALTER ROLE bob PASSWORD 'hunter2-xyz'`));
    rec.event({ kind: 'error', code: '42601', message: `syntax error at or near "hunter2-xyz"` });
    await recorder.flush();
    const text = JSON.stringify(await store.getEvents(m.id));
    assert.ok(!text.includes('hunter2'), text);
    assert.equal((await store.search('hunter2')).length, 0);
  });

  test('group-commits events of several sessions in one batch', async () => {
    const { store, recorder } = setup();
    const a = recorder.open(nextMeta());
    const b = recorder.open(nextMeta());
    a.event(query('SELECT 1'));
    b.event(query('SELECT 2'));
    await recorder.flush();
    assert.equal(store.writes.length, 1);
    assert.equal(store.writes[0]!.batch.sessions.length, 2);
    assert.equal(store.writes[0]!.batch.events.length, 4);
  });

  test('durable() resolves once the event is committed', async () => {
    const { store, recorder } = setup();
    const m = nextMeta();
    const rec = recorder.open(m);
    rec.event(query('SELECT durable'));
    await rec.durable();
    assert.equal((await store.getEvents(m.id)).length, 2);
  });

  test('publishes committed events on the live bus, in order', async () => {
    const bus = new LiveBus();
    const { recorder } = setup({ bus });
    const m = nextMeta();
    const seen: SessionEvent[] = [];
    const off = bus.subscribe(m.id, (e) => seen.push(e));
    const all: string[] = [];
    bus.subscribeAll((_e, id) => all.push(id));
    const rec = recorder.open(m);
    rec.event(query('SELECT 1'));
    rec.event({ kind: 'end', reason: 'client_closed' });
    await recorder.flush();
    off();
    assert.deepEqual(
      seen.map((e) => [e.seq, e.kind]),
      [
        [1, 'start'],
        [2, 'query'],
        [3, 'end'],
      ],
    );
    assert.equal(all.length, 3);
    assert.equal(bus.listenerCount(m.id), 0);
  });

  test('queue overflow drops events and records a gap with the count', async () => {
    const { store, log, recorder } = setup({ queueLimit: 5 });
    const m = nextMeta();
    const rec = recorder.open(m);
    for (let i = 0; i < 20; i++) rec.event(query(`SELECT ${i}`));
    await assert.rejects(rec.durable(), { code: 'DBTAPE_RECORDING_QUEUE_FULL' });
    await recorder.flush();
    rec.event(query('SELECT after'));
    await recorder.flush();
    const events = await store.getEvents(m.id);
    const gap = events.find((e) => e.kind === 'gap');
    assert.equal(gap?.kind === 'gap' && gap.lost, 16);
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_, i) => i + 1),
    );
    assert.equal(
      events[events.length - 1]!.kind === 'query' && (events[events.length - 1] as { sql: string }).sql,
      'SELECT after',
    );
    const stats = recorder.stats();
    assert.equal(stats.lost, 16);
    assert.equal(stats.gaps, 1);
    assert.ok(log.lines.some((l) => l.level === 'warn' && /queue full/.test(l.msg)));
    assert.ok(
      log.lines.some((l) => (l.obj as { sessionId?: string }).sessionId === m.id && /gap/.test(l.msg)),
    );
  });

  test('store failure: sessions go on, and a gap is recorded once the store writes again', async () => {
    const { store, log, recorder } = setup();
    store.failing = true;
    const m = nextMeta();
    const rec = recorder.open(m);
    rec.event(query('SELECT lost 1'));
    rec.event(query('SELECT lost 2'));
    await recorder.flush();
    assert.ok(recorder.stats().storeErrors >= 1);
    assert.ok(log.lines.some((l) => l.level === 'error' && /store write failed/.test(l.msg)));
    store.failing = false;
    rec.event(query('SELECT kept'));
    await recorder.flush();
    const events = await store.getEvents(m.id);
    assert.deepEqual(
      events.map((e) => [e.seq, e.kind]),
      [
        [1, 'start'],
        [2, 'gap'],
        [3, 'query'],
      ],
    );
    assert.equal(events[1]!.kind === 'gap' && events[1]!.lost, 2);
    assert.ok(log.lines.some((l) => /writes again/.test(l.msg)));
  });

  test('a session that lost events and then went quiet still gets its gap', async () => {
    const { store, recorder } = setup();
    const m = nextMeta();
    const rec = recorder.open(m);
    await rec.durable();
    store.failing = true;
    rec.event(query('SELECT lost'));
    await recorder.flush();
    store.failing = false;
    // Another session's traffic lets the writer run again; the quiet session's gap goes with it.
    recorder.open(nextMeta()).event(query('SELECT other'));
    await recorder.flush();
    const events = await store.getEvents(m.id);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['start', 'gap'],
    );
  });

  test('strict: batches are durable; durable() rejects while the store fails and works after', async () => {
    const { store, recorder } = setup({ durability: 'strict' });
    assert.equal(recorder.strict, true);
    const m = nextMeta();
    const rec = recorder.open(m);
    rec.event(query('SELECT 1'));
    await rec.durable();
    assert.ok(store.writes.every((w) => w.options?.durable === true));
    const timed = recorder.stats().durableWrites!;
    assert.equal(timed.count, recorder.stats().syncs, 'every durable write is timed');
    assert.ok(timed.count >= 1 && timed.sum > 0);
    store.failing = true;
    rec.event(query('SELECT refused'));
    await assert.rejects(rec.durable(), { code: 'DBTAPE_RECORDING_STORE_FAILED' });
    store.failing = false;
    rec.event(query('SELECT again'));
    await rec.durable();
    // The refused statement is recorded once the store works (the proxy adds its refusal).
    const events = await store.getEvents(m.id);
    assert.deepEqual(
      events.map((e) => (e.kind === 'query' ? e.sql : e.kind)),
      ['start', 'SELECT 1', 'SELECT refused', 'SELECT again'],
    );
  });

  test('strict: only a statement that waits starts a durable write; other events ride along', async () => {
    // A long window: anything written before durable() was asked for was written for nothing.
    const { store, recorder } = setup({ durability: 'strict', flushIntervalMs: 60_000 });
    const m = nextMeta();
    const rec = recorder.open(m);
    rec.event(query('SELECT 1'));
    await rec.durable();
    const before = store.writes.length;
    rec.event({ kind: 'result', tag: 'SELECT 1', rows: 1, durationUs: 1 });
    rec.event({ kind: 'notice', severity: 'NOTICE', code: '00000', message: 'hello' });
    await new Promise((r) => setTimeout(r, 20));
    assert.equal(store.writes.length, before, 'events nobody waits for started a durable write');
    rec.event(query('SELECT 2'));
    await rec.durable();
    assert.equal(store.writes.length, before + 1, 'the outcome and the statement share one write');
    assert.deepEqual(
      store.writes.at(-1)!.batch.events.map((e) => e.event.kind),
      ['result', 'notice', 'query'],
    );
    await recorder.shutdown();
  });

  test('shutdown ends open sessions with proxy_shutdown and drops later events', async () => {
    const { store, recorder } = setup();
    const a = nextMeta();
    const b = nextMeta();
    const ra = recorder.open(a);
    const rb = recorder.open(b);
    rb.event({ kind: 'end', reason: 'client_closed' });
    ra.event(query('SELECT 1'));
    await recorder.shutdown();
    ra.event(query('SELECT after shutdown'));
    const sa = await store.getSession(a.id);
    assert.equal(sa?.endReason, 'proxy_shutdown');
    assert.equal((await store.getSession(b.id))?.endReason, 'client_closed');
    assert.equal((await store.getEvents(a.id)).length, 3);
  });

  test('event() never throws, even on a malformed body', () => {
    const { recorder } = setup();
    const rec = recorder.open(nextMeta());
    // biome-ignore lint/suspicious/noExplicitAny: deliberately malformed input
    assert.doesNotThrow(() => rec.event(null as any));
    assert.equal(recorder.stats().recorderErrors, 1);
  });

  test('opening the same session id twice is refused', () => {
    const { recorder } = setup();
    const m = nextMeta();
    recorder.open(m);
    assert.throws(() => recorder.open(m), { code: 'DBTAPE_RECORDING_DUPLICATE_SESSION' });
  });
});
