/**
 * What the tamper tests of both stores share: the store they damage (recorded through the
 * Recorder), a store that fails on demand, random damage, and the kinds of damage verify must
 * have reported by the end.
 */
import assert from 'node:assert/strict';
import type { Keyring } from '../../src/integrity/keyring.js';
import type { CheckpointSigner } from '../../src/integrity/signing-key.js';
import type { SessionMeta } from '../../src/model/session.js';
import { Recorder } from '../../src/recording/recorder.js';
import { openStore } from '../../src/store/open-store.js';
import type { WriteBatch, WriteOptions } from '../../src/store/session-store.js';
import { DelegatingStore } from './delegating-store.js';
import type { Rng } from './random.js';
import { sessionMeta } from './session-meta.js';

/** Fails writes on demand, to record sessions with gaps. */
export class FlakyStore extends DelegatingStore {
  failing = false;
  async writeBatch(batch: WriteBatch, options?: WriteOptions): Promise<void> {
    if (this.failing) throw Object.assign(new Error('disk full'), { code: 'SQLITE_FULL' });
    return this.inner.writeBatch(batch, options);
  }
  checkpoint = (atUs: number) => this.inner.checkpoint!(atUs);
}

export const pick = <T>(rng: Rng, list: readonly T[]): T => list[Math.floor(rng() * list.length)]!;
export const int = (rng: Rng, lo: number, hi: number): number => lo + Math.floor(rng() * (hi - lo + 1));

/** The buffer with one bit of one byte flipped. */
export function flipByte(rng: Rng, b: Buffer): Buffer {
  const out = Buffer.from(b);
  const i = int(rng, 0, out.length - 1);
  out[i] = out[i]! ^ (1 << int(rng, 0, 7));
  return out;
}

/** How many sessions of each part buildTamperStore records, and how often it signs. */
export interface TamperStoreShape {
  /** Session ids start with it. */
  readonly idPrefix: string;
  /** Clear sessions, ended, before the one with a gap. */
  readonly clear: number;
  /** Clear sessions left open, as by a crash, then closed with proxy_crash. */
  readonly crashed: number;
  /** Encrypted sessions, ended (strict durability). */
  readonly encrypted: number;
  /** A checkpoint every this many sealed sessions: in the clear part, in the encrypted part. */
  readonly checkpointEvery: readonly [number, number];
}

/**
 * Records the store the mutations start from at `url`: clear sessions with checkpoints every few
 * sessions and one with a gap, sessions left open by a crash and closed with proxy_crash,
 * encrypted sessions under `keyring`, and one session still open at the end, its head signed by
 * the last checkpoint. Protocol, user, roles, application and TLS vary from session to session.
 */
