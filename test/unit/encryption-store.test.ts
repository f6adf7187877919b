/**
 * Encryption at rest: no statement text, parameter, result value or message reaches the store
 * files in clear; whole-word search still finds its session through the blind index; reading
 * needs the key; rotating the master key re-wraps data keys and leaves the recordings as they were.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { BlindIndex, normalizedWords } from '../../src/integrity/blind-index.js';
import {
  createKeyringFile,
  Keyring,
  loadKeyring,
  newKeyring,
  parseKeyring,
  rotateKeyringFile,
} from '../../src/integrity/keyring.js';
import { verifyStore } from '../../src/integrity/verify.js';
import type { SessionMeta } from '../../src/model/session.js';
import { Recorder } from '../../src/recording/recorder.js';
import { openStore, openStoreReady } from '../../src/store/open-store.js';
import { sessionMeta } from '../support/session-meta.js';
import { POSTGRES, pgAdminOn, STORE_KINDS } from '../support/store-kinds.js';

const dir = mkdtempSync(join(tmpdir(), 'dbtape-encryption-'));
after(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
/** A session with an id of its own, each starting a millisecond after the last. */
const nextMeta = (): SessionMeta => sessionMeta(`e${++n}`, { startedAtUs: 1_700_000_000_000_000 + n * 1000 });

/** Distinct words that appear nowhere else, one per kind of recorded text. */
const CANARY = {
  sql: 'zqxsqlcanary',
  param: 'zqxparamcanary',
  row: 'zqxrowcanary',
  error: 'zqxerrorcanary',
  notice: 'zqxnoticecanary',
  denied: 'zqxdeniedcanary',
  payload: 'zqxpayloadcanary',
  detail: 'zqxdetailcanary',
  column: 'zqxcolumncanary',
  application: 'zqxapplicationcanary',
};

function storeFiles(folder: string): Buffer {
  return Buffer.concat(
    readdirSync(folder)
      .filter((f) => /\.db(-wal|-shm)?$/.test(f))
      .map((f) => readFileSync(join(folder, f))),
  );
}

function assertNoCanary(bytes: Buffer, when: string): void {
  for (const [what, canary] of Object.entries(CANARY)) {
    assert.equal(
      bytes.indexOf(Buffer.from(canary).toString('hex')),
      -1,
      `${what} canary found in hex ${when}`,
    );
    for (const enc of ['utf8', 'utf16le'] as const) {
      assert.equal(
        bytes.indexOf(Buffer.from(canary, enc)),
        -1,
        `${what} canary found in the store files ${when}`,
      );
    }
  }
}

/** What the test reads of a store besides its interface: every byte kept, bodies, key versions. */
interface RawStore {
  readonly url: string;
  /** Everything the store keeps, as bytes (files for SQLite; every table's rows for PostgreSQL). */
  bytes(): Promise<Buffer>;
  bodies(): Promise<unknown[]>;
  keyVersions(): Promise<number[]>;
  /** A store whose first query event's ciphertext has one bit flipped; restore() undoes it. */
  withFlippedQueryBody(): Promise<{ url: string; restore(): Promise<void> }>;
  close(): Promise<void>;
}

function sqliteRaw(): RawStore {
  const folder = mkdtempSync(join(dir, 'store-'));
  const file = join(folder, 'rec.db');
  const read = <T>(fn: (db: Database.Database) => T): T => {
    const db = new Database(file, { readonly: true });
    try {
      return fn(db);
    } finally {
      db.close();
    }
  };
  return {
    url: `sqlite:${file}`,
    bytes: async () => storeFiles(folder),
    bodies: async () => read((db) => db.prepare('SELECT body, hash FROM events ORDER BY id').all()),
    keyVersions: async () =>
      read((db) =>
        (db.prepare('SELECT DISTINCT key_version AS v FROM session_keys').all() as { v: number }[]).map(
          (r) => r.v,
        ),
      ),
    async withFlippedQueryBody() {
      const copy = join(folder, 'copy.db');
      const db = new Database(file, { readonly: true });
      await db.backup(copy);
      db.close();
      const w = new Database(copy);
      const row = w.prepare("SELECT id, body FROM events WHERE kind = 'query'").get() as {
        id: number;
        body: Buffer;
      };
      row.body[20] = row.body[20]! ^ 1;
      w.prepare('UPDATE events SET body = ? WHERE id = ?').run(row.body, row.id);
      w.close();
      return { url: `sqlite:${copy}`, restore: async () => {} };
    },
    close: async () => {},
  };
}

