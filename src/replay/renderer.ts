/** The renderer for a session's protocol: psql-like for PostgreSQL, mysql-like for MySQL/MariaDB. */
import type { SessionSummary } from '../store/session-store.js';
import { MysqlRenderer } from './render-mysql.js';
import { PostgresRenderer } from './render-postgres.js';
import type { RenderOptions, SessionRenderer } from './session-renderer.js';

export type { RenderOptions, SessionRenderer };

export function createRenderer(session: SessionSummary, options: RenderOptions = {}): SessionRenderer {
  return session.protocol === 'mysql'
    ? new MysqlRenderer(session, options)
    : new PostgresRenderer(session, options);
}
