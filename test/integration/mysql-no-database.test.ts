// A MySQL login that names no database (mariadb-dump always logs in so; the mysql client does
// without a database argument, and for Ctrl-C): against the machine's MariaDB, through dbtape in
// this process. With one MySQL target the connection becomes a session on it at its first command
// other than KILL, PING or QUIT; with several it stays a KILL-only connection.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import type mysql from 'mysql2/promise';
import * as M from '../../src/protocol/mysql/index.js';
import { requireBinary } from '../support/binaries.js';
import { run, runStatus } from '../support/exec.js';
import {
  connectDirect,
  connectMysql2,
  type MysqlProxy,
  machineTarget,
  mariadbArgs,
  mariadbEnv,
  queryPayload,
  RawMysql,
  Recorded,
  requireMachineMariaDb,
  startMysqlProxy,
  uniqueName,
} from '../support/mysql-fixtures.js';

const MARIADB = requireBinary('mariadb', 'mariadb-client');
const DUMP = requireBinary('mariadb-dump', 'mariadb-client');

let one: MysqlProxy;
let two: MysqlProxy;
let direct: mysql.Connection;

before(async () => {
  await requireMachineMariaDb();
  one = await startMysqlProxy();
  two = await startMysqlProxy({ targets: [machineTarget('app'), machineTarget('other')] });
  direct = await connectDirect();
});

after(async () => {
  await direct?.end();
  await one?.close();
  await two?.close();
});

describe('one MySQL target', () => {
  test('the mariadb CLI without a database works on the target, recorded as a session on it', async () => {
    const marker = uniqueName('nodb');
    const { stdout } = await run(
      MARIADB,
      mariadbArgs(one, ['--batch', '-e', `SELECT DATABASE() AS db, '${marker}' AS m`], null),
      { env: mariadbEnv() },
    );
    assert.equal(stdout, `db\tm\ntest\t${marker}\n`);
    const recorded = new Recorded(one.storeUrl);
    try {
      const { id } = await recorded.sessionWith(marker);
      const session = (await recorded.sessions()).find((s) => s.id === id);
      assert.equal(session?.target, 'app');
    } finally {
      await recorded.close();
    }
  });

  test('mariadb-dump (which always logs in without a database) dumps a table', async () => {
    const table = uniqueName('dumped');
    await direct.query(`CREATE TABLE ${table} (id INT PRIMARY KEY, note VARCHAR(20))`);
    await direct.query(`INSERT INTO ${table} VALUES (1, 'one'), (2, 'two')`);
    try {
      const r = await runStatus(DUMP, mariadbArgs(one, ['--single-transaction', 'test', table], null), {
        env: mariadbEnv(),
      });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, new RegExp(`CREATE TABLE \`${table}\``));
      assert.match(
        r.stdout,
        new RegExp(`INSERT INTO \`${table}\` VALUES\\s*\\(1,'one'\\),\\s*\\(2,'two'\\);`),
      );
    } finally {
      await direct.query(`DROP TABLE ${table}`);
    }
  });

  test('naming the target where its database has another name fails loudly, with the name to use', async () => {
    // `app` is the target; its database upstream is `test`. mariadb-dump also names its argument in
    // SQL (views, routines, events), so a dump under the target's name could only be incomplete.
    const dump = await runStatus(
      DUMP,
      mariadbArgs(one, ['--single-transaction', '--routines', 'app'], null),
      {
        env: mariadbEnv(),
      },
    );
    assert.notEqual(dump.code, 0);
    assert.match(
      dump.stderr,
      /1049.*dbtape: Unknown database 'app': target app is database 'test' on the server/,
    );
    const marker = uniqueName('used');
    const r = await runStatus(
      MARIADB,
      mariadbArgs(one, ['--batch', '-e', `SELECT DATABASE() AS db, '${marker}' AS m;\nuse app`], 'app'),
      { env: mariadbEnv() },
    );
    // The client stops at a failed `use`, as it does at a server's own 1049.
    assert.equal(r.stdout, `db\tm\ntest\t${marker}\n`);
    assert.match(r.stderr, /ERROR 1049 \(42000\).*database 'test' on the server; name that/);
    const recorded = new Recorded(one.storeUrl);
    try {
      const { events } = await recorded.sessionWith(marker);
      const use = events.findIndex((e) => e.kind === 'command' && e.command === 'COM_INIT_DB');
      assert.equal(events[use]?.kind === 'command' ? events[use].detail : undefined, 'app');
      const refused = events[use + 1];
      assert.equal(refused?.kind === 'error' ? refused.errno : undefined, 1049);
    } finally {
      await recorded.close();
    }
  });

  test("a dump's sandbox line (mariadb-dump's first) is not refused by a role whose statements are checked", async () => {
    const marker = uniqueName('sandbox');
    // What every mariadb-dump file starts with; the mysql client sends it on with the next statement.
    const input = `/*M!999999\\- enable the sandbox mode */ \nSELECT '${marker}' AS m;\n`;
    const r = await runStatus(MARIADB, mariadbArgs(one, ['--batch']), { env: mariadbEnv(), input });
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `m\n${marker}\n`);
  });

  test('KILL still runs without a session; a first command over 64 KiB is taken whole by the session', async () => {
    const victim = await connectMysql2(one);
    const raw = await RawMysql.connect(one.port);
    try {
      await raw.login(undefined, null);
      raw.command(queryPayload(`KILL QUERY ${victim.threadId}`));
      const killed = await raw.response(M.COM_QUERY);
      assert.equal(killed[0]!.payload[0], M.OK_HEADER, 'a KILL of your own session is answered here');
      const big = 'x'.repeat(100_000);
      raw.command(queryPayload(`SELECT '${big}' AS big`));
      const rows = (await raw.response(M.COM_QUERY)).filter((p) => p.payload.length > 90_000);
      assert.equal(rows.length, 1, 'the big first statement ran on the target');
    } finally {
      raw.close();
      victim.destroy();
    }
  });
});

