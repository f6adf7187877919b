// Secrets and hostile text, end to end. Every PostgreSQL statement of the redaction corpus goes
// through a spawned `dbtape serve` (node-postgres, simple and extended protocol) to the machine's
// PostgreSQL, and psql's own `\password` runs in a pseudo-terminal; then the canary must be in no
// byte of the store files, no line dbtape logged, no CLI output and no HTTP API response. A second
// session sends terminal escapes, OSC 52, bidi overrides, C1 controls and invalid UTF-8 as raw bytes:
// replay, show, search and sessions must print none of them raw, while show --json keeps the text.
// Needs `npm run build` (npm test does it) and PostgreSQL on 127.0.0.1:5432.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { loadConfig } from '../../src/config/load.js';
import { LiveBus } from '../../src/recording/live-bus.js';
import { openStore } from '../../src/store/open-store.js';
import type { SessionStore } from '../../src/store/session-store.js';
import { startWeb } from '../../src/web/index.js';
import type { RunningWeb } from '../../src/web/types.js';
import { CANARY_CORE, SECRET_CORPUS } from '../fixtures/redaction-corpus.js';
import { requireBinary, requirePgBinary } from '../support/binaries.js';
import { collectingLogger, type LogLine, loggedIn, queryMessage } from '../support/inproc-dbtape.js';
import { ALICE, aliceEnv, background, connectDirect, tempDir, uniqueName } from '../support/pg-fixtures.js';
import {
  aliceDsn,
  alicePg,
  BIDI_CONTROLS,
  bindMsg,
  type CliRun,
  cliOk,
  describeMsg,
  endedSessions,
  executeMsg,
  parseMsg,
  queryBytes,
  type RecordingProxy,
  type ShowJson,
  SYNC_MSG,
  startRecordingProxy,
  storeBytes,
  unsafeByte,
} from '../support/recording-fixtures.js';
import { withTimeout } from '../support/wait.js';

const PSQL = requirePgBinary('psql', 'postgresql-client');
const SCRIPT = requireBinary('script', 'bsdutils');

const SUFFIX = `${process.pid}_${randomBytes(3).toString('hex')}`;
/** The corpus names roles alice, bob and staff; these unique ones stand in for them upstream. */
const ROLES: Record<string, string> = {
  alice: `rec_alice_${SUFFIX}`,
  bob: `rec_bob_${SUFFIX}`,
  staff: `rec_staff_${SUFFIX}`,
};
const PW_ROLE = `rec_pw_${SUFFIX}`;
const APP_SECRETS = uniqueName('rec_secrets');
/** Recorded in the clear next to the secrets: proves the byte checks read real recorded text. */
const MARKER = `harmless${randomBytes(5).toString('hex')}marker`;
const HOSTILE_TOKEN = `hostile${randomBytes(5).toString('hex')}tok`;

const PG_CASES = SECRET_CORPUS.filter((c) => c.dialect === 'postgres').map((c) => ({
  ...c,
  sql: c.sql.replace(/\b(alice|bob|staff)\b/g, (name) => ROLES[name]!),
}));

let proxy: RecordingProxy;
let monitor: pg.Client;
/** The SCRAM verifier psql's \password computed and sent; read back from pg_authid. */
let verifier = '';
let secretIds: string[] = [];
let hostileId = '';

/** What must appear nowhere: the canary, and each part of the verifier psql sent. */
function secrets(): string[] {
  const parts = verifier.split(/[$:]/).filter((p) => p.length >= 16);
  assert.equal(parts.length, 3, `salt, stored key and server key of ${verifier}`);
  return [CANARY_CORE, verifier, ...parts];
}

function assertNoSecret(text: string | Buffer, where: string): void {
  const bytes = typeof text === 'string' ? Buffer.from(text) : text;
  for (const s of secrets()) {
    const at = bytes.indexOf(s);
    assert.equal(
      at,
      -1,
      `${where} holds ${s === CANARY_CORE ? 'the canary' : 'the \\password verifier'} at byte ${at}: ` +
        JSON.stringify(bytes.subarray(Math.max(0, at - 80), at + 40).toString('latin1')),
    );
  }
}

// --- the sessions -----------------------------------------------------------------------------------

