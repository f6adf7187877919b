// A target dbtape cannot reach, or that lacks the TLS its config requires: the mariadb client (whose
// library turns an ERR with a client-range errno, 2000-2999, into "Received malformed packet") and
// mysql2 both show dbtape's message. Against the machine's MariaDB, which offers no TLS.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import { requireBinary } from '../support/binaries.js';
import { runStatus } from '../support/exec.js';
import {
  connectMysql2,
  type MysqlProxy,
  machineTarget,
  mariaDbTarget,
  mariadbArgs,
  mariadbEnv,
  requireMachineMariaDb,
  startMysqlProxy,
} from '../support/mysql-fixtures.js';
import { freePort } from '../support/ports.js';

const MARIADB = requireBinary('mariadb', 'mariadb-client');

let proxy: MysqlProxy;

before(async () => {
  await requireMachineMariaDb();
  const closed = await freePort();
  proxy = await startMysqlProxy({
    targets: [
      machineTarget('app'),
      mariaDbTarget(closed, { name: 'down' }),
      mariaDbTarget(3306, { name: 'tlsreq', tls: 'require' }),
    ],
  });
});

after(async () => {
  await proxy?.close();
});

const expected: Record<string, RegExp> = {
  down: /dbtape: cannot connect to target "down": .*ECONNREFUSED/,
  tlsreq: /dbtape: target "tlsreq" requires TLS \(tls: require\) but the server does not offer it/,
};

for (const [target, message] of Object.entries(expected)) {
  test(`target ${target}: the mariadb client shows dbtape's reason, not a malformed packet`, async () => {
    const r = await runStatus(MARIADB, mariadbArgs(proxy, ['-e', 'SELECT 1'], target), { env: mariadbEnv() });
    assert.notEqual(r.code, 0);
    assert.match(r.stderr, message);
    assert.doesNotMatch(r.stderr, /malformed/);
  });

  test(`target ${target}: mysql2 gets the same message with a server error number`, async () => {
    await assert.rejects(connectMysql2(proxy, { database: target }), (err: Error & { errno?: number }) => {
      assert.match(err.message, message);
      assert.ok(err.errno !== undefined && err.errno < 2000, `errno ${err.errno} is in the server's range`);
      return true;
    });
  });
}
