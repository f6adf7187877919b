// The "Bad input" list, sent as hand-built bytes to dbtape running in this process in front of
// the machine's PostgreSQL. Each case must end in a protocol-correct FATAL ErrorResponse (with the
// SQLSTATE PostgreSQL uses) or a clean close; none may crash the proxy or disturb another session.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import tls from 'node:tls';
import pg from 'pg';
import { stringify } from 'yaml';
import { ScramClient } from '../../src/protocol/postgres/scram.js';
import { makeSelfSignedCert } from '../support/certs.js';
import {
  ALICE,
  authCode,
  BOB,
  cancelPacket,
  cstr,
  DEFAULT_TARGET,
  dataRows,
  errorFields,
  GSSENC_REQUEST,
  type InProcessDbtape,
  int32,
  loggedIn,
  messageHeader,
  type PgRaw,
  pgRaw,
  queryMessage,
  SSL_REQUEST,
  saslInitial,
  scramLogin,
  simpleQuery,
  startInProcess,
  startupPacket,
  typedMessage,
  untypedPacket,
  usersYaml,
} from '../support/inproc-dbtape.js';
import { bindMsg, executeMsg, parseMsg } from '../support/recording-fixtures.js';
import { waitFor, withTimeout } from '../support/wait.js';

const MAX_MESSAGE = 1024;
const N = 0x4e;

/** Exceptions nobody caught while the suite ran: any one means the proxy could have crashed. */
const uncaught: unknown[] = [];
const onUncaught = (err: unknown) => uncaught.push(err);

let main: InProcessDbtape;
/** No TLS, a small max_message_size and a short authentication timeout. */
let small: InProcessDbtape;
let certDir: string;
/** An ordinary session open through the whole suite: hostile clients must not disturb it. */
let bystander: pg.Client;

before(async () => {
  process.on('uncaughtException', onUncaught);
  process.on('unhandledRejection', onUncaught);
  await assertPostgresAnswers();
  certDir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-hostile-certs-'));
  const certs = makeSelfSignedCert(certDir);
  const targets = [DEFAULT_TARGET, { ...DEFAULT_TARGET, name: 'other', database: 'postgres' }];
  main = await startInProcess({ targets, tls: { cert_file: certs.certFile, key_file: certs.keyFile } });
  small = await startInProcess({ limits: { max_message_size: MAX_MESSAGE, auth_timeout: '1s' } });
  bystander = pgClient(main.port);
  await bystander.connect();
  await bystander.query('SELECT 1');
});

after(async () => {
  process.off('uncaughtException', onUncaught);
  process.off('unhandledRejection', onUncaught);
  await bystander?.end().catch(() => {});
  await main?.close();
  await small?.close();
  if (certDir) rmSync(certDir, { recursive: true, force: true });
});

async function assertPostgresAnswers(): Promise<void> {
  const direct = new pg.Client({ host: '127.0.0.1', port: 5432, user: 'postgres', database: 'test' });
  try {
    await direct.connect();
    await direct.end();
  } catch (err) {
    throw new Error(
      `PostgreSQL must answer on 127.0.0.1:5432 (user postgres, database test, trust) for this suite; ` +
        `npm test starts one: ${(err as Error).message}`,
    );
  }
}

function pgClient(port: number, user: string = ALICE.name, password: string = ALICE.password): pg.Client {
  return new pg.Client({ host: '127.0.0.1', port, user, password, database: 'app', ssl: false });
}

/** The next message is a FATAL ErrorResponse with `code`; then the proxy closes, sending nothing more. */
async function expectFatal(raw: PgRaw, code: string, message?: RegExp): Promise<Record<string, string>> {
  const m = await raw.readMessage();
  assert.equal(m.type, 'E', `expected an ErrorResponse, got '${m.type}'`);
  const f = errorFields(m);
  assert.equal(f.S, 'FATAL', `severity of ${JSON.stringify(f)}`);
  assert.equal(f.V, 'FATAL');
  assert.equal(f.C, code, `SQLSTATE of "${f.M}"`);
  if (message) assert.match(f.M, message);
  await raw.closed();
  assert.equal(raw.rest().length, 0, 'nothing after the FATAL error');
  return f;
}

/** The proxy closes without sending a byte. */
async function expectSilentClose(raw: PgRaw): Promise<void> {
  await raw.closed();
  assert.equal(raw.rest().toString('hex'), '', 'no bytes before the close');
}

async function withRaw<T>(port: number, fn: (raw: PgRaw) => Promise<T>): Promise<T> {
  const raw = await pgRaw(port);
  try {
    return await fn(raw);
  } finally {
    raw.destroy();
  }
}

