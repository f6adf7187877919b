import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Config } from '../config/types.js';
import type { Logger } from '../model/logger.js';
import { nullRecorderFactory, type RecorderFactory } from '../model/recorder.js';
import { PgListener } from '../proxy/postgres/listener.js';
import { SessionRegistry } from '../proxy/session-registry.js';
import { Recorder } from '../recording/recorder.js';
import { openStore } from '../store/open-store.js';
import type { SessionStore } from '../store/session-store.js';

/**
 * Wires the layers into one running process: listeners, recording, and (later) the
 * dashboard. `dbtape serve` and `dbtape demo` both start through here.
 */

export interface RunningServer {
  readonly registry: SessionRegistry;
  /** The recorder in use, when dbtape opened the config's store itself. */
  readonly recorder: Recorder | null;
  readonly addresses: Record<string, string>;
  close(): Promise<void>;
}

export interface ServerOptions {
  /** Record through this factory instead of opening the config's store (tests, benchmarks). */
  readonly recorders?: RecorderFactory;
}

export async function startServer(
  config: Config,
  log: Logger,
  opts: ServerOptions = {},
): Promise<RunningServer> {
  const registry = new SessionRegistry();
  const recording = opts.recorders || !config.store.record ? null : await openRecording(config, log);
  const recorders = opts.recorders ?? recording?.recorder ?? nullRecorderFactory;
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
    recorder: recording?.recorder ?? null,
    addresses,
    async close() {
      const closing = closers.map((c) => c());
      for (const s of registry.all()) s.kill('the proxy is shutting down');
      await Promise.all(closing);
      if (recording) {
        await recording.recorder.shutdown();
        await recording.store.close();
      }
    },
  };
}

/**
 * Open the config's store, close what a crash left open, and start the recorder.
 * Sessions found open belonged to a process that died without ending them.
 */
async function openRecording(
  config: Config,
  log: Logger,
): Promise<{ store: SessionStore; recorder: Recorder }> {
  const { store: sc } = config;
  const store = openStore(sc.url, { synchronous: sc.durability === 'strict' ? 'full' : 'normal' });
  const closed = await store.closeOpenSessions('proxy_crash', Date.now() * 1000);
  if (closed > 0)
    log.warn({ sessions: closed }, 'closed sessions left open by a previous crash (end reason proxy_crash)');
  const recorder = new Recorder({
    store,
    durability: sc.durability,
    capture: sc.captureResults,
    maxRows: sc.maxRows,
    logger: log,
  });
  log.info({ store: redactUrl(sc.url), durability: sc.durability, capture: sc.captureResults }, 'recording');
  return { store, recorder };
}

/** Store URLs may carry a password (postgres://user:pw@host); never log it. */
function redactUrl(url: string): string {
  return url.replace(/\/\/([^:/@]+):[^@]*@/, '//$1:********@');
}

function loadTls(config: Config): SecureContext | null {
  const { certFile, keyFile } = config.tls;
  if (!certFile || !keyFile) return null;
  return createSecureContext({ cert: readFileSync(certFile), key: readFileSync(keyFile) });
}
