/**
 * Shared set-up for the MySQL/MariaDB proxy tests: dbtape configs with a MySQL listener and a
 * SQLite store in a temp folder (in this process, or as a spawned `dbtape serve`), the users
 * who sign in through it, mysql2 / mariadb CLI settings, and reading back what was recorded.
 */
import { generateKeyPairSync } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import Database from 'better-sqlite3';
import mysql from 'mysql2/promise';
import { stringify } from 'yaml';
import { type RunningServer, startServer } from '../../src/cli/server.js';
import { loadConfig } from '../../src/config/load.js';
import { hashPassword } from '../../src/config/verifiers.js';
import type { RecorderFactory } from '../../src/model/recorder.js';
import type { SessionEvent } from '../../src/model/session.js';
import * as M from '../../src/protocol/mysql/index.js';
import { encodedEvents } from '../../src/store/encoded-batch.js';
import { openStore, sqlitePathFromUrl } from '../../src/store/open-store.js';
import type { SessionStore, SessionSummary } from '../../src/store/session-store.js';
import { StoreCrypto } from '../../src/store/sqlite/sqlite-crypto.js';
import { readJournaled } from '../../src/store/sqlite/sqlite-journal.js';
import { type CertFiles, makeSelfSignedCert } from './certs.js';
import { removeAtExit } from './cleanup.js';
import { startDbtape } from './dbtape-process.js';
import { collectingLogger, type LogLine } from './inproc-dbtape.js';
import { freePort } from './ports.js';
import { waitFor } from './wait.js';

export { requireMachineMariaDb } from './servers.js';

export interface Person {
  readonly name: string;
  readonly password: string;
}

/** Signs in through dbtape; reaches `app` (and the other granted targets). */
export const ALICE: Person = { name: 'alice', password: 'alice-über-dbtape' };
/** Another user with the same access as alice: may not kill alice's statements. */
export const BOB: Person = { name: 'bob', password: 'bob-secret' };
/** Holds the reserved `admin` role: may kill anyone's statements. */
export const CAROL: Person = { name: 'carol', password: 'carol-admin' };

export type TargetYaml = Record<string, unknown> & { name: string };

/** A MariaDB on 127.0.0.1 (root, no password: the machine's, or a throwaway one) as a dbtape target. */
export function mariaDbTarget(
  port: number,
  opts: { name?: string; database?: string; tls?: 'disable' | 'prefer' | 'require' | 'verify-full' } = {},
): TargetYaml {
  const { name = 'app', database = 'test', tls = 'disable' } = opts;
  return { name, protocol: 'mysql', host: '127.0.0.1', port, database, user: 'root', tls };
}

/** A scripted upstream (startFakeUpstream) as the dbtape target `app`. */
export function fakeTarget(fake: { readonly port: number }): TargetYaml {
  return { name: 'app', protocol: 'mysql', host: '127.0.0.1', port: fake.port, user: 'root', tls: 'disable' };
}

/** The machine's MariaDB (root, no password) as a dbtape target. */
export function machineTarget(name = 'app', database = 'test'): TargetYaml {
  return mariaDbTarget(3306, { name, database });
}

export interface MysqlProxyOptions {
  /** Default: `app` → the machine's MariaDB, database `test`. */
  readonly targets?: readonly TargetYaml[];
  /** Targets alice and bob may use (default: all). */
  readonly granted?: readonly string[];
  /** Extra keys on the users' role (e.g. `{ local_infile: true }`). */
  readonly role?: Readonly<Record<string, unknown>>;
  /** Client-facing TLS with a fresh self-signed certificate. */
  readonly tls?: boolean;
  readonly requireTls?: boolean;
  readonly capture?: 'none' | 'summary' | 'rows';
  readonly maxRows?: number;
  /** false: no store, nothing recorded. */
  readonly record?: boolean;
  readonly durability?: 'fast' | 'strict';
  /** In-process only: records through this instead of the config's store (one that fails, say). */
  readonly recorders?: RecorderFactory;
  readonly limits?: Readonly<Record<string, unknown>>;
  /** Environment for a spawned dbtape (target passwords named by password_env). */
  readonly env?: Record<string, string>;
}

