// The HTTP API of the dashboard (shared/SPEC.md, "HTTP API") over a real SQLite store filled by the
// real Recorder: sign-in and its throttle, cookie flags, CSRF, role visibility, API tokens, search,
// live streams, /metrics and /healthz.
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import { stringify } from 'yaml';
import { loadConfig } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';
import { hashPassword } from '../../src/config/verifiers.js';
import { newSessionId } from '../../src/model/ids.js';
import { silentLogger } from '../../src/model/logger.js';
import type { SessionRecorder } from '../../src/model/recorder.js';
import type { SessionMeta } from '../../src/model/session.js';
import { Recorder } from '../../src/recording/recorder.js';
import { openStore } from '../../src/store/open-store.js';
import type { SessionStore } from '../../src/store/session-store.js';
import { recordingSnapshot, startWeb } from '../../src/web/index.js';
import type { RunningWeb, WebOptions } from '../../src/web/types.js';
import { makeSelfSignedCert } from '../support/certs.js';
import { DEFAULT_TARGET } from '../support/inproc-dbtape.js';
import { sessionMeta } from '../support/session-meta.js';
import { waitFor, withTimeout } from '../support/wait.js';

const PASSWORDS = { ada: 'ada-admin-pw', audrey: 'audrey-pw', alice: 'alice-pw', bob: 'bob-pw' } as const;
const ROLES: Record<keyof typeof PASSWORDS, string[]> = {
  ada: ['admin'],
  audrey: ['auditor'],
  alice: ['app-writer'],
  bob: ['app-writer'],
};

/** A real dbtape.yaml through loadConfig, as `dbtape serve` reads it. */
function testConfig(dir: string): Config {
  const file = path.join(dir, 'dbtape.yaml');
  writeFileSync(
    file,
    stringify({
      listen: { http: '127.0.0.1:0' },
      store: { url: `sqlite:${path.join(dir, 'store.db')}`, capture_results: 'rows' },
      targets: [DEFAULT_TARGET],
      users: Object.entries(PASSWORDS).map(([name, pw]) => ({
        name,
        // Fewer PBKDF2 rounds than the default keep the many sign-ins of this file quick.
        password: hashPassword(pw, { iterations: 1024 }),
        roles: ROLES[name as keyof typeof PASSWORDS],
      })),
      roles: [{ name: 'app-writer', targets: ['app'], access: 'write' }],
    }),
  );
  return loadConfig(file);
}

/** A new session of a dashboard user, with that user's roles, starting now. */
const sessionOf = (user: keyof typeof PASSWORDS): SessionMeta =>
  sessionMeta(newSessionId(), { user, roles: ROLES[user], startedAtUs: Date.now() * 1000 });

/** A finished statement: query, then its result with captured rows. */
function statement(rec: SessionRecorder, sql: string, rows: string[][] = [['1']], durationUs = 1500): void {
  rec.event({ kind: 'query', sql, via: 'simple' });
  rec.event({
    kind: 'result',
    tag: `SELECT ${rows.length}`,
    rows: rows.length,
    durationUs,
    columns: [{ name: 'x', type: 'text' }],
    rowData: rows,
  });
}

// --- a small HTTP client ----------------------------------------------------------------------------

interface Auth {
  cookie?: string;
  csrf?: string;
  bearer?: string;
}

let web: RunningWeb;

async function call(
  method: string,
  urlPath: string,
  opts: Auth & { body?: unknown; headers?: Record<string, string> } = {},
): Promise<Response> {
  const headers: Record<string, string> = { ...opts.headers };
  if (opts.cookie) headers.cookie = opts.cookie;
  if (opts.csrf) headers['x-csrf-token'] = opts.csrf;
  if (opts.bearer) headers.authorization = `Bearer ${opts.bearer}`;
  if (opts.body !== undefined) headers['content-type'] = 'application/json';
  return fetch(`${web.url}${urlPath}`, {
    method,
    headers,
    body: opts.body === undefined ? undefined : JSON.stringify(opts.body),
  });
}

async function json<T = unknown>(res: Response, status = 200): Promise<T> {
  const text = await res.text();
  assert.equal(res.status, status, `expected HTTP ${status}, got ${res.status}: ${text}`);
  return JSON.parse(text) as T;
}

