// Startup-phase packets (src/protocol/postgres/startup.ts): every malformed packet of the issue's
// "Bad input" list gives an error with PostgreSQL's SQLSTATE, never an exception.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { MAX_STARTUP_PACKET_LENGTH } from '../../src/protocol/postgres/codes.js';
import {
  checkStartupLength,
  decodeStartup,
  type StartupError,
  type StartupPacket,
  startupLength,
} from '../../src/protocol/postgres/startup.js';

const SSL = 80877103;
const GSSENC = 80877104;
const CANCEL = 80877102;

function packet(code: number, rest: Buffer = Buffer.alloc(0)): Buffer {
  const out = Buffer.alloc(8 + rest.length);
  out.writeInt32BE(out.length, 0);
  out.writeUInt32BE(code >>> 0, 4);
  rest.copy(out, 8);
  return out;
}

/** Parameters as raw text, "\0" written explicitly, so the tests can leave terminators out. */
function startup(params: string, major = 3, minor = 0): Buffer {
  return packet(major * 65536 + minor, Buffer.from(params, 'latin1'));
}

function expectError(result: StartupPacket | StartupError, code: string, message: RegExp): void {
  assert.equal(result.kind, 'error', `expected an error, got ${JSON.stringify(result)}`);
  const e = result as StartupError;
  assert.equal(e.code, code);
  assert.match(e.message, message);
}

function expectStartup(result: StartupPacket | StartupError): Extract<StartupPacket, { kind: 'startup' }> {
  assert.equal(result.kind, 'startup', `expected a startup packet, got ${JSON.stringify(result)}`);
  return result as Extract<StartupPacket, { kind: 'startup' }>;
}

describe('startup packet length', () => {
  test('startupLength needs 4 bytes', () => {
    for (let n = 0; n < 4; n++) assert.equal(startupLength(Buffer.alloc(n)), null);
    assert.equal(startupLength(Buffer.from([0, 0, 0, 8, 1, 2])), 8);
    assert.equal(startupLength(Buffer.from([0xff, 0xff, 0xff, 0xff])), -1);
  });

  test('lengths below 8 are refused with 08P01', () => {
    for (const len of [-2147483648, -1, 0, 1, 4, 7]) {
      const e = checkStartupLength(len);
      assert.ok(e, `length ${len}`);
      assert.equal(e.code, '08P01');
      assert.equal(e.message, `invalid length of startup packet: ${len}`);
    }
  });

  test(`lengths above ${MAX_STARTUP_PACKET_LENGTH} are refused with 08P01`, () => {
    for (const len of [MAX_STARTUP_PACKET_LENGTH + 1, 0x16030100, 0x7fffffff]) {
      const e = checkStartupLength(len);
      assert.ok(e, `length ${len}`);
      assert.equal(e.code, '08P01');
    }
  });

  test('8 to 10000 are accepted', () => {
    for (const len of [8, 9, 16, 1000, MAX_STARTUP_PACKET_LENGTH])
      assert.equal(checkStartupLength(len), null);
  });
});

