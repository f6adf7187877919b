/**
 * Faults: idle and stalled connections, and the connection limit (issue 5), against a spawned
 * `dbtape serve` in front of the machine's PostgreSQL.
 *
 *  - 2,000 connections held open without finishing a login (1,000 that send nothing, 500 that
 *    send an SSLRequest, are answered N and stall, 500 that stop mid-StartupMessage) plus one
 *    client that drips its StartupMessage one byte every 2 s: a normal login still completes (the
 *    time is measured and reported; it is asserted only to beat the authentication timeout, since
 *    the shared test machine, not dbtape, bounds it), dbtape's memory stays bounded, and the
 *    authentication timeout closes every stalled connection, the slow drip included.
 *  - limits.max_client_connections: the connection past the limit gets a FATAL ErrorResponse
 *    53300 (too_many_connections) and the sessions already open are unaffected; once one ends, a
 *    new client gets in again.
 *
 *  - At the limit, the oldest connection that has not logged in gives up its slot to a newcomer, so
 *    stalled connections never lock out a real login; logged-in sessions are never closed for room.
 *
 * The first test raises max_client_connections (default 1,000) above 2,000 so that all stalled
 * connections stay open until the authentication timeout, which is what it measures.
 * Needs `npm run build` (npm test does it), PostgreSQL on 127.0.0.1:5432, and at least 2,500 open
 * files for the test process and dbtape (node raises its soft limit to the hard one; see ulimit -Hn).
 */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import { after, test } from 'node:test';
import pg from 'pg';
import { startDbtape } from '../support/dbtape-process.js';
import { errorFields, pgRaw, SSL_REQUEST, startupPacket } from '../support/inproc-dbtape.js';
import {
  ALICE,
  type DbtapeProxy,
  proxyYaml,
  rssBytes,
  uniqueName,
  viaProxy,
} from '../support/pg-fixtures.js';
import { freePort } from '../support/ports.js';
import { requireMachinePg } from '../support/servers.js';
import { waitFor, withTimeout } from '../support/wait.js';

const IDLE = 2000;
/** Long enough that opening 2,000 connections on a busy machine (6 s seen) ends well before it. */
const AUTH_TIMEOUT_MS = 15_000;
const DRIP_EVERY_MS = 2000;
/** dbtape's resident memory may grow by at most this much while the idle connections are open. */
const RSS_GROWTH_BOUND = 200 * 1024 * 1024;
const MB = 1024 * 1024;

const proxies: DbtapeProxy[] = [];
const sockets: net.Socket[] = [];
const clients: pg.Client[] = [];

after(async () => {
  for (const s of sockets) s.destroy();
  for (const c of clients) await c.end().catch(() => {});
  for (const p of proxies) await p.stop();
});

/**
 * startProxy with these limits, allowing a minute to start: on the shared test machine a busy
 * minute has kept dbtape from listening within startProxy's 20 s.
 */
async function startLimitedProxy(limits: Record<string, unknown>): Promise<DbtapeProxy> {
  await requireMachinePg();
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      const dbtape = await startDbtape({ config: proxyYaml({ limits }, port, null), startTimeoutMs: 60_000 });
      const proxy: DbtapeProxy = {
        host: '127.0.0.1',
        port,
        pid: dbtape.process.pid!,
        dbtape,
        certs: null,
        stop: async () => {
          await dbtape.stop();
        },
      };
      proxies.push(proxy);
      return proxy;
    } catch (err) {
      if (attempt >= 3 || !/EADDRINUSE|address already in use/i.test(String(err))) throw err;
    }
  }
}

function openFilesLimit(pid: number | 'self'): number {
  const m = /^Max open files\s+(\d+|unlimited)/m.exec(readFileSync(`/proc/${pid}/limits`, 'utf8'));
  return !m || m[1] === 'unlimited' ? Number.POSITIVE_INFINITY : Number(m[1]);
}

function requireOpenFiles(pid: number | 'self', who: string): void {
  const limit = openFilesLimit(pid);
  assert.ok(
    limit >= IDLE + 500,
    `${who} may open only ${limit} files; this test holds ${IDLE} connections: raise the hard limit (ulimit -Hn) to at least ${IDLE + 500}`,
  );
}