/** Every raw session names itself, so the suite can check that none is left behind upstream. */
const APP_NAME = 'dbtape-hostile';
const APP: readonly (readonly [string, string])[] = [['application_name', APP_NAME]];

const aliceStartup = () => startupPacket([['user', ALICE.name], ['database', 'app'], ...APP]);

/** Up to AuthenticationSASL: the point where a SASLInitialResponse is due. */
async function untilSasl(raw: PgRaw): Promise<void> {
  await raw.send(aliceStartup());
  assert.equal(authCode(await raw.readMessage()), 10);
}

/** Up to AuthenticationSASLContinue; returns the client that must answer it. */
async function untilSaslContinue(raw: PgRaw): Promise<{ scram: ScramClient; serverFirst: Buffer }> {
  await untilSasl(raw);
  const scram = new ScramClient(ALICE.password);
  await raw.send(saslInitial('SCRAM-SHA-256', scram.clientFirst()));
  const m = await raw.readMessage();
  assert.equal(authCode(m), 11);
  return { scram, serverFirst: m.body.subarray(4) };
}

/** A ClientHello as a TLS client sends it first thing, captured from node's TLS stack. */
async function captureClientHello(): Promise<Buffer> {
  const server = net.createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as net.AddressInfo;
  const hello = new Promise<Buffer>((resolve) => {
    server.once('connection', (s) =>
      s.once('data', (d: Buffer) => {
        resolve(d);
        s.destroy();
      }),
    );
  });
  const client = tls.connect({ host: '127.0.0.1', port, rejectUnauthorized: false });
  client.on('error', () => {});
  try {
    return await withTimeout(hello, 10_000, 'a TLS ClientHello');
  } finally {
    client.destroy();
    server.close();
  }
}

function parseBindExecuteSync(sql: string, param: string): Buffer {
  const value = Buffer.from(param);
  const bind = Buffer.concat([
    cstr(''),
    cstr(''),
    Buffer.from([0, 0, 0, 1]),
    int32(value.length),
    value,
    Buffer.from([0, 0]),
  ]);
  return Buffer.concat([
    typedMessage('P', Buffer.concat([cstr(''), cstr(sql), Buffer.from([0, 0])])),
    typedMessage('B', bind),
    typedMessage('E', Buffer.concat([cstr(''), int32(0)])),
    typedMessage('S'),
  ]);
}

describe('startup packet', () => {
  for (const len of [0, 4, 7, -1, -0x8000_0000]) {
    test(`length ${len} (< 8)`, () =>
      withRaw(main.port, async (raw) => {
        await raw.send(Buffer.concat([int32(len), Buffer.alloc(8)]));
        await expectFatal(raw, '08P01', new RegExp(`invalid length of startup packet: ${len}`));
      }));
  }

  for (const len of [10_001, 0x7fff_ffff]) {
    test(`length ${len} (> 10000) is refused at once, without waiting for the body`, () =>
      withRaw(main.port, async (raw) => {
        await raw.send(int32(len));
        await expectFatal(raw, '08P01', /invalid length of startup packet/);
      }));
  }

  test('parameters without the terminating NUL', () =>
    withRaw(main.port, async (raw) => {
      await raw.send(untypedPacket(Buffer.concat([int32(196608), cstr('user'), cstr(ALICE.name)])));
      await expectFatal(raw, '08P01', /terminating NUL/);
    }));

  test('a value without its NUL', () =>
    withRaw(main.port, async (raw) => {
      await raw.send(untypedPacket(Buffer.concat([int32(196608), cstr('user'), Buffer.from('alice')])));
      await expectFatal(raw, '08P01');
    }));

  test('duplicate user', () =>
    withRaw(main.port, async (raw) => {
      await raw.send(
        startupPacket([
          ['user', BOB.name],
          ['database', 'app'],
          ['user', ALICE.name],
        ]),
      );
      await expectFatal(raw, '08P01', /duplicate startup parameter "user"/);
    }));

  test('no user (28000, as PostgreSQL)', () =>
    withRaw(main.port, async (raw) => {
      await raw.send(startupPacket([['database', 'app']]));
      await expectFatal(raw, '28000');
    }));

  for (const major of [2, 4]) {
    test(`protocol ${major}.0`, () =>
      withRaw(main.port, async (raw) => {
        await raw.send(startupPacket([['user', ALICE.name]], major, 0));
        await expectFatal(raw, '0A000', new RegExp(`unsupported frontend protocol ${major}\\.0`));
      }));
  }

  test('a replication connection (0A000, before authentication)', () =>
    withRaw(main.port, async (raw) => {
      await raw.send(
        startupPacket([
          ['user', ALICE.name],
          ['database', 'app'],
          ['replication', 'database'],
        ]),
      );
      await expectFatal(raw, '0A000', /replication/);
    }));

  test('options that would change the upstream identity are refused after authentication', () =>
    withRaw(main.port, async (raw) => {
      const r = await scramLogin(raw, { params: [['options', '-c session_authorization=postgres']] });
      assert.equal(r.error?.C, '0A000');
      assert.match(r.error?.M ?? '', /^dbtape: .*session_authorization/);
      await raw.closed();
    }));

  test('a raw TLS ClientHello as the first bytes', async () => {
    const hello = await captureClientHello();
    assert.equal(hello[0], 0x16, 'a TLS handshake record');
    await withRaw(main.port, async (raw) => {
      await raw.send(hello);
      await expectFatal(raw, '08P01', /invalid length of startup packet/);
    });
  });

  for (const extra of [-4, 4]) {
    test(`CancelRequest of length ${16 + extra}`, () =>
      withRaw(main.port, async (raw) => {
        const good = cancelPacket(1234, 5678);
        const body =
          extra < 0 ? good.subarray(4, 16 + extra) : Buffer.concat([good.subarray(4), Buffer.alloc(extra)]);
        await raw.send(untypedPacket(body));
        await expectFatal(raw, '08P01', /invalid length of CancelRequest/);
      }));
  }

  test('a CancelRequest with an unknown key: closed without an answer, cancels nothing', async () => {
    const running = bystander.query('SELECT pg_sleep(0.3) AS slept');
    await withRaw(main.port, async (raw) => {
      await raw.send(cancelPacket(0x1234_5678, 0x0bad_cafe));
      await expectSilentClose(raw);
    });
    assert.equal((await running).rowCount, 1, 'the bystander query ran to its end');
  });

  test('the authentication timeout closes a client that sends nothing', () =>
    withRaw(small.port, async (raw) => {
      await expectSilentClose(raw);
    }));

  test('the authentication timeout closes a client that stops mid-packet', () =>
    withRaw(small.port, async (raw) => {
      await raw.send(aliceStartup().subarray(0, 10));
      await expectSilentClose(raw);
    }));
});

