/**
 * The strict-mode journal (store/sqlite/sqlite-journal.ts): a durable batch is one record in a
 * file written with O_DSYNC first and reaches the store proper later. Reads see it at once; a process killed before the
 * move loses nothing (the next open applies it, once, in order, and the chain verifies); with
 * encryption the journal holds no clear text.
 */
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import {
  closeSync,
  constants,
  copyFileSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  readlinkSync,
  readSync,
  rmSync,
  statSync,
  writeSync,
} from 'node:fs';
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
import { journalFilePath, RECORD_HEADER_BYTES } from '../../src/store/sqlite/journal-file.js';
import { journaledBatches } from '../../src/store/sqlite/sqlite-journal.js';
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

/** Batches journaled and not applied, as a reader finds them. */
function journalRows(path: string): number {
  const db = new Database(path, { readonly: true });
  try {
    return journaledBatches(db);
  } finally {
    db.close();
  }
}

/** The open flags of this process's descriptor on `file` (/proc/self/fdinfo), or null. */
function openFlags(file: string): number | null {
  for (const fd of readdirSync('/proc/self/fd')) {
    let target: string;
    try {
      target = readlinkSync(`/proc/self/fd/${fd}`);
    } catch {
      continue;
    }
    if (target !== file) continue;
    const flags = /^flags:\s+([0-7]+)/m.exec(readFileSync(`/proc/self/fdinfo/${fd}`, 'utf8'));
    return flags ? Number.parseInt(flags[1]!, 8) : null;
  }
  return null;
}

const src = (rel: string) => pathToFileURL(join(import.meta.dirname, '../../src', rel)).href;

/**
 * A writer in its own process: durable batches for one session, then SIGKILL before the
 * journal is applied. It opens the store as serve's store thread does (`inlineSync`): each fsync
 * blocks the thread, so the 100 ms apply timer cannot run between the writes and the kill however
 * slow the disk is (waiting on the thread pool, a write slower than 100 ms let it apply them all).
 *
 * `outcomes`: from the second statement on, each batch opens with the previous statement's outcome
 * (an error for every third), and the first half is written without `durable`, so applied by the
 * writer itself: the journal then holds outcomes of statements the killed writer applied.
 */
