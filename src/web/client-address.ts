/**
 * Who the client is, by address, for sign-in throttling and logs. Behind a reverse proxy every
 * request comes from the proxy; the proxy names the real client in X-Forwarded-For. That header is
 * believed only from `http.trusted_proxies`, and only as far as trusted hops reach: each proxy
 * appends the address it was reached from, so the right-most entry that is not itself a trusted
 * proxy is the client, and whatever stands left of it was written by the client and may be forged.
 */
import { BlockList, isIP } from 'node:net';
import type { MiddlewareHandler } from 'hono';
import { mappedIpv4 } from '../config/http-values.js';
import type { AddressRange } from '../config/types.js';
import type { WebEnv } from './env.js';

/**
 * One spelling per address, so a throttle counts `::ffff:1.2.3.4` and `1.2.3.4` as one client:
 * IPv4-mapped IPv6 becomes IPv4, IPv6 is lower case. Null for anything that is not an address.
 */
export function normalizeAddress(text: string): string | null {
  const version = isIP(text);
  if (version === 4) return text;
  if (version !== 6) return null;
  return mappedIpv4(text) ?? text.toLowerCase();
}

export class TrustedProxies {
  private readonly list = new BlockList();
  readonly empty: boolean;

  constructor(ranges: readonly AddressRange[]) {
    for (const r of ranges) this.list.addSubnet(r.address, r.prefix, r.family);
    this.empty = ranges.length === 0;
  }

  /** Whether `address` (IPv4, IPv6 or IPv4-mapped IPv6) is one of the trusted proxies. */
  has(address: string): boolean {
    const a = normalizeAddress(address);
    if (a === null || this.empty) return false;
    return this.list.check(a, isIP(a) === 4 ? 'ipv4' : 'ipv6');
  }
}

/**
 * The client's address: the socket peer, unless the peer is a trusted proxy, in which case the
 * X-Forwarded-For entries are walked from the right past every trusted proxy. An entry that is not
 * an address (`unknown`, garbage) ends the walk at the last trusted hop: nothing left of it can be
 * believed. When every entry is a trusted proxy the left-most one is the client.
 */
export function clientAddress(
  peer: string | undefined,
  forwardedFor: string | undefined,
  trusted: TrustedProxies,
): string {
  const direct = peer === undefined ? 'unknown' : (normalizeAddress(peer) ?? peer);
  if (forwardedFor === undefined || !trusted.has(direct)) return direct;
  let client = direct;
  const hops = forwardedFor.split(',');
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hopAddress(hops[i]!);
    if (hop === null) return client;
    client = hop;
    if (!trusted.has(hop)) return hop;
  }
  return client;
}

/** One X-Forwarded-For entry: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:443`. */
function hopAddress(entry: string): string | null {
  const e = entry.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(e);
  if (bracketed) return normalizeAddress(bracketed[1]!);
  const v4WithPort = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(e);
  return normalizeAddress(v4WithPort ? v4WithPort[1]! : e);
}

/** Sets the `clientIp` of every request, for throttling and logs (env.ts's clientIp reads it). */
export function resolveClientAddress(trusted: TrustedProxies): MiddlewareHandler<WebEnv> {
  return async (c, next) => {
    const forwarded = trusted.empty ? undefined : c.req.header('x-forwarded-for');
    c.set('clientIp', clientAddress(c.env.incoming.socket.remoteAddress, forwarded, trusted));
    await next();
  };
}
