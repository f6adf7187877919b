// Sign-in and credentials of the dashboard API (README, "The dashboard and HTTP API"): what a failed
// sign-in logs, throttling per name and address, live streams that end with the sign-in or API token
// that opened them, and API tokens that expire. Each part starts its own server on a fake clock.
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
import { newSessionId } from '../../src/model/ids.js';
import { Recorder } from '../../src/recording/recorder.js';
import { openStore } from '../../src/store/open-store.js';
import type { SessionStore } from '../../src/store/session-store.js';
import { startWeb } from '../../src/web/index.js';
import type { RunningWeb, WebOptions } from '../../src/web/types.js';
import { collectingLogger, DEFAULT_TARGET, type LogLine } from '../support/inproc-dbtape.js';
import { sessionMeta } from '../support/session-meta.js';
import { waitFor, withTimeout } from '../support/wait.js';

const PASSWORDS = { ada: 'ada-admin-pw', alice: 'alice-pw', bob: 'bob-pw' } as const;
type Name = keyof typeof PASSWORDS;
const ROLES: Record<Name, string[]> = { ada: ['admin'], alice: ['app-writer'], bob: ['app-writer'] };

let dir: string;
let config: Config;
let store: SessionStore;
let recorder: Recorder;

before(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-web-auth-'));
  const file = path.join(dir, 'dbtape.yaml');
  writeFileSync(
    file,
    stringify({
      listen: { http: '127.0.0.1:0' },
      store: { url: `sqlite:${path.join(dir, 'store.db')}` },
      targets: [DEFAULT_TARGET],
      users: Object.entries(PASSWORDS).map(([name, pw]) => ({
        name,
        // Few PBKDF2 rounds keep the sign-ins of this file quick.
        password: hashPassword(pw, { iterations: 1024 }),
        roles: ROLES[name as Name],
      })),
      roles: [{ name: 'app-writer', targets: ['app'], access: 'write' }],
    }),
  );
  config = loadConfig(file);
  store = openStore(config.store.url);
  recorder = new Recorder({ store, capture: 'summary', flushIntervalMs: 10 });
  writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>dbtape</title>');
});

after(async () => {
  await recorder?.shutdown();
  await store?.close();
  rmSync(dir, { recursive: true, force: true });
});

// --- one server on a fake clock, and a small client --------------------------------------------------

interface Server {
  readonly web: RunningWeb;
  readonly logs: LogLine[];
  /** The server's clock (ms since the epoch); tests move it forward. */
  readonly clock: { ms: number };
}

async function startServer(over: Partial<WebOptions> = {}): Promise<Server> {
  const logs: LogLine[] = [];
  const clock = { ms: Date.now() };
  const web = await startWeb({
    config,
    store,
    bus: recorder.bus,
    registry: { activeIds: () => [], kill: () => false },
    metrics: () => ({ sessionsActive: 0, sessionsTotal: 0, recording: null }),
    log: collectingLogger(logs),
    host: '127.0.0.1',
    port: 0,
    tokensFile: null,
    assetsDir: dir,
    now: () => clock.ms,
    ...over,
  });
  return { web, logs, clock };
}

interface Auth {
  cookie?: string;
  csrf?: string;
  bearer?: string;
}

function headersOf(auth: Auth): Record<string, string> {
  const h: Record<string, string> = {};
  if (auth.cookie) h.cookie = auth.cookie;
  if (auth.csrf) h['x-csrf-token'] = auth.csrf;
  if (auth.bearer) h.authorization = `Bearer ${auth.bearer}`;
  return h;
}

async function call(s: Server, method: string, urlPath: string, auth: Auth = {}, body?: unknown) {
  const headers = headersOf(auth);
  if (body !== undefined) headers['content-type'] = 'application/json';
  const res = await fetch(`${s.web.url}${urlPath}`, {
    method,
    headers,
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, text, headers: res.headers };
}

/** POST /api/login from a chosen loopback address (the throttle counts per client address). */
function loginFrom(s: Server, localAddress: string, user: string, password: string) {
  const url = new URL('/api/login', s.web.url);
  return new Promise<{ status: number; cookie: string; text: string }>((resolve, reject) => {
    const req = http.request(
      url,
      { method: 'POST', localAddress, headers: { 'content-type': 'application/json' } },
      (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          text += d;
        });
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            cookie: String(res.headers['set-cookie'] ?? '').split(';')[0]!,
            text,
          }),
        );
      },
    );
    req.on('error', reject);
    req.end(JSON.stringify({ user, password }));
  });
}

