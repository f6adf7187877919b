/**
 * The client's address behind a reverse proxy (README, Configuration, `http.trusted_proxies` and
 * `http.forwarded_header`): which peers are trusted proxies, and which X-Forwarded-For entry or
 * Forwarded element is the client. What a user would notice: a client forging its address past the
 * throttle, or every user counted under the proxy's address.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { HttpBindings } from '@hono/node-server';
import { Hono } from 'hono';
import { parseAddressRange } from '../../src/config/http-values.js';
import type { AddressRange } from '../../src/config/types.js';
import { clientAddress, resolveClientAddress, TrustedProxies } from '../../src/web/client-address.js';
import type { WebEnv } from '../../src/web/env.js';
import { normalizeAddress } from '../../src/web/ip-address.js';

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
  const viaXff = (peer: string | undefined, header: string | undefined, trusted: TrustedProxies) =>
    clientAddress(peer, header, trusted, 'x-forwarded-for');

  test('from a peer that is not a trusted proxy the header is ignored', () => {
    assert.equal(viaXff('198.51.100.9', '203.0.113.7', t), '198.51.100.9');
    assert.equal(viaXff('::ffff:198.51.100.9', '127.0.0.1', t), '198.51.100.9');
    assert.equal(viaXff('2001:db8::9', '203.0.113.7', t), '2001:db8::9');
  });

  test('nothing is believed when no proxy is trusted', () => {
    assert.equal(viaXff('127.0.0.1', '203.0.113.7', proxies()), '127.0.0.1');
  });

  test('a trusted peer without the header is the client', () => {
    assert.equal(viaXff('127.0.0.1', undefined, t), '127.0.0.1');
    assert.equal(viaXff(undefined, '203.0.113.7', t), 'unknown');
  });

  test("a trusted proxy's entry names the client", () => {
    assert.equal(viaXff('127.0.0.1', '203.0.113.7', t), '203.0.113.7');
    assert.equal(viaXff('::1', '2001:db8::5', t), '2001:db8::5');
    assert.equal(viaXff('::ffff:127.0.0.1', '203.0.113.7', t), '203.0.113.7');
  });

  test('forged entries left of the proxy-written one are ignored', () => {
    assert.equal(viaXff('127.0.0.1', '1.1.1.1, 203.0.113.7', t), '203.0.113.7');
    // A client claiming to be a trusted proxy does not get further left either.
    assert.equal(viaXff('127.0.0.1', '6.6.6.6, 10.0.0.1, 203.0.113.7', t), '203.0.113.7');
  });

  test('a chain of trusted proxies is walked to the first untrusted hop', () => {
    assert.equal(viaXff('127.0.0.1', '9.9.9.9, 203.0.113.7, 10.0.0.2, 10.0.0.3', t), '203.0.113.7');
    // Two headers, as node joins them.
    assert.equal(viaXff('127.0.0.1', '203.0.113.7, 10.0.0.2,10.0.0.3', t), '203.0.113.7');
  });

  test('when every hop is a trusted proxy, the left-most is the client', () => {
    assert.equal(viaXff('127.0.0.1', '10.0.0.5, 10.0.0.2', t), '10.0.0.5');
  });

  test('entries with ports, brackets and IPv4-mapped forms', () => {
    assert.equal(viaXff('127.0.0.1', '203.0.113.7:51234', t), '203.0.113.7');
    assert.equal(viaXff('127.0.0.1', '[2001:db8::5]:443', t), '2001:db8::5');
    assert.equal(viaXff('127.0.0.1', ' ::ffff:203.0.113.7 ', t), '203.0.113.7');
  });

  test('an entry that is not an address stops the walk at the last trusted hop', () => {
    assert.equal(viaXff('127.0.0.1', '203.0.113.7, unknown', t), '127.0.0.1');
    assert.equal(viaXff('127.0.0.1', '203.0.113.7, bogus, 10.0.0.2', t), '10.0.0.2');
    assert.equal(viaXff('127.0.0.1', '', t), '127.0.0.1');
  });
});

describe('the client address from Forwarded (RFC 7239)', () => {
  const t = proxies('127.0.0.1', '::1', '10.0.0.0/8');
  const via = (header: string | undefined, peer = '127.0.0.1') => clientAddress(peer, header, t, 'forwarded');

  test("a trusted proxy's element names the client, with the RFC's examples", () => {
    assert.equal(via('for=192.0.2.60;proto=http;by=203.0.113.43'), '192.0.2.60');
    assert.equal(via('for="_gazonk"'), '127.0.0.1', 'an obfuscated name is no address');
    assert.equal(via('For="[2001:db8:cafe::17]:4711"'), '2001:db8:cafe::17');
    assert.equal(via('for=192.0.2.43, for=198.51.100.17'), '198.51.100.17');
  });

  test('from a peer that is not a trusted proxy, or without the header, the peer is the client', () => {
    assert.equal(via('for=203.0.113.7', '198.51.100.9'), '198.51.100.9');
    assert.equal(via(undefined), '127.0.0.1');
    assert.equal(clientAddress('127.0.0.1', 'for=203.0.113.7', proxies(), 'forwarded'), '127.0.0.1');
  });

  test('quoted and unquoted values, ports, brackets and any case of the parameter name', () => {
    assert.equal(via('for=203.0.113.7:51234'), '203.0.113.7');
    assert.equal(via('for="203.0.113.7"'), '203.0.113.7');
    assert.equal(via('for="203.0.113.7:51234"'), '203.0.113.7');
    assert.equal(via('FOR="[2001:DB8::5]"'), '2001:db8::5');
    assert.equal(via('proto=https;for="[2001:db8::5]:443";host=dbtape.example.com'), '2001:db8::5');
    assert.equal(via('for="[::ffff:203.0.113.7]"'), '203.0.113.7');
    assert.equal(via(' for = 203.0.113.7 ; proto=https '), '203.0.113.7', 'spaces around the parts');
    assert.equal(via('for="203.0.113\\.7"'), '203.0.113.7', 'a quoted-pair escape');
    assert.equal(
      via('for=2001:db8::5'),
      '2001:db8::5',
      'an unbracketed IPv6 address, as some proxies write it',
    );
  });

  test('obfuscated ports keep the address', () => {
    assert.equal(via('for="203.0.113.7:_p1"'), '203.0.113.7');
    assert.equal(via('for="[2001:db8::5]:_x-9"'), '2001:db8::5');
  });

  test('forged elements left of the proxy-written one are ignored, and chains are walked', () => {
    assert.equal(via('for=1.1.1.1, for=203.0.113.7'), '203.0.113.7');
    assert.equal(via('for=6.6.6.6, for=10.0.0.1, for=203.0.113.7'), '203.0.113.7');
    assert.equal(via('for=9.9.9.9, for=203.0.113.7;proto=https, for=10.0.0.2, for=10.0.0.3'), '203.0.113.7');
    assert.equal(via('for=10.0.0.5, for=10.0.0.2'), '10.0.0.5', 'every hop trusted: the left-most');
  });

  test('unknown, obfuscated names, elements without for and garbage stop the walk at the last trusted hop', () => {
    assert.equal(via('for=203.0.113.7, for=unknown'), '127.0.0.1');
    assert.equal(via('for=203.0.113.7, for=UNKNOWN:4711'), '127.0.0.1');
    assert.equal(via('for=203.0.113.7, for=_hidden, for=10.0.0.2'), '10.0.0.2');
    assert.equal(via('for=203.0.113.7, for="_SEVKISEK"'), '127.0.0.1');
    assert.equal(via('for=203.0.113.7, proto=https;by=10.0.0.1'), '127.0.0.1');
    assert.equal(via('for=203.0.113.7, for=bogus, for=10.0.0.2'), '10.0.0.2');
    assert.equal(via('for=203.0.113.7, for=203.0.113.8;garbage'), '127.0.0.1');
    assert.equal(via('for=203.0.113.7, for="203.0.113.8'), '127.0.0.1', 'an unclosed quote');
    assert.equal(via('for=203.0.113.7, for=203.0.113.8"'), '127.0.0.1', 'a stray quote');
    assert.equal(via(''), '127.0.0.1');
    assert.equal(via('for=203.0.113.7,'), '127.0.0.1', 'an empty last element');
  });

  test('an element naming two clients is believed for neither', () => {
    assert.equal(via('for=203.0.113.7;for=198.51.100.1'), '127.0.0.1');
  });

  test("a client's own unbalanced quotes cannot swallow the element the proxy appends", () => {
    assert.equal(via('for="6.6.6.6, for=203.0.113.7'), '203.0.113.7');
    assert.equal(via('for="x, for="[2001:db8::5]:4711"'), '2001:db8::5');
    assert.equal(via('for="\\, for=203.0.113.7'), '203.0.113.7');
    assert.equal(via('for="6.6.6.6, 7.7.7.7", for=203.0.113.7'), '203.0.113.7');
  });
});

describe('only the configured header is read', () => {
  const t = proxies('127.0.0.1');
  const peer = { incoming: { socket: { remoteAddress: '127.0.0.1' } } } as unknown as HttpBindings;

  async function seen(
    kind: 'x-forwarded-for' | 'forwarded',
    headers: Record<string, string>,
  ): Promise<string> {
    const app = new Hono<WebEnv>();
    app.use('*', resolveClientAddress(t, kind));
    app.get('/', (c) => c.text(c.get('clientIp')));
    return (await app.request('/', { headers }, peer)).text();
  }

  test('X-Forwarded-For (the default): a Forwarded header is what the client sent, and is ignored', async () => {
    const both = { 'x-forwarded-for': '203.0.113.7', forwarded: 'for=6.6.6.6' };
    assert.equal(await seen('x-forwarded-for', both), '203.0.113.7');
    assert.equal(await seen('x-forwarded-for', { forwarded: 'for=6.6.6.6' }), '127.0.0.1');
  });

  test('Forwarded: an X-Forwarded-For header is what the client sent, and is ignored', async () => {
    const both = { 'x-forwarded-for': '6.6.6.6', forwarded: 'for=203.0.113.7' };
    assert.equal(await seen('forwarded', both), '203.0.113.7');
    assert.equal(await seen('forwarded', { 'x-forwarded-for': '6.6.6.6' }), '127.0.0.1');
  });
});
