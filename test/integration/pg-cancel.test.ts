// Cancel routing through dbtape: clients get dbtape's own BackendKeyData, and a CancelRequest (on a
// new connection) reaches exactly the one upstream backend it belongs to; unknown keys cancel nothing.
// A throwaway server is used so that 100 sessions fit within its max_connections.
import assert from 'node:assert/strict';
import { randomInt } from 'node:crypto';
import { after, before, test } from 'node:test';
import type pg from 'pg';
import { type PgCluster, startPgCluster } from '../support/pg-cluster.js';
import {
  backendKey,
  connectDirect,
  connectViaProxy,
  type DbtapeProxy,
  logLinesWith,
  sendCancel,
  sleeping,
  startProxy,
  uniqueName,
} from '../support/pg-fixtures.js';
import { waitFor, withTimeout } from '../support/wait.js';

const SESSIONS = 100;
const RANDOM_KEYS = 200;

let cluster: PgCluster;
let proxy: DbtapeProxy;
let monitor: pg.Client;

before(async () => {
  cluster = await startPgCluster({ settings: { max_connections: String(SESSIONS + 50) } });
  proxy = await startProxy({
    targets: [
      {
        name: 'app',
        protocol: 'postgres',
        host: '127.0.0.1',
        port: cluster.port,
        user: 'postgres',
        database: 'postgres',
        tls: 'disable',
      },
    ],
  });
  monitor = await connectDirect({
    host: '127.0.0.1',
    port: cluster.port,
    user: 'postgres',
    database: 'postgres',
  });
});

after(async () => {
  await monitor?.end();
  await proxy?.stop();
  await cluster?.stop();
});

interface Sleeper {
  readonly application: string;
  readonly client: pg.Client;
  readonly key: { pid: number; secret: number };
  readonly backendPid: number;
  /** Settles with the query's error (null if it was not cancelled). */
  readonly outcome: Promise<{ code?: string } | null>;
}

async function startSleeper(prefix: string, i: number): Promise<Sleeper> {
  const application = `${prefix}_${i}`;
  const client = await connectViaProxy(proxy, { application_name: application });
  const backendPid = (await client.query('select pg_backend_pid() as pid')).rows[0].pid as number;
  const outcome = client.query('select pg_sleep(30)').then(
    () => null,
    (err: { code?: string }) => err,
  );
  return { application, client, key: backendKey(client), backendPid, outcome };
}

/**
 * Waits until exactly `expected` are running pg_sleep. The client sees the cancel's error a moment
 * before the backend reports itself idle, so the one just cancelled may still show as active; a
 * wrongly cancelled session never comes back, so a wrong set times out.
 */
async function waitForExactly(prefix: string, expected: ReadonlySet<string>, when: string): Promise<void> {
  let last = new Set<string>();
  const same = () => last.size === expected.size && [...expected].every((a) => last.has(a));
  await waitFor(
    async () => {
      last = await sleeping(monitor, prefix);
      return same();
    },
    { timeoutMs: 5000, intervalMs: 10, what: `exactly ${expected.size} sessions running pg_sleep ${when}` },
  ).catch((err: Error) => {
    const missing = [...expected].filter((a) => !last.has(a));
    const extra = [...last].filter((a) => !expected.has(a));
    throw new Error(
      `${err.message}: not running ${missing.join(', ') || 'none'}; still running ${extra.join(', ') || 'none'}`,
    );
  });
}

function shuffled<T>(items: readonly T[]): T[] {
  const out = [...items];
  for (let i = out.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

test(`${SESSIONS} sessions each cancel only their own pg_sleep; ${RANDOM_KEYS} wrong keys cancel nothing`, async () => {
  const prefix = uniqueName('cancel');
  const sleepers = await Promise.all(Array.from({ length: SESSIONS }, (_, i) => startSleeper(prefix, i)));
  try {
    const all = new Set(sleepers.map((s) => s.application));
    await waitFor(async () => (await sleeping(monitor, prefix)).size === SESSIONS, {
      timeoutMs: 20_000,
      what: `${SESSIONS} backends running pg_sleep`,
    });
    // Clients must hold dbtape's keys, not the upstream backends' (a pass-through would match them all).
    const passedThrough = sleepers.filter((s) => s.key.pid === s.backendPid).length;
    assert.ok(passedThrough < 5, `${passedThrough} clients got the upstream backend's own pid`);

    // Half entirely random, half a real session's pid with a wrong secret.
    const known = new Set(sleepers.map((s) => s.key.pid));
    const wrongKeys = Array.from({ length: RANDOM_KEYS }, (_, i) => {
      if (i % 2 === 1) {
        const s = sleepers[i % SESSIONS];
        return { pid: s.key.pid, secret: s.key.secret ^ (1 + randomInt(0x7fff_ffff)) };
      }
      let pid = randomInt(1, 0x7fff_ffff);
      while (known.has(pid)) pid = randomInt(1, 0x7fff_ffff);
      return { pid, secret: randomInt(-0x8000_0000, 0x7fff_ffff) };
    });
    const ignoredBefore = logLinesWith(proxy, 'unknown key').length;
    for (const key of wrongKeys) await sendCancel(proxy.port, key);
    // dbtape logs each ignored key; a wrongly relayed cancel shows as a query no longer running.
    await waitFor(
      async () =>
        logLinesWith(proxy, 'unknown key').length - ignoredBefore >= RANDOM_KEYS ||
        (await sleeping(monitor, prefix)).size < SESSIONS,
      { what: `dbtape to log ${RANDOM_KEYS} ignored cancel requests` },
    );
    assert.deepEqual(await sleeping(monitor, prefix), all, 'a wrong key cancelled a query');

    const running = new Set(all);
    for (const s of shuffled(sleepers)) {
      await sendCancel(proxy.port, s.key);
      const err = await withTimeout(s.outcome, 15_000, `the query of ${s.application} to be cancelled`);
      assert.equal(err?.code, '57014', `${s.application}: ${JSON.stringify(err)}`);
      running.delete(s.application);
      await waitForExactly(prefix, running, `after cancelling ${s.application}`);
      assert.equal((await s.client.query('select 1 as one')).rows[0].one, 1);
    }
  } finally {
    await Promise.all(sleepers.map((s) => s.client.end().catch(() => {})));
  }
});
