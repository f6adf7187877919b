/**
 * Shared set-up for the recording end-to-end tests: a spawned `dbtape serve` that records into
 * its own SQLite store, the read CLI (`node bin/dbtape.js ... --store sqlite:FILE`) run as a user
 * runs it, and waits on the store for what the recorder commits (it commits in ~100 ms windows).
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import path from 'node:path';
import type pg from 'pg';
import { parse, stringify } from 'yaml';
import type { SessionEvent } from '../../src/model/session.js';
import type { EventJson, SearchHitJson, SessionJson } from '../../src/store/json.js';
import { isPostgresStoreUrl, openStore } from '../../src/store/open-store.js';
import type { SessionSummary } from '../../src/store/session-store.js';
import { DBTAPE_BIN, type Dbtape, REPO_ROOT, startDbtape } from './dbtape-process.js';
import { ALICE, type ProxyOptions, proxyYaml } from './pg-fixtures.js';
import { freePort } from './ports.js';
import { requireMachinePg } from './servers.js';
import { waitFor } from './wait.js';

export interface RecordingOptions extends Omit<ProxyOptions, 'tls' | 'requireTls' | 'env'> {
  readonly capture?: 'none' | 'summary' | 'rows';
  readonly maxRows?: number;
  /** Keys of the store section over the default ones (the SQLite store.db): url, durability, … */
  readonly store?: Readonly<Record<string, unknown>>;
  /** Also a dashboard (listen.http), for /metrics. */
  readonly dashboard?: boolean;
}

export interface RecordingProxy {
  readonly host: string;
  readonly port: number;
  readonly dbtape: Dbtape;
  /** The default SQLite store's file (unless `store.url` named another store). */
  readonly storeFile: string;
  /** `sqlite:<storeFile>`, for `--store`. */
  readonly storeUrl: string;
  /** `/metrics` of the dashboard, when one was asked for. */
  readonly metricsUrl: string | null;
  stop(): Promise<void>;
}

/** Starts `dbtape serve` recording into `<its dir>/store.db`; fails clearly without a build. */
export async function startRecordingProxy(opts: RecordingOptions = {}): Promise<RecordingProxy> {
  assert.ok(
    existsSync(path.join(REPO_ROOT, 'dist', 'cli', 'main.js')),
    'dist/ is missing: run `npm run build` first (npm test does this)',
  );
  await requireMachinePg();
  for (let attempt = 1; ; attempt++) {
    const port = await freePort();
    const httpPort = opts.dashboard ? await freePort() : null;
    const doc = parse(proxyYaml(opts, port, null)) as Record<string, unknown> & {
      listen: Record<string, string>;
    };
    if (httpPort !== null) doc.listen.http = `127.0.0.1:${httpPort}`;
    // Relative to the dbtape process's folder, which startDbtape makes and removes.
    doc.store = {
      url: 'sqlite:store.db',
      capture_results: opts.capture ?? 'rows',
      max_rows: opts.maxRows ?? 5,
      ...opts.store,
    };
    try {
      // A minute to start: a busy shared machine has kept dbtape from listening within the default 20 s.
      const dbtape = await startDbtape({ config: stringify(doc), startTimeoutMs: 60_000 });
      const storeFile = path.join(dbtape.dir, 'store.db');
      return {
        host: '127.0.0.1',
        port,
        dbtape,
        storeFile,
        storeUrl: `sqlite:${storeFile}`,
        metricsUrl: httpPort === null ? null : `http://127.0.0.1:${httpPort}/metrics`,
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

// --- the read CLI ---------------------------------------------------------------------------------

export interface CliRun {
  readonly code: number | null;
  /** stdout as raw bytes: terminal-safety checks look at bytes, not decoded text. */
  readonly out: Buffer;
  readonly stdout: string;
  readonly stderr: string;
}

/** `node bin/dbtape.js ...args --store URL`, to completion (stdout is a pipe, not a terminal). */
export function cli(storeUrl: string, args: readonly string[]): Promise<CliRun> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DBTAPE_BIN, ...args, '--store', storeUrl], {
      env: { PATH: process.env.PATH, TZ: 'UTC' },
      stdio: ['ignore', 'pipe', 'pipe'],
      timeout: 60_000,
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d: Buffer) => err.push(d));
    child.on('error', reject);
    child.on('close', (code) => {
      const bytes = Buffer.concat(out);
      resolve({
        code,
        out: bytes,
        stdout: bytes.toString('utf8'),
        stderr: Buffer.concat(err).toString('utf8'),
      });
    });
  });
}

