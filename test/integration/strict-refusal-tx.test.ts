/**
 * Strict durability refuses a statement it could not record; inside a transaction block the
 * refusal must fail the transaction upstream too (a stand-in statement, see stand-ins.ts), or the
 * client's COMMIT would commit the statements around the one that never ran. The simple-query case
 * with a real full disk is in faults-disk-full.test.ts; here the extended protocol's batches, ending
 * in Sync and in Flush, with hand-built bytes through an in-process dbtape whose store fails on
 * demand, against the machine's PostgreSQL.
 */
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { Recorder } from '../../src/recording/recorder.js';
import { openStore } from '../../src/store/open-store.js';
import { FullDiskStore } from '../support/failing-store.js';
import {
  cstr,
  errorFields,
  type InProcessDbtape,
  int32,
  loggedIn,
  type PgMessage,
  type PgRaw,
  simpleQuery,
  startInProcess,
  typedMessage,
} from '../support/inproc-dbtape.js';

const store = new FullDiskStore(openStore('sqlite::memory:', { journal: true }));
let dbtape: InProcessDbtape;

before(async () => {
  const recorders = new Recorder({ store, durability: 'strict', maxBackoffMs: 20 });
  // Admin: the tests create temporary tables, which a `write` role may not.
  dbtape = await startInProcess({
    recorders,
    roles: [{ name: 'app-writer', targets: ['app'], access: 'admin' }],
  });
});

after(async () => {
  await dbtape?.close();
});

const int16 = (n: number) => Buffer.from([(n >> 8) & 0xff, n & 0xff]);
/** Parse, Bind and Execute of `sql` on the unnamed statement and portal. */
const extended = (sql: string) =>
  Buffer.concat([
    typedMessage('P', Buffer.concat([cstr(''), cstr(sql), int16(0)])),
    typedMessage('B', Buffer.concat([cstr(''), cstr(''), int16(0), int16(0), int16(0)])),
    typedMessage('E', Buffer.concat([cstr(''), int32(0)])),
  ]);
const SYNC = typedMessage('S');
const FLUSH = typedMessage('H');

const status = (m: PgMessage | undefined) => {
  assert.equal(m?.type, 'Z', `expected ReadyForQuery, got ${m?.type}`);
  return String.fromCharCode(m!.body[0]!);
};

async function inTransaction(table: string): Promise<PgRaw> {
  const raw = await loggedIn(dbtape.port);
  for (const sql of [`CREATE TEMP TABLE ${table} (id int)`, 'BEGIN', `INSERT INTO ${table} VALUES (1)`]) {
    const answer = await simpleQuery(raw, sql);
    assert.ok(!answer.some((m) => m.type === 'E'), `${sql} failed`);
  }
  return raw;
}

/** After the refusal: the server ignores the rest of the block, COMMIT rolls it back, nothing was kept. */
async function assertRolledBack(raw: PgRaw, table: string): Promise<void> {
  store.failing = false;
  const ignored = await simpleQuery(raw, 'SELECT 1');
  assert.equal(errorFields(ignored[0]!).C, '25P02', 'in failed transaction: commands ignored');
  assert.equal(status(ignored.at(-1)), 'E');
  const commit = await simpleQuery(raw, 'COMMIT');
  assert.equal(commit[0]!.body.toString('utf8', 0, commit[0]!.body.length - 1), 'ROLLBACK');
  assert.equal(status(commit.at(-1)), 'I');
  const count = await simpleQuery(raw, `SELECT count(*) FROM ${table}`);
  const row = count.find((m) => m.type === 'D');
  assert.ok(row, 'a count');
  assert.equal(row.body.toString('utf8', 6), '0', 'the insert before the refused one was rolled back');
  raw.destroy();
}

test('an extended batch ending in Sync: the refusal, then ReadyForQuery in a failed transaction', async () => {
  const raw = await inTransaction('strict_tx_sync');
  store.failing = true;
  await raw.send(Buffer.concat([extended('INSERT INTO strict_tx_sync VALUES (2)'), SYNC]));
  const answer = await raw.readUntil('Z');
  assert.deepEqual(
    answer.map((m) => m.type),
    ['E', 'Z'],
  );
  const err = errorFields(answer[0]!);
  assert.equal(err.C, '58030');
  assert.match(err.M!, /^dbtape: the statement was not run because it could not be recorded/);
  assert.equal(status(answer[1]), 'E', 'the transaction failed, as after any error');
  await assertRolledBack(raw, 'strict_tx_sync');
});

test('an extended batch ending in Flush: the refusal at once, then the Sync answered in a failed transaction', async () => {
  const raw = await inTransaction('strict_tx_flush');
  store.failing = true;
  await raw.send(Buffer.concat([extended('INSERT INTO strict_tx_flush VALUES (2)'), FLUSH]));
  const refused = await raw.readMessage();
  assert.equal(errorFields(refused).C, '58030');
  // The server skips what follows until Sync, and so does dbtape.
  await raw.send(Buffer.concat([extended('INSERT INTO strict_tx_flush VALUES (3)'), SYNC]));
  const rest = await raw.readUntil('Z');
  assert.deepEqual(
    rest.map((m) => m.type),
    ['Z'],
    'only ReadyForQuery: the skipped batch gets no second error',
  );
  assert.equal(status(rest[0]), 'E');
  await assertRolledBack(raw, 'strict_tx_flush');
});
