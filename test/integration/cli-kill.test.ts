import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { stringify } from 'yaml';
import { hashPassword } from '../../src/config/verifiers.js';
import { DBTAPE_BIN } from '../support/dbtape-process.js';
import { DEFAULT_TARGET, type InProcessDbtape, startInProcess } from '../support/inproc-dbtape.js';
import { waitFor } from '../support/wait.js';

// `dbtape kill ID` ends a live session of a running `dbtape serve` through its HTTP API, with an
// admin's API token; the session's client gets a clear dbtape: error.

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

test('dbtape kill without a token says how to get one', async () => {
  const res = await cli(['kill', 'x', '--url', base], { ...process.env, DBTAPE_TOKEN: '' });
  assert.equal(res.code, 2);
  assert.match(res.stderr, /API token/);
});