describe('SSLRequest and GSSENCRequest', () => {
  test('SSLRequest with trailing bytes (length 12)', () =>
    withRaw(main.port, async (raw) => {
      await raw.send(untypedPacket(Buffer.concat([int32(80877103), int32(0)])));
      await expectFatal(raw, '08P01', /invalid length of SSLRequest/);
    }));

  test('SSLRequest twice, without TLS configured: N, then FATAL', () =>
    withRaw(small.port, async (raw) => {
      await raw.send(SSL_REQUEST);
      assert.equal(await raw.readByte(), N);
      await raw.send(SSL_REQUEST);
      await expectFatal(raw, '08P01', /duplicate SSL request/i);
    }));

  test('SSLRequest twice, with TLS: S, TLS, then FATAL inside TLS', () =>
    withRaw(main.port, async (raw) => {
      await raw.send(SSL_REQUEST);
      assert.equal(String.fromCharCode(await raw.readByte()), 'S');
      const secure = await raw.startTls();
      await secure.send(SSL_REQUEST);
      await expectFatal(secure, '08P01', /duplicate SSL request/i);
    }));

  test('after S, a normal login over TLS works', () =>
    withRaw(main.port, async (raw) => {
      await raw.send(SSL_REQUEST);
      assert.equal(String.fromCharCode(await raw.readByte()), 'S');
      const secure = await raw.startTls();
      const r = await scramLogin(secure, { params: APP });
      assert.equal(r.error, null);
      assert.deepEqual(dataRows(await simpleQuery(secure, 'SELECT 1')), [['1']]);
      secure.destroy();
    }));

  // CVE-2021-23214 / CVE-2021-3935: bytes that follow an SSLRequest before the answer would be read
  // as if they had come over TLS. They must never be answered.
  for (const [name, instance] of [
    ['with TLS', () => main],
    ['without TLS', () => small],
  ] as const) {
    test(`SSLRequest followed in the same write by a StartupMessage (${name}): closed, never answered`, () =>
      withRaw(instance().port, async (raw) => {
        await raw.send(Buffer.concat([SSL_REQUEST, aliceStartup()]));
        await raw.closed();
        const got = raw.rest();
        // PostgreSQL answers the byte and then refuses with FATAL 08P01; dbtape closes before answering.
        if (got.length > 0) {
          assert.equal(got[0], N, `answered ${got.toString('hex')}`);
          assert.equal(String.fromCharCode(got[1]), 'E');
        }
        assert.ok(!got.includes(Buffer.from('SCRAM-SHA-256')), 'the StartupMessage was not processed');
      }));
  }

  test('GSSENCRequest followed in the same write by more bytes: closed, never answered', () =>
    withRaw(main.port, async (raw) => {
      await raw.send(Buffer.concat([GSSENC_REQUEST, aliceStartup()]));
      await expectSilentClose(raw);
    }));

  test('GSSENCRequest is answered N, and a normal login follows', () =>
    withRaw(main.port, async (raw) => {
      await raw.send(GSSENC_REQUEST);
      assert.equal(await raw.readByte(), N);
      const r = await scramLogin(raw, { params: APP });
      assert.equal(r.error, null);
      assert.deepEqual(dataRows(await simpleQuery(raw, 'SELECT 1')), [['1']]);
    }));

  test('GSSENCRequest twice', () =>
    withRaw(main.port, async (raw) => {
      await raw.send(GSSENC_REQUEST);
      assert.equal(await raw.readByte(), N);
      await raw.send(GSSENC_REQUEST);
      await expectFatal(raw, '08P01');
    }));
});