describe('decodeStartup: StartupMessage', () => {
  test('a normal StartupMessage', () => {
    const p = expectStartup(decodeStartup(startup('user\0alice\0database\0app\0application_name\0psql\0\0')));
    assert.equal(p.major, 3);
    assert.equal(p.minor, 0);
    assert.deepEqual(
      [...p.params],
      [
        ['user', 'alice'],
        ['database', 'app'],
        ['application_name', 'psql'],
      ],
    );
    assert.deepEqual(p.protocolOptions, []);
  });

  test('an empty value is kept', () => {
    const p = expectStartup(decodeStartup(startup('user\0alice\0options\0\0\0')));
    assert.equal(p.params.get('options'), '');
  });

  test('parameters without the terminating NUL', () => {
    expectError(decodeStartup(startup('user\0alice\0')), '08P01', /no terminating NUL/);
  });

  test('a value without its NUL', () => {
    expectError(decodeStartup(startup('user\0alice')), '08P01', /invalid startup packet layout/);
  });

  test('a name without its NUL', () => {
    expectError(decodeStartup(startup('user\0alice\0database')), '08P01', /invalid startup packet layout/);
  });

  test('no parameters and no terminator at all (length 8)', () => {
    expectError(decodeStartup(startup('')), '08P01', /no terminating NUL/);
  });

  test('bytes after the terminator', () => {
    expectError(decodeStartup(startup('user\0alice\0\0junk')), '08P01', /trailing bytes/);
    expectError(decodeStartup(startup('user\0alice\0\0\0')), '08P01', /trailing bytes/);
  });

  test('a duplicate user', () => {
    expectError(
      decodeStartup(startup('user\0alice\0user\0postgres\0\0')),
      '08P01',
      /duplicate startup parameter "user"/,
    );
  });

  test('a duplicate of any other parameter', () => {
    expectError(
      decodeStartup(startup('user\0a\0database\0x\0database\0y\0\0')),
      '08P01',
      /duplicate .*"database"/,
    );
  });

  test('a missing user (28000, as PostgreSQL)', () => {
    expectError(decodeStartup(startup('database\0app\0\0')), '28000', /no PostgreSQL user name/);
    expectError(decodeStartup(startup('\0')), '28000', /no PostgreSQL user name/);
  });

  test('an empty user is a missing user', () => {
    expectError(decodeStartup(startup('user\0\0\0')), '28000', /no PostgreSQL user name/);
  });

  test('protocols 1.0, 2.0 and 4.0 are refused with 0A000', () => {
    for (const [major, minor] of [
      [1, 0],
      [2, 0],
      [4, 0],
      [0, 0],
      [65535, 65535],
    ]) {
      expectError(
        decodeStartup(startup('user\0alice\0\0', major, minor)),
        '0A000',
        new RegExp(`unsupported frontend protocol ${major}\\.${minor}: server supports 3\\.0 to 3\\.0`),
      );
    }
  });

  test('3.1 and 3.2 are accepted with their minor version, for NegotiateProtocolVersion', () => {
    for (const minor of [1, 2, 65535]) {
      const p = expectStartup(decodeStartup(startup('user\0alice\0\0', 3, minor)));
      assert.equal(p.minor, minor);
    }
  });

  test('_pq_ options are collected apart from the parameters', () => {
    const p = expectStartup(
      decodeStartup(startup('user\0alice\0_pq_.foo\0on\0database\0app\0_pq_.bar\0\0\0', 3, 1)),
    );
    assert.deepEqual(p.protocolOptions, ['_pq_.foo', '_pq_.bar']);
    assert.deepEqual([...p.params.keys()], ['user', 'database']);
  });

  test('bytes that are not UTF-8 do not throw', () => {
    const body = Buffer.concat([Buffer.from('user\0'), Buffer.from([0xc3, 0x28, 0xff, 0]), Buffer.from([0])]);
    const p = expectStartup(decodeStartup(packet(196608, body)));
    assert.equal(typeof p.params.get('user'), 'string');
  });
});

describe('decodeStartup: special request codes', () => {
  test('SSLRequest and GSSENCRequest of length 8', () => {
    assert.deepEqual(decodeStartup(packet(SSL)), { kind: 'ssl' });
    assert.deepEqual(decodeStartup(packet(GSSENC)), { kind: 'gssenc' });
  });

  test('SSLRequest with trailing bytes (length 12)', () => {
    expectError(decodeStartup(packet(SSL, Buffer.alloc(4))), '08P01', /invalid length of SSLRequest: 12/);
  });

  test('GSSENCRequest with trailing bytes', () => {
    expectError(
      decodeStartup(packet(GSSENC, Buffer.alloc(1))),
      '08P01',
      /invalid length of GSSENCRequest: 9/,
    );
  });

  test('CancelRequest of length 16', () => {
    const rest = Buffer.alloc(8);
    rest.writeInt32BE(4242, 0);
    rest.writeInt32BE(-123456789, 4);
    assert.deepEqual(decodeStartup(packet(CANCEL, rest)), { kind: 'cancel', pid: 4242, secret: -123456789 });
  });

  test('CancelRequest of any other length', () => {
    for (const n of [0, 4, 7, 9, 12]) {
      expectError(
        decodeStartup(packet(CANCEL, Buffer.alloc(n))),
        '08P01',
        new RegExp(`invalid length of CancelRequest: ${8 + n}`),
      );
    }
  });
});

describe('decodeStartup never throws', () => {
  test('on random packets of every length from 8 to 200, with each special code and protocol 3.0', () => {
    const codes = [SSL, GSSENC, CANCEL, 196608, 196609, 131072];
    for (let len = 8; len <= 200; len++) {
      for (const code of codes) {
        for (let round = 0; round < 5; round++) {
          const p = packet(code, randomBytes(len - 8));
          // NUL-rich bodies reach the parameter parser's branches more often than random bytes do.
          if (round % 2 === 1) for (let i = 8; i < p.length; i += 3) p[i] = 0;
          const r = decodeStartup(p);
          assert.ok(['ssl', 'gssenc', 'cancel', 'startup', 'error'].includes(r.kind));
        }
      }
    }
  });
});
