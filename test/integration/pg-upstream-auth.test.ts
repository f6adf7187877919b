// The upstream side of the PostgreSQL proxy against throwaway servers: TLS modes (require, prefer,
// verify-full), SCRAM-SHA-256, md5, cleartext and trust, credentials injected from password_env and
// password_file, and clear `dbtape:` errors when the upstream refuses or is not there. Channel
// binding (SCRAM-SHA-256-PLUS) on both sides, with a man in the middle that it must catch.
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { requirePgBinary } from '../support/binaries.js';
import { makeSelfSignedCert } from '../support/certs.js';
import { run } from '../support/exec.js';
import { type PgCluster, startPgCluster } from '../support/pg-cluster.js';
import {
  aliceEnv,
  connectViaProxy,
  conninfo,
  type DbtapeProxy,
  randomPassword,
  startProxy,
  type TargetYaml,
  tempDir,
  uniqueName,
  viaProxy,
} from '../support/pg-fixtures.js';
import { freePort } from '../support/ports.js';
import { startTlsMitm, type TlsMitm } from '../support/tls-mitm.js';

const PSQL = requirePgBinary('psql', 'postgresql-client');

const PASSWORDS = {
  scram: randomPassword(),
  md5: randomPassword(),
  cleartext: randomPassword(),
  wrong: randomPassword(),
};

let scram: PgCluster;
let md5: PgCluster;
let cleartext: PgCluster;
let trust: PgCluster;
let proxy: DbtapeProxy;
/** Between dbtape and the SCRAM server. */
let upstreamMitm: TlsMitm;

before(async () => {
  [scram, md5, cleartext, trust] = await Promise.all([
    // TLS only, SCRAM only: no plain `host` line in pg_hba.conf. 127.0.0.2 is not in the certificate.
    startPgCluster({
      ssl: true,
      hba: 'scram',
      sslOnly: true,
      users: [{ name: 'app_scram', password: PASSWORDS.scram }],
      databases: ['appdb'],
      settings: { listen_addresses: '127.0.0.1,127.0.0.2' },
    }),
    startPgCluster({
      hba: 'md5',
      users: [{ name: 'app_md5', password: PASSWORDS.md5 }],
      databases: ['appdb'],
    }),
    startPgCluster({
      ssl: true,
      hba: 'password',
      users: [{ name: 'app_clear', password: PASSWORDS.cleartext }],
      databases: ['appdb'],
    }),
    startPgCluster({ databases: ['appdb'] }),
  ]);
  const secrets = tempDir('dbtape-secrets-');
  const md5File = path.join(secrets, 'md5-password');
  writeFileSync(md5File, `${PASSWORDS.md5}\n`, { mode: 0o600 });
  const otherCa = makeSelfSignedCert(path.join(secrets, 'other-ca')).caFile;
  const down = await freePort();
  upstreamMitm = await startTlsMitm({ host: '127.0.0.1', port: scram.port });

  const on = (c: PgCluster, name: string, user: string, more: Record<string, unknown>): TargetYaml => ({
    name,
    protocol: 'postgres',
    host: '127.0.0.1',
    port: c.port,
    database: 'appdb',
    user,
    ...more,
  });
  const scramSecret = { password_env: 'DBTAPE_TEST_PW_SCRAM' };
  const ca = scram.certs!.caFile;
  proxy = await startProxy({
    tls: true,
    logLevel: 'debug',
    env: {
      DBTAPE_TEST_PW_SCRAM: PASSWORDS.scram,
      DBTAPE_TEST_PW_CLEAR: PASSWORDS.cleartext,
      DBTAPE_TEST_PW_WRONG: PASSWORDS.wrong,
    },
    targets: [
      on(scram, 'scram_require', 'app_scram', { ...scramSecret, tls: 'require' }),
      on(scram, 'scram_prefer', 'app_scram', { ...scramSecret, tls: 'prefer' }),
      on(scram, 'scram_verify_ip', 'app_scram', { ...scramSecret, tls: 'verify-full', ca_file: ca }),
      on(scram, 'scram_verify_name', 'app_scram', {
        ...scramSecret,
        tls: 'verify-full',
        ca_file: ca,
        host: 'localhost',
      }),
      on(scram, 'scram_plaintext', 'app_scram', { ...scramSecret, tls: 'disable' }),
      on(scram, 'scram_wrong_ca', 'app_scram', { ...scramSecret, tls: 'verify-full', ca_file: otherCa }),
      on(scram, 'scram_wrong_host', 'app_scram', {
        ...scramSecret,
        tls: 'verify-full',
        ca_file: ca,
        host: '127.0.0.2',
      }),
      on(scram, 'scram_mitm', 'app_scram', { ...scramSecret, tls: 'require', port: upstreamMitm.port }),
      on(scram, 'scram_mitm_unbound', 'app_scram', {
        ...scramSecret,
        tls: 'require',
        port: upstreamMitm.port,
        channel_binding: 'disable',
      }),
      on(scram, 'scram_bound', 'app_scram', { ...scramSecret, tls: 'require', channel_binding: 'require' }),
      on(scram, 'scram_wrong_password', 'app_scram', {
        password_env: 'DBTAPE_TEST_PW_WRONG',
        tls: 'require',
      }),
      on(md5, 'md5', 'app_md5', { password_file: md5File, tls: 'disable' }),
      on(cleartext, 'cleartext_tls', 'app_clear', { password_env: 'DBTAPE_TEST_PW_CLEAR', tls: 'require' }),
      on(cleartext, 'cleartext_bound', 'app_clear', {
        password_env: 'DBTAPE_TEST_PW_CLEAR',
        tls: 'require',
        channel_binding: 'require',
      }),
      on(cleartext, 'cleartext_plaintext', 'app_clear', {
        password_env: 'DBTAPE_TEST_PW_CLEAR',
        tls: 'disable',
      }),
      on(trust, 'trust', 'postgres', { tls: 'disable' }),
      { name: 'down', protocol: 'postgres', host: '127.0.0.1', port: down, user: 'postgres', tls: 'disable' },
    ],
  });
});