/** Every PostgreSQL corpus statement, simple and extended, each in a savepoint of one rolled-back transaction. */
async function runCorpus(): Promise<void> {
  const client = new pg.Client(alicePg(proxy, APP_SECRETS));
  await client.connect();
  client.on('notice', () => {});
  try {
    // One transaction, rolled back at the end: roles and functions made here vanish, and ALTER SYSTEM
    // and CREATE SUBSCRIPTION refuse to run inside it, so the server's configuration is never touched.
    await client.query('BEGIN');
    await client.query(`CREATE ROLE ${ROLES.alice}; CREATE ROLE ${ROLES.bob}`);
    await client.query(`SELECT '${MARKER}' AS marker`);
    const attempt = async (q: pg.QueryConfig) => {
      await client.query('SAVEPOINT corpus');
      try {
        await client.query(q);
        await client.query('RELEASE SAVEPOINT corpus');
      } catch {
        // Failing upstream is fine (no dblink, no such server, syntax): the text is what is recorded.
        await client.query('ROLLBACK TO SAVEPOINT corpus');
      }
    };
    for (const c of PG_CASES) {
      if (c.params) {
        await attempt({ text: c.sql, values: [...c.params] });
      } else {
        await attempt({ text: c.sql });
        await attempt({ text: c.sql, values: [], queryMode: 'extended' } as pg.QueryConfig);
      }
    }
    const status = await client.query('SELECT now() = statement_timestamp() AS outside');
    assert.equal(status.rows[0].outside, false, 'the corpus ran inside the transaction');
    await client.query('ROLLBACK');
  } finally {
    await client.end();
  }
}

/** psql's `\password ROLE` in a pseudo-terminal: psql hashes the password and sends the verifier. */
async function runPsqlPassword(): Promise<void> {
  await monitor.query(`create role ${PW_ROLE} login`);
  const typed = `typed-${randomBytes(8).toString('hex')}`;
  const command = `${PSQL} -X -d '${aliceDsn(proxy)}' -c '\\password ${PW_ROLE}'`;
  const b = background(SCRIPT, ['-qec', command, '/dev/null'], aliceEnv());
  try {
    // psql flushes the terminal's input before each prompt: answer only once it is asked.
    await b.waitForOutput(/Enter new password/);
    b.child.stdin!.write(`${typed}\n`);
    await b.waitForOutput(/Enter it again/);
    b.child.stdin!.write(`${typed}\n`);
    const exit = await withTimeout(b.exited, 20_000, 'psql \\password to finish');
    assert.equal(exit.code, 0, `psql \\password failed:\n${b.stdout()}\n${b.stderr()}`);
  } finally {
    b.kill();
  }
  const r = await monitor.query('select rolpassword from pg_authid where rolname = $1', [PW_ROLE]);
  verifier = r.rows[0].rolpassword;
  assert.match(verifier, /^SCRAM-SHA-256\$4096:/, 'psql set a SCRAM verifier through dbtape');
}

const ESC = '\u001b';
/** Valid UTF-8, but every kind of thing a terminal acts on. */
const HOSTILE_SQL =
  `SELECT '${ESC}[2J${ESC}]52;c;ZWNobyBoaQ==\u0007' AS "${ESC}[31mcol", '${ESC}[31mred${ESC}[0m' AS b, ` +
  `'x\u202eevil\u2066' AS c, '\u009b2J\u009d0;t\u009c' AS d, 'del\u007f bs\b cr\r' AS e, '${HOSTILE_TOKEN}' AS f`;
/** Invalid UTF-8 (0xff 0xfe, a lone C1 byte 0x9b): the server refuses it, the recording keeps it. */
const INVALID_UTF8 = Buffer.concat([
  Buffer.from(`SELECT 'bad `),
  Buffer.from([0xff, 0xfe, 0x9b]),
  Buffer.from(` ${HOSTILE_TOKEN}'`),
]);
/** Each invalid byte as the lone surrogate U+DC80+byte (wire/text.ts). */
const INVALID_UTF8_TEXT = `SELECT 'bad \udcff\udcfe\udc9b ${HOSTILE_TOKEN}'`;
const HOSTILE_NOTICE = `DO $$BEGIN RAISE NOTICE 'note ${ESC}]0;title\u0007 \u202e'; END$$`;
const HOSTILE_ERROR = `SELECT '${ESC}[5m${HOSTILE_TOKEN}'::int`;
const HOSTILE_PARAM = `param ${ESC}]52;c;aGk=\u0007 \u009b31m \u202e`;
const HOSTILE_APP = `hostile ${ESC}]0;pwned\u0007\u202e`;

