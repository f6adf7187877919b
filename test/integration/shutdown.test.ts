// A graceful stop (what SIGTERM and SIGINT do to `dbtape serve`) ends every live session with the
// end reason `proxy_shutdown`, not `killed`, and each client hears why: PostgreSQL's admin_shutdown
// and MariaDB's "server shutdown" codes, with a dbtape: message.
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { loadConfig } from '../../src/config/load.js';
import { ALICE, startInProcess } from '../support/inproc-dbtape.js';
import { connectMysql2, requireMachineMariaDb, startMysqlProxy } from '../support/mysql-fixtures.js';
import { storedSessions } from '../support/recording-fixtures.js';
import { waitFor } from '../support/wait.js';

test('PostgreSQL: sessions live at shutdown end with proxy_shutdown and the client gets 57P01', async () => {
  const dbtape = await startInProcess();
  const url = loadConfig(dbtape.configFile).store.url;
  try {
    const client = new pg.Client({
      host: '127.0.0.1',
      port: dbtape.port,
      user: ALICE.name,
      password: ALICE.password,
      database: 'app',
    });
    const ended = new Promise<Error & { code?: string }>((resolve) => client.on('error', resolve));
    await client.connect();
    await client.query('select 1');
    await dbtape.server.close();
    const err = await ended;
    assert.equal(err.code, '57P01');
    assert.match(err.message, /^dbtape: the proxy is shutting down/);
    const [session] = await storedSessions(url);
    assert.equal(session?.endReason, 'proxy_shutdown');
  } finally {
    rmSync(path.dirname(dbtape.configFile), { recursive: true, force: true });
  }
});

test('MySQL: sessions live at shutdown end with proxy_shutdown and the client gets 1053', async () => {
  await requireMachineMariaDb();
  const proxy = await startMysqlProxy();
  try {
    const conn = await connectMysql2(proxy);
    // mysql2 reports an ERR packet that answers no command with its error number in `code`.
    const ended = new Promise<Error & { code?: unknown }>((resolve) => conn.on('error', resolve));
    await conn.query('SELECT 1');
    await waitFor(() => proxy.server!.registry.active === 1, { what: 'the live session' });
    await proxy.server!.close();
    const err = await ended;
    assert.equal(err.code, 1053);
    assert.match(err.message, /^dbtape: the proxy is shutting down/);
    const [session] = await storedSessions(proxy.storeUrl);
    assert.equal(session?.endReason, 'proxy_shutdown');
  } finally {
    rmSync(proxy.dir, { recursive: true, force: true });
  }
});