describe('protocol version negotiation', () => {
  test('protocol 3.2 with a _pq_.foo option: NegotiateProtocolVersion, then a normal session', () =>
    withRaw(main.port, async (raw) => {
      const startup = startupPacket(
        [['user', ALICE.name], ['database', 'app'], ['_pq_.foo', 'on'], ...APP],
        3,
        2,
      );
      const r = await scramLogin(raw, { startup });
      assert.equal(r.error, null);
      const v = r.messages[0];
      assert.equal(v.type, 'v', 'NegotiateProtocolVersion before authentication');
      assert.equal(v.body.readInt32BE(0), 3 << 16, 'newest version: 3.0');
      assert.equal(v.body.readInt32BE(4), 1);
      assert.equal(v.body.toString('utf8', 8), '_pq_.foo\0');
      assert.deepEqual(dataRows(await simpleQuery(raw, 'SELECT 2')), [['2']]);
    }));

  test('protocol 3.1 without options: NegotiateProtocolVersion naming no option', () =>
    withRaw(main.port, async (raw) => {
      const r = await scramLogin(raw, {
        startup: startupPacket([['user', ALICE.name], ['database', 'app'], ...APP], 3, 1),
      });
      assert.equal(r.error, null);
      assert.equal(r.messages[0].type, 'v');
      assert.equal(r.messages[0].body.readInt32BE(4), 0);
    }));
});

