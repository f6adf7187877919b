// Seeded random input against both of dbtape's listeners, in front of the machine's PostgreSQL and
// MariaDB: garbage and mutated startup / handshake bytes before authentication, and after a good
// login, sequences of valid messages with random mutations (type bytes, length fields, truncated
// bodies, random bytes, reordering), each sent in random chunks. The hostile suites pin the cases
// someone thought of; this one looks for the ones nobody did. Whatever a client sends, it must get
// well-framed output (an error, a clean close, or answers) within seconds; the process must see no
// uncaught exception; the sessions alongside (a bystander per protocol and instance, and the fuzz
// sessions that sent valid input) must keep working; and the recorder must lose nothing.
//
// Three instances, each with a PostgreSQL and a MySQL listener: one records (sessions with and
// without an access policy), one does not (a policy-checked session, and a bare pass-through), and
// one records in `durability: strict` (its statements wait for their records, through a gate of their
// own), where the checked role also masks a column and scans every value for e-mail addresses.
// A failure names its seed and case: DBTAPE_FUZZ_SEED=<seed> replays the run, and
// DBTAPE_FUZZ_CASE=<case> (e.g. pg-session#17) runs that one case alone.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type mysql from 'mysql2/promise';
import pg from 'pg';
import { stringify } from 'yaml';
import * as M from '../../src/protocol/mysql/index.js';
import { ScramClient } from '../../src/protocol/postgres/scram.js';
import { openStore } from '../../src/store/open-store.js';
import {
  cancelPacket,
  cstr,
  DEFAULT_TARGET,
  GSSENC_REQUEST,
  type InProcessDbtape,
  int32,
  loggedIn,
  type PgMessage,
  type PgRaw,
  pgRaw,
  queryMessage,
  SSL_REQUEST,
  saslInitial,
  startInProcess,
  startupPacket,
  typedMessage,
  usersYaml,
} from '../support/inproc-dbtape.js';
import { connectMysql2, machineTarget } from '../support/mysql-fixtures.js';
import { mulberry32, type Rng } from '../support/random.js';
import { bindMsg, describeMsg, executeMsg, parseMsg, SYNC_MSG } from '../support/recording-fixtures.js';
import { requireMachineMariaDb, requireMachinePg } from '../support/servers.js';
import { waitFor, withTimeout } from '../support/wait.js';

const SEED = seedFromEnv();
const ONLY = process.env.DBTAPE_FUZZ_CASE ?? null;
/** Cases per kind: sized so the file takes well under a minute on a loaded 2-core machine. */
const CASES = { pgStartup: 60, pgSession: 120, myHandshake: 60, mySession: 120 } as const;
/** Cases in flight at once: they are also each other's neighbours. */
const CONCURRENCY = 6;
/** The bystanders answer a query after every this many cases. */
const BATCH = 24;
/** After the client's FIN (or its Terminate / COM_QUIT), the proxy must have closed within this. */
const CLOSE_MS = 3000;
/** A mutated session whose probe has no answer by then is ended by the client. */
const SETTLE_MS = 700;
/** A session that sent only valid input must answer its probe within this. */
const ANSWER_MS = 8000;
const AUTH_TIMEOUT_MS = 2000;
const MAX_MESSAGE = 64 * 1024;
const APP_NAME = `dbtape-fuzz-${process.pid}`;
const APP: readonly (readonly [string, string])[] = [['application_name', APP_NAME]];

const USERS = {
  /** Write access, no rules: recorded, nothing checked. */
  alice: { password: 'alice-fuzz-pw', roles: ['writer'] },
  /** Read access with rules: every statement checked, results capped. */
  reader: { password: 'reader-fuzz-pw', roles: ['reader'] },
  /** Admin access: on the unrecorded instance, the bare pass-through. */
  owner: { password: 'owner-fuzz-pw', roles: ['owner'] },
  /** The bystanders: a user of their own, so no fuzz session may KILL them. */
  watcher: { password: 'watcher-fuzz-pw', roles: ['writer'] },
} as const;
type UserName = keyof typeof USERS;
const WATCHER = { name: 'watcher', password: USERS.watcher.password } as const;
const SECRET_TABLE = 'fz_secret';

function seedFromEnv(): number {
  const v = process.env.DBTAPE_FUZZ_SEED;
  if (v === undefined || v === '') return 20261201;
  const n = Number(v);
  if (!Number.isSafeInteger(n))
    throw new Error(`DBTAPE_FUZZ_SEED must be an integer, got ${JSON.stringify(v)}`);
  return n >>> 0;
}

/** Each case draws from its own generator, so one case replays the same whatever runs beside it. */
function caseRng(kind: string, index: number): Rng {
  let h = SEED ^ 0x9e3779b9;
  for (const c of `${kind}#${index}`) h = Math.imul(h ^ c.charCodeAt(0), 0x01000193);
  return mulberry32(h >>> 0);
}

const int = (rng: Rng, n: number): number => Math.floor(rng() * n);
const pick = <T>(rng: Rng, items: readonly T[]): T => items[int(rng, items.length)];
const randomBytes = (rng: Rng, n: number): Buffer =>
  Buffer.from(Array.from({ length: n }, () => int(rng, 256)));

// --- the proxies and the bystanders ----------------------------------------------------------------

interface Instance {
  readonly name: string;
  /** Where it records; null: it does not. */
  readonly store: string | null;
  readonly dbtape: InProcessDbtape;
  readonly pgPort: number;
  readonly myPort: number;
  readonly pgBystander: pg.Client;
  readonly myBystander: mysql.Connection;
}

let storeDir: string;
let recorded: Instance;
let unrecorded: Instance;
let strict: Instance;
const instances = (): Instance[] => [recorded, unrecorded, strict].filter((i) => i !== undefined);
/** Every bystander statement run on a recording instance (by name): its store must hold each one. */
const bystanderMarkers = new Map<string, string[]>();
/** Sessions the fuzz cases logged in on a recording instance (by name): its store must hold at least these. */
const logins = new Map<string, number>();
function loggedInOn(inst: Instance): void {
  if (inst.store !== null) logins.set(inst.name, (logins.get(inst.name) ?? 0) + 1);
}

/** Exceptions nobody caught while the suite ran: any one means the proxy could have crashed. */
const uncaught: unknown[] = [];
const onUncaught = (err: unknown) => uncaught.push(err);

function configYaml(name: string, mode: 'fast' | 'strict' | 'off'): string {
  const readerMasking = mode === 'strict' ? { masking: { columns: ['pad'], detectors: ['email'] } } : {};
  return stringify({
    listen: { postgres: '127.0.0.1:0', mysql: '127.0.0.1:0' },
    store: {
      url: `sqlite:${path.join(storeDir, `${name}.db`)}`,
      record: mode !== 'off',
      durability: mode === 'strict' ? 'strict' : 'fast',
      capture_results: 'rows',
      max_rows: 20,
    },
    limits: { max_message_size: MAX_MESSAGE, auth_timeout: `${AUTH_TIMEOUT_MS}ms` },
    targets: [DEFAULT_TARGET, machineTarget('my')],
    users: usersYaml(USERS),
    roles: [
      { name: 'writer', targets: ['app', 'my'], access: 'write' },
      {
        name: 'reader',
        targets: ['app', 'my'],
        access: 'read',
        rules: { max_rows: 5, deny_tables: [`public.${SECRET_TABLE}`, `test.${SECRET_TABLE}`] },
        ...readerMasking,
      },
      { name: 'owner', targets: ['app', 'my'], access: 'admin' },
    ],
  });
}

