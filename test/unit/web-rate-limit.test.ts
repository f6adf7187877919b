import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LoginLimiter, PER_USER_ALL_IPS } from '../../src/web/auth/rate-limit.js';

function limiter(over: Partial<ConstructorParameters<typeof LoginLimiter>[0]> = {}) {
  const clock = { ms: 1_000_000 };
  const l = new LoginLimiter({
    perUserFromIp: 5,
    perIp: 20,
    perUserAllIps: PER_USER_ALL_IPS,
    baseDelayMs: 1000,
    maxDelayMs: 15 * 60_000,
    now: () => clock.ms,
    ...over,
  });
  return { l, clock };
}

test('failures for a name from one address do not lock the name out elsewhere', () => {
  const { l } = limiter();
  for (let i = 0; i < 10; i++) l.failed('admin', '203.0.113.7');
  assert.ok(l.waitMs('admin', '203.0.113.7') > 0, 'the guessing address waits');
  assert.ok(l.waitMs('ADMIN', '203.0.113.7') > 0, 'whatever the case of the name');
  assert.equal(l.waitMs('admin', '198.51.100.1'), 0, 'the real admin, elsewhere, does not');
  assert.equal(l.waitMs('bob', '203.0.113.7'), 0, 'other names from that address are below its allowance');
});

test('the pair waits after its allowance, doubling, and forgets after the cap', () => {
  const { l, clock } = limiter();
  for (let i = 0; i < 4; i++) l.failed('alice', 'A');
  assert.equal(l.waitMs('alice', 'A'), 0, 'four failures are allowed');
  l.failed('alice', 'A');
  assert.equal(l.waitMs('alice', 'A'), 1000);
  l.failed('alice', 'A');
  assert.equal(l.waitMs('alice', 'A'), 2000);
  clock.ms += 15 * 60_000 + 1;
  assert.equal(l.waitMs('alice', 'A'), 0);
});

test('a good password clears the pair but not the address', () => {
  const { l } = limiter({ perIp: 6 });
  for (let i = 0; i < 5; i++) l.failed('alice', 'A');
  l.succeeded('alice', 'A');
  assert.equal(l.waitMs('alice', 'A'), 0);
  l.failed('bob', 'A');
  assert.ok(l.waitMs('carol', 'A') > 0, 'the address still counts all six failures');
});

test('an address guessing many names waits after 20 failures', () => {
  const { l } = limiter();
  for (let i = 0; i < 20; i++) l.failed(`user${i}`, 'A');
  assert.ok(l.waitMs('someone-new', 'A') > 0);
  assert.equal(l.waitMs('someone-new', 'B'), 0);
});

test('guessing one name from many addresses is slowed by the name allowance', () => {
  const { l } = limiter();
  // Each address stays below its own allowances: only the name's count can stop this.
  for (let i = 0; i < PER_USER_ALL_IPS - 1; i++) l.failed('admin', `10.0.${i >> 8}.${i & 255}`);
  assert.equal(l.waitMs('admin', '192.0.2.1'), 0, 'below the name allowance');
  l.failed('admin', '10.1.0.0');
  assert.ok(l.waitMs('admin', '192.0.2.1') > 0, 'at the allowance every address waits for this name');
  assert.equal(l.waitMs('bob', '192.0.2.1'), 0, 'other names do not');
  l.succeeded('admin', '192.0.2.1');
  assert.ok(l.waitMs('admin', '192.0.2.2') > 0, "the owner's sign-in does not refill the allowance");
});
