/**
 * The Host check against DNS rebinding (README, Configuration, `http`): which Host headers the
 * dashboard answers to, when the check is on, and what a refused request gets. What a user would
 * notice: a page on evil.example reading a loopback dashboard, or their own proxy's name refused.
 */
import assert from 'node:assert/strict';
import { describe, mock, test } from 'node:test';
import { Hono } from 'hono';
import type { Logger } from '../../src/model/logger.js';
import type { WebEnv } from '../../src/web/env.js';
import {
  HostRule,
  hostCheck,
  hostnameOf,
  isLoopbackAddress,
  refusedHostLog,
} from '../../src/web/host-check.js';
import type { LogThrottle } from '../../src/web/log-throttle.js';

type LogLine = { level: string; msg: string } & Record<string, unknown>;

function collectingLogger(lines: LogLine[]): Logger {
  const write = (level: string) => (obj: object, msg: string) => lines.push({ level, msg, ...obj });
  const log: Logger = {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child: () => log,
  };
  return log;
}

const rule = (listenHost: string, o: { publicUrl?: string; allowedHosts?: string[] } = {}) =>
  new HostRule({ listenHost, publicUrl: o.publicUrl ?? null, allowedHosts: o.allowedHosts ?? [] });

describe('the Host rule', () => {
  test('on loopback: IP literals and localhost pass, any other name is refused', () => {
    for (const listen of ['127.0.0.1', '127.0.0.2', '::1', 'localhost']) {
      const r = rule(listen);
      assert.ok(r.enforced, listen);
      for (const ok of ['127.0.0.1:8080', '127.0.0.1', '[::1]:8080', '[::1]', '192.0.2.5:80', 'localhost']) {
        assert.ok(r.accepts(ok), `${listen}: ${ok}`);
      }
      for (const ok of ['LOCALHOST:9999', 'localhost.:8080']) assert.ok(r.accepts(ok), `${listen}: ${ok}`);
      for (const bad of [
        'evil.example',
        'evil.example:8080',
        'localhost.evil.example',
        '127.0.0.1.nip.io',
        'sub.localhost',
        '',
        undefined,
        'a b',
        '[evil.example]:80',
      ]) {
        assert.ok(!r.accepts(bad), `${listen}: ${bad}`);
      }
    }
  });

  test('on a wildcard or outward address with neither key set, any Host passes', () => {
    for (const listen of ['0.0.0.0', '::', '10.1.2.3', 'dbtape-host']) {
      const r = rule(listen);
      assert.ok(!r.enforced, listen);
      assert.ok(r.accepts('evil.example:8080'), listen);
    }
  });

  test('public_url turns the check on and lets its host through, on any port', () => {
    const r = rule('0.0.0.0', { publicUrl: 'https://dbtape.example.com' });
    assert.ok(r.enforced);
    assert.ok(r.accepts('dbtape.example.com'));
    assert.ok(r.accepts('DBTape.Example.com:443'));
    assert.ok(r.accepts('dbtape.example.com:8080'));
    assert.ok(r.accepts('10.1.2.3:8080'), 'IP literals still pass');
    assert.ok(!r.accepts('evil.example'));
    assert.ok(!r.accepts('example.com'));
    assert.ok(
      rule('127.0.0.1', { publicUrl: 'http://dbtape.internal:8443' }).accepts('dbtape.internal:8443'),
    );
  });

  test('allowed_hosts turns the check on and lets those names through', () => {
    const r = rule('0.0.0.0', { allowedHosts: ['dbtape.internal', 'dashboard'] });
    assert.ok(r.enforced);
    assert.ok(r.accepts('dbtape.internal:8080'));
    assert.ok(r.accepts('dashboard'));
    assert.ok(r.accepts('localhost:8080'));
    assert.ok(!r.accepts('evil.example'));
  });

  test('the host part of a Host header', () => {
    assert.equal(hostnameOf('Example.COM.:8080'), 'example.com');
    assert.equal(hostnameOf('example.com'), 'example.com');
    assert.equal(hostnameOf('[::1]:8080'), '::1');
    assert.equal(hostnameOf('[2001:DB8::1]'), '2001:db8::1');
    assert.equal(hostnameOf('::1'), null, 'IPv6 needs brackets');
    assert.equal(hostnameOf('a b'), null);
    assert.equal(hostnameOf(''), null);
  });

  test('loopback listen addresses', () => {
    for (const a of ['127.0.0.1', '127.9.9.9', '::1', '0:0:0:0:0:0:0:1', 'localhost', '::ffff:127.0.0.1']) {
      assert.ok(isLoopbackAddress(a), a);
    }
    for (const a of ['0.0.0.0', '::', '10.0.0.1', 'example.com']) assert.ok(!isLoopbackAddress(a), a);
  });
});

