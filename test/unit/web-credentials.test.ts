import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { User } from '../../src/model/identity.js';
import { ApiTokens } from '../../src/web/auth/api-tokens.js';
import { type AuthDeps, stillValid } from '../../src/web/auth/authenticate.js';
import { decoyVerifier } from '../../src/web/auth/password.js';
import { SignInTable } from '../../src/web/auth/sign-ins.js';
import { MEMORY_TOKENS } from '../../src/web/auth/token-keepers.js';
import type { Principal } from '../../src/web/types.js';

const user = (name: string): User => ({
  name,
  roles: ['app-writer'],
  verifiers: { scramSha256: decoyVerifier(), mysqlNative: null, cachingSha2: null },
});

function deps() {
  const ended: string[] = [];
  const d = {
    users: new Map([
      ['alice', user('alice')],
      ['bob', user('bob')],
    ]),
    signIns: new SignInTable({ idleMs: 60_000, absoluteMs: 3_600_000, now: () => 1_000 }),
    tokens: new ApiTokens(MEMORY_TOKENS, { onEnd: (id) => ended.push(id) }),
    cookieName: 'dbtape_session',
  } satisfies Pick<AuthDeps, 'users' | 'signIns' | 'tokens' | 'cookieName'>;
  return { d, ended };
}

test('a stream of a sign-in is valid while the sign-in and its user are', () => {
  const { d } = deps();
  const { token, signIn } = d.signIns.create('alice');
  const p: Principal = { user: 'alice', roles: [], via: 'session', credentialId: signIn.id };
  assert.equal(stillValid(p, d), true);
  d.signIns.end(token);
  assert.equal(stillValid(p, d), false, 'signed out');

  const bob = d.signIns.create('bob');
  const q: Principal = { user: 'bob', roles: [], via: 'session', credentialId: bob.signIn.id };
  d.users.delete('bob');
  assert.equal(stillValid(q, d), false, 'user removed from the config');
});

test('a stream of a token is valid while the token and its user are; revoking reports the id', async () => {
  const { d, ended } = deps();
  const { info } = await d.tokens.create('ci', 'alice', 'ada');
  const p: Principal = { user: 'alice', roles: [], via: 'token', credentialId: info.id };
  assert.equal(stillValid(p, d), true);
  assert.equal(await d.tokens.revoke(info.id), true);
  assert.equal(stillValid(p, d), false);
  assert.deepEqual(ended, [info.id]);

  const other = await d.tokens.create('other', 'alice', 'ada');
  const q: Principal = { user: 'alice', roles: [], via: 'token', credentialId: other.info.id };
  d.users.delete('alice');
  assert.equal(stillValid(q, d), false, 'user removed from the config');
});

test('a token id is not taken for a sign-in id, or the other way round', async () => {
  const { d } = deps();
  const { signIn } = d.signIns.create('alice');
  const { info } = await d.tokens.create('ci', 'alice', 'ada');
  assert.equal(stillValid({ user: 'alice', roles: [], via: 'token', credentialId: signIn.id }, d), false);
  assert.equal(stillValid({ user: 'alice', roles: [], via: 'session', credentialId: info.id }, d), false);
});