async function postgresRaw(): Promise<RawStore> {
  const url = await POSTGRES.url();
  const sql = pgAdminOn(url);
  return {
    url,
    async bytes() {
      // Each row as text (bytea as hex) and the search index's lexemes: assertNoCanary looks for
      // the canaries and for their hex.
      const tables = ['sessions', 'events', 'session_keys', 'store_keys', 'integrity_state', 'checkpoints'];
      const parts: string[] = [];
      for (const t of tables) {
        for (const r of await sql.unsafe(`SELECT t::text AS row FROM ${t} t`)) parts.push(r.row as string);
      }
      return Buffer.from(parts.join('\n'));
    },
    bodies: async () => [...(await sql`SELECT body, hash FROM events ORDER BY session_sid, seq`)],
    keyVersions: async () =>
      (await sql`SELECT DISTINCT key_version AS v FROM session_keys`).map((r) => r.v as number),
    async withFlippedQueryBody() {
      const [row] = await sql`SELECT session_sid, seq, body FROM events WHERE kind = 'query' LIMIT 1`;
      const body = Buffer.from(row!.body as Buffer);
      body[20] = body[20]! ^ 1;
      await sql`UPDATE events SET body = ${body} WHERE session_sid = ${row!.session_sid} AND seq = ${row!.seq}`;
      return {
        url,
        restore: async () => {
          await sql`UPDATE events SET body = ${row!.body as Buffer} WHERE session_sid = ${row!.session_sid} AND seq = ${row!.seq}`;
        },
      };
    },
    close: () => sql.end(),
  };
}

