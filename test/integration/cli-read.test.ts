/**
 * The read-side CLI as a user runs it (`node bin/dbtape.js sessions|show|replay|search|export
 * --store sqlite:FILE`) on recordings made two ways:
 *  - real psql sessions through dbtape running in this process, recording into the config's store;
 *  - sessions written through the Recorder / store directly, for what psql cannot send (NUL,
 *    invalid UTF-8 in every field), for an exact 2 s timeline, and for a session still recording.
 * Needs `npm run build` first (the test runner does it) and PostgreSQL on 127.0.0.1:5432.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { newSessionId } from '../../src/model/ids.js';
import type { SessionEvent, SessionEventBody } from '../../src/model/session.js';
import { Recorder } from '../../src/recording/recorder.js';
import { openStore } from '../../src/store/open-store.js';
import type { SessionStore } from '../../src/store/session-store.js';
import { DBTAPE_BIN, REPO_ROOT } from '../support/dbtape-process.js';
import { envWithoutPg, run } from '../support/exec.js';
import { ALICE, defaultYaml, type InProcessDbtape, startInProcess } from '../support/inproc-dbtape.js';
import { requireMachinePg } from '../support/servers.js';
import { sessionMeta } from '../support/session-meta.js';
import { waitFor, withTimeout } from '../support/wait.js';

const dir = mkdtempSync(join(tmpdir(), 'dbtape-cli-read-'));
const proxyStore = join(dir, 'proxy.db');
const directStore = join(dir, 'direct.db');

/** The statements of the psql session, as psql sends them (one simple query each). */
const VALUES_QUERY =
  "SELECT * FROM (VALUES (1, 'Ann', NULL::text, 12.5), (22, 'Björk 日本', E'multi\\nline', 1)) AS v(id, name, note, amount);";
const SCRIPT = [
  'CREATE TEMP TABLE cli_read_t (id int, name text);',
  "INSERT INTO cli_read_t VALUES (1, 'a'), (2, 'b'), (3, 'c');",
  VALUES_QUERY,
  'SELECT n FROM generate_series(1, 20) AS n;',
  'BEGIN;',
  'SELECT 1/0;',
  'ROLLBACK;',
  'SELECT * FROM no_such_table_cli_read;',
  "SELECT 'unique_token_qx7' AS tok;",
];

/** Text a hostile client sends: terminal escapes, OSC 52 (clipboard), bidi override, C1 CSI. */
const ESC = '\u001b';
const HOSTILE_SQL = `SELECT '${ESC}]52;c;ZWNobyBoaQ==\u0007' AS "${ESC}[2Jcol", '${ESC}[31mred${ESC}[0m' AS a, 'x\u202eevil' AS b, '\u009b2J' AS c, 'hostile_token_zz9' AS d;`;

let proxy: InProcessDbtape;
let psqlId: string;
let hostileId: string;
let corpusId: string;
let timedId: string;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

function dbtape(args: string[], opts: { cwd?: string } = {}): Promise<Run> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DBTAPE_BIN, ...args], {
      cwd: opts.cwd ?? dir,
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    const out: Buffer[] = [];
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => out.push(d));
    child.stderr.on('data', (d) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout: Buffer.concat(out).toString('utf8'), stderr }));
  });
}

/** A replay, with the time between its first output (the header) and the last one. */
function timedReplay(
  args: string[],
): Promise<{ code: number | null; stdout: string; stderr: string; spanMs: number }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [DBTAPE_BIN, ...args], {
      cwd: dir,
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let first = 0;
    let last = 0;
    let stdout = '';
    let stderr = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      last = performance.now();
      if (first === 0) first = last;
      stdout += d;
    });
    child.stderr.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
    });
    child.on('error', reject);
    child.on('close', (code) => resolve({ code, stdout, stderr, spanMs: last - first }));
  });
}

/** Runs a command that must succeed and returns its stdout. */
async function ok(...args: string[]): Promise<string> {
  const r = await dbtape(args);
  assert.equal(r.code, 0, `dbtape ${args.join(' ')} failed (${r.code}):\n${r.stderr}`);
  return r.stdout;
}

