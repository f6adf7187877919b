/**
 * The strict-mode journal (store/sqlite/sqlite-journal.ts): a durable batch is one fsynced row
 * first and reaches the store proper later. Reads see it at once; a process killed before the
 * move loses nothing (the next open applies it, once, in order, and the chain verifies); with
 * encryption the journal holds no clear text.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { pathToFileURL } from 'node:url';
import Database from 'better-sqlite3';
import { createKeyringFile, loadKeyring } from '../../src/integrity/keyring.js';
import { verifyStore } from '../../src/integrity/verify.js';
import type { SessionEvent, SessionMeta } from '../../src/model/session.js';
import { openStore } from '../../src/store/open-store.js';
import type { SessionStore, WriteBatch } from '../../src/store/session-store.js';
import { sessionMeta } from '../support/session-meta.js';

const dir = mkdtempSync(join(tmpdir(), 'dbtape-journal-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const T0 = 1_700_000_000_000_000;
const ev = (seq: number, body: Record<string, unknown>): SessionEvent =>
  ({ seq, atUs: T0 + seq * 1000, offsetUs: seq * 1000, ...body }) as unknown as SessionEvent;

/** Batch i of a session: its start in the first, then one query per batch. */
function batch(m: SessionMeta, i: number, sql: (i: number) => string): WriteBatch {
  const events =
    i === 0
      ? [ev(1, { kind: 'start', meta: m })]
      : [ev(i + 1, { kind: 'query', sql: sql(i), via: 'simple' })];
  return {
    sessions: i === 0 ? [m] : [],
    events: events.map((event) => ({ sessionId: m.id, event })),
    ends: [],
  };
}

/** Batches 0..count-1 of a session, each written durable (so each waits in the journal). */
async function writeDurable(
  store: SessionStore,
  m: SessionMeta,
  count: number,
  sql: (i: number) => string,
): Promise<void> {
  for (let i = 0; i < count; i++) await store.writeBatch(batch(m, i, sql), { durable: true });
}

function journalRows(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return (db.prepare('SELECT count(*) AS n FROM journal').get() as { n: number }).n;
  } finally {
    db.close();
  }
}

const src = (rel: string) => pathToFileURL(join(import.meta.dirname, '../../src', rel)).href;

/**
 * A writer in its own process: durable batches for one session, then SIGKILL before the
 * journal is applied. It opens the store as serve's store thread does (`inlineSync`): each fsync
 * blocks the thread, so the 100 ms apply timer cannot run between the writes and the kill however
 * slow the disk is (waiting on the thread pool, a write slower than 100 ms let it apply them all).
 */
function writeAndDie(path: string, batches: number, canary: string, keyFile: string | null): void {
  const code = `
    const { openStore } = await import(${JSON.stringify(src('store/open-store.ts'))});
    const { loadKeyring } = await import(${JSON.stringify(src('integrity/keyring.ts'))});
    const m = ${JSON.stringify(sessionMeta('crashed', { startedAtUs: T0 }))};
    const ev = (seq, body) => ({ seq, atUs: ${T0} + seq * 1000, offsetUs: seq * 1000, ...body });
    const keyFile = ${JSON.stringify(keyFile)};
    const store = openStore(${JSON.stringify(`sqlite:${path}`)}, { journal: true, inlineSync: true, keyring: keyFile ? loadKeyring(keyFile) : null });
    for (let i = 0; i < ${batches}; i++) {
      const event = i === 0 ? ev(1, { kind: 'start', meta: m }) : ev(i + 1, { kind: 'query', sql: 'SELECT ' + i + ' AS ${canary}', via: 'simple' });
      await store.writeBatch({ sessions: i === 0 ? [m] : [], events: [{ sessionId: m.id, event }], ends: [] }, { durable: true });
    }
    process.kill(process.pid, 'SIGKILL');
  `;
  const r = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', code], {
    encoding: 'utf8',
    timeout: 60_000,
  });
  assert.equal(r.signal, 'SIGKILL', `the writer should have killed itself: ${r.stderr}`);
}

