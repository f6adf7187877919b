import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { stringify } from 'yaml';
import { DEFAULT_TARGET, type InProcessDbtape, startInProcess, usersYaml } from '../support/inproc-dbtape.js';
import { endedSessions, showJson } from '../support/recording-fixtures.js';

// max_rows's row limit on extended-protocol Executes in strict durability, where the client's
// messages are held until their record is durable and forwarded by the strict gate, not the
// pipeline: the limit must be set on what the gate forwards.

const USERS = { guarded: { password: 'guarded-pw-3', roles: ['g'] } } as const;
const CAP = 5;
const STOPPED = `dbtape: result truncated to ${CAP} rows by rule max_rows (the query was stopped there)`;
let dbtape: InProcessDbtape;
let storeDir: string;
let storeUrl: string;

before(async () => {
  storeDir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-policy-strict-'));
  storeUrl = `sqlite:${path.join(storeDir, 'store.db')}`;
  dbtape = await startInProcess({
    yaml: stringify({
      listen: { postgres: '127.0.0.1:0' },
      store: { url: storeUrl, durability: 'strict' },
      targets: [DEFAULT_TARGET],
      users: usersYaml(USERS),
      roles: [{ name: 'g', targets: ['app'], access: 'read', rules: { max_rows: CAP } }],
    }),
  });
});

after(async () => {
  await dbtape?.close();
  if (storeDir) rmSync(storeDir, { recursive: true, force: true });
});

test('strict mode: a read role extended-protocol SELECT is stopped at the cap, prepared or not, in a transaction too', async () => {
  const application = `policy_strict_${process.pid}`;
  const c = new pg.Client({
    host: '127.0.0.1',
    port: dbtape.port,
    user: 'guarded',
    password: USERS.guarded.password,
    database: 'app',
    application_name: application,
  });
  const notices: string[] = [];
  c.on('notice', (n) => notices.push(String(n.message)));
  await c.connect();
  try {
    const big = 'select g from generate_series(1, $1::int) g';
    for (let i = 0; i < 3; i++) {
      const named = await c.query({ name: 'gs', text: big, values: [100_000] });
      assert.deepEqual(
        named.rows.map((r) => r.g),
        [1, 2, 3, 4, 5],
      );
      assert.equal(named.rowCount, CAP);
      assert.equal(
        (await c.query({ text: big, values: [3] })).rowCount,
        3,
        'a result under the cap is whole',
      );
    }
    await c.query('begin');
    assert.equal((await c.query({ text: big, values: [100] })).rowCount, CAP);
    await c.query('commit');
    assert.deepEqual(notices, [STOPPED, STOPPED, STOPPED, STOPPED]);
  } finally {
    await c.end();
  }
  const [s] = await endedSessions(storeUrl, (x) => x.application === application, 1);
  const events = (await showJson(storeUrl, s!.id)).events;
  assert.ok(!events.some((e) => e.kind === 'error'), JSON.stringify(events));
  assert.equal(events.filter((e) => e.kind === 'result' && e.tag === `SELECT ${CAP}`).length, 4);
});
