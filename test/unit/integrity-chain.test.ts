/**
 * The hash chain, seals and signed checkpoints: the primitives, how the store writes them (every
 * writer, crash recovery and gaps included), and what verify says about targeted damage.
 */
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import {
  type EventHeader as EventHeaderFields,
  eventHash,
  genesisHash,
  sealHash,
  ZERO_HASH,
} from '../../src/integrity/chain.js';
import { checkpointMessage, parseCheckpoint, signCheckpoint } from '../../src/integrity/checkpoint.js';
import {
  generateSigningKey,
  signerFromPem,
  trustedKeyFromPem,
  verifySignature,
} from '../../src/integrity/signing-key.js';
import { verifyStore } from '../../src/integrity/verify.js';
import type { SessionEvent, SessionMeta } from '../../src/model/session.js';
import { Recorder } from '../../src/recording/recorder.js';
import { openStore } from '../../src/store/open-store.js';
import type { SessionStore } from '../../src/store/session-store.js';
import { MIGRATIONS } from '../../src/store/sqlite/migrations.js';
import { SqliteIntegritySource } from '../../src/store/sqlite/sqlite-integrity.js';
import { sessionMeta } from '../support/session-meta.js';

const dir = mkdtempSync(join(tmpdir(), 'dbtape-integrity-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const pair = generateSigningKey();
const signer = signerFromPem(pair.privatePem);
const trustedKeys = [trustedKeyFromPem(pair.publicPem)];

let n = 0;
/** A session with an id of its own. */
const nextMeta = (): SessionMeta => sessionMeta(`c${++n}`);

const fileStore = (name: string, withSigner = true): SessionStore =>
  openStore(`sqlite:${join(dir, name)}`, withSigner ? { signer } : {});

async function record(store: SessionStore, sessions: number, end = true): Promise<SessionMeta[]> {
  const recorder = new Recorder({ store, checkpointIntervalMs: 0 });
  const metas: SessionMeta[] = [];
  for (let i = 0; i < sessions; i++) {
    const m = nextMeta();
    metas.push(m);
    const rec = recorder.open(m);
    rec.event({ kind: 'query', sql: `SELECT ${i}`, via: 'simple' });
    rec.event({ kind: 'result', tag: 'SELECT 1', rows: 1, durationUs: 3 });
    if (end) rec.event({ kind: 'end', reason: 'client_closed' });
  }
  await recorder.flush();
  return metas;
}

const verify = (store: SessionStore) => verifyStore(store.integrity!(), { trustedKeys });

describe('chain primitives', () => {
  test('the genesis covers every metadata field and the data key fingerprint', () => {
    const base = genesisHash(sessionMeta('g'), null);
    const changes: Partial<SessionMeta>[] = [
      { id: 'h' },
      { protocol: 'mysql' },
      { user: 'bob' },
      { roles: [] },
      { clientAddr: '10.0.0.2' },
      { clientPort: 5001 },
      { application: null },
      { clientTls: null },
      { target: 'other' },
      { upstreamDatabase: 'x' },
      { upstreamUser: 'y' },
      { startedAtUs: 1 },
    ];
    for (const c of changes) {
      assert.ok(!genesisHash(sessionMeta('g', c), null).equals(base), JSON.stringify(c));
    }
    assert.ok(!genesisHash(sessionMeta('g'), Buffer.alloc(32)).equals(base));
    assert.ok(genesisHash(sessionMeta('g'), null).equals(base), 'deterministic');
  });

  test('an event hash covers the previous hash, every clear column and the body', () => {
    const header = { seq: 3, atUs: 10, offsetUs: 5, format: 1, kind: 'query' };
    const base = eventHash(ZERO_HASH, header, '{"a":1}');
    assert.ok(eventHash(ZERO_HASH, header, Buffer.from('{"a":1}')).equals(base), 'text is hashed as UTF-8');
    const variants = [
      eventHash(Buffer.alloc(32, 1), header, '{"a":1}'),
      eventHash(ZERO_HASH, { ...header, seq: 4 }, '{"a":1}'),
      eventHash(ZERO_HASH, { ...header, atUs: 11 }, '{"a":1}'),
      eventHash(ZERO_HASH, { ...header, offsetUs: 6 }, '{"a":1}'),
      eventHash(ZERO_HASH, { ...header, format: 2 }, '{"a":1}'),
      eventHash(ZERO_HASH, { ...header, kind: 'result' }, '{"a":1}'),
      eventHash(ZERO_HASH, header, '{"a":2}'),
    ];
    for (const v of variants) assert.ok(!v.equals(base));
  });

  test('event hashes are exactly the documented bytes (stored hashes must keep verifying)', () => {
    // The layout written plainly, as chain.ts documents it; eventHash assembles it its own way.
    const reference = (prev: Buffer, h: EventHeaderFields, body: string | Buffer): Buffer => {
      const int64 = (n: number) => {
        const b = Buffer.alloc(8);
        b.writeBigInt64BE(BigInt(n));
        return b;
      };
      return createHash('sha256')
        .update('dbtape.event.v1\0')
        .update(prev)
        .update(int64(h.seq))
        .update(int64(h.atUs))
        .update(int64(h.offsetUs))
        .update(Buffer.from([h.format]))
        .update(`${h.kind}\0`)
        .update(typeof body === 'string' ? Buffer.from(body, 'utf8') : body)
        .digest();
    };
    let prev: Buffer = createHash('sha256').update('seed').digest();
    const bodies: (string | Buffer)[] = [
      '{"v":1,"kind":"query","sql":"SELECT 1"}',
      '{"sql":"SELECT \'é ✓ 😀 \u0000\u001b\'"}',
      'x'.repeat(40_000), // beyond the first scratch buffer
      'é'.repeat(400_000), // beyond the largest scratch buffer kept: a buffer of its own
      Buffer.from([0, 1, 2, 255]),
      '',
    ];
    const headers: EventHeaderFields[] = [
      { seq: 1, atUs: 1_764_550_000_000_000, offsetUs: 0, format: 1, kind: 'query' },
      { seq: 2 ** 33 + 7, atUs: 2 ** 52, offsetUs: 4_294_967_296, format: 2, kind: 'result' },
      { seq: 3, atUs: -5, offsetUs: -1, format: 1, kind: 'notice' },
      { seq: 4, atUs: 10, offsetUs: 5, format: 1, kind: 'kind-not-seen-before' },
    ];
    for (const body of bodies) {
      for (const h of headers) {
        const got = eventHash(prev, h, body);
        assert.ok(got.equals(reference(prev, h, body)), `${h.kind} ${String(body).slice(0, 20)}`);
        prev = got;
      }
    }
  });

  test('a seal covers the previous seal, its number, the last hash, the count and the end', () => {
    const s = {
      prevSeal: ZERO_HASH,
      sealNo: 1,
      sessionId: 'a',
      lastHash: ZERO_HASH,
      count: 3,
      endedAtUs: 9,
      reason: 'killed',
    };
    const base = sealHash(s);
    for (const change of [
      { prevSeal: Buffer.alloc(32, 1) },
      { sealNo: 2 },
      { sessionId: 'b' },
      { lastHash: Buffer.alloc(32, 2) },
      { count: 4 },
      { endedAtUs: 10 },
      { reason: 'client_closed' },
    ]) {
      assert.ok(!sealHash({ ...s, ...change }).equals(base), JSON.stringify(change));
    }
  });

  test('checkpoints are signed with Ed25519 over their exact text', () => {
    const signed = signCheckpoint(
      {
        v: 1,
        no: 1,
        prev: null,
        atUs: 5,
        key: signer.keyId,
        from: 1,
        to: 1,
        sessions: [['a', '00']],
        open: [],
      },
      signer,
    );
    const key = trustedKeys[0]!.key;
    assert.equal(trustedKeys[0]!.keyId, signer.keyId);
    assert.ok(verifySignature(key, checkpointMessage(signed.body), signed.signature));
    assert.ok(!verifySignature(key, checkpointMessage(signed.body.replace('"a"', '"b"')), signed.signature));
    assert.deepEqual(parseCheckpoint(signed.body)?.sessions, [['a', '00']]);
    assert.equal(parseCheckpoint('{"v":1}'), null);
  });
});

describe('the store writes the chain', () => {
  test('events are chained from the genesis, and the end seals the session in order', async () => {
    const store = fileStore('chain.db', false);
    const [a, b] = await record(store, 2);
    const db = new Database(join(dir, 'chain.db'), { readonly: true });
    const rows = db
      .prepare(
        'SELECT seq, at_us, offset_us, kind, format, body, hash FROM events WHERE session_sid = 1 ORDER BY seq',
      )
      .all() as {
      seq: number;
      at_us: number;
      offset_us: number;
      kind: string;
      format: number;
      body: string;
      hash: Buffer;
    }[];
    let prev = genesisHash(a!, null);
    for (const r of rows) {
      const h = eventHash(
        prev,
        { seq: r.seq, atUs: r.at_us, offsetUs: r.offset_us, format: r.format, kind: r.kind },
        r.body,
      );
      assert.ok(h.equals(r.hash), `seq ${r.seq}`);
      prev = h;
    }
    const sessions = db
      .prepare('SELECT id, seal, seal_no, head_hash, ended_at_us FROM sessions ORDER BY sid')
      .all() as {
      id: string;
      seal: Buffer;
      seal_no: number;
      head_hash: Buffer;
      ended_at_us: number;
    }[];
    assert.deepEqual(
      sessions.map((s) => [s.id, s.seal_no]),
      [
        [a!.id, 1],
        [b!.id, 2],
      ],
    );
    assert.ok(sessions[0]!.head_hash.equals(prev));
    const seal1 = sealHash({
      prevSeal: ZERO_HASH,
      sealNo: 1,
      sessionId: a!.id,
      lastHash: prev,
      count: 4,
      endedAtUs: sessions[0]!.ended_at_us,
      reason: 'client_closed',
    });
    assert.ok(seal1.equals(sessions[0]!.seal));
    const state = db.prepare('SELECT seal_no, seal FROM integrity_state').get() as {
      seal_no: number;
      seal: Buffer;
    };
    assert.equal(state.seal_no, 2);
    assert.ok(state.seal.equals(sessions[1]!.seal));
    db.close();
    await store.close();
  });

  test('sessions closed after a crash (proxy_crash) are chained, sealed and verify', async () => {
    const path = 'crash.db';
    const first = fileStore(path);
    const [m] = await record(first, 1, false);
    await first.close();
    const second = fileStore(path);
    assert.equal(await second.closeOpenSessions('proxy_crash', Date.now() * 1000), 1);
    const events = await second.getEvents(m!.id);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['start', 'query', 'result', 'end'],
    );
    assert.equal((await second.getSession(m!.id))?.endReason, 'proxy_crash');
    assert.ok(await second.checkpoint!(Date.now() * 1000));
    const report = await verify(second);
    assert.deepEqual(report.findings, []);
    assert.equal(report.sealed, 1);
    await second.close();
  });

  test('a sequence number that does not follow is refused', async () => {
    const store = openStore('sqlite::memory:');
    const m = nextMeta();
    const ev = (seq: number): SessionEvent => ({ seq, atUs: 1, offsetUs: 0, kind: 'tx', state: 'begin' });
    await store.writeBatch({
      sessions: [m],
      events: [{ sessionId: m.id, event: { ...ev(1), kind: 'start', meta: m } }],
      ends: [],
    });
    // Ahead of the store: it says how far it holds the session, so the recorder can go on from there.
    await assert.rejects(
      store.writeBatch({ sessions: [], events: [{ sessionId: m.id, event: ev(3) }], ends: [] }),
      { code: 'DBTAPE_STORE_BEHIND', sessionId: m.id, storedSeq: 1 },
    );
    await store.writeBatch({ sessions: [], events: [{ sessionId: m.id, event: ev(2) }], ends: [] });
    // Behind it (a number written twice): it says how far it holds the session too.
    await assert.rejects(
      store.writeBatch({ sessions: [], events: [{ sessionId: m.id, event: ev(2) }], ends: [] }),
      { code: 'DBTAPE_STORE_AHEAD', sessionId: m.id, storedSeq: 2 },
    );
    await assert.rejects(
      store.writeBatch({ sessions: [], events: [{ sessionId: 'no-such-session', event: ev(5) }], ends: [] }),
      { code: 'DBTAPE_STORE_BEHIND', sessionId: 'no-such-session', storedSeq: 0 },
    );
    assert.deepEqual((await verifyStore(store.integrity!())).findings, []);
    await store.close();
  });
});

describe('checkpoints', () => {
  test('none without a signing key; one when anything changed; none when nothing did', async () => {
    const unsigned = openStore('sqlite::memory:');
    await record(unsigned, 1);
    assert.equal(await unsigned.checkpoint!(1), null);
    await unsigned.close();
    const store = fileStore('cp.db');
    const metas = await record(store, 3);
    const open = await record(store, 1, false);
    const info = await store.checkpoint!(Date.now() * 1000);
    assert.deepEqual(
      {
        no: info?.no,
        sessions: info?.sessions,
        openSessions: info?.openSessions,
        sealedUpTo: info?.sealedUpTo,
      },
      { no: 1, sessions: 3, openSessions: 1, sealedUpTo: 3 },
    );
    assert.equal(await store.checkpoint!(Date.now() * 1000), null);
    await record(store, 2);
    const second = await store.checkpoint!(Date.now() * 1000);
    assert.equal(second?.no, 2);
    const db = new Database(join(dir, 'cp.db'), { readonly: true });
    const rows = db.prepare('SELECT body, hash FROM checkpoints ORDER BY no').all() as {
      body: string;
      hash: Buffer;
    }[];
    const [c1, c2] = rows.map((r) => parseCheckpoint(r.body)!);
    assert.deepEqual(
      c1!.sessions.map((s) => s[0]),
      metas.map((m) => m.id),
    );
    assert.deepEqual(
      c1!.open.map((o) => [o[0], o[1]]),
      [[open[0]!.id, 3]],
    );
    assert.equal(c2!.prev, rows[0]!.hash.toString('hex'));
    assert.deepEqual([c2!.from, c2!.to], [4, 5]);
    db.close();
    const report = await verify(store);
    assert.deepEqual(report.findings, []);
    assert.equal(report.checkpoints, 2);
    await store.close();
  });

  test('the recorder signs after every N sealed sessions and at shutdown, and logs each one', async () => {
    const store = fileStore('rec-cp.db');
    const lines: string[] = [];
    const logger = { info: (_o: object, msg: string) => lines.push(msg), warn: () => {}, error: () => {} };
    const recorder = new Recorder({ store, checkpointEverySessions: 2, checkpointIntervalMs: 0, logger });
    for (let i = 0; i < 4; i++) recorder.open(nextMeta()).event({ kind: 'end', reason: 'client_closed' });
    await recorder.flush();
    await recorder.checkpoint();
    const during = recorder.stats().checkpoints;
    assert.ok(during >= 1, `checkpoints: ${during}`);
    recorder.open(nextMeta());
    await recorder.shutdown();
    assert.ok(recorder.stats().checkpoints > during, 'a last checkpoint at shutdown');
    assert.ok(lines.includes('signed a recording checkpoint'));
    const report = await verify(store);
    assert.deepEqual(report.findings, []);
    assert.equal(report.unsigned, 0);
    await store.close();
  });
});

describe('verify', () => {
  test("signatures by an untrusted key are bad; with no key given, the store's own key is used and said so", async () => {
    const store = fileStore('trust.db');
    await record(store, 2);
    await store.checkpoint!(Date.now() * 1000);
    const other = trustedKeyFromPem(generateSigningKey().publicPem);
    const bad = await verifyStore(store.integrity!(), { trustedKeys: [other] });
    assert.deepEqual(
      bad.findings.map((f) => f.kind),
      ['bad-signature'],
    );
    const fallback = await verifyStore(store.integrity!());
    assert.deepEqual(fallback.findings, []);
    assert.equal(fallback.trust, 'store');
    await store.close();
  });

  test('sessions recorded before chaining existed are counted, not flagged', async () => {
    const path = join(dir, 'legacy.db');
    const db = new Database(path);
    db.exec(MIGRATIONS[0]!.sql);
    db.exec(
      'CREATE TABLE schema_version (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at_us INTEGER NOT NULL)',
    );
    db.prepare('INSERT INTO schema_version VALUES (1, ?, 0)').run(MIGRATIONS[0]!.name);
    db.prepare(
      `INSERT INTO sessions (id, protocol, user_name, roles, client_addr, client_port, target, upstream_database,
        upstream_user, started_at_us, ended_at_us, end_reason, events, last_seq) VALUES ('old', 'postgres', 'a', '[]', 'h', 1, 't', 'd', 'u', 1, 2, 'client_closed', 1, 1)`,
    ).run();
    db.prepare(
      `INSERT INTO events (session_sid, seq, at_us, offset_us, kind, body) VALUES (1, 1, 2, 0, 'end', '{"v":1,"seq":1,"atUs":2,"offsetUs":0,"kind":"end","reason":"client_closed"}')`,
    ).run();
    db.close();
    const store = openStore(`sqlite:${path}`, { signer });
    await record(store, 1);
    await store.checkpoint!(Date.now() * 1000);
    const report = await verify(store);
    assert.deepEqual(report.findings, []);
    assert.equal(report.legacy, 1);
    assert.equal(report.sessions, 2);
    await store.close();
  });

  test('a single session can be verified on its own', async () => {
    const store = fileStore('one.db');
    const [a, b] = await record(store, 2);
    await store.checkpoint!(Date.now() * 1000);
    await store.close();
    const db = new Database(join(dir, 'one.db'));
    db.prepare(
      "UPDATE events SET body = replace(body, 'SELECT', 'DELETE') WHERE kind = 'query' AND session_sid = 2",
    ).run();
    const source = new SqliteIntegritySource(db);
    const onlyA = await verifyStore(source, { trustedKeys, sessionId: a!.id });
    assert.deepEqual(onlyA.findings, []);
    const onlyB = await verifyStore(source, { trustedKeys, sessionId: b!.id });
    assert.deepEqual(
      onlyB.findings.map((f) => [f.session, f.seq, f.kind]),
      [[b!.id, 2, 'modified']],
    );
    db.close();
  });

  test("a statement's stored outcome is checked against its events; a deleted event is reported as deleted, not as outcomes", async () => {
    const store = fileStore('outcomes.db');
    const recorder = new Recorder({ store, checkpointIntervalMs: 0 });
    const m = nextMeta();
    const rec = recorder.open(m);
    for (const sql of ['SELECT 1', 'SELECT * FROM nosuch', 'SELECT 3']) {
      rec.event({ kind: 'query', sql, via: 'simple' });
      if (sql.includes('nosuch')) rec.event({ kind: 'error', code: '42P01', message: 'no such relation' });
      else rec.event({ kind: 'result', tag: 'SELECT 1', rows: 1, durationUs: 3 });
    }
    rec.event({ kind: 'end', reason: 'client_closed' });
    await recorder.flush();
    assert.deepEqual((await verify(store)).findings, []);
    await store.close();
    const db = new Database(join(dir, 'outcomes.db'));
    const findings = async (change: string) => {
      db.exec('BEGIN');
      try {
        db.exec(change);
        const report = await verifyStore(new SqliteIntegritySource(db), { trustedKeys, sessionId: m.id });
        return report.findings.map((f) => [f.seq, f.kind, f.detail]);
      } finally {
        db.exec('ROLLBACK');
      }
    };
    try {
      assert.deepEqual(await findings("UPDATE events SET failed = 0 WHERE kind = 'query' AND seq = 4"), [
        [
          4,
          'modified',
          'the stored outcome of a statement does not match its events: stored succeeded, its events say failed',
        ],
      ]);
      // Without its result, statement 2 would take statement 4's error: the deletion says it all.
      const deleted = await findings('DELETE FROM events WHERE seq = 3');
      assert.ok(
        deleted.some(([, kind]) => kind === 'deleted'),
        JSON.stringify(deleted),
      );
      assert.ok(!deleted.some(([, , detail]) => String(detail).includes('outcome')), JSON.stringify(deleted));
    } finally {
      db.close();
    }
  });

  test("the application a client named itself after login is listed, and changing the row's copy is found", async () => {
    const store = fileStore('client.db');
    const recorder = new Recorder({ store, checkpointIntervalMs: 0 });
    const m = nextMeta();
    const rec = recorder.open(m);
    rec.event({ kind: 'client', application: 'DBeaver 24.1 - Main' });
    rec.event({ kind: 'query', sql: 'SELECT 1', via: 'simple' });
    rec.event({ kind: 'client', application: 'DBeaver 24.1 - SQLEditor' });
    rec.event({ kind: 'end', reason: 'client_closed' });
    await recorder.flush();
    assert.equal((await store.getSession(m.id))?.application, 'DBeaver 24.1 - SQLEditor');
    assert.deepEqual((await verify(store)).findings, []);
    await store.close();
    const db = new Database(join(dir, 'client.db'));
    db.prepare("UPDATE sessions SET reported_application = 'psql' WHERE id = ?").run(m.id);
    const report = await verifyStore(new SqliteIntegritySource(db), { trustedKeys, sessionId: m.id });
    assert.deepEqual(
      report.findings.map((f) => [f.session, f.kind, f.detail]),
      [[m.id, 'modified', "the session row's application does not match its last client event"]],
    );
    db.close();
  });
});
