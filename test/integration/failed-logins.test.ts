// Logins that never become sessions are in the audit trail: a wrong password, a target the user
// may not use, a target that cannot be reached. Each is a short recorded session (start, `auth`
// with the reason and what the client was told, end `login_failed`), listed, shown and replayed
// like any other, and the password tried is never in it.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { once } from 'node:events';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { loadConfig } from '../../src/config/load.js';
import type { SessionEvent } from '../../src/model/session.js';
import { UNKNOWN_USER } from '../../src/proxy/failed-login.js';
import { openStore } from '../../src/store/open-store.js';
import type { SessionSummary } from '../../src/store/session-store.js';
import { DBTAPE_BIN } from '../support/dbtape-process.js';
import { ALICE, DEFAULT_TARGET, type InProcessDbtape, startInProcess } from '../support/inproc-dbtape.js';
import {
  connectMysql2,
  ALICE as MYSQL_ALICE,
  type MysqlProxy,
  machineTarget,
  requireMachineMariaDb,
  startMysqlProxy,
} from '../support/mysql-fixtures.js';
import { sendCancel } from '../support/pg-fixtures.js';
import { freePort } from '../support/ports.js';
import { waitFor } from '../support/wait.js';

const CANARY = 'canary-wrong-password-7f3a';
/** A password typed into the user name field. */
const NAME_CANARY = 'canary-typed-into-the-name-field-51c9';

/** The one session of `user` that ended with `login_failed` since `since` (µs), with its events. */
async function refused(
  url: string,
  user: string,
  since: number,
): Promise<{ session: SessionSummary; events: SessionEvent[] }> {
  return waitFor(
    async () => {
      const store = openStore(url, { readonly: true });
      try {
        const session = (await store.listSessions({ user })).find(
          (s) => s.startedAtUs >= since && s.endReason === 'login_failed',
        );
        return session ? { session, events: await store.getEvents(session.id) } : null;
      } finally {
        await store.close();
      }
    },
    { what: `the refused login of ${user}` },
  );
}

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(process.execPath, [DBTAPE_BIN, ...args], (err, stdout, stderr) => {
      const code = err ? ((err as { code?: number }).code ?? 1) : 0;
      resolve({ code: typeof code === 'number' ? code : 1, stdout, stderr });
    });
  });
}

