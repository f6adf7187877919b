/** Replay timing: when each event is due at a given speed, and how the player and --follow use it. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SessionEvent, SessionEventBody, SessionMeta } from '../../src/model/session.js';
import { sessionEvents } from '../../src/replay/event-source.js';
import { type Clock, playSession } from '../../src/replay/player.js';
import { StringSink } from '../../src/replay/sink.js';
import { dueTimesMs, ReplaySchedule } from '../../src/replay/timeline.js';
import { openStore } from '../../src/store/open-store.js';
import type { SessionStore } from '../../src/store/session-store.js';
import { sessionMeta } from '../support/session-meta.js';

const T0 = 1_738_324_800_000_000;

const META = sessionMeta('m6abc1234-0a1b2c3d4e', { startedAtUs: T0 });

async function write(
  store: SessionStore,
  m: SessionMeta,
  firstSeq: number,
  items: [number, SessionEventBody][],
) {
  const events = items.map(([offsetUs, body], i) => ({
    sessionId: m.id,
    event: { seq: firstSeq + i, atUs: T0 + offsetUs, offsetUs, ...body } as SessionEvent,
  }));
  const end = items.find(([, b]) => b.kind === 'end');
  await store.writeBatch({
    sessions: firstSeq === 1 ? [m] : [],
    events,
    ends: end ? [{ sessionId: m.id, endedAtUs: T0 + end[0], reason: 'client_closed' }] : [],
  });
}

const SESSION: [number, SessionEventBody][] = [
  [0, { kind: 'start', meta: META }],
  [500_000, { kind: 'query', sql: 'SELECT 1;', via: 'simple' }],
  [501_000, { kind: 'result', tag: 'SELECT 1', rows: 1, durationUs: 1000 }],
  [1_500_000, { kind: 'query', sql: 'SELECT 2;', via: 'simple' }],
  [1_502_000, { kind: 'result', tag: 'SELECT 1', rows: 1, durationUs: 2000 }],
  [2_000_000, { kind: 'end', reason: 'client_closed' }],
];

/** A clock that only moves when the player sleeps, and remembers each sleep. */
function fakeClock(): Clock & { sleeps: number[]; t: number } {
  const c = {
    t: 0,
    sleeps: [] as number[],
    now: () => c.t,
    sleep: async (ms: number) => {
      c.sleeps.push(ms);
      c.t += ms;
    },
  };
  return c;
}

describe('ReplaySchedule', () => {
  const offsets = SESSION.map(([o]) => o);

  test('speed 1 keeps the recorded offsets', () => {
    assert.deepEqual(dueTimesMs(offsets), [0, 500, 501, 1500, 1502, 2000]);
  });

  test('speed N divides every wait by N', () => {
    assert.deepEqual(dueTimesMs(offsets, { speed: 2 }), [0, 250, 250.5, 750, 751, 1000]);
    assert.deepEqual(dueTimesMs(offsets, { speed: 0.5 }), [0, 1000, 1002, 3000, 3004, 4000]);
  });

  test('--instant never waits', () => {
    assert.deepEqual(dueTimesMs(offsets, { instant: true }), [0, 0, 0, 0, 0, 0]);
  });

  test('maxPause shortens long idle gaps only', () => {
    assert.deepEqual(
      dueTimesMs([0, 100_000, 60_000_000, 60_050_000], { maxPauseUs: 1_000_000 }),
      [0, 100, 1100, 1150],
    );
  });

  test('offsets going backwards (a damaged store) never make time go back', () => {
    assert.deepEqual(dueTimesMs([0, 1_000_000, 900_000, 1_100_000]), [0, 1000, 1000, 1100]);
  });

  test('refuses a speed that is not a positive number', () => {
    assert.throws(() => new ReplaySchedule({ speed: 0 }), RangeError);
    assert.throws(() => new ReplaySchedule({ speed: Number.NaN }), RangeError);
  });
});

describe('playSession', () => {
  test('waits offset/speed before each event, measured from the start, and prints in order', async () => {
    const store = openStore('sqlite::memory:');
    await write(store, META, 1, SESSION);
    const session = (await store.getSession(META.id))!;
    for (const speed of [1, 4]) {
      const clock = fakeClock();
      const sink = new StringSink();
      await playSession(store, session, sink, { speed, clock, timing: false });
      assert.equal(clock.t, 2000 / speed, `the whole replay takes the session's length / ${speed}`);
      assert.deepEqual(
        clock.sleeps,
        [500, 1, 999, 2, 498].map((ms) => ms / speed),
      );
      assert.match(
        sink.text,
        /alice@app=> SELECT 1;\nSELECT 1\nalice@app=> SELECT 2;\nSELECT 1\n-- session ended/,
      );
    }
    const clock = fakeClock();
    await playSession(store, session, new StringSink(), { instant: true, clock });
    assert.deepEqual(clock.sleeps, []);
    await store.close();
  });
});

describe('sessionEvents --follow', () => {
  test('polls while the session is open, yields new events in order, stops after the end', async () => {
    const store = openStore('sqlite::memory:');
    const m = sessionMeta('m6follow0-0000000000', { startedAtUs: T0 });
    await write(store, m, 1, SESSION.slice(0, 2));
    const later: [number, SessionEventBody][][] = [[], SESSION.slice(2, 4), SESSION.slice(4)];
    let polls = 0;
    let caughtUp = 0;
    const seen: number[] = [];
    for await (const e of sessionEvents(store, m.id, {
      follow: true,
      pageSize: 2,
      onCaughtUp: () => caughtUp++,
      // Each poll pause is when the "proxy" records more: the next batch is committed meanwhile.
      wait: async () => {
        const next = later[polls++];
        assert.ok(next, 'polled again after the session ended');
        if (next.length > 0) await write(store, m, seen.length + 1, next);
      },
    })) {
      seen.push(e.seq);
    }
    assert.deepEqual(seen, [1, 2, 3, 4, 5, 6]);
    assert.equal(polls, 3);
    assert.equal(caughtUp, 1);
    await store.close();
  });

  test('without follow, stops at the last recorded event of an open session', async () => {
    const store = openStore('sqlite::memory:');
    const m = sessionMeta('m6follow1-0000000000', { startedAtUs: T0 });
    await write(store, m, 1, SESSION.slice(0, 3));
    const seen: number[] = [];
    for await (const e of sessionEvents(store, m.id, { pageSize: 2 })) seen.push(e.seq);
    assert.deepEqual(seen, [1, 2, 3]);
    await store.close();
  });
});
