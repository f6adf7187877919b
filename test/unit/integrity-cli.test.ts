/**
 * `dbtape keys` and `dbtape verify` as a user runs them: `node bin/dbtape.js ...` on the built
 * output (the test runner builds first; alone, run `npm run build` before).
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { loadConfig } from '../../src/config/load.js';
import { Recorder } from '../../src/recording/recorder.js';
import { loadStoreKeys, openStore } from '../../src/store/open-store.js';
import { dbtapeCli } from '../support/dbtape-process.js';
import { sessionMeta } from '../support/session-meta.js';

const root = resolve(import.meta.dirname, '../..');
const dir = mkdtempSync(join(tmpdir(), 'dbtape-keys-cli-'));
after(() => rmSync(dir, { recursive: true, force: true }));

before(() => {
  if (!existsSync(join(root, 'dist/cli/main.js'))) {
    throw new Error('dist/cli/main.js is missing: run `npm run build` before this test');
  }
});

function dbtape(args: string[]) {
  return dbtapeCli(args, { cwd: dir });
}

const CONFIG = `store:
  url: sqlite:data/rec.db
  signing_key_file: secrets/signing.key
  encryption_key_file: secrets/master.key
targets:
  - name: app
    protocol: postgres
    host: 127.0.0.1
    user: app
`;

describe('dbtape keys and verify', () => {
  test('keys generate writes the files the config names, 0600, and never overwrites', async () => {
    writeFileSync(join(dir, 'dbtape.yaml'), CONFIG);
    const r = await dbtape(['keys', 'generate', '-c', 'dbtape.yaml']);
    assert.equal(r.code, 0, r.stderr);
    for (const f of ['signing.key', 'master.key']) {
      assert.equal(statSync(join(dir, 'secrets', f)).mode & 0o777, 0o600, f);
    }
    assert.ok(existsSync(join(dir, 'secrets', 'signing.pub')));
    assert.match(r.stdout, /checkpoint signing key \(Ed25519, key id [0-9a-f]{16}\)/);
    assert.doesNotMatch(r.stdout, /add to/, 'the config already names both files');
    const again = await dbtape(['keys', 'generate', '-c', 'dbtape.yaml']);
    assert.equal(again.code, 1);
    assert.match(
      again.stderr,
      /^dbtape: .*already exist; dbtape never overwrites key files \(nothing was written\)/,
    );
  });

  test('keys generate --dir --only signing writes just that, and says what to add to the config', async () => {
    const r = await dbtape(['keys', 'generate', '--dir', 'other', '--only', 'signing']);
    assert.equal(r.code, 0, r.stderr);
    assert.ok(existsSync(join(dir, 'other', 'signing.key')));
    assert.ok(!existsSync(join(dir, 'other', 'master.key')));
    assert.match(r.stdout, /add to dbtape\.yaml:\n {2}store:\n {4}signing_key_file: other\/signing\.key\n$/);
  });

  test("verify checks a recorded store with the config's keys, before and after a key rotation", async () => {
    const config = loadConfig(join(dir, 'dbtape.yaml'));
    const store = openStore(config.store.url, loadStoreKeys(config.store));
    const recorder = new Recorder({ store });
    for (let i = 0; i < 3; i++) {
      const rec = recorder.open(sessionMeta(`k${i}`, { startedAtUs: Date.now() * 1000 }));
      rec.event({ kind: 'query', sql: 'SELECT secret FROM vault', via: 'simple' });
      rec.event({ kind: 'end', reason: 'client_closed' });
    }
    await recorder.shutdown();
    await store.close();

    const ok = await dbtape(['verify', '--all', '-c', 'dbtape.yaml']);
    assert.equal(ok.code, 0, ok.stderr + ok.stdout);
    assert.match(
      ok.stdout,
      /^checked 3 sessions \(9 events, 3 sealed, 0 open\) and 1 signed checkpoint, last #1 at .*: no damage found$/m,
    );
    assert.doesNotMatch(ok.stdout, /recorded in the store/);

    const storeKeyOnly = await dbtape(['verify', 'k1', '--store', 'sqlite:data/rec.db']);
    assert.equal(storeKeyOnly.code, 0, storeKeyOnly.stderr);
    assert.match(
      storeKeyOnly.stdout,
      /note: signatures were checked with the public key recorded in the store/,
    );

    const rotated = await dbtape(['keys', 'rotate', '-c', 'dbtape.yaml']);
    assert.equal(rotated.code, 0, rotated.stderr);
    assert.match(rotated.stdout, /master key version 2 .* is now current/);
    assert.match(rotated.stdout, /re-wrapped 4 data keys; no recording was rewritten/);
    const after = await dbtape(['verify', '--all', '-c', 'dbtape.yaml', '--json']);
    assert.equal(after.code, 0, after.stderr);
    assert.equal((JSON.parse(after.stdout) as { ok: boolean }).ok, true);
  });

  test('verify takes a session or --all, not both; with neither it checks the whole store', async () => {
    const both = await dbtape(['verify', 'k1', '--all', '-c', 'dbtape.yaml']);
    assert.equal(both.code, 2);
    assert.match(both.stderr, /give a session ID or --all, not both/);
    const bare = await dbtape(['verify', '-c', 'dbtape.yaml']);
    assert.equal(bare.code, 0, bare.stderr + bare.stdout);
    assert.match(bare.stdout, /^checked \d+ sessions .*: no damage found$/m);
  });
});
