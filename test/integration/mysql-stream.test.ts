// A 1M-row result streamed through a spawned `dbtape serve` to mysql2, which pauses reading
// half way: backpressure must reach the server, so dbtape's memory stays bounded while ~200 MB
// pass through; every row arrives once reading resumes, and the count is recorded.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import mysql from 'mysql2';
import {
  type MysqlProxy,
  mysql2Options,
  outcomeOf,
  Recorded,
  requireMachineMariaDb,
  startMysqlProxyProcess,
  uniqueName,
} from '../support/mysql-fixtures.js';
import { rssBytes } from '../support/pg-fixtures.js';
import { waitFor } from '../support/wait.js';

const ROWS = 1_000_000;
/** Growth of dbtape's resident memory allowed while streaming (the result is ~200 MB). */
const RSS_BUDGET = 64 * 1024 * 1024;

let proxy: MysqlProxy;

before(async () => {
  await requireMachineMariaDb();
  proxy = await startMysqlProxyProcess({ capture: 'rows', maxRows: 100 });
});

after(async () => {
  await proxy?.close();
});

test('a 1M-row result streams with bounded memory, paused and resumed by the client', async (t) => {
  const marker = uniqueName('stream');
  const conn = mysql.createConnection(mysql2Options(proxy));
  const socket = (conn as unknown as { stream: import('node:net').Socket }).stream;
  await new Promise<void>((resolve, reject) =>
    conn.query('SELECT 1', (err) => (err ? reject(err) : resolve())),
  );
  const baseline = rssBytes(proxy.pid);
  let peak = baseline;
  const sampler = setInterval(() => {
    peak = Math.max(peak, rssBytes(proxy.pid));
  }, 50);

  try {
    const rows = conn
      .query(`SELECT seq, REPEAT('x', 200) AS pad, '${marker}' AS m FROM seq_1_to_${ROWS}`)
      .stream({ highWaterMark: 256 });
    let count = 0;
    let lastSeq = 0;
    let paused = false;
    const ended = new Promise<void>((resolve, reject) => {
      rows.on('end', resolve);
      rows.on('error', reject);
    });
    rows.on('data', (row: { seq: number }) => {
      count++;
      assert.equal(row.seq, lastSeq + 1, 'rows arrive once each, in order');
      lastSeq = row.seq;
      if (count === ROWS / 2 && !paused) {
        paused = true;
        rows.pause();
      }
    });
    // Wait until nothing more reaches the client: the whole chain has stopped.
    await waitFor(() => paused, { what: 'half of the rows to arrive', timeoutMs: 60_000 });
    let last = -1;
    let stable = 0;
    await waitFor(
      () => {
        const read = socket.bytesRead;
        stable = read === last ? stable + 1 : 0;
        last = read;
        return stable >= 10;
      },
      { what: 'the client socket to stop receiving', timeoutMs: 30_000, intervalMs: 100 },
    );
    const whilePaused = rssBytes(proxy.pid);
    assert.ok(
      whilePaused - baseline < RSS_BUDGET,
      `dbtape grew by ${mb(whilePaused - baseline)} while the client paused (budget ${mb(RSS_BUDGET)})`,
    );
    t.diagnostic(`dbtape RSS: baseline ${mb(baseline)}, +${mb(whilePaused - baseline)} while paused`);
    rows.resume();
    await ended;
    assert.equal(count, ROWS);
  } finally {
    clearInterval(sampler);
    await new Promise<void>((resolve) => conn.end(() => resolve()));
  }
  t.diagnostic(`dbtape RSS peak: +${mb(peak - baseline)} over the whole stream`);
  assert.ok(peak - baseline < RSS_BUDGET, `dbtape grew by ${mb(peak - baseline)} at its peak`);

  const recorded = new Recorded(proxy.storeUrl);
  try {
    const { events } = await recorded.sessionWith(marker);
    const result = outcomeOf(events, marker)[1];
    assert.equal(result.kind === 'result' && result.rows, ROWS);
    assert.equal(result.kind === 'result' && result.rowData?.length, 100);
  } finally {
    await recorded.close();
  }
});

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}
