/**
 * dbtape running inside the test process, against the machine's PostgreSQL, plus a raw
 * socket client that speaks the protocol with hand-built bytes (for hostile-input tests).
 *
 * The config is a real dbtape.yaml in a temp folder, loaded by loadConfig, so the tests go
 * through the same validation as `dbtape serve`.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import tls from 'node:tls';
import { stringify } from 'yaml';
import { type RunningServer, startServer } from '../../src/cli/server.js';
import { loadConfig } from '../../src/config/load.js';
import { hashPassword } from '../../src/config/verifiers.js';
import type { Logger } from '../../src/model/logger.js';
import type { RecorderFactory } from '../../src/model/recorder.js';
import { ScramClient } from '../../src/protocol/postgres/scram.js';
import { withTimeout } from './wait.js';

export const ALICE = { name: 'alice', password: 'secret' } as const;
export const BOB = { name: 'bob', password: 'bob-secret' } as const;

/** Hashing costs 4096 PBKDF2 rounds; do it once per process. */
let verifiers: { alice: string; bob: string } | null = null;
function userVerifiers(): { alice: string; bob: string } {
  verifiers ??= { alice: hashPassword(ALICE.password), bob: hashPassword(BOB.password) };
  return verifiers;
}

/** A `targets[]` entry as written in dbtape.yaml. */
export type TargetYaml = Record<string, unknown> & { name: string };

/** The `users:` entries for people given as name → password and roles (verifiers made here). */
export function usersYaml(
  users: Readonly<Record<string, { readonly password: string; readonly roles: readonly string[] }>>,
) {
  return Object.entries(users).map(([name, u]) => ({
    name,
    password: hashPassword(u.password),
    roles: [...u.roles],
  }));
}

export interface InProcessOptions {
  /** Replaces the default targets (`app` → 127.0.0.1:5432 database test, user postgres, tls disable). */
  readonly targets?: readonly TargetYaml[];
  /** Keys of the `limits:` section (e.g. `{ max_message_size: 1024 }`). */
  readonly limits?: Readonly<Record<string, unknown>>;
  /** Keys of the `tls:` section (client-facing TLS: cert_file, key_file, require). */
  readonly tls?: Readonly<Record<string, unknown>>;
  /** Replaces the default roles: `app-writer` (alice's only role), write access to `app`. */
  readonly roles?: readonly Record<string, unknown>[];
  /** The whole dbtape.yaml, instead of the generated one. */
  readonly yaml?: string;
  readonly recorders?: RecorderFactory;
}

export interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly msg: string;
  readonly [key: string]: unknown;
}

export interface InProcessDbtape {
  readonly port: number;
  readonly server: RunningServer;
  /** Every log line the proxy wrote, as objects (bindings merged in). */
  readonly logs: LogLine[];
  readonly configFile: string;
  close(): Promise<void>;
}

export const DEFAULT_TARGET: TargetYaml = {
  name: 'app',
  protocol: 'postgres',
  host: '127.0.0.1',
  port: 5432,
  database: 'test',
  user: 'postgres',
  tls: 'disable',
};

export function defaultYaml(opts: InProcessOptions = {}): string {
  const v = userVerifiers();
  const doc = {
    listen: { postgres: '127.0.0.1:0' },
    limits: opts.limits ?? {},
    tls: opts.tls ?? {},
    targets: opts.targets ?? [DEFAULT_TARGET],
    users: [
      { name: ALICE.name, password: v.alice, roles: ['app-writer'] },
      { name: BOB.name, password: v.bob, roles: [] },
    ],
    roles: opts.roles ?? [{ name: 'app-writer', targets: ['app'], access: 'write' }],
  };
  return stringify(doc);
}

