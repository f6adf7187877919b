import { readFileSync } from 'node:fs';
import { createSecureContext, type SecureContext } from 'node:tls';
import type { Config } from '../config/types.js';
import type { Logger } from '../model/logger.js';
import { nullRecorderFactory, type RecorderFactory } from '../model/recorder.js';
import { MysqlListener } from '../proxy/mysql/listener.js';
import { PgListener } from '../proxy/postgres/listener.js';
import { SessionRegistry } from '../proxy/session-registry.js';
import { describeStoreFailure } from '../recording/errors.js';
import { Recorder } from '../recording/recorder.js';
import { loadStoreKeys, lockStoreWriter } from '../store/open-store.js';
import type { SessionStore } from '../store/session-store.js';
import { type ThreadEvent, WorkerSessionStore } from '../store/worker-store.js';
import { type LiveSessionsView, type MetricsSnapshot, recordingSnapshot, startWeb } from '../web/index.js';

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
  const addresses: Record<string, string> = {};
  const closers: (() => Promise<void>)[] = [];
  const close = async (): Promise<void> => {
    const closing = closers.map((c) => c());
    for (const s of registry.all()) s.kill('the proxy is shutting down', 'proxy_shutdown');
    await Promise.all(closing);
    if (recording) await recording.close();
  };
  try {
    await startListeners(config, log, { recorders, registry, recording, addresses, closers });
  } catch (err) {
    // A listener that cannot start (its address in use) fails the start: close what did start, the
    // store's thread and its writer lock with it, or the process would stay up doing nothing,
    // holding the store, and a supervisor would never see it fail.
    await close();
    throw err;
  }
  return { registry, recorder: recording?.recorder ?? null, addresses, close };
}

interface Recording {
  readonly store: SessionStore;
  readonly recorder: Recorder;
  /** Flush the recorder, close the store, release the writer lock. */
  close(): Promise<void>;
}

interface ListenerParts {
  readonly recorders: RecorderFactory;
  readonly registry: SessionRegistry;
  readonly recording: Recording | null;
  readonly addresses: Record<string, string>;
  readonly closers: (() => Promise<void>)[];
}

async function startListeners(config: Config, log: Logger, parts: ListenerParts): Promise<void> {
  const { recorders, registry, recording, addresses, closers } = parts;
  const secureContext = loadTls(config);
  if (config.listen.postgres) {
    const pg = new PgListener({ config, secureContext, recorders, registry, log });
    closers.push(() => new Promise((r) => pg.server.close(() => r())));
    await pg.listen(config.listen.postgres.host, config.listen.postgres.port);
    addresses.postgres = pg.address;
    log.info({ protocol: 'postgres', address: pg.address, tls: secureContext !== null }, 'listening');
  }
  if (config.listen.mysql) {
    const my = new MysqlListener({ config, secureContext, recorders, registry, log });
    closers.push(() => new Promise((r) => my.server.close(() => r())));
    await my.listen(config.listen.mysql.host, config.listen.mysql.port);
    addresses.mysql = my.address;
    log.info(
      { protocol: 'mysql', address: my.address, tls: secureContext !== null, version: my.serverVersion },
      'listening',
    );
  }
  if (config.listen.http) {
    if (!recording) {
      log.warn(
        {},
        'the dashboard shows recordings and nothing is recorded here (store.record: false); ignoring listen.http',
      );
    } else {
      const rec = recording;
      const web = await startWeb({
        config,
        store: rec.store,
        bus: rec.recorder.bus,
        registry: liveView(registry),
        metrics: () => metricsSnapshot(registry, rec.recorder),
        log,
        host: config.listen.http.host,
        port: config.listen.http.port,
      });
      addresses.http = web.address;
      log.info({ protocol: 'http', address: web.address, url: web.publicUrl }, 'listening');
      closers.push(() => web.close());
    }
  }
}

/**
 * Open the config's store with its keys, close what a crash left open, sign a checkpoint over
 * that, and start the recorder. Sessions found open belonged to a process that died without
 * ending them. Both durability modes commit with synchronous=NORMAL: strict mode writes each
 * batch with `durable: true` (one O_DSYNC journal record, in the store's thread) before the
 * proxy forwards the statements it holds.
 */
