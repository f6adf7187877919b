import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { findBinary } from '../test/support/binaries.js';
import { removeAtExit } from '../test/support/cleanup.js';
import { run } from '../test/support/exec.js';
import { chownTo, isRoot, serverUser } from '../test/support/os-user.js';
import { freePort } from '../test/support/ports.js';
import { ServerProcess } from '../test/support/server-process.js';

/**
 * Path of a program, installing its Debian package with apt-get when it is missing and we are root.
 * (Debian's pgbouncer package does not start its daemon where policy-rc.d forbids it, as in containers.)
 */
export async function ensureInstalled(
  name: string,
  debPackage: string,
  extraDirs: string[] = [],
): Promise<string> {
  const found = findBinary(name, extraDirs);
  if (found) return found;
  if (!isRoot()) {
    throw new Error(`'${name}' is missing: install it with: sudo apt-get install -y ${debPackage}`);
  }
  console.log(`bench: installing ${debPackage} (for ${name})`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  await run('apt-get', ['update', '-qq'], { env, timeoutMs: 600_000 });
  await run('apt-get', ['install', '-y', '-qq', debPackage], { env, timeoutMs: 600_000 });
  const installed = findBinary(name, extraDirs);
  if (!installed) throw new Error(`'${name}' is still missing after apt-get install ${debPackage}`);
  return installed;
}

export interface Pgbouncer {
  readonly port: number;
  readonly process: ServerProcess;
  stop(): Promise<void>;
}

export interface PgbouncerOptions {
  upstreamHost: string;
  upstreamPort: number;
  database: string;
  /** The only user clients use; with auth_type=trust it must still be listed in auth_file. */
  user: string;
  poolSize: number;
  maxClientConn: number;
}

/** pgbouncer in session pooling mode, trust auth, its own ini in a temp folder, on a free port. */
export async function startPgbouncer(bin: string, opts: PgbouncerOptions): Promise<Pgbouncer> {
  // pgbouncer refuses to run as root; the postgres account comes with the server packages.
  const user = serverUser('postgres', 'postgresql');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-bench-pgbouncer-'));
  removeAtExit(dir);
  const port = await freePort();
  const ini = path.join(dir, 'pgbouncer.ini');
  writeFileSync(path.join(dir, 'userlist.txt'), `"${opts.user}" ""\n`);
  writeFileSync(
    ini,
    [
      '[databases]',
      `${opts.database} = host=${opts.upstreamHost} port=${opts.upstreamPort} dbname=${opts.database}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = trust',
      `auth_file = ${path.join(dir, 'userlist.txt')}`,
      'pool_mode = session',
      `max_client_conn = ${opts.maxClientConn}`,
      `default_pool_size = ${opts.poolSize}`,
      'ignore_startup_parameters = extra_float_digits',
      'log_connections = 0',
      'log_disconnections = 0',
      '',
    ].join('\n'),
  );
  chownTo(dir, user);
  const proc = new ServerProcess(bin, [ini], { cwd: dir, user, maxLines: 500 });
  await proc.waitForLine(/process up/, 20_000, 'pgbouncer to start');
  return {
    port,
    process: proc,
    async stop() {
      await proc.stop('SIGINT', 5000);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

export async function pgbouncerVersion(bin: string): Promise<string> {
  return (await run(bin, ['--version'])).stdout.split('\n')[0]?.trim() ?? 'unknown';
}
