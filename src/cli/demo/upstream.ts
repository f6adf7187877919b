import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import type { Logger } from '../../model/logger.js';
import { openDemoDatabase } from './seed-cache.js';
import { TurnGate } from './turn-gate.js';

/**
 * The demo's database: PGlite (PostgreSQL compiled to WebAssembly, in this process, in memory) with the
 * sample schema (seed-cache.ts), served over TCP on loopback by pglite-socket, behind the turn gate that lets several
 * dbtape sessions share its single backend session. Nothing here needs a PostgreSQL installation.
 *
 *   dbtape target ──▶ TurnGate (127.0.0.1:ephemeral) ──▶ pglite-socket (127.0.0.1:ephemeral) ──▶ PGlite
 */

export interface DemoUpstream {
  /** Where dbtape's target points: the turn gate. */
  readonly host: string;
  readonly port: number;
  /** PGlite's `select version()`, for the banner. */
  readonly version: string;
  /** The one database and user PGlite has; it accepts any names at startup and uses these. */
  readonly database: string;
  readonly user: string;
  /** True when the database came from the seed saved by an earlier run. */
  readonly fromSeed: boolean;
  /** Save the database for faster starts next time (a no-op when it came from the seed). */
  saveSeed(): Promise<void>;
  close(): Promise<void>;
}

export interface DemoUpstreamOptions {
  /** The demo folder, where the seed is kept. */
  readonly dir: string;
  readonly log: Logger;
  /** Connections pglite-socket accepts at once (one per dbtape session to the demo target). */
  readonly maxConnections: number;
}

const LOOPBACK = '127.0.0.1';

export async function startDemoUpstream(opts: DemoUpstreamOptions): Promise<DemoUpstream> {
  const closers: (() => Promise<void>)[] = [];
  let closing: Promise<void> | null = null;
  const close = (): Promise<void> => {
    closing ??= (async () => {
      for (const c of closers.reverse()) await c().catch(() => {});
    })();
    return closing;
  };
  try {
    const { db, fromSeed, saveSeed } = await openDemoDatabase(opts.dir, opts.log);
    closers.push(() => db.close());
    const version = (await db.query<{ version: string }>('select version()')).rows[0].version;

    const socketServer = new PGLiteSocketServer({
      db,
      host: LOOPBACK,
      port: 0,
      maxConnections: opts.maxConnections,
    });
    const socketPort = listeningPort(socketServer);
    await socketServer.start();
    closers.push(() => socketServer.stop());

    const gate = new TurnGate({ upstreamHost: LOOPBACK, upstreamPort: await socketPort, log: opts.log });
    const address = await gate.listen(LOOPBACK, 0);
    closers.push(() => gate.close());

    return {
      host: LOOPBACK,
      port: address.port,
      version,
      database: 'postgres',
      user: 'postgres',
      fromSeed,
      saveSeed,
      close,
    };
  } catch (err) {
    await close();
    throw err;
  }
}

/** pglite-socket reports the port it got for port 0 only in its 'listening' event. */
function listeningPort(server: PGLiteSocketServer): Promise<number> {
  return new Promise((resolve) => {
    server.addEventListener('listening', (e) => resolve((e as CustomEvent<{ port: number }>).detail.port), {
      once: true,
    });
  });
}