export async function buildTamperStore(
  url: string,
  signer: CheckpointSigner,
  keyring: Keyring,
  shape: TamperStoreShape,
): Promise<void> {
  let n = 0;
  const nextMeta = (): SessionMeta => {
    n++;
    return sessionMeta(
      `${shape.idPrefix}${String(n).padStart(3, '0')}-${Math.random().toString(36).slice(2, 8)}`,
      {
        protocol: n % 3 === 0 ? 'mysql' : 'postgres',
        user: n % 2 === 0 ? 'alice' : 'bob',
        roles: n % 2 === 0 ? ['analyst'] : [],
        clientPort: 40000 + n,
        application: n % 4 === 0 ? null : 'psql',
        clientTls: n % 5 === 0 ? 'TLSv1.3' : null,
        startedAtUs: Date.now() * 1000,
      },
    );
  };
  const recordSessions = async (recorder: Recorder, count: number, end: boolean): Promise<void> => {
    for (let i = 0; i < count; i++) {
      const meta = nextMeta();
      const rec = recorder.open(meta);
      const statements = 1 + (i % 5);
      for (let q = 0; q < statements; q++) {
        rec.event({
          kind: 'query',
          sql: `SELECT name FROM users WHERE id = $1 -- ${i}.${q}`,
          params: [String(q)],
          via: 'extended',
        });
        if (q % 3 === 2)
          rec.event({ kind: 'error', code: '42P01', message: 'relation "nope" does not exist' });
        else rec.event({ kind: 'result', tag: 'SELECT 1', rows: 1, durationUs: 100 + q });
      }
      if (i % 4 === 1) rec.event({ kind: 'notice', severity: 'NOTICE', code: '00000', message: 'hello' });
      await recordOutcomes(recorder, rec, meta.protocol, i);
      // Cut off by the crash before its outcome: it has none.
      if (!end) rec.event({ kind: 'query', sql: 'SELECT pg_sleep(60)', via: 'simple' });
      if (end) rec.event({ kind: 'end', reason: i % 2 ? 'client_closed' : 'client_lost' });
    }
    await recorder.flush();
  };

  // 1. Clear sessions, with checkpoints every few sessions, and a gap.
  const clear = openStore(url, { signer });
  const flaky = new FlakyStore(clear);
  const r1 = new Recorder({
    store: flaky,
    checkpointEverySessions: shape.checkpointEvery[0],
    checkpointIntervalMs: 0,
    maxBackoffMs: 5,
  });
  await recordSessions(r1, shape.clear, true);
  const gappy = r1.open(nextMeta());
  gappy.event({ kind: 'query', sql: 'SELECT 1', via: 'simple' });
  await r1.flush();
  flaky.failing = true;
  gappy.event({ kind: 'result', tag: 'SELECT 1', rows: 1, durationUs: 1 });
  gappy.event({ kind: 'query', sql: 'SELECT lost', via: 'simple' });
  await r1.flush();
  flaky.failing = false;
  // The lost statement's error: stored after the gap, it is linked to the statement before it.
  gappy.event({ kind: 'error', code: '42P01', message: 'relation "lost" does not exist' });
  gappy.event({ kind: 'query', sql: 'SELECT after the gap', via: 'simple' });
  gappy.event({ kind: 'end', reason: 'client_closed' });
  // 2. Sessions left open, as by a crash.
  await recordSessions(r1, shape.crashed, false);
  await r1.checkpoint();
  await clear.close();
  // 3. Encrypted sessions; the crash-left ones are closed with proxy_crash first.
  const enc = openStore(url, { signer, keyring });
  assert.equal(await enc.closeOpenSessions('proxy_crash', Date.now() * 1000), shape.crashed);
  const r2 = new Recorder({
    store: enc,
    durability: 'strict',
    checkpointEverySessions: shape.checkpointEvery[1],
    checkpointIntervalMs: 0,
  });
  await r2.checkpoint();
  await recordSessions(r2, shape.encrypted, true);
  // 4. One session still open at the end, its head signed by the last checkpoint.
  const open = r2.open(nextMeta());
  open.event({ kind: 'query', sql: 'SELECT still_open', via: 'simple' });
  open.event({ kind: 'result', tag: 'SELECT 1', rows: 1, durationUs: 1 });
  // Still running: no outcome yet.
  open.event({ kind: 'query', sql: 'SELECT pg_sleep(60)', via: 'simple' });
  await r2.flush();
  await r2.checkpoint();
  await enc.close();
}

/**
 * Statements whose outcomes the store links in each way there is: a PostgreSQL pipeline whose
 * error skips the rest until Sync, a simple query whose error follows a result of its own, outcomes
 * in a later batch than their statement; MySQL sessions get MySQL's errors.
 */
async function recordOutcomes(
  recorder: Recorder,
  rec: ReturnType<Recorder['open']>,
  protocol: SessionMeta['protocol'],
  i: number,
): Promise<void> {
  const error =
    protocol === 'mysql'
      ? { kind: 'error' as const, code: '42S02', errno: 1146, message: "Table 'app.nosuch' doesn't exist" }
      : { kind: 'error' as const, code: '42P01', message: 'relation "nosuch" does not exist' };
  const ok = { kind: 'result' as const, tag: 'SELECT 1', rows: 1, durationUs: 3 };
  if (i % 3 === 0) {
    for (const sql of ['SELECT 1', 'SELECT * FROM nosuch', 'SELECT skipped until Sync'])
      rec.event({ kind: 'query', sql, via: 'extended' });
    rec.event(ok);
    rec.event(error);
    rec.event({ kind: 'query', sql: 'SELECT after Sync', via: 'extended' });
    rec.event(ok);
  } else if (i % 3 === 1) {
    rec.event({ kind: 'query', sql: 'SELECT 1; SELECT * FROM nosuch', via: 'simple' });
    // Both outcomes in the next batch: the error overturns the result there.
    await recorder.flush();
    rec.event(ok);
    rec.event(error);
  } else {
    rec.event({ kind: 'query', sql: 'SELECT * FROM nosuch', via: 'simple' });
    await recorder.flush();
    rec.event(error);
  }
}

/** Every kind of damage verify can report: a tamper run must have seen each one. */
export function assertEveryDamageKind(byKind: ReadonlyMap<string, number>): void {
  for (const kind of [
    'modified',
    'deleted',
    'reordered',
    'truncated',
    'inserted',
    'bad-signature',
    'missing-session',
    'missing-checkpoint',
    'unsealed',
    'bad-key',
  ]) {
    assert.ok(byKind.has(kind), `some mutation was reported as ${kind}: ${JSON.stringify([...byKind])}`);
  }
}