/** No ESC, no other C0 control but \n and \t, no DEL, no C1 (C2 80..9F), no bidi control. */
function assertTerminalSafe(text: string, what: string): void {
  const bytes = Buffer.from(text, 'utf8');
  assert.ok(!bytes.includes(0x1b), `${what}: a raw ESC byte`);
  for (let i = 0; i < bytes.length; i++) {
    const b = bytes[i]!;
    const bad =
      (b < 0x20 && b !== 0x0a && b !== 0x09) ||
      b === 0x7f ||
      (b === 0xc2 && bytes[i + 1]! >= 0x80 && bytes[i + 1]! <= 0x9f);
    assert.ok(
      !bad,
      `${what}: control byte 0x${b.toString(16)} near ${JSON.stringify(text.slice(Math.max(0, i - 30), i + 10))}`,
    );
  }
  assert.doesNotMatch(text, /[\u202a-\u202e\u2066-\u2069\u200e\u200f]/, `${what}: a bidi control`);
}

async function psql(port: number, args: string[]): Promise<string> {
  const url = `postgresql://${ALICE.name}@127.0.0.1:${port}/app?sslmode=disable`;
  const r = await run('psql', ['-X', '-v', 'ON_ERROR_STOP=0', url, ...args], {
    env: envWithoutPg({ PGPASSWORD: ALICE.password }),
  });
  return r.stdout;
}

async function endedSessions(path: string, n: number): Promise<string[]> {
  return waitFor(
    async () => {
      const store = openStore(`sqlite:${path}`, { readonly: true });
      try {
        const list = await store.listSessions({});
        return list.length >= n && list.every((s) => s.status === 'ended') ? list.map((s) => s.id) : null;
      } finally {
        await store.close();
      }
    },
    { what: `${n} ended sessions in ${path}`, timeoutMs: 15_000 },
  );
}

const T0 = Date.UTC(2025, 0, 31, 12) * 1000;

/** Every hostile thing at once; what psql cannot send (NUL, invalid UTF-8 as surrogate escapes) included. */
const CORPUS = [
  `${ESC}[31mred${ESC}[0m`,
  `${ESC}]52;c;ZWNobyBoaQ==\u0007`,
  `${ESC}]0;pwned${ESC}\\`,
  `${ESC}P1$r${ESC}\\`,
  '\u009b2J\u009d0;x\u009c',
  'DROP TABLE users;\rSELECT 1;',
  'a\u0000b',
  'SELECT \u202e1 ;--\u2066x\u2069\u200f',
  'bad \udc80\udcff utf8 \ud800',
  'del\u007f bs\b bell\u0007',
].join(' | ');

async function recordCorpus(store: SessionStore): Promise<string> {
  const recorder = new Recorder({ store, capture: 'rows', maxRows: 10 });
  const id = newSessionId();
  const rec = recorder.open(sessionMeta(id, { application: `app ${ESC}]0;t\u0007\u202e`, startedAtUs: T0 }));
  const bodies: SessionEventBody[] = [
    { kind: 'query', sql: `SELECT corpus_token_kk3, '${CORPUS}'`, via: 'simple' },
    {
      kind: 'result',
      tag: 'SELECT 1',
      rows: 1,
      durationUs: 10,
      columns: [{ name: CORPUS, type: 'text' }],
      rowData: [[CORPUS]],
    },
    { kind: 'query', sql: 'SELECT $1, $2', params: [CORPUS, null], via: 'extended' },
    { kind: 'error', code: '22021', message: CORPUS, severity: 'ERROR', durationUs: 5 },
    { kind: 'notice', severity: 'NOTICE', code: '00000', message: CORPUS },
    { kind: 'notification', channel: CORPUS, payload: CORPUS },
    { kind: 'command', command: 'cancel', detail: CORPUS },
    { kind: 'end', reason: 'client_closed', detail: CORPUS },
  ];
  for (const b of bodies) rec.event(b);
  await recorder.flush();
  return id;
}