async function startInstance(name: string, mode: 'fast' | 'strict' | 'off'): Promise<Instance> {
  const dbtape = await startInProcess({ yaml: configYaml(name, mode) });
  const address = dbtape.server.addresses.mysql;
  assert.ok(address, 'dbtape started without a MySQL listener');
  const myPort = Number(address.slice(address.lastIndexOf(':') + 1));
  const pgBystander = new pg.Client({
    host: '127.0.0.1',
    port: dbtape.port,
    user: 'watcher',
    password: USERS.watcher.password,
    database: 'app',
  });
  await pgBystander.connect();
  const myBystander = await connectMysql2({ host: '127.0.0.1', port: myPort }, { database: 'my' }, WATCHER);
  const store = mode === 'off' ? null : path.join(storeDir, `${name}.db`);
  return { name, store, dbtape, pgPort: dbtape.port, myPort, pgBystander, myBystander };
}

before(async () => {
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  await requireMachinePg();
  await requireMachineMariaDb();
  console.log(`wire fuzz: seed ${SEED} (replay with DBTAPE_FUZZ_SEED=${SEED})`);
  storeDir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-fuzz-'));
  recorded = await startInstance('recorded', 'fast');
  unrecorded = await startInstance('unrecorded', 'off');
  strict = await startInstance('strict', 'strict');
  await bystandersAnswer();
});

after(async () => {
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
  for (const inst of instances()) {
    await inst.pgBystander.end().catch(() => {});
    await inst.myBystander.end().catch(() => {});
    await inst.dbtape.close();
  }
  if (storeDir) rmSync(storeDir, { recursive: true, force: true });
});

let bystanderRound = 0;
async function bystandersAnswer(): Promise<void> {
  bystanderRound++;
  for (const inst of instances()) {
    const marker = `fz-bystander-${SEED}-${inst.name}-${bystanderRound}`;
    const r = await inst.pgBystander.query(`SELECT '${marker}-pg' AS m`);
    assert.deepEqual(
      r.rows,
      [{ m: `${marker}-pg` }],
      `seed ${SEED}: the PostgreSQL bystander (${inst.name})`,
    );
    const [rows] = await inst.myBystander.query(`SELECT '${marker}-my' AS m`);
    assert.deepEqual(rows, [{ m: `${marker}-my` }], `seed ${SEED}: the MySQL bystander (${inst.name})`);
    if (inst.store !== null)
      bystanderMarkers.set(inst.name, [
        ...(bystanderMarkers.get(inst.name) ?? []),
        `${marker}-pg`,
        `${marker}-my`,
      ]);
  }
}

// --- running cases ---------------------------------------------------------------------------------

interface CaseContext {
  readonly label: string;
  readonly rng: Rng;
  /** What the case did, for the failure message. */
  readonly notes: string[];
  /** How it ended, counted per kind and printed: shows the cases reach where they should. */
  outcome: string;
}

/**
 * Runs `count` cases of `kind`, CONCURRENCY at a time, the bystanders answering after each batch.
 * Every case's failure is collected; the test fails listing them (seed, case, what it sent).
 */
async function runCases(kind: string, count: number, one: (c: CaseContext) => Promise<void>): Promise<void> {
  const failures: string[] = [];
  const outcomes = new Map<string, number>();
  const indexes = Array.from({ length: count }, (_, i) => i).filter((i) => !ONLY || ONLY === `${kind}#${i}`);
  for (let start = 0; start < indexes.length; start += BATCH) {
    const batch = indexes.slice(start, start + BATCH);
    let next = 0;
    const worker = async () => {
      while (next < batch.length) {
        const i = batch[next++];
        const c: CaseContext = { label: `${kind}#${i}`, rng: caseRng(kind, i), notes: [], outcome: '?' };
        try {
          // A case that never ends is a failure of its own, not a hang of the file.
          await withTimeout(one(c), 30_000, `case ${c.label}`);
          outcomes.set(c.outcome, (outcomes.get(c.outcome) ?? 0) + 1);
        } catch (err) {
          failures.push(
            `seed ${SEED} case ${c.label} [${c.notes.join('; ')}] (${c.outcome}): ${err instanceof Error ? err.message : String(err)}`,
          );
        }
      }
    };
    await Promise.all(Array.from({ length: CONCURRENCY }, worker));
    await bystandersAnswer();
  }
  const summary = [...outcomes].sort((a, b) => b[1] - a[1]).map(([o, n]) => `${n} ${o}`);
  console.log(`wire fuzz: ${kind}: ${summary.join(', ')}`);
  assert.equal(
    failures.length,
    0,
    `${failures.length} failing case(s):\n${failures.slice(0, 15).join('\n')}`,
  );
}

/** Bytes a raw connection received, gathered from PgRaw (its socket plumbing serves MySQL too). */
class Inbox {
  bytes: Buffer = Buffer.alloc(0);
  /** The client ended the connection (FIN, Terminate, COM_QUIT) before the proxy closed it. */
  clientHungUp = false;
  /** As the proxy logs the client (the socket forgets its address once closed). */
  readonly client: string;
  constructor(readonly raw: PgRaw) {
    this.client = `127.0.0.1:${raw.socket.localPort}`;
  }

  /** Everything received so far. */
  take(): Buffer {
    const more = this.raw.rest();
    if (more.length > 0) this.bytes = Buffer.concat([this.bytes, more]);
    return this.bytes;
  }

  /** A message already read off the connection (by scramLogin or readMessage), kept in order. */
  keep(m: PgMessage): void {
    this.bytes = Buffer.concat([this.bytes, typedMessage(m.type, m.body)]);
  }

  /** Until `ready(bytes)` holds or the peer closes or `ms` pass; whether `ready` held. */
  async until(ms: number, ready: (b: Buffer) => boolean): Promise<boolean> {
    const deadline = Date.now() + ms;
    for (;;) {
      if (ready(this.take())) return true;
      if (this.raw.isClosed || Date.now() >= deadline) return ready(this.take());
      // Poll interval of the wait, not a wait for the event itself.
      await new Promise((r) => setTimeout(r, 10));
    }
  }

  /**
   * Ends the case, with a FIN when `fin` (else the client said goodbye: Terminate, COM_QUIT); the
   * proxy must then have closed the connection within CLOSE_MS. Returns everything received.
   */
  async close(c: CaseContext, fin: boolean): Promise<Buffer> {
    const how = this.raw.isClosed ? 'closed by dbtape' : fin ? 'closed on FIN' : 'closed on Terminate/QUIT';
    this.clientHungUp = !this.raw.isClosed;
    c.outcome = c.outcome === '?' ? how : `${c.outcome}, ${how}`;
    if (fin && !this.raw.isClosed) {
      c.notes.push('client FIN');
      this.raw.socket.end();
    }
    await this.until(CLOSE_MS, () => this.raw.isClosed);
    if (!this.raw.isClosed) {
      this.raw.destroy();
      assert.fail(`the proxy did not close the connection within ${CLOSE_MS} ms`);
    }
    return this.take();
  }
}

