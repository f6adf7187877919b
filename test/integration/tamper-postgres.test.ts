/**
 * Tamper evidence of the PostgreSQL store, as tamper.test.ts checks the SQLite store's: a store
 * recorded through the Recorder (clear and encrypted sessions, a gap, crash-closed and open
 * sessions, several signed checkpoints), then 1,000 random single mutations of events, sessions,
 * seals, keys, checkpoints and the head, each applied inside a transaction that verify reads
 * through and that is then rolled back. Every one must be flagged; the clean store verifies, and
 * so does `dbtape verify --all --store postgres://...`.
 *
 * The seed is printed on failure; DBTAPE_TAMPER_SEED=N replays a run.
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { eventHash } from '../../src/integrity/chain.js';
import { createKeyringFile, type Keyring } from '../../src/integrity/keyring.js';
import {
  generateSigningKey,
  signerFromPem,
  type TrustedKey,
  trustedKeyFromPem,
} from '../../src/integrity/signing-key.js';
import { verifyStore } from '../../src/integrity/verify.js';
import { connectPg, type Sql, type TxSql } from '../../src/store/postgres/pg-connect.js';
import { PgIntegritySource } from '../../src/store/postgres/pg-integrity.js';
import { dbtapeCli } from '../support/dbtape-process.js';
import { tempDir } from '../support/pg-fixtures.js';
import { mulberry32, type Rng } from '../support/random.js';
import { throwawayPgDatabase } from '../support/store-kinds.js';
import { assertEveryDamageKind, buildTamperStore, flipByte, int, pick } from '../support/tamper-fixtures.js';

const pair = generateSigningKey();
const signer = signerFromPem(pair.privatePem);
const trusted: TrustedKey[] = [trustedKeyFromPem(pair.publicPem)];
let dir: string;
let url: string;
let keyring: Keyring;
let sql: Sql;

async function buildStore(): Promise<void> {
  keyring = createKeyringFile(join(dir, 'master.key'));
  await buildTamperStore(url, signer, keyring, {
    idPrefix: 'p',
    clear: 7,
    crashed: 2,
    encrypted: 8,
    checkpointEvery: [3, 4],
  });
}

// --- mutations ---------------------------------------------------------------------------------

interface EventRow {
  session_sid: number;
  seq: number;
  at_us: number;
  offset_us: number;
  kind: string;
  format: number;
  body: Buffer;
  hash: Buffer;
  failed: boolean | null;
}

const events = async (tx: TxSql) => [...(await tx<EventRow[]>`SELECT * FROM events`)];
const sids = async (tx: TxSql, sealed = false) =>
  (sealed
    ? await tx<{ sid: number }[]>`SELECT sid FROM sessions WHERE seal IS NOT NULL`
    : await tx<{ sid: number }[]>`SELECT sid FROM sessions`
  ).map((r) => r.sid);

type Mutation = (tx: TxSql, rng: Rng) => Promise<string>;

const MUTATIONS: Record<string, Mutation> = {
  'event body byte': async (tx, rng) => {
    const e = pick(rng, await events(tx));
    await tx`UPDATE events SET body = ${flipByte(rng, e.body)} WHERE session_sid = ${e.session_sid} AND seq = ${e.seq}`;
    return `body of event ${e.session_sid}/${e.seq}`;
  },
  'event column': async (tx, rng) => {
    const e = pick(rng, await events(tx));
    const col = pick(rng, ['at_us', 'offset_us', 'kind', 'format'] as const);
    const value =
      col === 'kind'
        ? pick(
            rng,
            ['query', 'result', 'error', 'tx', 'gap', 'end'].filter((k) => k !== e.kind),
          )
        : col === 'format'
          ? 3 - e.format
          : e[col] + int(rng, 1, 1_000_000) * (rng() < 0.5 ? -1 : 1);
    await tx`UPDATE events SET ${tx(col)} = ${value} WHERE session_sid = ${e.session_sid} AND seq = ${e.seq}`;
    return `${col} of event ${e.session_sid}/${e.seq}`;
  },
  'event outcome': async (tx, rng) => {
    const e = pick(rng, await events(tx));
    // Any other value: a statement's link is its events', and other events have none.
    const values = e.kind === 'query' ? [false, true, null] : [false, true];
    const value = pick(
      rng,
      values.filter((v) => v !== e.failed),
    );
    await tx`UPDATE events SET failed = ${value} WHERE session_sid = ${e.session_sid} AND seq = ${e.seq}`;
    return `failed of event ${e.session_sid}/${e.seq} (${e.kind}: ${e.failed} to ${value})`;
  },
  'event hash': async (tx, rng) => {
    const e = pick(rng, await events(tx));
    const hash = rng() < 0.3 ? null : flipByte(rng, e.hash);
    await tx`UPDATE events SET hash = ${hash} WHERE session_sid = ${e.session_sid} AND seq = ${e.seq}`;
    return `hash of event ${e.session_sid}/${e.seq}`;
  },
  'delete event': async (tx, rng) => {
    const e = pick(rng, await events(tx));
    await tx`DELETE FROM events WHERE session_sid = ${e.session_sid} AND seq = ${e.seq}`;
    return `event ${e.session_sid}/${e.seq}`;
  },
  'truncate session': async (tx, rng) => {
    const sid = pick(rng, await sids(tx));
    const m = (await tx<{ m: number }[]>`SELECT max(seq) AS m FROM events WHERE session_sid = ${sid}`)[0]!.m;
    const keep = int(rng, 0, m - 1);
    await tx`DELETE FROM events WHERE session_sid = ${sid} AND seq > ${keep}`;
    return `session ${sid} after seq ${keep}`;
  },
  'reorder events': async (tx, rng) => {
    const sid = pick(rng, await sids(tx));
    const seqs = (await tx<{ seq: number }[]>`SELECT seq FROM events WHERE session_sid = ${sid}`).map(
      (r) => r.seq,
    );
    const a = pick(rng, seqs);
    let b = pick(rng, seqs);
    while (b === a) b = pick(rng, seqs);
    await tx`UPDATE events SET seq = -1 WHERE session_sid = ${sid} AND seq = ${a}`;
    await tx`UPDATE events SET seq = ${a} WHERE session_sid = ${sid} AND seq = ${b}`;
    await tx`UPDATE events SET seq = ${b} WHERE session_sid = ${sid} AND seq = -1`;
    return `session ${sid} seqs ${a} and ${b}`;
  },
  'insert forged event': async (tx, rng) => {
    // Only sealed sessions get the careful forgery (the unsigned tail of an open one is a
    // documented limit, docs/recording.md).
    const fixRow = rng() < 0.5;
    const sid = pick(rng, await sids(tx, fixRow));
    const [last] = await tx<
      EventRow[]
    >`SELECT * FROM events WHERE session_sid = ${sid} ORDER BY seq DESC LIMIT 1`;
    const seq = last!.seq + 1;
    const body = JSON.stringify({
      v: 1,
      seq,
      atUs: last!.at_us + 1,
      offsetUs: last!.offset_us + 1,
      kind: 'query',
      sql: 'DROP TABLE evidence',
      via: 'simple',
    });
    const hash = eventHash(
      last!.hash,
      { seq, atUs: last!.at_us + 1, offsetUs: last!.offset_us + 1, format: 1, kind: 'query' },
      body,
    );
    await tx`INSERT INTO events (session_sid, seq, at_us, offset_us, kind, format, body, hash)
             VALUES (${sid}, ${seq}, ${last!.at_us + 1}, ${last!.offset_us + 1}, 'query', 1, ${Buffer.from(body)}, ${hash})`;
    if (fixRow)
      await tx`UPDATE sessions SET events = events + 1, statements = statements + 1, last_seq = ${seq}, head_hash = ${hash} WHERE sid = ${sid}`;
    return `forged event after ${sid}/${last!.seq}`;
  },
  'delete session': async (tx, rng) => {
    const sid = pick(rng, await sids(tx));
    if (rng() < 0.8) {
      await tx`DELETE FROM events WHERE session_sid = ${sid}`;
      await tx`DELETE FROM session_keys WHERE session_sid = ${sid}`;
    }
    await tx`DELETE FROM sessions WHERE sid = ${sid}`;
    return `session ${sid}`;
  },
  'session metadata': async (tx, rng) => {
    const sid = pick(rng, await sids(tx));
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
    if (col === 'started_at_us' || col === 'client_port')
      await tx`UPDATE sessions SET ${tx(col)} = ${tx(col)} + ${int(rng, 1, 1000)} WHERE sid = ${sid}`;
    else if (col === 'roles') await tx`UPDATE sessions SET roles = '["admin"]' WHERE sid = ${sid}`;
    else await tx`UPDATE sessions SET ${tx(col)} = coalesce(${tx(col)} || 'x', 'forged') WHERE sid = ${sid}`;
    return `${col} of session ${sid}`;
  },
  'session counters': async (tx, rng) => {
    const sid = pick(rng, await sids(tx));
    const col = pick(rng, ['statements', 'errors', 'events', 'last_seq'] as const);
    await tx`UPDATE sessions SET ${tx(col)} = ${tx(col)} + ${rng() < 0.5 ? -1 : int(rng, 1, 5)} WHERE sid = ${sid}`;
    return `${col} of session ${sid}`;
  },
  'session head': async (tx, rng) => {
    const sid = pick(rng, await sids(tx));
    const [row] = await tx<{ head_hash: Buffer }[]>`SELECT head_hash FROM sessions WHERE sid = ${sid}`;
    await tx`UPDATE sessions SET head_hash = ${flipByte(rng, row!.head_hash)} WHERE sid = ${sid}`;
    return `head of session ${sid}`;
  },
  seal: async (tx, rng) => {
    const sealed = await sids(tx, true);
    const sid = pick(rng, sealed);
    const [row] = await tx<
      { seal: Buffer; seal_no: number }[]
    >`SELECT seal, seal_no FROM sessions WHERE sid = ${sid}`;
    const what = int(rng, 0, 2);
    if (what === 0) await tx`UPDATE sessions SET seal = ${flipByte(rng, row!.seal)} WHERE sid = ${sid}`;
    else if (what === 1) await tx`UPDATE sessions SET seal = NULL, seal_no = NULL WHERE sid = ${sid}`;
    else {
      const other = pick(
        rng,
        sealed.filter((s) => s !== sid),
      );
      const [o] = await tx<{ seal_no: number }[]>`SELECT seal_no FROM sessions WHERE sid = ${other}`;
      await tx`UPDATE sessions SET seal_no = -1 WHERE sid = ${sid}`;
      await tx`UPDATE sessions SET seal_no = ${row!.seal_no} WHERE sid = ${other}`;
      await tx`UPDATE sessions SET seal_no = ${o!.seal_no} WHERE sid = ${sid}`;
    }
    return `seal of session ${sid} (${what})`;
  },
  'session end': async (tx, rng) => {
    const sid = pick(rng, await sids(tx, true));
    const what = int(rng, 0, 2);
    if (what === 0)
      await tx`UPDATE sessions SET ended_at_us = ended_at_us + ${int(rng, 1, 1e6)} WHERE sid = ${sid}`;
    else if (what === 1)
      await tx`UPDATE sessions SET end_reason = CASE end_reason WHEN 'killed' THEN 'client_closed' ELSE 'killed' END WHERE sid = ${sid}`;
    else await tx`UPDATE sessions SET ended_at_us = NULL, end_reason = NULL WHERE sid = ${sid}`;
    return `end of session ${sid} (${what})`;
  },
  'data key': async (tx, rng) => {
    const rows = await tx<
      { session_sid: number; wrapped: Buffer; fingerprint: Buffer }[]
    >`SELECT * FROM session_keys`;
    const row = pick(rng, [...rows]);
    const what = int(rng, 0, 3);
    if (what === 0)
      await tx`UPDATE session_keys SET wrapped = ${flipByte(rng, row.wrapped)} WHERE session_sid = ${row.session_sid}`;
    else if (what === 1)
      await tx`UPDATE session_keys SET fingerprint = ${flipByte(rng, row.fingerprint)} WHERE session_sid = ${row.session_sid}`;
    else if (what === 2)
      await tx`UPDATE session_keys SET key_version = key_version + 1 WHERE session_sid = ${row.session_sid}`;
    else await tx`DELETE FROM session_keys WHERE session_sid = ${row.session_sid}`;
    return `data key of session ${row.session_sid} (${what})`;
  },
  'checkpoint content': async (tx, rng) => {
    const cps = await tx<
      { no: number; body: string; hash: Buffer; signature: Buffer }[]
    >`SELECT * FROM checkpoints`;
    const cp = pick(rng, [...cps]);
    const what = int(rng, 0, 4);
    if (what === 0)
      await tx`UPDATE checkpoints SET body = replace(body, '"v":1', '"v":1 ') WHERE no = ${cp.no}`;
    else if (what === 1)
      await tx`UPDATE checkpoints SET signature = ${flipByte(rng, cp.signature)} WHERE no = ${cp.no}`;
    else if (what === 2)
      await tx`UPDATE checkpoints SET hash = ${flipByte(rng, cp.hash)} WHERE no = ${cp.no}`;
    else if (what === 3) await tx`UPDATE checkpoints SET at_us = at_us + 1 WHERE no = ${cp.no}`;
    else await tx`UPDATE checkpoints SET key_id = 'ffffffffffffffff' WHERE no = ${cp.no}`;
    return `checkpoint ${cp.no} (${what})`;
  },
  'delete checkpoint': async (tx, rng) => {
    const m = (await tx<{ m: number }[]>`SELECT max(no) AS m FROM checkpoints`)[0]!.m;
    if (rng() < 0.5) {
      const k = int(rng, 1, Math.min(3, m));
      await tx`DELETE FROM checkpoints WHERE no > ${m - k}`;
      return `last ${k} checkpoint(s)`;
    }
    const no = int(rng, 1, m);
    await tx`DELETE FROM checkpoints WHERE no = ${no}`;
    return `checkpoint ${no}`;
  },
  'store head': async (tx, rng) => {
    const what = int(rng, 0, 5);
    const random32 = "decode(md5(random()::text) || md5(random()::text), 'hex')";
    const sqls = [
      'UPDATE integrity_state SET seal_no = seal_no - 1',
      `UPDATE integrity_state SET seal = ${random32}`,
      'UPDATE integrity_state SET checkpoint_no = checkpoint_no + 1',
      `UPDATE integrity_state SET checkpoint_hash = ${random32}`,
      'UPDATE integrity_state SET chain_from_sid = 1000000',
      'DELETE FROM integrity_state',
    ];
    await tx.unsafe(sqls[what]!);
    return `store head (${what})`;
  },
};

const ROLLBACK = new Error('rollback');

/** Applies `fn` in a transaction, verifies what it sees, and rolls it back. */
async function withinRolledBack<T>(fn: (tx: TxSql) => Promise<T>): Promise<T> {
  let out: T | undefined;
  await sql
    .begin(async (tx) => {
      out = await fn(tx);
      throw ROLLBACK;
    })
    .catch((err: unknown) => {
      if (err !== ROLLBACK) throw err;
    });
  return out as T;
}