for (const kind of STORE_KINDS) {
  describe(`encryption at rest (${kind.name})`, () => {
    let raw: RawStore;
    let url: string;
    const keyFile = join(dir, `master-${kind.name}.key`);
    const ring = createKeyringFile(keyFile);
    const m = nextMeta();
    before(async () => {
      raw = kind.name === 'sqlite' ? sqliteRaw() : await postgresRaw();
      url = raw.url;
    });
    after(() => raw.close());

    test('no statement, parameter, result, message or payload reaches the store files in clear', async () => {
      const store = openStore(url, { keyring: ring });
      const recorder = new Recorder({ store, capture: 'rows' });
      const rec = recorder.open(m);
      rec.event({
        kind: 'query',
        sql: `SELECT ${CANARY.sql}, Café FROM user_id WHERE x = $1`,
        params: [`${CANARY.param} value`],
        via: 'extended',
      });
      rec.event({
        kind: 'result',
        tag: 'SELECT 1',
        rows: 1,
        durationUs: 10,
        columns: [{ name: CANARY.column, type: 'text' }],
        rowData: [[`${CANARY.row}`, null]],
      });
      rec.event({ kind: 'error', code: '42P01', message: `relation "${CANARY.error}" does not exist` });
      rec.event({ kind: 'notice', severity: 'NOTICE', code: '00000', message: `note ${CANARY.notice}` });
      rec.event({
        kind: 'denied',
        rule: 'no-drop',
        sql: `DROP TABLE ${CANARY.denied}`,
        message: 'dbtape: denied',
      });
      rec.event({ kind: 'notification', channel: 'ch', payload: CANARY.payload });
      rec.event({ kind: 'command', command: 'COM_INIT_DB', detail: CANARY.detail });
      // set_config('application_name', <any value>, false): kept out of the clear session row.
      rec.event({ kind: 'client', application: CANARY.application });
      await recorder.flush();
      assertNoCanary(await raw.bytes(), 'while the store is open');
      rec.event({ kind: 'end', reason: 'client_closed', detail: CANARY.detail });
      await recorder.shutdown();
      // Read back with the key: everything is there, exactly.
      const events = await store.getEvents(m.id);
      assert.equal(events.length, 10);
      assert.deepEqual(events[8], { ...events[8]!, kind: 'client', application: CANARY.application });
      const q = events[1]!;
      assert.ok(
        q.kind === 'query' && q.sql.includes(CANARY.sql) && q.params?.[0] === `${CANARY.param} value`,
      );
      const r = events[2]!;
      assert.ok(r.kind === 'result' && r.rowData?.[0]?.[0] === CANARY.row);
      await store.close();
      assertNoCanary(await raw.bytes(), 'after closing');
    });

    test('listing metadata stays in clear and readable without the key', async () => {
      const store = openStore(url, { readonly: true });
      const s = await store.getSession(m.id);
      assert.equal(s?.user, 'alice');
      assert.equal(s?.target, 'app');
      assert.equal(s?.application, m.application, 'the startup application, not the encrypted later one');
      assert.equal((await store.listSessions()).length, 1);
      await store.close();
    });

    test('without the key, reading events or searching says the store is encrypted', async () => {
      const store = openStore(url, { readonly: true });
      await assert.rejects(store.getEvents(m.id), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'DBTAPE_STORE_ENCRYPTED');
        assert.match(
          err.message,
          /^dbtape: .* is encrypted and no key was given: .*store\.encryption_key_file/,
        );
        return true;
      });
      await assert.rejects(store.search(CANARY.sql), { code: 'DBTAPE_STORE_ENCRYPTED' });
      await store.close();
      await assert.rejects(
        openStoreReady(url),
        { code: 'DBTAPE_STORE_ENCRYPTED' },
        'no writing without the key either',
      );
    });

    test('whole words are found through the blind index; prefixes and substrings are not', async () => {
      const store = openStore(url, { readonly: true, keyring: loadKeyring(keyFile) });
      const hits = await store.search(CANARY.sql);
      assert.deepEqual(
        hits.map((h) => [h.sessionId, h.seq]),
        [[m.id, 2]],
      );
      assert.ok(hits[0]!.snippet.includes(`\u0001${CANARY.sql}\u0002`), hits[0]!.snippet);
      assert.equal((await store.search(CANARY.sql.toUpperCase())).length, 1, 'case-folded');
      assert.equal((await store.search('cafe')).length, 1, 'accents folded');
      assert.equal((await store.search(CANARY.param)).length, 1, 'parameters are indexed');
      assert.equal((await store.search('"user id"')).length, 1, 'phrases of whole words');
      assert.equal((await store.search('user_id')).length, 1, 'user_id is the phrase "user id"');
      assert.equal((await store.search(`${CANARY.denied}`)).length, 1, 'denied statements are indexed');
      assert.equal((await store.search('sqlcanary')).length, 0, 'no substring match');
      await assert.rejects(store.search('zqxsql*'), (err: Error & { code?: string }) => {
        assert.equal(err.code, 'DBTAPE_STORE_BAD_QUERY');
        assert.match(err.message, /whole word/);
        return true;
      });
      await store.close();
    });

    test('rotation re-wraps data keys; the recordings and their chain are untouched', async () => {
      const bodies = await raw.bodies();
      const rotated = rotateKeyringFile(keyFile);
      assert.deepEqual(rotated.versions, [1, 2]);
      assert.equal(statSync(keyFile).mode & 0o777, 0o600);
      const store = openStore(url, { keyring: rotated });
      assert.equal(await store.rewrapKeys!(rotated), 2, 'one session key and the index key');
      await store.close();
      assert.deepEqual(await raw.bodies(), bodies);
      assert.deepEqual(await raw.keyVersions(), [2]);
      // Only the new key is needed now.
      const onlyNew = parseKeyring(
        Buffer.from(
          rotated
            .format()
            .split('\n')
            .filter((l) => !l.startsWith('1 '))
            .join('\n'),
        ),
        'test',
      );
      assert.deepEqual(onlyNew.versions, [2]);
      const reader = openStore(url, { readonly: true, keyring: onlyNew });
      assert.equal((await reader.getEvents(m.id)).length, 10);
      assert.equal((await reader.search(CANARY.sql)).length, 1, 'the index key was re-wrapped too');
      const report = await verifyStore(reader.integrity!(), { keyring: onlyNew });
      assert.deepEqual(report.findings, []);
      await reader.close();
    });

    test('a changed ciphertext does not decrypt', async () => {
      const damaged = await raw.withFlippedQueryBody();
      const store = openStore(damaged.url, { readonly: true, keyring: loadKeyring(keyFile) });
      await assert.rejects(store.getEvents(m.id), { code: 'DBTAPE_DECRYPT_FAILED' });
      await store.close();
      await damaged.restore();
    });

    test('sessions recorded before encryption was turned on stay readable and searchable', async () => {
      const mixed = await kind.url('mixed.db');
      const clear = openStore(mixed);
      const r1 = new Recorder({ store: clear });
      const a = nextMeta();
      r1.open(a).event({ kind: 'query', sql: 'SELECT plainword', via: 'simple' });
      await r1.shutdown();
      await clear.close();
      const enc = openStore(mixed, { keyring: newKeyring() });
      const r2 = new Recorder({ store: enc });
      const b = nextMeta();
      r2.open(b).event({ kind: 'query', sql: 'SELECT secretword, plainword', via: 'simple' });
      await r2.shutdown();
      assert.deepEqual((await enc.search('plainword')).map((h) => h.sessionId).sort(), [a.id, b.id].sort());
      assert.deepEqual(
        (await enc.search('secretword')).map((h) => h.sessionId),
        [b.id],
      );
      await enc.close();
    });
  });
}