describe('authentication', () => {
  test('wrong password: 28P01', () =>
    withRaw(main.port, async (raw) => {
      const r = await scramLogin(raw, { password: 'not-the-password' });
      assert.equal(r.error?.C, '28P01');
      assert.equal(r.error?.S, 'FATAL');
      assert.equal(r.error?.M, `dbtape: password authentication failed for user "${ALICE.name}"`);
      await raw.closed();
    }));

  test('unknown user: the same SCRAM exchange, the same 28P01 message, a stable salt', async () => {
    const salts: string[] = [];
    for (let i = 0; i < 2; i++) {
      await withRaw(main.port, async (raw) => {
        const r = await scramLogin(raw, { user: 'mallory', password: 'guess' });
        assert.deepEqual(
          r.messages.map((m) => m.type),
          ['R', 'R', 'E'],
          'SASL, SASLContinue, then the error, as for a real user',
        );
        salts.push(/,s=([^,]+),/.exec(r.messages[1].body.toString('latin1', 4))?.[1] ?? '');
        assert.equal(r.error?.C, '28P01');
        assert.equal(r.error?.M, 'dbtape: password authentication failed for user "mallory"');
        await raw.closed();
      });
    }
    assert.ok(salts[0].length > 0);
    assert.equal(salts[0], salts[1], 'an unknown user gets the same salt every time');
  });

  test('a forbidden target and an unknown target give the same error', async () => {
    const refusal = async (user: string, password: string, database: string) =>
      withRaw(main.port, async (raw) => {
        const r = await scramLogin(raw, { user, password, database });
        assert.ok(r.error, `login of ${user} to ${database} must be refused`);
        await raw.closed();
        return {
          code: r.error.C,
          severity: r.error.S,
          text: r.error.M.replaceAll(`"${database}"`, '"<target>"'),
        };
      });
    const forbidden = await refusal(ALICE.name, ALICE.password, 'other');
    const unknown = await refusal(ALICE.name, ALICE.password, 'no_such_target');
    const noRoles = await refusal(BOB.name, BOB.password, 'app');
    assert.deepEqual(forbidden, unknown);
    assert.deepEqual(noRoles, unknown);
    assert.equal(unknown.severity, 'FATAL');
    assert.match(unknown.text, /^dbtape: /);
  });

  for (const len of [0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 3, 0]) {
    test(`SASLInitialResponse with message length 0x${len.toString(16)}`, () =>
      withRaw(main.port, async (raw) => {
        await untilSasl(raw);
        await raw.send(messageHeader('p', len));
        await expectFatal(raw, '08P01');
      }));
  }

  for (const declared of [0x7fff_ffff, -2, -0x8000_0000, 1000]) {
    test(`SASLInitialResponse whose data length field says ${declared}`, () =>
      withRaw(main.port, async (raw) => {
        await untilSasl(raw);
        await raw.send(saslInitial('SCRAM-SHA-256', Buffer.from('n,,n=,r=abcdefgh'), declared));
        await expectFatal(raw, '08P01', /SASLInitialResponse/);
      }));
  }

  for (const len of [0x7fff_ffff, 0x8000_0000, 2]) {
    test(`SASLResponse with message length 0x${len.toString(16)}`, () =>
      withRaw(main.port, async (raw) => {
        await untilSaslContinue(raw);
        await raw.send(messageHeader('p', len));
        await expectFatal(raw, '08P01');
      }));
  }

  test('a Query instead of the SASLInitialResponse', () =>
    withRaw(main.port, async (raw) => {
      await untilSasl(raw);
      await raw.send(queryMessage('SELECT 1'));
      await expectFatal(raw, '08P01', /expected SASL response/);
    }));

  test('a Query instead of the SASLResponse', () =>
    withRaw(main.port, async (raw) => {
      await untilSaslContinue(raw);
      await raw.send(queryMessage('SELECT 1'));
      await expectFatal(raw, '08P01', /expected SASL response/);
    }));

  test('a mechanism other than SCRAM-SHA-256', () =>
    withRaw(main.port, async (raw) => {
      await untilSasl(raw);
      await raw.send(saslInitial('SCRAM-SHA-256-PLUS', Buffer.from('p=tls-server-end-point,,n=,r=abc')));
      await expectFatal(raw, '08P01', /invalid SASL authentication mechanism/);
    }));

  test('a malformed client-first-message', () =>
    withRaw(main.port, async (raw) => {
      await untilSasl(raw);
      await raw.send(saslInitial('SCRAM-SHA-256', Buffer.from('garbage')));
      await expectFatal(raw, '08P01', /SCRAM/);
    }));

  test('a client-final-message with another nonce', () =>
    withRaw(main.port, async (raw) => {
      await untilSaslContinue(raw);
      await raw.send(
        typedMessage('p', Buffer.from(`c=biws,r=not-the-nonce,p=${Buffer.alloc(32).toString('base64')}`)),
      );
      await expectFatal(raw, '08P01', /nonce/);
    }));

  test('Terminate during authentication ends the connection', () =>
    withRaw(main.port, async (raw) => {
      await untilSasl(raw);
      await raw.send(typedMessage('X'));
      await raw.closed();
    }));
});