/** A loopback dashboard's app with the Host check, as app.ts mounts it. */
function loopbackApp(refused: LogThrottle): Hono<WebEnv> {
  const app = new Hono<WebEnv>();
  app.use('*', async (c, next) => {
    c.set('clientIp', '203.0.113.7');
    await next();
  });
  app.use('*', hostCheck(rule('127.0.0.1'), refused));
  app.get('/healthz', (c) => c.json({ status: 'ok' }));
  return app;
}

const REFUSED = 'request refused: the dashboard does not answer to this Host (DNS rebinding protection)';
const refusedLines = (logs: LogLine[]) => logs.filter((l) => l.msg.startsWith(REFUSED));

describe('a refused request', () => {
  test('gets 421 DBTAPE_BAD_HOST naming the host and how to allow it, and a log line', async () => {
    const logs: LogLine[] = [];
    const app = loopbackApp(refusedHostLog(collectingLogger(logs)));

    const res = await app.request('/healthz', { headers: { host: 'evil.example:8080' } });
    assert.equal(res.status, 421);
    const body = (await res.json()) as { error: { code: string; message: string } };
    assert.equal(body.error.code, 'DBTAPE_BAD_HOST');
    assert.match(body.error.message, /^dbtape: .*"evil\.example:8080"/);
    assert.match(body.error.message, /http\.allowed_hosts/);
    assert.match(body.error.message, /http\.public_url/);
    const line = logs.find((l) => l.host === 'evil.example:8080');
    assert.ok(line, `a log line names the host: ${JSON.stringify(logs)}`);
    assert.equal(line.level, 'warn');
    assert.equal(line.ip, '203.0.113.7');
    assert.equal(line.path, '/healthz');

    const fine = await app.request('/healthz', { headers: { host: 'localhost:8080' } });
    assert.equal(fine.status, 200);
  });
});

describe('a flood of refused requests', () => {
  test('every one gets 421; the log gets the first per host name, then one line with the count', async () => {
    const logs: LogLine[] = [];
    const refused = refusedHostLog(collectingLogger(logs));
    const app = loopbackApp(refused);
    const statuses = new Set<number>();
    for (let i = 0; i < 50; i++) {
      const host = `Evil.Example:${8000 + i}`;
      statuses.add((await app.request('/healthz', { headers: { host } })).status);
    }
    for (let i = 0; i < 3; i++) {
      statuses.add((await app.request('/', { headers: { host: 'other.example' } })).status);
    }
    assert.deepEqual([...statuses], [421], 'the answers are not throttled, only the log');
    assert.deepEqual(
      refusedLines(logs).map((l) => l.host),
      ['Evil.Example:8000', 'other.example'],
      'one line per host name, whatever the port or case',
    );

    refused.flush();
    const summaries = refusedLines(logs).slice(2);
    assert.deepEqual(
      summaries.map((l) => [l.host, l.suppressed, l.level]),
      [
        ['evil.example', 49, 'warn'],
        ['other.example', 2, 'warn'],
      ],
    );
    assert.match(summaries[0]!.msg, /\(49 more for this host in the last 60 s, not logged one by one\)$/);

    await app.request('/healthz', { headers: { host: 'evil.example' } });
    assert.equal(refusedLines(logs).length, 5, 'a new window logs the host name again');
    refused.flush();
    assert.equal(refusedLines(logs).length, 5, 'no summary for a host name with nothing held back');
  });

  test('made-up host names past the limit are counted together, so the log stays bounded', async () => {
    const logs: LogLine[] = [];
    const refused = refusedHostLog(collectingLogger(logs), { maxKeys: 3 });
    const app = loopbackApp(refused);
    for (let i = 0; i < 100; i++) {
      const r = await app.request('/healthz', { headers: { host: `x${i}.evil.example` } });
      assert.equal(r.status, 421);
    }
    assert.equal(refusedLines(logs).length, 3);
    refused.flush();
    const [overflow, ...rest] = refusedLines(logs).slice(3);
    assert.equal(rest.length, 0, JSON.stringify(rest));
    assert.equal(overflow?.suppressed, 97);
    assert.match(overflow.msg, /97 more for other host values in the last 60 s/);
  });

  test('the count is written when the window ends, without waiting for another request', async (t) => {
    mock.timers.enable({ apis: ['setTimeout'] });
    t.after(() => mock.timers.reset());
    const logs: LogLine[] = [];
    const app = loopbackApp(refusedHostLog(collectingLogger(logs)));
    for (let i = 0; i < 4; i++) await app.request('/healthz', { headers: { host: 'evil.example' } });
    assert.equal(refusedLines(logs).length, 1);
    mock.timers.tick(59_999);
    assert.equal(refusedLines(logs).length, 1);
    mock.timers.tick(1);
    assert.deepEqual(
      refusedLines(logs).map((l) => l.suppressed),
      [undefined, 3],
    );
  });
});
