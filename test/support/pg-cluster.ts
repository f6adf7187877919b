import { appendFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { requirePgBinary } from './binaries.js';
import { type CertFiles, makeSelfSignedCert } from './certs.js';
import { removeAtExit } from './cleanup.js';
import { envWithoutPg, run } from './exec.js';
import { chownTo, type OsUser, serverUser } from './os-user.js';
import { freePort } from './ports.js';
import { ServerProcess } from './server-process.js';

export type PgHbaMethod = 'trust' | 'scram' | 'md5' | 'password';

export interface PgUserSpec {
  name: string;
  password: string;
  /** Make the role a superuser (default false). */
  superuser?: boolean;
}

export interface PgClusterOptions {
  /** ssl=on with a self-signed certificate for localhost/127.0.0.1 (see `certs`). */
  ssl?: boolean;
  /** Authentication for TCP connections (default trust). The unix socket is always trust. */
  hba?: PgHbaMethod;
  /** Accept TCP connections only over TLS (hostssl lines); default host lines, TLS optional. */
  sslOnly?: boolean;
  /** Login roles created with these passwords (stored as SCRAM, or md5 when hba is md5). */
  users?: PgUserSpec[];
  /** Databases created besides postgres, owned by the superuser, open to every role. */
  databases?: string[];
  /** Extra postgresql.conf settings; they override the defaults (fsync=off and friends). */
  settings?: Record<string, string>;
}

export interface PgCluster {
  readonly host: string;
  readonly port: number;
  /** The temp folder holding data/, sock/, certs/ and server.log; removed by stop(). */
  readonly dir: string;
  readonly dataDir: string;
  readonly socketDir: string;
  /** Superuser name, usable without password over the unix socket only. */
  readonly superuser: string;
  /** The server certificate when `ssl` was asked for; `caFile` verifies it. */
  readonly certs: CertFiles | null;
  /** Recent server log lines. */
  logTail(lines?: number): string;
  /** Fast shutdown and removal of the temp folder. */
  stop(): Promise<void>;
  /**
   * Shut down ('fast' = SIGINT, 'immediate' = SIGQUIT, i.e. crash-like) and start again on the same
   * port, `downMs` after the server has gone (default at once), after `whileDown` (which may copy
   * or replace the data folder: a snapshot, a restore).
   */
  restart(mode?: 'fast' | 'immediate', downMs?: number, whileDown?: () => Promise<void>): Promise<void>;
  /** Runs SQL as the superuser over the unix socket; returns psql's unaligned, tuples-only output. */
  psql(sql: string, database?: string): Promise<string>;
}

const SUPERUSER = 'postgres';
const READY = /database system is ready to accept connections/;
const START_TIMEOUT_MS = 30_000;

// Throwaway clusters hold nothing worth keeping across an OS crash, so skip fsync. Commits still write
// their WAL to the kernel (synchronous_commit stays on), so data survives restart('immediate').
const DEFAULT_SETTINGS: Record<string, string> = {
  fsync: 'off',
  full_page_writes: 'off',
};

/** Starts a throwaway PostgreSQL from the installed binaries in a temp folder on a free port. */
export async function startPgCluster(opts: PgClusterOptions = {}): Promise<PgCluster> {
  const initdb = requirePgBinary('initdb');
  const postgres = requirePgBinary('postgres');
  const psqlBin = requirePgBinary('psql', 'postgresql-client');
  const user = serverUser('postgres', 'postgresql');
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-pg-'));
  const unregisterDir = removeAtExit(dir);
  const dataDir = path.join(dir, 'data');
  const socketDir = path.join(dir, 'sock');
  mkdirSync(socketDir);
  const certs = opts.ssl ? makeSelfSignedCert(path.join(dir, 'certs')) : null;
  chownTo(dir, user);

  await run(
    initdb,
    [
      '-D',
      dataDir,
      '-U',
      SUPERUSER,
      '-A',
      'trust',
      '-E',
      'UTF8',
      '--locale=C',
      '--no-sync',
      '--no-instructions',
    ],
    { cwd: dir, user, env: envWithoutPg() },
  );
  appendFileSync(path.join(dataDir, 'postgresql.conf'), configText(opts, socketDir, certs));
  writeFileSync(path.join(dataDir, 'pg_hba.conf'), hbaText(opts));

  let port = 0;
  let server: ServerProcess | null = null;
  const start = async (): Promise<void> => {
    server = await startPostgres(postgres, dataDir, dir, user, port);
  };
  // The free port can be taken between freePort() and bind(); try a few.
  for (let attempt = 1; ; attempt++) {
    port = await freePort();
    try {
      await start();
      break;
    } catch (err) {
      if (attempt >= 3 || !/already in use/i.test(String(err))) throw err;
    }
  }

  const psql = async (sql: string, database = 'postgres'): Promise<string> => {
    const args = ['-X', '-q', '-A', '-t', '-v', 'ON_ERROR_STOP=1', '-h', socketDir, '-p', String(port)];
    const { stdout } = await run(psqlBin, [...args, '-U', SUPERUSER, '-d', database, '-f', '-'], {
      input: sql,
      env: envWithoutPg(),
    });
    return stdout.trim();
  };
  await createRolesAndDatabases(psql, opts);

  const current = (): ServerProcess => server!;
  return {
    host: '127.0.0.1',
    get port() {
      return port;
    },
    dir,
    dataDir,
    socketDir,
    superuser: SUPERUSER,
    certs,
    logTail: (lines = 30) => current().tail(lines),
    psql,
    async stop() {
      await current().stop('SIGINT', 15_000);
      rmSync(dir, { recursive: true, force: true, maxRetries: 3 });
      unregisterDir();
    },
    async restart(mode = 'fast', downMs = 0, whileDown) {
      await current().stop(mode === 'fast' ? 'SIGINT' : 'SIGQUIT', 15_000);
      if (downMs > 0) await new Promise((r) => setTimeout(r, downMs));
      await whileDown?.();
      await start();
    },
  };
}

async function startPostgres(
  postgres: string,
  dataDir: string,
  dir: string,
  user: OsUser | null,
  port: number,
): Promise<ServerProcess> {
  const server = new ServerProcess(postgres, ['-D', dataDir, '-p', String(port)], {
    cwd: dir,
    user,
    env: envWithoutPg(),
    logFile: path.join(dir, 'server.log'),
    maxLines: 2000,
    // Immediate shutdown: the postmaster takes its backends down with it at once.
    exitSignal: 'SIGQUIT',
  });
  await server.waitForLine(READY, START_TIMEOUT_MS, 'PostgreSQL to accept connections');
  return server;
}

function configText(opts: PgClusterOptions, socketDir: string, certs: CertFiles | null): string {
  const settings: Record<string, string> = {
    ...DEFAULT_SETTINGS,
    listen_addresses: '127.0.0.1',
    unix_socket_directories: socketDir,
    password_encryption: opts.hba === 'md5' ? 'md5' : 'scram-sha-256',
  };
  if (certs) {
    Object.assign(settings, { ssl: 'on', ssl_cert_file: certs.certFile, ssl_key_file: certs.keyFile });
  }
  Object.assign(settings, opts.settings ?? {});
  const lines = Object.entries(settings).map(([key, value]) => `${key} = ${quoteConf(value)}`);
  return `\n# added by dbtape's test harness\n${lines.join('\n')}\n`;
}

function hbaText(opts: PgClusterOptions): string {
  const method = { trust: 'trust', scram: 'scram-sha-256', md5: 'md5', password: 'password' }[
    opts.hba ?? 'trust'
  ];
  const kind = opts.sslOnly ? 'hostssl' : 'host';
  return [
    '# TYPE  DATABASE USER ADDRESS      METHOD',
    'local   all      all               trust',
    `${kind} all      all  127.0.0.1/32 ${method}`,
    `${kind} all      all  ::1/128      ${method}`,
    '',
  ].join('\n');
}

async function createRolesAndDatabases(
  psql: (sql: string, database?: string) => Promise<string>,
  opts: PgClusterOptions,
): Promise<void> {
  const statements: string[] = [];
  for (const u of opts.users ?? []) {
    const attrs = u.superuser ? 'LOGIN SUPERUSER' : 'LOGIN';
    statements.push(`CREATE ROLE ${quoteIdent(u.name)} ${attrs} PASSWORD ${quoteLiteral(u.password)};`);
  }
  for (const db of opts.databases ?? []) {
    statements.push(`CREATE DATABASE ${quoteIdent(db)};`);
    statements.push(`GRANT ALL ON DATABASE ${quoteIdent(db)} TO PUBLIC;`);
  }
  if (statements.length > 0) await psql(statements.join('\n'));
  // Since PostgreSQL 15 only the owner may create in schema public; tests' roles need to.
  for (const db of opts.databases ?? []) await psql('GRANT ALL ON SCHEMA public TO PUBLIC;', db);
}

export function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

export function quoteLiteral(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}

function quoteConf(value: string): string {
  return `'${value.replaceAll("'", "''")}'`;
}
