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

/**
 * One session in full (`show --json`'s `session`, the API's `GET /api/sessions/:id`): the list's
 * fields plus the rest of what SPEC.md says a recording holds about its session.
 */
export interface SessionDetailJson extends SessionJson {
  roles: readonly string[];
  client_port: number;
  client_tls: string | null;
  upstream_database: string;
  upstream_user: string;
  end_reason: string | null;
  last_seq: number;
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
  error?: { code: string; message: string; errno?: number; severity?: string };
  /** notice text; for `end`, the end reason. Not in SPEC.md's list yet ("more kinds may be added"). */
  message?: string;
  // Fields beyond SPEC.md's list, so that no recorded fact is lost in JSON output:
  via?: string;
  statement?: string;
  columns?: readonly { name: string; type: string }[];
  row_data?: readonly (readonly (string | null)[])[];
  truncated?: boolean;
  /** `result` of a portal's later Execute: the rows it fetched (`rows` is then the statement's so far). */
  fetched?: number;
  warnings?: number;
  state?: string;
  direction?: string;
  bytes?: number;
  severity?: string;
  code?: string;
  channel?: string;
  payload?: string;
  /** `client`: the application name the client gave itself after login. */
  application?: string;
  command?: string;
  detail?: string;
  lost?: number;
  reason?: string;
  /** `auth`: why the login did not become a session (credentials, target, upstream, client). */
  failure?: string;
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

export function sessionDetailToJson(s: SessionSummary): SessionDetailJson {
  return {
    ...sessionToJson(s),
    roles: s.roles,
    client_port: s.clientPort,
    client_tls: s.clientTls,
    upstream_database: s.upstreamDatabase,
    upstream_user: s.upstreamUser,
    end_reason: s.endReason,
    last_seq: s.lastSeq,
  };
}

export function eventToJson(e: SessionEvent): EventJson {
  const out: EventJson = { seq: e.seq, at: isoFromUs(e.atUs), offset_ms: e.offsetUs / 1000, kind: e.kind };
  switch (e.kind) {
    case 'query':
      out.sql = e.sql;
      if (e.params !== undefined) out.params = e.params;
      out.via = e.via;
      if (e.statement !== undefined) out.statement = e.statement;
      break;
    case 'denied':
      out.sql = e.sql;
      out.error = { code: e.rule, message: e.message };
      break;
    case 'result':
      out.tag = e.tag;
      out.rows = e.rows;
      out.duration_us = e.durationUs;
      if (e.columns !== undefined) out.columns = e.columns;
      if (e.rowData !== undefined) out.row_data = e.rowData;
      if (e.truncated !== undefined) out.truncated = e.truncated;
      if (e.fetched !== undefined) out.fetched = e.fetched;
      if (e.warnings !== undefined) out.warnings = e.warnings;
      break;
    case 'error':
      out.error = { code: e.code, message: e.message };
      if (e.errno !== undefined) out.error.errno = e.errno;
      if (e.severity !== undefined) out.error.severity = e.severity;
      if (e.durationUs !== undefined) out.duration_us = e.durationUs;
      break;
    case 'tx':
      out.state = e.state;
      break;
    case 'copy':
      out.direction = e.direction;
      out.bytes = e.bytes;
      out.rows = e.rows;
      break;
    case 'notice':
      out.message = e.message;
      out.severity = e.severity;
      out.code = e.code;
      break;
    case 'notification':
      out.channel = e.channel;
      out.payload = e.payload;
      break;
    case 'client':
      out.application = e.application;
      break;
    case 'command':
      out.command = e.command;
      if (e.detail !== undefined) out.detail = e.detail;
      break;
    case 'auth':
      out.failure = e.failure;
      out.error = { code: e.code, message: e.message };
      if (e.errno !== undefined) out.error.errno = e.errno;
      break;
    case 'gap':
      out.lost = e.lost;
      break;
    case 'end':
      out.message = e.reason;
      out.reason = e.reason;
      if (e.detail !== undefined) out.detail = e.detail;
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