async function login(
  s: Server,
  user: Name,
  from = '127.0.0.1',
): Promise<Required<Pick<Auth, 'cookie' | 'csrf'>>> {
  const r = await loginFrom(s, from, user, PASSWORDS[user]);
  assert.equal(r.status, 200, `sign-in of ${user}: ${r.text}`);
  return { cookie: r.cookie, csrf: (JSON.parse(r.text) as { csrf: string }).csrf };
}

// --- what a failed sign-in logs ---------------------------------------------------------------------

describe('the log of a failed sign-in', () => {
  let s: Server;
  before(async () => {
    s = await startServer();
  });
  after(() => s.web.close());

  test('a password typed into the name field is not logged', async () => {
    const canary = 'Canary-Pa55word-7f3e9b';
    const r = await loginFrom(s, '127.0.0.1', canary, 'whatever');
    assert.equal(r.status, 401);
    const failed = s.logs.filter((l) => l.msg === 'dashboard sign-in failed');
    assert.equal(failed.length, 1, 'the failure is logged');
    assert.equal(failed[0]!.user_known, false);
    assert.equal(failed[0]!.user, undefined);
    const all = JSON.stringify(s.logs);
    assert.ok(!all.includes(canary), 'the typed name is in no log line');
    assert.ok(!all.includes(canary.slice(0, 12)), 'not even a part of it');
  });

  test('the name of a configured user is logged', async () => {
    const r = await loginFrom(s, '127.0.0.1', 'alice', 'not-her-password');
    assert.equal(r.status, 401);
    const last = s.logs.filter((l) => l.msg === 'dashboard sign-in failed').at(-1);
    assert.equal(last?.user, 'alice');
    assert.equal(last?.user_known, true);
  });
});

// --- throttling ---------------------------------------------------------------------------------------

describe('sign-in throttling', () => {
  test('wrong passwords for a name from one address do not lock that name out elsewhere', async () => {
    const s = await startServer();
    try {
      for (let i = 0; i < 6; i++) {
        const r = await loginFrom(s, '127.0.0.2', 'alice', `guess-${i}`);
        assert.equal(r.status, i < 5 ? 401 : 429, `guess ${i + 1} from the guessing address`);
      }
      const blocked = await loginFrom(s, '127.0.0.2', 'alice', PASSWORDS.alice);
      assert.equal(blocked.status, 429, 'the guessing address waits, even with the right password');
      await login(s, 'alice', '127.0.0.3');
    } finally {
      await s.web.close();
    }
  });

  test('guessing one name from many addresses makes that name wait', async () => {
    // The name's allowance made small, to reach it quickly; each address stays below its own.
    const s = await startServer({ loginLimits: { perUserFromIp: 3, perUserAllIps: 6 } });
    try {
      for (let i = 0; i < 6; i++) {
        const r = await loginFrom(s, `127.0.1.${1 + (i % 3)}`, 'bob', `guess-${i}`);
        assert.equal(r.status, 401, `guess ${i + 1}`);
      }
      const r = await loginFrom(s, '127.0.0.4', 'bob', PASSWORDS.bob);
      assert.equal(r.status, 429, 'a new address waits too, for this name');
      assert.equal(JSON.parse(r.text).error.code, 'DBTAPE_LOGIN_THROTTLED');
      await login(s, 'alice', '127.0.0.4');
    } finally {
      await s.web.close();
    }
  });
});

// --- live streams end with their credential ----------------------------------------------------------

interface Stream {
  /** Heartbeats seen so far. */
  pings(): number;
  /** The text received so far. */
  text(): string;
  /** Resolves when the server ends the response ('ended') or the test aborts it ('aborted'). */
  readonly over: Promise<'ended' | 'aborted'>;
  isOver(): boolean;
  close(): void;
}

