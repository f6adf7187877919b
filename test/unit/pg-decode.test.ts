// Body decoders (src/protocol/postgres/decode.ts): correct fields on good bodies, and on truncated or
// garbage bodies a WireError (which the pipeline turns into a protocol error) and never anything else.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { describe, test } from 'node:test';
import { decoderFor } from '../../src/protocol/postgres/client-encoding.js';
import {
  decodeAuthentication,
  decodeBind,
  decodeCommandComplete,
  decodeDataRow,
  decodeExecute,
  decodeFunctionCall,
  decodeNotice,
  decodeNotification,
  decodeParameterDescription,
  decodeParameterStatus,
  decodeParse,
  decodeQuery,
  decodeRowDescription,
  decodeSaslInitialResponse,
  decodeSaslMechanisms,
  decodeTarget,
  executePortal,
  RowDescriptionMemo,
  rowsFromTag,
} from '../../src/protocol/postgres/decode.js';
import { WireError } from '../../src/wire/reader.js';
import { Writer } from '../../src/wire/writer.js';

function body(build: (w: Writer) => void): Buffer {
  const w = new Writer(16);
  build(w);
  return Buffer.from(w.toBuffer());
}

/** Bind for the unnamed portal of statement "s1": params '42' (text), NULL, 0x00000007 (binary). */
const BIND = body((w) => {
  w.cstring('').cstring('s1');
  w.i16(3).i16(0).i16(0).i16(1); // parameter formats
  w.i16(3);
  w.i32(2).bytes(Buffer.from('42'));
  w.i32(-1);
  w.i32(4).i32(7);
  w.i16(1).i16(1); // result formats: not decoded
});
/** Where the part decodeBind reads ends: the result formats follow. */
const BIND_READ = BIND.length - 4;

const FCALL = body((w) => w.u32(1598).i16(1).i16(1).i16(2).i32(4).i32(5).i32(-1).i16(0));
const FCALL_READ = FCALL.length - 2;

const ROW_DESCRIPTION = body((w) => {
  w.i16(2);
  w.cstring('id').u32(16384).i16(1).u32(23).i16(4).i32(-1).i16(0);
  w.cstring('payload').u32(16384).i16(2).u32(17).i16(-1).i32(-1).i16(1);
});

const DATA_ROW = body((w) => w.i16(3).i32(1).bytes(Buffer.from('7')).i32(-1).i32(0));

const ERROR_BODY = body((w) => {
  w.u8(0x53).cstring('ERREUR'); // localized severity
  w.u8(0x56).cstring('ERROR');
  w.u8(0x43).cstring('42P01');
  w.u8(0x4d).cstring('relation "nope" does not exist');
  w.u8(0x44).cstring('some detail');
  w.u8(0x50).cstring('15'); // position: ignored
  w.u8(0);
});

const SASL_INITIAL = body((w) => {
  const data = Buffer.from('n,,n=,r=abcdef');
  w.cstring('SCRAM-SHA-256').i32(data.length).bytes(data);
});

interface Case {
  readonly name: string;
  readonly decode: (b: Buffer) => unknown;
  readonly full: Buffer;
  /** Prefixes shorter than this must be refused; longer ones may decode (the rest is not read). */
  readonly mustRefuseBelow: number;
}