/** A TCP connection to dbtape that is connected (kernel handshake done) and tracked for cleanup. */
async function connectTcp(port: number): Promise<net.Socket & { closedAt?: number }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  sockets.push(socket);
  socket.on('error', () => {});
  socket.resume(); // read (and drop) whatever dbtape answers, e.g. 'N' to an SSLRequest
  const s = socket as net.Socket & { closedAt?: number };
  socket.once('close', () => {
    s.closedAt = performance.now();
  });
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('close', () => reject(new Error('closed before connecting')));
    }),
    30_000,
    `a TCP connection to 127.0.0.1:${port}`,
  );
  return s;
}

test('2,000 stalled connections and a slow drip: a login still completes, memory stays bounded, the auth timeout closes them', async (t) => {
  requireOpenFiles('self', 'the test process');
  const proxy = await startLimitedProxy({
    max_client_connections: IDLE + 100,
    auth_timeout: `${AUTH_TIMEOUT_MS}ms`,
  });
  requireOpenFiles(proxy.pid, 'dbtape');
  // A first login warms dbtape up (code loaded, upstream reachable), so the baseline is fair.
  const warm = new pg.Client(viaProxy(proxy));
  clients.push(warm);
  await warm.connect();
  await warm.query('select 1');
  const rssBefore = rssBytes(proxy.pid);

  const partialStartup = startupPacket([
    ['user', ALICE.name],
    ['database', 'app'],
  ]).subarray(0, 10);
  const stalled: (net.Socket & { closedAt?: number })[] = [];
  const openedAt = performance.now();
  // In batches, so that the listen backlog never overflows into SYN retries.
  for (let i = 0; i < IDLE; i += 100) {
    const batch = await Promise.all(Array.from({ length: 100 }, () => connectTcp(proxy.port)));
    batch.forEach((s, j) => {
      const n = i + j;
      if (n % 4 === 1) s.write(SSL_REQUEST);
      else if (n % 4 === 3) s.write(partialStartup);
    });
    stalled.push(...batch);
  }
  t.diagnostic(`${IDLE} stalled connections opened in ${Math.round(performance.now() - openedAt)} ms`);

  const drip = await connectTcp(proxy.port);
  const dripBytes = startupPacket([
    ['user', ALICE.name],
    ['database', 'app'],
    ['application_name', 'slow-drip'],
  ]);
  let dripped = 0;
  const dripTimer = setInterval(() => {
    if (drip.closedAt === undefined && dripped < dripBytes.length)
      drip.write(dripBytes.subarray(dripped, ++dripped));
  }, DRIP_EVERY_MS);
  drip.write(dripBytes.subarray(0, ++dripped));

  try {
    // A normal login while all of that is held open.
    const loginStarted = performance.now();
    const client = new pg.Client(viaProxy(proxy, { application_name: uniqueName('faults_idle_login') }));
    clients.push(client);
    await client.connect();
    const loginMs = performance.now() - loginStarted;
    assert.equal((await client.query('select 1 as one')).rows[0].one, 1);
    t.diagnostic(`a normal login took ${Math.round(loginMs)} ms with ${IDLE} stalled connections open`);
    assert.ok(
      loginMs < AUTH_TIMEOUT_MS,
      `the login took ${Math.round(loginMs)} ms, longer than the ${AUTH_TIMEOUT_MS} ms authentication timeout`,
    );
    const stillOpen = stalled.filter((s) => s.closedAt === undefined).length;
    assert.ok(stillOpen > IDLE / 2, `only ${stillOpen} stalled connections were still open at the login`);

    const rssWith = rssBytes(proxy.pid);
    t.diagnostic(
      `dbtape RSS ${Math.round(rssBefore / MB)} MB before, ${Math.round(rssWith / MB)} MB with ${IDLE} stalled connections`,
    );
    assert.ok(
      rssWith - rssBefore < RSS_GROWTH_BOUND,
      `dbtape's RSS grew by ${Math.round((rssWith - rssBefore) / MB)} MB for ${IDLE} idle connections`,
    );

    // The authentication timeout closes every stalled connection, the slow drip too.
    await waitFor(() => stalled.every((s) => s.closedAt !== undefined) && drip.closedAt !== undefined, {
      timeoutMs: AUTH_TIMEOUT_MS + 60_000,
      intervalMs: 200,
      what: 'dbtape to close every stalled connection',
    });
    const firstClose = Math.min(...stalled.map((s) => s.closedAt!));
    assert.ok(
      firstClose - openedAt >= AUTH_TIMEOUT_MS - 1000,
      `a stalled connection was closed ${Math.round(firstClose - openedAt)} ms after it opened, before the ${AUTH_TIMEOUT_MS} ms timeout`,
    );
    assert.ok(dripped < dripBytes.length, 'the slow drip finished its StartupMessage: drip slower');
    // dbtape logs before it closes, but its log reaches us through a pipe, possibly after the close.
    const timeoutLines = () => proxy.dbtape.logs.filter((l) => l.includes('authentication timeout')).length;
    await waitFor(() => timeoutLines() >= IDLE, {
      timeoutMs: 30_000,
      what: `an "authentication timeout" log line for each of the ${IDLE + 1} stalled connections`,
    });
    // Logged-in sessions are not touched by the timeout.
    assert.equal((await client.query('select 2 as two')).rows[0].two, 2);
    assert.equal((await warm.query('select 3 as three')).rows[0].three, 3);
  } finally {
    clearInterval(dripTimer);
  }
});