after(async () => {
  await proxy?.stop();
  await upstreamMitm?.close();
  await Promise.all([scram, md5, cleartext, trust].map((c) => c?.stop()));
});

interface Session {
  readonly user: string;
  readonly database: string;
  readonly ssl: boolean;
}

/** Connects through dbtape to `target`, and reports who and how the upstream session is. */
async function sessionOn(target: string): Promise<Session> {
  const client = await connectViaProxy(proxy, { database: target });
  try {
    const r = await client.query(
      `select current_user as user, current_database() as database,
              coalesce((select ssl from pg_stat_ssl where pid = pg_backend_pid()), false) as ssl`,
    );
    return r.rows[0] as Session;
  } finally {
    await client.end();
  }
}

/** The error a client gets when connecting through dbtape to `target`. */
async function refusal(target: string): Promise<{ code?: string; message: string }> {
  const client = new pg.Client(viaProxy(proxy, { database: target }));
  try {
    await client.connect();
  } catch (err) {
    return err as { code?: string; message: string };
  } finally {
    await client.end().catch(() => {});
  }
  assert.fail(`the connection to ${target} was accepted`);
}

describe('TLS and SCRAM-only upstream', () => {
  test('tls: require authenticates with SCRAM over TLS', async () => {
    assert.deepEqual(await sessionOn('scram_require'), { user: 'app_scram', database: 'appdb', ssl: true });
  });

  test('tls: prefer uses TLS when the server offers it', async () => {
    assert.deepEqual(await sessionOn('scram_prefer'), { user: 'app_scram', database: 'appdb', ssl: true });
  });

  test('tls: verify-full with the right CA, by IP address and by host name', async () => {
    assert.deepEqual(await sessionOn('scram_verify_ip'), { user: 'app_scram', database: 'appdb', ssl: true });
    assert.deepEqual(await sessionOn('scram_verify_name'), {
      user: 'app_scram',
      database: 'appdb',
      ssl: true,
    });
  });

  test('tls: disable against a TLS-only server gives the server refusal as a dbtape error', async () => {
    const err = await refusal('scram_plaintext');
    assert.match(err.message, /^dbtape: target "scram_plaintext" refused the connection: .*no encryption/);
  });

  test('verify-full refuses a certificate from another CA', async () => {
    const err = await refusal('scram_wrong_ca');
    assert.match(err.message, /^dbtape: cannot connect to target "scram_wrong_ca": .*certificate/i);
  });

  test('verify-full refuses a certificate that does not name the host', async () => {
    const err = await refusal('scram_wrong_host');
    assert.match(err.message, /^dbtape: cannot connect to target "scram_wrong_host": .*127\.0\.0\.2/);
  });

  test('a wrong injected password is reported as the target refusing dbtape', async () => {
    const err = await refusal('scram_wrong_password');
    assert.match(err.message, /^dbtape: target "scram_wrong_password" refused the connection: .*password/);
  });
});

describe('TLS on both sides', () => {
  test("the client verifies dbtape's certificate and dbtape verifies the server's", async () => {
    const application = uniqueName('tls_both');
    const client = await connectViaProxy(proxy, {
      database: 'scram_verify_name',
      application_name: application,
      ssl: { ca: readFileSync(proxy.certs!.caFile), servername: 'localhost' },
    });
    try {
      const r = await client.query('select ssl from pg_stat_ssl where pid = pg_backend_pid()');
      assert.equal(r.rows[0].ssl, true);
    } finally {
      await client.end();
    }
    const started = proxy.dbtape.logs.find((l) => l.includes(application) && l.includes('session started'));
    assert.ok(started, 'no "session started" log line for the session');
    assert.match(started, /"tls":"TLSv1\.[23]"/);
    assert.match(started, /"upstreamTls":true/);
  });

  test("a client that does not trust dbtape's certificate refuses it", async () => {
    const client = new pg.Client(
      viaProxy(proxy, {
        database: 'trust',
        ssl: { ca: readFileSync(scram.certs!.caFile), servername: 'localhost' },
      }),
    );
    await assert.rejects(client.connect(), /self[- ]signed certificate/);
    await client.end().catch(() => {});
  });
});

