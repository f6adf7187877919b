/**
 * The client's address behind a reverse proxy (README, Configuration, `http.trusted_proxies`): which
 * peers are trusted proxies, and which X-Forwarded-For entry is the client. What a user would notice:
 * a client forging its address past the throttle, or every user counted under the proxy's address.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { parseAddressRange } from '../../src/config/http-values.js';
import type { AddressRange } from '../../src/config/types.js';
import { clientAddress, normalizeAddress, TrustedProxies } from '../../src/web/client-address.js';

function proxies(...entries: string[]): TrustedProxies {
  const ranges: AddressRange[] = entries.map((e) => {
    const r = parseAddressRange(e);
    assert.ok(r.ok, `${e}: ${r.ok ? '' : r.problem}`);
    return r.value;
  });
  return new TrustedProxies(ranges);
}

describe('the trusted proxy matcher', () => {
  test('single addresses and IPv4 ranges, with their edges', () => {
    const t = proxies('127.0.0.1', '10.0.0.0/8', '192.168.4.0/22');
    assert.ok(t.has('127.0.0.1'));
    assert.ok(!t.has('127.0.0.2'));
    assert.ok(t.has('10.0.0.0') && t.has('10.255.255.255'));
    assert.ok(!t.has('11.0.0.0') && !t.has('9.255.255.255'));
    assert.ok(t.has('192.168.7.255'));
    assert.ok(!t.has('192.168.8.0'));
  });

  test('IPv6 addresses and ranges, any spelling', () => {
    const t = proxies('::1', 'fd00::/8', '2001:db8:1::/48');
    assert.ok(t.has('::1') && t.has('0:0:0:0:0:0:0:1'));
    assert.ok(t.has('fd12:3456::9') && t.has('FD00::1'));
    assert.ok(t.has('2001:db8:1:ffff::1'));
    assert.ok(!t.has('2001:db8:2::1'));
    assert.ok(!t.has('fe80::1'));
  });

  test('an IPv4 peer seen by a dual-stack socket (::ffff:a.b.c.d) is the IPv4 address', () => {
    const t = proxies('127.0.0.1', '10.0.0.0/8');
    assert.ok(t.has('::ffff:127.0.0.1'));
    assert.ok(t.has('::FFFF:10.9.8.7'));
    assert.ok(t.has('::ffff:7f00:1'), 'the same address in hex');
    assert.ok(!t.has('::ffff:127.0.0.2'));
    // Written as IPv4-mapped in the config, it still matches the plain IPv4 peer.
    assert.ok(proxies('::ffff:10.0.0.0/104').has('10.1.2.3'));
  });

  test('nothing is trusted without entries, and a non-address never is', () => {
    assert.ok(!proxies().has('127.0.0.1'));
    assert.ok(!proxies('0.0.0.0/0', '::/0').has('unknown'));
    assert.ok(!proxies('0.0.0.0/0').has(''));
  });

  test('addresses get one spelling, so a throttle counts one client once', () => {
    assert.equal(normalizeAddress('::ffff:198.51.100.9'), '198.51.100.9');
    assert.equal(normalizeAddress('2001:DB8::A'), '2001:db8::a');
    assert.equal(normalizeAddress('203.0.113.7'), '203.0.113.7');
    assert.equal(normalizeAddress('not-an-address'), null);
  });
});

describe('the client address from X-Forwarded-For', () => {
  const t = proxies('127.0.0.1', '::1', '10.0.0.0/8');

  test('from a peer that is not a trusted proxy the header is ignored', () => {
    assert.equal(clientAddress('198.51.100.9', '203.0.113.7', t), '198.51.100.9');
    assert.equal(clientAddress('::ffff:198.51.100.9', '127.0.0.1', t), '198.51.100.9');
    assert.equal(clientAddress('2001:db8::9', '203.0.113.7', t), '2001:db8::9');
  });

  test('nothing is believed when no proxy is trusted', () => {
    assert.equal(clientAddress('127.0.0.1', '203.0.113.7', proxies()), '127.0.0.1');
  });

  test('a trusted peer without the header is the client', () => {
    assert.equal(clientAddress('127.0.0.1', undefined, t), '127.0.0.1');
    assert.equal(clientAddress(undefined, '203.0.113.7', t), 'unknown');
  });

  test("a trusted proxy's entry names the client", () => {
    assert.equal(clientAddress('127.0.0.1', '203.0.113.7', t), '203.0.113.7');
    assert.equal(clientAddress('::1', '2001:db8::5', t), '2001:db8::5');
    assert.equal(clientAddress('::ffff:127.0.0.1', '203.0.113.7', t), '203.0.113.7');
  });

  test('forged entries left of the proxy-written one are ignored', () => {
    assert.equal(clientAddress('127.0.0.1', '1.1.1.1, 203.0.113.7', t), '203.0.113.7');
    // A client claiming to be a trusted proxy does not get further left either.
    assert.equal(clientAddress('127.0.0.1', '6.6.6.6, 10.0.0.1, 203.0.113.7', t), '203.0.113.7');
  });

  test('a chain of trusted proxies is walked to the first untrusted hop', () => {
    assert.equal(clientAddress('127.0.0.1', '9.9.9.9, 203.0.113.7, 10.0.0.2, 10.0.0.3', t), '203.0.113.7');
    // Two headers, as node joins them.
    assert.equal(clientAddress('127.0.0.1', '203.0.113.7, 10.0.0.2,10.0.0.3', t), '203.0.113.7');
  });

  test('when every hop is a trusted proxy, the left-most is the client', () => {
    assert.equal(clientAddress('127.0.0.1', '10.0.0.5, 10.0.0.2', t), '10.0.0.5');
  });

  test('entries with ports, brackets and IPv4-mapped forms', () => {
    assert.equal(clientAddress('127.0.0.1', '203.0.113.7:51234', t), '203.0.113.7');
    assert.equal(clientAddress('127.0.0.1', '[2001:db8::5]:443', t), '2001:db8::5');
    assert.equal(clientAddress('127.0.0.1', ' ::ffff:203.0.113.7 ', t), '203.0.113.7');
  });

  test('an entry that is not an address stops the walk at the last trusted hop', () => {
    assert.equal(clientAddress('127.0.0.1', '203.0.113.7, unknown', t), '127.0.0.1');
    assert.equal(clientAddress('127.0.0.1', '203.0.113.7, bogus, 10.0.0.2', t), '10.0.0.2');
    assert.equal(clientAddress('127.0.0.1', '', t), '127.0.0.1');
  });
});