describe('PostgreSQL', () => {
  let dbtape: InProcessDbtape;
  let url: string;

  before(async () => {
    dbtape = await startInProcess({
      targets: [DEFAULT_TARGET, { ...DEFAULT_TARGET, name: 'down', port: await freePort() }],
      roles: [{ name: 'app-writer', targets: ['app', 'down'], access: 'write' }],
    });
    url = loadConfig(dbtape.configFile).store.url;
  });
  after(async () => {
    await dbtape?.close();
  });

  const connect = async (database: string, password: string): Promise<Error & { code?: string }> => {
    const client = new pg.Client({
      host: '127.0.0.1',
      port: dbtape.port,
      user: ALICE.name,
      password,
      database,
    });
    client.on('error', () => {});
    const err = await client.connect().then(
      () => null,
      (e: Error) => e,
    );
    await client.end().catch(() => {});
    assert.ok(err, 'the login fails');
    return err;
  };

  test('a wrong password: recorded with who, from where, which target, never the password', async () => {
    const since = Date.now() * 1000;
    const err = await connect('app', CANARY);
    assert.equal(err.code, '28P01');
    const { session, events } = await refused(url, ALICE.name, since);
    assert.equal(session.target, 'app');
    assert.equal(session.clientAddr, '127.0.0.1');
    assert.deepEqual(session.roles, [], 'no roles: the user was not authenticated');
    assert.equal(session.statements, 0);
    assert.deepEqual(
      events.map((e) => e.kind),
      ['start', 'auth', 'end'],
    );
    const auth = events[1]!;
    assert.ok(auth.kind === 'auth');
    assert.equal(auth.failure, 'credentials');
    assert.equal(auth.code, '28P01');
    assert.equal(auth.message, `dbtape: password authentication failed for user "${ALICE.name}"`);

    const shown = await cli(['show', session.id, '--json', '--store', url]);
    assert.equal(shown.code, 0, shown.stderr);
    const doc = JSON.parse(shown.stdout);
    assert.equal(doc.session.end_reason, 'login_failed');
    assert.deepEqual(doc.events[1], {
      seq: 2,
      at: doc.events[1].at,
      offset_ms: doc.events[1].offset_ms,
      kind: 'auth',
      failure: 'credentials',
      error: { code: '28P01', message: auth.message },
    });
    const replay = await cli(['replay', session.id, '--instant', '--store', url]);
    assert.equal(replay.code, 0, replay.stderr);
    assert.match(
      replay.stdout,
      /-- login refused \(credentials\)\nFATAL: {2}28P01: dbtape: password authentication failed/,
    );
    for (const out of [shown.stdout, replay.stdout]) assert.ok(!out.includes(CANARY));
  });

  test('a user name that is no configured user (perhaps a password typed in the wrong field) is neither logged nor recorded', async () => {
    const since = Date.now() * 1000;
    const from = dbtape.logs.length;
    const client = new pg.Client({
      host: '127.0.0.1',
      port: dbtape.port,
      user: NAME_CANARY,
      password: 'x',
      database: 'app',
    });
    client.on('error', () => {});
    const err = await client.connect().then(
      () => null,
      (e: Error & { code?: string }) => e,
    );
    await client.end().catch(() => {});
    assert.equal(err?.code, '28P01');
    assert.match(err.message, new RegExp(NAME_CANARY), 'the client is told the name it gave');
    const { session, events } = await refused(url, UNKNOWN_USER, since);
    const auth = events[1]!;
    assert.ok(auth.kind === 'auth');
    assert.equal(auth.message, `dbtape: password authentication failed for user "${UNKNOWN_USER}"`);
    assert.ok(!JSON.stringify({ session, events }).includes(NAME_CANARY));
    const line = dbtape.logs.slice(from).find((l) => l.msg === 'client rejected during startup');
    assert.ok(line, 'the refusal is logged');
    assert.equal(line.user_known, false);
    assert.ok(!JSON.stringify(dbtape.logs.slice(from)).includes(NAME_CANARY), 'the name is in no log line');
  });

  test('a target the user may not use, and one that cannot be reached', async () => {
    const since = Date.now() * 1000;
    const unknown = await connect('nope', ALICE.password);
    assert.equal(unknown.code, '3D000');
    const target = await refused(url, ALICE.name, since);
    assert.equal(target.session.target, 'nope');
    assert.deepEqual(target.session.roles, ['app-writer'], 'authenticated: the roles are known');
    const t = target.events[1]!;
    assert.ok(t.kind === 'auth');
    assert.equal(t.failure, 'target');
    assert.equal(t.code, '3D000');

    const since2 = Date.now() * 1000;
    const down = await connect('down', ALICE.password);
    assert.match(down.message, /^dbtape: /);
    const upstream = await refused(url, ALICE.name, since2);
    assert.equal(upstream.session.target, 'down');
    assert.equal(upstream.session.upstreamDatabase, 'test');
    assert.equal(upstream.session.upstreamUser, 'postgres');
    const u = upstream.events[1]!;
    assert.ok(u.kind === 'auth');
    assert.equal(u.failure, 'upstream');
  });

  // Security teams feed these lines to fail2ban-style alerting: each names the client, as a session's
  // record does (the port tells two clients behind one address apart).
  describe('log lines about refused clients', () => {
    /** The first line logged with `msg` since the logs held `from` lines. */
    const lineSince = (from: number, msg: string) =>
      waitFor(() => dbtape.logs.slice(from).find((l) => l.msg === msg), { what: `a "${msg}" log line` });

    const cases: [string, string, () => Promise<unknown>][] = [
      ['a wrong password', 'client rejected during startup', () => connect('app', CANARY)],
      ['an unknown target', 'session refused', () => connect('nope', ALICE.password)],
      ['a target that cannot be reached', 'session refused', () => connect('down', ALICE.password)],
      [
        'a forbidden startup option',
        'session refused',
        async () => {
          const client = new pg.Client({
            host: '127.0.0.1',
            port: dbtape.port,
            user: ALICE.name,
            password: ALICE.password,
            database: 'app',
            options: '-c role=postgres',
          });
          client.on('error', () => {});
          await assert.rejects(client.connect(), /"role" in startup options is not allowed/);
          await client.end().catch(() => {});
        },
      ],
    ];
    for (const [what, msg, attempt] of cases) {
      test(`${what}: "${msg}" carries remote and remotePort, those of the recorded login`, async () => {
        const since = Date.now() * 1000;
        const from = dbtape.logs.length;
        await attempt();
        const line = await lineSince(from, msg);
        const { session } = await refused(url, ALICE.name, since);
        assert.equal(line.remote, '127.0.0.1', JSON.stringify(line));
        assert.equal(line.remotePort, session.clientPort, JSON.stringify(line));
      });
    }

    test('a CancelRequest with an unknown key', async () => {
      const from = dbtape.logs.length;
      await sendCancel(dbtape.port, { pid: 1, secret: 2 });
      const line = await lineSince(from, 'cancel request with an unknown key ignored');
      assert.equal(line.remote, '127.0.0.1', JSON.stringify(line));
      assert.ok(Number.isInteger(line.remotePort) && (line.remotePort as number) > 0, JSON.stringify(line));
    });

    test('a client that never finishes logging in: "authentication timeout"', async () => {
      const slow = await startInProcess({ limits: { auth_timeout: '200ms' } });
      try {
        const socket = net.connect({ host: '127.0.0.1', port: slow.port });
        socket.on('error', () => {});
        await once(socket, 'connect');
        const port = socket.localPort;
        socket.resume();
        await once(socket, 'close');
        const line = slow.logs.find((l) => l.msg === 'authentication timeout');
        assert.deepEqual([line?.remote, line?.remotePort], ['127.0.0.1', port], JSON.stringify(line));
      } finally {
        await slow.close();
      }
    });
  });
});