async function openStream(s: Server, urlPath: string, auth: Auth): Promise<Stream> {
  const controller = new AbortController();
  const res = await fetch(`${s.web.url}${urlPath}`, {
    headers: { accept: 'text/event-stream', ...headersOf(auth) },
    signal: controller.signal,
  });
  assert.equal(res.status, 200, `GET ${urlPath}`);
  const reader = res.body!.pipeThrough(new TextDecoderStream()).getReader();
  let text = '';
  let done = false;
  const over = (async (): Promise<'ended' | 'aborted'> => {
    try {
      for (;;) {
        const r = await reader.read();
        if (r.done) return 'ended';
        text += r.value;
      }
    } catch {
      return 'aborted';
    } finally {
      done = true;
    }
  })();
  return {
    pings: () => text.split(': ping').length - 1,
    text: () => text,
    over,
    isOver: () => done,
    close: () => controller.abort(),
  };
}

/** Resolves after `n` more heartbeats on `st` (each one a check of its credential first). */
function heartbeats(st: Stream, n: number, what: string): Promise<unknown> {
  const target = st.pings() + n;
  return waitFor(() => st.pings() >= target || st.isOver(), { what: `${n} heartbeats on ${what}` });
}

async function endsCleanly(st: Stream, what: string): Promise<void> {
  assert.equal(await withTimeout(st.over, 5000, what), 'ended', `${what}: the server ended it`);
}

describe('live streams end with the credential that opened them', () => {
  const IDLE_MS = 60_000;
  let s: Server;
  let liveId: string;
  before(async () => {
    s = await startServer({ heartbeatMs: 20, sessionIdleMs: IDLE_MS });
    const meta = sessionMeta(newSessionId(), {
      user: 'alice',
      roles: ROLES.alice,
      startedAtUs: Date.now() * 1000,
    });
    recorder.open(meta).event({ kind: 'query', sql: 'select 1', via: 'simple' });
    await recorder.flush();
    liveId = meta.id;
  });
  after(() => s.web.close());

  test('signing out ends the streams of that sign-in, not those of others', async () => {
    const alice = await login(s, 'alice');
    const aliceToo = await login(s, 'alice');
    const ada = await login(s, 'ada');
    const list = await openStream(s, '/api/live', alice);
    const session = await openStream(s, `/api/sessions/${liveId}/live`, alice);
    const otherSignIn = await openStream(s, '/api/live', aliceToo);
    const admin = await openStream(s, '/api/live', ada);
    await heartbeats(list, 1, 'the list stream');

    assert.equal((await call(s, 'POST', '/api/logout', alice)).status, 200);
    await endsCleanly(list, 'the list stream after sign-out');
    await endsCleanly(session, 'the session stream after sign-out');
    await heartbeats(otherSignIn, 2, "alice's other sign-in");
    await heartbeats(admin, 2, "the admin's stream");
    assert.ok(!otherSignIn.isOver() && !admin.isOver(), 'other sign-ins keep their streams');
    assert.equal((await call(s, 'GET', '/api/me', alice)).status, 401);
    otherSignIn.close();
    admin.close();
  });

  test('revoking an API token ends its streams, not those of other tokens', async () => {
    const ada = await login(s, 'ada');
    const make = async (name: string) => {
      const r = await call(s, 'POST', '/api/tokens', ada, { name, user: 'alice' });
      assert.equal(r.status, 201, r.text);
      return JSON.parse(r.text) as { id: string; token: string };
    };
    const revoked = await make('to revoke');
    const kept = await make('to keep');
    const gone = await openStream(s, `/api/sessions/${liveId}/live`, { bearer: revoked.token });
    const stays = await openStream(s, '/api/live', { bearer: kept.token });
    await heartbeats(gone, 1, 'the stream of the token to revoke');

    assert.equal((await call(s, 'DELETE', `/api/tokens/${revoked.id}`, ada)).status, 200);
    await endsCleanly(gone, 'the stream of the revoked token');
    await heartbeats(stays, 2, 'the stream of the kept token');
    assert.ok(!stays.isOver(), 'the other token keeps its stream');
    stays.close();
  });

  test('a sign-in that lapses ends its stream at the next heartbeat, which does not keep it alive', async () => {
    const alice = await login(s, 'alice');
    const bob = await login(s, 'bob');
    const aliceStream = await openStream(s, `/api/sessions/${liveId}/live`, alice);
    const bobStream = await openStream(s, '/api/live', bob);
    await heartbeats(aliceStream, 1, "alice's stream");

    s.clock.ms += IDLE_MS * 0.6;
    // Heartbeats check alice's sign-in at this time; bob makes a request, which is activity.
    await heartbeats(aliceStream, 2, "alice's stream, 36 s idle");
    assert.equal((await call(s, 'GET', '/api/me', bob)).status, 200);
    assert.ok(!aliceStream.isOver(), 'not lapsed yet');

    // 72 s since alice's last request: lapsed, had the heartbeats not counted as activity.
    s.clock.ms += IDLE_MS * 0.6;
    await endsCleanly(aliceStream, "alice's stream after her sign-in lapsed");
    await heartbeats(bobStream, 2, "bob's stream");
    assert.ok(!bobStream.isOver(), "bob's sign-in, used 36 s ago, keeps its stream");
    assert.equal((await call(s, 'GET', '/api/me', alice)).status, 401);
    bobStream.close();
  });
});

