/**
 * `dbtape serve` with store.url postgres://… keeps the dashboard's API tokens in the store's
 * database (README, "The dashboard and HTTP API"): a token the API handed out works after dbtape
 * restarts, a revocation outlives the restart too, and a token the store could not save is never
 * handed out. Each start is the real serve wiring (startServer), in this process.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { stringify } from 'yaml';
import { hashPassword } from '../../src/config/verifiers.js';
import { DEFAULT_TARGET, type InProcessDbtape, startInProcess } from '../support/inproc-dbtape.js';
import { pgAdminOn, throwawayPgDatabase } from '../support/store-kinds.js';

const ADA = { name: 'ada', password: 'ada-secret-7' };

function yaml(storeUrl: string): string {
  return stringify({
    listen: { postgres: '127.0.0.1:0', http: '127.0.0.1:0' },
    store: { url: storeUrl },
    targets: [DEFAULT_TARGET],
    users: [
      { name: ADA.name, password: hashPassword(ADA.password, { iterations: 1024 }), roles: ['admin'] },
      {
        name: 'alice',
        password: hashPassword('alice-secret-7', { iterations: 1024 }),
        roles: ['app-writer'],
      },
    ],
    roles: [{ name: 'app-writer', targets: ['app'], access: 'write' }],
  });
}

function base(d: InProcessDbtape): string {
  return `http://${d.server.addresses.http}`;
}

/** Signs in as the admin, as the dashboard does: the cookie and the CSRF token. */
async function adminHeaders(d: InProcessDbtape): Promise<Record<string, string>> {
  const res = await fetch(`${base(d)}/api/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ user: ADA.name, password: ADA.password }),
  });
  assert.equal(res.status, 200, await res.clone().text());
  const { csrf } = (await res.json()) as { csrf: string };
  return {
    cookie: (res.headers.get('set-cookie') ?? '').split(';')[0]!,
    'x-csrf-token': csrf,
    'content-type': 'application/json',
  };
}

async function createToken(d: InProcessDbtape, body: Record<string, unknown>): Promise<Response> {
  return fetch(`${base(d)}/api/tokens`, {
    method: 'POST',
    headers: await adminHeaders(d),
    body: JSON.stringify(body),
  });
}

async function me(d: InProcessDbtape, token: string): Promise<Response> {
  return fetch(`${base(d)}/api/me`, { headers: { authorization: `Bearer ${token}` } });
}

describe('API tokens with a PostgreSQL store', () => {
  test('a token the API made works after dbtape restarts; a revocation outlives the restart too', async () => {
    const { url } = await throwawayPgDatabase();
    const first = await startInProcess({ yaml: yaml(url) });
    let ci: { id: string; token: string };
    let ops: { id: string; token: string };
    try {
      const res = await createToken(first, { name: 'ci', user: 'alice', expires_in_days: 30 });
      assert.equal(res.status, 201, await res.clone().text());
      ci = (await res.json()) as typeof ci;
      ops = (await (await createToken(first, { name: 'ops' })).json()) as typeof ops;
      assert.equal((await me(first, ci.token)).status, 200);
    } finally {
      await first.close();
    }

    const second = await startInProcess({ yaml: yaml(url) });
    try {
      const res = await me(second, ci.token);
      assert.equal(res.status, 200, 'the token works after the restart');
      assert.equal(((await res.json()) as { user: string }).user, 'alice');
      const logs = JSON.stringify([...first.logs, ...second.logs]);
      assert.ok(!logs.includes(ci.token) && !logs.includes(ops.token), 'no token is logged');
      assert.doesNotMatch(logs, /kept in memory/, 'no warning that tokens are lost at restart');
      const listening = second.logs.find((l) => l.msg === 'dashboard listening');
      assert.equal(listening?.tokens, 'session store');
      const listed = (await (
        await fetch(`${base(second)}/api/tokens`, { headers: { authorization: `Bearer ${ops.token}` } })
      ).json()) as { id: string; name: string; expires_at: string | null }[];
      assert.deepEqual(
        listed.map((t) => [t.id, t.name, t.expires_at !== null]),
        [
          [ci.id, 'ci', true],
          [ops.id, 'ops', false],
        ],
      );
      const revoked = await fetch(`${base(second)}/api/tokens/${ci.id}`, {
        method: 'DELETE',
        headers: { authorization: `Bearer ${ops.token}` },
      });
      assert.equal(revoked.status, 200, await revoked.clone().text());
      assert.equal((await me(second, ci.token)).status, 401);
    } finally {
      await second.close();
    }

    const third = await startInProcess({ yaml: yaml(url) });
    try {
      assert.equal((await me(third, ci.token)).status, 401, 'still revoked after a restart');
      assert.equal((await me(third, ops.token)).status, 200);
    } finally {
      await third.close();
    }
  });

  test('a token the store cannot save is not handed out, and one it cannot delete is refused: 503 both', async () => {
    const { url } = await throwawayPgDatabase();
    const dbtape = await startInProcess({ yaml: yaml(url) });
    try {
      const made = await createToken(dbtape, { name: 'kept', user: 'alice' });
      assert.equal(made.status, 201, await made.clone().text());
      const kept = (await made.json()) as { id: string; token: string };
      const sql = pgAdminOn(url);
      await sql`DROP TABLE api_tokens`;
      await sql.end();
      const res = await createToken(dbtape, { name: 'lost' });
      const body = (await res.json()) as { token?: string; error?: { code: string; message: string } };
      assert.equal(res.status, 503);
      assert.equal(body.token, undefined);
      assert.equal(body.error?.code, 'DBTAPE_TOKENS_WRITE_FAILED');
      assert.match(body.error!.message, /^dbtape: the API tokens could not be saved in session store/);
      const listed = await fetch(`${base(dbtape)}/api/tokens`, { headers: await adminHeaders(dbtape) });
      assert.deepEqual(
        ((await listed.json()) as { id: string }[]).map((t) => t.id),
        [kept.id],
      );
      assert.ok(
        dbtape.logs.some((l) => l.level === 'error' && l.msg === 'API token change not saved'),
        'the cause is in the log',
      );

      assert.equal((await me(dbtape, kept.token)).status, 200);
      const revoked = await fetch(`${base(dbtape)}/api/tokens/${kept.id}`, {
        method: 'DELETE',
        headers: await adminHeaders(dbtape),
      });
      assert.equal(revoked.status, 503);
      const error = ((await revoked.json()) as { error: { message: string } }).error;
      assert.match(error.message, /the token is refused by this dbtape but may work again after a restart/);
      assert.equal((await me(dbtape, kept.token)).status, 401, 'refused although the store still holds it');
    } finally {
      await dbtape.close();
    }
  });
});
