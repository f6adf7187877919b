/**
 * End to end: record the whole secrets corpus through the recorder into a SQLite file store,
 * with the server echoing each statement back in an error and a notice, then read every byte
 * of the store's files (db, -wal, -shm) and look for the canary.
 */
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, test } from 'node:test';
import { Recorder } from '../../src/recording/recorder.js';
import { openStore } from '../../src/store/open-store.js';
import { CANARY_CORE, SECRET_CORPUS } from '../fixtures/redaction-corpus.js';
import { sessionMeta } from '../support/session-meta.js';

const dir = mkdtempSync(join(tmpdir(), 'dbtape-canary-'));
after(() => rmSync(dir, { recursive: true, force: true }));

function storeBytes(path: string): string {
  return ['', '-wal', '-shm']
    .map((suffix) => path + suffix)
    .filter((p) => existsSync(p))
    .map((p) => readFileSync(p).toString('latin1'))
    .join('\n');
}

test('no canary byte reaches the store files', async () => {
  const path = join(dir, 'dbtape.db');
  const store = openStore(`sqlite:${path}`);
  const recorder = new Recorder({ store });
  let i = 0;
  for (const c of SECRET_CORPUS) {
    const meta = sessionMeta(`corpus-${i++}`, { protocol: c.dialect });
    const rec = recorder.open(meta);
    const via = c.params ? 'extended' : 'simple';
    rec.event({ kind: 'query', sql: c.sql, ...(c.params ? { params: c.params } : {}), via });
    rec.event({ kind: 'notice', severity: 'NOTICE', code: '00000', message: `statement: ${c.sql}` });
    const echo = `${c.sql} ${(c.params ?? []).join(' ')}`;
    rec.event({
      kind: 'error',
      code: '42601',
      message: `You have an error in your SQL syntax near '${echo}'`,
    });
    rec.event({ kind: 'denied', rule: 'no-ddl', sql: c.sql, message: `denied: ${c.sql}` });
    rec.event({ kind: 'end', reason: 'client_closed' });
  }
  // A captured result that holds verifiers.
  const rec = recorder.open(sessionMeta('rows'));
  rec.event({
    kind: 'query',
    sql: 'SELECT rolname, rolpassword, umoptions FROM pg_authid, pg_user_mapping',
    via: 'simple',
  });
  rec.event({
    kind: 'result',
    tag: 'SELECT 1',
    rows: 1,
    durationUs: 5,
    columns: [
      { name: 'rolname', type: 'name' },
      { name: 'rolpassword', type: 'text' },
      { name: 'umoptions', type: 'text[]' },
    ],
    rowData: [['alice', 'SCRAM-SHA-256$4096:CANARY-7f3a91', '{user=bob,password=CANARY-7f3a91}']],
  });
  await recorder.flush();

  const recorded = (await store.listSessions({ limit: 1000 })).length;
  assert.equal(recorded, SECRET_CORPUS.length + 1);
  const live = storeBytes(path);
  assert.ok(live.includes('ALTER ROLE alice'), 'the statements themselves are recorded');
  assert.equal(live.toLowerCase().includes(CANARY_CORE), false, 'canary found in the store files while open');

  await recorder.shutdown();
  await store.close();
  assert.equal(
    storeBytes(path).toLowerCase().includes(CANARY_CORE),
    false,
    'canary found in the store files',
  );
});
