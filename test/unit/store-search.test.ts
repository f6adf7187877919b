import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SessionEvent, SessionMeta } from '../../src/model/session.js';
import { searchHitToJson } from '../../src/store/json.js';
import { openStore } from '../../src/store/open-store.js';
import { buildSnippet, parseSearchText } from '../../src/store/search-text.js';
import type { SessionStore } from '../../src/store/session-store.js';
import { sessionMeta } from '../support/session-meta.js';
import { STORE_KINDS } from '../support/store-kinds.js';

const T0 = 1_700_000_000_000_000;

/** Writes a session whose events are given as bodies; seq and times are assigned in order. */
async function record(store: SessionStore, m: SessionMeta, bodies: Record<string, unknown>[]): Promise<void> {
  const all = [{ kind: 'start', meta: m }, ...bodies];
  const events = all.map((b, i) => ({
    sessionId: m.id,
    event: { seq: i + 1, atUs: m.startedAtUs + i, offsetUs: i, ...b } as unknown as SessionEvent,
  }));
  await store.writeBatch({ sessions: [m], events, ends: [] });
}

const q = (sql: string, params?: (string | null)[]) => ({
  kind: 'query',
  sql,
  via: params ? 'extended' : 'simple',
  params,
});
const ok = { kind: 'result', tag: 'SELECT 1', rows: 1, durationUs: 3 };
const err = { kind: 'error', code: '42P01', message: 'relation does not exist' };

