// A session with nothing to record or check (store.record: false, an admin role) takes dbtape's
// fastest path: rows and column definitions are framed from their headers and never read. The
// same workload through dbtape and straight to MariaDB must give mysql2 the same results: wide
// and multi-result text results, binary (prepared) results, errors between results, and a large
// result that arrives in many chunks.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type mysql from 'mysql2/promise';
import {
  ALICE,
  connectDirect,
  connectMysql2,
  type MysqlProxy,
  startMysqlProxy,
  uniqueName,
} from '../support/mysql-fixtures.js';

let proxy: MysqlProxy;
const table = uniqueName('unrec');

before(async () => {
  proxy = await startMysqlProxy({ record: false, role: { access: 'admin' } });
  const direct = await connectDirect();
  try {
    await direct.query(
      `CREATE TABLE ${table} (id INT PRIMARY KEY, name VARCHAR(40), note TEXT, amount DECIMAL(10,2))`,
    );
    const values = Array.from(
      { length: 5000 },
      (_, i) => `(${i}, 'name ${i}', ${i % 7 === 0 ? 'NULL' : `'${'n'.repeat(i % 300)}'`}, ${i}.25)`,
    );
    await direct.query(`INSERT INTO ${table} VALUES ${values.join(',')}`);
  } finally {
    await direct.end();
  }
});

after(async () => {
  const direct = await connectDirect();
  await direct.query(`DROP TABLE IF EXISTS ${table}`).finally(() => direct.end());
  await proxy?.close();
});

const WIDE = Array.from({ length: 60 }, (_, i) => `${i} AS c${i}, 'v${i}' AS s${i}`).join(', ');

/** Runs the workload on one connection; returns everything mysql2 saw, errors included. */
async function workload(conn: mysql.Connection): Promise<unknown[]> {
  const seen: unknown[] = [];
  const keep = async (what: () => Promise<unknown>) => {
    try {
      const [rows] = (await what()) as [unknown];
      seen.push(rows);
    } catch (err) {
      const e = err as { code?: string; errno?: number; sqlState?: string };
      seen.push({ error: e.code, errno: e.errno, sqlState: e.sqlState });
    }
  };
  for (let round = 0; round < 3; round++) {
    await keep(() => conn.query(`SELECT ${WIDE}`));
    await keep(() => conn.execute(`SELECT ${WIDE}, ? AS p`, [round]));
    await keep(() =>
      conn.query(`SELECT * FROM ${table} WHERE id < 3; SELECT ${WIDE}; SELECT count(*) AS n FROM ${table}`),
    );
    await keep(() => conn.query(`SELECT * FROM ${table} WHERE id < 2; SELECT * FROM no_such_table_${round}`));
    await keep(() =>
      conn.execute(`SELECT id, name, note, amount FROM ${table} WHERE id BETWEEN ? AND ? ORDER BY id`, [
        round * 10,
        round * 10 + 99,
      ]),
    );
    await keep(() => conn.query(`SELECT * FROM ${table} ORDER BY id`));
    await keep(() => conn.execute(`SELECT * FROM ${table} WHERE id > ? ORDER BY id`, [4000]));
    await keep(() => conn.query(`SHOW COLUMNS FROM ${table}`));
    await keep(() => conn.query(`SELECT 1 AS after_everything`));
  }
  return seen;
}

test('an unrecorded, unchecked session returns what the server does', async () => {
  const direct = await connectDirect({ multipleStatements: true });
  const through = await connectMysql2(proxy, { multipleStatements: true }, ALICE);
  try {
    const expected = await workload(direct);
    const got = await workload(through);
    assert.equal(got.length, expected.length);
    for (let i = 0; i < expected.length; i++) assert.deepEqual(got[i], expected[i], `result ${i}`);
    // The session is still in step with the server afterwards.
    const [rows] = await through.query('SELECT 42 AS answer');
    assert.deepEqual(rows, [{ answer: 42 }]);
  } finally {
    await direct.end();
    await through.end();
  }
});
