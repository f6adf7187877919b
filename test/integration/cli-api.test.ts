import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { stringify } from 'yaml';
import { hashPassword } from '../../src/config/verifiers.js';
import { DBTAPE_BIN } from '../support/dbtape-process.js';
import { DEFAULT_TARGET, type InProcessDbtape, startInProcess } from '../support/inproc-dbtape.js';
import { waitFor } from '../support/wait.js';

// The commands that ask a running `dbtape serve` through its HTTP API, as an admin (an API token,
// or signing in with a user name and password): `kill ID` ends a live session, whose client gets a
// clear dbtape: error; `tokens create|list|revoke` manage API tokens.

const ADA = { name: 'ada', password: 'ada-secret-1' };
const ALICE = { name: 'alice', password: 'alice-secret-1' };
let dbtape: InProcessDbtape;
let base: string;

before(async () => {
  const yaml = stringify({
    listen: { postgres: '127.0.0.1:0', http: '127.0.0.1:0' },
    targets: [DEFAULT_TARGET],
    users: [
      { name: ADA.name, password: hashPassword(ADA.password), roles: ['admin'] },
      { name: ALICE.name, password: hashPassword(ALICE.password), roles: ['app-writer'] },
    ],
    roles: [{ name: 'app-writer', targets: ['app'], access: 'write' }],
  });
  dbtape = await startInProcess({ yaml });
  base = `http://${dbtape.server.addresses.http}`;
});

after(async () => {
  await dbtape?.close();
});

