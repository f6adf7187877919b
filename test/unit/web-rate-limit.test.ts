/**
 * Sign-in throttling (README, "The dashboard and HTTP API"): per user name and address, per address,
 * per name. What a user would notice: a guesser getting past its allowance (by name, by address, or
 * by a fresh IPv6 address from its /64), or a real user locked out by someone else's guesses.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LoginLimiter, PER_USER_ALL_IPS } from '../../src/web/auth/rate-limit.js';
import { clientBlock } from '../../src/web/ip-address.js';

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

test('an IPv6 client is counted by its /64: fresh addresses from it get no fresh allowance', () => {
  const { l } = limiter();
  for (let i = 1; i <= 20; i++) l.failed(`user${i}`, `2001:db8:1:2::${i.toString(16)}`);
  assert.ok(l.waitMs('someone-new', '2001:db8:1:2:ffff:ffff:ffff:ffff') > 0, 'the per-address allowance');
  assert.ok(l.waitMs('someone-new', '2001:DB8:1:2:0:0:0:abc') > 0, 'in any spelling');
  assert.equal(l.waitMs('someone-new', '2001:db8:1:3::1'), 0, 'the next /64 is someone else');
  assert.equal(l.waitMs('someone-new', '2001:db8:1:1::1'), 0);

  const pair = limiter().l;
  for (let i = 1; i <= 5; i++) pair.failed('admin', `2001:db8:5:6:${i}::1`);
  assert.ok(pair.waitMs('admin', '2001:db8:5:6::99') > 0, 'the per-name-and-address allowance too');
  assert.equal(pair.waitMs('admin', '2001:db8:5:7::99'), 0);
});

test('IPv4 and IPv4-mapped clients stay one address each', () => {
  const { l } = limiter();
  for (let i = 0; i < 20; i++) l.failed(`user${i}`, '198.51.100.7');
  assert.ok(l.waitMs('someone-new', '198.51.100.7') > 0);
  assert.ok(l.waitMs('someone-new', '::ffff:198.51.100.7') > 0, 'the same address, IPv4-mapped');
  assert.equal(l.waitMs('someone-new', '198.51.100.8'), 0, 'its neighbour is not throttled');
  assert.equal(l.waitMs('someone-new', '::ffff:198.51.100.8'), 0);
});

test('the block an address is counted in', () => {
  assert.equal(clientBlock('2001:db8:1:2:3:4:5:6'), '2001:db8:1:2::/64');
  assert.equal(clientBlock('2001:0DB8:0001:0002::9'), '2001:db8:1:2::/64');
  assert.equal(clientBlock('2001:db8::1'), '2001:db8:0:0::/64');
  assert.equal(clientBlock('2001:db8:1:2::'), '2001:db8:1:2::/64');
  assert.equal(clientBlock('::2:3:4:5:6:7:8'), '0:2:3:4::/64');
  assert.equal(clientBlock('fe80::1%eth0'), 'fe80:0:0:0::/64');
  assert.equal(clientBlock('2001:db8:1:2:3:4:192.0.2.1'), '2001:db8:1:2::/64');
  assert.equal(clientBlock('::ffff:192.0.2.1'), '192.0.2.1');
  assert.equal(clientBlock('192.0.2.1'), '192.0.2.1');
  assert.equal(clientBlock('unknown'), 'unknown');
});