async function runHostile(): Promise<void> {
  const raw = await loggedIn(proxy.port, {
    user: ALICE.name,
    password: ALICE.password,
    params: [['application_name', HOSTILE_APP]],
  });
  try {
    for (const q of [
      queryMessage(HOSTILE_SQL),
      queryBytes(INVALID_UTF8),
      queryMessage(HOSTILE_NOTICE),
      queryMessage(HOSTILE_ERROR),
    ]) {
      await raw.send(q);
      await raw.readUntil('Z');
    }
    await raw.send(
      Buffer.concat([
        parseMsg('', 'SELECT $1::text AS echoed', [25]),
        bindMsg('', '', [Buffer.from(HOSTILE_PARAM)]),
        describeMsg('P'),
        executeMsg(),
        SYNC_MSG,
      ]),
    );
    await raw.readUntil('Z');
    await raw.send(Buffer.from([0x58, 0, 0, 0, 4])); // Terminate
    await raw.closed();
  } finally {
    raw.destroy();
  }
}

before(async () => {
  proxy = await startRecordingProxy({ capture: 'rows', maxRows: 5, logLevel: 'debug' });
  monitor = await connectDirect();
  await runCorpus();
  await runPsqlPassword();
  await runHostile();
  const ended = await endedSessions(proxy.storeUrl, () => true, 3);
  secretIds = ended.filter((s) => !s.application?.startsWith('hostile')).map((s) => s.id);
  hostileId = ended.find((s) => s.application?.startsWith('hostile'))!.id;
  assert.equal(secretIds.length, 2);
});

after(async () => {
  await proxy?.stop();
  await monitor?.query(`drop role if exists ${PW_ROLE}`);
  await monitor?.end();
});

// --- CLI output, gathered once -----------------------------------------------------------------------

interface Outputs {
  /** Label → output, of everything the CLI printed about the recorded sessions. */
  readonly all: Map<string, CliRun>;
  readonly show: Map<string, ShowJson>;
}

let outputs: Promise<Outputs> | null = null;

/** Every read command on every session, run once, a few at a time. */
function cliOutputs(): Promise<Outputs> {
  outputs ??= (async () => {
    const jobs: [string, string[]][] = [
      ['sessions --json', ['sessions', '--json']],
      ['sessions', ['sessions']],
    ];
    for (const id of [...secretIds, hostileId]) {
      jobs.push(
        [`show --json ${id}`, ['show', id, '--json']],
        [`show ${id}`, ['show', id]],
        [`replay --instant ${id}`, ['replay', id, '--instant']],
        [`export jsonl ${id}`, ['export', id, '--format', 'jsonl']],
        [`export asciicast ${id}`, ['export', id, '--format', 'asciicast']],
        [`export html ${id}`, ['export', id, '--format', 'html']],
      );
    }
    for (const words of [
      ['password'],
      ['PASSWORD', 'role'],
      ['dblink_connect'],
      ['mapping'],
      ['conninfo'],
      ['canary'],
      [CANARY_CORE],
      ['SCRAM'],
      [MARKER],
      [HOSTILE_TOKEN],
    ]) {
      jobs.push([`search ${words.join(' ')} --json`, ['search', ...words, '--json']]);
      jobs.push([`search ${words.join(' ')}`, ['search', ...words]]);
    }
    const all = new Map<string, CliRun>();
    const queue = [...jobs];
    const worker = async () => {
      for (let job = queue.shift(); job; job = queue.shift())
        all.set(job[0], await cliOk(proxy.storeUrl, job[1]));
    };
    await Promise.all(Array.from({ length: 4 }, worker));
    const show = new Map<string, ShowJson>();
    for (const id of [...secretIds, hostileId])
      show.set(id, JSON.parse(all.get(`show --json ${id}`)!.stdout) as ShowJson);
    return { all, show };
  })();
  return outputs;
}

// --- secrets -------------------------------------------------------------------------------------

