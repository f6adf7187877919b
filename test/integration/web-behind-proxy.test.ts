// The dashboard behind a TLS-terminating reverse proxy, and the Host check against DNS rebinding
// (README, "The dashboard and HTTP API" and Configuration, `http`), on the real HTTP server: requests
// arrive from 127.0.0.1 as a proxy on this host would send them (Host of the public name,
// X-Forwarded-For or Forwarded, the browser's https Origin). fetch cannot set Host, so node:http
// sends them.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { hashPassword } from '../../src/config/verifiers.js';
import { Recorder } from '../../src/recording/recorder.js';
import { openStore } from '../../src/store/open-store.js';
import type { SessionStore } from '../../src/store/session-store.js';
import { recordingSnapshot, startWeb } from '../../src/web/index.js';
import type { RunningWeb, WebOptions } from '../../src/web/types.js';
import { collectingLogger, DEFAULT_TARGET, type LogLine } from '../support/inproc-dbtape.js';

const PUBLIC = 'https://dbtape.example.com';
const PUBLIC_HOST = 'dbtape.example.com';
const PASSWORDS = { ada: 'ada-admin-pw', alice: 'alice-pw' } as const;

let dir: string;
let store: SessionStore;
let recorder: Recorder;
/** Behind the proxy: public_url and trusted_proxies set. */
let proxied: RunningWeb;
/** Behind a proxy that names the client in RFC 7239 Forwarded (http.forwarded_header: forwarded). */
let forwarded: RunningWeb;
/** Plain: on loopback, no http section (the defaults). */
let plain: RunningWeb;
const proxiedLogs: LogLine[] = [];
const forwardedLogs: LogLine[] = [];

function config(name: string, httpSection: Record<string, unknown> | null): Config {
  const file = path.join(dir, `${name}.yaml`);
  writeFileSync(
    file,
    stringify({
      listen: { http: '127.0.0.1:0' },
      ...(httpSection ? { http: httpSection } : {}),
      store: { url: `sqlite:${path.join(dir, 'store.db')}` },
      targets: [DEFAULT_TARGET],
      users: [
        { name: 'ada', password: hashPassword(PASSWORDS.ada, { iterations: 1024 }), roles: ['admin'] },
        { name: 'alice', password: hashPassword(PASSWORDS.alice, { iterations: 1024 }), roles: [] },
      ],
    }),
  );
  return loadConfig(file);
}

function webOptions(c: Config, logs: LogLine[] | null): WebOptions {
  return {
    config: c,
    store,
    bus: recorder.bus,
    registry: { activeIds: () => [], kill: () => false },
    metrics: () => ({ sessionsActive: 0, sessionsTotal: 0, recording: recordingSnapshot(recorder.stats()) }),
    log: logs ? collectingLogger(logs) : collectingLogger([]),
    host: '127.0.0.1',
    port: 0,
    tokensFile: null,
    assetsDir: dir,
    // Per address, 3 failures and then a wait far longer than the test, so the count is what shows.
    loginLimits: { perUserFromIp: 100, perIp: 3, baseDelayMs: 600_000 },
  };
}

interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
}

/** One request to `web` with exactly these headers (Host included), as a proxy would forward it. */
function send(
  web: RunningWeb,
  method: string,
  urlPath: string,
  headers: Record<string, string | string[]>,
  body?: unknown,
): Promise<Reply> {
  const data = body === undefined ? undefined : JSON.stringify(body);
  const all = { ...headers, ...(data ? { 'content-type': 'application/json' } : {}) };
  return new Promise((resolve, reject) => {
    const req = http.request(`${web.url}${urlPath}`, { method, headers: all }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (chunk: string) => {
        text += chunk;
      });
      res.on('end', () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
    });
    req.on('error', reject);
    req.end(data);
  });
}

/** What the proxy on this host sends for a browser at `client` on https://dbtape.example.com. */
function viaProxy(client: string, extra: Record<string, string> = {}): Record<string, string> {
  return { host: PUBLIC_HOST, 'x-forwarded-for': client, origin: PUBLIC, ...extra };
}

