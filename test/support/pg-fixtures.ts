/**
 * Shared set-up for the PostgreSQL integration tests that drive real clients through a spawned
 * `dbtape serve`: the config, the users, connection settings for psql / node-postgres, direct
 * connections to the upstream for checking what really happened there, and small probes
 * (pg_stat_activity, a process's resident memory).
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, readFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { stringify } from 'yaml';
import { hashPassword } from '../../src/config/verifiers.js';
import { type CertFiles, makeSelfSignedCert } from './certs.js';
import { removeAtExit } from './cleanup.js';
import { type Dbtape, startDbtape } from './dbtape-process.js';
import { envWithoutPg } from './exec.js';
import { freePort } from './ports.js';
import { requireMachinePg } from './servers.js';
import { waitFor, withTimeout } from './wait.js';

/** The person connecting through dbtape; never a database password. */
export const ALICE = { name: 'alice', password: 'alice-через-dbtape' } as const;

/** A `targets[]` entry as written in dbtape.yaml. */
export type TargetYaml = Record<string, unknown> & { name: string };

/** The machine's PostgreSQL (trust), as a dbtape target. */
export function machineTarget(name = 'app', database = 'test'): TargetYaml {
  return {
    name,
    protocol: 'postgres',
    host: '127.0.0.1',
    port: 5432,
    database,
    user: 'postgres',
    tls: 'disable',
  };
}

export interface ProxyOptions {
  /** Default: `app` → the machine's PostgreSQL, database test. */
  readonly targets?: readonly TargetYaml[];
  /** Targets alice may use (default: every target). The others exist but are forbidden to her. */
  readonly granted?: readonly string[];
  /** Client-facing TLS with a fresh self-signed certificate. */
  readonly tls?: boolean;
  readonly requireTls?: boolean;
  readonly limits?: Readonly<Record<string, unknown>>;
  /** Environment of the dbtape process (target passwords named by password_env). */
  readonly env?: Record<string, string>;
  readonly logLevel?: 'debug' | 'info' | 'warn' | 'error';
}

export interface DbtapeProxy {
  readonly host: string;
  readonly port: number;
  /** The dbtape process id, for reading its memory use. */
  readonly pid: number;
  readonly dbtape: Dbtape;
  /** The client-facing certificate when `tls` was asked for. */
  readonly certs: CertFiles | null;
  stop(): Promise<void>;
}

let aliceVerifier: string | null = null;

/** dbtape.yaml for the options, with a free port for the PostgreSQL listener. */
export function proxyYaml(opts: ProxyOptions, port: number, certs: CertFiles | null): string {
  aliceVerifier ??= hashPassword(ALICE.password);
  const targets = opts.targets ?? [machineTarget()];
  const granted = opts.granted ?? targets.map((t) => t.name);
  const doc: Record<string, unknown> = {
    listen: { postgres: `127.0.0.1:${port}` },
    limits: opts.limits ?? {},
    log: { level: opts.logLevel ?? 'info' },
    targets,
    users: [{ name: ALICE.name, password: aliceVerifier, roles: ['tester'] }],
    roles: [{ name: 'tester', targets: [...granted], access: 'admin' }],
  };
  if (certs)
    doc.tls = { cert_file: certs.certFile, key_file: certs.keyFile, require: opts.requireTls ?? false };
  return stringify(doc);
}

/** Starts `dbtape serve` as its own process and waits for its listener. */
export async function startProxy(opts: ProxyOptions = {}): Promise<DbtapeProxy> {
  await requireMachinePg();
  const certs = opts.tls || opts.requireTls ? makeSelfSignedCert(tempDir('dbtape-client-cert-')) : null;
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      const dbtape = await startDbtape({ config: proxyYaml(opts, port, certs), env: opts.env });
      return {
        host: '127.0.0.1',
        port,
        pid: dbtape.process.pid!,
        dbtape,
        certs,
        stop: async () => {
          await dbtape.stop();
        },
      };
    } catch (err) {
      // Another process may take the free port before dbtape binds it.
      if (attempt >= 3 || !/EADDRINUSE|address already in use/i.test(String(err))) throw err;
    }
  }
}

