/**
 * The Host header check against DNS rebinding: a page on evil.example whose name is made to resolve
 * to 127.0.0.1 is, to the browser, same-origin with a dashboard on loopback, and so could read the
 * API (and the Origin check would pass, as Origin and Host both say evil.example). Such a page can
 * only get there under a name it controls, so the dashboard answers only to IP literals, to
 * localhost, and to the names it was told about (http.public_url's host, http.allowed_hosts).
 *
 * The check is on when the dashboard listens on loopback (what an attacker's rebinding reaches) or
 * when public_url or allowed_hosts say which names are ours; on a wildcard or outward address with
 * neither, the names it is reached by are unknown, so any Host is accepted.
 */

import { BlockList, isIP } from 'node:net';
import type { MiddlewareHandler } from 'hono';
import type { Logger } from '../model/logger.js';
import { clientIp, type WebEnv } from './env.js';
import { ApiError } from './http-errors.js';
import { LogThrottle } from './log-throttle.js';

export interface HostRuleOptions {
  /** The address the dashboard listens on (listen.http's host). */
  readonly listenHost: string;
  /** http.public_url (an origin), or null. */
  readonly publicUrl: string | null;
  /** http.allowed_hosts: lower-case names without a port. */
  readonly allowedHosts: readonly string[];
}

const LOOPBACK = new BlockList();
LOOPBACK.addSubnet('127.0.0.0', 8, 'ipv4');
LOOPBACK.addAddress('::1', 'ipv6');

export function isLoopbackAddress(host: string): boolean {
  const version = isIP(host);
  if (version === 0) return host.toLowerCase() === 'localhost';
  return LOOPBACK.check(host, version === 4 ? 'ipv4' : 'ipv6');
}

export class HostRule {
  /** False: any Host is accepted (see the file comment). */
  readonly enforced: boolean;
  /** The host names answered besides IP literals: localhost, public_url's host, allowed_hosts. */
  readonly names: ReadonlySet<string>;

  constructor(o: HostRuleOptions) {
    this.names = new Set([
      'localhost',
      ...(o.publicUrl !== null ? [new URL(o.publicUrl).hostname] : []),
      ...o.allowedHosts,
    ]);
    this.enforced = isLoopbackAddress(o.listenHost) || o.publicUrl !== null || o.allowedHosts.length > 0;
  }

  /** Whether a request with this Host header may be answered. */
  accepts(hostHeader: string | undefined): boolean {
    if (!this.enforced) return true;
    const name = hostnameOf(hostHeader ?? '');
    if (name === null) return false;
    return isIP(name) !== 0 || this.names.has(name);
  }
}

/**
 * The host part of a Host header, lower case, without port, brackets or a trailing dot:
 * `Example.COM.:8080` → `example.com`, `[::1]:8080` → `::1`. Null when it is not of that form.
 */
export function hostnameOf(hostHeader: string): string | null {
  const bracketed = /^\[([0-9A-Fa-f:.]+)\](?::\d*)?$/.exec(hostHeader);
  if (bracketed) return bracketed[1]!.toLowerCase();
  const named = /^([^:[\]\s]+)(?::\d*)?$/.exec(hostHeader);
  if (!named) return null;
  return named[1]!.toLowerCase().replace(/\.$/, '');
}

/**
 * The log of refused requests. A scanner or a rebinding page sends as many as it likes, so the
 * lines are throttled per host name (log-throttle.ts); every request is still refused.
 */
export function refusedHostLog(log: Logger, o: { windowMs?: number; maxKeys?: number } = {}): LogThrottle {
  return new LogThrottle(log, {
    msg: 'request refused: the dashboard does not answer to this Host (DNS rebinding protection)',
    keyField: 'host',
    ...o,
  });
}

/** Refuses requests whose Host the rule does not accept, before any route (/healthz and /metrics too). */
export function hostCheck(rule: HostRule, refused: LogThrottle): MiddlewareHandler<WebEnv> {
  return async (c, next) => {
    const host = c.req.header('host');
    if (rule.accepts(host)) return next();
    const shown = (host ?? '').slice(0, 100);
    refused.warn(hostnameOf(shown) ?? shown.toLowerCase(), {
      host: shown,
      ip: clientIp(c),
      method: c.req.method,
      path: c.req.path.slice(0, 200),
    });
    const err = new ApiError(
      421,
      'DBTAPE_BAD_HOST',
      `the dashboard does not answer to the host name ${JSON.stringify(shown)} (Host header), ` +
        'which protects it from DNS rebinding; if you reach it under this name, ' +
        'add the name to http.allowed_hosts (or set http.public_url) in the config',
    );
    return c.json(err.body(), err.status);
  };
}
