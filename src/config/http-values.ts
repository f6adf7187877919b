/**
 * The value forms of the `http:` section (the dashboard behind a reverse proxy): the public URL,
 * trusted proxy addresses and ranges, the header they name the client in, and extra host names. Each parser returns the value in a
 * normal form or a problem text for the error message, as units.ts does.
 */
import { isIP } from 'node:net';
import type { AddressRange, ForwardedHeader } from './types.js';
import { type Parsed, shown } from './units.js';

const ok = <T>(value: T): Parsed<T> => ({ ok: true, value });
const fail = (problem: string): Parsed<never> => ({ ok: false, problem });

/**
 * `https://dbtape.example.com` or `http://host:8443`: the origin users open the dashboard at.
 * Returned as the URL's origin (no trailing slash, default port dropped, host in punycode), the form
 * a browser's Origin header has. A path is refused: the dashboard and its cookie live at the root
 * (a `__Host-` cookie must have Path=/), so it cannot be served under a prefix.
 */
export function parsePublicUrl(v: unknown): Parsed<string | null> {
  if (v === null) return ok(null);
  const form = 'expected an http:// or https:// URL such as https://dbtape.example.com';
  if (typeof v !== 'string' || !URL.canParse(v)) return fail(`${form}, got ${shown(v)}`);
  const u = new URL(v);
  if ((u.protocol !== 'http:' && u.protocol !== 'https:') || u.hostname === '') {
    return fail(`${form}, got ${shown(v)}`);
  }
  if (u.username !== '' || u.password !== '') return fail(`${form} without a user name or password`);
  if (u.pathname !== '/' || u.search !== '' || u.hash !== '' || /[?#]/.test(v)) {
    return fail(
      `expected only a scheme, host and optional port such as https://dbtape.example.com, got ${shown(v)} (the dashboard is served at the root of its origin: no path, query or fragment)`,
    );
  }
  return ok(u.origin);
}

/** IPv4 in IPv6 (`::ffff:10.0.0.1`), as a dual-stack socket reports IPv4 peers. */
const V4_MAPPED = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i;

/** The IPv4 address inside an IPv4-mapped IPv6 one (`::ffff:10.0.0.1` → `10.0.0.1`), else null. */
export function mappedIpv4(address: string): string | null {
  return V4_MAPPED.exec(address)?.[1] ?? null;
}

/**
 * One `http.trusted_proxies` entry: an address (`127.0.0.1`, `::1`) or a CIDR range (`10.0.0.0/8`,
 * `fd00::/8`). Host names are refused: a proxy is recognised by the address it connects from.
 */
export function parseAddressRange(v: unknown): Parsed<AddressRange> {
  const problem = `expected an IP address or CIDR range such as 10.0.0.0/8 or fd00::/8, got ${shown(v)}`;
  if (typeof v !== 'string') return fail(problem);
  const m = /^([^/]+)(?:\/(\d{1,3}))?$/.exec(v.trim());
  if (!m) return fail(problem);
  let address = m[1]!;
  const version = isIP(address);
  if (version === 0 || address.includes('%')) return fail(problem);
  const bits = version === 4 ? 32 : 128;
  let prefix = m[2] === undefined ? bits : Number(m[2]);
  if (prefix > bits) return fail(`${problem} (a ${bits}-bit address has at most /${bits})`);
  const mapped = version === 6 ? mappedIpv4(address) : null;
  if (mapped && prefix >= 96) {
    // The same proxy whether it is written or reported as IPv4 or as IPv4-mapped IPv6.
    address = mapped;
    prefix -= 96;
    return ok({ family: 'ipv4', address, prefix });
  }
  return ok({ family: version === 4 ? 'ipv4' : 'ipv6', address: address.toLowerCase(), prefix });
}

const FORWARDED_HEADERS: readonly ForwardedHeader[] = ['x-forwarded-for', 'forwarded'];

/**
 * `http.forwarded_header`: `x-forwarded-for` or `forwarded` (RFC 7239), in any case, as header
 * names are (`X-Forwarded-For`, `Forwarded`).
 */
export function parseForwardedHeader(v: unknown): Parsed<ForwardedHeader> {
  const name = typeof v === 'string' ? v.trim().toLowerCase() : null;
  const known = FORWARDED_HEADERS.find((h) => h === name);
  if (known) return ok(known);
  return fail(
    `expected x-forwarded-for or forwarded (the header the trusted proxies name the client in), got ${shown(v)}`,
  );
}

const HOST_NAME = /^(?=.{1,253}$)[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]*[a-z0-9_])?)*$/;

/** One `http.allowed_hosts` entry: a host name as it appears in the Host header, without a port. */
export function parseAllowedHost(v: unknown): Parsed<string> {
  const problem = `expected a host name such as dbtape.internal (no scheme, port or path), got ${shown(v)}`;
  if (typeof v !== 'string') return fail(problem);
  const host = v.trim().toLowerCase().replace(/\.$/, '');
  if (!HOST_NAME.test(host)) return fail(problem);
  return ok(host);
}
