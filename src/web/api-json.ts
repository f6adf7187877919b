/**
 * The API's JSON: the SPEC shapes of store/json.ts (events go out exactly as `eventToJson` makes
 * them), plus the connection details the player's header needs in a session's detail. Only
 * additions: a client written against SPEC.md reads these unchanged.
 */
import { type SessionJson, sessionToJson } from '../store/json.js';
import type { SessionSummary } from '../store/session-store.js';

export interface SessionDetailJson extends SessionJson {
  roles: readonly string[];
  client_port: number;
  client_tls: string | null;
  upstream_database: string;
  upstream_user: string;
  end_reason: string | null;
  last_seq: number;
  /** Live in this process: it can be followed and ended here. */
  live: boolean;
}

export function sessionDetailJson(s: SessionSummary, live: boolean): SessionDetailJson {
  return {
    ...sessionToJson(s),
    roles: s.roles,
    client_port: s.clientPort,
    client_tls: s.clientTls,
    upstream_database: s.upstreamDatabase,
    upstream_user: s.upstreamUser,
    end_reason: s.endReason,
    last_seq: s.lastSeq,
    live,
  };
}
