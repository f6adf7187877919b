import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as C from '../../src/protocol/mysql/constants.js';
import { decodeInitialHandshake, encodeInitialHandshake } from '../../src/protocol/mysql/handshake.js';
import {
  decodeHandshakeResponse,
  decodeSslRequest,
  encodeHandshakeResponse,
  encodeSslRequest,
  isSslRequest,
} from '../../src/protocol/mysql/handshake-response.js';

const payloadOf = (packet: Buffer) => packet.subarray(4);
const u16 = (n: number) => [n & 0xff, (n >> 8) & 0xff];
const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const ascii = (s: string) => [...Buffer.from(s)];
const scramble = Buffer.from('0123456789abcdefghij');

const MYSQL_CAPS =
  (C.CLIENT_LONG_PASSWORD |
    C.CLIENT_PROTOCOL_41 |
    C.CLIENT_SECURE_CONNECTION |
    C.CLIENT_PLUGIN_AUTH |
    C.CLIENT_SSL |
    C.CLIENT_DEPRECATE_EOF |
    C.CLIENT_REMEMBER_OPTIONS) >>>
  0;

describe('Initial Handshake v10', () => {
  // Hand-built per MySQL "Protocol::HandshakeV10".
  const hand = Buffer.from([
    10,
    ...ascii('8.0.36'),
    0,
    ...u32(1234),
    ...scramble.subarray(0, 8),
    0,
    ...u16(MYSQL_CAPS & 0xffff),
    45,
    ...u16(C.SERVER_STATUS_AUTOCOMMIT),
    ...u16(MYSQL_CAPS >>> 16),
    21,
    ...new Array(10).fill(0),
    ...scramble.subarray(8),
    0,
    ...ascii('caching_sha2_password'),
    0,
  ]);

  test('decodes hand-built bytes', () => {
    const r = decodeInitialHandshake(hand);
    assert.ok(r.ok);
    assert.deepEqual(r.value, {
      protocolVersion: 10,
      serverVersion: '8.0.36',
      connectionId: 1234,
      scramble,
      capabilities: MYSQL_CAPS,
      mariadbCapabilities: 0,
      charset: 45,
      statusFlags: C.SERVER_STATUS_AUTOCOMMIT,
      authPluginName: 'caching_sha2_password',
    });
  });

  test('encodes exactly the hand-built bytes', () => {
    const enc = encodeInitialHandshake({
      serverVersion: '8.0.36',
      connectionId: 1234,
      scramble,
      capabilities: MYSQL_CAPS,
      mariadbCapabilities: 0,
      charset: 45,
      statusFlags: C.SERVER_STATUS_AUTOCOMMIT,
      authPluginName: 'caching_sha2_password',
    });
    assert.equal(enc[3], 0, 'sequence id 0');
    assert.deepEqual(payloadOf(enc), hand);
  });

  test('MariaDB: extended capabilities in the reserved bytes when CLIENT_MYSQL is clear', () => {
    const caps = (MYSQL_CAPS & ~C.CLIENT_MYSQL) >>> 0;
    const ext = C.MARIADB_CLIENT_STMT_BULK_OPERATIONS | C.MARIADB_CLIENT_EXTENDED_METADATA;
    const enc = encodeInitialHandshake({
      serverVersion: '5.5.5-10.11.6-MariaDB',
      connectionId: 7,
      scramble,
      capabilities: caps,
      mariadbCapabilities: ext,
      charset: 45,
      statusFlags: 2,
      authPluginName: 'mysql_native_password',
    });
    const p = payloadOf(enc);
    const reservedAt = 1 + '5.5.5-10.11.6-MariaDB'.length + 1 + 4 + 8 + 1 + 2 + 1 + 2 + 2 + 1;
    assert.deepEqual([...p.subarray(reservedAt, reservedAt + 10)], [0, 0, 0, 0, 0, 0, ...u32(ext)]);
    const r = decodeInitialHandshake(p);
    assert.ok(r.ok);
    assert.equal(r.value.mariadbCapabilities, ext);
    assert.equal(r.value.capabilities, caps);
  });

  test('every truncation is an error value, never an exception', () => {
    const end = hand.length - 'caching_sha2_password'.length - 1; // the plugin name is optional-ish
    for (let len = 0; len < hand.length; len++) {
      const r = decodeInitialHandshake(hand.subarray(0, len));
      if (len < end - 13) assert.equal(r.ok, false, `length ${len}`);
      if (!r.ok) assert.match(r.error.code, /^DBTAPE_MYSQL_/);
    }
  });

  test('an ERR packet or another protocol version is refused clearly', () => {
    const err = decodeInitialHandshake(Buffer.from([0xff, 0x10, 0x04, ...ascii('Too many connections')]));
    assert.equal(err.ok, false);
    if (!err.ok) assert.match(err.error.message, /error instead of a handshake/);
    const v9 = decodeInitialHandshake(Buffer.from([9, 0]));
    assert.equal(v9.ok, false);
    if (!v9.ok) assert.equal(v9.error.code, 'DBTAPE_MYSQL_UNSUPPORTED');
  });
});