export interface MysqlProxy {
  readonly host: string;
  readonly port: number;
  readonly dir: string;
  readonly storeUrl: string;
  readonly certs: CertFiles | null;
  /** The dbtape process id (this process for an in-process proxy). */
  readonly pid: number;
  /** In-process only: every log line. */
  readonly logs: LogLine[];
  /** In-process only. */
  readonly server: RunningServer | null;
  close(): Promise<void>;
}

let verifiers: Record<string, string> | null = null;
function userVerifiers(): Record<string, string> {
  verifiers ??= Object.fromEntries([ALICE, BOB, CAROL].map((p) => [p.name, hashPassword(p.password)]));
  return verifiers;
}

export function mysqlProxyYaml(
  opts: MysqlProxyOptions,
  port: number,
  dir: string,
  certs: CertFiles | null,
): string {
  const v = userVerifiers();
  const targets = opts.targets ?? [machineTarget()];
  const granted = opts.granted ?? targets.map((t) => t.name);
  const doc: Record<string, unknown> = {
    listen: { mysql: `127.0.0.1:${port}` },
    store: {
      record: opts.record ?? true,
      url: `sqlite:${path.join(dir, 'store.db')}`,
      capture_results: opts.capture ?? 'rows',
      max_rows: opts.maxRows ?? 100,
      durability: opts.durability ?? 'fast',
    },
    limits: opts.limits ?? {},
    log: { level: 'debug' },
    targets,
    users: [
      { name: ALICE.name, password: v.alice, roles: ['tester'] },
      { name: BOB.name, password: v.bob, roles: ['tester'] },
      { name: CAROL.name, password: v.carol, roles: ['tester', 'admin'] },
    ],
    roles: [{ name: 'tester', targets: [...granted], access: 'write', ...(opts.role ?? {}) }],
  };
  if (certs)
    doc.tls = { cert_file: certs.certFile, key_file: certs.keyFile, require: opts.requireTls ?? false };
  return stringify(doc);
}

function tempDir(prefix: string): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), prefix));
  removeAtExit(dir);
  return dir;
}