describe('several MySQL targets', () => {
  test('without a database only KILL, PING and QUIT are answered; the rest says which database to name', async () => {
    const r = await runStatus(MARIADB, mariadbArgs(two, ['--batch', '-e', 'SELECT 1'], null), {
      env: mariadbEnv(),
    });
    assert.notEqual(r.code, 0);
    assert.match(
      r.stderr,
      /ERROR 1046 \(3D000\).*dbtape: no database selected: this connection reaches no target/,
    );
  });

  test('a first `use` naming a target picks it, as naming it at login would', async () => {
    const marker = uniqueName('picked');
    // `other` stands for the database `test` upstream; `nosuch` is no target.
    const r = await runStatus(
      MARIADB,
      mariadbArgs(two, ['--batch', '-e', `use other\nSELECT DATABASE() AS db, '${marker}' AS m`], null),
      { env: mariadbEnv() },
    );
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, `db\tm\ntest\t${marker}\n`);
    const recorded = new Recorded(two.storeUrl);
    try {
      const { id, events } = await recorded.sessionWith(marker);
      assert.equal((await recorded.sessions()).find((s) => s.id === id)?.target, 'other');
      const use = events.find((e) => e.kind === 'command' && e.command === 'COM_INIT_DB');
      assert.equal(use?.kind === 'command' ? use.detail : undefined, 'test', 'as the server got it');
    } finally {
      await recorded.close();
    }
    const unknown = await runStatus(
      MARIADB,
      mariadbArgs(two, ['--batch', '-e', 'use nosuch\nSELECT 1'], null),
      {
        env: mariadbEnv(),
      },
    );
    assert.match(unknown.stderr, /ERROR 1046 \(3D000\).*dbtape: no database selected/);
  });
});