/** A session whose events sit exactly at 0, 0.5, 1.2, 2.0 s: replay --speed 1 must take 2 s. */
async function recordTimed(store: SessionStore): Promise<string> {
  const m = sessionMeta('m6timed00-0000000001', { user: 'dave', startedAtUs: T0 });
  const items: [number, SessionEventBody][] = [
    [0, { kind: 'start', meta: m }],
    [500_000, { kind: 'query', sql: 'SELECT 1;', via: 'simple' }],
    [501_000, { kind: 'result', tag: 'SELECT 1', rows: 1, durationUs: 1000 }],
    [1_200_000, { kind: 'query', sql: 'SELECT 2;', via: 'simple' }],
    [1_201_000, { kind: 'result', tag: 'SELECT 1', rows: 1, durationUs: 1000 }],
    [2_000_000, { kind: 'end', reason: 'client_closed' }],
  ];
  await store.writeBatch({
    sessions: [m],
    events: items.map(([offsetUs, body], i) => ({
      sessionId: m.id,
      event: { seq: i + 1, atUs: T0 + offsetUs, offsetUs, ...body } as SessionEvent,
    })),
    ends: [{ sessionId: m.id, endedAtUs: T0 + 2_000_000, reason: 'client_closed' }],
  });
  return m.id;
}

before(async () => {
  assert.ok(existsSync(join(REPO_ROOT, 'dist/cli/main.js')), 'dist/ is missing: run `npm run build` first');
  await requireMachinePg();
  const doc = parse(defaultYaml()) as Record<string, unknown>;
  doc.store = { url: `sqlite:${proxyStore}`, capture_results: 'rows', max_rows: 5 };
  // The psql script creates a temp table: DDL, which only `admin` may run.
  doc.roles = [{ name: 'app-writer', targets: ['app'], access: 'admin' }];
  proxy = await startInProcess({ yaml: stringify(doc) });

  const scriptFile = join(dir, 'session.sql');
  writeFileSync(scriptFile, `${SCRIPT.join('\n')}\n`);
  await psql(proxy.port, ['-f', scriptFile]);
  [psqlId] = await endedSessions(proxyStore, 1);
  await psql(proxy.port, ['-c', HOSTILE_SQL]);
  const ids = await endedSessions(proxyStore, 2);
  hostileId = ids.find((id) => id !== psqlId)!;

  const store = openStore(`sqlite:${directStore}`);
  corpusId = await recordCorpus(store);
  timedId = await recordTimed(store);
  await store.close();
});

after(async () => {
  await proxy?.close();
  rmSync(dir, { recursive: true, force: true });
});

const P = () => `sqlite:${proxyStore}`;
const D = () => `sqlite:${directStore}`;