/** Writes `bytes` in random pieces, yielding (sometimes for a few ms) between them; stops at a close. */
async function sendInChunks(
  raw: PgRaw,
  bytes: Buffer,
  c: CaseContext,
  messages: readonly Buffer[] = [],
): Promise<void> {
  const rng = c.rng;
  const cuts = new Set<number>();
  const mode = rng();
  if (mode < 0.1 && bytes.length <= 600) for (let i = 1; i < bytes.length; i++) cuts.add(i);
  else if (mode < 0.45 && messages.length > 1) {
    // Where the messages ended before mutation: roughly one write per message.
    let end = 0;
    for (const m of messages) {
      end += m.length;
      if (end < bytes.length) cuts.add(end);
    }
  } else for (let k = int(rng, 8); k > 0; k--) cuts.add(1 + int(rng, Math.max(1, bytes.length - 1)));
  const points = [0, ...[...cuts].sort((a, b) => a - b), bytes.length];
  c.notes.push(`${points.length - 1} write(s)`);
  for (let i = 0; i + 1 < points.length; i++) {
    if (raw.isClosed) return;
    try {
      await raw.send(bytes.subarray(points[i], points[i + 1]));
    } catch {
      return; // the proxy closed; what it sent before is checked
    }
    // Often long enough for the answer to what went before to be on its way when the next bytes come.
    const r = rng();
    const ms = r < 0.15 ? 5 + int(rng, 30) : r < 0.55 ? 1 + int(rng, 5) : -1;
    await new Promise((done) => (ms < 0 ? setImmediate(done) : setTimeout(done, ms)));
  }
}

/** Where a protocol's message keeps its type byte and its length field. */
interface Framing {
  readonly typeAt: number;
  readonly lengthAt: number;
  /** 4: PostgreSQL's int32 (counting itself); 3: MySQL's int<3> (payload only). */
  readonly lengthSize: 3 | 4;
  /** Type bytes worth trying besides random ones. */
  readonly types: readonly number[];
}

/** Structural mutations of a message list, then byte-level ones of the whole; notes say what. */
function mutate(rng: Rng, messages: Buffer[], notes: string[], f: Framing): Buffer {
  const m = messages.map((b) => Buffer.from(b));
  const byteOps: string[] = [];
  for (let n = 1 + int(rng, 3); n > 0 && m.length > 0; n--) {
    const i = int(rng, m.length);
    const op = pick(rng, [
      'type',
      'length',
      'length',
      'truncate',
      'drop',
      'dup',
      'swap',
      'flip',
      'insert',
      'tail',
      'cut',
    ]);
    switch (op) {
      case 'type': {
        if (m[i].length <= f.typeAt) break;
        const t = rng() < 0.5 ? int(rng, 256) : pick(rng, f.types);
        notes.push(`message ${i} type 0x${m[i][f.typeAt].toString(16)} → 0x${t.toString(16)}`);
        m[i][f.typeAt] = t;
        break;
      }
      case 'length': {
        if (m[i].length < f.lengthAt + f.lengthSize) break;
        const real = f.lengthSize === 4 ? m[i].length - f.lengthAt : m[i].length - 4;
        const max = f.lengthSize === 4 ? 0xffff_ffff : 0xff_ffff;
        const v = pick(rng, [
          0,
          1,
          3,
          4,
          real - 1,
          real + 1,
          real + 1 + int(rng, 64),
          MAX_MESSAGE + 5,
          0x7fff_ffff,
          0x8000_0000,
          max,
          int(rng, 0x10_0000),
        ]);
        const value = Math.max(0, Math.min(max, v));
        notes.push(`message ${i} length ${real} → ${value}`);
        if (f.lengthSize === 4) m[i].writeUInt32BE(value >>> 0, f.lengthAt);
        else m[i].writeUIntLE(value, f.lengthAt, 3);
        break;
      }
      case 'truncate': {
        const keep = int(rng, m[i].length);
        notes.push(`message ${i} cut to ${keep} of ${m[i].length} bytes`);
        m[i] = m[i].subarray(0, keep);
        break;
      }
      case 'drop':
        notes.push(`message ${i} dropped`);
        m.splice(i, 1);
        break;
      case 'dup':
        notes.push(`message ${i} sent twice`);
        m.splice(i, 0, Buffer.from(m[i]));
        break;
      case 'swap': {
        const j = int(rng, m.length);
        notes.push(`messages ${i} and ${j} swapped`);
        [m[i], m[j]] = [m[j], m[i]];
        break;
      }
      default:
        byteOps.push(op);
    }
  }
  let bytes = Buffer.concat(m);
  for (const op of byteOps) {
    if (bytes.length === 0) break;
    const at = int(rng, bytes.length);
    if (op === 'flip') {
      const bit = 1 << int(rng, 8);
      notes.push(`byte ${at} ^ 0x${bit.toString(16)}`);
      bytes[at] ^= bit;
    } else if (op === 'insert' || op === 'tail') {
      // At the end, garbage comes last, often while the answers to what went before stream back.
      const where = op === 'tail' ? bytes.length : at;
      const junk = randomBytes(rng, 1 + int(rng, 24));
      notes.push(`${junk.length} random bytes at ${where}`);
      bytes = Buffer.concat([bytes.subarray(0, where), junk, bytes.subarray(where)]);
    } else {
      notes.push(`stream cut at ${at} of ${bytes.length}`);
      bytes = bytes.subarray(0, at);
    }
  }
  return bytes;
}

/** StartupMessage, SSLRequest, CancelRequest: no type byte; the protocol code's first byte stands in. */
const PG_UNTYPED: Framing = {
  typeAt: 4,
  lengthAt: 0,
  lengthSize: 4,
  types: [0, 3, 4, 0x04, 0x12, 0x16, 0x80],
};
/** Typed messages; besides random types: SASL, Terminate, NUL, backend-only, copy, Query, Parse. */
const PG_TYPED: Framing = {
  typeAt: 0,
  lengthAt: 1,
  lengthSize: 4,
  types: [0x70, 0x58, 0, 0x5a, 0x52, 0x64, 0x63, 0x66, 0x51, 0x50, 0x42, 0x45, 0x53],
};
/** MySQL packets; the type is the command byte (or a login packet's first byte). */
const MY_PACKET: Framing = {
  typeAt: 4,
  lengthAt: 0,
  lengthSize: 3,
  types: [0x00, 0x01, 0x02, 0x03, 0x0e, 0x11, 0x16, 0x17, 0x18, 0x19, 0x1a, 0x1c, 0x1f, 0xfe, 0xff],
};

// --- PostgreSQL: framing checks --------------------------------------------------------------------

/** Backend message types (PostgreSQL "Message Formats"). */
const PG_BACKEND = new Set([...'RKSZTDCEN123ntsIGHWdcAVv'].map((ch) => ch.charCodeAt(0)));

/** The whole messages at the start of `buf`, and what follows them. */
function pgMessages(buf: Buffer): { messages: PgMessage[]; rest: Buffer } {
  const messages: PgMessage[] = [];
  let pos = 0;
  while (pos + 5 <= buf.length) {
    const len = buf.readInt32BE(pos + 1);
    if (len < 4 || pos + 1 + len > buf.length) break;
    messages.push({ type: String.fromCharCode(buf[pos]), body: buf.subarray(pos + 5, pos + 1 + len) });
    pos += 1 + len;
  }
  return { messages, rest: buf.subarray(pos) };
}