describe('after authentication', () => {
  const fatalAfterLogin =
    (bytes: Buffer, message?: RegExp, port = () => main.port) =>
    async () => {
      const raw = await loggedIn(port(), { params: APP });
      try {
        await raw.send(bytes);
        await expectFatal(raw, '08P01', message);
      } finally {
        raw.destroy();
      }
    };

  test('message length < 4', fatalAfterLogin(messageHeader('Q', 3), /invalid message length 3/));
  test('message length 0', fatalAfterLogin(messageHeader('Q', 0), /invalid message length 0/));
  test(
    'message length 2^31 (negative)',
    fatalAfterLogin(messageHeader('Q', 0x8000_0000), /invalid message length/),
  );
  test('message length 2^32 - 1', fatalAfterLogin(messageHeader('d', 0xffff_ffff), /invalid message length/));
  test(
    `a message above max_message_size (${MAX_MESSAGE}), refused from its header alone`,
    fatalAfterLogin(messageHeader('Q', 4 + MAX_MESSAGE + 1), /exceeds the limit/, () => small.port),
  );
  test(
    'a CopyData above max_message_size',
    fatalAfterLogin(messageHeader('d', 4 + 10 * MAX_MESSAGE), /exceeds the limit/, () => small.port),
  );

  test('a message of exactly max_message_size passes', async () => {
    const raw = await loggedIn(small.port, { params: APP });
    try {
      const sql = 'SELECT 7 --';
      const body = Buffer.concat([Buffer.from(sql.padEnd(MAX_MESSAGE - 1, 'x')), Buffer.from([0])]);
      assert.equal(body.length, MAX_MESSAGE);
      await raw.send(typedMessage('Q', body));
      assert.deepEqual(dataRows(await raw.readUntil('Z')), [['7']]);
    } finally {
      raw.destroy();
    }
  });

  for (const type of ['!', '\0', 'Z', 'R']) {
    test(
      `unknown message type ${JSON.stringify(type)}`,
      fatalAfterLogin(typedMessage(type, 'abc'), /invalid message type/),
    );
  }

  test('Query without its NUL', fatalAfterLogin(typedMessage('Q', 'SELECT 1'), /malformed Q message/));
  test(
    'Parse with a truncated body',
    fatalAfterLogin(typedMessage('P', Buffer.concat([cstr(''), cstr('SELECT 1'), Buffer.from([0])]))),
  );
  test(
    'Bind claiming more parameters than it holds',
    fatalAfterLogin(typedMessage('B', Buffer.concat([cstr(''), cstr(''), Buffer.from([0, 0, 0, 5])]))),
  );
  test(
    'Describe of neither statement nor portal',
    fatalAfterLogin(typedMessage('D', Buffer.concat([Buffer.from('X'), cstr('')]))),
  );

  test(
    'an authentication message (p) after login',
    fatalAfterLogin(typedMessage('p', cstr('secret')), /invalid message type 0x70/),
  );

  test('a good message and a bad one in the same write: the bad one ends the session', async () => {
    const raw = await loggedIn(main.port, { params: APP });
    try {
      await raw.send(Buffer.concat([queryMessage('SELECT 1'), messageHeader('Q', 1)]));
      // The FATAL may come before or after the upstream's answer to the first query; nothing after it.
      for (;;) {
        const m = await raw.readMessage();
        if (m.type !== 'E') continue;
        assert.equal(errorFields(m).C, '08P01');
        break;
      }
      await raw.closed();
    } finally {
      raw.destroy();
    }
  });

  // dbtape's FATAL once went out in the middle of the DataRow being forwarded, and the client read
  // its bytes as row data. Whatever ends the session, the FATAL must come between two messages.
  const endings = [
    {
      what: 'a bad message',
      code: '08P01',
      end: async (raw: PgRaw) => {
        const seen = main.logs.length;
        await raw.send(messageHeader('Q', 1));
        await waitFor(
          () => main.logs.slice(seen).some((l) => l.msg === 'client protocol violation; closing'),
          {
            what: 'dbtape to read the bad message',
          },
        );
      },
    },
    {
      what: "an administrator's kill",
      code: '57P01',
      end: async (_raw: PgRaw, session: { kill(reason: string): void }) => {
        await new Promise((r) => setTimeout(r, 200));
        session.kill('ended by an administrator');
      },
    },
  ];
  for (const ending of endings) {
    test(`${ending.what} while a large result streams: whole messages, then the FATAL`, async () => {
      const before = new Set(main.server.registry.all().map((s) => s.meta.id));
      const raw = await loggedIn(main.port, { params: APP });
      try {
        const session = main.server.registry.all().find((s) => !before.has(s.meta.id));
        assert.ok(session, 'the new session is in the registry');
        await raw.send(queryMessage("SELECT repeat('x', 100000) FROM generate_series(1, 200)"));
        await waitFor(() => raw.pending > 0, { what: 'the first bytes of the result' });
        raw.socket.pause(); // dbtape's writes back up, and it stops inside a row
        await ending.end(raw, session);
        raw.socket.resume();
        const messages: string[] = [];
        for (;;) {
          const m = await raw.readMessage();
          messages.push(m.type);
          if (m.type !== 'E') continue;
          assert.equal(errorFields(m).C, ending.code);
          break;
        }
        assert.ok(
          messages.slice(0, -1).every((t) => t === 'T' || t === 'D'),
          `only whole rows before it: ${messages.join('')}`,
        );
        await raw.closed();
        assert.equal(raw.rest().length, 0, 'nothing after the FATAL error');
      } finally {
        raw.destroy();
      }
    });
  }

  test('a bad message while the client reads a large row slowly: the row ends, then the FATAL', async () => {
    // dbtape waits 10 s without progress for the end of the message it is forwarding; a client that
    // reads slowly but steadily (a loaded machine) takes longer than that in all, and once got the
    // first bytes of a row and then the end of the connection.
    const raw = await loggedIn(main.port, { params: APP });
    let drip: NodeJS.Timeout | undefined;
    try {
      await raw.send(queryMessage("SELECT repeat('x', 20000000) FROM generate_series(1, 2)"));
      await waitFor(() => raw.pending > 0, { what: 'the first bytes of the result' });
      raw.socket.pause();
      const seen = main.logs.length;
      await raw.send(messageHeader('Q', 1));
      await waitFor(() => main.logs.slice(seen).some((l) => l.msg === 'client protocol violation; closing'), {
        what: 'dbtape to read the bad message',
      });
      drip = setInterval(() => {
        raw.socket.once('data', () => raw.socket.pause());
        raw.socket.resume();
      }, 20);
      const messages: string[] = [];
      for (;;) {
        const m = await raw.readMessage();
        messages.push(m.type);
        if (m.type === 'E') break;
      }
      // Whole messages only (readMessage fails on a cut one): the rows, perhaps the whole result.
      assert.match(messages.join(''), /^TD+(CZ)?E$/);
    } finally {
      clearInterval(drip);
      raw.destroy();
    }
  });

  test('a bad message in an extended batch with no Sync yet: the server is asked to flush, so the row under way ends', async () => {
    // PostgreSQL buffers an Execute's rows and sends them 8 KB at a time until a Sync or Flush. The
    // rest of a row cut at such a boundary stayed in its buffer, the client's Sync never came, and
    // the session ended after 2 s inside the row. A followed (recorded) session, as in strict mode.
    const recorded = await startInProcess({
      yaml: stringify({
        listen: { postgres: '127.0.0.1:0' },
        store: { url: 'sqlite::memory:' },
        targets: [DEFAULT_TARGET],
        users: usersYaml({ [ALICE.name]: { password: ALICE.password, roles: ['w'] } }),
        roles: [{ name: 'w', targets: ['app'], access: 'write' }],
      }),
    });
    const raw = await loggedIn(recorded.port, { params: APP });
    try {
      // Rows of 107 bytes: 8,192 is no multiple, so a buffer boundary falls inside one.
      const sql = "SELECT repeat('x', 96) FROM generate_series(1, 100)";
      await raw.send(Buffer.concat([parseMsg('', sql), bindMsg('', '', []), executeMsg()]));
      await waitFor(() => raw.pending >= 8192, { what: "the server's first 8 KB" });
      await raw.send(messageHeader('Q', 1));
      const messages: string[] = [];
      for (;;) {
        const m = await raw.readMessage();
        messages.push(m.type);
        if (m.type === 'E') break;
      }
      // Whole messages only (readMessage fails on a cut one), then dbtape's FATAL.
      assert.match(messages.join(''), /^12D+(C)?E$/);
    } finally {
      raw.destroy();
      await recorded.close();
    }
  });

  test('what follows Terminate is not read, as by PostgreSQL: no FATAL, the session ends client_closed', async () => {
    const raw = await loggedIn(main.port, { params: APP });
    try {
      const seen = main.logs.length;
      await raw.send(Buffer.concat([typedMessage('X'), messageHeader('Q', 1), Buffer.from('garbage')]));
      await raw.closed();
      assert.equal(raw.rest().length, 0, 'nothing, not even a FATAL');
      await waitFor(() => main.logs.slice(seen).find((l) => l.msg === 'session ended'), {
        what: 'the session to end',
      });
      const ended = main.logs.slice(seen).find((l) => l.msg === 'session ended');
      assert.equal(ended?.reason, 'client_closed');
    } finally {
      raw.destroy();
    }
  });

  test('CopyData, CopyDone and CopyFail outside COPY are ignored, as by PostgreSQL', async () => {
    const raw = await loggedIn(main.port, { params: APP });
    try {
      await raw.send(
        Buffer.concat([
          typedMessage('d', 'stray copy data'),
          typedMessage('c'),
          typedMessage('f', cstr('nope')),
        ]),
      );
      assert.deepEqual(dataRows(await simpleQuery(raw, 'SELECT 3')), [['3']]);
      assert.equal(raw.isClosed, false);
    } finally {
      raw.destroy();
    }
  });
});

