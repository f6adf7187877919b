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