for (const kind of STORE_KINDS) {
  describe(`search (${kind.name})`, () => {
    test('finds a unique token among many sessions, with session fields and a marked snippet', async () => {
      const store = openStore(await kind.url());
      for (let i = 0; i < 500; i++) {
        await record(store, sessionMeta(`s${i}`, { user: i % 2 ? 'bob' : 'alice', startedAtUs: T0 + i }), [
          q(`SELECT * FROM t${i} WHERE x = ${i}`),
          ok,
        ]);
      }
      await record(
        store,
        sessionMeta('needle', { user: 'carol', target: 'billing', startedAtUs: T0 + 9999 }),
        [q('SELECT 1'), ok, q('UPDATE accounts SET note = $1 WHERE token_zq8x7 = 42', ['hello']), ok],
      );
      const hits = await store.search('token_zq8x7');
      assert.equal(hits.length, 1);
      const h = hits[0]!;
      assert.equal(h.sessionId, 'needle');
      assert.equal(h.seq, 4);
      assert.equal(h.user, 'carol');
      assert.equal(h.target, 'billing');
      assert.equal(h.failed, false);
      assert.ok(h.snippet.includes('\u0001token_zq8x7\u0002'), h.snippet);
      assert.deepEqual(Object.keys(searchHitToJson(h)), [
        'session_id',
        'seq',
        'at',
        'user',
        'target',
        'sql',
        'params',
        'snippet',
      ]);
      await store.close();
    });

    test('searches bound parameters too', async () => {
      const store = openStore(await kind.url());
      await record(store, sessionMeta('p1'), [
        q('SELECT * FROM users WHERE email = $1', ['zed@example.org']),
        ok,
      ]);
      const hits = await store.search('zed@example.org');
      assert.equal(hits.length, 1);
      assert.ok(hits[0]!.snippet.includes('\u0001zed@example.org\u0002'), hits[0]!.snippet);
      await store.close();
    });

    test('filters by user, target, time, session and failed statements', async () => {
      const store = openStore(await kind.url());
      await record(store, sessionMeta('a', { user: 'alice', target: 'app', startedAtUs: T0 }), [
        q('SELECT widget FROM w'),
        ok,
        q('SELECT widget FROM nope'),
        err,
      ]);
      await record(store, sessionMeta('b', { user: 'bob', target: 'billing', startedAtUs: T0 + 1_000_000 }), [
        q('SELECT widget'),
        ok,
      ]);
      assert.equal((await store.search('widget')).length, 3);
      assert.deepEqual(
        (await store.search('widget', { user: 'bob' })).map((h) => h.sessionId),
        ['b'],
      );
      assert.equal((await store.search('widget', { target: 'app' })).length, 2);
      assert.deepEqual(
        (await store.search('widget', { sinceUs: T0 + 500_000 })).map((h) => h.sessionId),
        ['b'],
      );
      assert.equal((await store.search('widget', { untilUs: T0 + 500_000 })).length, 2);
      assert.equal((await store.search('widget', { sessionId: 'a' })).length, 2);
      const failed = await store.search('widget', { errors: true });
      assert.deepEqual(
        failed.map((h) => [h.sessionId, h.seq, h.failed]),
        [['a', 4, true]],
      );
      await store.close();
    });

    test('a pipelined error marks the statement it answers, not the last one sent', async () => {
      const store = openStore(await kind.url());
      await record(store, sessionMeta('pipe'), [
        q('SELECT alpha'),
        q('SELECT beta'),
        q('SELECT gamma'),
        ok,
        err,
      ]);
      const failed = await store.search('beta', { errors: true });
      assert.deepEqual(
        failed.map((h) => h.seq),
        [3],
      );
      assert.equal((await store.search('gamma', { errors: true })).length, 0);
      await store.close();
    });

    test('all words must match; quoted phrases and prefixes work', async () => {
      const store = openStore(await kind.url());
      await record(store, sessionMeta('w'), [
        q('SELECT customer_name FROM orders'),
        ok,
        q('SELECT name FROM customers'),
        ok,
      ]);
      assert.equal((await store.search('customer name')).length, 1);
      assert.equal((await store.search('"customer name"')).length, 1);
      assert.equal((await store.search('custom*')).length, 2);
      assert.equal((await store.search('orders customers')).length, 0);
      await assert.rejects(store.search('  -- '), { code: 'DBTAPE_STORE_BAD_QUERY' });
      await store.close();
    });

    test('a quoted phrase does not run from a statement into its parameters', async () => {
      const store = openStore(await kind.url());
      await record(store, sessionMeta('ph'), [
        {
          kind: 'query',
          sql: 'SELECT * FROM t WHERE owner = $1',
          params: ['zebra crossing'],
          via: 'extended',
        },
        ok,
      ]);
      // Both words are in the event, and each part's own phrases match...
      assert.equal((await store.search('owner zebra')).length, 1);
      assert.equal((await store.search('"zebra crossing"')).length, 1);
      assert.equal((await store.search('"where owner"')).length, 1);
      // ...but the statement's last word and the first parameter's are not a phrase.
      assert.equal((await store.search('"1 zebra"')).length, 0);
      await store.close();
    });

    test('indexes denied statements', async () => {
      const store = openStore(await kind.url());
      await record(store, sessionMeta('d'), [
        { kind: 'denied', rule: 'read-only', sql: 'DROP TABLE payroll', message: 'no' },
      ]);
      const [hit] = await store.search('payroll');
      assert.equal(hit?.kind, 'denied');
      await store.close();
    });
  });
}

describe('snippets', () => {
  test('marks every match and cannot be faked by marker characters in the text', () => {
    const terms = parseSearchText('foo');
    assert.equal(buildSnippet('a foo b FOO', terms), 'a \u0001foo\u0002 b \u0001FOO\u0002');
    assert.equal(buildSnippet('\u0001foo', terms), '\u2401\u0001foo\u0002');
  });

  test('cuts long text around the first match', () => {
    const text = `${'x '.repeat(200)}needle ${'y '.repeat(200)}`;
    const s = buildSnippet(text, parseSearchText('needle'));
    assert.ok(s.startsWith('…') && s.endsWith('…'));
    assert.ok(s.length < 200);
    assert.ok(s.includes('\u0001needle\u0002'));
  });
});