const verifyIn = (tx: TxSql) =>
  verifyStore(new PgIntegritySource(tx, Promise.resolve(), null), { trustedKeys: trusted, keyring });

describe('tamper evidence (PostgreSQL store)', () => {
  before(async () => {
    dir = tempDir('dbtape-tamper-pg-');
    url = (await throwawayPgDatabase()).url;
    await buildStore();
    sql = connectPg(url, { max: 1 });
  });
  after(async () => {
    await sql?.end();
  });

  test('the clean store verifies, with several checkpoints, a gap, crash-closed and open sessions', async () => {
    const source = new PgIntegritySource(sql, Promise.resolve(), (onclose) =>
      connectPg(url, { max: 1, keepOpen: true, onclose }),
    );
    const report = await verifyStore(source, { trustedKeys: trusted, keyring });
    assert.deepEqual(report.findings, []);
    assert.ok(report.checkpoints >= 4, `checkpoints: ${report.checkpoints}`);
    assert.equal(report.open, 1);
    assert.equal(report.unsigned, 0);
    assert.ok((await sql`SELECT 1 FROM sessions WHERE end_reason = 'proxy_crash'`).length > 0);
    assert.ok((await sql`SELECT 1 FROM events WHERE kind = 'gap'`).length > 0, 'a gap event was recorded');
    assert.ok(
      (await sql`SELECT 1 FROM events WHERE format = 2`).length > 0,
      'encrypted events were recorded',
    );
  });

  test("a statement's stored outcome is checked against its events: hiding a failure from search --errors is flagged", async () => {
    const event = async (where: string) => {
      const [row] = await sql.unsafe<{ id: string; sid: number; seq: number }[]>(
        `SELECT s.id, e.session_sid AS sid, e.seq FROM events e JOIN sessions s ON s.sid = e.session_sid
         WHERE ${where} ORDER BY e.session_sid, e.seq LIMIT 1`,
      );
      return row!;
    };
    const text = "CASE WHEN e.format = 1 THEN convert_from(e.body, 'UTF8') END";
    const failed = await event(
      `e.kind = 'query' AND e.failed AND e.format = 1 AND ${text} LIKE '%FROM nosuch%'`,
    );
    const skipped = await event(
      `e.kind = 'query' AND e.failed IS NULL AND ${text} LIKE '%skipped until Sync%'`,
    );
    const running = await event("e.kind = 'query' AND e.failed IS NULL AND s.ended_at_us IS NULL");
    const error = await event("e.kind = 'error'");
    const flagged = (value: boolean | null, at: { sid: number; seq: number }) =>
      withinRolledBack(async (tx) => {
        await tx`UPDATE events SET failed = ${value} WHERE session_sid = ${at.sid} AND seq = ${at.seq}`;
        return (await verifyIn(tx)).findings.map((f) => [f.session, f.seq, f.kind, f.detail]);
      });
    const mismatch = (stored: string, events: string) =>
      `the stored outcome of a statement does not match its events: stored ${stored}, its events say ${events}`;
    assert.deepEqual(await flagged(false, failed), [
      [failed.id, failed.seq, 'modified', mismatch('succeeded', 'failed')],
    ]);
    assert.deepEqual(await flagged(null, failed), [
      [failed.id, failed.seq, 'modified', mismatch('no outcome', 'failed')],
    ]);
    assert.deepEqual(await flagged(true, skipped), [
      [skipped.id, skipped.seq, 'modified', mismatch('failed', 'no outcome')],
    ]);
    assert.deepEqual(await flagged(false, running), [
      [running.id, running.seq, 'modified', mismatch('succeeded', 'no outcome')],
    ]);
    assert.deepEqual(await flagged(true, error), [
      [error.id, error.seq, 'modified', 'an outcome is stored on an event that is not a statement'],
    ]);
  });

  test('1,000 random mutations are each flagged', async () => {
    const seed = Number(process.env.DBTAPE_TAMPER_SEED ?? Math.floor(Math.random() * 2 ** 31));
    const rng = mulberry32(seed);
    const names = Object.keys(MUTATIONS);
    const byKind = new Map<string, number>();
    for (let i = 0; i < 1000; i++) {
      const name = names[i % names.length]!;
      const { what, problems, kinds } = await withinRolledBack(async (tx) => {
        const what = await MUTATIONS[name]!(tx, rng);
        const report = await verifyIn(tx);
        return { what, problems: report.problems, kinds: report.findings.map((f) => f.kind) };
      });
      assert.ok(
        problems > 0,
        `mutation #${i} (${name}: ${what}) was not flagged; replay with DBTAPE_TAMPER_SEED=${seed}`,
      );
      for (const k of kinds) byKind.set(k, (byKind.get(k) ?? 0) + 1);
    }
    assert.deepEqual((await withinRolledBack(verifyIn)).findings, [], 'every mutation was rolled back');
    assertEveryDamageKind(byKind);
  });

  test('dbtape verify --all --store postgres://...: exit 0 clean, 1 with the damage listed', async () => {
    const pub = join(dir, 'signing.pub');
    writeFileSync(pub, pair.publicPem);
    const clean = await dbtapeCli(['verify', '--all', '--store', url, '--public-key', pub], { cwd: dir });
    assert.equal(clean.code, 0, clean.stderr + clean.stdout);
    assert.match(clean.stdout, /no damage found/);
    const [victim] = await sql<{ id: string; seq: number; sid: number }[]>`
      SELECT s.id, e.seq, s.sid FROM events e JOIN sessions s ON s.sid = e.session_sid
      WHERE e.format = 1 AND e.kind = 'query' ORDER BY e.session_sid, e.seq LIMIT 1`;
    await sql`UPDATE events SET body = convert_to(replace(convert_from(body, 'UTF8'), 'users', 'USERS'), 'UTF8')
              WHERE session_sid = ${victim!.sid} AND seq = ${victim!.seq}`;
    const bad = await dbtapeCli(['verify', '--all', '--store', url, '--public-key', pub], { cwd: dir });
    assert.equal(bad.code, 1, bad.stderr + bad.stdout);
    const line = bad.stdout.split('\n').find((l) => l.startsWith(victim!.id));
    assert.ok(line, bad.stdout);
    assert.match(line, new RegExp(`^${victim!.id}\\s+${victim!.seq}\\s+modified\\s`));
    assert.match(bad.stderr, /^dbtape: verify found 1 problem/);
  });
});
