/** Row shapes of the SQLite store shared by its reads, its writes and its integrity source. */
import type { Protocol, SessionMeta } from '../../model/session.js';

/** The sessions columns that hold SessionMeta, in SessionMeta's order. */
export const SESSION_META_COLUMNS = `id, protocol, user_name, roles, client_addr, client_port, application, client_tls,
  target, upstream_database, upstream_user, started_at_us`;

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