export async function startInProcess(opts: InProcessOptions = {}): Promise<InProcessDbtape> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-inproc-'));
  const configFile = path.join(dir, 'dbtape.yaml');
  writeFileSync(configFile, opts.yaml ?? defaultYaml(opts));
  const config = loadConfig(configFile);
  const logs: LogLine[] = [];
  const server = await startServer(config, collectingLogger(logs), { recorders: opts.recorders });
  const address = server.addresses.postgres;
  assert.ok(address, 'dbtape started without a PostgreSQL listener');
  const port = Number(address.slice(address.lastIndexOf(':') + 1));
  return {
    port,
    server,
    logs,
    configFile,
    async close() {
      await server.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A Logger that keeps every line; DBTAPE_TEST_LOG=1 also prints them, for debugging a test. */
export function collectingLogger(lines: LogLine[], bindings: Record<string, unknown> = {}): Logger {
  const write = (level: LogLine['level']) => (obj: object, msg: string) => {
    const line = { level, msg, ...bindings, ...obj };
    lines.push(line);
    if (process.env.DBTAPE_TEST_LOG) process.stderr.write(`${JSON.stringify(line)}\n`);
  };
  return {
    debug: write('debug'),
    info: write('info'),
    warn: write('warn'),
    error: write('error'),
    child: (more) => collectingLogger(lines, { ...bindings, ...more }),
  };
}

// --- raw protocol client ---------------------------------------------------------------------------

/** One backend message: its type letter and body (without the 5-byte header). */
export interface PgMessage {
  readonly type: string;
  readonly body: Buffer;
}

/** Fields of an ErrorResponse/NoticeResponse by their one-letter codes ('S', 'V', 'C', 'M', ...). */
export function errorFields(m: PgMessage): Record<string, string> {
  assert.ok(m.type === 'E' || m.type === 'N', `expected ErrorResponse or NoticeResponse, got '${m.type}'`);
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < m.body.length && m.body[pos] !== 0) {
    const end = m.body.indexOf(0, pos + 1);
    out[String.fromCharCode(m.body[pos])] = m.body.toString('utf8', pos + 1, end);
    pos = end + 1;
  }
  return out;
}

/** The Authentication request code of an 'R' message. */
export function authCode(m: PgMessage): number {
  assert.equal(m.type, 'R', `expected an Authentication message, got '${m.type}'`);
  return m.body.readInt32BE(0);
}

const READ_TIMEOUT_MS = 10_000;

export interface PgRaw {
  readonly socket: net.Socket;
  /** Write and wait until the bytes are handed to the kernel. */
  send(buf: Buffer): Promise<void>;
  /** Write one byte per write call, yielding to the event loop between them. */
  sendBytewise(buf: Buffer): Promise<void>;
  /** The next single byte (the answer to SSLRequest / GSSENCRequest). */
  readByte(): Promise<number>;
  /** The next typed message. */
  readMessage(): Promise<PgMessage>;
  /** Messages up to and including the first of type `type`. */
  readUntil(type: string): Promise<PgMessage[]>;
  /** Resolves when the peer has closed the connection; rejects after a timeout. */
  closed(): Promise<void>;
  /** Bytes received but not yet read; they are consumed. */
  rest(): Buffer;
  /** Bytes received but not yet read. */
  readonly pending: number;
  /** True once the peer closed (or the socket failed). */
  readonly isClosed: boolean;
  /** Negotiated TLS after the server answered 'S': returns a client speaking over TLS on this connection. */
  startTls(): Promise<PgRaw>;
  destroy(): void;
}

export async function pgRaw(port: number, host = '127.0.0.1'): Promise<PgRaw> {
  const socket = net.connect({ host, port });
  socket.setNoDelay(true);
  await withTimeout(
    new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    }),
    READ_TIMEOUT_MS,
    `a TCP connection to ${host}:${port}`,
  );
  return wrapSocket(socket);
}

