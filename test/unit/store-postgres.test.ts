/**
 * What only the PostgreSQL store has: its migrations in a database, the one-writer lock (and
 * taking it again after the writer's connection is lost), and URLs whose password must never
 * reach a message. Its SessionStore contract is tested with SQLite's (store-sqlite,
 * store-search, encryption-store).
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SessionEvent } from '../../src/model/session.js';
import { openStore, openStoreReady } from '../../src/store/open-store.js';
import { PG_MIGRATIONS } from '../../src/store/postgres/pg-migrations.js';
import type { SessionStore } from '../../src/store/session-store.js';
import { sessionMeta } from '../support/session-meta.js';
import { pgAdminOn, throwawayPgDatabase } from '../support/store-kinds.js';

function startBatch(id: string) {
  const m = sessionMeta(id);
  const event = {
    seq: 1,
    atUs: m.startedAtUs,
    offsetUs: 0,
    kind: 'start',
    meta: m,
  } as unknown as SessionEvent;
  return { sessions: [m], events: [{ sessionId: id, event }], ends: [] };
}

/** `n` query events of session `id`, numbered from `first`. */
function queryBatch(id: string, first: number, n: number) {
  const m = sessionMeta(id);
  return {
    sessions: [],
    events: Array.from({ length: n }, (_, i) => ({
      sessionId: id,
      event: {
        seq: first + i,
        atUs: m.startedAtUs + first + i,
        offsetUs: first + i,
        kind: 'query',
        sql: `SELECT ${first + i}`,
        via: 'simple',
      } as SessionEvent,
    })),
    ends: [],
  };
}

describe('PostgreSQL store: opening', () => {
  test('creates its tables in an empty database and applies each migration once, also when two open it at once', async () => {
    const { url } = await throwawayPgDatabase();
    // Two at once: one migrates, the other waits for its lock and finds the schema current.
    const both = await Promise.all([openStoreReady(url), openStoreReady(url)]);
    await Promise.all(both.map((s) => s.close()));
    await (await openStoreReady(url)).close();
    const sql = pgAdminOn(url);
    const rows = await sql`SELECT version FROM schema_version ORDER BY version`;
    assert.deepEqual(
      rows.map((r) => r.version),
      PG_MIGRATIONS.map((m) => m.version),
    );
    await sql.end();
  });

  test('a store with a newer schema is refused', async () => {
    const { url } = await throwawayPgDatabase();
    await (await openStoreReady(url)).close();
    const sql = pgAdminOn(url);
    await sql`INSERT INTO schema_version VALUES (99, 'future', 0)`;
    await sql.end();
    await assert.rejects(openStoreReady(url), { code: 'DBTAPE_STORE_SCHEMA_TOO_NEW' });
    // The same through the first call of a store opened without waiting (the read commands).
    const lazy = openStore(url, { readonly: true });
    await assert.rejects(lazy.listSessions(), { code: 'DBTAPE_STORE_SCHEMA_TOO_NEW' });
    await lazy.close();
  });

  test('reading a database that holds no store says so', async () => {
    const { url } = await throwawayPgDatabase();
    const store = openStore(url, { readonly: true });
    await assert.rejects(store.listSessions(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'DBTAPE_STORE_OPEN_FAILED');
      assert.match(err.message, /^dbtape: no session store at postgres:\/\/.*nothing was recorded there yet/);
      return true;
    });
    await store.close();
  });

  test('a database that is not UTF8 is refused: recorded text is any Unicode', async () => {
    const { url } = await throwawayPgDatabase(
      "ENCODING 'LATIN1' LC_COLLATE 'C' LC_CTYPE 'C' TEMPLATE template0",
    );
    await assert.rejects(openStoreReady(url), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'DBTAPE_STORE_OPEN_FAILED');
      assert.match(err.message, /encoding LATIN1; it must be UTF8/);
      return true;
    });
  });

  test('a password in the URL never reaches a message', async () => {
    const secret = 'zq-topsecret-9';
    // Nothing listens on port 1.
    const store = openStore(`postgres://dbtape:${secret}@127.0.0.1:1/dbtape`);
    await assert.rejects(store.listSessions(), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'DBTAPE_STORE_OPEN_FAILED');
      assert.match(
        err.message,
        /^dbtape: cannot open the session store at postgres:\/\/dbtape:\*+@127\.0\.0\.1:1\/dbtape: /,
      );
      assert.ok(!err.message.includes(secret), err.message);
      return true;
    });
    await store.close();
    assert.throws(
      () => openStore(`postgres://dbtape:${secret}@/`),
      (err: Error & { code?: string }) =>
        err.code === 'DBTAPE_STORE_URL_INVALID' && !err.message.includes(secret),
    );
  });
});