/** The fields of an ErrorResponse/NoticeResponse, or a description of what is wrong with it. */
function pgFields(body: Buffer): Record<string, string> | string {
  const out: Record<string, string> = {};
  let pos = 0;
  while (pos < body.length && body[pos] !== 0) {
    const end = body.indexOf(0, pos + 1);
    if (end < 0) return 'a field without its NUL';
    out[String.fromCharCode(body[pos])] = body.toString('utf8', pos + 1, end);
    pos = end + 1;
  }
  if (pos !== body.length - 1) return 'no terminating NUL after the fields';
  if (!out.S || !out.M || !/^[0-9A-Z]{5}$/.test(out.C ?? ''))
    return `missing S, M or C: ${JSON.stringify(out)}`;
  return out;
}

/**
 * Everything the proxy sent on a closed connection must be whole backend messages (but see
 * `cutShort`), errors must be well formed, and nothing may follow a FATAL error. `preAuth`: leading
 * 'N' bytes are the answers to SSLRequest / GSSENCRequest (dbtape sends no NoticeResponse before
 * authentication).
 */
function checkPgOutput(buf: Buffer, preAuth: boolean, cutShort = false): PgMessage[] {
  let from = 0;
  while (preAuth && from < 2 && buf[from] === 0x4e) from++;
  const { messages, rest } = pgMessages(buf.subarray(from));
  let fatal = false;
  for (const [i, m] of messages.entries()) {
    const t = m.type.charCodeAt(0);
    assert.ok(PG_BACKEND.has(t), `message ${i} has type 0x${t.toString(16)}, no backend message type`);
    assert.ok(!fatal, `message ${i} ('${m.type}') follows a FATAL error`);
    if (m.type === 'E' || m.type === 'N') {
      const f = pgFields(m.body);
      assert.ok(
        typeof f !== 'string',
        `malformed ${m.type === 'E' ? 'ErrorResponse' : 'NoticeResponse'}: ${f}`,
      );
      if (m.type === 'E' && (f.S === 'FATAL' || f.S === 'PANIC')) fatal = true;
    }
    if (m.type === 'Z') assert.ok(m.body.length === 1 && 'ITE'.includes(String.fromCharCode(m.body[0])));
  }
  if (cutShort && rest.length >= 5) {
    assert.ok(PG_BACKEND.has(rest[0]) && rest.readInt32BE(1) >= 4, 'the message cut short has a good header');
  }
  assertWhole(rest, cutShort, 'message');
  return messages;
}

/**
 * Bytes after the last whole message or packet: none, unless the session ended for a reason not
 * dbtape's (`cutShort`), and never one of dbtape's own errors cut or wrapped into another message.
 */
function assertWhole(rest: Buffer, cutShort: boolean, what: string): void {
  const shown = rest.subarray(0, 32).toString('hex');
  if (cutShort)
    assert.ok(!rest.includes('dbtape:'), `dbtape's own error inside the ${what} cut short: ${shown}`);
  else
    assert.equal(
      rest.length,
      0,
      `the connection closed after ${rest.length} byte(s) that are no whole ${what}: ${shown}`,
    );
}

/**
 * Whether the session could end inside a server message, dbtape forwarding what it had: when the
 * client hung up first (its FIN, or Terminate / COM_QUIT with the server then closing), or the server
 * went away (a server that closes with input unread resets the connection, and what it sent last may
 * be lost on the way). Any other ending is dbtape's, which must leave whole messages.
 */
function mayEndCutShort(inst: Instance, inbox: Inbox): boolean {
  if (inbox.clientHungUp) return true;
  const logs = inst.dbtape.logs;
  const started = [...logs].reverse().find((l) => l.msg === 'session started' && l.client === inbox.client);
  const ended = started && logs.find((l) => l.msg === 'session ended' && l.session === started.session);
  return ['client_closed', 'upstream_lost', 'upstream_closed'].includes(String(ended?.reason));
}

function pgOutcome(c: CaseContext, messages: readonly PgMessage[]): void {
  const errors = messages
    .filter((m) => m.type === 'E')
    .map((m) => pgFields(m.body) as Record<string, string>);
  const fatal = errors.find((f) => f.S === 'FATAL');
  const rows = messages.some((m) => m.type === 'D') ? ', after rows' : '';
  if (fatal) c.outcome += ` (FATAL ${fatal.C}${fatal.M.startsWith('dbtape') ? ' from dbtape' : ''}${rows})`;
  else if (errors.length > 0) c.outcome += ' (errors)';
}

// --- PostgreSQL: before authentication -------------------------------------------------------------

const PG_LOGINS = [
  { user: 'alice', password: USERS.alice.password },
  { user: 'reader', password: 'not-the-password' },
  { user: 'nobody', password: 'guess' },
] as const;

function pgStartup(rng: Rng, user: string): Buffer {
  const params: (readonly [string, string])[] = [
    ['user', user],
    ['database', pick(rng, ['app', 'my', 'nosuch', ''])],
    ...APP,
  ];
  if (rng() < 0.3)
    params.push(
      pick(rng, [
        ['options', '-c work_mem=1MB'],
        ['replication', 'database'],
        ['_pq_.fz', 'on'],
      ]),
    );
  return startupPacket(params, 3, rng() < 0.2 ? 2 : 0);
}

async function pgStartupCase(c: CaseContext): Promise<void> {
  const rng = c.rng;
  const raw = await pgRaw(recordedOrNot(rng).pgPort);
  const inbox = new Inbox(raw);
  try {
    const login = pick(rng, PG_LOGINS);
    const kind = pick(rng, ['garbage', 'startup', 'startup', 'request', 'sasl-first', 'sasl-final']);
    c.notes.push(kind, `as ${login.user}`);
    let bytes: Buffer;
    if (kind === 'garbage') {
      bytes = randomBytes(rng, 1 + int(rng, 300));
    } else if (kind === 'startup') {
      bytes = mutate(rng, [pgStartup(rng, login.user)], c.notes, PG_UNTYPED);
    } else if (kind === 'request') {
      const request = pick(rng, [
        SSL_REQUEST,
        GSSENC_REQUEST,
        cancelPacket(int(rng, 2 ** 31), int(rng, 2 ** 31)),
      ]);
      const parts = rng() < 0.5 ? [request, pgStartup(rng, login.user)] : [request];
      bytes = mutate(rng, parts, c.notes, PG_UNTYPED);
    } else {
      // An honest start up to the SASL message that is mutated.
      await raw.send(startupPacket([['user', login.user], ['database', 'app'], ...APP]));
      const sasl = await raw.readMessage();
      inbox.keep(sasl);
      const scram = new ScramClient(login.password);
      let message = saslInitial('SCRAM-SHA-256', scram.clientFirst());
      if (kind === 'sasl-final') {
        await raw.send(message);
        const cont = await raw.readMessage();
        inbox.keep(cont);
        message = typedMessage('p', scram.serverFirst(cont.body.subarray(4)));
      }
      bytes = mutate(rng, [message], c.notes, PG_TYPED);
    }
    await sendInChunks(raw, bytes, c);
    // Half the time the client waits: the proxy must end a stalled login itself (auth_timeout). A
    // mutation that left the exchange valid logs in (ReadyForQuery); that session is the client's to end.
    const fin = rng() < 0.5;
    const ready = (b: Buffer) => pgMessages(b).messages.some((m) => m.type === 'Z');
    const session = await inbox.until(fin ? 300 : AUTH_TIMEOUT_MS + CLOSE_MS, ready);
    pgOutcome(c, checkPgOutput(await inbox.close(c, fin || session), true));
  } finally {
    raw.destroy();
  }
}

