/**
 * Encryption at rest as a user meets it: `dbtape keys generate -c dbtape.yaml`, `dbtape serve`
 * with store.encryption_key_file and store.signing_key_file, a real node-postgres session through
 * it carrying canaries in statement text, bound parameters and result values, then the read
 * commands with `-c dbtape.yaml` (sessions, show, search, replay, export, verify) read it back,
 * without the target's password variable set (they never connect to a target), while no canary
 * is anywhere in the store's files and `--store` alone (no key) is refused with a clear error.
 * Needs `npm run build` first (npm test does it) and PostgreSQL on 127.0.0.1:5432.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { before, test } from 'node:test';
import pg from 'pg';
import { parse, stringify } from 'yaml';
import { removeAtExit } from '../support/cleanup.js';
import { type Dbtape, dbtapeCli, startDbtape } from '../support/dbtape-process.js';
import { ALICE, machineTarget, proxyYaml, uniqueName } from '../support/pg-fixtures.js';
import { freePort } from '../support/ports.js';
import { storeBytes } from '../support/recording-fixtures.js';
import { requireMachinePg } from '../support/servers.js';

/** Each canary is one whole word, so that a blind-index search can find it. */
const CANARY_SQL = 'zqcanarysqlx7';
const CANARY_PARAM = 'zqcanaryparamx7';
const CANARY_ROW = 'zqcanaryrowx7';
const PASSWORD_ENV = 'ENCRYPTED_CLI_UPSTREAM_PASSWORD';

const dir = mkdtempSync(join(tmpdir(), 'dbtape-encrypted-cli-'));
removeAtExit(dir);
const configFile = join(dir, 'dbtape.yaml');
const storeFile = join(dir, 'rec.db');
let sessionId: string;

/** `node bin/dbtape.js ...args` in the config's folder, with no PG* or password variables. */
function dbtape(args: readonly string[]) {
  return dbtapeCli(args, { cwd: dir, env: { TZ: 'UTC' } });
}

async function ok(...args: string[]): Promise<string> {
  const r = await dbtape(args);
  assert.equal(r.code, 0, `dbtape ${args.join(' ')} exited ${r.code}:\n${r.stderr}`);
  return r.stdout;
}

before(async () => {
  await requireMachinePg();
  const port = await freePort();
  const target = { ...machineTarget(), password_env: PASSWORD_ENV };
  const doc = parse(proxyYaml({ targets: [target] }, port, null)) as Record<string, unknown>;
  doc.store = {
    url: 'sqlite:rec.db',
    capture_results: 'rows',
    max_rows: 10,
    encryption_key_file: 'keys/master.key',
    signing_key_file: 'keys/signing.key',
  };
  writeFileSync(configFile, stringify(doc));
  const generated = await dbtape(['keys', 'generate', '-c', configFile]);
  assert.equal(generated.code, 0, `keys generate: ${generated.stderr}`);
  assert.ok(existsSync(join(dir, 'keys', 'master.key')) && existsSync(join(dir, 'keys', 'signing.key')));

  const dbtapeProc: Dbtape = await startDbtape({
    config: stringify(doc),
    dir,
    env: { [PASSWORD_ENV]: 'not-needed-with-trust' },
  });
  const application = uniqueName('encrypted_cli');
  const client = new pg.Client({
    host: '127.0.0.1',
    port,
    user: ALICE.name,
    password: ALICE.password,
    database: 'app',
    application_name: application,
  });
  try {
    await client.connect();
    await client.query(`SELECT '${CANARY_SQL}' AS word`);
    const r = await client.query('SELECT $1::text AS p, $2::text AS r', [CANARY_PARAM, CANARY_ROW]);
    assert.equal(r.rows[0].r, CANARY_ROW);
    await client.query('SELECT 1/0').catch(() => {});
  } finally {
    await client.end();
    // A clean stop seals the session and signs a last checkpoint.
    await dbtapeProc.stop();
  }
});

test('with -c, sessions lists the recording without the target password variable set', async () => {
  assert.equal(process.env[PASSWORD_ENV], undefined);
  const list = JSON.parse(await ok('sessions', '--json', '-c', configFile)) as {
    id: string;
    statements: number;
    errors: number;
    status: string;
  }[];
  assert.equal(list.length, 1);
  assert.equal(list[0]!.status, 'ended');
  assert.ok(list[0]!.statements >= 3, `statements: ${list[0]!.statements}`);
  sessionId = list[0]!.id;
});

test('show -c decrypts statements, parameters and result rows', async () => {
  const shown = JSON.parse(await ok('show', sessionId, '--json', '-c', configFile)) as {
    events: { kind: string; sql?: string; params?: (string | null)[]; rows?: unknown }[];
  };
  const text = JSON.stringify(shown.events);
  assert.ok(text.includes(CANARY_SQL), 'statement text');
  assert.ok(text.includes(CANARY_PARAM), 'parameter');
  assert.ok(text.includes(CANARY_ROW), 'result row');
  assert.ok(
    shown.events.some((e) => e.kind === 'error'),
    'the division by zero',
  );
});

test('search -c finds whole words in statements and in parameters', async () => {
  for (const word of [CANARY_SQL, CANARY_PARAM]) {
    const hits = JSON.parse(await ok('search', word, '--json', '-c', configFile)) as { session_id: string }[];
    assert.equal(hits.length, 1, `hits for ${word}`);
    assert.equal(hits[0]!.session_id, sessionId);
  }
});

test('replay and export -c show the decrypted session', async () => {
  const replay = await ok('replay', sessionId, '--instant', '-c', configFile);
  assert.ok(replay.includes(CANARY_SQL), replay);
  const jsonl = await ok('export', sessionId, '--format', 'jsonl', '-c', configFile);
  assert.ok(jsonl.includes(CANARY_PARAM));
});

test('verify -c checks chains, seals, checkpoints with the configured key, and the data keys', async () => {
  const out = await ok('verify', '--all', '-c', configFile);
  assert.match(out, /no damage found/);
  assert.doesNotMatch(out, /public key recorded in the store/, 'the config names the trusted key');
  const one = await ok('verify', sessionId, '-c', configFile, '--json');
  assert.equal((JSON.parse(one) as { ok: boolean }).ok, true);
});

test('no canary is in the store files; without the key, reading events is refused clearly', async () => {
  const files = storeBytes(storeFile);
  assert.ok(files.length >= 1, 'no store file to look at');
  for (const { file, bytes } of files) {
    for (const canary of [CANARY_SQL, CANARY_PARAM, CANARY_ROW]) {
      assert.equal(bytes.indexOf(canary), -1, `${canary} in ${file}`);
      assert.equal(bytes.indexOf(Buffer.from(canary, 'utf16le')), -1, `${canary} (UTF-16) in ${file}`);
    }
  }
  const listed = await dbtape(['sessions', '--store', `sqlite:${storeFile}`]);
  assert.equal(listed.code, 0, 'listing needs no key');
  const refused = await dbtape(['show', sessionId, '--store', `sqlite:${storeFile}`]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /is encrypted and no key was given/);
});

test('check-config stays strict: it names the unset password variable', async () => {
  const r = await dbtape(['check-config', '-c', configFile]);
  assert.equal(r.code, 1);
  assert.match(r.stderr, new RegExp(`environment variable ${PASSWORD_ENV} is not set`));
});
