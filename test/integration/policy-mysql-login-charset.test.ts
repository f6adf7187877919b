// The character set a MySQL client chooses in its handshake is the login's SET NAMES. A `read`
// role may not `SET NAMES gbk` (a GBK character can end in the byte 0x5c, so the server ends a
// string where the policy's UTF-8 reading sees an escaped quote), but it could log in with GBK
// and send `SELECT '<e4 b8 ad 5c>' AS a UNION SELECT secret FROM <denied table> -- '`: one string
// to the policy, a UNION reading the denied table to the server.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import mysql from 'mysql2/promise';
import {
  connectMysql2,
  type MysqlProxy,
  requireMachineMariaDb,
  startMysqlProxy,
} from '../support/mysql-fixtures.js';

const TABLE = `qaops_audit_${randomBytes(4).toString('hex')}`;
const direct = () =>
  mysql.createConnection({ host: '127.0.0.1', port: 3306, user: 'root', database: 'test' });

describe('a read role with deny_tables and a quote-hiding handshake character set', () => {
  let proxy: MysqlProxy;

  before(async () => {
    await requireMachineMariaDb();
    const c = await direct();
    await c.query(`CREATE TABLE ${TABLE} (secret varchar(20))`);
    await c.query(`INSERT INTO ${TABLE} VALUES ('TOPSECRET')`);
    await c.end();
    proxy = await startMysqlProxy({ role: { access: 'read', rules: { deny_tables: [TABLE] } } });
  });

  after(async () => {
    await proxy?.close();
    const c = await direct();
    await c.query(`DROP TABLE IF EXISTS ${TABLE}`);
    await c.end();
  });

  test('a GBK login is refused with 1142, so the smuggled UNION never runs', async () => {
    const raw = Buffer.concat([
      Buffer.from("SELECT '"),
      Buffer.from([0xe4, 0xb8, 0xad, 0x5c]),
      Buffer.from(`' AS a UNION SELECT secret FROM ${TABLE} -- '`),
    ]);
    // mysql2 encodes the query in the connection's character set: this text becomes `raw`.
    const sql = new TextDecoder('gbk').decode(raw);
    let rows: unknown = null;
    await assert.rejects(
      (async () => {
        const conn = await connectMysql2(proxy, { charset: 'GBK_CHINESE_CI' });
        try {
          [rows] = await conn.query(sql);
        } finally {
          await conn.end();
        }
      })(),
      (err: Error & { errno?: number }) => {
        assert.equal(err.errno, 1142, err.message);
        assert.match(err.message, /^dbtape: denied by rule access=read: at login: character set gbk /);
        return true;
      },
    );
    assert.equal(rows, null);
  });

  test('a UTF-8 or latin1 login works as before', async () => {
    for (const charset of ['UTF8MB4_GENERAL_CI', 'LATIN1_SWEDISH_CI']) {
      const conn = await connectMysql2(proxy, { charset });
      const [rows] = await conn.query("SELECT 'ok' AS v");
      assert.deepEqual(rows, [{ v: 'ok' }]);
      await conn.end();
    }
  });
});