const CASES: readonly Case[] = [
  { name: 'Query', decode: decodeQuery, full: body((w) => w.cstring('SELECT 1')), mustRefuseBelow: 9 },
  {
    name: 'Parse',
    decode: decodeParse,
    full: body((w) => w.cstring('s1').cstring('SELECT $1, $2').i16(2).u32(23).u32(25)),
    mustRefuseBelow: 28,
  },
  { name: 'Bind', decode: decodeBind, full: BIND, mustRefuseBelow: BIND_READ },
  { name: 'Execute', decode: decodeExecute, full: body((w) => w.cstring('p1').i32(0)), mustRefuseBelow: 7 },
  {
    name: 'Describe/Close',
    decode: decodeTarget,
    full: body((w) => w.u8(0x53).cstring('s1')),
    mustRefuseBelow: 4,
  },
  { name: 'FunctionCall', decode: decodeFunctionCall, full: FCALL, mustRefuseBelow: FCALL_READ },
  // A notice cut right after one of its fields still decodes: each field is complete.
  { name: 'ErrorResponse', decode: decodeNotice, full: ERROR_BODY, mustRefuseBelow: 0 },
  {
    name: 'CommandComplete',
    decode: decodeCommandComplete,
    full: body((w) => w.cstring('INSERT 0 5')),
    mustRefuseBelow: 11,
  },
  {
    name: 'RowDescription',
    decode: decodeRowDescription,
    full: ROW_DESCRIPTION,
    mustRefuseBelow: ROW_DESCRIPTION.length,
  },
  {
    name: 'ParameterDescription',
    decode: decodeParameterDescription,
    full: body((w) => w.i16(2).u32(23).u32(25)),
    mustRefuseBelow: 10,
  },
  { name: 'DataRow', decode: decodeDataRow, full: DATA_ROW, mustRefuseBelow: DATA_ROW.length },
  {
    name: 'NotificationResponse',
    decode: decodeNotification,
    full: body((w) => w.i32(99).cstring('chan').cstring('hello')),
    mustRefuseBelow: 15,
  },
  {
    name: 'ParameterStatus',
    decode: decodeParameterStatus,
    full: body((w) => w.cstring('TimeZone').cstring('UTC')),
    mustRefuseBelow: 13,
  },
  {
    name: 'SASLInitialResponse',
    decode: decodeSaslInitialResponse,
    full: SASL_INITIAL,
    mustRefuseBelow: SASL_INITIAL.length,
  },
  { name: 'Authentication', decode: decodeAuthentication, full: body((w) => w.i32(10)), mustRefuseBelow: 4 },
  // The proxy's shortcut for the portal name checks the message as decodeExecute does.
  {
    name: 'Execute portal',
    decode: executePortal,
    full: body((w) => w.cstring('p1').i32(0)),
    mustRefuseBelow: 7,
  },
  {
    name: 'Execute unnamed portal',
    decode: executePortal,
    full: body((w) => w.cstring('').i32(0)),
    mustRefuseBelow: 5,
  },
];

/** Run `decode`; an exception other than WireError fails the test. */
function outcome(c: Case, b: Buffer): 'ok' | 'refused' {
  try {
    c.decode(b);
    return 'ok';
  } catch (err) {
    if (err instanceof WireError) return 'refused';
    assert.fail(
      `${c.name} threw ${(err as Error)?.constructor?.name}: ${(err as Error)?.message} on ${b.toString('hex')}`,
    );
  }
}

describe('decoders on truncated bodies', () => {
  for (const c of CASES) {
    test(`${c.name}: the full body decodes, every shorter prefix gives WireError or a value`, () => {
      assert.equal(outcome(c, c.full), 'ok');
      for (let n = 0; n < c.full.length; n++) {
        const got = outcome(c, c.full.subarray(0, n));
        if (n < c.mustRefuseBelow) assert.equal(got, 'refused', `${c.name} cut to ${n} bytes`);
      }
    });
  }
});

