/** Client addresses as the dashboard counts and logs them. */
import { isIP } from 'node:net';
import { mappedIpv4 } from '../config/http-values.js';

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

/**
 * What sign-in throttling counts as one client: its address, but an IPv6 address by its /64. A /64
 * is what one subscriber or one LAN is given (SLAAC needs it; RFC 6177), so its 2^64 addresses
 * counted one by one would hand anyone a fresh allowance per guess. IPv4 and IPv4-mapped addresses
 * stay one each. The key is only a key: logs keep the full address.
 */
export function clientBlock(address: string): string {
  const a = normalizeAddress(address);
  if (a === null || isIP(a) === 4) return a ?? address;
  const groups = ipv6Groups(a);
  return groups === null ? a : `${groups.slice(0, 4).join(':')}::/64`;
}

/** The eight groups of an IPv6 address (already checked by isIP), in hex without leading zeros. */
function ipv6Groups(address: string): string[] | null {
  let text = address.replace(/%.*$/, '');
  // A dotted IPv4 tail (64:ff9b::192.0.2.1) stands for the last two groups.
  const tail = /(\d+)\.(\d+)\.(\d+)\.(\d+)$/.exec(text);
  if (tail) {
    const [a, b, c, d] = tail.slice(1).map(Number) as [number, number, number, number];
    text = `${text.slice(0, tail.index)}${((a << 8) | b).toString(16)}:${((c << 8) | d).toString(16)}`;
  }
  const [head, rest, extra] = text.split('::');
  if (extra !== undefined) return null;
  const left = head ? head.split(':') : [];
  const right = rest ? rest.split(':') : [];
  const zeros = rest === undefined ? 0 : 8 - left.length - right.length;
  const groups = [...left, ...Array<string>(zeros).fill('0'), ...right];
  return groups.length === 8 ? groups.map((g) => Number.parseInt(g, 16).toString(16)) : null;
}
