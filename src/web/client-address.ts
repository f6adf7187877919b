/**
 * Who the client is, by address, for sign-in throttling and logs. Behind a reverse proxy every
 * request comes from the proxy; the proxy names the real client in a header, X-Forwarded-For or
 * RFC 7239 Forwarded, whichever `http.forwarded_header` says. That header is believed only from
 * `http.trusted_proxies`, and only as far as trusted hops reach: each proxy appends the address it
 * was reached from, so the right-most entry that is not itself a trusted proxy is the client, and
 * whatever stands left of it was written by the client and may be forged.
 *
 * Only the configured header is read. A proxy that writes one of them passes the other on as the
 * client sent it, so reading the other, or whichever is present, would let the client name itself.
 */
import { BlockList, isIP } from 'node:net';
import type { MiddlewareHandler } from 'hono';
import type { AddressRange, ForwardedHeader } from '../config/types.js';
import type { WebEnv } from './env.js';
import { forwardedHops, xForwardedForHops } from './forwarded-hops.js';
import { normalizeAddress } from './ip-address.js';

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
 * header's entries are walked from the right past every trusted proxy. An entry that is not an
 * address (`unknown`, an obfuscated `_name`, a Forwarded element without `for`, garbage) ends the
 * walk at the last trusted hop: nothing left of it can be believed. When every entry is a trusted
 * proxy the left-most one is the client.
 */
export function clientAddress(
  peer: string | undefined,
  header: string | undefined,
  trusted: TrustedProxies,
  kind: ForwardedHeader,
): string {
  const direct = peer === undefined ? 'unknown' : (normalizeAddress(peer) ?? peer);
  if (header === undefined || !trusted.has(direct)) return direct;
  let client = direct;
  const hops = kind === 'forwarded' ? forwardedHops(header) : xForwardedForHops(header);
  for (let i = hops.length - 1; i >= 0; i--) {
    const hop = hops[i]!;
    if (hop === null) return client;
    client = hop;
    if (!trusted.has(hop)) return hop;
  }
  return client;
}

/** Sets the `clientIp` of every request, for throttling and logs (env.ts's clientIp reads it). */
export function resolveClientAddress(
  trusted: TrustedProxies,
  kind: ForwardedHeader,
): MiddlewareHandler<WebEnv> {
  return async (c, next) => {
    const header = trusted.empty ? undefined : c.req.header(kind);
    c.set('clientIp', clientAddress(c.env.incoming.socket.remoteAddress, header, trusted, kind));
    await next();
  };
}