function recordedOrNot(rng: Rng): Instance {
  return rng() < 0.5 ? recorded : unrecorded;
}

// --- PostgreSQL: after authentication --------------------------------------------------------------

interface Variant {
  readonly name: string;
  readonly instance: () => Instance;
  readonly user: UserName;
}

const VARIANTS: readonly Variant[] = [
  { name: 'recorded', instance: () => recorded, user: 'alice' },
  { name: 'recorded+policy', instance: () => recorded, user: 'reader' },
  { name: 'policy only', instance: () => unrecorded, user: 'reader' },
  { name: 'pass-through', instance: () => unrecorded, user: 'owner' },
  { name: 'strict', instance: () => strict, user: 'alice' },
  { name: 'strict+policy+masking', instance: () => strict, user: 'reader' },
];

/** Statements for the simple protocol: results of every size (some past max_rows), errors, denials. */
const PG_SQL = [
  'SELECT 1',
  "SELECT g, repeat('x', 40) AS pad FROM generate_series(1, 20000) g",
  'SELECT g FROM generate_series(1, 30) g',
  'SELECT 1; SELECT 2',
  '',
  'SELEC 1',
  'SELECT 1/0',
  'BEGIN',
  'COMMIT',
  'ROLLBACK',
  'SHOW server_version',
  `SELECT * FROM ${SECRET_TABLE}`,
  'CREATE TEMP TABLE IF NOT EXISTS fz_t (a int)',
  'INSERT INTO fz_t VALUES (1)',
  'DELETE FROM fz_t',
  'COPY (SELECT g FROM generate_series(1, 200) g) TO STDOUT',
  'LISTEN fz_channel',
  "NOTIFY fz_channel, 'x'",
];

/** Results of ~1 MB: streamed over many reads while whatever the client sends next arrives. */
const PG_BIG = [
  "SELECT g, repeat('x', 40) AS pad FROM generate_series(1, 20000) g",
  "COPY (SELECT g, repeat('y', 60) FROM generate_series(1, 20000) g) TO STDOUT",
];

/** Statements for Parse, with their parameters. */
const PG_EXTENDED: readonly (readonly [string, readonly number[], readonly string[]])[] = [
  ['SELECT $1::int + g FROM generate_series(1, 400) g', [23], ['7']],
  ['SELECT $1::text AS v', [], ['fz']],
  ['SELECT 1', [], []],
  ["SELECT g, repeat('y', 30) FROM generate_series(1, $1::int) g", [], ['20000']],
  [`SELECT * FROM ${SECRET_TABLE} WHERE 1 = $1`, [], ['1']],
];

/** int4pl(a, b) by FunctionCall, binary arguments. */
function functionCall(a: number, b: number): Buffer {
  const i16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
  return typedMessage(
    'F',
    Buffer.concat([int32(177), i16(1), i16(1), i16(2), int32(4), int32(a), int32(4), int32(b), i16(0)]),
  );
}

/** A sequence of valid frontend messages; `terminate`: it may end the session. */
function pgSequence(rng: Rng, terminate: boolean): { messages: Buffer[]; names: string[] } {
  const messages: Buffer[] = [];
  const names: string[] = [];
  for (let n = 1 + int(rng, 6); n > 0; n--) {
    const unit = pick(rng, [
      'query',
      'query',
      'big',
      'big',
      'extended',
      'extended',
      'describe',
      'close',
      'flush',
      'fcall',
      'copy-in',
      'stray-copy',
      'terminate',
    ]);
    if (unit === 'terminate' && !terminate) continue;
    names.push(unit);
    const stmt = pick(rng, ['', 's1', 's2']);
    const portal = pick(rng, ['', 'p1']);
    switch (unit) {
      case 'query':
        messages.push(queryMessage(pick(rng, PG_SQL)));
        break;
      case 'big':
        messages.push(queryMessage(pick(rng, PG_BIG)));
        break;
      case 'extended': {
        const [sql, oids, params] = pick(rng, PG_EXTENDED);
        const maxRows = pick(rng, [0, 0, 3]);
        messages.push(
          parseMsg(stmt, sql, oids),
          bindMsg(
            portal,
            stmt,
            params.map((p) => Buffer.from(p)),
          ),
        );
        if (rng() < 0.5) messages.push(describeMsg('P', portal));
        messages.push(executeMsg(portal, maxRows));
        if (maxRows > 0) messages.push(executeMsg(portal, maxRows));
        messages.push(SYNC_MSG);
        break;
      }
      case 'describe':
        messages.push(parseMsg(stmt, pick(rng, PG_EXTENDED)[0]), describeMsg('S', stmt), SYNC_MSG);
        break;
      case 'close':
        messages.push(
          typedMessage('C', Buffer.concat([Buffer.from(pick(rng, ['S', 'P'])), cstr(stmt)])),
          SYNC_MSG,
        );
        break;
      case 'flush':
        messages.push(typedMessage('H'));
        break;
      case 'fcall':
        messages.push(functionCall(int(rng, 1000), int(rng, 1000)));
        break;
      case 'copy-in':
        messages.push(
          queryMessage('CREATE TEMP TABLE IF NOT EXISTS fz_t (a int)'),
          queryMessage('COPY fz_t FROM STDIN'),
          typedMessage('d', '1\n2\n'),
          typedMessage('c'),
        );
        break;
      case 'stray-copy':
        messages.push(typedMessage('d', 'stray'), typedMessage('c'), typedMessage('f', cstr('nope')));
        break;
      case 'terminate':
        messages.push(typedMessage('X'));
        break;
    }
  }
  return { messages, names };
}

/** The answer to the probe: a DataRow carrying `marker`, then ReadyForQuery. */
function pgProbeAnswered(buf: Buffer, marker: Buffer): boolean {
  const { messages } = pgMessages(buf);
  const row = messages.findIndex((m) => m.type === 'D' && m.body.includes(marker));
  return row >= 0 && messages.slice(row).some((m) => m.type === 'Z');
}

