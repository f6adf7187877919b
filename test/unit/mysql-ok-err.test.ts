import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import * as C from '../../src/protocol/mysql/constants.js';
import {
  decodeEof,
  decodeErr,
  decodeOk,
  decodeSessionState,
  encodeEof,
  encodeErr,
  encodeOk,
  isEofPacket,
  isErrPacket,
  isOkAsEof,
  SESSION_TRACK_SCHEMA,
  SESSION_TRACK_SYSTEM_VARIABLES,
} from '../../src/protocol/mysql/ok-err.js';

const P41 = C.CLIENT_PROTOCOL_41;
const TRACK = (C.CLIENT_PROTOCOL_41 | C.CLIENT_SESSION_TRACK) >>> 0;
const payloadOf = (packet: Buffer) => packet.subarray(4);
const ascii = (s: string) => [...Buffer.from(s)];

describe('OK packet', () => {
  test('decodes hand-built bytes without session tracking (info is string<EOF>)', () => {
    const bytes = Buffer.from([
      0x00,
      0x03,
      0xfc,
      0x10,
      0x27,
      0x02,
      0x00,
      0x01,
      0x00,
      ...ascii('Rows matched: 3'),
    ]);
    const r = decodeOk(bytes, P41);
    assert.ok(r.ok);
    assert.deepEqual(r.value, {
      header: 0,
      affectedRows: 3,
      lastInsertId: 10000n,
      statusFlags: 2,
      warnings: 1,
      info: 'Rows matched: 3',
      sessionState: null,
    });
  });

  test('with CLIENT_SESSION_TRACK: lenenc info and session state changes', () => {
    const schema = [SESSION_TRACK_SCHEMA, 4, 3, ...ascii('app')];
    const sysvarFull = [SESSION_TRACK_SYSTEM_VARIABLES, 15, 10, ...ascii('autocommit'), 3, ...ascii('OFF')];
    const state = [...schema, ...sysvarFull];
    const status = C.SERVER_STATUS_AUTOCOMMIT | C.SERVER_SESSION_STATE_CHANGED;
    const bytes = Buffer.from([0x00, 0, 0, status & 0xff, status >> 8, 0, 0, 0, state.length, ...state]);
    const r = decodeOk(bytes, TRACK);
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    assert.equal(r.value.info, '');
    assert.ok(r.value.sessionState);
    const changes = decodeSessionState(r.value.sessionState);
    assert.ok(changes.ok);
    assert.deepEqual(
      changes.value.map((c) => [c.type, c.name, c.value]),
      [
        [SESSION_TRACK_SCHEMA, 'app', null],
        [SESSION_TRACK_SYSTEM_VARIABLES, 'autocommit', 'OFF'],
      ],
    );
  });

  test('with CLIENT_SESSION_TRACK the info field may be absent altogether', () => {
    const r = decodeOk(Buffer.from([0x00, 1, 0, 2, 0, 0, 0]), TRACK);
    assert.ok(r.ok);
    assert.equal(r.value.info, '');
    assert.equal(r.value.affectedRows, 1);
  });

  test('encode/decode round trip, 0xFE header included, and 64-bit insert ids', () => {
    for (const caps of [P41, TRACK]) {
      for (const header of [0x00, 0xfe]) {
        const enc = encodeOk(
          { affectedRows: 70000, lastInsertId: 0xfffffffffffffff0n, statusFlags: 3, warnings: 2, info: 'hi' },
          caps,
          4,
          header,
        );
        assert.equal(enc[3], 4);
        const r = decodeOk(payloadOf(enc), caps);
        assert.ok(r.ok);
        assert.equal(r.value.header, header);
        assert.equal(r.value.affectedRows, 70000);
        assert.equal(r.value.lastInsertId, 0xfffffffffffffff0n);
        assert.equal(r.value.info, 'hi');
        assert.equal(r.value.warnings, 2);
      }
    }
  });

  test('every truncation before the status and warnings is an error value', () => {
    const full = payloadOf(
      encodeOk({ affectedRows: 300, lastInsertId: 70000, statusFlags: 2, warnings: 1 }, P41, 1),
    );
    for (let len = 0; len < full.length; len++) assert.equal(decodeOk(full.subarray(0, len), P41).ok, false);
    const lenencPastEnd = Buffer.from([0x00, 0, 0, 2, 0, 0, 0, 0x20, ...ascii('short')]);
    assert.equal(decodeOk(lenencPastEnd, TRACK).ok, false);
    assert.equal(decodeOk(Buffer.from([0x01, 0, 0, 0, 0, 0, 0]), P41).ok, false);
  });
});

describe('EOF packet', () => {
  test('hand-built bytes, round trip and truncation', () => {
    const bytes = Buffer.from([0xfe, 0x01, 0x00, 0x22, 0x00]);
    assert.equal(isEofPacket(bytes), true);
    const r = decodeEof(bytes, P41);
    assert.ok(r.ok);
    assert.deepEqual(r.value, { warnings: 1, statusFlags: 0x22 });
    assert.deepEqual(payloadOf(encodeEof({ warnings: 1, statusFlags: 0x22 }, P41, 3)), bytes);
    for (let len = 0; len < bytes.length; len++)
      assert.equal(decodeEof(bytes.subarray(0, len), P41).ok, false);
  });

  test('EOF vs a row or lenenc starting with 0xFE', () => {
    // A text row whose first value has an 8-byte lenenc length is at least 9 bytes (and in fact >= 16 MiB).
    const row = Buffer.from([0xfe, 1, 0, 0, 0, 0, 0, 0, 0, 0x61]);
    assert.equal(isEofPacket(row), false);
    assert.equal(decodeEof(row, P41).ok, false);
    assert.equal(isOkAsEof(0xfe, 7), true);
    assert.equal(
      isOkAsEof(0xfe, C.MAX_PACKET_PAYLOAD),
      false,
      'a 0xFFFFFF packet starting with 0xFE is a row',
    );
    assert.equal(isOkAsEof(0x00, 7), false);
  });
});

describe('ERR packet', () => {
  test('hand-built bytes with SQLSTATE', () => {
    const bytes = Buffer.from([
      0xff,
      0x15,
      0x04,
      0x23,
      ...ascii('28000'),
      ...ascii("Access denied for user 'x'"),
    ]);
    assert.equal(isErrPacket(bytes), true);
    const r = decodeErr(bytes);
    assert.ok(r.ok);
    assert.deepEqual(r.value, { errno: 1045, sqlState: '28000', message: "Access denied for user 'x'" });
  });

  test('without the # marker (before capabilities are negotiated)', () => {
    const r = decodeErr(Buffer.from([0xff, 0x10, 0x04, ...ascii('Too many connections')]));
    assert.ok(r.ok);
    assert.equal(r.value.sqlState, null);
    assert.equal(r.value.errno, 1040);
    assert.equal(r.value.message, 'Too many connections');
  });

  test('encode: dbtape errors with and without PROTOCOL_41', () => {
    const e = { ...C.ER_ACCESS_DENIED_ERROR, message: "dbtape: access denied for user 'bob'" };
    const enc = encodeErr(e, 2);
    assert.equal(enc[3], 2);
    const r = decodeErr(payloadOf(enc));
    assert.ok(r.ok);
    assert.deepEqual(r.value, { errno: 1045, sqlState: '28000', message: e.message });
    const old = decodeErr(payloadOf(encodeErr(e, 2, false)));
    assert.ok(old.ok);
    assert.equal(old.value.sqlState, null);
    for (let len = 0; len < 3; len++) assert.equal(decodeErr(payloadOf(enc).subarray(0, len)).ok, false);
  });
});