describe('keyring files', () => {
  test('versions, single-key forms, and clear errors', () => {
    const ring = newKeyring().withNewKey();
    const parsed = parseKeyring(Buffer.from(ring.format()), 'f');
    assert.deepEqual(parsed.versions, [1, 2]);
    assert.equal(parsed.current, 2);
    const key = Buffer.alloc(32, 7);
    assert.deepEqual(parseKeyring(Buffer.from(`${key.toString('base64')}\n`), 'f').versions, [1]);
    assert.deepEqual(parseKeyring(Buffer.from(key.toString('hex')), 'f').versions, [1]);
    const raw = Buffer.alloc(32, 0x80);
    assert.equal(parseKeyring(raw, 'f').fingerprint(1), new Keyring(new Map([[1, raw]])).fingerprint(1));
    assert.throws(
      () => parseKeyring(Buffer.from('1 c2hvcnQ=\n'), 'k.key'),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'DBTAPE_KEY_FILE_INVALID');
        assert.match(
          err.message,
          /^dbtape: k\.key is not a usable encryption keyring: key version 1 is not 32 bytes/,
        );
        return true;
      },
    );
    assert.throws(() => loadKeyring(join(dir, 'missing.key')), { code: 'DBTAPE_KEY_FILE_MISSING' });
  });

  test('created with mode 0600, never over an existing file', () => {
    const file = join(dir, 'keys', 'new.key');
    createKeyringFile(file);
    assert.equal(statSync(file).mode & 0o777, 0o600);
    writeFileSync(join(dir, 'keys', 'other.key'), 'x');
    assert.throws(() => createKeyringFile(file), { code: 'DBTAPE_KEY_FILE_EXISTS' });
  });

  test('unwrapping with a key version the keyring lacks names the versions', () => {
    const ring = newKeyring();
    const { wrapped } = ring.wrap(Buffer.alloc(32), Buffer.from('aad'));
    assert.throws(
      () => ring.unwrap(9, wrapped, Buffer.from('aad'), 'a data key'),
      /version 9, which the keyring does not hold \(it has 1\)/,
    );
  });
});

describe('blind index', () => {
  test('normalises words the way search does: case, accents, separators', () => {
    assert.deepEqual(normalizedWords('SELECT Café_Über, 42 FROM t1'), [
      'select',
      'cafe',
      'uber',
      '42',
      'from',
      't1',
    ]);
  });

  test('tokens are keyed: equal words give equal tokens under one key only', () => {
    const a = new BlindIndex(Buffer.alloc(32, 1));
    const b = new BlindIndex(Buffer.alloc(32, 2));
    assert.equal(a.token('users'), a.token('users'));
    assert.notEqual(a.token('users'), b.token('users'));
    assert.match(a.text('users WHERE'), /^k[0-9a-f]{16} k[0-9a-f]{16}$/);
    assert.ok(!a.text('users').includes('users'));
  });
});