/** Runs the CLI without blocking the event loop: the proxy under test lives in this process. */
function cli(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [DBTAPE_BIN, ...args], { env }, (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}

async function adminToken(): Promise<string> {
  const login = await fetch(`${base}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: ADA.name, password: ADA.password }),
  });
  assert.equal(login.status, 200);
  const { csrf } = (await login.json()) as { csrf: string };
  const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
  const res = await fetch(`${base}/api/tokens`, {
    method: 'POST',
    headers: { cookie, 'x-csrf-token': csrf, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'cli-kill-test' }),
  });
  assert.equal(res.status, 201);
  return ((await res.json()) as { token: string }).token;
}

test('dbtape kill ends a live session and its client gets a dbtape: error', async () => {
  const token = await adminToken();
  const { id, ended } = await liveSession();

  const refused = await cli(['kill', id, '--url', base, '--token', 'dbtape_wrong']);
  assert.equal(refused.code, 1, 'a wrong token is refused');

  const res = await cli(['kill', id, '--url', base, '--token', token]);
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, new RegExp(`session ${id} ended`));
  const err = await ended;
  assert.match(err.message, /dbtape: /);
  await waitFor(() => dbtape.server.registry.active === 0, { what: 'the session to end' });

  const again = await cli(['kill', id, '--url', base, '--token', token]);
  assert.equal(again.code, 1, 'a session that is no longer live cannot be killed');
});

/** A live session of alice's, and the error its client will get when it ends. */
async function liveSession(): Promise<{ id: string; ended: Promise<Error> }> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port: dbtape.port,
    user: ALICE.name,
    password: ALICE.password,
    database: 'app',
  });
  const ended = new Promise<Error>((resolve) => client.on('error', resolve));
  await client.connect();
  await client.query('select 1');
  const id = await waitFor(() => dbtape.server.registry.all()[0]?.meta.id, { what: 'the live session' });
  return { id, ended };
}

test('dbtape kill --user signs in as an admin (password from DBTAPE_PASSWORD)', async () => {
  const { id, ended } = await liveSession();
  const env = { ...process.env, DBTAPE_TOKEN: '', DBTAPE_USER: '' };

  const wrong = await cli(['kill', id, '--url', base, '--user', ADA.name], {
    ...env,
    DBTAPE_PASSWORD: 'nope',
  });
  assert.equal(wrong.code, 1);
  assert.match(wrong.stderr, /^dbtape: could not sign in as ada: 401 wrong user name or password$/m);
  assert.ok(!wrong.stderr.includes('nope'), 'the password is never echoed');

  const notAdmin = await cli(['kill', id, '--url', base, '--user', ALICE.name], {
    ...env,
    DBTAPE_PASSWORD: ALICE.password,
  });
  assert.equal(notAdmin.code, 1, 'only an admin may end sessions');
  assert.match(notAdmin.stderr, /could not end session .*: 403/);
  assert.equal(dbtape.server.registry.active, 1);

  const res = await cli(['kill', id, '--url', base], {
    ...env,
    DBTAPE_USER: ADA.name,
    DBTAPE_PASSWORD: ADA.password,
  });
  assert.equal(res.code, 0, res.stderr);
  assert.match(res.stdout, new RegExp(`session ${id} ended`));
  assert.match((await ended).message, /dbtape: /);
  await waitFor(() => dbtape.server.registry.active === 0, { what: 'the session to end' });
});

test('dbtape kill with neither a user nor a token says what it needs', async () => {
  const res = await cli(['kill', 'x', '--url', base], { ...process.env, DBTAPE_TOKEN: '', DBTAPE_USER: '' });
  assert.equal(res.code, 2);
  assert.match(res.stderr, /--user NAME/);
  assert.match(res.stderr, /API token/);
});

test('dbtape tokens create, list and revoke, as an admin; the token works until revoked', async () => {
  const env = { ...process.env, DBTAPE_TOKEN: '', DBTAPE_USER: ADA.name, DBTAPE_PASSWORD: ADA.password };
  const created = await cli(
    ['tokens', 'create', 'siem collector', '--for', ALICE.name, '--expires-in-days', '30', '--url', base],
    env,
  );
  assert.equal(created.code, 0, created.stderr);
  const secret = created.stdout.trim();
  assert.match(secret, /^dbtape_[A-Za-z0-9_-]{43}$/, 'stdout holds the secret alone, for scripts');
  assert.match(created.stderr, /created token (\w+) "siem collector" for alice, expires 20\d\d-/);
  const id = /created token (\w+)/.exec(created.stderr)![1]!;

  const asAlice = await fetch(`${base}/api/me`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(asAlice.status, 200);
  assert.equal(((await asAlice.json()) as { user: string }).user, ALICE.name, 'the token acts as --for');

  const listed = await cli(['tokens', 'list', '--url', base, '--json'], env);
  assert.equal(listed.code, 0, listed.stderr);
  const mine = (
    JSON.parse(listed.stdout) as { id: string; user: string; expires_at: string | null; token?: string }[]
  ).find((t) => t.id === id);
  assert.ok(mine && mine.user === ALICE.name && mine.expires_at !== null);
  assert.equal(mine.token, undefined, 'a list never holds secrets');
  assert.ok(!listed.stdout.includes(secret));
  const table = await cli(['tokens', 'list', '--url', base], env);
  assert.match(table.stdout, new RegExp(`^${id}\\s+siem collector\\s+alice\\s+ada\\s`, 'm'));

  const notAdmin = await cli(['tokens', 'list', '--url', base], {
    ...env,
    DBTAPE_USER: ALICE.name,
    DBTAPE_PASSWORD: ALICE.password,
  });
  assert.equal(notAdmin.code, 1);
  assert.match(notAdmin.stderr, /could not list tokens: 403/);

  const revoked = await cli(['tokens', 'revoke', id, '--url', base], env);
  assert.equal(revoked.code, 0, revoked.stderr);
  assert.match(revoked.stdout, new RegExp(`token ${id} revoked`));
  const after = await fetch(`${base}/api/me`, { headers: { authorization: `Bearer ${secret}` } });
  assert.equal(after.status, 401, 'a revoked token stops working at once');
  const twice = await cli(['tokens', 'revoke', id, '--url', base], env);
  assert.equal(twice.code, 1);
  assert.match(twice.stderr, /could not revoke token .*: 404/);

  const bad = await cli(['tokens', 'create', 'x', '--expires-in-days', 'soon', '--url', base], env);
  assert.equal(bad.code, 2);
});
