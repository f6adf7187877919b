import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requireBinary } from './binaries.js';
import { type CertFiles, makeSelfSignedCert } from './certs.js';
import { removeAtExit } from './cleanup.js';
import { run } from './exec.js';
import { chownTo, type OsUser, serverUser } from './os-user.js';
import { freePort } from './ports.js';
import { ServerProcess } from './server-process.js';

export interface MariaDbOptions {
  /** Enable TLS with a self-signed certificate for localhost/127.0.0.1 (see `certs`). */
  tls?: boolean;
  /** Extra mariadbd command-line options, e.g. ['--max-connections=500']. */
  args?: string[];
}

export interface MariaDbServer {
  readonly host: string;
  readonly port: number;
  /** Unix socket path; root connects here too. */
  readonly socket: string;
  /** Temp folder with data/, the socket, certs/ and server.log; removed by stop(). */
  readonly dir: string;
  /** root with an empty password, from 127.0.0.1 and the socket, like the machine's server. */
  readonly user: string;
  readonly password: string;
  readonly certs: CertFiles | null;
  logTail(lines?: number): string;
  /** Runs SQL as root over the socket with the mariadb client; returns its batch (tab-separated) output. */
  sql(sql: string, database?: string): Promise<string>;
  /** Clean shutdown and removal of the temp folder. */
  stop(): Promise<void>;
}

const READY = /ready for connections/;
const START_TIMEOUT_MS = 60_000;

/** Starts a throwaway MariaDB from the installed binaries in a temp folder on a free port. */
export async function startMariaDb(opts: MariaDbOptions = {}): Promise<MariaDbServer> {
  const installDb = requireBinary('mariadb-install-db', 'mariadb-server');
  const mariadbd = requireBinary('mariadbd', 'mariadb-server');
  const client = requireBinary('mariadb', 'mariadb-client');
  const user = serverUser('mysql', 'mariadb-server');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-mariadb-'));
  const unregisterDir = removeAtExit(dir);
  const dataDir = path.join(dir, 'data');
  const socket = path.join(dir, 'mariadbd.sock');
  const certs = opts.tls ? makeSelfSignedCert(path.join(dir, 'certs')) : null;
  chownTo(dir, user);

  await run(
    installDb,
    [
      '--no-defaults',
      `--datadir=${dataDir}`,
      '--auth-root-authentication-method=normal',
      '--skip-test-db',
      '--skip-name-resolve',
    ],
    { cwd: dir, user, timeoutMs: 120_000 },
  );

  let server: ServerProcess | null = null;
  let port = 0;
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      server = await startMariadbd(mariadbd, serverArgs(dataDir, socket, port, certs, opts), dir, user);
      break;
    } catch (err) {
      if (attempt >= 3 || !/in use/i.test(String(err))) throw err;
    }
  }

  const sql = async (text: string, database?: string): Promise<string> => {
    const args = ['--no-defaults', `--socket=${socket}`, '-uroot', '--batch', '--skip-column-names'];
    const { stdout } = await run(client, database ? [...args, database] : args, { input: text });
    return stdout.trim();
  };
  // root over TCP from 127.0.0.1 without a password, and a `test` database, as on the machine's server.
  await sql(
    "CREATE USER IF NOT EXISTS 'root'@'127.0.0.1' IDENTIFIED BY '';\n" +
      "GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;\n" +
      'CREATE DATABASE IF NOT EXISTS test;',
  );

  const current = server!;
  return {
    host: '127.0.0.1',
    port,
    socket,
    dir,
    user: 'root',
    password: '',
    certs,
    logTail: (lines = 30) => current.tail(lines),
    sql,
    async stop() {
      await current.stop('SIGTERM', 30_000);
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      unregisterDir();
    },
  };
}

function serverArgs(
  dataDir: string,
  socket: string,
  port: number,
  certs: CertFiles | null,
  opts: MariaDbOptions,
): string[] {
  const args = [
    '--no-defaults',
    `--datadir=${dataDir}`,
    `--socket=${socket}`,
    `--pid-file=${path.join(path.dirname(socket), 'mariadbd.pid')}`,
    `--port=${port}`,
    '--bind-address=127.0.0.1',
    '--skip-networking=0',
    '--skip-name-resolve',
    '--skip-log-bin',
    // A throwaway server: durability per commit buys nothing and costs the tests time.
    '--innodb-flush-log-at-trx-commit=2',
    '--innodb-buffer-pool-size=64M',
  ];
  if (certs) {
    args.push(`--ssl-cert=${certs.certFile}`, `--ssl-key=${certs.keyFile}`, `--ssl-ca=${certs.caFile}`);
  }
  return [...args, ...(opts.args ?? [])];
}

async function startMariadbd(
  mariadbd: string,
  args: string[],
  dir: string,
  user: OsUser | null,
): Promise<ServerProcess> {
  const server = new ServerProcess(mariadbd, args, {
    cwd: dir,
    user,
    logFile: path.join(dir, 'server.log'),
    maxLines: 2000,
  });
  await server.waitForLine(READY, START_TIMEOUT_MS, 'MariaDB to accept connections');
  return server;
}
