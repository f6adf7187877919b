import { mkdirSync, writeFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { pino } from 'pino';
import type { Config } from '../../config/types.js';
import type { Logger } from '../../model/logger.js';
import { CliError } from '../output.js';
import { type RunningServer, startServer } from '../server.js';
import { banner } from './banner.js';
import { writeDemoCert } from './cert.js';
import {
  ANALYST_USER,
  AUDITOR_USER,
  buildDemoConfig,
  DEMO_HOST,
  DEMO_TARGET,
  DEMO_USER,
  demoPorts,
  newCredentials,
} from './config.js';
import { runSampleSession, type SampleSessionResult } from './sample-session.js';
import { demoSigningKey } from './signing-key.js';
import { startDemoUpstream } from './upstream.js';

/**
 * `dbtape demo`: the embedded database, the proxy in front of it with a fresh certificate and
 * identity, one sample session, and the instructions; then it runs until SIGINT or SIGTERM.
 */

export interface DemoOptions {
  /** The demo folder (store, certificate), relative to the working directory. */
  readonly dir: string;
  readonly portsFrom: number | null;
  readonly logLevel: Config['log']['level'];
  /** Skip the scripted sample session. */
  readonly sample: boolean;
}

type Closer = () => Promise<void>;

/** Runs until SIGINT or SIGTERM, then exits the process with status 0. */
export async function runDemo(opts: DemoOptions): Promise<void> {
  const closers: Closer[] = [];
  const stopped = stopOnSignal(closers);
  try {
    await start(opts, closers);
  } catch (err) {
    await closeAll(closers);
    throw err;
  }
  await stopped;
}

async function start(opts: DemoOptions, closers: Closer[]): Promise<void> {
  const started = performance.now();
  // JSON log lines go to stderr so that stdout holds only the instructions.
  const log: Logger = pino(
    { level: opts.logLevel, base: undefined },
    pino.destination({ dest: 2, sync: true }),
  );

  const dir = resolve(opts.dir);
  prepareFolder(dir);
  const cert = writeDemoCert(join(dir, 'tls'));
  const signing = demoSigningKey(join(dir, 'keys'));
  const ports = demoPorts(opts.portsFrom);
  const credentials = newCredentials();

  const upstream = await startDemoUpstream({ dir, log, maxConnections: 1000 });
  closers.push(() => upstream.close());
  log.info({ ms: elapsed(started), fromSeed: upstream.fromSeed }, 'embedded database ready');

  const config = buildDemoConfig({
    dir,
    ports,
    certFile: cert.certFile,
    keyFile: cert.keyFile,
    signingKeyFile: signing.keyFile,
    upstream,
    credentials,
    logLevel: opts.logLevel,
  });
  // startServer opens the store named in the config (sqlite:<dir>/dbtape.db) and records into it.
  const server = await listen(config, log, dir);
  closers.push(() => server.close());

  log.info({ ms: elapsed(started) }, 'proxy listening');
  let sample: SampleSessionResult | null = null;
  if (opts.sample) {
    sample = await runSampleSession({
      host: DEMO_HOST,
      port: ports.postgres,
      user: DEMO_USER,
      password: credentials.demoPassword,
      database: DEMO_TARGET,
      ca: cert.certPem,
      findSessionId: (app) => server.registry.all().find((s) => s.meta.application === app)?.meta.id ?? null,
    });
    log.info({ ms: elapsed(started), session: sample.sessionId }, 'sample session done');
    if (sample.sessionId) await checkpointSample(server, sample.sessionId);
  }

  process.stdout.write(
    banner({
      pgAddress: { host: DEMO_HOST, port: ports.postgres },
      dashboardUrl: server.addresses.http ? `http://${server.addresses.http}` : null,
      configuredDashboard: `${DEMO_HOST}:${ports.http}`,
      target: DEMO_TARGET,
      demoUser: DEMO_USER,
      demoPassword: credentials.demoPassword,
      analystUser: ANALYST_USER,
      analystPassword: credentials.analystPassword,
      auditorUser: AUDITOR_USER,
      auditorPassword: credentials.auditorPassword,
      dir,
      certFile: cert.certFile,
      publicKeyFile: signing.publicFile,
      storeFile: config.store.url.slice('sqlite:'.length),
      recording: server.recorder !== null,
      sample,
      upstreamVersion: upstream.version,
      startupMs: performance.now() - started,
      cwd: process.cwd(),
    }),
  );
  // After "ready", so a first run is not slowed by it; later runs start from the saved database.
  void upstream.saveSeed();
}

/**
 * Seals the sample session into a signed checkpoint at once, rather than at the first timer a minute
 * later, so `dbtape verify --all` (printed in the banner) shows the whole chain from the start.
 */
async function checkpointSample(server: RunningServer, sessionId: string): Promise<void> {
  const recorder = server.recorder;
  if (!recorder) return;
  // The proxy sees the sample client's goodbye a moment after the client is done.
  const deadline = Date.now() + 2000;
  while (server.registry.all().some((s) => s.meta.id === sessionId) && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
  await recorder.flush();
  await recorder.checkpoint();
}

function prepareFolder(dir: string): void {
  try {
    mkdirSync(dir, { recursive: true });
    // The folder holds a private key and recordings: keep it out of the user's commits.
    writeFileSync(join(dir, '.gitignore'), '*\n');
  } catch (err) {
    throw new CliError(
      `cannot use ${dir} as the demo folder (${(err as NodeJS.ErrnoException).code}); choose another with --dir`,
    );
  }
}

async function listen(config: Config, log: Logger, dir: string): Promise<RunningServer> {
  try {
    return await startServer(config, log);
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { port?: number };
    if (e.code === 'DBTAPE_STORE_LOCKED') {
      // The serve message names store.url, which the demo has none of.
      throw new CliError(
        `another dbtape demo is already running with the folder ${dir}; stop it, or give this one another folder with --dir`,
      );
    }
    if (e.code === 'EADDRINUSE' || e.code === 'EACCES') {
      const what = e.code === 'EADDRINUSE' ? 'is already in use' : 'cannot be used by this user';
      throw new CliError(
        `port ${e.port ?? ''} on ${DEMO_HOST} ${what}; move the demo's ports with --ports-from N`,
      );
    }
    throw err;
  }
}

/**
 * On SIGINT or SIGTERM (also during start-up): close what was started, newest first, and exit 0.
 * Returns a promise that never resolves before that, so the command keeps running.
 */
function stopOnSignal(closers: Closer[]): Promise<void> {
  return new Promise(() => {
    let stopping = false;
    const stop = (): void => {
      if (stopping) return;
      stopping = true;
      process.stdout.write('\nstopping dbtape demo\n');
      // A close that hangs must not keep the user waiting.
      setTimeout(() => process.exit(0), 5000).unref();
      closeAll(closers).then(() => process.exit(0));
    };
    process.on('SIGINT', stop);
    process.on('SIGTERM', stop);
  });
}

async function closeAll(closers: Closer[]): Promise<void> {
  for (const close of closers.splice(0).reverse()) await close().catch(() => {});
}

function elapsed(since: number): number {
  return Math.round(performance.now() - since);
}