describe('dbtape sessions', () => {
  test('--json: the SPEC array, newest first', async () => {
    const list = JSON.parse(await ok('sessions', '--json', '--store', P()));
    assert.equal(list.length, 2);
    assert.deepEqual(
      list.map((s: { id: string }) => s.id),
      [hostileId, psqlId],
    );
    for (const s of list) {
      assert.deepEqual(Object.keys(s), [
        'id',
        'user',
        'target',
        'protocol',
        'client_addr',
        'application',
        'started_at',
        'ended_at',
        'statements',
        'errors',
        'status',
      ]);
      assert.equal(s.user, 'alice');
      assert.equal(s.target, 'app');
      assert.equal(s.protocol, 'postgres');
      assert.equal(s.client_addr, '127.0.0.1');
      assert.equal(s.application, 'psql');
      assert.equal(s.status, 'ended');
      assert.match(s.started_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    }
    assert.equal(list[1].statements, SCRIPT.length);
    assert.equal(list[1].errors, 2);
  });

  test('filters: --user, --target, --since, --active, --limit', async () => {
    assert.deepEqual(JSON.parse(await ok('sessions', '--json', '--user', 'bob', '--store', P())), []);
    assert.equal(JSON.parse(await ok('sessions', '--json', '--target', 'app', '--store', P())).length, 2);
    assert.equal(JSON.parse(await ok('sessions', '--json', '--since', '1h', '--store', P())).length, 2);
    assert.deepEqual(
      JSON.parse(
        await ok('sessions', '--json', '--since', '2020-01-01T00:00:00Z', '--active', '--store', P()),
      ),
      [],
    );
    const limited = await dbtape(['sessions', '--json', '--limit', '1', '--store', P()]);
    assert.equal(JSON.parse(limited.stdout).length, 1);
    assert.match(limited.stderr, /^dbtape: listed the newest 1 sessions; use --limit to see more$/m);
    const all = await dbtape(['sessions', '--json', '--store', P()]);
    assert.equal(all.stderr, '', 'nothing on stderr when the list is whole');
    const bad = await dbtape(['sessions', '--since', 'yesterday', '--store', P()]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /30s, 15m, 2h or 7d/);
  });

  test('a readable table by default', async () => {
    const out = await ok('sessions', '--store', P());
    const lines = out.split('\n');
    assert.match(
      lines[0]!,
      /^ID\s+USER\s+TARGET\s+PROTOCOL\s+CLIENT\s+APP\s+STARTED\s+DURATION\s+STMTS\s+ERRORS\s+STATUS$/,
    );
    assert.ok(
      lines.some((l) => l.startsWith(psqlId) && /alice\s+app\s+postgres\s+127\.0\.0\.1:\d+\s+psql\s/.test(l)),
    );
    assert.match(out, /ended \(client_closed\)/);
    assert.match(out, /2 sessions/);
  });

  test('-c FILE reads the store named in that config; without a store or a config, a clear error', async () => {
    const list = JSON.parse(await ok('sessions', '--json', '-c', proxy.configFile));
    assert.equal(list.length, 2);
    const none = await dbtape(['sessions']);
    assert.equal(none.code, 1);
    assert.match(
      none.stderr,
      /^dbtape: no session store given and no dbtape\.yaml here: pass --store sqlite:PATH/,
    );
    const missing = await dbtape(['sessions', '--store', `sqlite:${join(dir, 'nope.db')}`]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^dbtape: no session store at .*nope\.db/);
  });
});

describe('dbtape show', () => {
  test('--json: every statement in order with its outcome, rows and timing', async () => {
    const doc = JSON.parse(await ok('show', psqlId, '--json', '--store', P()));
    assert.equal(doc.session.id, psqlId);
    // The session's metadata in full (SPEC.md, "What a recording holds").
    const s = doc.session as Record<string, unknown>;
    assert.deepEqual(s.roles, ['app-writer']);
    assert.equal(typeof s.client_port, 'number');
    assert.equal(s.client_tls, null, 'psql connected with sslmode=disable');
    assert.equal(s.upstream_database, 'test');
    assert.equal(s.upstream_user, 'postgres');
    assert.equal(s.end_reason, 'client_closed');
    assert.equal(s.last_seq, doc.events.length);
    const events = doc.events as {
      seq: number;
      kind: string;
      offset_ms: number;
      sql?: string;
      [k: string]: unknown;
    }[];
    assert.deepEqual(
      events.map((e) => e.seq),
      events.map((_, i) => i + 1),
      'dense sequence numbers',
    );
    for (let i = 1; i < events.length; i++)
      assert.ok(events[i]!.offset_ms >= events[i - 1]!.offset_ms, 'offsets never go back');
    const queries = events.filter((e) => e.kind === 'query').map((e) => e.sql);
    assert.deepEqual(queries, SCRIPT);
    // Each statement's outcome is the next result or error.
    const outcome = (sql: string) => {
      const i = events.findIndex((e) => e.sql === sql);
      return events.slice(i + 1).find((e) => e.kind === 'result' || e.kind === 'error')!;
    };
    assert.deepEqual([outcome(SCRIPT[1]!).tag, outcome(SCRIPT[1]!).rows], ['INSERT 0 3', 3]);
    assert.deepEqual([outcome(VALUES_QUERY).tag, outcome(VALUES_QUERY).rows], ['SELECT 2', 2]);
    assert.equal(outcome(SCRIPT[3]!).rows, 20);
    assert.deepEqual(outcome('SELECT 1/0;').error, {
      code: '22012',
      message: 'division by zero',
      severity: 'ERROR',
    });
    assert.equal((outcome('SELECT * FROM no_such_table_cli_read;').error as { code: string }).code, '42P01');
    for (const e of events.filter((x) => x.kind === 'result')) assert.equal(typeof e.duration_us, 'number');
    assert.equal(events.at(-1)!.kind, 'end');
  });

  test('readable form by unique id prefix; an unknown id fails with exit 1', async () => {
    const out = await ok('show', psqlId.slice(0, 12), '--store', P());
    assert.match(out, new RegExp(`^session\\s+${psqlId}`));
    assert.match(out, /user\s+alice/);
    assert.match(out, /-> INSERT 0 3 \(3 rows\)/);
    assert.match(out, /-> ERROR 22012: division by zero/);
    for (const sql of SCRIPT.filter((s) => s !== VALUES_QUERY)) assert.ok(out.includes(sql), `lists ${sql}`);
    const missing = await dbtape(['show', 'nosuchsession', '--store', P()]);
    assert.equal(missing.code, 1);
    assert.match(missing.stderr, /^dbtape: no session nosuchsession/);
  });
});

describe('dbtape replay', () => {
  test('--instant shows every statement and result as psql did', async () => {
    const out = await ok('replay', psqlId, '--instant', '--store', P());
    for (const sql of SCRIPT) assert.ok(out.includes(`alice@app=`) && out.includes(sql), `shows ${sql}`);
    assert.match(
      out,
      /^alice@app=> INSERT INTO cli_read_t VALUES \(1, 'a'\), \(2, 'b'\), \(3, 'c'\);\nINSERT 0 3$/m,
    );
    // The table is exactly what psql itself prints for the same query.
    const direct = await run(
      'psql',
      ['-X', '-h', '127.0.0.1', '-U', 'postgres', '-d', 'test', '-c', VALUES_QUERY],
      {
        env: envWithoutPg(),
      },
    );
    assert.ok(
      out.includes(direct.stdout.trimEnd()),
      `psql printed:\n${direct.stdout}\nreplay printed:\n${out}`,
    );
    assert.match(out, /\(20 rows\)\n-- dbtape: only the first 5 rows were recorded/);
    assert.match(out, /alice@app=\*> SELECT 1\/0;\nERROR: {2}22012: division by zero/);
    assert.match(out, /alice@app=!> ROLLBACK;\nROLLBACK/);
    assert.match(out, /ERROR: {2}42P01: relation "no_such_table_cli_read" does not exist/);
    assert.match(out, /-- session ended: client_closed/);
    assert.match(out, /Time: \d+\.\d{3} ms/);
  });

  test('--speed 1 takes as long as the session did (±10%), --speed 4 a quarter', async () => {
    // Measured from the header (printed before the first wait) to the last event's text, so the
    // process start and store opening, which vary with machine load, are not counted.
    for (const [speed, expected] of [
      ['1', 2000],
      ['4', 500],
    ] as const) {
      const r = await timedReplay(['replay', timedId, '--speed', speed, '--store', D()]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /-- session ended: client_closed/);
      // ±10% (the bound for --speed 1), but never under 100 ms: due times are absolute, so
      // only the last wake-up's lateness shows, and on a loaded shared machine one timer has fired
      // 70 ms late (a replay at --speed 4 of 570 ms for 500).
      const slack = Math.max(expected * 0.1, 100);
      assert.ok(
        r.spanMs >= expected - slack && r.spanMs <= expected + slack,
        `--speed ${speed} played ${r.spanMs.toFixed(0)} ms from first to last output; the session lasted 2000 ms`,
      );
    }
    const instant = await timedReplay(['replay', timedId, '--instant', '--store', D()]);
    assert.ok(
      instant.spanMs < 200,
      `--instant took ${instant.spanMs.toFixed(0)} ms between first and last output`,
    );
  });

  test('--speed and --instant exclude each other', async () => {
    const r = await dbtape(['replay', timedId, '--speed', '2', '--instant', '--store', D()]);
    assert.equal(r.code, 2);
  });

  test('--follow prints a live session as it is recorded and exits when it ends', async () => {
    const store = openStore(`sqlite:${directStore}`);
    const recorder = new Recorder({ store, capture: 'rows' });
    const id = newSessionId();
    const rec = recorder.open(sessionMeta(id, { user: 'erin', startedAtUs: T0 }));
    rec.event({ kind: 'query', sql: 'SELECT live_one;', via: 'simple' });
    await recorder.flush();
    const child = spawn(process.execPath, [DBTAPE_BIN, 'replay', id, '--follow', '--store', D()], {
      cwd: dir,
      env: { PATH: process.env.PATH },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      let out = '';
      let err = '';
      child.stdout.setEncoding('utf8').on('data', (d) => {
        out += d;
      });
      child.stderr.setEncoding('utf8').on('data', (d) => {
        err += d;
      });
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      await waitFor(() => out.includes('erin@app=> SELECT live_one;'), { what: 'the backlog on stdout' });
      rec.event({ kind: 'result', tag: 'SELECT 1', rows: 1, durationUs: 10 });
      rec.event({ kind: 'query', sql: 'SELECT live_two;', via: 'simple' });
      await recorder.flush();
      await waitFor(() => out.includes('erin@app=> SELECT live_two;'), { what: 'a new statement on stdout' });
      assert.ok(child.exitCode === null, 'still following while the session is open');
      rec.event({ kind: 'end', reason: 'client_closed' });
      await recorder.flush();
      const code = await withTimeout(exited, 10_000, 'replay --follow to exit after the session ended');
      assert.equal(code, 0, err);
      assert.match(
        out,
        /SELECT live_one;\nSELECT 1\n(Time: .*\n)?erin@app=> SELECT live_two;\n-- session ended: client_closed/,
      );
    } finally {
      child.kill();
      await store.close();
    }
  });
});

describe('dbtape search', () => {
  test('--json: the SPEC shape, best match first', async () => {
    const hits = JSON.parse(await ok('search', 'unique_token_qx7', '--json', '--store', P()));
    assert.equal(hits.length, 1);
    assert.deepEqual(
      Object.keys(hits[0]).sort(),
      ['at', 'seq', 'session_id', 'snippet', 'sql', 'target', 'user'].sort(),
    );
    assert.equal(hits[0].session_id, psqlId);
    assert.equal(hits[0].sql, "SELECT 'unique_token_qx7' AS tok;");
    assert.equal(hits[0].user, 'alice');
  });

  test('readable hits with the match marked, filters', async () => {
    const out = await ok('search', 'unique_token_qx7', '--store', P());
    assert.ok(out.startsWith(`${psqlId} #`));
    assert.match(out, /SELECT '\[\[unique_token_qx7\]\]' AS tok;/);
    assert.match(out, /1 match/);
    const failed = JSON.parse(
      await ok('search', 'no_such_table_cli_read', '--errors', '--json', '--store', P()),
    );
    assert.equal(failed.length, 1);
    assert.deepEqual(
      JSON.parse(await ok('search', 'unique_token_qx7', '--errors', '--json', '--store', P())),
      [],
    );
    assert.deepEqual(
      JSON.parse(await ok('search', 'unique_token_qx7', '--user', 'bob', '--json', '--store', P())),
      [],
    );
    assert.match(await ok('search', 'nothing_like_this_anywhere', '--store', P()), /^no matches$/m);
  });

  test('a search with no word in it is a usage error (exit 2) that says what is indexed', async () => {
    const r = await dbtape(['search', '😀 --', '--store', P()]);
    assert.equal(r.code, 2);
    assert.match(r.stderr, /^dbtape: search needs at least one word .*emoji are not indexed$/m);
  });
});

describe('dbtape export', () => {
  test('jsonl: the session first, then every event with session_id', async () => {
    const lines = (await ok('export', psqlId, '--format', 'jsonl', '--store', P()))
      .trimEnd()
      .split('\n')
      .map((l) => JSON.parse(l));
    assert.equal(lines[0].session.id, psqlId);
    const shown = JSON.parse(await ok('show', psqlId, '--json', '--store', P()));
    assert.deepEqual(
      lines.slice(1),
      shown.events.map((e: object) => ({ session_id: psqlId, ...e })),
    );
  });

  test('asciicast v2 to a file: valid, non-decreasing times, the replay text with CRLF', async () => {
    const file = join(dir, 'session.cast');
    await ok('export', psqlId, '--format', 'asciicast', '-o', file, '--store', P());
    assert.equal(statSync(file).mode & 0o777, 0o600, 'readable by its owner only, like the store');
    const lines = readFileSync(file, 'utf8').trimEnd().split('\n');
    const header = JSON.parse(lines[0]!);
    assert.equal(header.version, 2);
    assert.ok(header.width >= 80 && header.height > 0);
    let last = 0;
    let text = '';
    for (const line of lines.slice(1)) {
      const [t, kind, data] = JSON.parse(line);
      assert.equal(kind, 'o');
      assert.ok(t >= last);
      last = t;
      text += data;
    }
    const replay = await ok('replay', psqlId, '--instant', '--store', P());
    assert.equal(text, replay.replaceAll('\n', '\r\n'));
  });

  test('html: one self-contained page', async () => {
    const html = await ok('export', psqlId, '--format', 'html', '--store', P());
    assert.match(html, /^<!doctype html>/);
    assert.doesNotMatch(html, /<script|\bsrc=|\bhref=/i);
    assert.ok(html.includes('unique_token_qx7'));
    assert.ok(html.includes('division by zero'));
  });

  test('--format is required and checked', async () => {
    assert.equal((await dbtape(['export', psqlId, '--store', P()])).code, 2);
    assert.equal((await dbtape(['export', psqlId, '--format', 'pdf', '--store', P()])).code, 2);
  });
});

describe('terminal safety', () => {
  test('a psql session with escape sequences replays, shows and searches without raw control bytes', async () => {
    const outputs = {
      replay: await ok('replay', hostileId, '--instant', '--store', P()),
      show: await ok('show', hostileId, '--store', P()),
      showJson: await ok('show', hostileId, '--json', '--store', P()),
      search: await ok('search', 'hostile_token_zz9', '--store', P()),
      searchJson: await ok('search', 'hostile_token_zz9', '--json', '--store', P()),
      sessions: await ok('sessions', '--store', P()),
      html: await ok('export', hostileId, '--format', 'html', '--store', P()),
      jsonl: await ok('export', hostileId, '--format', 'jsonl', '--store', P()),
      cast: await ok('export', hostileId, '--format', 'asciicast', '--store', P()),
    };
    for (const [what, text] of Object.entries(outputs)) assertTerminalSafe(text, what);
    assert.ok(outputs.replay.includes('␛]52;c;ZWNobyBoaQ==␇'), 'the escape is shown, not executed');
    assert.ok(outputs.replay.includes('⟨U+202E⟩'));
    // JSON keeps the recorded text exactly, escaped.
    const doc = JSON.parse(outputs.showJson);
    assert.equal(doc.events.find((e: { kind: string }) => e.kind === 'query').sql, HOSTILE_SQL);
  });

  test('the full corpus (NUL, invalid UTF-8, C1, bidi) recorded through the Recorder', async () => {
    const outputs = {
      replay: await ok('replay', corpusId, '--instant', '--store', D()),
      show: await ok('show', corpusId, '--store', D()),
      showJson: await ok('show', corpusId, '--json', '--store', D()),
      search: await ok('search', 'corpus_token_kk3', '--store', D()),
      sessions: await ok('sessions', '--store', D()),
      html: await ok('export', corpusId, '--format', 'html', '--store', D()),
      jsonl: await ok('export', corpusId, '--format', 'jsonl', '--store', D()),
      cast: await ok('export', corpusId, '--format', 'asciicast', '--store', D()),
    };
    for (const [what, text] of Object.entries(outputs)) assertTerminalSafe(text, what);
    assert.ok(
      outputs.replay.includes('⟨xdc80⟩') || outputs.replay.includes('⟨x80⟩'),
      'an invalid byte is shown as its value',
    );
    assert.ok(outputs.replay.includes('␀'), 'NUL shown visibly');
    const doc = JSON.parse(outputs.showJson);
    assert.equal(
      doc.events.find((e: { kind: string }) => e.kind === 'error').error.message,
      CORPUS,
      'JSON keeps the text exactly',
    );
  });
});
