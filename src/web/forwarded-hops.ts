/**
 * The hops a chain of reverse proxies reports, read from the one header `http.forwarded_header`
 * names: X-Forwarded-For (`203.0.113.7, 10.0.0.2`) or RFC 7239 Forwarded
 * (`for=203.0.113.7;proto=https, for="[2001:db8::1]:4711"`). Either way a list, left to right, of
 * the address each proxy was reached from, or null where an entry is not an address; which of them
 * to believe is client-address.ts's walk.
 */
import { normalizeAddress } from './ip-address.js';

export function xForwardedForHops(value: string): (string | null)[] {
  return value.split(',').map(hopAddress);
}

/**
 * Elements are split at every comma and parameters at every semicolon, inside quotes too. No value
 * a proxy writes holds either (addresses, host names, schemes), while a split that honoured quotes
 * could be steered by the client: its own header ending in an unclosed quote would swallow the
 * elements the proxies append after it, which are the only ones that can be believed. A value that
 * did hold one falls apart into pieces that are not addresses, and the walk stops there.
 */
export function forwardedHops(value: string): (string | null)[] {
  return value.split(',').map(elementFor);
}

/** The address in one element's `for` parameter; null without one, or when it is not an address. */
function elementFor(element: string): string | null {
  let node: string | null = null;
  for (const pair of element.split(';')) {
    if (pair.trim() === '') continue;
    const eq = pair.indexOf('=');
    if (eq < 0) return null;
    if (pair.slice(0, eq).trim().toLowerCase() !== 'for') continue;
    // RFC 7239 section 4: a parameter occurs at most once per element; two are not one proxy's word.
    if (node !== null) return null;
    node = pair.slice(eq + 1).trim();
  }
  const text = node === null ? null : unquoted(node);
  return text === null ? null : nodeAddress(text);
}

/** A token as it is, or a quoted-string without its quotes and backslash escapes (RFC 9110 5.6.4). */
function unquoted(value: string): string | null {
  if (!value.startsWith('"')) return value.includes('"') ? null : value;
  const m = /^"((?:[^"\\]|\\.)*)"$/.exec(value);
  return m ? m[1]!.replace(/\\(.)/g, '$1') : null;
}

/**
 * A `for` node (RFC 7239 section 6): `192.0.2.60`, `192.0.2.60:4711`, `[2001:db8::1]`,
 * `[2001:db8::1]:4711`, with an obfuscated port (`:_p1`) too. `unknown` and obfuscated names
 * (`_hidden`) are not addresses: the proxy hides who it was reached from, so no one left of it can
 * be placed. A bare IPv6 address, which the RFC asks to bracket, is taken as some proxies write it.
 */
function nodeAddress(node: string): string | null {
  return hopAddress(node.replace(/([\d\]]):_[\w.-]+$/, '$1'));
}

/** One address with an optional port: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or `[2001:db8::1]:443`. */
function hopAddress(entry: string): string | null {
  const e = entry.trim();
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(e);
  if (bracketed) return normalizeAddress(bracketed[1]!);
  const v4WithPort = /^(\d+\.\d+\.\d+\.\d+):\d+$/.exec(e);
  return normalizeAddress(v4WithPort ? v4WithPort[1]! : e);
}
