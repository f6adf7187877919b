/** The API's JSON, as the server sends it (src/store/json.ts and src/web/api-json.ts). */

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

export interface SessionDetailJson extends SessionJson {
  roles: string[];
  client_port: number;
  client_tls: string | null;
  upstream_database: string;
  upstream_user: string;
  end_reason: string | null;
  last_seq: number;
  live: boolean;
}

export interface EventJson {
  seq: number;
  at: string;
  offset_ms: number;
  kind: string;
  sql?: string;
  params?: (string | null)[];
  rows?: number | null;
  duration_us?: number;
  tag?: string;
  error?: { code: string; message: string; errno?: number; severity?: string };
  message?: string;
  via?: string;
  statement?: string;
  columns?: { name: string; type: string }[];
  row_data?: (string | null)[][];
  truncated?: boolean;
  warnings?: number;
  state?: string;
  direction?: 'in' | 'out';
  bytes?: number;
  /** notice */
  severity?: string;
  code?: string;
  command?: string;
  detail?: string;
  lost?: number;
  channel?: string;
  payload?: string;
  application?: string;
  /** end */
  reason?: string;
  /** auth: why a login did not become a session */
  failure?: string;
}

export interface SearchHitJson {
  session_id: string;
  seq: number;
  at: string;
  user: string;
  target: string;
  sql: string;
  params?: (string | null)[];
  snippet: string;
  kind: 'query' | 'denied';
  failed: boolean | null;
}

export interface Me {
  user: string;
  roles: string[];
  via: 'session' | 'token';
  csrf?: string;
  can: { see_all: boolean; kill: boolean; manage_tokens: boolean };
}

export interface MinuteJson {
  at: string;
  statements: number;
  errors: number;
}

export type LiveMessage =
  | { type: 'start'; session: SessionJson }
  | { type: 'update'; id: string; statements: number; errors: number }
  | { type: 'end'; id: string; ended_at: string; end_reason: string; statements: number; errors: number };