describe('PostgreSQL store: one writer', () => {
  test('a second writer is refused while the first runs; readers and other openers are not', async () => {
    const { url } = await throwawayPgDatabase();
    const first = await openStoreReady(url, { journal: true });
    await first.writeBatch(startBatch('w1'));
    await assert.rejects(openStoreReady(url, { journal: true }), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'DBTAPE_STORE_LOCKED');
      assert.match(err.message, /^dbtape: another dbtape serve is already recording into the session store/);
      return true;
    });
    const reader = openStore(url, { readonly: true });
    assert.equal((await reader.listSessions()).length, 1);
    await reader.close();
    await first.close();
    const second = await openStoreReady(url, { journal: true });
    await second.writeBatch(startBatch('w2'));
    await second.close();
  });

  test('the writer takes its lock again after losing its connection, and keeps the chain', async () => {
    const { url } = await throwawayPgDatabase();
    const store = await openStoreReady(url, { journal: true });
    await store.writeBatch(startBatch('l1'));
    const admin = pgAdminOn(url);
    await admin`
      SELECT pg_terminate_backend(pid) FROM pg_locks
      WHERE locktype = 'advisory' AND classid = ${0x64627470} AND objid = 1 AND granted
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`;
    // The driver learns of the lost connection on its next use: that write may fail (the recorder
    // retries failed writes); one after it must succeed, under the lock again.
    const m = sessionMeta('l1');
    const next = (seq: number) => ({
      sessions: [],
      events: [
        {
          sessionId: 'l1',
          event: {
            seq,
            atUs: m.startedAtUs + seq,
            offsetUs: seq,
            kind: 'tx',
            state: 'begin',
          } as SessionEvent,
        },
      ],
      ends: [],
    });
    let written = false;
    for (let i = 0; i < 5 && !written; i++) {
      written = await store.writeBatch(next(2)).then(
        () => true,
        () => false,
      );
    }
    assert.ok(written, 'a write succeeds after the connection was lost');
    await assert.rejects(openStoreReady(url, { journal: true }), { code: 'DBTAPE_STORE_LOCKED' });
    await store.writeBatch(next(3));
    assert.equal((await store.getSession('l1'))?.lastSeq, 3);
    await admin.end();
    const { verifyStore } = await import('../../src/integrity/verify.js');
    const report = await verifyStore((store as SessionStore).integrity!(), {});
    assert.deepEqual(report.findings, []);
    await store.close();
  });

  test('writes cut off by a lost connection are each either stored or refused, never both', async () => {
    // A batch whose connection dies during its COMMIT may be committed though the write failed;
    // the recorder then writes the same sequence numbers again. The store must say which it was.
    const { url } = await throwawayPgDatabase();
    const store = await openStoreReady(url, { journal: true });
    await store.writeBatch(startBatch('c1'));
    const admin = pgAdminOn(url);
    let next = 2;
    let refused = 0;
    for (let round = 0; round < 20; round++) {
      const batch = queryBatch('c1', next, 300);
      const kill = new Promise((r) => setTimeout(r, round % 5)).then(
        () => admin`
          SELECT pg_terminate_backend(pid) FROM pg_locks
          WHERE locktype = 'advisory' AND classid = ${0x64627470} AND objid = 1 AND granted
        AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
      );
      let stored = false;
      for (let attempt = 0; attempt < 10 && !stored; attempt++) {
        stored = await store.writeBatch(batch).then(
          () => true,
          () => false,
        );
        if (!stored) refused++;
      }
      await kill;
      assert.ok(stored, `round ${round}: the batch was stored once the connection was back`);
      next += 300;
    }
    const s = await store.getSession('c1');
    assert.equal(s?.lastSeq, next - 1);
    assert.equal(s?.events, next - 1, 'no batch stored twice or lost');
    const { verifyStore } = await import('../../src/integrity/verify.js');
    assert.deepEqual((await verifyStore((store as SessionStore).integrity!(), {})).findings, []);
    assert.ok(refused >= 0);
    await admin.end();
    await store.close();
  });

  test('a check whose connection is lost fails clearly, whenever it happens, and never crashes dbtape', async () => {
    // postgres.js 3.4 throws an uncaught TypeError from a timer when a query goes to a reserved or
    // transaction connection that has just died; the check must neither do that nor read on
    // outside its snapshot on a new connection. Ended at many moments: any uncaught error fails
    // the whole test file.
    const { url } = await throwawayPgDatabase();
    const store = await openStoreReady(url, { journal: true });
    await store.writeBatch(startBatch('v1'));
    for (let first = 2; first < 12_002; first += 2000) await store.writeBatch(queryBatch('v1', first, 2000));
    const { verifyStore } = await import('../../src/integrity/verify.js');
    assert.deepEqual((await verifyStore((store as SessionStore).integrity!(), {})).findings, []);
    const admin = pgAdminOn(url);
    let cut = 0;
    for (let round = 0; round < 20; round++) {
      const checking = verifyStore((store as SessionStore).integrity!(), {});
      await new Promise((r) => setTimeout(r, round * 3));
      await admin`
        SELECT pg_terminate_backend(pid) FROM pg_stat_activity
        WHERE datname = current_database() AND pid <> pg_backend_pid()
          AND xact_start IS NOT NULL AND query NOT LIKE '%pg_terminate_backend%'`;
      const outcome = await checking.then(
        (report) => report,
        (err: Error & { code?: string }) => err,
      );
      if (outcome instanceof Error) {
        assert.equal(outcome.code, 'DBTAPE_STORE_READ_FAILED', outcome.message);
        assert.match(outcome.message, /connection to the session store was lost during the check/);
        cut++;
      } else {
        assert.deepEqual(outcome.findings, [], 'a check that finished saw a whole snapshot');
      }
    }
    assert.ok(cut > 0, 'no check was cut off: the test did not test anything');
    // The store goes on working.
    assert.deepEqual((await verifyStore((store as SessionStore).integrity!(), {})).findings, []);
    await admin.end();
    await store.close();
  });
});