async function pgSessionCase(c: CaseContext): Promise<void> {
  const rng = c.rng;
  const variant = pick(rng, VARIANTS);
  const control = rng() < 0.25;
  c.notes.push(variant.name, control ? 'valid input only' : 'mutated');
  const inst = variant.instance();
  const raw = await loggedIn(inst.pgPort, {
    user: variant.user,
    password: USERS[variant.user].password,
    params: APP,
  });
  loggedInOn(inst);
  const inbox = new Inbox(raw);
  try {
    const { messages, names } = pgSequence(rng, !control);
    c.notes.push(names.join(','));
    const body = control ? Buffer.concat(messages) : mutate(rng, messages, c.notes, PG_TYPED);
    // Sync ends any extended-protocol error, ROLLBACK an aborted transaction; the probe's answer then
    // shows the session is still in step.
    const marker = `fz-${SEED}-${c.label}`;
    const probe = Buffer.concat([
      SYNC_MSG,
      queryMessage('ROLLBACK'),
      queryMessage(`SELECT '${marker}' AS probe`),
    ]);
    await sendInChunks(raw, Buffer.concat([body, probe]), c, messages);
    const answered = await inbox.until(control ? ANSWER_MS : SETTLE_MS, (b) =>
      pgProbeAnswered(b, Buffer.from(marker)),
    );
    if (control) assert.ok(answered, 'a session that sent only valid messages did not answer the probe');
    if (answered) c.outcome = 'probe answered';
    if (answered && !raw.isClosed) await raw.send(typedMessage('X')).catch(() => {});
    const out = await inbox.close(c, !answered);
    pgOutcome(c, checkPgOutput(out, false, mayEndCutShort(inst, inbox)));
  } finally {
    raw.destroy();
  }
}

// --- MySQL: framing checks -------------------------------------------------------------------------

interface MyPacket {
  readonly seq: number;
  readonly payload: Buffer;
}

function myPackets(buf: Buffer): { packets: MyPacket[]; rest: Buffer } {
  const packets: MyPacket[] = [];
  let pos = 0;
  while (pos + 4 <= buf.length) {
    const len = buf.readUIntLE(pos, 3);
    if (pos + 4 + len > buf.length) break;
    packets.push({ seq: buf[pos + 3], payload: buf.subarray(pos + 4, pos + 4 + len) });
    pos += 4 + len;
  }
  return { packets, rest: buf.subarray(pos) };
}

/**
 * Everything the proxy sent on a closed connection must be whole packets, starting with its
 * greeting; a packet starting 0xFF (no row, column or count can) must be a well-formed ERR.
 */
function checkMysqlOutput(buf: Buffer, cutShort = false): MyPacket[] {
  const { packets, rest } = myPackets(buf);
  assert.ok(packets.length > 0, 'no greeting');
  assert.equal(packets[0].seq, 0, 'the greeting has sequence id 0');
  assert.ok(M.decodeInitialHandshake(packets[0].payload).ok, 'the first packet is a greeting');
  for (const [i, p] of packets.entries()) {
    if (p.payload[0] !== M.ERR_HEADER) continue;
    const e = M.decodeErr(p.payload);
    assert.ok(e.ok, `packet ${i} starts 0xFF but is no ERR: ${p.payload.subarray(0, 32).toString('hex')}`);
    assert.match(e.value.sqlState ?? '', /^[0-9A-Z]{5}$/, `packet ${i}: an ERR without its SQLSTATE`);
  }
  assertWhole(rest, cutShort, 'packet');
  return packets;
}

function myOutcome(c: CaseContext, packets: readonly MyPacket[]): void {
  const errs = packets.filter((p) => p.payload[0] === M.ERR_HEADER).map((p) => M.decodeErr(p.payload));
  const last = errs.at(-1);
  if (last?.ok) c.outcome += ` (last ERR ${last.value.errno})`;
}

/** Waits for the `n`-th packet (1-based); null when the connection closed or `ms` passed first. */
async function myPacket(inbox: Inbox, n: number, ms: number): Promise<MyPacket | null> {
  await inbox.until(ms, (b) => myPackets(b).packets.length >= n);
  return myPackets(inbox.bytes).packets[n - 1] ?? null;
}

const BASE_CAPS =
  M.CLIENT_PROTOCOL_41 |
  M.CLIENT_SECURE_CONNECTION |
  M.CLIENT_PLUGIN_AUTH |
  M.CLIENT_LONG_PASSWORD |
  M.CLIENT_TRANSACTIONS |
  M.CLIENT_MULTI_RESULTS |
  M.CLIENT_CONNECT_WITH_DB;
const OPTIONAL_CAPS = [
  M.CLIENT_DEPRECATE_EOF,
  M.CLIENT_MULTI_STATEMENTS,
  M.CLIENT_SESSION_TRACK,
  M.CLIENT_PS_MULTI_RESULTS,
  M.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA,
  M.CLIENT_CONNECT_ATTRS,
];

function myCapabilities(rng: Rng): number {
  let caps = BASE_CAPS;
  for (const flag of OPTIONAL_CAPS) if (rng() < 0.5) caps |= flag;
  return caps >>> 0;
}

function handshakeResponse(
  rng: Rng,
  greeting: M.InitialHandshake,
  who: { name: string; password: string },
  caps: number,
  plugin = 'mysql_native_password',
): Buffer {
  return M.encodeHandshakeResponse(
    {
      capabilities: caps,
      maxPacketSize: 1 << 24,
      charset: 45,
      mariadbCapabilities: 0,
      username: who.name,
      authResponse:
        plugin === 'mysql_native_password'
          ? M.nativePasswordScramble(who.password, greeting.scramble)
          : randomBytes(rng, pick(rng, [0, 20, 32])),
      database: 'my',
      authPluginName: plugin,
      connectAttributes: new Map([['program_name', APP_NAME]]),
    },
    1,
  );
}

// --- MySQL: before authentication ------------------------------------------------------------------

async function myHandshakeCase(c: CaseContext): Promise<void> {
  const rng = c.rng;
  const raw = await pgRaw(recordedOrNot(rng).myPort);
  const inbox = new Inbox(raw);
  try {
    const kind = pick(rng, ['garbage', 'response', 'response', 'ssl', 'plugin']);
    const who = pick(rng, [
      { name: 'alice', password: USERS.alice.password },
      { name: 'reader', password: 'wrong' },
      { name: 'nobody', password: 'guess' },
    ]);
    c.notes.push(kind, `as ${who.name}`);
    let bytes: Buffer;
    if (kind === 'garbage') {
      bytes = randomBytes(rng, 1 + int(rng, 300));
    } else {
      const first = await myPacket(inbox, 1, CLOSE_MS);
      assert.ok(first, 'no greeting');
      const greeting = M.decodeInitialHandshake(first.payload);
      assert.ok(greeting.ok, 'the first packet is a greeting');
      const caps = myCapabilities(rng);
      const parts =
        kind === 'ssl'
          ? [
              M.encodeSslRequest(
                { capabilities: caps, maxPacketSize: 1 << 24, charset: 45, mariadbCapabilities: 0 },
                1,
              ),
            ]
          : [
              handshakeResponse(
                rng,
                greeting.value,
                who,
                caps,
                kind === 'plugin'
                  ? pick(rng, [
                      'caching_sha2_password',
                      'mysql_clear_password',
                      'client_ed25519',
                      'bogus',
                      '',
                    ])
                  : 'mysql_native_password',
              ),
            ];
      if (kind === 'plugin') {
        // Let the proxy answer (an AuthSwitchRequest, an ERR...), then send a mutated reply.
        await raw.send(parts[0]);
        const answer = await myPacket(inbox, 2, 1000);
        c.notes.push(`answered 0x${answer?.payload[0]?.toString(16)}`);
        const reply = M.framePayload(
          pick(rng, [
            randomBytes(rng, int(rng, 40)),
            M.nativePasswordScramble(who.password, randomBytes(rng, 20)),
          ]),
          ((answer?.seq ?? 1) + 1) & 0xff,
        ).bytes;
        bytes = mutate(rng, [reply], c.notes, MY_PACKET);
      } else {
        bytes = mutate(rng, parts, c.notes, MY_PACKET);
      }
    }
    await sendInChunks(raw, bytes, c);
    // As for PostgreSQL: the proxy ends a stalled login itself; a login that succeeded (OK) is ours.
    const fin = rng() < 0.5;
    const ok = (b: Buffer) => myPackets(b).packets.some((p, i) => i > 0 && p.payload[0] === M.OK_HEADER);
    const session = await inbox.until(fin ? 300 : AUTH_TIMEOUT_MS + CLOSE_MS, ok);
    myOutcome(c, checkMysqlOutput(await inbox.close(c, fin || session)));
  } finally {
    raw.destroy();
  }
}