function errorCode(r: Reply): string {
  return (JSON.parse(r.body) as { error: { code: string } }).error.code;
}

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-web-proxy-'));
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>dbtape</title>');
  const proxiedConfig = config('proxied', { public_url: PUBLIC, trusted_proxies: ['127.0.0.1', '::1'] });
  store = openStore(proxiedConfig.store.url);
  recorder = new Recorder({ store, capture: 'summary', flushIntervalMs: 10 });
  proxied = await startWeb(webOptions(proxiedConfig, proxiedLogs));
  const forwardedConfig = config('forwarded', {
    public_url: PUBLIC,
    trusted_proxies: ['127.0.0.1', '::1'],
    forwarded_header: 'forwarded',
  });
  forwarded = await startWeb(webOptions(forwardedConfig, forwardedLogs));
  plain = await startWeb(webOptions(config('plain', null), null));
});

after(async () => {
  await proxied?.close();
  await forwarded?.close();
  await plain?.close();
  await recorder?.shutdown();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('behind a TLS-terminating reverse proxy', () => {
  test('the startup log and RunningWeb give the public URL', () => {
    assert.equal(proxied.publicUrl, PUBLIC);
    assert.match(proxied.url, /^http:\/\/127\.0\.0\.1:\d+$/, 'the direct address stays reachable');
    const line = proxiedLogs.find((l) => l.msg === 'dashboard listening');
    assert.equal(line?.url, PUBLIC);
    assert.equal(line?.direct_url, proxied.url);
    assert.equal(line?.host_check, true);
  });

  test('a browser signs in with its https Origin, gets a Secure __Host- cookie, and POSTs with CSRF', async () => {
    const login = await send(proxied, 'POST', '/api/login', viaProxy('203.0.113.10'), {
      user: 'ada',
      password: PASSWORDS.ada,
    });
    assert.equal(login.status, 200, login.body);
    const setCookie = String(login.headers['set-cookie'] ?? '');
    assert.match(setCookie, /^__Host-dbtape_session=[\w-]{40,};/);
    assert.match(setCookie, /; Secure/i);
    assert.match(setCookie, /; Path=\//);
    assert.match(setCookie, /; HttpOnly/i);
    assert.match(setCookie, /; SameSite=Strict/i);
    assert.doesNotMatch(setCookie, /; Domain=/i, '__Host- cookies carry no Domain');
    const cookie = setCookie.split(';')[0]!;
    const { csrf } = JSON.parse(login.body) as { csrf: string };

    const me = await send(proxied, 'GET', '/api/me', viaProxy('203.0.113.10', { cookie }));
    assert.equal(me.status, 200, me.body);
    assert.equal((JSON.parse(me.body) as { user: string }).user, 'ada');

    const signedIn = viaProxy('203.0.113.10', { cookie, 'x-csrf-token': csrf });
    const token = await send(proxied, 'POST', '/api/tokens', signedIn, { name: 'via-proxy' });
    assert.equal(token.status, 201, token.body);

    // Another site's page is still refused, through the proxy too.
    const cross = await send(
      proxied,
      'POST',
      '/api/tokens',
      { ...signedIn, origin: 'https://evil.example' },
      {},
    );
    assert.equal(cross.status, 403, cross.body);
    assert.equal(errorCode(cross), 'DBTAPE_CSRF');

    const logout = await send(proxied, 'POST', '/api/logout', signedIn);
    assert.equal(logout.status, 200, logout.body);
  });

  test('sign-in from another origin is refused', async () => {
    const r = await send(
      proxied,
      'POST',
      '/api/login',
      viaProxy('203.0.113.11', { origin: 'https://evil.example' }),
      {
        user: 'alice',
        password: PASSWORDS.alice,
      },
    );
    assert.equal(r.status, 403, r.body);
  });

  test("throttling counts each client's forwarded address, and forged entries do not escape it", async () => {
    // Only this test's lines: the file's other tests fail sign-ins from other addresses.
    const from = proxiedLogs.length;
    const guess = (headers: Record<string, string>, i: number) =>
      send(proxied, 'POST', '/api/login', headers, { user: `nobody-${i}`, password: 'wrong' });
    for (let i = 0; i < 3; i++) {
      assert.equal((await guess(viaProxy('198.51.100.7'), i)).status, 401, `failure ${i + 1}`);
    }
    const blocked = await guess(viaProxy('198.51.100.7'), 3);
    assert.equal(blocked.status, 429, blocked.body);
    // Prepending another address is what a client can do; the proxy still appends the real one.
    const forged = await guess(viaProxy('192.0.2.99, 198.51.100.7'), 4);
    assert.equal(forged.status, 429, 'a forged left-most entry does not change who is throttled');

    // Everyone else comes through the same proxy socket and is not locked out.
    const other = await send(proxied, 'POST', '/api/login', viaProxy('198.51.100.8'), {
      user: 'alice',
      password: PASSWORDS.alice,
    });
    assert.equal(other.status, 200, other.body);
    const mine = proxiedLogs.slice(from);
    const failed = mine.filter((l) => l.msg === 'dashboard sign-in failed');
    assert.ok(failed.length >= 3 && failed.every((l) => l.ip === '198.51.100.7'), JSON.stringify(failed));
    assert.ok(mine.some((l) => l.msg === 'dashboard sign-in' && l.ip === '198.51.100.8'));
  });

  test('an IPv6 client is throttled by its /64 and logged by its full address', async () => {
    const guess = (client: string, i: number) =>
      send(proxied, 'POST', '/api/login', viaProxy(client), { user: `v6-${i}`, password: 'wrong' });
    for (let i = 1; i <= 3; i++) assert.equal((await guess(`2001:db8:7:7::${i}`, i)).status, 401);
    const fresh = await guess('2001:db8:7:7:a:b:c:d', 4);
    assert.equal(fresh.status, 429, 'a fresh address from the same /64 gets no fresh allowance');
    const neighbour = await send(proxied, 'POST', '/api/login', viaProxy('2001:db8:7:8::1'), {
      user: 'alice',
      password: PASSWORDS.alice,
    });
    assert.equal(neighbour.status, 200, `the next /64 is someone else: ${neighbour.body}`);
    const failed = proxiedLogs.filter(
      (l) => l.msg === 'dashboard sign-in failed' && String(l.ip).includes(':'),
    );
    assert.deepEqual(
      failed.map((l) => l.ip),
      ['2001:db8:7:7::1', '2001:db8:7:7::2', '2001:db8:7:7::3'],
    );
  });

  test('a Forwarded header the client sent is passed on by an X-Forwarded-For proxy, and ignored', async () => {
    const guess = (i: number) =>
      send(proxied, 'POST', '/api/login', viaProxy('198.51.100.30', { forwarded: `for=192.0.2.${i}` }), {
        user: `forger-${i}`,
        password: 'wrong',
      });
    for (let i = 0; i < 3; i++) assert.equal((await guess(i)).status, 401, `failure ${i + 1}`);
    assert.equal(
      (await guess(3)).status,
      429,
      'a new Forwarded address each time does not escape the throttle',
    );
  });

  test('probes by IP address or localhost still reach /healthz', async () => {
    const port = proxied.address.slice(proxied.address.lastIndexOf(':') + 1);
    for (const host of [proxied.address, `localhost:${port}`, PUBLIC_HOST]) {
      const r = await send(proxied, 'GET', '/healthz', { host });
      assert.equal(r.status, 200, `${host}: ${r.body}`);
    }
  });
});

describe('behind a proxy that writes Forwarded (RFC 7239)', () => {
  /** What such a proxy sends: the client's own Forwarded elements, if any, then its own. */
  function viaForwarded(element: string | string[], extra: Record<string, string> = {}) {
    return { host: PUBLIC_HOST, forwarded: element, origin: PUBLIC, ...extra };
  }
  const guess = (headers: Record<string, string | string[]>, i: number) =>
    send(forwarded, 'POST', '/api/login', headers, { user: `nobody-${i}`, password: 'wrong' });

  test('the startup log names the header', () => {
    const line = forwardedLogs.find((l) => l.msg === 'dashboard listening');
    assert.equal(line?.forwarded_header, 'forwarded');
  });

  test("throttling counts the proxy's for= address; forged elements and X-Forwarded-For do not escape it", async () => {
    for (let i = 0; i < 3; i++) {
      const r = await guess(viaForwarded('for=198.51.100.20;proto=https'), i);
      assert.equal(r.status, 401, `failure ${i + 1}: ${r.body}`);
    }
    assert.equal((await guess(viaForwarded('for="198.51.100.20:4711"'), 3)).status, 429);
    const forgedLeft = await guess(viaForwarded('for=192.0.2.99, for=198.51.100.20;proto=https'), 4);
    assert.equal(forgedLeft.status, 429, 'a forged left element does not change who is throttled');
    // The client's header and the proxy's as two header lines, as a proxy that adds its own sends them.
    const twoLines = await guess(viaForwarded(['for="192.0.2.98', 'for=198.51.100.20;proto=https']), 5);
    assert.equal(twoLines.status, 429, "an unclosed quote in the client's line does not swallow the proxy's");
    const xff = await guess(viaForwarded('for=198.51.100.20', { 'x-forwarded-for': '192.0.2.97' }), 6);
    assert.equal(xff.status, 429, 'X-Forwarded-For is not read when the proxy names the client in Forwarded');

    const other = await send(forwarded, 'POST', '/api/login', viaForwarded('for="[2001:db8::20]:4711"'), {
      user: 'alice',
      password: PASSWORDS.alice,
    });
    assert.equal(other.status, 200, other.body);
    const failed = forwardedLogs.filter((l) => l.msg === 'dashboard sign-in failed');
    assert.equal(failed.length, 3, JSON.stringify(failed));
    assert.ok(
      failed.every((l) => l.ip === '198.51.100.20'),
      JSON.stringify(failed),
    );
    assert.ok(forwardedLogs.some((l) => l.msg === 'dashboard sign-in' && l.ip === '2001:db8::20'));
  });
});

describe('DNS rebinding', () => {
  test('a page on evil.example resolving to 127.0.0.1 gets 421, on every route', async () => {
    const port = plain.address.slice(plain.address.lastIndexOf(':') + 1);
    const host = `evil.example:${port}`;
    // To the browser this is same-origin: Origin and Host agree.
    const login = await send(
      plain,
      'POST',
      '/api/login',
      { host, origin: `http://${host}` },
      {
        user: 'alice',
        password: PASSWORDS.alice,
      },
    );
    assert.equal(login.status, 421, login.body);
    assert.equal(errorCode(login), 'DBTAPE_BAD_HOST');
    assert.match(login.body, /evil\.example/);
    assert.equal(login.headers['set-cookie'], undefined);
    for (const p of ['/healthz', '/metrics', '/api/me', '/']) {
      const r = await send(plain, 'GET', p, { host });
      assert.equal(r.status, 421, `${p}: ${r.body}`);
      assert.equal(errorCode(r), 'DBTAPE_BAD_HOST');
    }
    assert.equal((await send(proxied, 'GET', '/healthz', { host: 'evil.example' })).status, 421);
  });

  test('a flood under one unknown name is refused every time but logged once', async () => {
    for (let i = 0; i < 20; i++) {
      const r = await send(proxied, 'GET', '/healthz', { host: 'flood.example' });
      assert.equal(r.status, 421, r.body);
    }
    const lines = proxiedLogs.filter((l) => l.host === 'flood.example');
    assert.equal(lines.length, 1, JSON.stringify(lines));
  });

  test('on loopback, IP addresses and localhost are answered', async () => {
    const port = plain.address.slice(plain.address.lastIndexOf(':') + 1);
    for (const host of [plain.address, `localhost:${port}`, `[::1]:${port}`]) {
      const r = await send(plain, 'GET', '/healthz', { host });
      assert.equal(r.status, 200, `${host}: ${r.body}`);
    }
  });

  test("without an http section, a proxy's https Origin is not ours", async () => {
    const r = await send(plain, 'POST', '/api/login', viaProxy('203.0.113.50', { host: plain.address }), {
      user: 'alice',
      password: PASSWORDS.alice,
    });
    assert.equal(r.status, 403, 'no public_url: https://dbtape.example.com is not our origin');
  });
});