describe('strict-mode journal', () => {
  test('durable batches are readable at once, searchable, in order with later writes, and verify', async () => {
    const path = join(dir, 'live.db');
    const store = openStore(`sqlite:${path}`, { journal: true });
    const m = sessionMeta('live', { startedAtUs: T0 });
    await writeDurable(store, m, 20, (n) => `SELECT ${n} AS journaled`);
    assert.ok(journalRows(path) > 0, 'durable batches wait in the journal');
    // A non-durable batch written after them lands after them.
    await store.writeBatch(batch(m, 20, () => 'SELECT direct'));
    const events = await store.getEvents(m.id);
    assert.deepEqual(
      events.map((e) => e.seq),
      Array.from({ length: 21 }, (_, i) => i + 1),
    );
    assert.equal((await store.search('journaled')).length, 19);
    assert.equal(journalRows(path), 0);
    assert.deepEqual((await verifyStore(store.integrity!())).findings, []);
    await store.close();
  });

  test('a durable write is fsynced with or without the journal', async () => {
    for (const journal of [true, false]) {
      const path = join(dir, `synced-${journal}.db`);
      const store = openStore(`sqlite:${path}`, { journal });
      // The store's WAL syncer counts the fdatasyncs it made.
      const wal = (store as unknown as { wal: { syncs: number } }).wal;
      const m = sessionMeta(`synced-${journal}`, { startedAtUs: T0 });
      await store.writeBatch(batch(m, 0, () => ''));
      assert.equal(wal.syncs, 0, 'a fast-mode write is not fsynced');
      await store.writeBatch(
        batch(m, 1, () => 'SELECT 1'),
        { durable: true },
      );
      assert.equal(wal.syncs, 1, `journal: ${journal}`);
      assert.equal(journalRows(path), journal ? 1 : 0);
      await store.close();
    }
  });

  test('the background apply empties the journal without a read', async () => {
    const path = join(dir, 'background.db');
    const store = openStore(`sqlite:${path}`, { journal: true });
    const m = sessionMeta('background', { startedAtUs: T0 });
    await writeDurable(store, m, 5, (n) => `SELECT ${n}`);
    const deadline = Date.now() + 5000;
    while (journalRows(path) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(journalRows(path), 0, 'applied within the apply window');
    await store.close();
  });

  test('a writer killed before the apply loses nothing: the next open applies the journal once', async () => {
    const path = join(dir, 'crash.db');
    writeAndDie(path, 40, 'crashcanary', null);
    const left = journalRows(path);
    assert.ok(left > 0, 'the killed writer left journaled batches');
    // A reader before the restart: what is applied verifies, and verify says what waits.
    const reader = openStore(`sqlite:${path}`, { readonly: true });
    const before = await verifyStore(reader.integrity!());
    assert.deepEqual(before.findings, []);
    assert.equal(before.journaled, left);
    await reader.close();
    const store = openStore(`sqlite:${path}`, { journal: true });
    assert.equal(journalRows(path), 0);
    assert.equal(await store.closeOpenSessions('proxy_crash', T0 + 1e6), 1);
    const events = await store.getEvents('crashed');
    assert.deepEqual(
      events.map((e) => e.seq),
      Array.from({ length: 41 }, (_, i) => i + 1),
      'every durable event, once, in order, then the crash end',
    );
    assert.equal(events.at(-1)!.kind, 'end');
    const report = await verifyStore(store.integrity!());
    assert.deepEqual(report.findings, []);
    assert.equal(report.journaled, 0);
    await store.close();
    // Opening again applies nothing twice.
    const again = openStore(`sqlite:${path}`, { journal: true });
    assert.equal((await again.getEvents('crashed')).length, 41);
    await again.close();
  });

  test('with encryption the journal holds no clear text, and recovery decrypts it', async () => {
    const path = join(dir, 'sealed.db');
    const keyFile = join(dir, 'sealed.key');
    createKeyringFile(keyFile);
    writeAndDie(path, 10, 'journalcanary', keyFile);
    assert.ok(journalRows(path) > 0);
    for (const name of readdirSync(dir).filter((f) => f.startsWith('sealed.db'))) {
      assert.ok(!readFileSync(join(dir, name)).includes('journalcanary'), `${name} holds no clear text`);
    }
    // Another writable opener (keys rotate, maybe while serve runs) leaves the journal alone.
    const rotating = openStore(`sqlite:${path}`, { keyring: loadKeyring(keyFile) });
    await rotating.rewrapKeys!(loadKeyring(keyFile));
    await rotating.close();
    assert.ok(journalRows(path) > 0, 'only the writer applies the journal');
    const store = openStore(`sqlite:${path}`, { journal: true, keyring: loadKeyring(keyFile) });
    const events = await store.getEvents('crashed');
    assert.equal(events.length, 10);
    assert.match(JSON.stringify(events.at(-1)), /journalcanary/);
    assert.equal((await store.search('journalcanary')).length, 9, 'one hit per statement');
    await store.close();
  });
});
