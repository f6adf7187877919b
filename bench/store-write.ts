// The SQLite store's CPU per event for pgbench-like batches (8 sessions, a query and a result per
// statement, encoding excluded): what the store's thread of `dbtape serve` spends per event. Each
// batch is timed on its own and the median printed: index merges and WAL checkpoints land on some
// batches only, and a shared VM's noise between runs is larger than most changes, so compare two
// builds by running them in turn, several times. BATCHES=N (200).
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { SessionEvent, SessionEventBody, SessionMeta } from '../src/model/session.js';
import { encodeBatch } from '../src/store/encoded-batch.js';
import type { WriteBatch } from '../src/store/session-store.js';
import { SqliteSessionStore } from '../src/store/sqlite/sqlite-store.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'sb-'));
const store = new SqliteSessionStore(path.join(dir, 's.db'), {});
const SESSIONS = 8,
  PER = 125,
  BATCHES = Number(process.env.BATCHES ?? 200);
const seqs = new Array(SESSIONS).fill(0);
const ids = Array.from(
  { length: SESSIONS },
  (_, i) => `00000000-0000-4000-8000-${String(i).padStart(12, '0')}`,
);
const meta = (i: number): SessionMeta => ({
  id: ids[i]!,
  protocol: 'postgres',
  user: 'bench',
  roles: ['bench'],
  clientAddr: '127.0.0.1',
  clientPort: 5000 + i,
  application: 'pgbench',
  clientTls: null,
  target: 'bench',
  upstreamDatabase: 'bench',
  upstreamUser: 'postgres',
  startedAtUs: Date.now() * 1000,
});
let t = Date.now() * 1000;

/** The next event of session s, stamped 50 µs after the one before. */
function next(s: number, body: SessionEventBody): WriteBatch['events'][number] {
  t += 50;
  return {
    sessionId: ids[s]!,
    event: { seq: ++seqs[s]!, atUs: t, offsetUs: t % 1e9, ...body } as SessionEvent,
  };
}

function batch(first: boolean) {
  const events: WriteBatch['events'][number][] = [];
  for (let k = 0; k < PER; k++)
    for (let s = 0; s < SESSIONS; s++) {
      const aid = Math.floor(Math.random() * 1e6);
      events.push(
        next(s, {
          kind: 'query',
          sql: `SELECT abalance FROM pgbench_accounts WHERE aid = ${aid};`,
          via: 'simple',
        }),
      );
      events.push(
        next(s, {
          kind: 'result',
          tag: 'SELECT 1',
          rows: 1,
          durationUs: 80,
          columns: [{ name: 'abalance', type: 'int4' }],
        }),
      );
    }
  return encodeBatch({ sessions: first ? ids.map((_, i) => meta(i)) : [], ends: [], events });
}
const batches = Array.from({ length: BATCHES }, (_, i) => batch(i === 0));
const perBatch: number[] = [];
let n = 0;
for (const b of batches) {
  const c0 = process.cpuUsage();
  await store.writeEncoded(b);
  const c = process.cpuUsage(c0);
  const k = b.numbers.length / 4;
  n += k;
  perBatch.push((c.user + c.system) / k);
}
perBatch.sort((a, b) => a - b);
const q = (f: number) => perBatch[Math.floor(perBatch.length * f)]!.toFixed(2);
console.log(
  `${n} events in ${perBatch.length} batches: CPU µs per event, median ${q(0.5)} (p25 ${q(0.25)}, p75 ${q(0.75)})`,
);
await store.close?.();
rmSync(dir, { recursive: true, force: true });
