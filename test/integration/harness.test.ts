// Self-test of the test harness: throwaway servers with TLS and password auth, and the dbtape process
// helper (against a stand-in script, so this file does not depend on the proxy).
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { requireBinary } from '../support/binaries.js';
import { removeAtExit } from '../support/cleanup.js';
import { startDbtape } from '../support/dbtape-process.js';
import { run } from '../support/exec.js';
import { type MariaDbServer, startMariaDb } from '../support/mariadb-server.js';
import { type PgCluster, startPgCluster } from '../support/pg-cluster.js';
import { freePort, isPortOpen } from '../support/ports.js';
import { waitFor } from '../support/wait.js';

describe('throwaway PostgreSQL with SCRAM-only hostssl and TLS', () => {
  let cluster: PgCluster;
  before(async () => {
    cluster = await startPgCluster({
      ssl: true,
      hba: 'scram',
      sslOnly: true,
      users: [{ name: 'alice', password: 'alice-secret' }],
      databases: ['app'],
    });
  });
  after(() => cluster?.stop());

  const connect = (password: string, ssl: pg.ClientConfig['ssl']) =>
    new pg.Client({ host: cluster.host, port: cluster.port, user: 'alice', database: 'app', password, ssl });

  test('node-postgres connects over verified TLS with a password and runs select 1', async () => {
    const client = connect('alice-secret', {
      ca: readFileSync(cluster.certs!.caFile),
      servername: 'localhost',
    });
    await client.connect();
    try {
      const one = await client.query('select 1 as one');
      assert.equal(one.rows[0].one, 1);
      const tls = await client.query('select ssl from pg_stat_ssl where pid = pg_backend_pid()');
      assert.equal(tls.rows[0].ssl, true);
    } finally {
      await client.end();
    }
  });

  test('a wrong password is refused with 28P01 and plaintext is refused', async () => {
    const wrong = connect('nope', { rejectUnauthorized: false });
    await assert.rejects(wrong.connect(), (err: { code?: string }) => err.code === '28P01');
    const plain = connect('alice-secret', false);
    await assert.rejects(plain.connect(), /no pg_hba.conf entry/);
  });

  test('passwords are stored as SCRAM verifiers', async () => {
    const stored = await cluster.psql("select rolpassword from pg_authid where rolname = 'alice'");
    assert.match(stored, /^SCRAM-SHA-256\$/);
  });

  test('restart keeps the port and the data', async () => {
    await cluster.psql('create table kept (x int); insert into kept values (42);', 'app');
    await cluster.restart('immediate');
    assert.equal(await cluster.psql('select x from kept', 'app'), '42');
  });
});

describe('throwaway MariaDB with TLS', () => {
  let server: MariaDbServer;
  before(async () => {
    server = await startMariaDb({ tls: true });
  });
  after(() => server?.stop());

  test('the mariadb client connects as root over verified TLS', async () => {
    const client = requireBinary('mariadb', 'mariadb-client');
    const { stdout } = await run(client, [
      '--no-defaults',
      '--protocol=tcp',
      `--host=${server.host}`,
      `--port=${server.port}`,
      `--user=${server.user}`,
      '--ssl',
      `--ssl-ca=${server.certs!.caFile}`,
      '--ssl-verify-server-cert',
      '--batch',
      '--skip-column-names',
      '--execute',
      "SELECT 1; SHOW SESSION STATUS LIKE 'Ssl_version';",
      'test',
    ]);
    const [one, tls] = stdout.trim().split('\n');
    assert.equal(one, '1');
    assert.match(tls ?? '', /^Ssl_version\tTLSv1\.[23]$/);
  });
});

describe('startDbtape', () => {
  // A stand-in for `dbtape serve`: listens on the port in the config and logs one JSON line.
  const stub = `
    import net from 'node:net';
    import { readFileSync } from 'node:fs';
    const file = process.argv[process.argv.indexOf('-c') + 1];
    const port = Number(/postgres: 127\\.0\\.0\\.1:(\\d+)/.exec(readFileSync(file, 'utf8'))[1]);
    net.createServer((s) => s.end()).listen(port, '127.0.0.1', () => {
      console.log(JSON.stringify({ level: 'info', msg: 'listening', protocol: 'postgres', address: '127.0.0.1:' + port, token: process.env.STUB_TOKEN }));
    });
    process.on('SIGTERM', () => { console.error('{"msg":"bye"}'); process.exit(0); });
  `;
  const stubDir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-stub-'));
  removeAtExit(stubDir);
  const stubFile = path.join(stubDir, 'stub.mjs');
  writeFileSync(stubFile, stub);

  test('waits for the listeners, captures log lines and stops the process', async () => {
    const port = await freePort();
    const proc = await startDbtape({
      config: `listen:\n  postgres: 127.0.0.1:${port}\n`,
      env: { STUB_TOKEN: 't0k' },
      bin: stubFile,
    });
    assert.equal(await isPortOpen('127.0.0.1', port), true);
    const line = await proc.waitForLog(/"msg":"listening"/);
    assert.equal(JSON.parse(line).token, 't0k');
    const exit = await proc.stop();
    assert.equal(exit.code, 0);
    await waitFor(() => proc.logs.some((l) => l.includes('bye')), { what: 'the shutdown log line' });
  });

  test('a process that exits early fails with its output', async () => {
    const port = await freePort();
    await assert.rejects(
      startDbtape({ config: `listen:\n  postgres: 127.0.0.1:${port}\n`, bin: '/nonexistent/dbtape.js' }),
      /dbtape did not start[\s\S]*exited[\s\S]*Cannot find module/,
    );
  });
});
