// How `dbtape serve` starts: one serve per SQLite store, a serve that cannot start exits, and its
// addresses. A second serve on the store of a running one used to take the running one's live
// sessions for a crash's leftovers (ending them with proxy_crash while their clients went on) and
// then fight it over their hash chains, so the running one's later events failed to store; a serve
// whose listen address was in use printed the error but stayed up, holding the store, invisible to
// a supervisor; an IPv6 listener was logged as `::1:6432`.
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import pg from 'pg';
import { startServer } from '../../src/cli/server.js';
import { loadConfig } from '../../src/config/load.js';
import { DBTAPE_BIN } from '../support/dbtape-process.js';
import { runStatus } from '../support/exec.js';
import {
  ALICE,
  collectingLogger,
  defaultYaml,
  type LogLine,
  startInProcess,
} from '../support/inproc-dbtape.js';
import { storedSessions } from '../support/recording-fixtures.js';
import { waitFor } from '../support/wait.js';

/** `dbtape serve -c FILE` as a child; killed after 20 s, which the old code needed (it hung). */
function serveOnce(configFile: string) {
  return runStatus(process.execPath, [DBTAPE_BIN, 'serve', '-c', configFile], {
    cwd: path.dirname(configFile),
    timeoutMs: 20_000,
  });
}

test('a second dbtape serve on the same SQLite store is refused and leaves the live session alone', async () => {
  const dbtape = await startInProcess();
  const url = loadConfig(dbtape.configFile).store.url;
  const client = new pg.Client({
    host: '127.0.0.1',
    port: dbtape.port,
    user: ALICE.name,
    password: ALICE.password,
    database: 'app',
  });
  try {
    await client.connect();
    await client.query("select 'before'");
    // The same config listens on port 0, so only the store is shared.
    const second = await serveOnce(dbtape.configFile);
    assert.equal(second.code, 1, `exit ${second.code} ${second.signal}\n${second.stderr}`);
    assert.match(second.stderr, /dbtape: another dbtape serve is already recording into the session store/);
    const [live] = await storedSessions(url);
    assert.equal(live?.endReason ?? null, null, 'the running serve’s live session was ended');

    await client.query("select 'after'");
    await client.end();
    const ended = await waitFor(
      async () => {
        const [s] = await storedSessions(url);
        return s?.endReason ? s : null;
      },
      { what: 'the session’s end in the store' },
    );
    assert.equal(ended.endReason, 'client_closed');
    assert.equal(ended.statements, 2);
  } finally {
    await client.end().catch(() => {});
    await dbtape.close();
  }
});

test('dbtape serve whose listen address is in use exits 1 and frees its store', async () => {
  const busy = net.createServer();
  busy.listen(0, '127.0.0.1');
  await once(busy, 'listening');
  const port = (busy.address() as net.AddressInfo).port;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-busy-port-'));
  try {
    const configFile = path.join(dir, 'dbtape.yaml');
    writeFileSync(configFile, defaultYaml().replace('127.0.0.1:0', `127.0.0.1:${port}`));
    const r = await serveOnce(configFile);
    assert.equal(r.code, 1, `exit ${r.code} ${r.signal}\n${r.stderr}`);
    assert.match(r.stderr, /EADDRINUSE/);

    // In one process: the failed start released the store's writer lock, so a serve on another
    // port may record into the same store at once.
    const logs: LogLine[] = [];
    await assert.rejects(startServer(loadConfig(configFile), collectingLogger(logs)), /EADDRINUSE/);
    writeFileSync(configFile, defaultYaml());
    const server = await startServer(loadConfig(configFile), collectingLogger(logs));
    await server.close();
  } finally {
    busy.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test('dbtape serve whose store cannot be opened says which store and why, and exits 1', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-bad-store-'));
  try {
    const configFile = path.join(dir, 'dbtape.yaml');
    writeFileSync(
      path.join(dir, 'broken.db'),
      'this is not a SQLite database, it only has its name\n'.repeat(100),
    );
    writeFileSync(configFile, `${defaultYaml()}store:\n  url: sqlite:broken.db\n`);
    const r = await serveOnce(configFile);
    assert.equal(r.code, 1, `exit ${r.code} ${r.signal}\n${r.stderr}`);
    assert.match(
      r.stderr,
      /^dbtape: cannot open the session store sqlite:\/\S*\/broken\.db: file is not a database \(I\/O error: SQLITE_NOTADB\)$/m,
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('an IPv6 listener is logged and reported bracketed, as listen: writes it', async () => {
  const yaml = defaultYaml().replace('postgres: 127.0.0.1:0', "postgres: '[::1]:0'");
  const dbtape = await startInProcess({ yaml });
  try {
    assert.match(dbtape.server.addresses.postgres ?? '', /^\[::1\]:\d+$/);
    const line = dbtape.logs.find((l) => l.msg === 'listening' && l.protocol === 'postgres');
    assert.equal(line?.address, dbtape.server.addresses.postgres);
  } finally {
    await dbtape.close();
  }
});