describe('HandshakeResponse41 and SSLRequest', () => {
  const caps =
    (C.CLIENT_LONG_PASSWORD |
      C.CLIENT_PROTOCOL_41 |
      C.CLIENT_SECURE_CONNECTION |
      C.CLIENT_PLUGIN_AUTH |
      C.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA |
      C.CLIENT_CONNECT_WITH_DB |
      C.CLIENT_CONNECT_ATTRS) >>>
    0;
  const auth = [...Buffer.alloc(20, 0xab)];
  const attrs = [4, ...ascii('_pid'), 2, ...ascii('42')];
  // Hand-built per MySQL "Protocol::HandshakeResponse41".
  const hand = Buffer.from([
    ...u32(caps),
    ...u32(16777216),
    45,
    ...new Array(23).fill(0),
    ...ascii('alice'),
    0,
    20,
    ...auth,
    ...ascii('app'),
    0,
    ...ascii('mysql_native_password'),
    0,
    attrs.length,
    ...attrs,
  ]);

  test('decodes hand-built bytes', () => {
    const r = decodeHandshakeResponse(hand);
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    assert.equal(r.value.username, 'alice');
    assert.deepEqual([...r.value.authResponse], auth);
    assert.equal(r.value.database, 'app');
    assert.equal(r.value.authPluginName, 'mysql_native_password');
    assert.deepEqual([...(r.value.connectAttributes ?? [])], [['_pid', '42']]);
    assert.equal(r.value.maxPacketSize, 16777216);
    assert.equal(r.value.charset, 45);
    assert.equal(r.value.zstdLevel, null);
  });

  test('encode then decode round trips, including connect attributes and MariaDB caps', () => {
    const mariaCaps = (caps & ~C.CLIENT_MYSQL) >>> 0;
    const enc = encodeHandshakeResponse({
      capabilities: mariaCaps,
      mariadbCapabilities: C.MARIADB_CLIENT_PROGRESS,
      maxPacketSize: 1 << 24,
      charset: 33,
      username: 'dbtape_upstream',
      authResponse: Buffer.alloc(32, 1),
      database: 'test',
      authPluginName: 'caching_sha2_password',
      connectAttributes: new Map([
        ['_client_name', 'dbtape'],
        ['program_name', 'psql'],
      ]),
    });
    assert.equal(enc[3], 1, 'sequence id 1 after the server greeting');
    const r = decodeHandshakeResponse(payloadOf(enc));
    assert.ok(r.ok);
    assert.equal(r.value.mariadbCapabilities, C.MARIADB_CLIENT_PROGRESS);
    assert.equal(r.value.authResponse.length, 32);
    assert.equal(r.value.connectAttributes?.get('program_name'), 'psql');
    assert.equal(r.value.database, 'test');
  });

  test('auth response length forms: 1-byte length and NUL-terminated', () => {
    const oneByte = (C.CLIENT_PROTOCOL_41 | C.CLIENT_SECURE_CONNECTION) >>> 0;
    const a = decodeHandshakeResponse(
      Buffer.from([...u32(oneByte), ...u32(0), 8, ...new Array(23).fill(0), ...ascii('u'), 0, 2, 9, 9]),
    );
    assert.ok(a.ok);
    assert.deepEqual([...a.value.authResponse], [9, 9]);
    assert.equal(a.value.database, null);
    const nul = decodeHandshakeResponse(
      Buffer.from([
        ...u32(C.CLIENT_PROTOCOL_41),
        ...u32(0),
        8,
        ...new Array(23).fill(0),
        ...ascii('u'),
        0,
        7,
        7,
        0,
      ]),
    );
    assert.ok(nul.ok);
    assert.deepEqual([...nul.value.authResponse], [7, 7]);
  });

  test('zstd level follows the attributes when negotiated', () => {
    const z = (C.CLIENT_PROTOCOL_41 | C.CLIENT_SECURE_CONNECTION | C.CLIENT_ZSTD_COMPRESSION_ALGORITHM) >>> 0;
    const r = decodeHandshakeResponse(
      Buffer.from([...u32(z), ...u32(0), 8, ...new Array(23).fill(0), ...ascii('u'), 0, 0, 3]),
    );
    assert.ok(r.ok);
    assert.equal(r.value.zstdLevel, 3);
  });

  test('every truncation: an error value up to the auth response, optional fields after', () => {
    const authEnd = 32 + 'alice'.length + 1 + 1 + 20;
    for (let len = 0; len < hand.length; len++) {
      const r = decodeHandshakeResponse(hand.subarray(0, len));
      if (len < authEnd) assert.equal(r.ok, false, `length ${len}`);
      else if (!r.ok) assert.match(r.error.code, /^DBTAPE_MYSQL_(TRUNCATED|MALFORMED)$/);
    }
  });

  test('connect attributes longer than the packet are refused', () => {
    const bad = Buffer.from(hand);
    bad[bad.length - attrs.length - 1] = 0x40;
    const r = decodeHandshakeResponse(bad);
    assert.equal(r.ok, false);
  });

  test('a pre-4.1 client is refused as unsupported', () => {
    const r = decodeHandshakeResponse(Buffer.from([0x85, 0xa4, 0x00, 0x00, 0, 0, 0, 0x75, 0]));
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.code, 'DBTAPE_MYSQL_UNSUPPORTED');
  });

  test('SSLRequest: 32 bytes with CLIENT_SSL', () => {
    const enc = encodeSslRequest({
      capabilities: caps,
      mariadbCapabilities: 0,
      maxPacketSize: 1 << 24,
      charset: 45,
    });
    const p = payloadOf(enc);
    assert.equal(p.length, 32);
    assert.equal(isSslRequest(p), true);
    assert.equal(isSslRequest(hand), false);
    const r = decodeSslRequest(p);
    assert.ok(r.ok);
    assert.equal((r.value.capabilities & C.CLIENT_SSL) !== 0, true);
    for (let len = 0; len < 32; len++) assert.equal(decodeSslRequest(p.subarray(0, len)).ok, false);
  });
});