describe('split and coalesced input', () => {
  test('login and SELECT 1, one byte per write', async () => {
    const raw = await pgRaw(main.port);
    try {
      const r = await scramLogin(raw, { bytewise: true, params: APP });
      assert.equal(r.error, null);
      await raw.sendBytewise(queryMessage('SELECT 1'));
      assert.deepEqual(dataRows(await raw.readUntil('Z')), [['1']]);
    } finally {
      raw.destroy();
    }
  });

  test('login messages pipelined: StartupMessage + SASLInitialResponse, then SASLResponse + Query', async () => {
    const raw = await pgRaw(main.port);
    try {
      const scram = new ScramClient(ALICE.password);
      await raw.send(Buffer.concat([aliceStartup(), saslInitial('SCRAM-SHA-256', scram.clientFirst())]));
      assert.equal(authCode(await raw.readMessage()), 10);
      const cont = await raw.readMessage();
      assert.equal(authCode(cont), 11);
      await raw.send(
        Buffer.concat([
          typedMessage('p', scram.serverFirst(cont.body.subarray(4))),
          queryMessage('SELECT 4'),
        ]),
      );
      const login = await raw.readUntil('Z');
      assert.ok(!login.some((m) => m.type === 'E'), 'login succeeded');
      assert.deepEqual(
        dataRows(await raw.readUntil('Z')),
        [['4']],
        'the Query sent with the SASLResponse ran',
      );
    } finally {
      raw.destroy();
    }
  });

  test('a Query sent as soon as SASLFinal arrives, while dbtape connects upstream, is not lost', async () => {
    for (let i = 0; i < 5; i++) {
      const raw = await pgRaw(main.port);
      try {
        const scram = new ScramClient(ALICE.password);
        await raw.send(Buffer.concat([aliceStartup(), saslInitial('SCRAM-SHA-256', scram.clientFirst())]));
        assert.equal(authCode(await raw.readMessage()), 10);
        const cont = await raw.readMessage();
        await raw.send(typedMessage('p', scram.serverFirst(cont.body.subarray(4))));
        assert.equal(authCode(await raw.readMessage()), 12);
        await raw.send(queryMessage(`SELECT ${i}`));
        assert.equal(authCode(await raw.readMessage()), 0);
        await raw.readUntil('Z');
        assert.deepEqual(dataRows(await raw.readUntil('Z')), [[String(i)]]);
      } finally {
        raw.destroy();
      }
    }
  });

  test('100 pipelined Parse/Bind/Execute/Sync in one write', async () => {
    const raw = await loggedIn(main.port, { params: APP });
    try {
      const count = 100;
      const pipeline = Buffer.concat(
        Array.from({ length: count }, (_, i) => parseBindExecuteSync('SELECT $1::int AS n', String(i))),
      );
      await raw.send(pipeline);
      const values: string[] = [];
      for (let i = 0; i < count; i++) {
        const msgs = await raw.readUntil('Z');
        assert.deepEqual(
          msgs.map((m) => m.type),
          ['1', '2', 'D', 'C', 'Z'],
        );
        values.push(dataRows(msgs)[0][0] ?? '');
      }
      assert.deepEqual(
        values,
        Array.from({ length: count }, (_, i) => String(i)),
      );
    } finally {
      raw.destroy();
    }
  });

  test('10 pipelined Parse/Bind/Execute/Sync, one byte per write', async () => {
    const raw = await loggedIn(main.port, { params: APP });
    try {
      const pipeline = Buffer.concat(
        Array.from({ length: 10 }, (_, i) => parseBindExecuteSync('SELECT $1::text', `v${i}`)),
      );
      await raw.sendBytewise(pipeline);
      const rows: string[] = [];
      for (let i = 0; i < 10; i++) rows.push(dataRows(await raw.readUntil('Z'))[0][0] ?? '');
      assert.deepEqual(
        rows,
        Array.from({ length: 10 }, (_, i) => `v${i}`),
      );
    } finally {
      raw.destroy();
    }
  });
});