/** The last "session started" log line that `which` picks. */
function startedLine(which: (line: string) => boolean): string {
  const line = [...proxy.dbtape.logs].reverse().find((l) => l.includes('session started') && which(l));
  assert.ok(line, 'no "session started" log line for the session');
  return line;
}

describe('channel binding (SCRAM-SHA-256-PLUS)', () => {
  /** psql as alice through dbtape (or whatever listens on `port`) with libpq's channel_binding. */
  const psql = (port: number, target: string, channelBinding: string, application = 'psql') =>
    run(
      PSQL,
      [
        '-X',
        '-A',
        '-t',
        '-d',
        `${conninfo({ ...proxy, port }, { sslmode: 'require', database: target, application })} channel_binding=${channelBinding}`,
        '-c',
        'select current_user',
      ],
      { env: aliceEnv() },
    );

  test('psql with channel_binding=require signs in to dbtape over TLS', async () => {
    const application = uniqueName('cbind_psql');
    assert.equal((await psql(proxy.port, 'trust', 'require', application)).stdout.trim(), 'postgres');
    assert.match(
      startedLine((l) => l.includes(application)),
      /"channelBound":true/,
    );
  });

  test('node-postgres with enableChannelBinding signs in to dbtape over TLS', async () => {
    const client = await connectViaProxy(proxy, {
      database: 'trust',
      ssl: { rejectUnauthorized: false },
      enableChannelBinding: true,
    });
    try {
      assert.equal((await client.query('select 1 as one')).rows[0].one, 1);
    } finally {
      await client.end();
    }
  });

  test('a man in the middle between the client and dbtape is caught by channel binding', async () => {
    const mitm = await startTlsMitm({ host: proxy.host, port: proxy.port });
    try {
      // Without binding the relay is invisible: that is the attack.
      assert.equal((await psql(mitm.port, 'trust', 'disable')).stdout.trim(), 'postgres');
      await assert.rejects(psql(mitm.port, 'trust', 'require'), /SCRAM channel binding check failed/);
    } finally {
      await mitm.close();
    }
  });

  test('dbtape binds its upstream SCRAM to the server certificate, so a relay in between fails', async () => {
    // The same server, user and password as scram_require, which works; only the relay differs.
    assert.deepEqual(await sessionOn('scram_require'), { user: 'app_scram', database: 'appdb', ssl: true });
    assert.match(
      startedLine((l) => l.includes('"target":"scram_require"')),
      /"upstreamChannelBound":true/,
    );
    const err = await refusal('scram_mitm');
    assert.match(err.message, /^dbtape: target "scram_mitm" refused the connection: .*channel binding/);
    // With channel_binding: disable the relay goes unnoticed: that is what binding prevents.
    assert.deepEqual(await sessionOn('scram_mitm_unbound'), {
      user: 'app_scram',
      database: 'appdb',
      ssl: true,
    });
  });

  test('channel_binding: require logs in bound, and refuses a target that asks for anything else', async () => {
    assert.deepEqual(await sessionOn('scram_bound'), { user: 'app_scram', database: 'appdb', ssl: true });
    const err = await refusal('cleartext_bound');
    assert.match(
      err.message,
      /^dbtape: target "cleartext_bound" has channel_binding: require, but it asked for a cleartext password instead of SCRAM/,
    );
    assert.equal(err.code, '08001');
  });
});

describe('other authentication methods', () => {
  test('md5, password from password_file', async () => {
    assert.match(await md5.psql("select rolpassword from pg_authid where rolname = 'app_md5'"), /^md5/);
    assert.deepEqual(await sessionOn('md5'), { user: 'app_md5', database: 'appdb', ssl: false });
  });

  test('cleartext password over TLS', async () => {
    assert.deepEqual(await sessionOn('cleartext_tls'), { user: 'app_clear', database: 'appdb', ssl: true });
  });

  test('cleartext password over plaintext is refused by dbtape', async () => {
    const err = await refusal('cleartext_plaintext');
    assert.match(err.message, /^dbtape: target "cleartext_plaintext" .*cleartext.*unencrypted/);
  });

  test('trust, no password configured', async () => {
    assert.deepEqual(await sessionOn('trust'), { user: 'postgres', database: 'appdb', ssl: false });
  });
});

describe('failures and secrets', () => {
  test('an upstream with nothing listening gives a clear error and the proxy keeps serving', async () => {
    const err = await refusal('down');
    assert.match(err.message, /^dbtape: cannot connect to target "down": .*ECONNREFUSED/);
    assert.deepEqual(await sessionOn('trust'), { user: 'postgres', database: 'appdb', ssl: false });
  });

  test('no target password appears in dbtape output', async () => {
    // Run after the others, so their logins and refusals are in the output being checked.
    const output = proxy.dbtape.logs.join('\n');
    assert.ok(output.includes('session started'), 'dbtape logged nothing about the sessions');
    for (const [which, password] of Object.entries(PASSWORDS)) {
      assert.ok(!output.includes(password), `the ${which} password appears in dbtape's output`);
    }
  });
});
