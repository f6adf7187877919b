import type { SessionMeta } from '../../src/model/session.js';

/** Session metadata for store and recorder tests that write sessions without a proxy. */
export function sessionMeta(id: string, over: Partial<SessionMeta> = {}): SessionMeta {
  return {
    id,
    protocol: 'postgres',
    user: 'alice',
    roles: ['analyst'],
    clientAddr: '127.0.0.1',
    clientPort: 50000,
    application: 'psql',
    clientTls: 'TLSv1.3',
    target: 'app',
    upstreamDatabase: 'appdb',
    upstreamUser: 'app_rw',
    startedAtUs: 1_700_000_000_000_000,
    ...over,
  };
}
