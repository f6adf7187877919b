/**
 * The stable `--json` / HTTP API shapes of shared/SPEC.md, from store types. Times are
 * ISO-8601 UTC strings with microseconds, e.g. 2025-01-31T12:00:00.123456Z.
 */
import type { SessionEvent } from '../model/session.js';
import type { SearchHit, SessionSummary } from './session-store.js';

export interface SessionJson {
  id: string;
  user: string;
  target: string;
  protocol: string;
  client_addr: string;
  application: string | null;
  started_at: string;
  ended_at: string | null;
  statements: number;
  errors: number;
  status: 'active' | 'ended';
}

export interface EventJson {
  seq: number;
  at: string;
  offset_ms: number;
  kind: string;
  sql?: string;
  params?: readonly (string | null)[];
  rows?: number | null;
  duration_us?: number;
  tag?: string;
  error?: { code: string; message: string };
  /** notice text; for `end`, the end reason. Not in SPEC.md's list yet ("more kinds may be added"). */
  message?: string;
}

export interface SearchHitJson {
  session_id: string;
  seq: number;
  at: string;
  user: string;
  target: string;
  sql: string;
  params?: readonly (string | null)[];
  snippet: string;
}

/** Microseconds since the epoch to ISO-8601 with six fractional digits. */
export function isoFromUs(us: number): string {
  const ms = Math.floor(us / 1000);
  const iso = new Date(ms).toISOString(); // ...T12:00:00.123Z
  const micros = String(Math.floor(us - ms * 1000)).padStart(3, '0');
  return `${iso.slice(0, -1)}${micros}Z`;
}

export function sessionToJson(s: SessionSummary): SessionJson {
  return {
    id: s.id,
    user: s.user,
    target: s.target,
    protocol: s.protocol,
    client_addr: s.clientAddr,
    application: s.application,
    started_at: isoFromUs(s.startedAtUs),
    ended_at: s.endedAtUs === null ? null : isoFromUs(s.endedAtUs),
    statements: s.statements,
    errors: s.errors,
    status: s.status,
  };
}

export function eventToJson(e: SessionEvent): EventJson {
  const out: EventJson = { seq: e.seq, at: isoFromUs(e.atUs), offset_ms: e.offsetUs / 1000, kind: e.kind };
  switch (e.kind) {
    case 'query':
      out.sql = e.sql;
      if (e.params !== undefined) out.params = e.params;
      break;
    case 'denied':
      out.sql = e.sql;
      out.error = { code: e.rule, message: e.message };
      break;
    case 'result':
      out.tag = e.tag;
      out.rows = e.rows;
      out.duration_us = e.durationUs;
      break;
    case 'error':
      out.error = { code: e.code, message: e.message };
      if (e.durationUs !== undefined) out.duration_us = e.durationUs;
      break;
    case 'copy':
      out.rows = e.rows;
      break;
    case 'notice':
      out.message = e.message;
      break;
    case 'end':
      out.message = e.reason;
      break;
    default:
      break;
  }
  return out;
}

export function searchHitToJson(h: SearchHit): SearchHitJson {
  return {
    session_id: h.sessionId,
    seq: h.seq,
    at: isoFromUs(h.atUs),
    user: h.user,
    target: h.target,
    sql: h.sql,
    ...(h.params !== undefined ? { params: h.params } : {}),
    snippet: h.snippet,
  };
}