/** dbtape with a MySQL listener inside this process (fast to start, logs at hand). */
export async function startMysqlProxy(opts: MysqlProxyOptions = {}): Promise<MysqlProxy> {
  const dir = tempDir('dbtape-mysql-');
  const certs = opts.tls || opts.requireTls ? makeSelfSignedCert(path.join(dir, 'certs')) : null;
  const configFile = path.join(dir, 'dbtape.yaml');
  writeFileSync(configFile, mysqlProxyYaml(opts, 0, dir, certs));
  const logs: LogLine[] = [];
  const server = await startServer(loadConfig(configFile), collectingLogger(logs), {
    recorders: opts.recorders,
  });
  const address = server.addresses.mysql;
  if (!address) throw new Error('dbtape started without a MySQL listener');
  return {
    host: '127.0.0.1',
    port: Number(address.slice(address.lastIndexOf(':') + 1)),
    dir,
    storeUrl: `sqlite:${path.join(dir, 'store.db')}`,
    certs,
    pid: process.pid,
    logs,
    server,
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** `dbtape serve` as its own process (for measuring its memory). */
export async function startMysqlProxyProcess(opts: MysqlProxyOptions = {}): Promise<MysqlProxy> {
  const dir = tempDir('dbtape-mysql-proc-');
  const certs = opts.tls || opts.requireTls ? makeSelfSignedCert(path.join(dir, 'certs')) : null;
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    try {
      const dbtape = await startDbtape({
        config: mysqlProxyYaml(opts, port, dir, certs),
        env: opts.env,
        dir,
      });
      return {
        host: '127.0.0.1',
        port,
        dir,
        storeUrl: `sqlite:${path.join(dir, 'store.db')}`,
        certs,
        pid: dbtape.process.pid!,
        logs: [],
        server: null,
        close: async () => {
          await dbtape.stop();
        },
      };
    } catch (err) {
      // Another process may take the free port before dbtape binds it.
      if (attempt >= 3 || !/EADDRINUSE|address already in use/i.test(String(err))) throw err;
    }
  }
}

// --- clients ---------------------------------------------------------------------------------------

export function mysql2Options(
  proxy: Pick<MysqlProxy, 'host' | 'port'>,
  extra: mysql.ConnectionOptions = {},
  who: Person = ALICE,
): mysql.ConnectionOptions {
  return {
    host: proxy.host,
    port: proxy.port,
    user: who.name,
    password: who.password,
    database: 'app',
    ...extra,
  };
}

export function connectMysql2(
  proxy: Pick<MysqlProxy, 'host' | 'port'>,
  extra: mysql.ConnectionOptions = {},
  who: Person = ALICE,
): Promise<mysql.Connection> {
  return mysql.createConnection(mysql2Options(proxy, extra, who));
}

/**
 * Arguments for the `mariadb` client through dbtape (the password goes in the environment); null
 * `database`: none named.
 */
export function mariadbArgs(
  proxy: MysqlProxy,
  extra: readonly string[] = [],
  database: string | null = 'app',
): string[] {
  const base = ['--no-defaults', '-h', proxy.host, '-P', String(proxy.port), '-u', ALICE.name, ...extra];
  return database === null ? base : [...base, database];
}

/** The environment for the `mariadb` client: the password in MYSQL_PWD. */
export function mariadbEnv(who: Person = ALICE): NodeJS.ProcessEnv {
  return { ...process.env, MYSQL_PWD: who.password };
}

/** A direct connection to the machine's MariaDB, for checking what really happened there. */
export function connectDirect(extra: mysql.ConnectionOptions = {}): Promise<mysql.Connection> {
  return mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', database: 'test', ...extra });
}

// --- what was recorded -----------------------------------------------------------------------------

/** A read-only view of the proxy's store; close it when done. */
export class Recorded {
  private readonly store: SessionStore;

  constructor(storeUrl: string) {
    this.store = openStore(storeUrl, { readonly: true });
  }

  sessions(): Promise<SessionSummary[]> {
    return this.store.listSessions({});
  }

  /** Up to 100,000 events of a session (the store's page limit). */
  events(id: string): Promise<SessionEvent[]> {
    return this.store.getEvents(id, { limit: 100_000 });
  }

  /**
   * The events of the (ended) session that recorded a statement containing `marker`, once its
   * `end` event is stored.
   */
  async sessionWith(marker: string, timeoutMs = 10_000): Promise<{ id: string; events: SessionEvent[] }> {
    return waitFor(
      async () => {
        for (const s of await this.sessions()) {
          const events = await this.events(s.id);
          const hit = events.some((e) => e.kind === 'query' && e.sql.includes(marker));
          if (hit && events.some((e) => e.kind === 'end')) return { id: s.id, events };
        }
        return null;
      },
      { timeoutMs, what: `a recorded session with a statement containing ${JSON.stringify(marker)}` },
    );
  }

  close(): Promise<void> {
    return this.store.close();
  }
}

/** The events following the first query containing `marker`, up to the next query. */
export function outcomeOf(events: readonly SessionEvent[], marker: string): SessionEvent[] {
  const i = events.findIndex((e) => e.kind === 'query' && e.sql.includes(marker));
  if (i < 0) throw new Error(`no recorded statement contains ${JSON.stringify(marker)}`);
  const out: SessionEvent[] = [events[i]];
  for (let j = i + 1; j < events.length && events[j].kind !== 'query'; j++) out.push(events[j]);
  return out;
}

/** A name no other test run uses, safe as an SQL identifier. */
export function uniqueName(prefix: string): string {
  return `${prefix}_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
}

// --- a scripted upstream and a raw client, for byte-level tests ------------------------------------

/** What the fake server answers a COM_QUERY with. */
export type FakeAnswer =
  | { readonly ok: number }
  | { readonly err: { errno: number; sqlState: string; message: string } }
  | { readonly columns: readonly string[]; readonly rows: readonly (readonly (string | null)[])[] }
  /** Never answer (a statement that runs until killed). */
  | { readonly hang: true }
  /** Ask for the client's file (LOAD DATA LOCAL INFILE), then answer OK once it has come. */
  | { readonly requestFile: string };

/** How the fake server authenticates dbtape (default: it accepts any first answer). */
export type FakeAuth =
  | { readonly plugin: 'mysql_clear_password' }
  | { readonly plugin: 'caching_sha2_password'; readonly password: string; readonly fullAuth: boolean };

export interface FakeUpstreamOptions {
  /** Capability flags the server offers (default: a MariaDB 10.11-like set without SSL). */
  readonly capabilities?: number;
  readonly answer?: (sql: string) => FakeAnswer;
  /** Awaited when a COM_QUERY arrives, before it is answered (e.g. to look at the store then). */
  readonly beforeQuery?: (sql: string) => Promise<void>;
  readonly auth?: FakeAuth;
}

export interface FakeUpstream {
  readonly port: number;
  /** Every command payload received after login, per connection, in order (file data included). */
  readonly received: Buffer[][];
  /** Capability flags of each connection's HandshakeResponse, in order. */
  readonly handshakes: number[];
  /** Passwords dbtape revealed to the server (cleartext or RSA-decrypted), in order. */
  readonly passwords: string[];
  /** Thread id the n-th connection was given (1, 2, ...). */
  close(): Promise<void>;
}

export const FAKE_CAPABILITIES =
  (M.CLIENT_LONG_PASSWORD |
    M.CLIENT_FOUND_ROWS |
    M.CLIENT_LONG_FLAG |
    M.CLIENT_CONNECT_WITH_DB |
    M.CLIENT_PROTOCOL_41 |
    M.CLIENT_TRANSACTIONS |
    M.CLIENT_SECURE_CONNECTION |
    M.CLIENT_MULTI_STATEMENTS |
    M.CLIENT_MULTI_RESULTS |
    M.CLIENT_PS_MULTI_RESULTS |
    M.CLIENT_PLUGIN_AUTH |
    M.CLIENT_CONNECT_ATTRS |
    M.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA |
    M.CLIENT_SESSION_TRACK |
    M.CLIENT_DEPRECATE_EOF) >>>
  0;

/**
 * A MySQL server made of the codecs: accepts any login, answers COM_QUERY per `answer`
 * (default: `SELECT <n>` gives n rows, anything else OK), prepares statements with one
 * parameter per `?`, answers executes and other commands with OK. It frames resultsets per
 * the negotiated DEPRECATE_EOF, so dbtape's translation can be tested against it.
 */
export async function startFakeUpstream(opts: FakeUpstreamOptions = {}): Promise<FakeUpstream> {
  const caps = opts.capabilities ?? FAKE_CAPABILITIES;
  const received: Buffer[][] = [];
  const handshakes: number[] = [];
  const passwords: string[] = [];
  const sockets = new Set<net.Socket>();
  let threads = 0;
  let statements = 0;
  const server = net.createServer((socket) => {
    sockets.add(socket);
    socket.on('close', () => sockets.delete(socket));
    socket.on('error', () => {});
    const log: Buffer[] = [];
    received.push(log);
    const framer = new M.PacketFramer();
    const asm = new M.PacketAssembler(64 << 20);
    let negotiated = 0;
    let loggedIn = false;
    /** A file was asked for: packets are its data until an empty one. */
    let receivingFile = false;
    let turn: Promise<void> = Promise.resolve();
    const scramble = Buffer.alloc(20, 0x41);
    const login = fakeLogin(opts.auth, scramble, passwords);
    socket.write(
      M.encodeInitialHandshake({
        serverVersion: '5.5.5-10.11.0-MariaDB-fake',
        connectionId: ++threads,
        scramble,
        capabilities: caps,
        mariadbCapabilities: 0,
        charset: 45,
        statusFlags: M.SERVER_STATUS_AUTOCOMMIT,
        authPluginName:
          opts.auth?.plugin === 'caching_sha2_password' ? 'caching_sha2_password' : 'mysql_native_password',
      }),
    );
    const send = (packets: Buffer[]): void => {
      socket.write(Buffer.concat(packets));
    };
    socket.on('data', (chunk: Buffer) => {
      framer.push(chunk);
      for (;;) {
        const r = M.assembleSmall(framer, asm);
        if (r.status !== 'packet') return;
        const payload = Buffer.from(r.payload);
        if (!loggedIn) {
          if (negotiated === 0) {
            const resp = M.decodeHandshakeResponse(payload);
            negotiated = resp.ok ? resp.value.capabilities & caps : caps;
            handshakes.push(resp.ok ? resp.value.capabilities : -1);
          }
          const step = login(payload, negotiated);
          if (step.done) loggedIn = step.ok;
          send(step.reply.map((b, i) => M.framePayload(b, r.lastSeq + 1 + i).bytes));
          if (step.done && !step.ok) socket.end();
          continue;
        }
        log.push(payload);
        if (receivingFile) {
          receivingFile = payload.length > 0;
          if (!receivingFile) {
            const ok = M.encodeOk({ statusFlags: M.SERVER_STATUS_AUTOCOMMIT }, caps, (r.lastSeq + 1) & 0xff);
            turn = turn.then(() => send([ok]));
          }
          continue;
        }
        const query =
          payload[0] === M.COM_QUERY ? (opts.answer ?? defaultAnswer)(payload.toString('utf8', 1)) : null;
        receivingFile = query !== null && 'requestFile' in query;
        // Answers go out in order, each after its (possibly slow) beforeQuery hook.
        turn = turn.then(async () => {
          if (payload[0] === M.COM_QUERY && opts.beforeQuery)
            await opts.beforeQuery(payload.toString('utf8', 1));
          const answer = commandAnswer(payload, negotiated, query, () => ++statements);
          if (answer === 'quit') socket.end();
          else if (answer !== null) send(answer);
        });
      }
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const port = (server.address() as net.AddressInfo).port;
  return {
    port,
    received,
    handshakes,
    passwords,
    close: () =>
      new Promise((resolve) => {
        for (const s of sockets) s.destroy();
        server.close(() => resolve());
      }),
  };
}

interface LoginStep {
  /** Payloads to send, numbered from the packet just received. */
  readonly reply: Buffer[];
  readonly done: boolean;
  readonly ok: boolean;
}

/**
 * The fake server's side of authentication, one client packet at a time (the first is the
 * HandshakeResponse). Only one packet is answered per step: enough for these exchanges.
 */
function fakeLogin(
  auth: FakeAuth | undefined,
  scramble: Buffer,
  passwords: string[],
): (p: Buffer, caps: number) => LoginStep {
  const ok = (caps: number): LoginStep => ({
    reply: [M.encodeOk({ statusFlags: M.SERVER_STATUS_AUTOCOMMIT }, caps, 0).subarray(4)],
    done: true,
    ok: true,
  });
  const denied: LoginStep = {
    reply: [
      M.encodeErr({ errno: 1045, sqlState: '28000', message: "Access denied for user 'fake'" }, 0).subarray(
        4,
      ),
    ],
    done: true,
    ok: false,
  };
  let step = 0;
  if (auth === undefined) return (_p, caps) => ok(caps);
  if (auth.plugin === 'mysql_clear_password') {
    return (p, caps) => {
      if (step++ === 0) {
        return {
          reply: [M.encodeAuthSwitchRequest('mysql_clear_password', Buffer.alloc(0), 0).subarray(4)],
          done: false,
          ok: false,
        };
      }
      passwords.push(M.passwordFromCleartextPayload(p).toString());
      return ok(caps);
    };
  }
  const keys = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
  const stored = M.cachingSha2Hash(auth.password);
  const more = (data: number[] | string): Buffer =>
    M.encodeAuthMoreData(typeof data === 'string' ? Buffer.from(data) : Buffer.from(data), 0).subarray(4);
  return (p, caps) => {
    const n = step++;
    if (n === 0) {
      const resp = M.decodeHandshakeResponse(p);
      const fast = resp.ok && M.verifyCachingSha2Scramble(resp.value.authResponse, scramble, stored);
      if (fast && !auth.fullAuth)
        return { ...ok(caps), reply: [more([M.CACHING_SHA2_FAST_AUTH_SUCCESS]), ...ok(caps).reply] };
      return { reply: [more([M.CACHING_SHA2_PERFORM_FULL_AUTH])], done: false, ok: false };
    }
    if (p.length === 1 && p[0] === M.CACHING_SHA2_REQUEST_PUBLIC_KEY)
      return { reply: [more(keys.publicKey)], done: false, ok: false };
    const password = M.rsaDecryptPassword(p, scramble, keys.privateKey) ?? M.passwordFromCleartextPayload(p);
    passwords.push(password.toString());
    return password.toString() === auth.password ? ok(caps) : denied;
  };
}

/** The fake server's answer to a command; `query`: what it answers a COM_QUERY with. */
function commandAnswer(
  payload: Buffer,
  caps: number,
  query: FakeAnswer | null,
  nextStatement: () => number,
): Buffer[] | 'quit' | null {
  const ok = (seq = 1): Buffer => M.encodeOk({ statusFlags: M.SERVER_STATUS_AUTOCOMMIT }, caps, seq);
  switch (payload[0]) {
    case M.COM_QUIT:
      return 'quit';
    case M.COM_STMT_CLOSE:
    case M.COM_STMT_SEND_LONG_DATA:
      return null;
    case M.COM_QUERY: {
      const a = query!;
      if ('hang' in a) return null;
      if ('requestFile' in a) return [M.framePayload(Buffer.from(`\xfb${a.requestFile}`, 'latin1'), 1).bytes];
      if ('ok' in a)
        return [M.encodeOk({ affectedRows: a.ok, statusFlags: M.SERVER_STATUS_AUTOCOMMIT }, caps, 1)];
      if ('err' in a) return [M.encodeErr(a.err, 1)];
      return resultset(a.columns, a.rows, caps);
    }
    case M.COM_STMT_PREPARE: {
      const sql = payload.toString('utf8', 1);
      const params = (sql.match(/\?/g) ?? []).length;
      const out = [
        M.encodePrepareOk(
          { statementId: nextStatement(), columnCount: 0, paramCount: params, warnings: 0 },
          1,
        ),
      ];
      let seq = 2;
      for (let i = 0; i < params; i++) {
        out.push(
          M.encodeColumnDefinition(
            { name: '?', charset: 63, columnLength: 0, type: M.MYSQL_TYPE_VAR_STRING },
            seq++,
          ),
        );
      }
      if (params > 0 && !M.hasCap(caps, M.CLIENT_DEPRECATE_EOF)) {
        out.push(M.encodeEof({ warnings: 0, statusFlags: M.SERVER_STATUS_AUTOCOMMIT }, caps, seq++));
      }
      return out;
    }
    default:
      return [ok()];
  }
}

function defaultAnswer(sql: string): FakeAnswer {
  const m = /^SELECT (\d+)$/i.exec(sql.trim());
  if (!m) return { ok: 0 };
  const n = Number(m[1]);
  return { columns: ['n'], rows: Array.from({ length: n }, (_, i) => [String(i + 1)]) };
}

/** A text resultset framed for `caps` (classic EOFs, or DEPRECATE_EOF's OK terminator). */
export function resultset(
  columns: readonly string[],
  rows: readonly (readonly (string | null)[])[],
  caps: number,
): Buffer[] {
  const deprecateEof = M.hasCap(caps, M.CLIENT_DEPRECATE_EOF);
  let seq = 1;
  const out = [new M.PacketWriter(8).lenencInt(columns.length).packet(seq++)];
  for (const c of columns) {
    out.push(
      M.encodeColumnDefinition(
        { name: c, charset: 45, columnLength: 255, type: M.MYSQL_TYPE_VAR_STRING },
        seq++,
      ),
    );
  }
  if (!deprecateEof)
    out.push(M.encodeEof({ warnings: 0, statusFlags: M.SERVER_STATUS_AUTOCOMMIT }, caps, seq++));
  for (const r of rows) out.push(M.encodeTextRow(r, seq++));
  out.push(
    deprecateEof
      ? M.encodeOk({ statusFlags: M.SERVER_STATUS_AUTOCOMMIT }, caps, seq++, M.EOF_HEADER)
      : M.encodeEof({ warnings: 0, statusFlags: M.SERVER_STATUS_AUTOCOMMIT }, caps, seq++),
  );
  return out;
}

export interface RawPacket {
  readonly seq: number;
  readonly payload: Buffer;
}

/** A client speaking hand-built bytes, reading whole packets back. */
export class RawMysql {
  private readonly framer = new M.PacketFramer();
  private readonly asm = new M.PacketAssembler(256 << 20);
  private readonly queue: RawPacket[] = [];
  private waiter: (() => void) | null = null;
  private ended = false;
  /** Capabilities this client sends in its handshake response. */
  capabilities = 0;

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (chunk: Buffer) => {
      this.framer.push(chunk);
      for (;;) {
        const r = M.assembleSmall(this.framer, this.asm);
        if (r.status !== 'packet') break;
        this.queue.push({ seq: r.seq, payload: Buffer.from(r.payload) });
      }
      this.wake();
    });
    socket.on('close', () => {
      this.ended = true;
      this.wake();
    });
    socket.on('error', () => {});
  }

  static async connect(port: number): Promise<RawMysql> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawMysql(socket);
  }

  get closed(): boolean {
    return this.ended;
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  /** The next packet, or null when the connection closed first. */
  async read(timeoutMs = 10_000): Promise<RawPacket | null> {
    const deadline = Date.now() + timeoutMs;
    while (this.queue.length === 0 && !this.ended) {
      if (Date.now() > deadline) throw new Error('timed out waiting for a packet from dbtape');
      await new Promise<void>((resolve) => {
        this.waiter = resolve;
        setTimeout(resolve, 200);
      });
    }
    return this.queue.shift() ?? null;
  }

  write(bytes: Buffer): void {
    this.socket.write(bytes);
  }

  /** Resolves once dbtape closed the connection. */
  async waitClosed(timeoutMs = 10_000): Promise<void> {
    await waitFor(() => this.ended, { timeoutMs, what: 'dbtape to close the connection' });
  }

  /** Log in with mysql_native_password; returns the greeting and dbtape's final answer. */
  async login(
    who: Person = ALICE,
    database: string | null = 'app',
    caps = M.CLIENT_PROTOCOL_41 |
      M.CLIENT_SECURE_CONNECTION |
      M.CLIENT_PLUGIN_AUTH |
      M.CLIENT_LONG_PASSWORD |
      M.CLIENT_TRANSACTIONS |
      M.CLIENT_MULTI_RESULTS |
      M.CLIENT_DEPRECATE_EOF,
    /** The handshake's collation: 45 is utf8mb4_general_ci, 8 latin1_swedish_ci. */
    charset = 45,
  ): Promise<{ greeting: M.InitialHandshake; answer: RawPacket }> {
    const first = await this.read();
    if (!first) throw new Error('dbtape closed before its greeting');
    const g = M.decodeInitialHandshake(first.payload);
    if (!g.ok) throw g.error;
    this.capabilities = (caps | (database ? M.CLIENT_CONNECT_WITH_DB : 0)) >>> 0;
    this.write(
      M.encodeHandshakeResponse(
        {
          capabilities: this.capabilities,
          maxPacketSize: 1 << 30,
          charset,
          mariadbCapabilities: 0,
          username: who.name,
          authResponse: M.nativePasswordScramble(who.password, g.value.scramble),
          database,
          authPluginName: 'mysql_native_password',
        },
        1,
      ),
    );
    const answer = await this.read();
    if (!answer) throw new Error('dbtape closed the connection during login');
    return { greeting: g.value, answer };
  }

  /** Send one command payload as packet(s) starting at sequence id 0. */
  command(payload: Buffer): void {
    this.write(M.framePayload(payload, 0).bytes);
  }

  /** Read one whole response with a tracker; returns its packets. */
  async response(command: number, opts: M.BeginOptions = {}): Promise<RawPacket[]> {
    const t = new M.ResponseTracker({ capabilities: this.capabilities });
    t.begin(command, opts);
    const out: RawPacket[] = [];
    while (!t.done) {
      const p = await this.read();
      if (!p) throw new Error('dbtape closed the connection in the middle of a response');
      out.push(p);
      if (t.feed(p.payload) === 'unexpected') throw t.protocolError;
    }
    return out;
  }

  close(): void {
    this.socket.destroy();
  }
}

/** The ERR packet in `p`, decoded; fails when it is not one. */
export function errOf(p: RawPacket | null): M.ErrPacket {
  if (!p) throw new Error('expected an ERR packet, the connection closed');
  const e = M.decodeErr(p.payload);
  if (!e.ok) throw new Error(`expected an ERR packet, got 0x${p.payload[0]?.toString(16)}`);
  return e.value;
}

export function queryPayload(sql: string): Buffer {
  return Buffer.concat([Buffer.from([M.COM_QUERY]), Buffer.from(sql)]);
}

/**
 * Statement texts durable in a strict-mode store but not yet moved out of its journal
 * (store/sqlite/sqlite-journal.ts), which read-only openers do not see; unencrypted stores only.
 */
export function journaledStatements(storeUrl: string): string[] {
  const db = new Database(sqlitePathFromUrl(storeUrl), { readonly: true, fileMustExist: true });
  try {
    // The journal's own reader decodes the records; without a keyring it reads clear ones only.
    return readJournaled(db, new StoreCrypto(db, null, false)).flatMap((batch) =>
      [...encodedEvents(batch)].flatMap((e) => (e.sql === null ? [] : [e.sql])),
    );
  } finally {
    db.close();
  }
}