async function openRecording(config: Config, log: Logger): Promise<Recording> {
  const { store: sc } = config;
  // Read here too, so a bad key file fails at start with its own message, and for the log line.
  const keys = loadStoreKeys(sc);
  // Before the store is touched: a second serve must not take the first one's live sessions for
  // a crash's leftovers (closeOpenSessions below) and end them.
  const lock = lockStoreWriter(sc.url);
  let recording: Recording;
  try {
    recording = await startRecording(config, log, keys);
  } catch (err) {
    lock?.release();
    throw storeStartError(sc.url, err);
  }
  return {
    store: recording.store,
    recorder: recording.recorder,
    async close() {
      try {
        await recording.close();
      } finally {
        lock?.release();
      }
    },
  };
}

async function startRecording(
  config: Config,
  log: Logger,
  keys: ReturnType<typeof loadStoreKeys>,
): Promise<Recording> {
  const { store: sc } = config;
  // Either store runs in its own thread: a SQLite commit on the proxy's event loop would stall
  // every session, and the PostgreSQL store's batch building is CPU the proxy's thread can spare.
  const store = await WorkerSessionStore.open(
    sc.url,
    'normal',
    { encryptionKeyFile: sc.encryptionKeyFile, signingKeyFile: sc.signingKeyFile },
    { onThread: (e) => logStoreThread(log, e) },
  );
  try {
    const closed = await store.closeOpenSessions('proxy_crash', Date.now() * 1000);
    if (closed > 0)
      log.warn(
        { sessions: closed },
        'closed sessions left open by a previous crash (end reason proxy_crash)',
      );
  } catch (err) {
    await store.close();
    throw err;
  }
  if (!keys.signer) {
    log.warn(
      {},
      'store.signing_key_file is not set: recordings are hash-chained and sealed but no signed checkpoints are written, so deleting whole sessions cannot be detected (create keys with dbtape keys generate)',
    );
  }
  const recorder = new Recorder({
    store,
    durability: sc.durability,
    capture: sc.captureResults,
    maxRows: sc.maxRows,
    logger: log,
    checkpointIntervalMs: sc.checkpointIntervalMs,
  });
  await recorder.checkpoint();
  log.info(
    {
      store: redactUrl(sc.url),
      durability: sc.durability,
      capture: sc.captureResults,
      encrypted: keys.keyring !== null,
      signed: keys.signer !== null,
    },
    'recording',
  );
  return {
    store,
    recorder,
    async close() {
      await recorder.shutdown();
      await store.close();
    },
  };
}

/**
 * What the operator reads when the store cannot be opened at start: which store, SQLite's or the
 * server's own words, and the kind of failure (disk full, permissions, I/O...). Errors of dbtape's
 * own already say so.
 */
function storeStartError(url: string, err: unknown): unknown {
  const message = err instanceof Error ? err.message : String(err);
  if (message.startsWith('dbtape:')) return err;
  const why = describeStoreFailure(err);
  return new Error(
    `dbtape: cannot open the session store ${redactUrl(url)}: ${message}${why ? ` (${why})` : ''}`,
    {
      cause: err,
    },
  );
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

/** The registry as the dashboard sees it (web/ does not import proxy/). */
function liveView(registry: SessionRegistry): LiveSessionsView {
  return {
    activeIds: () => registry.all().map((s) => s.meta.id),
    kill: (id, reason) => {
      const s = registry.get(id);
      if (!s) return false;
      s.kill(reason);
      return true;
    },
  };
}

function metricsSnapshot(registry: SessionRegistry, recorder: Recorder): MetricsSnapshot {
  return {
    sessionsActive: registry.active,
    sessionsTotal: registry.started,
    recording: recordingSnapshot(recorder.stats()),
  };
}

function logStoreThread(log: Logger, e: ThreadEvent): void {
  if (e.kind === 'lost')
    log.error(
      { err: e.error.message },
      'the session store thread stopped; opening the store again in a new one',
    );
  else if (e.kind === 'reopen_failed')
    log.error(
      { err: e.error.message, retry_in_ms: e.retryInMs },
      'could not open the session store again; retrying (sessions continue, lost events become gaps)',
    );
  else
    log.warn(
      { writes_in_flight: e.settled, committed: e.committed },
      'the session store is open again in a new thread',
    );
}