describe('decoders on garbage', () => {
  test('random bodies of 0-64 bytes give a value or WireError, for every decoder', () => {
    for (const c of CASES) {
      for (let len = 0; len <= 64; len++) {
        for (let round = 0; round < 40; round++) {
          const b = randomBytes(len);
          // Small counts and lengths reach deeper into the layouts than random 16-bit values do.
          if (round % 2 === 1) for (let i = 0; i < b.length; i += 2) b[i] = 0;
          outcome(c, b);
        }
      }
    }
  });

  test('negative lengths other than -1 are refused (Bind, DataRow, FunctionCall)', () => {
    const bind = body((w) => w.cstring('').cstring('').i16(0).i16(1).i32(-2));
    assert.throws(() => decodeBind(bind), WireError);
    assert.throws(() => decodeDataRow(body((w) => w.i16(1).i32(-5))), WireError);
    assert.throws(() => decodeFunctionCall(body((w) => w.u32(1).i16(0).i16(1).i32(-0x8000_0000))), WireError);
  });

  test('a length beyond the body is refused', () => {
    assert.throws(
      () => decodeDataRow(body((w) => w.i16(1).i32(0x7fff_ffff).bytes(Buffer.from('abc')))),
      WireError,
    );
  });

  test("Describe/Close with a kind other than 'S' or 'P'", () => {
    assert.throws(() => decodeTarget(body((w) => w.u8(0x58).cstring('x'))), WireError);
  });

  test('SASLInitialResponse whose length field lies', () => {
    const data = Buffer.from('n,,n=,r=abc');
    for (const declared of [data.length + 1, data.length - 1, 0x7fff_ffff, -2, -0x8000_0000]) {
      const b = body((w) => w.cstring('SCRAM-SHA-256').i32(declared).bytes(data));
      assert.throws(() => decodeSaslInitialResponse(b), WireError, `declared ${declared}`);
    }
  });
});

describe('decoders on good bodies', () => {
  test('Parse', () => {
    assert.deepEqual(decodeParse(CASES[1].full), { name: 's1', sql: 'SELECT $1, $2', paramTypes: [23, 25] });
  });

  test('Bind: values are views, NULL is null, formats follow the 0/1/N rule', () => {
    const b = decodeBind(BIND);
    assert.equal(b.portal, '');
    assert.equal(b.statement, 's1');
    assert.deepEqual(b.formats, [0, 0, 1]);
    assert.equal(b.values[0]?.toString(), '42');
    assert.equal(b.values[1], null);
    assert.equal(b.values[2]?.readInt32BE(0), 7);
    assert.equal(b.values[0]?.buffer, BIND.buffer, 'a view into the message, not a copy');

    const none = decodeBind(
      body((w) => w.cstring('p').cstring('').i16(0).i16(2).i32(1).u8(0x61).i32(0).i16(0)),
    );
    assert.deepEqual(none.formats, [0, 0]);
    assert.equal(none.values[1]?.length, 0, 'an empty value is not NULL');
    const one = decodeBind(
      body((w) => w.cstring('').cstring('').i16(1).i16(1).i16(2).i32(-1).i32(-1).i16(0)),
    );
    assert.deepEqual(one.formats, [1, 1]);
  });

  test('Execute, Describe, Close', () => {
    assert.deepEqual(decodeExecute(CASES[3].full), { portal: 'p1', maxRows: 0 });
    assert.equal(executePortal(CASES[3].full), 'p1');
    assert.equal(executePortal(body((w) => w.cstring('').i32(100))), '');
    assert.deepEqual(decodeTarget(body((w) => w.u8(0x50).cstring(''))), { what: 'P', name: '' });
  });

  test('FunctionCall', () => {
    const f = decodeFunctionCall(FCALL);
    assert.equal(f.oid, 1598);
    assert.deepEqual(f.formats, [1, 1]);
    assert.equal(f.values[0]?.readInt32BE(0), 5);
    assert.equal(f.values[1], null);
  });

  test('ErrorResponse: V wins over the localized S; unknown fields are skipped', () => {
    assert.deepEqual(decodeNotice(ERROR_BODY), {
      severity: 'ERROR',
      code: '42P01',
      message: 'relation "nope" does not exist',
      detail: 'some detail',
    });
    const old = decodeNotice(body((w) => w.u8(0x53).cstring('FATAL').u8(0x43).cstring('28P01').u8(0)));
    assert.equal(old.severity, 'FATAL', 'servers before 9.6 send only S');
  });

  test('RowDescription, ParameterDescription, DataRow', () => {
    assert.deepEqual(decodeRowDescription(ROW_DESCRIPTION), [
      { name: 'id', typeOid: 23, format: 0 },
      { name: 'payload', typeOid: 17, format: 1 },
    ]);
    assert.deepEqual(decodeParameterDescription(CASES[9].full), [23, 25]);
    const row = decodeDataRow(DATA_ROW);
    assert.equal(row[0]?.toString(), '7');
    assert.equal(row[1], null);
    assert.equal(row[2]?.length, 0);
  });

  test('Notification, ParameterStatus, CommandComplete', () => {
    assert.deepEqual(decodeNotification(CASES[11].full), { pid: 99, channel: 'chan', payload: 'hello' });
    assert.deepEqual(decodeParameterStatus(CASES[12].full), { name: 'TimeZone', value: 'UTC' });
    assert.equal(decodeCommandComplete(CASES[7].full), 'INSERT 0 5');
  });

  test('SASLInitialResponse, with data and with -1 (no data)', () => {
    const r = decodeSaslInitialResponse(SASL_INITIAL);
    assert.equal(r.mechanism, 'SCRAM-SHA-256');
    assert.equal(r.data.toString(), 'n,,n=,r=abcdef');
    const none = decodeSaslInitialResponse(body((w) => w.cstring('SCRAM-SHA-256').i32(-1)));
    assert.equal(none.data.length, 0);
  });

  test('Authentication and its SASL mechanism list', () => {
    const a = decodeAuthentication(
      body((w) => w.i32(10).cstring('SCRAM-SHA-256-PLUS').cstring('SCRAM-SHA-256').u8(0)),
    );
    assert.equal(a.code, 10);
    assert.deepEqual(decodeSaslMechanisms(a.data), ['SCRAM-SHA-256-PLUS', 'SCRAM-SHA-256']);
  });

  test('rowsFromTag', () => {
    assert.equal(rowsFromTag('INSERT 0 5'), 5);
    assert.equal(rowsFromTag('SELECT 3'), 3);
    assert.equal(rowsFromTag('UPDATE 0'), 0);
    assert.equal(rowsFromTag('COPY 10'), 10);
    assert.equal(rowsFromTag('BEGIN'), null);
    assert.equal(rowsFromTag('CREATE TABLE'), null);
    assert.equal(rowsFromTag(''), null);
  });
});

