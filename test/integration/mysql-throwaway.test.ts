// dbtape against a throwaway MariaDB with TLS: TLS from the client (mariadb --ssl, tls.require),
// TLS to the server (verify-full), an ed25519 account upstream, and 20 MiB statements and values
// both ways (16 MiB continuation packets), forwarded without holding them whole.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import type mysql from 'mysql2/promise';
import { requireBinary } from '../support/binaries.js';
import { run } from '../support/exec.js';
import { type MariaDbServer, startMariaDb } from '../support/mariadb-server.js';
import {
  connectMysql2,
  type MysqlProxy,
  mariaDbTarget,
  mariadbArgs,
  mariadbEnv,
  outcomeOf,
  Recorded,
  startMysqlProxy,
  uniqueName,
} from '../support/mysql-fixtures.js';

const MARIADB = requireBinary('mariadb', 'mariadb-client');
const ED_PASSWORD = 'ed-pässword';

let server: MariaDbServer;
let proxy: MysqlProxy;
let recorded: Recorded;

before(async () => {
  server = await startMariaDb({ tls: true });
  await server.sql(
    'SET GLOBAL max_allowed_packet = 64 * 1024 * 1024;\n' +
      "INSTALL SONAME 'auth_ed25519';\n" +
      `CREATE USER 'ed'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('${ED_PASSWORD}');\n` +
      "GRANT ALL ON test.* TO 'ed'@'%';",
  );
  const secrets = path.join(server.dir, 'ed.password');
  writeFileSync(secrets, ED_PASSWORD);
  const base = { protocol: 'mysql', host: '127.0.0.1', port: server.port, database: 'test' };
  proxy = await startMysqlProxy({
    tls: true,
    // These tests create tables: an admin role, which the access policy does not check.
    role: { access: 'admin' },
    targets: [
      { name: 'app', ...base, user: 'root', tls: 'verify-full', ca_file: server.certs!.caFile },
      { name: 'ed', ...base, user: 'ed', password_file: secrets, tls: 'disable' },
    ],
  });
  recorded = new Recorded(proxy.storeUrl);
});

after(async () => {
  await recorded?.close();
  await proxy?.close();
  await server?.stop();
});

describe('TLS', () => {
  test('mariadb --ssl: TLS to dbtape, and verify-full TLS from dbtape to the server', async () => {
    const marker = uniqueName('tls');
    const { stdout } = await run(
      MARIADB,
      [
        ...mariadbArgs(proxy, [
          '--batch',
          '--skip-column-names',
          '--ssl',
          `--ssl-ca=${proxy.certs!.caFile}`,
          '--ssl-verify-server-cert',
        ]),
        '-e',
        `SELECT '${marker}'; SHOW SESSION STATUS LIKE 'Ssl_version'`,
      ],
      { env: mariadbEnv() },
    );
    assert.match(
      stdout,
      new RegExp(`^${marker}\nSsl_version\tTLSv1\\.[23]\n$`),
      'the upstream connection is TLS',
    );
    const { events } = await recorded.sessionWith(marker);
    const start = events[0];
    assert.ok(
      start.kind === 'start' && /^TLSv1\.[23]$/.test(start.meta.clientTls ?? ''),
      'client TLS recorded',
    );
  });

  test('mysql2 with ssl, and a plaintext client refused when tls.require is on', async () => {
    const conn = await connectMysql2(proxy, { ssl: { ca: readCa(proxy) } });
    const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT 1 AS one');
    assert.deepEqual(rows, [{ one: 1 }]);
    await conn.end();

    const strict = await startMysqlProxy({
      requireTls: true,
      targets: [mariaDbTarget(server.port, { tls: 'require' })],
    });
    try {
      await assert.rejects(connectMysql2(strict), {
        errno: 3159,
        message: /dbtape: this proxy requires TLS/,
      });
      const ok = await connectMysql2(strict, { ssl: { rejectUnauthorized: false } });
      await ok.end();
    } finally {
      await strict.close();
    }
  });
});

test('an ed25519 account upstream: dbtape signs the server nonce with the injected password', async () => {
  const conn = await connectMysql2(proxy, { database: 'ed' });
  const [rows] = await conn.query<mysql.RowDataPacket[]>('SELECT CURRENT_USER() AS u');
  assert.equal(rows[0].u, 'ed@%');
  await conn.end();
});

describe('packets of 16 MiB and more', () => {
  const SIZE = 20 * 1024 * 1024;

  test('a 20 MiB INSERT and the 20 MiB value read back, through text and binary protocols', async () => {
    const table = uniqueName('big');
    const conn = await connectMysql2(proxy);
    await conn.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, body LONGTEXT)`);
    const body = 'x'.repeat(SIZE - 64) + 'THE-END';
    await conn.query(`INSERT INTO ${table} VALUES (1, '${body}')`);
    await conn.execute(`INSERT INTO ${table} VALUES (?, ?)`, [2, body.replace('THE-END', 'ANOTHER')]);

    const [text] = await conn.query<mysql.RowDataPacket[]>(`SELECT id, body FROM ${table} ORDER BY id`);
    assert.equal(text.length, 2);
    assert.equal(text[0].body.length, body.length);
    assert.ok(text[0].body.endsWith('THE-END'));
    const [binary] = await conn.execute<mysql.RowDataPacket[]>(`SELECT body FROM ${table} WHERE id = ?`, [2]);
    assert.ok(binary[0].body.endsWith('ANOTHER'));
    assert.equal(binary[0].body.length, body.length);
    // The same session goes on normally after the big packets.
    assert.deepEqual((await conn.query('SELECT 5 AS five'))[0], [{ five: 5 }]);
    await conn.end();

    const { events } = await recorded.sessionWith(table);
    const insert = outcomeOf(events, `INSERT INTO ${table} VALUES (1,`);
    assert.equal(insert[0].kind, 'query');
    if (insert[0].kind === 'query') {
      assert.ok(insert[0].sql.length < 100_000, 'the recorded text is cut');
      assert.match(insert[0].sql, /\[dbtape: truncated, \d+ bytes\]$/);
    }
    assert.equal(insert[1].kind === 'result' && insert[1].rows, 1);
    const select = outcomeOf(events, `SELECT id, body FROM ${table}`);
    assert.equal(select[1].kind === 'result' && select[1].rows, 2);
  });
});

function readCa(p: MysqlProxy): string {
  return readFileSync(p.certs!.caFile, 'utf8');
}