describe('MySQL', () => {
  let proxy: MysqlProxy;

  before(async () => {
    await requireMachineMariaDb();
    proxy = await startMysqlProxy({
      targets: [machineTarget('app'), machineTarget('other')],
      granted: ['app'],
    });
  });
  after(async () => {
    await proxy?.close();
  });

  const login = async (database: string, password: string): Promise<Error & { errno?: number }> => {
    const err = await connectMysql2(proxy, { database }, { name: MYSQL_ALICE.name, password }).then(
      async (c) => {
        await c.end();
        return null;
      },
      (e: Error) => e,
    );
    assert.ok(err, 'the login fails');
    return err;
  };

  test('a wrong password and a forbidden target are recorded, with the MySQL error numbers', async () => {
    const since = Date.now() * 1000;
    const wrong = await login('app', CANARY);
    assert.equal(wrong.errno, 1045);
    const bad = await refused(proxy.storeUrl, MYSQL_ALICE.name, since);
    assert.equal(bad.session.protocol, 'mysql');
    assert.equal(bad.session.target, 'app');
    const a = bad.events[1]!;
    assert.ok(a.kind === 'auth');
    assert.equal(a.failure, 'credentials');
    assert.equal(a.errno, 1045);
    assert.equal(a.code, '28000');
    assert.match(a.message, /^dbtape: Access denied for user 'alice'/);
    assert.ok(!JSON.stringify(bad).includes(CANARY));

    const since2 = Date.now() * 1000;
    const forbidden = await login('other', MYSQL_ALICE.password);
    assert.equal(forbidden.errno, 1044);
    const other = await refused(proxy.storeUrl, MYSQL_ALICE.name, since2);
    assert.equal(other.session.target, 'other');
    const f = other.events[1]!;
    assert.ok(f.kind === 'auth');
    assert.equal(f.failure, 'target');
    assert.equal(f.errno, 1044);

    const replay = await cli(['replay', other.session.id, '--instant', '--store', proxy.storeUrl]);
    assert.equal(replay.code, 0, replay.stderr);
    assert.match(replay.stdout, /-- login refused \(target\)\nERROR 1044 \(\w+\): dbtape: target "other"/);
  });

  test('a user name that is no configured user is neither logged nor recorded', async () => {
    const since = Date.now() * 1000;
    const from = proxy.logs.length;
    const err = await connectMysql2(proxy, { database: 'app' }, { name: NAME_CANARY, password: 'x' }).then(
      async (c) => {
        await c.end();
        return null;
      },
      (e: Error & { errno?: number }) => e,
    );
    assert.equal(err?.errno, 1045);
    const { session, events } = await refused(proxy.storeUrl, UNKNOWN_USER, since);
    const auth = events[1]!;
    assert.ok(auth.kind === 'auth');
    assert.match(auth.message, /^dbtape: Access denied for user '\(unknown user\)'@/);
    assert.ok(!JSON.stringify({ session, events }).includes(NAME_CANARY));
    const line = await waitFor(
      () => proxy.logs.slice(from).find((l) => l.msg === 'client rejected during login'),
      {
        what: 'the refusal logged',
      },
    );
    assert.equal(line.user_known, false);
    assert.ok(!JSON.stringify(proxy.logs.slice(from)).includes(NAME_CANARY), 'the name is in no log line');
  });

  test('the log lines about them carry remote and remotePort, with the same keys as PostgreSQL', async () => {
    for (const [database, password, msg] of [
      ['app', CANARY, 'client rejected during login'],
      ['other', MYSQL_ALICE.password, 'session refused'],
    ] as const) {
      const since = Date.now() * 1000;
      const from = proxy.logs.length;
      await login(database, password);
      const line = await waitFor(() => proxy.logs.slice(from).find((l) => l.msg === msg), {
        what: `a "${msg}" log line`,
      });
      const { session } = await refused(proxy.storeUrl, MYSQL_ALICE.name, since);
      assert.deepEqual(
        [line.remote, line.remotePort],
        ['127.0.0.1', session.clientPort],
        JSON.stringify(line),
      );
    }
  });
});