async function login(user: keyof typeof PASSWORDS): Promise<Required<Pick<Auth, 'cookie' | 'csrf'>>> {
  const res = await call('POST', '/api/login', { body: { user, password: PASSWORDS[user] } });
  const body = await json<{ csrf: string }>(res);
  const setCookie = res.headers.get('set-cookie') ?? '';
  return { cookie: setCookie.split(';')[0]!, csrf: body.csrf };
}

interface SseMessage {
  event: string;
  data: string;
  id?: string;
}

/** Reads a Server-Sent Events response message by message. */
async function sse(urlPath: string, auth: Auth, extra: Record<string, string> = {}) {
  const controller = new AbortController();
  const headers: Record<string, string> = { accept: 'text/event-stream', ...extra };
  if (auth.cookie) headers.cookie = auth.cookie;
  if (auth.bearer) headers.authorization = `Bearer ${auth.bearer}`;
  const res = await fetch(`${web.url}${urlPath}`, { headers, signal: controller.signal });
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let buf = '';
  let done = false;
  const seen: SseMessage[] = [];
  const readOne = async (): Promise<SseMessage | null> => {
    for (;;) {
      const end = buf.indexOf('\n\n');
      if (end >= 0) {
        const block = buf.slice(0, end);
        buf = buf.slice(end + 2);
        const msg: SseMessage = { event: 'message', data: '' };
        const data: string[] = [];
        for (const line of block.split('\n')) {
          if (line.startsWith(':')) continue;
          const [k, ...rest] = line.split(':');
          const v = rest.join(':').replace(/^ /, '');
          if (k === 'event') msg.event = v;
          else if (k === 'data') data.push(v);
          else if (k === 'id') msg.id = v;
        }
        if (data.length === 0) continue;
        msg.data = data.join('\n');
        seen.push(msg);
        return msg;
      }
      if (done) return null;
      const r = await reader.read();
      if (r.done) done = true;
      else buf += r.value;
    }
  };
  return {
    res,
    seen,
    /** The next message matching `pred`, skipping others; null when the stream ended first. */
    async next(pred: (m: SseMessage) => boolean = () => true, what = 'an SSE message') {
      return withTimeout(
        (async () => {
          for (;;) {
            const m = await readOne();
            if (!m || pred(m)) return m;
          }
        })(),
        10_000,
        what,
      );
    },
    close() {
      controller.abort();
    },
  };
}

// --- the fixture ------------------------------------------------------------------------------------

let dir: string;
let store: SessionStore;
let recorder: Recorder;
const live = new Set<string>();
const kills: { id: string; reason: string }[] = [];
let aliceSession: SessionMeta;
let bobSession: SessionMeta;
let aliceLive: SessionMeta;
let aliceLiveRec: SessionRecorder;
let opsToken = '';

function webOptions(config: Config): WebOptions {
  return {
    config,
    store,
    bus: recorder.bus,
    registry: {
      activeIds: () => [...live],
      kill: (id, reason) => {
        if (!live.has(id)) return false;
        kills.push({ id, reason });
        live.delete(id);
        return true;
      },
    },
    metrics: () => ({
      sessionsActive: live.size,
      sessionsTotal: 7,
      recording: recordingSnapshot(recorder.stats()),
    }),
    log: silentLogger,
    host: '127.0.0.1',
    port: 0,
    tokensFile: path.join(dir, 'tokens.json'),
    assetsDir: dir,
    loginLimits: { perUserFromIp: 5, perIp: 1000 },
  };
}

before(async () => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-web-api-'));
  const config = testConfig(dir);
  store = openStore(config.store.url);
  recorder = new Recorder({ store, capture: 'rows', flushIntervalMs: 10 });
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>dbtape</title>');
  web = await startWeb(webOptions(config));

  aliceSession = sessionOf('alice');
  const a = recorder.open(aliceSession);
  statement(a, "select 'needle_alpha' as x", [['needle_alpha']], 800);
  statement(a, 'select g from generate_series(1,3) g', [['1'], ['2'], ['3']], 25_000);
  a.event({ kind: 'query', sql: 'select 1/0', via: 'simple' });
  a.event({ kind: 'error', code: '22012', message: 'division by zero', durationUs: 300 });
  a.event({ kind: 'end', reason: 'client_closed' });

  bobSession = sessionOf('bob');
  const b = recorder.open(bobSession);
  statement(b, "select 'bobs_private_marker'");
  b.event({ kind: 'end', reason: 'client_closed' });

  aliceLive = sessionOf('alice');
  aliceLiveRec = recorder.open(aliceLive);
  live.add(aliceLive.id);
  statement(aliceLiveRec, "select 'live_one'");
  await recorder.flush();
});