describe('after the hostile suite', () => {
  test('the session that was open all along still works', async () => {
    const r = await bystander.query('SELECT current_database() AS db, 1 + 1 AS two');
    assert.deepEqual(r.rows, [{ db: 'test', two: 2 }]);
  });

  test('a new node-postgres session through the same proxy works', async () => {
    const client = pgClient(main.port);
    await client.connect();
    try {
      const r = await client.query('SELECT $1::int * 2 AS doubled', [21]);
      assert.equal(r.rows[0].doubled, 42);
    } finally {
      await client.end();
    }
  });

  test('no session of the suite is left behind, upstream or in the registry', async () => {
    const sql = 'SELECT count(*)::int AS n FROM pg_stat_activity WHERE application_name = $1';
    await waitFor(async () => (await bystander.query(sql, [APP_NAME])).rows[0].n === 0, {
      what: `no backend with application_name ${APP_NAME}`,
    });
    await waitFor(() => main.server.registry.active === 1 && small.server.registry.active === 0, {
      what: 'only the bystander in the session registry',
    });
  });

  test('no uncaught exception and no unexpected-error log line', () => {
    assert.deepEqual(uncaught, []);
    const errors = [...main.logs, ...small.logs].filter((l) => l.level === 'error');
    assert.deepEqual(errors, []);
  });
});