export function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  removeAtExit(dir);
  return dir;
}

/** A name no other test run uses, safe as an SQL identifier and an application_name. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${randomBytes(4).toString('hex')}`;
}

/** A random password for a throwaway role or target. */
export function randomPassword(): string {
  return `pw-${randomBytes(12).toString('hex')}`;
}

// --- clients through dbtape ------------------------------------------------------------------------

/** node-postgres settings for alice through dbtape. */
export function viaProxy(proxy: DbtapeProxy, extra: pg.ClientConfig = {}): pg.ClientConfig {
  return {
    host: proxy.host,
    port: proxy.port,
    user: ALICE.name,
    password: ALICE.password,
    database: 'app',
    ssl: false,
    ...extra,
  };
}

export async function connectViaProxy(proxy: DbtapeProxy, extra: pg.ClientConfig = {}): Promise<pg.Client> {
  const client = new pg.Client(viaProxy(proxy, extra));
  await client.connect();
  return client;
}

/** A libpq connection string for alice through dbtape (the password goes in PGPASSWORD). */
export function conninfo(
  proxy: DbtapeProxy,
  opts: { sslmode?: string; database?: string; application?: string } = {},
): string {
  const parts = [
    `host=${proxy.host}`,
    `port=${proxy.port}`,
    `user=${ALICE.name}`,
    `dbname=${opts.database ?? 'app'}`,
    `sslmode=${opts.sslmode ?? 'disable'}`,
  ];
  if (opts.application) parts.push(`application_name=${opts.application}`);
  return parts.join(' ');
}

/** Environment for psql/pgbench as alice: no stray PG* settings, her password, no pager. */
export function aliceEnv(): NodeJS.ProcessEnv {
  return envWithoutPg({ PGPASSWORD: ALICE.password, PAGER: 'cat', PSQLRC: '/dev/null' });
}

/** The processID / secretKey node-postgres keeps from BackendKeyData (not in @types/pg). */
export function backendKey(client: pg.Client): { pid: number; secret: number } {
  const c = client as unknown as { processID: number | null; secretKey: number | null };
  if (c.processID === null || c.secretKey === null) throw new Error('the client got no BackendKeyData');
  return { pid: c.processID, secret: c.secretKey };
}

/** Sends a CancelRequest for `key` on a new connection and waits until the proxy closes it. */
export async function sendCancel(port: number, key: { pid: number; secret: number }): Promise<void> {
  const packet = Buffer.alloc(16);
  packet.writeInt32BE(16, 0);
  packet.writeInt32BE(80877102, 4); // CancelRequest code (PostgreSQL docs, "Message Formats")
  packet.writeInt32BE(key.pid | 0, 8);
  packet.writeInt32BE(key.secret | 0, 12);
  const socket = net.connect({ host: '127.0.0.1', port });
  const closed = new Promise<void>((resolve, reject) => {
    socket.once('close', () => resolve());
    socket.once('error', reject);
  });
  socket.once('connect', () => socket.write(packet));
  socket.resume();
  await withTimeout(closed, 10_000, 'dbtape to close the CancelRequest connection');
}

// --- looking at the upstream directly --------------------------------------------------------------

export interface ServerAddress {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
}

export const MACHINE_SERVER: ServerAddress = {
  host: '127.0.0.1',
  port: 5432,
  user: 'postgres',
  database: 'test',
};

/** A superuser connection straight to the server, bypassing dbtape. */
export async function connectDirect(server: ServerAddress = MACHINE_SERVER): Promise<pg.Client> {
  const client = new pg.Client({ ...server, ssl: false, application_name: 'dbtape-test-monitor' });
  await client.connect();
  return client;
}

export interface Activity {
  readonly pid: number;
  readonly application: string;
  readonly state: string | null;
  readonly query: string;
  readonly waitEvent: string | null;
}

