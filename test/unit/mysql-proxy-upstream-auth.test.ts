// dbtape logging in upstream with the injected password, against a scripted server asking for
// caching_sha2_password (fast path, and full authentication with the server's RSA key over a
// plaintext connection) or mysql_clear_password (refused without TLS).
import assert from 'node:assert/strict';
import { rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import * as M from '../../src/protocol/mysql/index.js';
import {
  errOf,
  type FakeAuth,
  queryPayload,
  RawMysql,
  startFakeUpstream,
  startMysqlProxy,
} from '../support/mysql-fixtures.js';

const TARGET_PASSWORD = 'tärget-secret';

/** Log in through dbtape to a scripted server authenticating per `auth`; returns dbtape's answer. */
async function loginVia(auth: FakeAuth, password = TARGET_PASSWORD) {
  const fake = await startFakeUpstream({ auth });
  const passwordFile = path.join(os.tmpdir(), `dbtape-target-pw-${process.pid}-${fake.port}`);
  writeFileSync(passwordFile, password);
  const proxy = await startMysqlProxy({
    targets: [
      {
        name: 'app',
        protocol: 'mysql',
        host: '127.0.0.1',
        port: fake.port,
        user: 'svc',
        password_file: passwordFile,
        tls: 'disable',
      },
    ],
  });
  try {
    const raw = await RawMysql.connect(proxy.port);
    const { answer } = await raw.login();
    let echoed: string | null = null;
    if (answer.payload[0] === M.OK_HEADER) {
      raw.command(queryPayload('SELECT 1'));
      echoed = (await raw.response(M.COM_QUERY)).length > 0 ? 'answered' : null;
    }
    raw.close();
    return { answer, passwords: fake.passwords, echoed };
  } finally {
    await proxy.close();
    await fake.close();
    rmSync(passwordFile, { force: true });
  }
}

test('caching_sha2_password fast path: the scramble alone logs in, no password is revealed', async () => {
  const r = await loginVia({ plugin: 'caching_sha2_password', password: TARGET_PASSWORD, fullAuth: false });
  assert.equal(r.answer.payload[0], M.OK_HEADER);
  assert.equal(r.echoed, 'answered');
  assert.deepEqual(r.passwords, []);
});

test("caching_sha2_password full authentication without TLS: the password goes RSA-encrypted with the server's key", async () => {
  const r = await loginVia({ plugin: 'caching_sha2_password', password: TARGET_PASSWORD, fullAuth: true });
  assert.equal(r.answer.payload[0], M.OK_HEADER);
  assert.deepEqual(r.passwords, [TARGET_PASSWORD]);
});

test("a wrong injected password: the client gets dbtape's error naming the target", async () => {
  const r = await loginVia(
    { plugin: 'caching_sha2_password', password: TARGET_PASSWORD, fullAuth: true },
    'wrong',
  );
  const e = errOf(r.answer);
  assert.equal(e.errno, 1105);
  assert.match(e.message, /^dbtape: target "app" refused dbtape's login: 1045/);
});

test('mysql_clear_password over a plaintext connection is refused: the password never leaves', async () => {
  const r = await loginVia({ plugin: 'mysql_clear_password' });
  const e = errOf(r.answer);
  assert.match(e.message, /asks for the password in cleartext.*refusing \(set tls: require\)/);
  assert.deepEqual(r.passwords, []);
});
