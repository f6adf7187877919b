/**
 * Row shapes every store shares: both dialects name the sessions columns alike, so reads,
 * writes and the integrity sources map rows to the interface's types here, once.
 */
import type { StoredSession } from '../integrity/source.js';
import type { EndReason, Protocol, SessionMeta } from '../model/session.js';
import type { SessionSummary } from './session-store.js';

/** The sessions columns that hold SessionMeta, in SessionMeta's order. */
export const SESSION_META_COLUMNS = `id, protocol, user_name, roles, client_addr, client_port, application, client_tls,
  target, upstream_database, upstream_user, started_at_us`;

/** The columns a listing reads (SessionRow). */
export const SESSION_COLUMNS = `${SESSION_META_COLUMNS}, ended_at_us, end_reason, statements, errors, events, last_seq,
  reported_application`;

export interface SessionMetaRow {
  id: string;
  protocol: string;
  user_name: string;
  roles: string;
  client_addr: string;
  client_port: number;
  application: string | null;
  client_tls: string | null;
  target: string;
  upstream_database: string;
  upstream_user: string;
  started_at_us: number;
}

export interface SessionRow extends SessionMetaRow {
  ended_at_us: number | null;
  end_reason: string | null;
  statements: number;
  errors: number;
  events: number;
  last_seq: number;
  reported_application: string | null;
}

/** A session row with its integrity columns and wrapped data key, as verify reads it. */
export interface IntegritySessionRow extends SessionRow {
  sid: number;
  head_hash: Buffer | null;
  seal: Buffer | null;
  seal_no: number | null;
  key_version: number | null;
  wrapped: Buffer | null;
  fingerprint: Buffer | null;
}

/** The SELECT behind IntegritySessionRow; callers add WHERE / ORDER BY. */
export const INTEGRITY_SESSION_SELECT = `SELECT s.sid, ${SESSION_META_COLUMNS.replace(/(\w+)/g, 's.$1')}, s.ended_at_us, s.end_reason,
  s.statements, s.errors, s.events, s.last_seq, s.reported_application, s.head_hash, s.seal, s.seal_no, k.key_version, k.wrapped, k.fingerprint
  FROM sessions s LEFT JOIN session_keys k ON k.session_sid = s.sid`;

export function metaFromRow(r: SessionMetaRow): SessionMeta {
  return {
    id: r.id,
    protocol: r.protocol as Protocol,
    user: r.user_name,
    roles: parseRoles(r.roles),
    clientAddr: r.client_addr,
    clientPort: r.client_port,
    application: r.application,
    clientTls: r.client_tls,
    target: r.target,
    upstreamDatabase: r.upstream_database,
    upstreamUser: r.upstream_user,
    startedAtUs: r.started_at_us,
  };
}

/** Roles as stored (a JSON array); a damaged value is kept as one pseudo-role so hashes still differ. */
export function parseRoles(text: string): string[] {
  try {
    const v = JSON.parse(text) as unknown;
    if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v;
  } catch {
    // fall through
  }
  return [`\u0000invalid:${text}`];
}

export function toSummary(r: SessionRow): SessionSummary {
  return {
    id: r.id,
    user: r.user_name,
    roles: parseRoles(r.roles),
    target: r.target,
    protocol: r.protocol as Protocol,
    clientAddr: r.client_addr,
    clientPort: r.client_port,
    // The name a client gave itself after login (pgjdbc, DBeaver) over its startup packet's.
    application: r.reported_application ?? r.application,
    clientTls: r.client_tls,
    upstreamDatabase: r.upstream_database,
    upstreamUser: r.upstream_user,
    startedAtUs: r.started_at_us,
    endedAtUs: r.ended_at_us,
    endReason: r.end_reason as EndReason | null,
    statements: r.statements,
    errors: r.errors,
    events: r.events,
    lastSeq: r.last_seq,
    status: r.ended_at_us === null ? 'active' : 'ended',
  };
}

export function toStoredSession(r: IntegritySessionRow): StoredSession {
  return {
    sid: r.sid,
    meta: metaFromRow(r),
    endedAtUs: r.ended_at_us,
    endReason: r.end_reason,
    statements: r.statements,
    errors: r.errors,
    events: r.events,
    lastSeq: r.last_seq,
    reportedApplication: r.reported_application,
    headHash: r.head_hash,
    seal: r.seal,
    sealNo: r.seal_no,
    dataKey:
      r.wrapped && r.key_version !== null && r.fingerprint
        ? { version: r.key_version, wrapped: r.wrapped, fingerprint: r.fingerprint }
        : null,
  };
}

/** The listing filters' limits (SessionFilter, EventQuery, SearchFilter say them). */
export function clampLimit(value: number | undefined, fallback: number, max: number): number {
  if (value === undefined || !Number.isFinite(value) || value < 1) return fallback;
  return Math.min(Math.floor(value), max);
}