describe('the canary is nowhere', () => {
  test('every corpus statement was recorded (the checks below look at real recordings)', async () => {
    const { show } = await cliOutputs();
    const corpus = show.get(secretIds.find((id) => show.get(id)!.session.application === APP_SECRETS)!)!;
    const queries = corpus.events.filter((e) => e.kind === 'query');
    const simple = PG_CASES.filter((c) => !c.params).length;
    // BEGIN, the roles, the marker, a SAVEPOINT and RELEASE or ROLLBACK TO around each attempt, the check, ROLLBACK.
    const attempts = simple * 2 + (PG_CASES.length - simple);
    assert.equal(queries.length, 3 + attempts * 3 + 2);
    assert.ok(queries.some((q) => q.sql === `SELECT '${MARKER}' AS marker`));
    assert.ok(
      queries.filter((q) => /PASSWORD/i.test(q.sql ?? '')).length >= 20,
      'statements with PASSWORD are recorded, masked',
    );
    const psql = show.get(secretIds.find((id) => show.get(id)!.session.application === 'psql')!)!;
    assert.ok(
      psql.events.some((e) => e.kind === 'query' && e.sql!.startsWith(`ALTER USER ${PW_ROLE} PASSWORD `)),
      `psql's \\password statement is recorded: ${psql.events.map((e) => e.sql).join(' | ')}`,
    );
  });

  test('in no byte of the store files (.db, -wal, -shm), while running and after shutdown', async () => {
    const check = (when: string) => {
      const files = storeBytes(proxy.storeFile);
      assert.ok(files.length >= 1);
      const all = Buffer.concat(files.map((f) => f.bytes));
      assert.ok(all.includes(MARKER), `the store is readable plaintext (${when}): the marker is in it`);
      for (const f of files) assertNoSecret(f.bytes, `${path.basename(f.file)} (${when})`);
    };
    check('running');
    await proxy.stop();
    check('after shutdown');
  });

  test('in no log line of dbtape (debug level)', () => {
    assert.ok(
      proxy.dbtape.logs.some((l) => secretIds.some((id) => l.includes(id))),
      'the sessions were logged',
    );
    proxy.dbtape.logs.forEach((line, i) => {
      assertNoSecret(line, `log line ${i + 1}`);
    });
  });

  test('in no CLI output: sessions, show, replay, export (jsonl, asciicast, html), search', async () => {
    const { all } = await cliOutputs();
    for (const [label, r] of all) {
      assertNoSecret(r.out, `dbtape ${label}`);
      assertNoSecret(r.stderr, `dbtape ${label} (stderr)`);
    }
    const marker = JSON.parse(all.get(`search ${MARKER} --json`)!.stdout) as unknown[];
    assert.equal(marker.length, 1, 'search works on this store');
    const near = JSON.parse(all.get('search password --json')!.stdout) as unknown[];
    assert.ok(near.length >= 10, `search finds the masked statements (${near.length})`);
  });

  test('in no HTTP API response', async () => {
    const dir = tempDir('dbtape-rec-web-');
    mkdirSync(path.join(dir, 'assets'));
    writeFileSync(path.join(dir, 'index.html'), '<!doctype html><title>dbtape</title>');
    const logs: LogLine[] = [];
    const store: SessionStore = openStore(proxy.storeUrl, { readonly: true });
    let web: RunningWeb | null = null;
    try {
      web = await startWeb({
        config: loadConfig(proxy.dbtape.configFile),
        store,
        bus: new LiveBus(),
        registry: { activeIds: () => [], kill: () => false },
        metrics: () => ({ sessionsActive: 0, sessionsTotal: 0, recording: null }),
        log: collectingLogger(logs),
        host: '127.0.0.1',
        port: 0,
        tokensFile: null,
        assetsDir: dir,
      });
      const login = await fetch(`${web.url}/api/login`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ user: ALICE.name, password: ALICE.password }),
      });
      assert.equal(login.status, 200, await login.clone().text());
      const cookie = (login.headers.get('set-cookie') ?? '').split(';')[0]!;
      const get = async (url: string) => {
        const res = await fetch(`${web!.url}${url}`, { headers: { cookie } });
        const body = await res.text();
        assert.equal(res.status, 200, `GET ${url}: ${body}`);
        assertNoSecret(body, `GET ${url}`);
        return body;
      };
      assert.equal(JSON.parse(await get('/api/sessions')).length, 3);
      let seen = '';
      for (const id of secretIds) {
        await get(`/api/sessions/${id}`);
        seen += await get(`/api/sessions/${id}/events`);
      }
      assert.ok(seen.includes(MARKER), 'the API serves the recorded statements');
      for (const q of ['password', 'dblink_connect', 'mapping', CANARY_CORE, 'SCRAM']) {
        await get(`/api/search?q=${encodeURIComponent(q)}`);
      }
      await get('/metrics');
      for (const line of logs) assertNoSecret(JSON.stringify(line), 'web log');
    } finally {
      await web?.close();
      await store.close();
    }
  });
});