test('max_client_connections: the connection past the limit gets 53300, the others are unaffected', async () => {
  const LIMIT = 3;
  const proxy = await startLimitedProxy({ max_client_connections: LIMIT });
  const open: pg.Client[] = [];
  for (let i = 0; i < LIMIT; i++) {
    const c = new pg.Client(viaProxy(proxy, { application_name: uniqueName('faults_limit') }));
    clients.push(c);
    await c.connect();
    open.push(c);
  }

  // One past the limit: FATAL 53300 at once, then the close (as a raw client sees it)...
  const raw = await pgRaw(proxy.port);
  try {
    const m = await raw.readMessage();
    assert.equal(m.type, 'E');
    const f = errorFields(m);
    assert.equal(f.S, 'FATAL');
    assert.equal(f.C, '53300');
    assert.match(f.M, /^dbtape: too many connections/);
    await raw.closed();
  } finally {
    raw.destroy();
  }
  // ...and as libpq-style clients see it.
  const refused = new pg.Client(viaProxy(proxy));
  await assert.rejects(refused.connect(), (err: Error & { code?: string }) => {
    assert.equal(err.code, '53300', err.message);
    return true;
  });

  for (const [i, c] of open.entries()) assert.equal((await c.query('select $1::int as i', [i])).rows[0].i, i);
  await open[0]!.end();
  // The slot is given back when the connection closes.
  const next = await waitFor(
    async () => {
      const c = new pg.Client(viaProxy(proxy));
      try {
        await c.connect();
      } catch (err) {
        await c.end().catch(() => {});
        throw err;
      }
      clients.push(c);
      return c;
    },
    { what: 'a free connection slot after one session ended' },
  );
  assert.equal((await next.query('select 1 as one')).rows[0].one, 1);
  assert.ok(proxy.dbtape.logs.some((l) => l.includes('connection limit reached')));
});

test('at the connection limit, stalled connections give up their slots to a real login; logged-in sessions never do', async () => {
  const LIMIT = 20;
  const proxy = await startLimitedProxy({ max_client_connections: LIMIT, auth_timeout: '60s' });
  const session = new pg.Client(viaProxy(proxy, { application_name: uniqueName('faults_evict') }));
  clients.push(session);
  await session.connect();

  // Fill every other slot with connections that never log in (the timeout is far away).
  const stalled = await Promise.all(Array.from({ length: LIMIT * 3 }, () => connectTcp(proxy.port)));
  await waitFor(() => stalled.filter((s) => s.closedAt !== undefined).length >= LIMIT * 2, {
    what: 'the stalled connections beyond the limit to be closed, oldest first',
  });
  const survivors = stalled.filter((s) => s.closedAt === undefined);
  assert.equal(survivors.length, LIMIT - 1, 'one slot is the logged-in session');
  assert.deepEqual(survivors, stalled.slice(-(LIMIT - 1)), 'the newest stalled connections keep their slots');

  // A real login still gets in, and the logged-in session is untouched.
  const login = new pg.Client(viaProxy(proxy, { application_name: uniqueName('faults_evict_login') }));
  clients.push(login);
  await login.connect();
  assert.equal((await login.query('select 1 as one')).rows[0].one, 1);
  assert.equal((await session.query('select 2 as two')).rows[0].two, 2);
  assert.ok(
    proxy.dbtape.logs.some((l) =>
      l.includes('closed the oldest connection that had not finished logging in'),
    ),
  );
});