// --- MySQL: after authentication -------------------------------------------------------------------

/** Commands that would act on the shared MariaDB beyond the fuzz session: never sent. */
const HARMFUL_COMMANDS = new Set([M.COM_REFRESH, M.COM_SHUTDOWN, M.COM_DEBUG, M.COM_PROCESS_KILL]);
const UNKNOWN_COMMAND = 0x99;

/**
 * Walks the client stream as dbtape frames it (each command one packet, sequence id 0, up to
 * max_message_size) and turns any command byte that mutation made harmful into an unknown one.
 */
function defang(bytes: Buffer, notes: string[]): Buffer {
  let pos = 0;
  while (pos + 5 <= bytes.length) {
    const len = bytes.readUIntLE(pos, 3);
    if (bytes[pos + 3] !== 0 || len === 0 || len > MAX_MESSAGE) break;
    if (HARMFUL_COMMANDS.has(bytes[pos + 4])) {
      notes.push(`command 0x${bytes[pos + 4].toString(16)} at ${pos} defanged`);
      bytes[pos + 4] = UNKNOWN_COMMAND;
    }
    pos += 4 + len;
  }
  return bytes;
}

const MY_SQL = [
  'SELECT 1',
  "SELECT seq, REPEAT('x', 40) AS pad FROM seq_1_to_20000",
  'SELECT seq FROM seq_1_to_30',
  'SELECT 1; SELECT 2',
  '',
  'SELEC 1',
  'SELECT 1/0',
  'DO 1',
  'SET @fz = 1',
  'BEGIN',
  'COMMIT',
  'ROLLBACK',
  "SHOW VARIABLES LIKE 'version'",
  `SELECT * FROM ${SECRET_TABLE}`,
  'CREATE TEMPORARY TABLE IF NOT EXISTS fz_t (a INT)',
  'INSERT INTO fz_t VALUES (1)',
  'DELETE FROM fz_t',
  // No role here may pass a client's file: the server, not offered any, refuses the statement.
  "LOAD DATA LOCAL INFILE '/etc/hostname' INTO TABLE fz_t",
  // After a capped result dbtape adds its own row to the list.
  'SHOW WARNINGS',
];

/** Results of ~1 MB, as for PostgreSQL. */
const MY_BIG = [
  "SELECT seq, REPEAT('x', 40) AS pad FROM seq_1_to_20000",
  "SELECT seq, REPEAT('y', 60) AS pad, seq * 2 AS twice FROM seq_1_to_15000",
];

/** Statements to prepare, each with one parameter. */
const MY_PREPARED = [
  'SELECT ? + 1',
  'SELECT seq, ? FROM seq_1_to_300',
  `SELECT * FROM ${SECRET_TABLE} WHERE 1 = ?`,
];

function command(code: number, body: Buffer | string = Buffer.alloc(0)): Buffer {
  const b = typeof body === 'string' ? Buffer.from(body) : body;
  return M.framePayload(Buffer.concat([Buffer.from([code]), b]), 0).bytes;
}

function stmtExecute(id: number, cursor: boolean, value: number): Buffer {
  const payload = new M.PacketWriter(32)
    .u8(M.COM_STMT_EXECUTE)
    .u32(id)
    .u8(cursor ? 1 : 0)
    .u32(1)
    .u8(0) // NULL bitmap of the one parameter
    .u8(1) // new parameter types follow
    .u8(M.MYSQL_TYPE_LONGLONG)
    .u8(0)
    .u64(BigInt(value))
    .payload();
  return M.framePayload(payload, 0).bytes;
}

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n >>> 0);
  return b;
}

function stmtId(id: number, ...more: Buffer[]): Buffer {
  return Buffer.concat([u32(id), ...more]);
}

/** A sequence of valid commands; `quit`: it may end the session. */
function mySequence(rng: Rng, quit: boolean): { packets: Buffer[]; names: string[] } {
  const packets: Buffer[] = [];
  const names: string[] = [];
  let prepared = 0;
  const id = () => (prepared === 0 ? 1 : rng() < 0.2 ? 0xffff_ffff : 1 + int(rng, prepared));
  for (let n = 1 + int(rng, 6); n > 0; n--) {
    const unit = pick(rng, [
      'query',
      'query',
      'big',
      'big',
      'prepare',
      'execute',
      'cursor',
      'long-data',
      'stmt-reset',
      'stmt-close',
      'ping',
      'statistics',
      'set-option',
      'init-db',
      'field-list',
      'reset',
      'unknown',
      'change-user',
      'quit',
    ]);
    if (unit === 'quit' && !quit) continue;
    names.push(unit);
    switch (unit) {
      case 'query':
        packets.push(command(M.COM_QUERY, pick(rng, MY_SQL)));
        break;
      case 'big':
        packets.push(command(M.COM_QUERY, pick(rng, MY_BIG)));
        break;
      case 'prepare':
        packets.push(command(M.COM_STMT_PREPARE, pick(rng, MY_PREPARED)));
        prepared++;
        break;
      case 'execute':
        packets.push(stmtExecute(id(), false, int(rng, 100)));
        break;
      case 'cursor': {
        const s = id();
        packets.push(
          stmtExecute(s, true, int(rng, 100)),
          command(M.COM_STMT_FETCH, stmtId(s, u32(1 + int(rng, 50)))),
        );
        break;
      }
      case 'long-data':
        packets.push(
          command(M.COM_STMT_SEND_LONG_DATA, stmtId(id(), Buffer.from([0, 0]), Buffer.from('12'))),
        );
        break;
      case 'stmt-reset':
        packets.push(command(M.COM_STMT_RESET, stmtId(id())));
        break;
      case 'stmt-close':
        packets.push(command(M.COM_STMT_CLOSE, stmtId(id())));
        break;
      case 'ping':
        packets.push(command(M.COM_PING));
        break;
      case 'statistics':
        packets.push(command(M.COM_STATISTICS));
        break;
      case 'set-option':
        packets.push(command(M.COM_SET_OPTION, Buffer.from([int(rng, 2), 0])));
        break;
      case 'init-db':
        packets.push(command(M.COM_INIT_DB, 'test'));
        break;
      case 'field-list':
        packets.push(command(M.COM_FIELD_LIST, Buffer.from('fz_t\0')));
        break;
      case 'reset':
        packets.push(command(M.COM_RESET_CONNECTION));
        prepared = 0;
        break;
      case 'unknown':
        packets.push(command(UNKNOWN_COMMAND, randomBytes(rng, int(rng, 8))));
        break;
      case 'change-user':
        packets.push(command(M.COM_CHANGE_USER, Buffer.from('alice\0\0')));
        break;
      case 'quit':
        packets.push(command(M.COM_QUIT));
        break;
    }
  }
  return { packets, names };
}