/** A PgRaw over an already connected socket (plain or TLS). */
export function wrapSocket(socket: net.Socket): PgRaw {
  let buf: Buffer = Buffer.alloc(0);
  let ended = false;
  let wake: (() => void) | null = null;
  const notify = () => {
    const w = wake;
    wake = null;
    w?.();
  };
  const onData = (chunk: Buffer) => {
    buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
    notify();
  };
  // A reset by the peer is one way of closing; tests look at what arrived before it.
  const onError = () => {};
  const onClose = () => {
    ended = true;
    notify();
  };
  socket.on('data', onData);
  socket.on('error', onError);
  socket.on('close', onClose);

  // The deadline is for progress, not for the whole message: a test that reads a large row slowly
  // on purpose (a drip) on a loaded machine may take longer than that in all.
  const need = async (n: number, what: string): Promise<void> => {
    let deadline = Date.now() + READ_TIMEOUT_MS;
    let had = buf.length;
    while (buf.length < n) {
      if (ended) throw new Error(`connection closed while waiting for ${what} (${buf.length} of ${n} bytes)`);
      if (buf.length > had) {
        had = buf.length;
        deadline = Date.now() + READ_TIMEOUT_MS;
      }
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${what} (${buf.length} of ${n} bytes)`);
      await withTimeout(
        new Promise<void>((resolve) => {
          wake = resolve;
        }),
        left,
        what,
      );
    }
  };
  const take = (n: number): Buffer => {
    const out = buf.subarray(0, n);
    buf = buf.subarray(n);
    return out;
  };

  const raw: PgRaw = {
    socket,
    send: (b) =>
      new Promise((resolve, reject) => {
        socket.write(b, (err) => (err ? reject(err) : resolve()));
      }),
    async sendBytewise(b) {
      for (let i = 0; i < b.length; i++) {
        await raw.send(b.subarray(i, i + 1));
        // Let the proxy's read of this byte run before the next one is written.
        await new Promise((r) => setImmediate(r));
      }
    },
    async readByte() {
      await need(1, 'a one-byte answer');
      return take(1)[0];
    },
    async readMessage() {
      await need(5, 'a message header');
      const len = buf.readInt32BE(1);
      await need(1 + len, `a message of type '${String.fromCharCode(buf[0])}'`);
      const m = take(1 + len);
      return { type: String.fromCharCode(m[0]), body: m.subarray(5) };
    },
    async readUntil(type) {
      const out: PgMessage[] = [];
      for (;;) {
        const m = await raw.readMessage();
        out.push(m);
        if (m.type === type) return out;
      }
    },
    async closed() {
      if (ended) return;
      await withTimeout(
        new Promise<void>((resolve) => socket.once('close', () => resolve())),
        READ_TIMEOUT_MS,
        'the server to close the connection',
      );
    },
    rest: () => take(buf.length),
    get pending() {
      return buf.length;
    },
    get isClosed() {
      return ended;
    },
    async startTls() {
      assert.equal(buf.length, 0, 'no bytes may be pending when TLS starts');
      socket.off('data', onData);
      socket.off('error', onError);
      socket.off('close', onClose);
      const secure = tls.connect({ socket, rejectUnauthorized: false });
      await withTimeout(
        new Promise<void>((resolve, reject) => {
          secure.once('secureConnect', resolve);
          secure.once('error', reject);
        }),
        READ_TIMEOUT_MS,
        'the TLS handshake',
      );
      return wrapSocket(secure);
    },
    destroy: () => socket.destroy(),
  };
  return raw;
}

// --- hand-built frontend messages ------------------------------------------------------------------

/** An untyped startup-phase packet: int32 length (counting itself), then `payload`. */
export function untypedPacket(payload: Buffer): Buffer {
  const out = Buffer.alloc(4 + payload.length);
  out.writeInt32BE(4 + payload.length, 0);
  payload.copy(out, 4);
  return out;
}

/** A typed message with a correct length field. */
export function typedMessage(type: string, body: Buffer | string = Buffer.alloc(0)): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  const out = Buffer.alloc(5 + b.length);
  out.write(type, 0, 'latin1');
  out.writeInt32BE(4 + b.length, 1);
  b.copy(out, 5);
  return out;
}

/** A type byte and an arbitrary (possibly lying) length field, nothing else. */
export function messageHeader(type: string, length: number): Buffer {
  const out = Buffer.alloc(5);
  out.write(type, 0, 'latin1');
  out.writeUInt32BE(length >>> 0, 1);
  return out;
}

export function int32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n | 0);
  return b;
}

export function cstr(s: string): Buffer {
  return Buffer.from(`${s}\0`);
}

/** StartupMessage for protocol major.minor with the parameters in order (duplicates allowed). */
export function startupPacket(params: readonly (readonly [string, string])[], major = 3, minor = 0): Buffer {
  const parts = [int32(major * 65536 + minor)];
  for (const [k, v] of params) parts.push(cstr(k), cstr(v));
  parts.push(Buffer.from([0]));
  return untypedPacket(Buffer.concat(parts));
}

export const SSL_REQUEST = untypedPacket(int32(80877103));
export const GSSENC_REQUEST = untypedPacket(int32(80877104));

export function cancelPacket(pid: number, secret: number): Buffer {
  return untypedPacket(Buffer.concat([int32(80877102), int32(pid), int32(secret)]));
}

export function queryMessage(sql: string): Buffer {
  return typedMessage('Q', cstr(sql));
}

export function saslInitial(mechanism: string, data: Buffer, declaredLength = data.length): Buffer {
  return typedMessage('p', Buffer.concat([cstr(mechanism), int32(declaredLength), data]));
}

// --- SCRAM login with hand-built bytes -------------------------------------------------------------

export interface LoginOptions {
  readonly user?: string;
  readonly password?: string;
  readonly database?: string;
  readonly params?: readonly (readonly [string, string])[];
  /** Write every byte the client sends in its own write. */
  readonly bytewise?: boolean;
  /** Sent instead of the StartupMessage built from the fields above (already negotiated SSL/GSS etc.). */
  readonly startup?: Buffer;
}

export interface LoginResult {
  /** Everything received after the StartupMessage, in order, up to the first ReadyForQuery or error. */
  readonly messages: PgMessage[];
  /** The ErrorResponse that ended the login, if one did. */
  readonly error: Record<string, string> | null;
  readonly backendKey: { pid: number; secret: number } | null;
}

/**
 * Log in as a real client would, with each message built by hand: StartupMessage, then
 * SASLInitialResponse / SASLResponse from ScramClient, checking the server's signature.
 * Stops at ReadyForQuery (success) or at an ErrorResponse (refusal).
 */
export async function scramLogin(raw: PgRaw, opts: LoginOptions = {}): Promise<LoginResult> {
  const user = opts.user ?? ALICE.name;
  const send = (b: Buffer) => (opts.bytewise ? raw.sendBytewise(b) : raw.send(b));
  const startup =
    opts.startup ??
    startupPacket([['user', user], ['database', opts.database ?? 'app'], ...(opts.params ?? [])]);
  await send(startup);
  const messages: PgMessage[] = [];
  const next = async (): Promise<PgMessage> => {
    const m = await raw.readMessage();
    messages.push(m);
    return m;
  };
  const done = (m: PgMessage): LoginResult => ({ messages, error: errorFields(m), backendKey: null });

  let m = await next();
  while (m.type === 'v') m = await next(); // NegotiateProtocolVersion comes before authentication
  if (m.type === 'E') return done(m);
  assert.equal(authCode(m), 10, 'expected AuthenticationSASL');
  const scram = new ScramClient(opts.password ?? ALICE.password);
  await send(saslInitial('SCRAM-SHA-256', scram.clientFirst()));
  m = await next();
  if (m.type === 'E') return done(m);
  assert.equal(authCode(m), 11, 'expected AuthenticationSASLContinue');
  await send(typedMessage('p', scram.serverFirst(m.body.subarray(4))));
  m = await next();
  if (m.type === 'E') return done(m);
  assert.equal(authCode(m), 12, 'expected AuthenticationSASLFinal');
  scram.serverFinal(m.body.subarray(4));
  let backendKey: LoginResult['backendKey'] = null;
  for (;;) {
    m = await next();
    if (m.type === 'E') return done(m);
    if (m.type === 'K') backendKey = { pid: m.body.readInt32BE(0), secret: m.body.readInt32BE(4) };
    if (m.type === 'Z') return { messages, error: null, backendKey };
  }
}

/** Open a raw connection and log in as alice to `app`; fails the test if the login is refused. */
export async function loggedIn(port: number, opts: LoginOptions = {}): Promise<PgRaw> {
  const raw = await pgRaw(port);
  const r = await scramLogin(raw, opts);
  if (r.error) {
    raw.destroy();
    assert.fail(`login refused: ${r.error.C} ${r.error.M}`);
  }
  return raw;
}

/** Send a simple query and return its messages up to ReadyForQuery. */
export async function simpleQuery(raw: PgRaw, sql: string): Promise<PgMessage[]> {
  await raw.send(queryMessage(sql));
  return raw.readUntil('Z');
}

/** The text values of the DataRows among `messages`. */
export function dataRows(messages: readonly PgMessage[]): (string | null)[][] {
  return dataRowBuffers(messages).map((row) => row.map((v) => (v === null ? null : v.toString('utf8'))));
}

/** The raw values of the DataRows among `messages` (views; null for SQL NULL). */
export function dataRowBuffers(messages: readonly PgMessage[]): (Buffer | null)[][] {
  return messages
    .filter((m) => m.type === 'D')
    .map((m) => {
      const n = m.body.readInt16BE(0);
      const values: (Buffer | null)[] = [];
      let pos = 2;
      for (let i = 0; i < n; i++) {
        const len = m.body.readInt32BE(pos);
        pos += 4;
        values.push(len < 0 ? null : m.body.subarray(pos, pos + len));
        if (len > 0) pos += len;
      }
      return values;
    });
}
