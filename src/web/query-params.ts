/**
 * Query parameters of the API, named as the CLI's flags: user, target, protocol, since, until,
 * active, errors, limit, cursor. Times are spans back from now (30s, 15m, 2h, 7d, 1w) or ISO-8601.
 */
import type { Protocol, SessionId } from '../model/session.js';
import type { SearchFilter, SessionCursor, SessionFilter, SessionSummary } from '../store/session-store.js';
import { badParam } from './http-errors.js';

type Query = Record<string, string | undefined>;

const SPAN_US: Record<string, number> = {
  ms: 1e3,
  s: 1e6,
  m: 60e6,
  h: 3600e6,
  d: 86_400e6,
  w: 604_800e6,
};

/** A time parameter in microseconds since the epoch. */
export function timeParam(q: Query, name: string, nowUs: number): number | undefined {
  const v = q[name];
  if (v === undefined || v === '') return undefined;
  const span = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$/i.exec(v);
  if (span) return nowUs - Math.round(Number(span[1]) * SPAN_US[span[2]!.toLowerCase()]!);
  if (/^\d{4}-\d{2}-\d{2}/.test(v)) {
    const ms = Date.parse(v);
    if (Number.isFinite(ms)) return ms * 1000;
  }
  throw badParam(name, 'a span such as 30s, 15m, 2h or 7d, or an ISO time such as 2025-01-31T12:00:00Z');
}

/** `?name` alone means true, as the CLI's flag of the same name does (SPEC.md: "query params as the CLI flags"). */
export function boolParam(q: Query, name: string): boolean | undefined {
  const v = q[name];
  if (v === undefined) return undefined;
  if (v === '') return true;
  if (/^(1|true|yes|on)$/i.test(v)) return true;
  if (/^(0|false|no|off)$/i.test(v)) return false;
  throw badParam(name, 'true or false');
}

export function intParam(q: Query, name: string, min: number, max: number): number | undefined {
  const v = q[name];
  if (v === undefined || v === '') return undefined;
  const n = Number(v);
  if (!/^\d+$/.test(v) || n < min || n > max) throw badParam(name, `a whole number from ${min} to ${max}`);
  return n;
}

export function protocolParam(q: Query): Protocol | undefined {
  const v = q.protocol;
  if (v === undefined || v === '') return undefined;
  if (v === 'postgres' || v === 'mysql') return v;
  throw badParam('protocol', 'postgres or mysql');
}

function textParam(q: Query, name: string): string | undefined {
  const v = q[name];
  return v === undefined || v === '' ? undefined : v;
}

export const DEFAULT_PAGE = 50;
export const MAX_PAGE = 1000;

export function sessionFilter(q: Query, nowUs: number): SessionFilter {
  return {
    user: textParam(q, 'user'),
    target: textParam(q, 'target'),
    protocol: protocolParam(q),
    sinceUs: timeParam(q, 'since', nowUs),
    untilUs: timeParam(q, 'until', nowUs),
    active: boolParam(q, 'active'),
    hasErrors: boolParam(q, 'errors') || undefined,
    limit: intParam(q, 'limit', 1, MAX_PAGE) ?? DEFAULT_PAGE,
    before: cursorParam(q),
  };
}

export function searchFilter(q: Query, nowUs: number): SearchFilter {
  return {
    user: textParam(q, 'user'),
    target: textParam(q, 'target'),
    protocol: protocolParam(q),
    sinceUs: timeParam(q, 'since', nowUs),
    untilUs: timeParam(q, 'until', nowUs),
    errors: boolParam(q, 'errors') || undefined,
    sessionId: textParam(q, 'session'),
    limit: intParam(q, 'limit', 1, 1000) ?? 50,
  };
}

/** Opaque to clients: base64url of "startedAtUs:id" of the last row of the previous page. */
export function encodeCursor(s: Pick<SessionSummary, 'startedAtUs' | 'id'>): string {
  return Buffer.from(`${s.startedAtUs}:${s.id}`, 'utf8').toString('base64url');
}

function cursorParam(q: Query): SessionCursor | undefined {
  const v = q.cursor;
  if (v === undefined || v === '') return undefined;
  const m = /^(\d{1,17}):([\w-]{1,64})$/.exec(Buffer.from(v, 'base64url').toString('utf8'));
  if (!m) throw badParam('cursor', "the value of a previous answer's X-Next-Cursor header");
  return { startedAtUs: Number(m[1]), id: m[2] as SessionId };
}
