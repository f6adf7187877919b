/**
 * `dbtape serve` recording into a PostgreSQL store (store.url postgres://...), as a user runs it:
 * psql through dbtape, then the read commands with `--store postgres://...` find the session,
 * its statements and its search hits, replay and export it, and verify the store; a second serve on the same store is
 * refused while the first runs. Needs `npm run build` first (the test runner does it) and
 * PostgreSQL on 127.0.0.1:5432, which also holds the store (a throwaway database).
 */
import assert from 'node:assert/strict';
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { parse, stringify } from 'yaml';
import { generateSigningKey } from '../../src/integrity/signing-key.js';
import { type Dbtape, dbtapeCli, startDbtape } from '../support/dbtape-process.js';
import { runStatus } from '../support/exec.js';
import { aliceEnv, proxyYaml, tempDir } from '../support/pg-fixtures.js';
import { freePort } from '../support/ports.js';
import { requireMachinePg } from '../support/servers.js';
import { throwawayPgDatabase } from '../support/store-kinds.js';

const TOKEN = 'pg_store_token_q7z';
let dir: string;
let storeUrl: string;
let publicKey: string;
let dbtape: Dbtape;
let port: number;

function configYaml(listenPort: number): string {
  const doc = parse(proxyYaml({}, listenPort, null)) as Record<string, unknown>;
  doc.store = { url: storeUrl, signing_key_file: join(dir, 'signing.key'), durability: 'strict' };
  return stringify(doc);
}

async function cli(...args: string[]): Promise<string> {
  const r = await dbtapeCli(args, { cwd: dir });
  assert.equal(r.code, 0, `dbtape ${args.join(' ')} failed (${r.code}):\n${r.stderr}`);
  return r.stdout;
}

describe('dbtape serve with a PostgreSQL store', () => {
  before(async () => {
    await requireMachinePg();
    dir = tempDir('dbtape-pg-store-');
    storeUrl = (await throwawayPgDatabase()).url;
    const pair = generateSigningKey();
    writeFileSync(join(dir, 'signing.key'), pair.privatePem, { mode: 0o600 });
    publicKey = join(dir, 'signing.pub');
    writeFileSync(publicKey, pair.publicPem);
    port = await freePort();
    dbtape = await startDbtape({ config: configYaml(port), dir });
    // SELECT 1/0 fails, so psql exits 1; the recording is what is checked.
    await runStatus(
      'psql',
      [
        `host=127.0.0.1 port=${port} user=alice dbname=app sslmode=disable`,
        '-X',
        '-v',
        'ON_ERROR_STOP=0',
        '-c',
        `SELECT '${TOKEN}' AS tok`,
        '-c',
        'SELECT 1/0',
      ],
      { env: aliceEnv() },
    );
  });

  after(async () => {
    await dbtape?.stop();
  });

  test('check-config accepts the store URL', async () => {
    const out = await cli('check-config', '-c', join(dir, 'dbtape.yaml'));
    assert.match(out, /is valid/);
  });

  test('a second dbtape serve on the same store is refused at start', async () => {
    const other = tempDir('dbtape-pg-store-2-');
    writeFileSync(join(dir, 'second.yaml'), configYaml(await freePort()));
    const r = await dbtapeCli(['serve', '-c', join(dir, 'second.yaml')], { cwd: other });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, /dbtape: another dbtape serve is already recording into the session store/);
  });

  test('sessions, show, search, replay, export and verify --store postgres://... see the session', async () => {
    // The session's end is recorded once psql's connection closes: wait for it in the listing.
    let sessions: { id: string; user: string; statements: number; errors: number; status: string }[] = [];
    for (let i = 0; i < 100; i++) {
      sessions = JSON.parse(await cli('sessions', '--json', '--store', storeUrl));
      if (sessions.length === 1 && sessions[0]!.status === 'ended') break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(sessions.length, 1);
    const s = sessions[0]!;
    assert.equal(s.user, 'alice');
    assert.equal(s.status, 'ended');
    assert.equal(s.statements, 2);
    assert.equal(s.errors, 1);

    const shown = JSON.parse(await cli('show', s.id, '--json', '--store', storeUrl)) as {
      session: { id: string };
      events: { kind: string; sql?: string; error?: { code: string } }[];
    };
    assert.equal(shown.session.id, s.id);
    assert.ok(shown.events.some((e) => e.kind === 'query' && e.sql?.includes(TOKEN)));
    assert.ok(shown.events.some((e) => e.kind === 'error' && e.error?.code === '22012'));

    const hits = JSON.parse(await cli('search', TOKEN, '--json', '--store', storeUrl)) as {
      session_id: string;
      sql: string;
    }[];
    assert.deepEqual(
      hits.map((h) => h.session_id),
      [s.id],
    );
    const failed = JSON.parse(await cli('search', 'select', '--errors', '--json', '--store', storeUrl)) as {
      sql: string;
    }[];
    assert.deepEqual(
      failed.map((h) => h.sql),
      ['SELECT 1/0'],
    );

    const replayed = await cli('replay', s.id, '--instant', '--store', storeUrl);
    assert.ok(replayed.includes(TOKEN), replayed);
    const exported = await cli('export', s.id, '--format', 'jsonl', '--store', storeUrl);
    assert.ok(
      exported.split('\n').some((l) => l.includes(TOKEN)),
      exported,
    );

    // A clean shutdown signs a last checkpoint over the session.
    await dbtape.stop();
    const verified = await cli('verify', '--all', '--store', storeUrl, '--public-key', publicKey);
    assert.match(
      verified,
      /checked 1 session \(\d+ events, 1 sealed, 0 open\) and [1-9]\d* signed checkpoints?.*: no damage found/,
    );
  });
});