/** A CLI command that must exit 0; its stdout. */
export async function cliOk(storeUrl: string, args: readonly string[]): Promise<CliRun> {
  const r = await cli(storeUrl, args);
  assert.equal(r.code, 0, `dbtape ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
  return r;
}

export interface ShowJson {
  readonly session: SessionJson;
  readonly events: EventJson[];
}

export async function showJson(storeUrl: string, id: string): Promise<ShowJson> {
  return JSON.parse((await cliOk(storeUrl, ['show', id, '--json'])).stdout) as ShowJson;
}

export async function sessionsJson(storeUrl: string, extra: readonly string[] = []): Promise<SessionJson[]> {
  return JSON.parse((await cliOk(storeUrl, ['sessions', '--json', ...extra])).stdout) as SessionJson[];
}

export async function searchJson(storeUrl: string, words: readonly string[]): Promise<SearchHitJson[]> {
  return JSON.parse((await cliOk(storeUrl, ['search', ...words, '--json'])).stdout) as SearchHitJson[];
}

// --- waiting on the store -------------------------------------------------------------------------

/** Reads the store (read-only, as the CLI does) and closes it again. */
export async function readStore<T>(
  storeUrl: string,
  fn: (store: ReturnType<typeof openStore>) => Promise<T>,
): Promise<T> {
  const store = openStore(storeUrl, { readonly: true });
  try {
    return await fn(store);
  } finally {
    await store.close();
  }
}

/**
 * Waits until `count` ended sessions match `pick` and returns them (newest first). A session is
 * complete once it has ended: its `end` event is the last one written.
 */
export function endedSessions(
  storeUrl: string,
  pick: (s: SessionSummary) => boolean,
  count: number,
  timeoutMs = 20_000,
): Promise<SessionSummary[]> {
  // A SQLite store's file appears with the first session; a PostgreSQL store exists from the start.
  const missing = () => !isPostgresStoreUrl(storeUrl) && !existsSync(storeUrl.slice('sqlite:'.length));
  return waitFor(
    () =>
      missing()
        ? null
        : readStore(storeUrl, async (store) => {
            const found = (await store.listSessions({ limit: 1000 })).filter(pick);
            return found.length >= count && found.every((s) => s.status === 'ended') ? found : null;
          }),
    { timeoutMs, what: `${count} ended session(s) in ${storeUrl}` },
  );
}

/** The store's sessions as listed now, newest first (not waiting for any). */
export function storedSessions(storeUrl: string): Promise<SessionSummary[]> {
  return readStore(storeUrl, (store) => store.listSessions({}));
}

/** Every event of a session straight from the store, for fields `show --json` does not print. */
export function storedEvents(storeUrl: string, id: string): Promise<SessionEvent[]> {
  return readStore(storeUrl, (store) => store.getEvents(id, { limit: 100_000 }));
}

/** The store's files: the database and its -wal / -shm companions, whichever exist. */
export function storeFiles(storeFile: string): string[] {
  const dir = path.dirname(storeFile);
  const base = path.basename(storeFile);
  return readdirSync(dir)
    .filter((f) => f.startsWith(base))
    .map((f) => path.join(dir, f));
}

/** The bytes of every store file, each with its name. */
export function storeBytes(storeFile: string): { file: string; bytes: Buffer }[] {
  return storeFiles(storeFile).map((file) => ({ file, bytes: readFileSync(file) }));
}

// --- terminal safety ------------------------------------------------------------------------------

/**
 * The first byte of `out` a terminal could act on: ESC, a C0 control other than \n and \t, DEL, or
 * a C1 control (U+0080–U+009F, UTF-8 C2 80–C2 9F). Null when there is none.
 */
export function unsafeByte(out: Buffer): { offset: number; byte: number; context: string } | null {
  for (let i = 0; i < out.length; i++) {
    const b = out[i]!;
    const c1 = b === 0xc2 && i + 1 < out.length && out[i + 1]! >= 0x80 && out[i + 1]! <= 0x9f;
    if ((b < 0x20 && b !== 0x0a && b !== 0x09) || b === 0x7f || c1) {
      const context = JSON.stringify(out.subarray(Math.max(0, i - 40), i + 20).toString('latin1'));
      return { offset: i, byte: c1 ? out[i + 1]! : b, context };
    }
  }
  return null;
}

/** Bidi overrides/isolates and marks: they reorder what the viewer reads. */
export const BIDI_CONTROLS = /[\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]/;

// --- hand-built extended-protocol messages (PostgreSQL docs, "Message Formats") ---------------------

function int16(n: number): Buffer {
  const b = Buffer.alloc(2);
  b.writeInt16BE(n);
  return b;
}

function i32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
}

function frontend(type: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(type, 'latin1'), i32(4 + body.length), body]);
}

/** Parse: statement name, text, declared parameter type OIDs. */
export function parseMsg(name: string, sql: string | Buffer, oids: readonly number[] = []): Buffer {
  const text = typeof sql === 'string' ? Buffer.from(sql) : sql;
  return frontend(
    'P',
    Buffer.concat([Buffer.from(`${name}\0`), text, Buffer.from([0]), int16(oids.length), ...oids.map(i32)]),
  );
}

/** Bind: every parameter in `format` (0 text, 1 binary); results in text. */
export function bindMsg(
  portal: string,
  statement: string,
  values: readonly (Buffer | null)[],
  format = 0,
): Buffer {
  const parts = [Buffer.from(`${portal}\0${statement}\0`), int16(1), int16(format), int16(values.length)];
  for (const v of values) parts.push(v === null ? i32(-1) : Buffer.concat([i32(v.length), v]));
  parts.push(int16(0));
  return frontend('B', Buffer.concat(parts));
}

/** Execute; `maxRows` > 0 reads the portal in pages (the server answers PortalSuspended). */
export function executeMsg(portal = '', maxRows = 0): Buffer {
  return frontend('E', Buffer.concat([Buffer.from(`${portal}\0`), i32(maxRows)]));
}

/** Describe of a portal ('P') or statement ('S'): the server answers with its RowDescription. */
export function describeMsg(what: 'S' | 'P', name = ''): Buffer {
  return frontend('D', Buffer.from(`${what}${name}\0`));
}

export const SYNC_MSG = frontend('S', Buffer.alloc(0));

/** A simple Query of raw bytes (which need not be valid UTF-8). */
export function queryBytes(sql: Buffer): Buffer {
  return frontend('Q', Buffer.concat([sql, Buffer.from([0])]));
}

// --- clients as alice ------------------------------------------------------------------------------

/** A libpq connection string for alice through the proxy (her password goes in PGPASSWORD). */
export function aliceDsn(proxy: RecordingProxy, database = 'app'): string {
  return `host=${proxy.host} port=${proxy.port} user=${ALICE.name} dbname=${database} sslmode=disable`;
}

/** node-postgres settings for alice through the proxy. */
export function alicePg(proxy: RecordingProxy, application: string): pg.ClientConfig {
  return {
    host: proxy.host,
    port: proxy.port,
    user: ALICE.name,
    password: ALICE.password,
    database: 'app',
    ssl: false,
    application_name: application,
  };
}

// --- reading events -------------------------------------------------------------------------------

/** One line per event, for comparing a whole session with what the client did. */
export function eventLine(e: EventJson): string {
  switch (e.kind) {
    case 'query':
      // Whitespace collapsed: psql sends `\copy t from stdin` as "COPY  t FROM STDIN ".
      return `query ${(e.sql ?? '').replace(/\s+/g, ' ').trim()}${e.params ? ` ${JSON.stringify(e.params)}` : ''}`;
    case 'result':
      return `result ${e.tag} rows=${e.rows}`;
    case 'error':
      return `error ${e.error?.code}`;
    case 'tx':
      return `tx ${e.state}`;
    case 'copy':
      return `copy ${e.direction} rows=${e.rows}`;
    case 'notice':
      return `notice ${e.message}`;
    case 'end':
      return `end ${e.reason}`;
    default:
      return e.kind;
  }
}

/**
 * Sequence numbers dense from 1, offsets and wall-clock times that never go back, a start first
 * and an end last, a duration on every result.
 */
export function assertTimeline(events: readonly EventJson[]): void {
  assert.deepEqual(
    events.map((e) => e.seq),
    events.map((_, i) => i + 1),
    'sequence numbers are dense from 1',
  );
  for (let i = 1; i < events.length; i++) {
    const [a, b] = [events[i - 1]!, events[i]!];
    assert.ok(
      b.offset_ms >= a.offset_ms,
      `offset_ms goes back at seq ${b.seq}: ${a.offset_ms} → ${b.offset_ms}`,
    );
    assert.ok(b.at >= a.at, `at goes back at seq ${b.seq}: ${a.at} → ${b.at}`);
  }
  assert.equal(events[0]?.kind, 'start', 'the first event is the start');
  assert.equal(events.at(-1)?.kind, 'end', 'the last event is the end');
  for (const e of events.filter((x) => x.kind === 'result')) {
    assert.ok(
      typeof e.duration_us === 'number' && e.duration_us >= 0,
      `result at seq ${e.seq} has a duration`,
    );
  }
}

export interface Outcome {
  readonly query: EventJson;
  readonly outcome: EventJson;
}

/**
 * Pairs each statement with its outcome, first in first out, as the server answers a pipeline.
 * Only for sessions where every statement has exactly one outcome (no multi-statement simple
 * queries).
 */
export function outcomes(events: readonly EventJson[]): { pairs: Outcome[]; maxInFlight: number } {
  const pending: EventJson[] = [];
  const pairs: Outcome[] = [];
  let maxInFlight = 0;
  for (const e of events) {
    if (e.kind === 'query') {
      pending.push(e);
      maxInFlight = Math.max(maxInFlight, pending.length);
    } else if (e.kind === 'result' || e.kind === 'error') {
      const query = pending.shift();
      assert.ok(query, `an outcome without a statement at seq ${e.seq}: ${eventLine(e)}`);
      pairs.push({ query, outcome: e });
    }
  }
  assert.deepEqual(pending.map(eventLine), [], 'every statement has an outcome');
  return { pairs, maxInFlight };
}
