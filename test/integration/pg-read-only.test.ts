import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import pg from 'pg';
import { stringify } from 'yaml';
import { hashPassword } from '../../src/config/verifiers.js';
import { DEFAULT_TARGET, type InProcessDbtape, startInProcess } from '../support/inproc-dbtape.js';

// A role with access: read reaches a PostgreSQL target in a read-only upstream session.

const READER = { name: 'reader', password: 'reader-secret-1' };
const WRITER = { name: 'writer', password: 'writer-secret-1' };
let dbtape: InProcessDbtape;

before(async () => {
  dbtape = await startInProcess({
    yaml: stringify({
      listen: { postgres: '127.0.0.1:0' },
      store: { record: false },
      targets: [DEFAULT_TARGET],
      users: [
        { name: READER.name, password: hashPassword(READER.password), roles: ['r'] },
        { name: WRITER.name, password: hashPassword(WRITER.password), roles: ['w'] },
      ],
      roles: [
        { name: 'r', targets: ['app'], access: 'read' },
        { name: 'w', targets: ['app'], access: 'write' },
      ],
    }),
  });
});

after(async () => {
  await dbtape?.close();
});

async function as(user: { name: string; password: string }, sql: string): Promise<pg.QueryResult> {
  const c = new pg.Client({
    host: '127.0.0.1',
    port: dbtape.port,
    user: user.name,
    password: user.password,
    database: 'app',
  });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

test('a read grant starts the upstream session read-only; a write grant does not', async () => {
  assert.equal(
    (await as(READER, 'show default_transaction_read_only')).rows[0].default_transaction_read_only,
    'on',
  );
  // The statement policy denies the write before the upstream's read-only mode would (42501).
  await assert.rejects(
    as(READER, 'create temp table dbtape_ro_probe (a int)'),
    (err: Error & { code?: string }) => {
      assert.equal(err.code, '42501', 'insufficient_privilege, from dbtape');
      return true;
    },
  );
  assert.equal(
    (await as(WRITER, 'show default_transaction_read_only')).rows[0].default_transaction_read_only,
    'off',
  );
});

test('a client cannot ask for a read-write session at startup', async () => {
  const c = new pg.Client({
    host: '127.0.0.1',
    port: dbtape.port,
    user: READER.name,
    password: READER.password,
    database: 'app',
    options: '-c default_transaction_read_only=off',
  });
  await assert.rejects(c.connect(), /not allowed through dbtape/);
});