/** Logs in with hand-built bytes; fails the case when the proxy refuses. */
async function myLoggedIn(
  c: CaseContext,
  port: number,
  user: UserName,
): Promise<{ raw: PgRaw; inbox: Inbox }> {
  const raw = await pgRaw(port);
  const inbox = new Inbox(raw);
  try {
    const first = await myPacket(inbox, 1, CLOSE_MS);
    assert.ok(first, 'no greeting');
    const greeting = M.decodeInitialHandshake(first.payload);
    assert.ok(greeting.ok, 'the first packet is a greeting');
    const caps = myCapabilities(c.rng);
    c.notes.push(`capabilities 0x${caps.toString(16)}`);
    await raw.send(
      handshakeResponse(c.rng, greeting.value, { name: user, password: USERS[user].password }, caps),
    );
    const answer = await myPacket(inbox, 2, ANSWER_MS);
    assert.equal(answer?.payload[0], M.OK_HEADER, `login refused: ${answer?.payload.toString('latin1', 9)}`);
    return { raw, inbox };
  } catch (err) {
    raw.destroy();
    throw err;
  }
}

async function mySessionCase(c: CaseContext): Promise<void> {
  const rng = c.rng;
  const variant = pick(rng, VARIANTS);
  const control = rng() < 0.25;
  c.notes.push(variant.name, control ? 'valid input only' : 'mutated');
  const inst = variant.instance();
  const { raw, inbox } = await myLoggedIn(c, inst.myPort, variant.user);
  loggedInOn(inst);
  try {
    const { packets, names } = mySequence(rng, !control);
    c.notes.push(names.join(','));
    const body = control ? Buffer.concat(packets) : mutate(rng, packets, c.notes, MY_PACKET);
    const marker = `fz-${SEED}-${c.label}`;
    const probe = command(M.COM_QUERY, `SELECT '${marker}' AS probe`);
    await sendInChunks(raw, defang(Buffer.concat([body, probe]), c.notes), c, packets);
    const needle = Buffer.from(marker);
    // The row carrying the marker, and the packet that ends the result after it.
    const answered = await inbox.until(control ? ANSWER_MS : SETTLE_MS, (b) => {
      const { packets } = myPackets(b);
      const row = packets.findIndex((p) => p.payload.includes(needle));
      return row >= 0 && packets.length > row + 1;
    });
    if (control) assert.ok(answered, 'a session that sent only valid commands did not answer the probe');
    if (answered) c.outcome = 'probe answered';
    if (answered && !raw.isClosed) await raw.send(command(M.COM_QUIT)).catch(() => {});
    const out = await inbox.close(c, !answered);
    myOutcome(c, checkMysqlOutput(out, mayEndCutShort(inst, inbox)));
  } finally {
    raw.destroy();
  }
}

// --- the suite -------------------------------------------------------------------------------------

describe(`wire fuzz (seed ${SEED})`, () => {
  test('PostgreSQL: garbage and mutated startup and SASL messages', () =>
    runCases('pg-startup', CASES.pgStartup, pgStartupCase));

  test('PostgreSQL: mutated message sequences after login', () =>
    runCases('pg-session', CASES.pgSession, pgSessionCase));

  test('MySQL: garbage and mutated handshakes', () =>
    runCases('my-handshake', CASES.myHandshake, myHandshakeCase));

  test('MySQL: mutated command sequences after login', () =>
    runCases('my-session', CASES.mySession, mySessionCase));

  test('the proxies still serve: bystanders, fresh logins, no session left behind', async () => {
    await bystandersAnswer();
    for (const inst of instances()) {
      const client = new pg.Client({
        host: '127.0.0.1',
        port: inst.pgPort,
        user: 'alice',
        password: USERS.alice.password,
        database: 'app',
      });
      await client.connect();
      try {
        assert.equal((await client.query('SELECT $1::int * 2 AS d', [21])).rows[0].d, 42);
      } finally {
        await client.end();
      }
      const conn = await connectMysql2(
        { host: '127.0.0.1', port: inst.myPort },
        { database: 'my' },
        { name: 'alice', password: USERS.alice.password },
      );
      try {
        const [rows] = await conn.execute('SELECT ? * 2 AS d', [21]);
        assert.deepEqual(rows, [{ d: 42 }]);
      } finally {
        await conn.end();
      }
    }
    for (const inst of instances()) {
      await waitFor(() => inst.dbtape.server.registry.active === 2, {
        what: `only the two bystanders in the ${inst.name} instance's session registry (${inst.dbtape.server.registry.active})`,
      });
    }
    const sql = 'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1';
    await waitFor(async () => (await recorded.pgBystander.query(sql, [APP_NAME])).rows[0].n === 0, {
      what: `no PostgreSQL backend left with application_name ${APP_NAME}`,
    });
  });

  test('no uncaught exception, no error logged, no server response dbtape could not follow', () => {
    assert.deepEqual(uncaught, [], `seed ${SEED}`);
    const bad = instances()
      .flatMap((i) => i.dbtape.logs)
      .filter(
        (l) =>
          l.level === 'error' ||
          l.msg === 'upstream sent an invalid message' ||
          l.msg === 'undecodable server message' ||
          l.msg.startsWith('could not follow a server response'),
      );
    assert.deepEqual(bad, [], `seed ${SEED}`);
  });

  for (const name of ['recorded', 'strict']) {
    test(`the recording lost nothing (${name})`, async () => {
      const inst = instances().find((i) => i.name === name)!;
      const recorder = inst.dbtape.server.recorder;
      assert.ok(recorder && inst.store, `the ${name} instance records`);
      await recorder.flush();
      const stats = recorder.stats();
      assert.equal(stats.recorderErrors, 0, 'recorderErrors');
      assert.equal(stats.storeErrors, 0, 'storeErrors');
      assert.equal(stats.lost, 0, 'events lost');
      assert.equal(stats.gaps, 0, 'gaps');
      const store = openStore(`sqlite:${inst.store}`, { readonly: true });
      try {
        const sessions = await waitFor(
          async () => {
            const all = await store.listSessions({ limit: 10_000 });
            return all.every((s) => s.user === 'watcher' || s.status === 'ended') ? all : null;
          },
          { what: 'every fuzz session to be recorded as ended' },
        );
        const fuzz = sessions.filter((s) => s.user !== 'watcher');
        const expected = logins.get(name) ?? 0;
        assert.ok(fuzz.length >= expected, `${fuzz.length} fuzz sessions recorded, ${expected} logged in`);
        const statements = new Set<string>();
        for (const s of sessions) {
          const events = await store.getEvents(s.id, { limit: 100_000 });
          assert.ok(!events.some((e) => e.kind === 'gap'), `session ${s.id} has a gap in its recording`);
          if (s.user === 'watcher') for (const e of events) if (e.kind === 'query') statements.add(e.sql);
        }
        const missing = (bystanderMarkers.get(name) ?? []).filter(
          (m) => ![...statements].some((sql) => sql.includes(m)),
        );
        assert.deepEqual(missing, [], 'bystander statements missing from the store');
      } finally {
        await store.close();
      }
    });
  }
});