function writeAndDie(
  path: string,
  batches: number,
  canary: string,
  keyFile: string | null,
  outcomes = false,
): void {
  const code = `
    const { openStore } = await import(${JSON.stringify(src('store/open-store.ts'))});
    const { loadKeyring } = await import(${JSON.stringify(src('integrity/keyring.ts'))});
    const m = ${JSON.stringify(sessionMeta('crashed', { startedAtUs: T0 }))};
    const ev = (seq, body) => ({ seq, atUs: ${T0} + seq * 1000, offsetUs: seq * 1000, ...body });
    const keyFile = ${JSON.stringify(keyFile)};
    const store = openStore(${JSON.stringify(`sqlite:${path}`)}, { journal: true, inlineSync: true, keyring: keyFile ? loadKeyring(keyFile) : null });
    const outcomes = ${outcomes};
    let seq = 0;
    for (let i = 0; i < ${batches}; i++) {
      const events = [];
      if (i === 0) events.push(ev(++seq, { kind: 'start', meta: m }));
      else {
        if (outcomes && i > 1)
          events.push(ev(++seq, (i - 1) % 3 === 0
            ? { kind: 'error', code: '22012', message: 'division by zero' }
            : { kind: 'result', tag: 'SELECT 1', rows: 1, durationUs: 1 }));
        events.push(ev(++seq, { kind: 'query', sql: 'SELECT ' + i + ' AS ${canary}', via: 'simple' }));
      }
      const durable = !outcomes || i >= ${batches} / 2;
      await store.writeBatch({ sessions: i === 0 ? [m] : [], events: events.map((event) => ({ sessionId: m.id, event })), ends: [] }, { durable });
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

  test('a durable write is synced: through the O_DSYNC journal file, or by an fsync of the WAL without it', async () => {
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
      assert.equal(journalRows(path), journal ? 1 : 0);
      if (journal) {
        assert.equal(wal.syncs, 0, 'the journal record is durable by itself');
        const flags = openFlags(journalFilePath(path));
        assert.ok(flags !== null, 'the writer holds the journal file open');
        assert.equal(flags & constants.O_DSYNC, constants.O_DSYNC, 'opened with O_DSYNC');
      } else {
        assert.equal(wal.syncs, 1);
      }
      await store.close();
    }
  });

  test('a writer that never writes durably makes no journal file', async () => {
    const path = join(dir, 'fast-only.db');
    const store = openStore(`sqlite:${path}`, { journal: true });
    const m = sessionMeta('fast-only', { startedAtUs: T0 });
    await store.writeBatch(batch(m, 0, () => ''));
    await store.writeBatch(batch(m, 1, () => 'SELECT 1'));
    await store.close();
    assert.ok(!existsSync(journalFilePath(path)));
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

  test('a writer killed before the apply: outcomes in the journal link to the statements it applied, and verify', async () => {
    const path = join(dir, 'crash-outcomes.db');
    writeAndDie(path, 40, 'outcomecanary', null, true);
    assert.ok(journalRows(path) > 0, 'the killed writer left journaled batches');
    const store = openStore(`sqlite:${path}`, { journal: true });
    assert.equal(await store.closeOpenSessions('proxy_crash', T0 + 1e6), 1);
    const hits = await store.search('outcomecanary', { limit: 100 });
    const byStatement = new Map(hits.map((h) => [Number(/SELECT (\d+)/.exec(h.sql)![1]), h.failed]));
    // Statement j's outcome is in batch j + 1, an error when j is a multiple of 3; the last has none.
    assert.deepEqual(
      [...byStatement].sort(([a], [b]) => a - b),
      Array.from({ length: 39 }, (_, k) => [k + 1, k + 1 === 39 ? null : (k + 1) % 3 === 0]),
    );
    assert.deepEqual((await verifyStore(store.integrity!())).findings, []);
    await store.close();
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

  test('once applied, the file is reused from its start as a new generation; a crash then loses nothing', async () => {
    const path = join(dir, 'reuse.db');
    const file = journalFilePath(path);
    const store = openStore(`sqlite:${path}`, { journal: true });
    const m = sessionMeta('reuse', { startedAtUs: T0 });
    // 45 batches of 200 KB: past the 8 MiB after which an applied journal starts again.
    const pad = 'x'.repeat(200 * 1024);
    await writeDurable(store, m, 46, (n) => `SELECT ${n} AS big, '${pad}'`);
    const deadline = Date.now() + 10_000;
    while (journalRows(path) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    assert.equal(journalRows(path), 0, 'applied');
    const sizeBefore = statSync(file).size;
    assert.equal(recordGeneration(file), 1);
    // Three more, written without yielding to the event loop, so the 100 ms apply cannot run
    // before the copy below: that copy is what a crash at this moment would leave on disk.
    for (let i = 46; i < 49; i++)
      await store.writeBatch(
        batch(m, i, (n) => `SELECT ${n} AS after_restart`),
        { durable: true },
      );
    const image = (name: string) => {
      for (const suffix of ['', '-wal', '-strict'])
        copyFileSync(`${path}${suffix}`, join(dir, `${name}${suffix}`));
      return join(dir, name);
    };
    const whole = image('reuse-crash.db');
    const torn = image('reuse-torn.db');
    assert.equal(recordGeneration(file), 2, 'the file starts again, as generation 2');
    assert.equal(statSync(file).size, sizeBefore, 'and does not grow');
    await store.close();

    // The crash image: the three batches of generation 2 are applied once; the generation-1
    // records after them in the file are not applied again.
    const recovered = openStore(`sqlite:${whole}`, { journal: true });
    assert.deepEqual(
      (await recovered.getEvents('reuse')).map((e) => e.seq),
      Array.from({ length: 49 }, (_, i) => i + 1),
    );
    assert.equal((await recovered.search('after_restart')).length, 3);
    assert.deepEqual((await verifyStore(recovered.integrity!())).findings, []);
    await recovered.close();

    // A torn last record (its last byte never reached the disk) ends the journal before it.
    const tornFile = journalFilePath(torn);
    const fd = openSync(tornFile, 'r+');
    const at = lastRecordEnd(tornFile, 3) - 1;
    const byte = Buffer.alloc(1);
    readSync(fd, byte, 0, 1, at);
    writeSync(fd, Buffer.of(byte[0]! ^ 0xff), 0, 1, at);
    closeSync(fd);
    const partial = openStore(`sqlite:${torn}`, { journal: true });
    assert.equal((await partial.getEvents('reuse')).length, 48);
    assert.deepEqual((await verifyStore(partial.integrity!())).findings, []);
    await partial.close();
  });
});

/** The generation of the journal file's first record. */
function recordGeneration(file: string): number {
  return readFileSync(file).readUInt32BE(8);
}

/** Where the n-th record from the file's start ends. */
function lastRecordEnd(file: string, n: number): number {
  const bytes = readFileSync(file);
  let at = 0;
  for (let i = 0; i < n; i++) at += RECORD_HEADER_BYTES + bytes.readUInt32BE(at + 4);
  return at;
}