// --- hostile text ------------------------------------------------------------------------------

describe('hostile text', () => {
  test('show --json keeps every hostile string exactly, as JSON escapes', async () => {
    const { all, show } = await cliOutputs();
    const { session, events } = show.get(hostileId)!;
    assert.equal(session.application, HOSTILE_APP);
    const sqls = events.filter((e) => e.kind === 'query').map((e) => e.sql);
    assert.deepEqual(sqls, [
      HOSTILE_SQL,
      INVALID_UTF8_TEXT,
      HOSTILE_NOTICE,
      HOSTILE_ERROR,
      'SELECT $1::text AS echoed',
    ]);
    const first = events.find((e) => e.kind === 'result')!;
    assert.deepEqual(first.row_data, [
      [
        `${ESC}[2J${ESC}]52;c;ZWNobyBoaQ==\u0007`,
        `${ESC}[31mred${ESC}[0m`,
        'x\u202eevil\u2066',
        '\u009b2J\u009d0;t\u009c',
        'del\u007f bs\b cr\r',
        HOSTILE_TOKEN,
      ],
    ]);
    assert.equal(first.columns![0]!.name, `${ESC}[31mcol`);
    assert.equal(events.find((e) => e.kind === 'notice')!.message, `note ${ESC}]0;title\u0007 \u202e`);
    const echoed = events.find((e) => e.kind === 'query' && e.params)!;
    assert.deepEqual(echoed.params, [HOSTILE_PARAM]);
    assert.equal(events.at(-2)!.row_data?.[0]?.[0], HOSTILE_PARAM);
    assert.equal(
      events.filter((e) => e.kind === 'error').length,
      2,
      'invalid UTF-8 and the bad integer fail upstream',
    );
    // The JSON itself is safe to print: every control is a \u escape.
    for (const label of [
      `show --json ${hostileId}`,
      `export jsonl ${hostileId}`,
      'sessions --json',
      `search ${HOSTILE_TOKEN} --json`,
    ]) {
      const bad = unsafeByte(all.get(label)!.out);
      assert.equal(bad, null, `${label}: raw control byte ${JSON.stringify(bad)}`);
      assert.doesNotMatch(all.get(label)!.stdout, BIDI_CONTROLS, `${label}: a raw bidi control`);
    }
  });

  test('replay, show, search and sessions print no raw ESC, C0/C1 control or bidi override', async () => {
    const { all } = await cliOutputs();
    const labels = [
      `replay --instant ${hostileId}`,
      `show ${hostileId}`,
      `search ${HOSTILE_TOKEN}`,
      'sessions',
    ];
    for (const label of labels) {
      const r = all.get(label)!;
      assert.ok(!r.out.includes(0x1b), `${label}: a raw ESC byte`);
      const bad = unsafeByte(r.out);
      assert.equal(bad, null, `${label}: raw control byte ${JSON.stringify(bad)}`);
      assert.doesNotMatch(r.stdout, BIDI_CONTROLS, `${label}: a raw bidi control`);
    }
    const replay = all.get(`replay --instant ${hostileId}`)!.stdout;
    assert.ok(replay.includes(HOSTILE_TOKEN), 'the hostile statements are shown, neutralised');
    assert.equal(replay.split(HOSTILE_TOKEN).length - 1 >= 3, true, 'every hostile statement is shown');
    const search = JSON.parse(all.get(`search ${HOSTILE_TOKEN} --json`)!.stdout) as { session_id: string }[];
    assert.ok(search.length >= 2 && search.every((h) => h.session_id === hostileId));
  });

  test('the asciicast export plays nothing a terminal would act on', async () => {
    const { all } = await cliOutputs();
    const lines = all.get(`export asciicast ${hostileId}`)!.stdout.trim().split('\n');
    const frames = lines.slice(1).map((l) => JSON.parse(l) as [number, string, string]);
    assert.ok(frames.some((f) => f[2].includes(HOSTILE_TOKEN)));
    for (const [, , text] of frames) {
      // A player interprets the frames as terminal output: only CR LF and tab may be controls.
      const bad = unsafeByte(Buffer.from(text.replace(/\r\n/g, '\n')));
      assert.equal(bad, null, `asciicast frame: ${JSON.stringify(bad)}`);
      assert.doesNotMatch(text, BIDI_CONTROLS, 'asciicast frame: a bidi control');
    }
  });
});
