/**
 * Tamper evidence, end to end: a store recorded through the Recorder (clear and encrypted
 * sessions, gaps, crash-closed sessions, an open session, several signed checkpoints), then
 * 1,000 random single mutations of events, sessions, seals, keys and checkpoints, each applied
 * inside a transaction, checked with verify, and rolled back. Every one must be flagged, and the
 * clean store must verify. The CLI runs once on the clean store and once on a damaged copy.
 *
 * The seed is printed on failure; DBTAPE_TAMPER_SEED=N replays a run.
 */
import assert from 'node:assert/strict';
import { copyFileSync, existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import Database from 'better-sqlite3';
import { eventHash } from '../../src/integrity/chain.js';
import { createKeyringFile, type Keyring } from '../../src/integrity/keyring.js';
import {
  generateSigningKey,
  signerFromPem,
  type TrustedKey,
  trustedKeyFromPem,
} from '../../src/integrity/signing-key.js';
import { verifyStore } from '../../src/integrity/verify.js';
import { SqliteIntegritySource } from '../../src/store/sqlite/sqlite-integrity.js';
import { dbtapeCli } from '../support/dbtape-process.js';
import { mulberry32, type Rng } from '../support/random.js';
import { assertEveryDamageKind, buildTamperStore, flipByte, int, pick } from '../support/tamper-fixtures.js';

const root = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'dbtape-tamper-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const dbPath = join(dir, 'store.db');
const pair = generateSigningKey();
const signer = signerFromPem(pair.privatePem);
const trusted: TrustedKey[] = [trustedKeyFromPem(pair.publicPem)];
let keyring: Keyring;

/** Records the store the mutations start from; see buildTamperStore. */
async function buildStore(): Promise<void> {
  keyring = createKeyringFile(join(dir, 'master.key'));
  await buildTamperStore(`sqlite:${dbPath}`, signer, keyring, {
    idPrefix: 't',
    clear: 12,
    crashed: 3,
    encrypted: 14,
    checkpointEvery: [5, 6],
  });
}

async function verifyDb(db: Database.Database) {
  return verifyStore(new SqliteIntegritySource(db), { trustedKeys: trusted, keyring });
}

// --- mutations -----------------------------------------------------------------------------------

interface EventRow {
  id: number;
  session_sid: number;
  seq: number;
  at_us: number;
  offset_us: number;
  kind: string;
  format: number;
  body: string | Buffer;
  hash: Buffer;
  failed: number | null;
}

/** Replaces one character of a text with another printable ASCII character. */
function changeChar(rng: Rng, s: string): string {
  const i = int(rng, 0, s.length - 1);
  let c = s[i]!;
  while (c === s[i]) c = String.fromCharCode(int(rng, 0x21, 0x7e));
  return s.slice(0, i) + c + s.slice(i + 1);
}

const events = (db: Database.Database) => db.prepare('SELECT * FROM events').all() as EventRow[];
const sessionSids = (db: Database.Database) =>
  (db.prepare('SELECT sid FROM sessions').all() as { sid: number }[]).map((r) => r.sid);
const sealedSids = (db: Database.Database) =>
  (db.prepare('SELECT sid FROM sessions WHERE seal IS NOT NULL').all() as { sid: number }[]).map(
    (r) => r.sid,
  );

type Mutation = (db: Database.Database, rng: Rng) => string;

const MUTATIONS: Record<string, Mutation> = {
  'event body byte': (db, rng) => {
    const e = pick(rng, events(db));
    const body = typeof e.body === 'string' ? changeChar(rng, e.body) : flipByte(rng, e.body);
    db.prepare('UPDATE events SET body = ? WHERE id = ?').run(body, e.id);
    return `body of event ${e.session_sid}/${e.seq}`;
  },
  'event column': (db, rng) => {
    const e = pick(rng, events(db));
    const col = pick(rng, ['at_us', 'offset_us', 'kind', 'format'] as const);
    const value =
      col === 'kind'
        ? pick(
            rng,
            ['query', 'result', 'error', 'tx', 'gap', 'end'].filter((k) => k !== e.kind),
          )
        : col === 'format'
          ? e.format === 1
            ? 2
            : 1
          : e[col] + int(rng, 1, 1_000_000) * (rng() < 0.5 ? -1 : 1);
    db.prepare(`UPDATE events SET ${col} = ? WHERE id = ?`).run(value, e.id);
    return `${col} of event ${e.session_sid}/${e.seq}`;
  },
  'event outcome': (db, rng) => {
    const e = pick(rng, events(db));
    // Any other value: a statement's link is its events', and other events have none.
    const values = e.kind === 'query' ? [0, 1, null] : [0, 1];
    const value = pick(
      rng,
      values.filter((v) => v !== e.failed),
    );
    db.prepare('UPDATE events SET failed = ? WHERE id = ?').run(value, e.id);
    return `failed of event ${e.session_sid}/${e.seq} (${e.kind}: ${e.failed} to ${value})`;
  },
  'event hash': (db, rng) => {
    const e = pick(rng, events(db));
    db.prepare('UPDATE events SET hash = ? WHERE id = ?').run(
      rng() < 0.3 ? null : flipByte(rng, e.hash),
      e.id,
    );
    return `hash of event ${e.session_sid}/${e.seq}`;
  },
  'delete event': (db, rng) => {
    const e = pick(rng, events(db));
    db.prepare('DELETE FROM events WHERE id = ?').run(e.id);
    return `event ${e.session_sid}/${e.seq}`;
  },
  'truncate session': (db, rng) => {
    const sid = pick(rng, sessionSids(db));
    const last = (
      db.prepare('SELECT max(seq) AS m FROM events WHERE session_sid = ?').get(sid) as { m: number }
    ).m;
    const keep = int(rng, 0, last - 1);
    db.prepare('DELETE FROM events WHERE session_sid = ? AND seq > ?').run(sid, keep);
    return `session ${sid} after seq ${keep}`;
  },
  'reorder events': (db, rng) => {
    const sid = pick(rng, sessionSids(db));
    const seqs = (
      db.prepare('SELECT seq FROM events WHERE session_sid = ?').all(sid) as { seq: number }[]
    ).map((r) => r.seq);
    const a = pick(rng, seqs);
    let b = pick(rng, seqs);
    while (b === a) b = pick(rng, seqs);
    const set = db.prepare('UPDATE events SET seq = ? WHERE session_sid = ? AND seq = ?');
    set.run(-1, sid, a);
    set.run(a, sid, b);
    set.run(b, sid, -1);
    return `session ${sid} seqs ${a} and ${b}`;
  },
  'insert forged event': (db, rng) => {
    // A forger who also fixes the session row can extend an open session past its last signed
    // head undetected: that unsigned tail is a documented limit (docs/recording.md). So the
    // careful forger works on sealed sessions; open ones get the naive forgery.
    const fixRow = rng() < 0.5;
    const sid = pick(rng, fixRow ? sealedSids(db) : sessionSids(db));
    const last = db
      .prepare('SELECT * FROM events WHERE session_sid = ? ORDER BY seq DESC LIMIT 1')
      .get(sid) as EventRow;
    const seq = last.seq + 1;
    const body = JSON.stringify({
      v: 1,
      seq,
      atUs: last.at_us + 1,
      offsetUs: last.offset_us + 1,
      kind: 'query',
      sql: 'DROP TABLE evidence',
      via: 'simple',
    });
    // A careful forger: the hash chains correctly from the last event.
    const hash = eventHash(
      last.hash,
      { seq, atUs: last.at_us + 1, offsetUs: last.offset_us + 1, format: 1, kind: 'query' },
      body,
    );
    db.prepare(
      'INSERT INTO events (session_sid, seq, at_us, offset_us, kind, format, body, hash) VALUES (?, ?, ?, ?, ?, 1, ?, ?)',
    ).run(sid, seq, last.at_us + 1, last.offset_us + 1, 'query', body, hash);
    if (fixRow)
      db.prepare(
        'UPDATE sessions SET events = events + 1, statements = statements + 1, last_seq = ?, head_hash = ? WHERE sid = ?',
      ).run(seq, hash, sid);
    return `forged event after ${sid}/${last.seq}`;
  },
  'delete session': (db, rng) => {
    const sid = pick(rng, sessionSids(db));
    if (rng() < 0.8) {
      db.prepare('DELETE FROM events WHERE session_sid = ?').run(sid);
      db.prepare('DELETE FROM session_keys WHERE session_sid = ?').run(sid);
    }
    db.prepare('DELETE FROM sessions WHERE sid = ?').run(sid);
    return `session ${sid}`;
  },
  'session metadata': (db, rng) => {
    const sid = pick(rng, sessionSids(db));
    const col = pick(rng, [
      'user_name',
      'target',
      'client_addr',
      'roles',
      'application',
      'started_at_us',
      'client_port',
      'protocol',
    ] as const);
    const row = db.prepare(`SELECT ${col} AS v FROM sessions WHERE sid = ?`).get(sid) as {
      v: string | number | null;
    };
    const value =
      typeof row.v === 'number'
        ? row.v + int(rng, 1, 1000)
        : col === 'roles'
          ? JSON.stringify(['admin'])
          : row.v === null
            ? 'forged'
            : changeChar(rng, row.v);
    db.prepare(`UPDATE sessions SET ${col} = ? WHERE sid = ?`).run(value, sid);
    return `${col} of session ${sid}`;
  },
  'session counters': (db, rng) => {
    const sid = pick(rng, sessionSids(db));
    const col = pick(rng, ['statements', 'errors', 'events', 'last_seq'] as const);
    db.prepare(`UPDATE sessions SET ${col} = ${col} + ? WHERE sid = ?`).run(
      rng() < 0.5 ? -1 : int(rng, 1, 5),
      sid,
    );
    return `${col} of session ${sid}`;
  },
  'session head': (db, rng) => {
    const sid = pick(rng, sessionSids(db));
    const row = db.prepare('SELECT head_hash FROM sessions WHERE sid = ?').get(sid) as { head_hash: Buffer };
    db.prepare('UPDATE sessions SET head_hash = ? WHERE sid = ?').run(flipByte(rng, row.head_hash), sid);
    return `head of session ${sid}`;
  },
  seal: (db, rng) => {
    const sid = pick(rng, sealedSids(db));
    const row = db.prepare('SELECT seal, seal_no FROM sessions WHERE sid = ?').get(sid) as {
      seal: Buffer;
      seal_no: number;
    };
    const what = int(rng, 0, 2);
    if (what === 0)
      db.prepare('UPDATE sessions SET seal = ? WHERE sid = ?').run(flipByte(rng, row.seal), sid);
    else if (what === 1) db.prepare('UPDATE sessions SET seal = NULL, seal_no = NULL WHERE sid = ?').run(sid);
    else {
      const other = pick(
        rng,
        sealedSids(db).filter((s) => s !== sid),
      );
      const o = db.prepare('SELECT seal_no FROM sessions WHERE sid = ?').get(other) as { seal_no: number };
      const set = db.prepare('UPDATE sessions SET seal_no = ? WHERE sid = ?');
      set.run(-1, sid);
      set.run(row.seal_no, other);
      set.run(o.seal_no, sid);
    }
    return `seal of session ${sid} (${what})`;
  },
  'session end': (db, rng) => {
    const sid = pick(rng, sealedSids(db));
    const what = int(rng, 0, 2);
    if (what === 0)
      db.prepare('UPDATE sessions SET ended_at_us = ended_at_us + ? WHERE sid = ?').run(
        int(rng, 1, 1e6),
        sid,
      );
    else if (what === 1)
      db.prepare(
        "UPDATE sessions SET end_reason = CASE end_reason WHEN 'killed' THEN 'client_closed' ELSE 'killed' END WHERE sid = ?",
      ).run(sid);
    else db.prepare('UPDATE sessions SET ended_at_us = NULL, end_reason = NULL WHERE sid = ?').run(sid);
    return `end of session ${sid} (${what})`;
  },
  'data key': (db, rng) => {
    const row = pick(
      rng,
      db.prepare('SELECT * FROM session_keys').all() as {
        session_sid: number;
        wrapped: Buffer;
        fingerprint: Buffer;
        key_version: number;
      }[],
    );
    const what = int(rng, 0, 3);
    if (what === 0)
      db.prepare('UPDATE session_keys SET wrapped = ? WHERE session_sid = ?').run(
        flipByte(rng, row.wrapped),
        row.session_sid,
      );
    else if (what === 1)
      db.prepare('UPDATE session_keys SET fingerprint = ? WHERE session_sid = ?').run(
        flipByte(rng, row.fingerprint),
        row.session_sid,
      );
    else if (what === 2)
      db.prepare('UPDATE session_keys SET key_version = key_version + 1 WHERE session_sid = ?').run(
        row.session_sid,
      );
    else db.prepare('DELETE FROM session_keys WHERE session_sid = ?').run(row.session_sid);
    return `data key of session ${row.session_sid} (${what})`;
  },
  'checkpoint content': (db, rng) => {
    const cp = pick(
      rng,
      db.prepare('SELECT * FROM checkpoints').all() as {
        no: number;
        body: string;
        hash: Buffer;
        signature: Buffer;
        at_us: number;
      }[],
    );
    const what = int(rng, 0, 4);
    if (what === 0)
      db.prepare('UPDATE checkpoints SET body = ? WHERE no = ?').run(changeChar(rng, cp.body), cp.no);
    else if (what === 1)
      db.prepare('UPDATE checkpoints SET signature = ? WHERE no = ?').run(flipByte(rng, cp.signature), cp.no);
    else if (what === 2)
      db.prepare('UPDATE checkpoints SET hash = ? WHERE no = ?').run(flipByte(rng, cp.hash), cp.no);
    else if (what === 3) db.prepare('UPDATE checkpoints SET at_us = at_us + 1 WHERE no = ?').run(cp.no);
    else db.prepare("UPDATE checkpoints SET key_id = 'ffffffffffffffff' WHERE no = ?").run(cp.no);
    return `checkpoint ${cp.no} (${what})`;
  },
  'delete checkpoint': (db, rng) => {
    const max = (db.prepare('SELECT max(no) AS m FROM checkpoints').get() as { m: number }).m;
    if (rng() < 0.5) {
      const k = int(rng, 1, Math.min(3, max));
      db.prepare('DELETE FROM checkpoints WHERE no > ?').run(max - k);
      return `last ${k} checkpoint(s)`;
    }
    const no = int(rng, 1, max);
    db.prepare('DELETE FROM checkpoints WHERE no = ?').run(no);
    return `checkpoint ${no}`;
  },
  'store head': (db, rng) => {
    const what = int(rng, 0, 5);
    const sqls = [
      'UPDATE integrity_state SET seal_no = seal_no - 1',
      'UPDATE integrity_state SET seal = randomblob(32)',
      'UPDATE integrity_state SET checkpoint_no = checkpoint_no + 1',
      'UPDATE integrity_state SET checkpoint_hash = randomblob(32)',
      'UPDATE integrity_state SET chain_from_sid = 1000000',
      'DELETE FROM integrity_state',
    ];
    db.prepare(sqls[what]!).run();
    return `store head (${what})`;
  },
};

describe('tamper evidence', () => {
  before(buildStore);

  test('the clean store verifies, with several checkpoints, gaps, crash-closed and open sessions', async () => {
    const db = new Database(dbPath, { readonly: true });
    try {
      const report = await verifyDb(db);
      assert.deepEqual(report.findings, []);
      assert.ok(report.checkpoints >= 4, `checkpoints: ${report.checkpoints}`);
      assert.equal(report.open, 1);
      assert.equal(report.unsigned, 0);
      const reasons = db
        .prepare('SELECT end_reason AS r, count(*) AS n FROM sessions GROUP BY end_reason')
        .all();
      assert.ok(
        reasons.some((r) => (r as { r: string }).r === 'proxy_crash'),
        JSON.stringify(reasons),
      );
      assert.ok(db.prepare("SELECT 1 FROM events WHERE kind = 'gap'").get(), 'a gap event was recorded');
      assert.ok(db.prepare('SELECT 1 FROM events WHERE format = 2').get(), 'encrypted events were recorded');
    } finally {
      db.close();
    }
  });

  test("a statement's stored outcome is checked against its events: hiding a failure from search --errors is flagged", async () => {
    const work = join(dir, 'outcomes.db');
    copyFileSync(dbPath, work);
    const db = new Database(work);
    const event = (where: string) =>
      db
        .prepare(
          `SELECT s.id, e.session_sid AS sid, e.seq FROM events e JOIN sessions s ON s.sid = e.session_sid
           WHERE ${where} LIMIT 1`,
        )
        .get() as { id: string; sid: number; seq: number };
    const failed = event(
      "e.kind = 'query' AND e.failed = 1 AND e.format = 1 AND e.body LIKE '%FROM nosuch%'",
    );
    const skipped = event("e.kind = 'query' AND e.failed IS NULL AND e.body LIKE '%skipped until Sync%'");
    const running = event("e.kind = 'query' AND e.failed IS NULL AND s.ended_at_us IS NULL");
    const error = event("e.kind = 'error'");
    const flagged = async (
      change: string,
      at: { sid: number; seq: number },
    ): Promise<[string | null, number | null, string, string][]> => {
      db.exec('BEGIN');
      try {
        db.prepare(`UPDATE events SET ${change} WHERE session_sid = ? AND seq = ?`).run(at.sid, at.seq);
        return (await verifyDb(db)).findings.map((f) => [f.session, f.seq, f.kind, f.detail]);
      } finally {
        db.exec('ROLLBACK');
      }
    };
    const mismatch = (stored: string, events: string) =>
      `the stored outcome of a statement does not match its events: stored ${stored}, its events say ${events}`;
    try {
      assert.deepEqual(await flagged('failed = 0', failed), [
        [failed.id, failed.seq, 'modified', mismatch('succeeded', 'failed')],
      ]);
      assert.deepEqual(await flagged('failed = NULL', failed), [
        [failed.id, failed.seq, 'modified', mismatch('no outcome', 'failed')],
      ]);
      // Skipped after an error until Sync, so never run: neither failed nor succeeded.
      assert.deepEqual(await flagged('failed = 1', skipped), [
        [skipped.id, skipped.seq, 'modified', mismatch('failed', 'no outcome')],
      ]);
      // A live session's statement still running has no outcome yet.
      assert.deepEqual(await flagged('failed = 0', running), [
        [running.id, running.seq, 'modified', mismatch('succeeded', 'no outcome')],
      ]);
      assert.deepEqual(await flagged('failed = 1', error), [
        [error.id, error.seq, 'modified', 'an outcome is stored on an event that is not a statement'],
      ]);
      assert.deepEqual((await verifyDb(db)).findings, []);
    } finally {
      db.close();
    }
  });

  test('1,000 random mutations are each flagged', async () => {
    const seed = Number(process.env.DBTAPE_TAMPER_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const rng = mulberry32(seed);
    const work = join(dir, 'work.db');
    copyFileSync(dbPath, work);
    const db = new Database(work);
    // An attacker's own SQLite does not enforce foreign keys (better-sqlite3 turns them on).
    db.pragma('foreign_keys = OFF');
    const names = Object.keys(MUTATIONS);
    const byKind = new Map<string, number>();
    try {
      for (let i = 0; i < 1000; i++) {
        const name = names[i % names.length]!;
        db.exec('BEGIN');
        let what = '';
        try {
          what = MUTATIONS[name]!(db, rng);
          const report = await verifyDb(db);
          assert.ok(
            report.problems > 0,
            `mutation #${i} (${name}: ${what}) was not flagged; replay with DBTAPE_TAMPER_SEED=${seed}`,
          );
          for (const f of report.findings) byKind.set(f.kind, (byKind.get(f.kind) ?? 0) + 1);
        } finally {
          db.exec('ROLLBACK');
        }
      }
      assert.deepEqual((await verifyDb(db)).findings, [], 'every mutation was rolled back');
    } finally {
      db.close();
    }
    assertEveryDamageKind(byKind);
  });

  test('dbtape verify --all: exit 0 on the clean store, 1 with the damage listed', async () => {
    if (!existsSync(join(root, 'dist/cli/main.js'))) {
      throw new Error('dist/cli/main.js is missing: run `npm run build` first (npm test does)');
    }
    const pub = join(dir, 'signing.pub');
    writeFileSync(pub, pair.publicPem);
    const clean = await dbtape(['verify', '--all', '--store', `sqlite:${dbPath}`, '--public-key', pub]);
    assert.equal(clean.code, 0, clean.stderr + clean.stdout);
    assert.match(clean.stdout, /no damage found/);
    const damaged = join(dir, 'damaged.db');
    copyFileSync(dbPath, damaged);
    const db = new Database(damaged);
    const victim = db
      .prepare(
        "SELECT s.id, e.seq FROM events e JOIN sessions s ON s.sid = e.session_sid WHERE e.format = 1 AND e.kind = 'query' ORDER BY e.id LIMIT 1",
      )
      .get() as { id: string; seq: number };
    db.prepare(
      "UPDATE events SET body = replace(body, 'users', 'USERS') WHERE seq = ? AND session_sid = (SELECT sid FROM sessions WHERE id = ?)",
    ).run(victim.seq, victim.id);
    db.close();
    const bad = await dbtape(['verify', '--all', '--store', `sqlite:${damaged}`, '--public-key', pub]);
    assert.equal(bad.code, 1, bad.stderr + bad.stdout);
    const line = bad.stdout.split('\n').find((l) => l.startsWith(victim.id));
    assert.ok(line, bad.stdout);
    assert.match(line, new RegExp(`^${victim.id}\\s+${victim.seq}\\s+modified\\s`));
    assert.match(bad.stderr, /^dbtape: verify found 1 problem/);
    const one = await dbtape([
      'verify',
      victim.id,
      '--store',
      `sqlite:${damaged}`,
      '--public-key',
      pub,
      '--json',
    ]);
    assert.equal(one.code, 1);
    const json = JSON.parse(one.stdout) as {
      ok: boolean;
      findings: { session: string; seq: number; kind: string }[];
    };
    assert.equal(json.ok, false);
    assert.deepEqual(
      json.findings.map((f) => [f.session, f.seq, f.kind]),
      [[victim.id, victim.seq, 'modified']],
    );
  });
});

function dbtape(args: string[]) {
  return dbtapeCli(args, { cwd: dir });
}
