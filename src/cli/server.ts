import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Config } from '../config/types.js';
import type { Logger } from '../model/logger.js';
import { nullRecorderFactory, type RecorderFactory } from '../model/recorder.js';
import { PgListener } from '../proxy/postgres/listener.js';
import { SessionRegistry } from '../proxy/session-registry.js';

/**
 * Wires the layers into one running process: listeners, recording, and (later) the
 * dashboard. `dbtape serve` and `dbtape demo` both start through here.
 */

export interface RunningServer {
  readonly registry: SessionRegistry;
  readonly addresses: Record<string, string>;
  close(): Promise<void>;
}

export interface ServerOptions {
  readonly recorders?: RecorderFactory;
}

export async function startServer(
  config: Config,
  log: Logger,
  opts: ServerOptions = {},
): Promise<RunningServer> {
  const registry = new SessionRegistry();
  const recorders = opts.recorders ?? nullRecorderFactory;
  const secureContext = loadTls(config);
  const addresses: Record<string, string> = {};
  const closers: (() => Promise<void>)[] = [];

  if (config.listen.postgres) {
    const pg = new PgListener({ config, secureContext, recorders, registry, log });
    await pg.listen(config.listen.postgres.host, config.listen.postgres.port);
    addresses.postgres = pg.address;
    log.info({ protocol: 'postgres', address: pg.address, tls: secureContext !== null }, 'listening');
    closers.push(() => new Promise((r) => pg.server.close(() => r())));
  }
  if (config.listen.mysql) {
    log.warn(
      { address: `${config.listen.mysql.host}:${config.listen.mysql.port}` },
      'the MySQL listener is not available yet; ignoring listen.mysql',
    );
  }
  if (config.listen.http) {
    log.warn({}, 'the dashboard is not available yet; ignoring listen.http');
  }

  return {
    registry,
    addresses,
    async close() {
      const closing = closers.map((c) => c());
      for (const s of registry.all()) s.kill('the proxy is shutting down');
      await Promise.all(closing);
    },
  };
}

function loadTls(config: Config): SecureContext | null {
  const { certFile, keyFile } = config.tls;
  if (!certFile || !keyFile) return null;
  return createSecureContext({ cert: readFileSync(certFile), key: readFileSync(keyFile) });
}
