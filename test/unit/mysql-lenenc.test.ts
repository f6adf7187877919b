import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeWith, MysqlCodecError } from '../../src/protocol/mysql/errors.js';
import {
  encodeLenencInt,
  LENENC_INVALID,
  LENENC_NULL,
  LENENC_TRUNCATED,
  lenencIntLength,
  lenencPrefixSize,
  peekLenenc,
  skipLenencString,
} from '../../src/protocol/mysql/lenenc.js';
import { PacketReader } from '../../src/protocol/mysql/reader.js';

describe('length-encoded integers', () => {
  const cases: [number | bigint, number[]][] = [
    [0, [0x00]],
    [250, [0xfa]],
    [251, [0xfc, 0xfb, 0x00]],
    [0xffff, [0xfc, 0xff, 0xff]],
    [0x10000, [0xfd, 0x00, 0x00, 0x01]],
    [0xffffff, [0xfd, 0xff, 0xff, 0xff]],
    [0x1000000, [0xfe, 0, 0, 0, 1, 0, 0, 0, 0]],
    [2 ** 53 - 1, [0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x1f, 0x00]],
  ];

  test('encode and peek round trip at every size class', () => {
    for (const [value, bytes] of cases) {
      const enc = encodeLenencInt(value);
      assert.deepEqual([...enc], bytes, `encode ${value}`);
      assert.equal(lenencIntLength(value), bytes.length);
      assert.equal(lenencPrefixSize(bytes[0]), bytes.length);
      assert.equal(peekLenenc(enc, 0, enc.length), Number(value));
    }
  });

  test('every truncation of every encoding is LENENC_TRUNCATED', () => {
    for (const [, bytes] of cases) {
      const buf = Buffer.from(bytes);
      for (let end = 0; end < buf.length; end++) {
        assert.equal(peekLenenc(buf, 0, end), LENENC_TRUNCATED, `${bytes} cut at ${end}`);
      }
    }
  });

  test('NULL, 0xFF and values above 2^53 are flagged, not misread', () => {
    assert.equal(peekLenenc(Buffer.from([0xfb]), 0, 1), LENENC_NULL);
    assert.equal(peekLenenc(Buffer.from([0xff]), 0, 1), LENENC_INVALID);
    const huge = Buffer.from([0xfe, 0, 0, 0, 0, 0, 0, 0x20, 0]);
    assert.equal(peekLenenc(huge, 0, huge.length), LENENC_INVALID);
    assert.deepEqual(
      [...encodeLenencInt(0xffffffffffffffffn)],
      [0xfe, 255, 255, 255, 255, 255, 255, 255, 255],
    );
  });

  test('skipLenencString refuses a length past the end', () => {
    const s = Buffer.from([3, 0x61, 0x62, 0x63, 0xfb]);
    assert.equal(skipLenencString(s, 0, s.length), 4);
    assert.equal(skipLenencString(s, 4, s.length), 5, 'NULL is one byte');
    assert.equal(skipLenencString(s, 0, 3), LENENC_TRUNCATED);
    const long = Buffer.from([0xfc, 0x00, 0x10, 0x61]);
    assert.equal(skipLenencString(long, 0, long.length), LENENC_TRUNCATED);
  });
});

describe('PacketReader', () => {
  test('reads fields and refuses to read past the end with a typed error', () => {
    const buf = Buffer.from([0x01, 0x02, 0x03, 0x61, 0x62, 0x00, 0x02, 0x68, 0x69, 0xfb]);
    const r = new PacketReader(buf);
    assert.equal(r.u8(), 1);
    assert.equal(r.u16(), 0x0302);
    assert.equal(r.nulString(), 'ab');
    assert.equal(r.lenencString(), 'hi');
    assert.equal(r.lenencIntOrNull(), null);
    assert.equal(r.atEnd(), true);
    assert.throws(
      () => r.u8('x'),
      (e: unknown) => e instanceof MysqlCodecError && e.code === 'DBTAPE_MYSQL_TRUNCATED',
    );
  });

  test('a lenenc length past the packet end is an error value through decodeWith', () => {
    const buf = Buffer.from([0xfc, 0xff, 0x00, 0x61]);
    const res = decodeWith(() => new PacketReader(buf).lenencString('name'));
    assert.equal(res.ok, false);
    if (!res.ok) {
      assert.equal(res.error.code, 'DBTAPE_MYSQL_TRUNCATED');
      assert.match(res.error.message, /^dbtape: packet truncated reading name/);
    }
    const cut = decodeWith(() => new PacketReader(Buffer.from([0xfd, 0x01])).lenencInt());
    assert.equal(cut.ok, false);
    const bad = decodeWith(() => new PacketReader(Buffer.from([0xff])).lenencInt());
    assert.equal(bad.ok, false);
    if (!bad.ok) assert.equal(bad.error.code, 'DBTAPE_MYSQL_MALFORMED');
  });

  test('respects a slice: never reads the bytes after `end`', () => {
    const buf = Buffer.from([0x61, 0x62, 0x00, 0x63]);
    const r = new PacketReader(buf, 0, 2);
    assert.throws(() => r.nulString(), /no NUL/);
    assert.equal(new PacketReader(buf, 0, 2).optionalNulString(), 'ab');
    assert.equal(new PacketReader(buf, 0, 0).optionalNulString(), null);
  });

  test('lenencBig keeps 64-bit values exact', () => {
    const buf = Buffer.from([0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    assert.equal(new PacketReader(buf).lenencBig(), 0xffffffffffffffffn);
    assert.equal(new PacketReader(Buffer.from([0x05])).lenencBig(), 5n);
  });

  test('decodeWith rethrows programming errors', () => {
    assert.throws(() =>
      decodeWith(() => {
        throw new TypeError('bug');
      }),
    );
  });
});
