import assert from 'node:assert/strict';
import { chmodSync, existsSync, mkdtempSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import type { SessionEvent, SessionMeta } from '../../src/model/session.js';
import { decodeEvent, encodeEvent } from '../../src/store/event-codec.js';
import { eventToJson, isoFromUs, sessionToJson } from '../../src/store/json.js';
import { openStore } from '../../src/store/open-store.js';
import type { SessionStore } from '../../src/store/session-store.js';
import { MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { sessionMeta } from '../support/session-meta.js';
import { STORE_KINDS } from '../support/store-kinds.js';

const dir = mkdtempSync(join(tmpdir(), 'dbtape-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function ev(
  seq: number,
  body: Record<string, unknown>,
  atUs = 1_700_000_000_000_000 + seq * 1000,
): SessionEvent {
  return { seq, atUs, offsetUs: seq * 1000, ...body } as unknown as SessionEvent;
}

async function seed(store: SessionStore, m: SessionMeta, bodies: Record<string, unknown>[], end = false) {
  const events = [ev(1, { kind: 'start', meta: m }), ...bodies.map((b, i) => ev(i + 2, b))].map((event) => ({
    sessionId: m.id,
    event,
  }));
  const last = events.length;
  if (end) events.push({ sessionId: m.id, event: ev(last + 1, { kind: 'end', reason: 'client_closed' }) });
  await store.writeBatch({
    sessions: [m],
    events,
    ends: end ? [{ sessionId: m.id, endedAtUs: m.startedAtUs + 5000, reason: 'client_closed' }] : [],
  });
}

describe('openStore', () => {
  test('creates the parent folder and applies migrations once', async () => {
    const path = join(dir, 'nested', 'deeper', 'a.db');
    const store = openStore(`sqlite:${path}`);
    await store.close();
    assert.ok(existsSync(path));
    const again = openStore(`sqlite:${path}`);
    await again.close();
    const db = new Database(path, { readonly: true });
    const versions = db.prepare('SELECT version FROM schema_version ORDER BY version').all();
    assert.deepEqual(
      versions,
      MIGRATIONS.map((m) => ({ version: m.version })),
      'each migration applied exactly once',
    );
    assert.equal(db.pragma('journal_mode', { simple: true }), 'wal');
    db.close();
  });

  test('a new store, its WAL files and the folders made for it are readable by their owner only', async () => {
    const path = join(dir, 'private', 'p.db');
    const store = openStore(`sqlite:${path}`);
    await seed(store, sessionMeta('private-1'), [{ kind: 'query', sql: 'SELECT 1', via: 'simple' }]);
    const mode = (p: string) => (statSync(p).mode & 0o777).toString(8);
    assert.deepEqual([path, `${path}-wal`, `${path}-shm`, join(dir, 'private')].map(mode), [
      '600',
      '600',
      '600',
      '700',
    ]);
    await store.close();
    // An existing store keeps what its administrator chose.
    chmodSync(path, 0o640);
    await openStore(`sqlite:${path}`).close();
    assert.equal(mode(path), '640');
  });

  test('rejects an unknown URL scheme', () => {
    assert.throws(() => openStore('mysql://x'), { code: 'DBTAPE_STORE_URL_INVALID' });
  });

  test('readonly open of a missing store fails with a dbtape: message', () => {
    assert.throws(() => openStore(`sqlite:${join(dir, 'missing.db')}`, { readonly: true }), {
      code: 'DBTAPE_STORE_OPEN_FAILED',
    });
  });

  test('a store with a newer schema is refused', async () => {
    const path = join(dir, 'newer.db');
    await openStore(`sqlite:${path}`).close();
    const db = new Database(path);
    db.prepare("INSERT INTO schema_version VALUES (99, 'future', 0)").run();
    db.close();
    assert.throws(() => openStore(`sqlite:${path}`), { code: 'DBTAPE_STORE_SCHEMA_TOO_NEW' });
  });
});

for (const kind of STORE_KINDS) {
  describe(`SessionStore contract (${kind.name})`, () => {
    test('writes a session and reads it back with counts and status', async () => {
      const store = openStore(await kind.url());
      const m = sessionMeta('s1');
      await seed(store, m, [
        { kind: 'query', sql: 'SELECT 1', via: 'simple' },
        { kind: 'result', tag: 'SELECT 1', rows: 1, durationUs: 10 },
        { kind: 'query', sql: 'SELEC 1', via: 'simple' },
        { kind: 'error', code: '42601', message: 'syntax error' },
      ]);
      const s = await store.getSession('s1');
      assert.equal(s?.statements, 2);
      assert.equal(s?.errors, 1);
      assert.equal(s?.status, 'active');
      assert.equal(s?.lastSeq, 5);
      assert.deepEqual(s?.roles, ['analyst']);
      await store.writeBatch({
        sessions: [],
        events: [{ sessionId: 's1', event: ev(6, { kind: 'end', reason: 'client_closed' }) }],
        ends: [{ sessionId: 's1', endedAtUs: m.startedAtUs + 6000, reason: 'client_closed' }],
      });
      const ended = await store.getSession('s1');
      assert.equal(ended?.status, 'ended');
      assert.equal(ended?.endReason, 'client_closed');
      const events = await store.getEvents('s1');
      assert.deepEqual(
        events.map((e) => e.seq),
        [1, 2, 3, 4, 5, 6],
      );
      assert.equal(events[0]!.kind, 'start');
      assert.deepEqual(
        (await store.getEvents('s1', { afterSeq: 4 })).map((e) => e.seq),
        [5, 6],
      );
      assert.deepEqual(
        (await store.getEvents('s1', { limit: 2 })).map((e) => e.seq),
        [1, 2],
      );
      assert.equal(await store.getSession('nope'), null);
      await store.close();
    });

    test('batches larger than one insert group keep order, outcomes and search, across sessions', async () => {
      // The store inserts rows 32 at a time: 3 interleaved sessions of 101 events each cross
      // several group boundaries, and the last statement's outcome comes in the next batch.
      const store = openStore(await kind.url('groups.db'));
      const ids = ['g1', 'g2', 'g3'];
      const events = [];
      for (const id of ids)
        events.push({ sessionId: id, event: ev(1, { kind: 'start', meta: sessionMeta(id) }) });
      for (let i = 0; i < 50; i++) {
        for (const id of ids) {
          const fails = i % 7 === 3;
          const last = i === 49;
          events.push({
            sessionId: id,
            event: ev(2 + i * 2, { kind: 'query', sql: `SELECT tok${id}n${i}`, via: 'simple' }),
          });
          if (!last)
            events.push({
              sessionId: id,
              event: ev(
                3 + i * 2,
                fails
                  ? { kind: 'error', code: '22012', message: 'division by zero' }
                  : { kind: 'result', tag: 'SELECT 1', rows: 1, durationUs: 5 },
              ),
            });
        }
      }
      await store.writeBatch({ sessions: ids.map((id) => sessionMeta(id)), events, ends: [] });
      await store.writeBatch({
        sessions: [],
        events: ids.map((id) => ({
          sessionId: id,
          event: ev(101, { kind: 'error', code: '57014', message: 'canceled' }),
        })),
        ends: [],
      });
      for (const id of ids) {
        const got = await store.getEvents(id);
        assert.deepEqual(
          got.map((e) => e.seq),
          Array.from({ length: 101 }, (_, i) => i + 1),
          `${id}: every event, in order`,
        );
        assert.equal(got[99]?.kind === 'query' && got[99].sql, `SELECT tok${id}n49`);
        const failed = await store.search('tok*', { sessionId: id, errors: true, limit: 1000 });
        const expected = Array.from({ length: 50 }, (_, i) => i).filter((i) => i % 7 === 3 || i === 49);
        assert.deepEqual(
          failed.map((h) => h.seq).sort((a, b) => a - b),
          expected.map((i) => 2 + i * 2),
          `${id}: outcomes linked in the batch and from the next one`,
        );
      }
      const hit = await store.search(`tokg3n37`);
      assert.deepEqual(
        hit.map((h) => [h.sessionId, h.seq]),
        [['g3', 76]],
      );
      // More statements in one transaction than one index insert takes (1,024).
      await store.writeBatch({
        sessions: [sessionMeta('big')],
        events: [
          { sessionId: 'big', event: ev(1, { kind: 'start', meta: sessionMeta('big') }) },
          ...Array.from({ length: 1100 }, (_, i) => ({
            sessionId: 'big',
            event: ev(i + 2, { kind: 'query', sql: `SELECT big${i}`, via: 'simple' }),
          })),
        ],
        ends: [],
      });
      for (const i of [0, 1023, 1024, 1099]) {
        assert.deepEqual(
          (await store.search(`big${i}`)).map((h) => h.seq),
          [i + 2],
          `statement ${i} indexed`,
        );
      }
      await store.close();
    });

    test('a failed batch writes nothing (one transaction)', async () => {
      const store = openStore(await kind.url());
      await seed(store, sessionMeta('s1'), []);
      await assert.rejects(
        store.writeBatch({
          sessions: [sessionMeta('s2')],
          events: [
            { sessionId: 's2', event: ev(1, { kind: 'start', meta: sessionMeta('s2') }) },
            { sessionId: 's1', event: ev(1, { kind: 'query', sql: 'dup seq', via: 'simple' }) },
          ],
          ends: [],
        }),
      );
      assert.equal(await store.getSession('s2'), null);
      assert.equal((await store.getEvents('s1')).length, 1);
      await store.close();
    });

    test("a statement's outcome is linked from what the store holds: after a failed write, and in a new process", async () => {
      const url = await kind.url('resume.db');
      const store = openStore(url);
      await seed(store, sessionMeta('r1'), [{ kind: 'query', sql: 'SELECT resumed', via: 'simple' }]);
      const result = {
        sessionId: 'r1',
        event: ev(3, { kind: 'result', tag: 'SELECT 1', rows: 1, durationUs: 5 }),
      };
      // Fails after its outcome was linked in memory: the second event does not follow the first.
      await assert.rejects(store.writeBatch({ sessions: [], events: [result, result], ends: [] }));
      await store.writeBatch({ sessions: [], events: [result], ends: [] });
      const outcome = async (s: SessionStore, term: string) =>
        (await s.search(term, { sessionId: 'r1' })).map((h) => [h.seq, h.failed]);
      assert.deepEqual(await outcome(store, 'resumed'), [[2, false]], 'linked after the failed write');
      await store.writeBatch({
        sessions: [],
        events: [{ sessionId: 'r1', event: ev(4, { kind: 'query', sql: 'SELECT reopened', via: 'simple' }) }],
        ends: [],
      });
      await store.close();
      const store2 = openStore(url);
      await store2.writeBatch({
        sessions: [],
        events: [
          { sessionId: 'r1', event: ev(5, { kind: 'error', code: '42P01', message: 'no such table' }) },
        ],
        ends: [],
      });
      assert.deepEqual(await outcome(store2, 'reopened'), [[4, true]], 'linked by the store opened again');
      await store2.close();
    });

    test('stores text faithfully: NUL, controls, escapes, lone surrogates, astral characters', async () => {
      const store = openStore(await kind.url('faithful.db'));
      const hostile = "SELECT '\u0000\u001b[2J\u0007\u009b\u202e\ud800\udcff😀\r\n\t\u007f'";
      await seed(store, sessionMeta('f1'), [
        { kind: 'query', sql: hostile, params: ['\u0000', null, '\udc80'], via: 'extended' },
      ]);
      const [, q] = await store.getEvents('f1');
      assert.equal(q?.kind === 'query' && q.sql, hostile);
      assert.deepEqual(q?.kind === 'query' && q.params, ['\u0000', null, '\udc80']);
      await store.close();
    });

    test('lists newest first with filters and a keyset cursor', async () => {
      const store = openStore(await kind.url());
      const base = 1_700_000_000_000_000;
      for (let i = 0; i < 30; i++) {
        const m = sessionMeta(`s${String(i).padStart(2, '0')}`, {
          startedAtUs: base + i * 1_000_000,
          user: i % 3 === 0 ? 'bob' : 'alice',
          target: i % 2 === 0 ? 'app' : 'billing',
          protocol: i % 5 === 0 ? 'mysql' : 'postgres',
        });
        const bodies = i % 4 === 0 ? [{ kind: 'error', code: 'XX000', message: 'x' }] : [];
        await seed(store, m, bodies, i < 20);
      }
      const all = await store.listSessions({ limit: 100 });
      assert.equal(all.length, 30);
      assert.equal(all[0]!.id, 's29');
      assert.equal((await store.listSessions({ user: 'bob' })).length, 10);
      assert.equal((await store.listSessions({ target: 'billing' })).length, 15);
      assert.equal((await store.listSessions({ protocol: 'mysql' })).length, 6);
      assert.equal((await store.listSessions({ active: true })).length, 10);
      assert.equal((await store.listSessions({ active: false })).length, 20);
      assert.equal((await store.listSessions({ hasErrors: true })).length, 8);
      // since: started since, or still open, or ended since.
      const since = await store.listSessions({ sinceUs: base + 25_000_000 });
      assert.deepEqual(
        since.map((s) => s.id).sort(),
        Array.from({ length: 10 }, (_, i) => `s${20 + i}`),
      );
      assert.equal((await store.listSessions({ untilUs: base + 5_000_000 })).length, 5);
      const page1 = await store.listSessions({ limit: 12 });
      const last = page1[page1.length - 1]!;
      const page2 = await store.listSessions({
        limit: 12,
        before: { startedAtUs: last.startedAtUs, id: last.id },
      });
      assert.equal(page2[0]!.id, 's17');
      assert.equal(new Set([...page1, ...page2].map((s) => s.id)).size, 24);
      await store.close();
    });

    test('closeOpenSessions ends crashed sessions after their last event', async () => {
      const url = await kind.url('crash.db');
      const store = openStore(url);
      await seed(store, sessionMeta('c1'), [{ kind: 'query', sql: 'SELECT pg_sleep(10)', via: 'simple' }]);
      await seed(store, sessionMeta('c2'), [], true);
      await store.close();
      const reopened = openStore(url);
      assert.equal(await reopened.closeOpenSessions('proxy_crash', Date.now() * 1000), 1);
      const s = await reopened.getSession('c1');
      assert.equal(s?.status, 'ended');
      assert.equal(s?.endReason, 'proxy_crash');
      const events = await reopened.getEvents('c1');
      const end = events[events.length - 1]!;
      assert.equal(end.kind, 'end');
      assert.equal(end.seq, 3);
      assert.equal(end.atUs, events[1]!.atUs);
      assert.equal(await reopened.closeOpenSessions('proxy_crash', Date.now() * 1000), 0);
      await reopened.close();
    });

    test('a durable write works on a normal-synchronous store', async () => {
      const store = openStore(await kind.url('durable.db'));
      await seed(store, sessionMeta('d1'), []);
      await store.writeBatch(
        {
          sessions: [],
          events: [{ sessionId: 'd1', event: ev(2, { kind: 'tx', state: 'begin' }) }],
          ends: [],
        },
        { durable: true },
      );
      assert.equal((await store.getEvents('d1')).length, 2);
      await store.close();
      await assert.rejects(store.getSession('d1'), { code: 'DBTAPE_STORE_CLOSED' });
    });
  });
}

describe('recording format v1 and JSON shapes', () => {
  test('encodes with v first and decodes to the same event', () => {
    const e = ev(3, { kind: 'query', sql: 'SELECT \u0000', params: ['a', null], via: 'extended' });
    const text = encodeEvent(e);
    assert.ok(text.startsWith('{"v":1,'));
    assert.deepEqual(decodeEvent(text), e);
    assert.throws(() => decodeEvent('{"v":2}'), { code: 'DBTAPE_STORE_BAD_EVENT' });
  });

  test('maps to the SPEC.md --json field names', async () => {
    assert.equal(isoFromUs(1_700_000_000_123_456), '2023-11-14T22:13:20.123456Z');
    const store = openStore('sqlite::memory:');
    await seed(store, sessionMeta('j1'), [], true);
    const json = sessionToJson((await store.getSession('j1'))!);
    assert.deepEqual(Object.keys(json), [
      'id',
      'user',
      'target',
      'protocol',
      'client_addr',
      'application',
      'started_at',
      'ended_at',
      'statements',
      'errors',
      'status',
    ]);
    const q = eventToJson(ev(2, { kind: 'error', code: '42P01', message: 'no table', durationUs: 5 }));
    assert.deepEqual(q.error, { code: '42P01', message: 'no table' });
    assert.equal(q.offset_ms, 2);
    await store.close();
  });
});