after(async () => {
  await web?.close();
  await recorder?.shutdown();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('health and metrics (no sign-in)', () => {
  test('GET /healthz answers ok without statement text', async () => {
    const res = await call('GET', '/healthz');
    const text = await res.text();
    assert.equal(res.status, 200, text);
    const body = JSON.parse(text) as {
      status: string;
      sessions_active: number;
      recording: { queue_depth: number };
    };
    assert.equal(body.status, 'ok');
    assert.equal(body.sessions_active, 1);
    assert.equal(typeof body.recording.queue_depth, 'number');
    assert.doesNotMatch(text, /needle|select/i);
  });

  test('GET /metrics is Prometheus text with the documented series', async () => {
    const res = await call('GET', '/metrics');
    assert.equal(res.status, 200);
    assert.match(res.headers.get('content-type') ?? '', /^text\/plain; version=0\.0\.4/);
    const text = await res.text();
    const samples = new Map<string, number>();
    for (const line of text.trimEnd().split('\n')) {
      if (line.startsWith('# HELP ') || line.startsWith('# TYPE ')) continue;
      const m = /^([a-z_:][a-z0-9_:]*(?:\{[^}]*\})?) (-?[0-9.e+-]+|\+Inf|NaN)$/i.exec(line);
      assert.ok(m, `not a Prometheus sample line: ${JSON.stringify(line)}`);
      samples.set(m[1]!, Number(m[2]));
    }
    assert.equal(samples.get('dbtape_sessions_active'), 1);
    assert.equal(samples.get('dbtape_sessions_total'), 7);
    // Statements seen on the live bus since the server started: 4 results, 1 error.
    assert.equal(samples.get('dbtape_statements_total{outcome="ok"}'), 4);
    assert.equal(samples.get('dbtape_statements_total{outcome="error"}'), 1);
    assert.equal(samples.get('dbtape_statements_total{outcome="denied"}'), 0);
    const count = samples.get('dbtape_upstream_latency_seconds_count');
    assert.equal(count, 5);
    assert.equal(samples.get('dbtape_upstream_latency_seconds_bucket{le="+Inf"}'), count);
    assert.equal(samples.get('dbtape_upstream_latency_seconds_bucket{le="0.001"}'), 2, '800 µs and 300 µs');
    assert.equal(samples.get('dbtape_upstream_latency_seconds_bucket{le="0.025"}'), 5);
    for (const name of [
      'dbtape_recording_queue_depth',
      'dbtape_recording_errors_total',
      'dbtape_recording_gaps_total',
      'dbtape_recording_lost_events_total',
      'dbtape_recording_refused_total',
    ]) {
      assert.equal(samples.get(name), 0, name);
    }
    assert.ok(samples.get('dbtape_recording_committed_events_total')! > 0, 'committed events are counted');
    // Fast durability: no durable writes to time.
    assert.equal(samples.get('dbtape_recording_durable_write_seconds_count'), undefined);
  });
});

describe('sign-in', () => {
  test('a good password signs in with an HttpOnly, SameSite=Strict cookie', async () => {
    const res = await call('POST', '/api/login', { body: { user: 'alice', password: PASSWORDS.alice } });
    const body = await json<{ user: string; csrf: string; can: { kill: boolean } }>(res);
    assert.equal(body.user, 'alice');
    assert.equal(body.can.kill, false);
    assert.ok(body.csrf.length >= 32);
    const cookie = res.headers.get('set-cookie') ?? '';
    assert.match(cookie, /^dbtape_session=[\w-]{40,};/);
    assert.match(cookie, /; HttpOnly/i);
    assert.match(cookie, /; SameSite=Strict/i);
    assert.match(cookie, /; Path=\//);
    assert.doesNotMatch(cookie, /; Secure/i, 'served over plain HTTP');
    const me = await json<{ user: string; csrf: string }>(
      await call('GET', '/api/me', { cookie: cookie.split(';')[0] }),
    );
    assert.equal(me.user, 'alice');
    assert.equal(me.csrf, body.csrf);
  });

  test('wrong password and unknown user get the same answer', async () => {
    const wrong = await call('POST', '/api/login', { body: { user: 'audrey', password: 'nope' } });
    const unknown = await call('POST', '/api/login', { body: { user: 'nobody', password: 'nope' } });
    assert.equal(wrong.status, 401);
    assert.equal(unknown.status, 401);
    assert.equal(wrong.headers.get('set-cookie'), null);
    assert.deepEqual(await wrong.json(), await unknown.json());
  });

  test('sign-in must be JSON from this origin', async () => {
    const form = await fetch(`${web.url}/api/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'user=alice&password=alice-pw',
    });
    assert.equal(form.status, 415);
    const cross = await call('POST', '/api/login', {
      body: { user: 'alice', password: PASSWORDS.alice },
      headers: { origin: 'http://evil.example' },
    });
    assert.equal(cross.status, 403);
  });

  test('without a sign-in the API answers 401', async () => {
    for (const p of [
      '/api/sessions',
      `/api/sessions/${aliceSession.id}`,
      '/api/search?q=needle_alpha',
      '/api/me',
    ]) {
      const res = await call('GET', p);
      assert.equal(res.status, 401, p);
      const body = (await res.json()) as { error: { code: string; message: string } };
      assert.match(body.error.message, /^dbtape: /);
    }
  });

  test('a garbage cookie is no sign-in', async () => {
    const res = await call('GET', '/api/me', { cookie: 'dbtape_session=forged' });
    assert.equal(res.status, 401);
  });

  test('sign-out ends the sign-in (and needs the CSRF token)', async () => {
    const s = await login('audrey');
    assert.equal((await call('POST', '/api/logout', { cookie: s.cookie })).status, 403);
    assert.equal((await call('POST', '/api/logout', s)).status, 200);
    assert.equal((await call('GET', '/api/me', { cookie: s.cookie })).status, 401);
  });
});

describe('who sees what', () => {
  test('an ordinary user lists only their own sessions', async () => {
    const s = await login('alice');
    const list = await json<{ id: string; user: string }[]>(await call('GET', '/api/sessions', s));
    const ids = list.map((r) => r.id);
    assert.ok(ids.includes(aliceSession.id));
    assert.ok(!ids.includes(bobSession.id));
    assert.ok(list.every((r) => r.user === 'alice'));
    const asBob = await json<unknown[]>(await call('GET', '/api/sessions?user=bob', s));
    assert.deepEqual(asBob, []);
  });

  test("another user's session is 404 in detail, events and live", async () => {
    const s = await login('alice');
    for (const p of [
      `/api/sessions/${bobSession.id}`,
      `/api/sessions/${bobSession.id}/events`,
      `/api/sessions/${bobSession.id}/live`,
    ]) {
      const res = await call('GET', p, s);
      assert.equal(res.status, 404, p);
      const missing = await call('GET', p.replace(bobSession.id, 'nosuchsession-0000'), s);
      assert.deepEqual(await res.json(), await missing.json(), 'same answer as for a missing id');
    }
    const hits = await json<unknown[]>(await call('GET', '/api/search?q=bobs_private_marker', s));
    assert.deepEqual(hits, []);
  });

  test('auditors and admins see every session', async () => {
    for (const who of ['audrey', 'ada'] as const) {
      const s = await login(who);
      const list = await json<{ id: string }[]>(await call('GET', '/api/sessions', s));
      const ids = list.map((r) => r.id);
      assert.ok(ids.includes(aliceSession.id) && ids.includes(bobSession.id), who);
      const detail = await json<{ user: string }>(await call('GET', `/api/sessions/${bobSession.id}`, s));
      assert.equal(detail.user, 'bob');
    }
  });
});

describe('sessions, events and search', () => {
  test('the list has the SPEC shape, filters and pages with a cursor', async () => {
    const s = await login('ada');
    const all = await json<Record<string, unknown>[]>(await call('GET', '/api/sessions', s));
    const row = all.find((r) => r.id === aliceSession.id)!;
    assert.deepEqual(Object.keys(row).sort(), [
      'application',
      'client_addr',
      'ended_at',
      'errors',
      'id',
      'protocol',
      'started_at',
      'statements',
      'status',
      'target',
      'user',
    ]);
    assert.equal(row.statements, 3);
    assert.equal(row.errors, 1);
    assert.equal(row.status, 'ended');

    const active = await json<{ id: string }[]>(await call('GET', '/api/sessions?active=true', s));
    assert.deepEqual(
      active.map((r) => r.id),
      [aliceLive.id],
    );
    const withErrors = await json<{ id: string }[]>(await call('GET', '/api/sessions?errors=true', s));
    assert.deepEqual(
      withErrors.map((r) => r.id),
      [aliceSession.id],
    );
    // Flags as the CLI has them: `?active` alone means true.
    const flagged = await json<{ id: string }[]>(await call('GET', '/api/sessions?active&errors', s));
    assert.deepEqual(flagged, []);
    const activeFlag = await json<{ id: string }[]>(await call('GET', '/api/sessions?active', s));
    assert.deepEqual(
      activeFlag.map((r) => r.id),
      [aliceLive.id],
    );

    const first = await call('GET', '/api/sessions?limit=2', s);
    const page1 = await json<{ id: string }[]>(first);
    const cursor = first.headers.get('x-next-cursor');
    assert.ok(cursor, 'a full page has a next cursor');
    const page2 = await json<{ id: string }[]>(
      await call('GET', `/api/sessions?limit=2&cursor=${cursor}`, s),
    );
    const paged = [...page1, ...page2].map((r) => r.id);
    assert.deepEqual(
      paged,
      all.map((r) => r.id as string),
    );

    const bad = await call('GET', '/api/sessions?since=yesterday', s);
    assert.equal(bad.status, 400);
  });

  test('events come in order with captured rows and errors', async () => {
    const s = await login('alice');
    const events = await json<Record<string, unknown>[]>(
      await call('GET', `/api/sessions/${aliceSession.id}/events`, s),
    );
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_, i) => i + 1),
    );
    assert.deepEqual(
      events.map((e) => e.kind),
      ['start', 'query', 'result', 'query', 'result', 'query', 'error', 'end'],
    );
    assert.equal(events[1]!.sql, "select 'needle_alpha' as x");
    assert.deepEqual(events[4]!.row_data, [['1'], ['2'], ['3']]);
    assert.deepEqual(events[4]!.columns, [{ name: 'x', type: 'text' }]);
    assert.equal(events[4]!.duration_us, 25_000);
    assert.deepEqual(events[6]!.error, { code: '22012', message: 'division by zero' });
    const tail = await json<{ seq: number }[]>(
      await call('GET', `/api/sessions/${aliceSession.id}/events?afterSeq=5&limit=2`, s),
    );
    assert.deepEqual(
      tail.map((e) => e.seq),
      [6, 7],
    );
  });

  test('search finds a statement with a highlighted snippet', async () => {
    const s = await login('alice');
    const hits = await json<{ session_id: string; seq: number; snippet: string }[]>(
      await call('GET', '/api/search?q=needle_alpha', s),
    );
    assert.equal(hits.length, 1);
    assert.equal(hits[0]!.session_id, aliceSession.id);
    assert.equal(hits[0]!.seq, 2);
    assert.match(hits[0]!.snippet, /\u0001needle_alpha\u0002/);
    assert.equal((await call('GET', '/api/search?q=', s)).status, 400);
    assert.equal((await call('GET', '/api/search?q=%22%22', s)).status, 400, 'no words: a client error');
  });

  test('statements per minute counts what was recorded', async () => {
    const ada = await login('ada');
    const all = await json<{ minutes: { statements: number; errors: number }[] }>(
      await call('GET', '/api/stats/statements-per-minute?minutes=10', ada),
    );
    assert.equal(all.minutes.length, 10);
    const sum = (m: { statements: number }[]) => m.reduce((n, b) => n + b.statements, 0);
    assert.ok(sum(all.minutes) >= 5, JSON.stringify(all.minutes));
    const bob = await login('bob');
    const own = await json<{ minutes: { statements: number }[] }>(
      await call('GET', '/api/stats/statements-per-minute?minutes=10', bob),
    );
    assert.ok(sum(own.minutes) < sum(all.minutes), 'bob counts only his own statements');
  });
});

describe('ending a live session', () => {
  test('kill needs an admin, the CSRF token and a live session', async () => {
    const alice = await login('alice');
    assert.equal(
      (await call('POST', `/api/sessions/${aliceLive.id}/kill`, alice)).status,
      403,
      'not an admin',
    );
    const audrey = await login('audrey');
    assert.equal((await call('POST', `/api/sessions/${aliceLive.id}/kill`, audrey)).status, 403, 'auditor');
    const ada = await login('ada');
    const noCsrf = await call('POST', `/api/sessions/${aliceLive.id}/kill`, { cookie: ada.cookie });
    assert.equal(noCsrf.status, 403);
    assert.equal(((await noCsrf.json()) as { error: { code: string } }).error.code, 'DBTAPE_CSRF');
    const wrongCsrf = await call('POST', `/api/sessions/${aliceLive.id}/kill`, {
      cookie: ada.cookie,
      csrf: 'x'.repeat(43),
    });
    assert.equal(wrongCsrf.status, 403);
    const crossSite = await call('POST', `/api/sessions/${aliceLive.id}/kill`, {
      ...ada,
      headers: { origin: 'http://evil.example' },
    });
    assert.equal(crossSite.status, 403);
    assert.equal(kills.length, 0, 'nothing was killed by refused requests');

    const notLive = await call('POST', `/api/sessions/${aliceSession.id}/kill`, ada);
    assert.equal(notLive.status, 404);
    const ok = await json<{ killed: boolean }>(await call('POST', `/api/sessions/${aliceLive.id}/kill`, ada));
    assert.equal(ok.killed, true);
    assert.equal(kills.length, 1);
    assert.equal(kills[0]!.id, aliceLive.id);
    assert.match(kills[0]!.reason, /ada/);
    live.add(aliceLive.id);
  });
});

describe('API tokens', () => {
  test('an admin creates a token (with CSRF); scripts use it as Bearer', async () => {
    const ada = await login('ada');
    assert.equal(
      (await call('POST', '/api/tokens', { cookie: ada.cookie, body: { name: 'ci' } })).status,
      403,
    );
    const alice = await login('alice');
    assert.equal((await call('POST', '/api/tokens', { ...alice, body: { name: 'mine' } })).status, 403);

    const created = await json<{ id: string; token: string; user: string }>(
      await call('POST', '/api/tokens', { ...ada, body: { name: 'reporting', user: 'alice' } }),
      201,
    );
    assert.match(created.token, /^dbtape_[\w-]{40,}$/);
    assert.equal(created.user, 'alice');
    const stored = readFileSync(path.join(dir, 'tokens.json'), 'utf8');
    assert.ok(!stored.includes(created.token), 'only a hash of the token is stored');

    const list = await json<{ id: string }[]>(await call('GET', '/api/sessions', { bearer: created.token }));
    assert.ok(list.some((r) => r.id === aliceSession.id));
    assert.ok(!list.some((r) => r.id === bobSession.id), 'the token acts as alice');
    assert.equal(
      (await call('GET', `/api/sessions/${bobSession.id}`, { bearer: created.token })).status,
      404,
    );
    assert.equal((await call('GET', '/api/sessions', { bearer: 'dbtape_wrong' })).status, 401);

    const listed = await json<{ id: string; token?: string }[]>(await call('GET', '/api/tokens', ada));
    assert.ok(listed.some((t) => t.id === created.id && t.token === undefined));
    await json(await call('DELETE', `/api/tokens/${created.id}`, ada));
    assert.equal((await call('GET', '/api/sessions', { bearer: created.token })).status, 401, 'revoked');
  });

  test('an admin token may end sessions without a CSRF token', async () => {
    const ada = await login('ada');
    const { token } = await json<{ token: string }>(
      await call('POST', '/api/tokens', { ...ada, body: { name: 'ops' } }),
      201,
    );
    opsToken = token;
    const before = kills.length;
    await json(await call('POST', `/api/sessions/${aliceLive.id}/kill`, { bearer: token }));
    assert.equal(kills.length, before + 1);
    live.add(aliceLive.id);
  });
});

describe('live streams', () => {
  test('a session stream sends the past, then new events as they commit, then the end', async () => {
    const s = await login('alice');
    const stream = await sse(`/api/sessions/${aliceLive.id}/live?afterSeq=1`, s);
    assert.equal(stream.res.status, 200);
    assert.match(stream.res.headers.get('content-type') ?? '', /^text\/event-stream/);
    const past = await stream.next((m) => m.event === 'event', 'the first stored event');
    assert.equal(past?.id, '2', 'starts after afterSeq');
    assert.equal(JSON.parse(past!.data).sql, "select 'live_one'");

    aliceLiveRec.event({ kind: 'query', sql: "select 'streamed_now'", via: 'simple' });
    const fresh = await stream.next(
      (m) => m.event === 'event' && JSON.parse(m.data).kind === 'query',
      'the new statement on the stream',
    );
    assert.equal(JSON.parse(fresh!.data).sql, "select 'streamed_now'");
    assert.equal(fresh!.id, '4');

    aliceLiveRec.event({ kind: 'result', tag: 'SELECT 1', rows: 1, durationUs: 100 });
    aliceLiveRec.event({ kind: 'end', reason: 'killed' });
    const end = await stream.next((m) => m.event === 'end', 'the end of the session');
    assert.equal(JSON.parse(end!.data).reason, 'killed');
    assert.equal(await stream.next(undefined, 'the stream to close'), null, 'the stream closes after end');
    const seqs = stream.seen.filter((m) => m.event === 'event').map((m) => Number(m.id));
    assert.deepEqual(seqs, [2, 3, 4, 5, 6], 'no holes, no repeats');
    live.delete(aliceLive.id);
  });

  test('the stream of an ended session replays it and closes', async () => {
    const s = await login('alice');
    const stream = await sse(`/api/sessions/${aliceSession.id}/live`, s);
    const end = await stream.next((m) => m.event === 'end', 'the end');
    assert.ok(end);
    assert.equal(stream.seen.filter((m) => m.event === 'event').length, 8);
  });

  test('a reconnecting client resumes after its Last-Event-ID', async () => {
    const s = await login('alice');
    // EventSource repeats the first URL (afterSeq=2) and adds the id of the last event it saw.
    const stream = await sse(`/api/sessions/${aliceSession.id}/live?afterSeq=2`, s, { 'last-event-id': '5' });
    await stream.next((m) => m.event === 'end', 'the end');
    assert.deepEqual(
      stream.seen.filter((m) => m.event === 'event').map((m) => m.id),
      ['6', '7', '8'],
    );
    const bad = await call('GET', `/api/sessions/${aliceSession.id}/live`, {
      ...s,
      headers: { 'last-event-id': 'x' },
    });
    assert.equal(bad.status, 400);
  });

  test('the session-list stream announces starts and ends, to those who may see them', async () => {
    const ada = await login('ada');
    const bob = await login('bob');
    const adaStream = await sse('/api/live', ada);
    const bobStream = await sse('/api/live', bob);
    await adaStream.next((m) => m.event === 'ready');
    await bobStream.next((m) => m.event === 'ready');
    const m = sessionOf('alice');
    const rec = recorder.open(m);
    statement(rec, 'select 42');
    const start = await adaStream.next((x) => x.event === 'start', 'the start on the list stream');
    assert.equal(JSON.parse(start!.data).session.id, m.id);
    const update = await adaStream.next((x) => x.event === 'update', 'a progress update');
    assert.equal(JSON.parse(update!.data).statements, 1);
    rec.event({ kind: 'end', reason: 'client_closed' });
    const end = await adaStream.next((x) => x.event === 'end', 'the end on the list stream');
    assert.equal(JSON.parse(end!.data).id, m.id);
    // Bob then sees his own session start, and nothing of alice's before it.
    const mine = sessionOf('bob');
    const bobRec = recorder.open(mine);
    const own = await bobStream.next((x) => x.event !== 'ready', "bob's own session");
    assert.equal(own?.event, 'start');
    assert.equal(JSON.parse(own!.data).session.id, mine.id);
    bobRec.event({ kind: 'end', reason: 'client_closed' });
    adaStream.close();
    bobStream.close();
  });
});

describe('dashboard files', () => {
  test('pages carry a strict Content-Security-Policy', async () => {
    const res = await call('GET', '/sessions/whatever');
    assert.equal(res.status, 200);
    assert.match(await res.text(), /<title>dbtape<\/title>/);
    const csp = res.headers.get('content-security-policy') ?? '';
    assert.match(csp, /script-src 'self'/);
    assert.doesNotMatch(csp, /unsafe-inline|unsafe-eval/);
    assert.equal(res.headers.get('x-content-type-options'), 'nosniff');
    assert.equal((await call('GET', '/api/nothing-here')).status, 404);
  });
});

// Last: it locks bob out of signing in.
describe('sign-in throttle', () => {
  test('after 5 failures for a user, even the right password waits', async () => {
    for (let i = 0; i < 5; i++) {
      const res = await call('POST', '/api/login', { body: { user: 'bob', password: `guess-${i}` } });
      assert.equal(res.status, 401, `attempt ${i + 1}`);
    }
    const blocked = await call('POST', '/api/login', { body: { user: 'bob', password: PASSWORDS.bob } });
    assert.equal(blocked.status, 429);
    assert.ok(Number(blocked.headers.get('retry-after')) >= 1);
    assert.equal(
      ((await blocked.json()) as { error: { code: string } }).error.code,
      'DBTAPE_LOGIN_THROTTLED',
    );
    // Other users from the same address are not locked out by bob's failures.
    await login('alice');
  });
});

describe('restart and shutdown', () => {
  test('tokens survive a restart; idle streams get heartbeats; close() ends open streams', async () => {
    const again = await startWeb({ ...webOptions(testConfig(dir)), heartbeatMs: 20 });
    try {
      const res = await fetch(`${again.url}/api/me`, { headers: { authorization: `Bearer ${opsToken}` } });
      assert.equal(res.status, 200, 'the token file was read back');
      // The chart of the new instance is filled from the store, not only from what it sees live.
      await waitFor(
        async () => {
          const r = await fetch(`${again.url}/api/stats/statements-per-minute?minutes=10`, {
            headers: { authorization: `Bearer ${opsToken}` },
          });
          const body = (await r.json()) as { minutes: { statements: number }[] };
          return body.minutes.reduce((n, m) => n + m.statements, 0) >= 5;
        },
        { what: 'the statements-per-minute chart to be backfilled from the store' },
      );
      const controller = new AbortController();
      const stream = await fetch(`${again.url}/api/live`, {
        headers: { authorization: `Bearer ${opsToken}` },
        signal: controller.signal,
      });
      const reader = stream.body!.pipeThrough(new TextDecoderStream()).getReader();
      let text = '';
      while (!text.includes(': ping')) {
        const r = await withTimeout(reader.read(), 5000, 'a heartbeat on an idle stream');
        assert.ok(!r.done, 'the stream ended before a heartbeat');
        text += r.value;
      }
      await withTimeout(again.close(), 5000, 'close() with a stream open');
      for (;;) {
        const r = await withTimeout(reader.read(), 5000, 'the stream to end');
        if (r.done) break;
      }
    } finally {
      await again.close();
    }
  });

  test('over TLS the cookie is Secure and bound to the origin (__Host-)', async () => {
    const certs = makeSelfSignedCert(path.join(dir, 'tls'));
    const tlsWeb = await startWeb({
      ...webOptions(testConfig(dir)),
      tls: { cert: readFileSync(certs.certFile), key: readFileSync(certs.keyFile) },
    });
    try {
      assert.match(tlsWeb.url, /^https:/);
      const body = JSON.stringify({ user: 'alice', password: PASSWORDS.alice });
      const res = await new Promise<{ status: number; cookie: string }>((resolve, reject) => {
        const req = https.request(
          `${tlsWeb.url}/api/login`,
          { method: 'POST', ca: readFileSync(certs.caFile), headers: { 'content-type': 'application/json' } },
          (r) => {
            r.resume();
            r.on('end', () =>
              resolve({ status: r.statusCode ?? 0, cookie: String(r.headers['set-cookie'] ?? '') }),
            );
          },
        );
        req.on('error', reject);
        req.end(body);
      });
      assert.equal(res.status, 200);
      assert.match(res.cookie, /^__Host-dbtape_session=/);
      assert.match(res.cookie, /; Secure/i);
    } finally {
      await tlsWeb.close();
    }
  });

  test('a port already in use is a clear error', async () => {
    const port = Number(web.address.slice(web.address.lastIndexOf(':') + 1));
    await assert.rejects(
      startWeb({ ...webOptions(testConfig(dir)), port }),
      (err: Error & { code?: string }) => {
        assert.equal(err.code, 'DBTAPE_WEB_LISTEN');
        assert.match(err.message, /^dbtape: the dashboard cannot listen on 127\.0\.0\.1:\d+/);
        return true;
      },
    );
  });
});