// --- API tokens that expire ---------------------------------------------------------------------------

describe('API tokens with a lifetime', () => {
  const DAY_MS = 86_400_000;
  let s: Server;
  before(async () => {
    s = await startServer({ heartbeatMs: 20 });
  });
  after(() => s.web.close());

  interface TokenJson {
    id: string;
    token?: string;
    expires_at: string | null;
  }

  test('expires_in_days must be a whole number of days from 1 to 3650', async () => {
    const ada = await login(s, 'ada');
    for (const days of [0, -1, 3651, 1.5, '7', true]) {
      const r = await call(s, 'POST', '/api/tokens', ada, { name: 'x', expires_in_days: days });
      assert.equal(r.status, 400, `expires_in_days: ${JSON.stringify(days)}`);
      assert.match(JSON.parse(r.text).error.message, /expires_in_days/);
    }
    const longest = await call(s, 'POST', '/api/tokens', ada, { name: 'x', expires_in_days: 3650 });
    assert.equal(longest.status, 201, longest.text);
  });

  test('a token is created and listed with its end, or null when it never ends', async () => {
    const ada = await login(s, 'ada');
    const made = await call(s, 'POST', '/api/tokens', ada, { name: 'weekly', expires_in_days: 7 });
    assert.equal(made.status, 201, made.text);
    const weekly = JSON.parse(made.text) as TokenJson;
    assert.equal(weekly.expires_at, new Date(s.clock.ms + 7 * DAY_MS).toISOString());
    const forever = JSON.parse(
      (await call(s, 'POST', '/api/tokens', ada, { name: 'forever' })).text,
    ) as TokenJson;
    assert.equal(forever.expires_at, null);

    const list = JSON.parse((await call(s, 'GET', '/api/tokens', ada)).text) as TokenJson[];
    assert.equal(list.find((t) => t.id === weekly.id)?.expires_at, weekly.expires_at);
    assert.equal(list.find((t) => t.id === forever.id)?.expires_at, null);
  });

  test('an expired token is refused, saying so, and its stream ends; a token without an end goes on', async () => {
    const ada = await login(s, 'ada');
    const make = async (body: object) =>
      JSON.parse((await call(s, 'POST', '/api/tokens', ada, { user: 'alice', ...body })).text) as TokenJson;
    const daily = await make({ name: 'daily', expires_in_days: 1 });
    const forever = await make({ name: 'forever' });
    const ending = await openStream(s, '/api/live', { bearer: daily.token! });
    const going = await openStream(s, '/api/live', { bearer: forever.token! });
    await heartbeats(ending, 1, 'the stream of the daily token');

    s.clock.ms += DAY_MS - 1000;
    await heartbeats(ending, 2, 'the stream of the daily token, a second before its end');
    assert.equal((await call(s, 'GET', '/api/me', { bearer: daily.token! })).status, 200);

    s.clock.ms += 1000;
    await endsCleanly(ending, 'the stream of the expired token');
    const refused = await call(s, 'GET', '/api/me', { bearer: daily.token! });
    assert.equal(refused.status, 401);
    const { error } = JSON.parse(refused.text) as { error: { code: string; message: string } };
    assert.equal(error.code, 'DBTAPE_TOKEN_INVALID');
    assert.match(error.message, /^dbtape: the API token expired at \d{4}-\d\d-\d\dT/);
    await heartbeats(going, 2, 'the stream of the token without an end');
    assert.ok(!going.isOver());
    assert.equal((await call(s, 'GET', '/api/me', { bearer: forever.token! })).status, 200);
    going.close();
  });
});