/** Backends whose application_name starts with `prefix` (only client backends). */
export async function activity(monitor: pg.Client, prefix: string): Promise<Activity[]> {
  const r = await monitor.query<{
    pid: number;
    application_name: string;
    state: string | null;
    query: string;
    wait_event: string | null;
  }>(
    `select pid, application_name, state, query, wait_event from pg_stat_activity
      where backend_type = 'client backend' and starts_with(application_name, $1)`,
    [prefix],
  );
  return r.rows.map((row) => ({
    pid: row.pid,
    application: row.application_name,
    state: row.state,
    query: row.query,
    waitEvent: row.wait_event,
  }));
}

/** Application names of backends running pg_sleep right now. */
export async function sleeping(monitor: pg.Client, prefix: string): Promise<Set<string>> {
  const rows = await activity(monitor, prefix);
  return new Set(
    rows.filter((a) => a.state === 'active' && /pg_sleep/.test(a.query)).map((a) => a.application),
  );
}

/** Waits until a backend with exactly this application_name is running pg_sleep; returns it. */
export function waitForSleep(monitor: pg.Client, application: string, timeoutMs = 10_000): Promise<Activity> {
  return waitFor(
    async () =>
      (await activity(monitor, application)).find(
        (a) => a.application === application && a.state === 'active' && /pg_sleep/.test(a.query),
      ),
    { timeoutMs, what: `a backend of ${application} running pg_sleep (pg_stat_activity)` },
  );
}

/** Waits until no backend with this application_name prefix is left. */
export async function waitForNoBackend(
  monitor: pg.Client,
  prefix: string,
  timeoutMs = 10_000,
): Promise<void> {
  await waitFor(async () => (await activity(monitor, prefix)).length === 0, {
    timeoutMs,
    what: `the backends of ${prefix} to end (pg_stat_activity)`,
  });
}

// --- processes -------------------------------------------------------------------------------------

/** Resident memory of a process in bytes (VmRSS in /proc/<pid>/status). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS in /proc/${pid}/status`);
  return Number(m[1]) * 1024;
}

/** Lines of the dbtape process's output that contain `text`. */
export function logLinesWith(proxy: DbtapeProxy, text: string): string[] {
  return proxy.dbtape.logs.filter((l) => l.includes(text));
}

/** A client program (psql, pgbench) run in the background, its output kept for waiting on. */
export interface Background {
  readonly child: ChildProcess;
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  stdout(): string;
  stderr(): string;
  /** Waits until stdout+stderr matches `re`; fails quoting the output. */
  waitForOutput(re: RegExp, timeoutMs?: number): Promise<void>;
  /** Ends the program if it still runs. */
  kill(signal?: NodeJS.Signals): void;
}

export function background(command: string, args: readonly string[], env: NodeJS.ProcessEnv): Background {
  const child = spawn(command, args, { env, stdio: ['pipe', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout!.setEncoding('utf8').on('data', (d: string) => {
    out += d;
  });
  child.stderr!.setEncoding('utf8').on('data', (d: string) => {
    err += d;
  });
  child.stdin!.on('error', () => {});
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    // 'close' comes after the last output, unlike 'exit'.
    child.once('close', (code, signal) => resolve({ code, signal }));
    child.once('error', (e) => {
      err += `spawn error: ${e.message}`;
      resolve({ code: -1, signal: null });
    });
  });
  let done = false;
  exited.then(() => {
    done = true;
  });
  return {
    child,
    exited,
    stdout: () => out,
    stderr: () => err,
    async waitForOutput(re, timeoutMs = 10_000) {
      const quote = () => `\n--- stdout ---\n${out}\n--- stderr ---\n${err}`;
      const seen = await waitFor(() => (re.test(out + err) ? 'matched' : done && 'exited'), {
        timeoutMs,
        intervalMs: 20,
        what: `${command} to print ${re}`,
      }).catch((e: Error) => {
        throw new Error(`${e.message}${quote()}`);
      });
      // Output read before the exit may still arrive with it; look once more.
      if (seen === 'exited' && !re.test(out + err))
        throw new Error(`${command} exited before printing ${re}${quote()}`);
    },
    kill(signal = 'SIGKILL') {
      if (!done) child.kill(signal);
    },
  };
}