test('RowDescriptionMemo returns the same columns while the bytes repeat, and decodes a new description', () => {
  const memo = new RowDescriptionMemo();
  const chunk = Buffer.concat([Buffer.from('xx'), ROW_DESCRIPTION]);
  const first = memo.decode(chunk.subarray(2));
  assert.deepEqual(first, decodeRowDescription(ROW_DESCRIPTION));
  // The memo keeps its own copy: a reused read buffer must not change what it compares with.
  chunk.fill(0);
  assert.equal(memo.decode(Buffer.from(ROW_DESCRIPTION)), first, 'same bytes: the same array');
  const other = Buffer.from(ROW_DESCRIPTION);
  other[other.length - 1] ^= 1; // the last column's format code
  const second = memo.decode(other);
  assert.notEqual(second, first);
  assert.deepEqual(second, decodeRowDescription(other));
});

describe("text in the client's encoding", () => {
  test('LATIN1 is ISO-8859-1 (0x80 stays U+0080, not the euro sign of windows-1252)', () => {
    assert.equal(decoderFor('LATIN1')(Buffer.from([0x63, 0xe9, 0x80])), 'c\u00e9\u0080');
    assert.equal(decoderFor('WIN1252')(Buffer.from([0x80])), '€');
  });

  test('UTF8, SQL_ASCII and unknown names keep the lossless UTF-8 decoding', () => {
    for (const name of ['UTF8', 'SQL_ASCII', 'MULE_INTERNAL']) {
      assert.equal(decoderFor(name)(Buffer.from([0x63, 0xe9])), 'c\udce9', name);
    }
  });

  test('a multibyte encoding decodes, and bytes it cannot decode fall back to the lossless decoding', () => {
    assert.equal(decoderFor('euc_jp')(Buffer.from([0xc6, 0xfc, 0xcb, 0xdc])), '日本');
    assert.equal(decoderFor('EUC_JP')(Buffer.from([0x61, 0xff])), 'a\udcff');
  });
});
