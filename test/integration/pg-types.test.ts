// Rendering of binary values for the recording (src/protocol/postgres/types.ts), checked against what
// the machine's PostgreSQL itself prints: each value is fetched twice in one row, once in binary
// format (rendered by dbtape) and once cast to text (printed by PostgreSQL), and the two must match.
// Needs PostgreSQL on 127.0.0.1:5432 with trust auth for user postgres (the test machine's set-up).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { RECORDED_VALUE_LIMIT, renderValue, typeName } from '../../src/protocol/postgres/types.js';
import {
  cstr,
  dataRowBuffers,
  errorFields,
  type PgRaw,
  pgRaw,
  startupPacket,
  typedMessage,
} from '../support/inproc-dbtape.js';

const PG_PORT = 5432;

async function connectDirect(): Promise<PgRaw> {
  let raw: PgRaw;
  try {
    raw = await pgRaw(PG_PORT);
  } catch (err) {
    throw new Error(
      `PostgreSQL must answer on 127.0.0.1:${PG_PORT} for this test (npm test starts one): ${(err as Error).message}`,
    );
  }
  await raw.send(
    startupPacket([
      ['user', 'postgres'],
      ['database', 'test'],
      // Fixed output settings, so PostgreSQL's text is comparable whatever the server's defaults.
      ['TimeZone', 'UTC'],
      ['DateStyle', 'ISO, MDY'],
      ['extra_float_digits', '1'],
      ['bytea_output', 'hex'],
    ]),
  );
  const msgs = await raw.readUntil('Z');
  const err = msgs.find((m) => m.type === 'E');
  if (err) throw new Error(`cannot log in to PostgreSQL as postgres (trust): ${errorFields(err).M}`);
  return raw;
}

/**
 * Each value as [binary bytes, PostgreSQL's text] with the column's type oid: one extended query
 * selects the value twice, the first column in binary and the second in text result format (the
 * type's output function: what psql shows). `exprs` are SQL expressions, or literals to quote.
 */
async function fetchBoth(raw: PgRaw, type: string, exprs: readonly string[], areExpressions: boolean) {
  const quote = (l: string) => `'${l.replace(/'/g, "''")}'`;
  const values = exprs.map((e) => `((${areExpressions ? e : quote(e)})::${type})`).join(', ');
  const sql = `SELECT v, v FROM (VALUES ${values}) AS t(v)`;
  const bind = Buffer.alloc(2 + 2 + 2 + 2 + 2 + 2 + 2);
  // portal '', statement '', 0 parameter formats, 0 parameters, 2 result formats: binary, text
  bind.writeInt16BE(0, 2);
  bind.writeInt16BE(0, 4);
  bind.writeInt16BE(2, 6);
  bind.writeInt16BE(1, 8);
  bind.writeInt16BE(0, 10);
  await raw.send(
    Buffer.concat([
      typedMessage('P', Buffer.concat([cstr(''), cstr(sql), Buffer.from([0, 0])])),
      typedMessage('B', bind.subarray(0, 12)),
      typedMessage('D', Buffer.concat([Buffer.from('P'), cstr('')])),
      typedMessage('E', Buffer.concat([cstr(''), Buffer.alloc(4)])),
      typedMessage('S'),
    ]),
  );
  const msgs = await raw.readUntil('Z');
  const err = msgs.find((m) => m.type === 'E');
  if (err) throw new Error(`PostgreSQL refused ${sql}: ${errorFields(err).M}`);
  const desc = msgs.find((m) => m.type === 'T');
  assert.ok(desc, 'RowDescription');
  const nameEnd = desc.body.indexOf(0, 2);
  const oid = desc.body.readUInt32BE(nameEnd + 1 + 4 + 2);
  return { oid, rows: dataRowBuffers(msgs) };
}

const CASES: Record<string, readonly string[]> = {
  bool: ['true', 'false'],
  int2: ['0', '1', '-1', '32767', '-32768'],
  int4: ['0', '42', '-42', '2147483647', '-2147483648'],
  int8: ['0', '9223372036854775807', '-9223372036854775808', '1234567890123'],
  oid: ['0', '4294967295', '16384'],
  float4: [
    '0',
    '-0',
    '1.1',
    '-2.5',
    '3.4028235e38',
    '1e-45',
    '123456',
    '1234567',
    '0.0001',
    '0.00001',
    'NaN',
    'Infinity',
    '-Infinity',
  ],
  float8: [
    '0',
    '-0',
    '1.1',
    '0.1',
    '-3.14159265358979',
    '1e15',
    '1e20',
    '123456789012345',
    '1234567890123456',
    '1e-4',
    '1e-5',
    '1.5e-300',
    '1.7976931348623157e308',
    'NaN',
    'Infinity',
    '-Infinity',
  ],
  bytea: ['', '\\x00ff10', 'abc'],
  // Arrays, as pgjdbc's setArray sends them: array_out's quoting, NULLs, dimensions, bounds.
  _int4: ['{1,NULL,3}', '{}', '{{1,2},{3,4}}', '[0:1]={5,6}', '{{{7}}}', '{NULL}'],
  _text: ['{"a b","c\\"d",NULL,"","null",x,"{}",",","back\\\\slash"}', '{é}'],
  _varchar: ['{one,"t w o"}'],
  _bool: ['{t,f,NULL}'],
  _int8: ['{9223372036854775807,-1}'],
  _float8: ['{1.1,NaN,-Infinity,1e300}'],
  _numeric: ['{1.50,-0.001,NaN}'],
  _date: ['{2024-02-29,infinity}'],
  _timestamptz: ['{"2024-02-29 23:59:59.5+00",NULL}'],
  _bytea: ['{"\\\\x00ff",NULL}'],
  _uuid: ['{123e4567-e89b-12d3-a456-426614174000}'],
  _jsonb: ['{"{\\"a\\": 1}"}'],
  text: ['', 'héllo wörld', 'line\nbreak'],
  varchar: ['x'],
  bpchar: ['ab'],
  name: ['pg_class'],
  uuid: ['a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '00000000-0000-0000-0000-000000000000'],
  json: ['{"a": [1, 2]}'],
  jsonb: ['{"b": 1, "a": [1, 2]}'],
  date: [
    '2000-01-01',
    '1970-01-01',
    '1969-12-31',
    '2024-02-29',
    '0001-01-01',
    '1900-03-01',
    '9999-12-31',
    '10000-01-01',
    '0044-03-15 BC',
    '4713-11-24 BC',
    '5874897-12-31',
    'infinity',
    '-infinity',
  ],
  timestamp: [
    '2000-01-01 00:00:00',
    '2024-05-06 07:08:09.123456',
    '2024-05-06 07:08:09.5',
    '1970-01-01 00:00:00',
    '1969-12-31 23:59:59.999999',
    '1969-12-31 23:59:59.9995',
    '1900-01-01 12:00:00.000001',
    '0044-03-15 12:00:00 BC',
    '12345-06-07 08:09:10',
    '294276-12-31 23:59:59.999999',
    '4713-11-24 00:00:00 BC',
    'infinity',
    '-infinity',
  ],
  timestamptz: [
    '2024-05-06 07:08:09.123456+00',
    '2024-05-06 07:08:09+02',
    '1969-07-20 20:17:40.000001+00',
    '0044-03-15 12:00:00+00 BC',
    'infinity',
  ],
  numeric: [
    '0',
    '0.000',
    '1',
    '-1',
    '10000',
    '123456789',
    '-123456789.0001',
    '0.5',
    '-0.5',
    '1.50',
    '0.0001',
    '0.00001234',
    '-0.00000001',
    '3.14159265358979323846264338327950288',
    '99999999999999999999999999.9999',
    '1e20',
    '1e-20',
    'NaN',
    'Infinity',
    '-Infinity',
  ],
};

/** Deterministic pseudo-random numbers (a 32-bit LCG), so a failure names the same values next run. */
function lcg(seed: number): () => number {
  let x = seed >>> 0;
  return () => {
    x = (Math.imul(x, 1664525) + 1013904223) >>> 0;
    return x;
  };
}

/** Values spread over each type's whole range: random bit patterns, digit strings and instants. */
function generated(): Record<string, readonly string[]> {
  const next = lcg(20240506);
  const n = 300;
  const f8: string[] = [];
  const f4: string[] = [];
  const numeric: string[] = [];
  const timestamp: string[] = [];
  const date: string[] = [];
  const b = Buffer.alloc(8);
  while (f8.length < n) {
    b.writeUInt32BE(next(), 0);
    b.writeUInt32BE(next(), 4);
    const x = b.readDoubleBE(0);
    if (Number.isFinite(x)) f8.push(x.toExponential());
    const y = b.readFloatBE(0);
    if (Number.isFinite(y)) f4.push(y.toExponential(8));
  }
  for (let i = 0; i < n; i++) {
    const intDigits = String(next())
      .repeat(1 + (next() % 3))
      .slice(0, next() % 30);
    const fracDigits = String(next())
      .padStart(10, '0')
      .slice(0, next() % 11);
    const sign = next() % 2 ? '-' : '';
    numeric.push(`${sign}${intDigits || '0'}${fracDigits ? `.${fracDigits}` : ''}`);
    // Instants from 4713 BC to 294276 AD: days from 2000-01-01, then seconds with microseconds.
    const days = (next() % (2_451_544 + 106_000_000)) - 2_451_544;
    const secs = `${next() % 86_400}.${String(next() % 1_000_000).padStart(6, '0')}`;
    timestamp.push(`make_interval(days => ${days}, secs => ${secs})`);
    date.push(String((next() % 2_000_000) - 1_000_000));
  }
  return {
    float8: f8,
    float4: f4,
    numeric,
    timestamp: timestamp.map((i) => `timestamp '2000-01-01' + ${i}`),
    timestamptz: timestamp.map((i) => `timestamptz '2000-01-01 00:00:00+00' + ${i}`),
    date: date.map((d) => `date '2000-01-01' + (${d})`),
  };
}

async function compare(
  raw: PgRaw,
  type: string,
  exprs: readonly string[],
  areExpressions: boolean,
): Promise<void> {
  const { oid, rows } = await fetchBoth(raw, type, exprs, areExpressions);
  assert.equal(typeName(oid), type);
  assert.equal(rows.length, exprs.length);
  const mismatches: string[] = [];
  rows.forEach(([bin, text], i) => {
    const got = renderValue(bin, 1, oid);
    const want = text?.toString('utf8') ?? null;
    if (got !== want) {
      mismatches.push(
        `${exprs[i]}: rendered ${JSON.stringify(got)}, PostgreSQL prints ${JSON.stringify(want)}`,
      );
    }
  });
  assert.deepEqual(mismatches, []);
}

describe('binary values render as PostgreSQL prints them', () => {
  let raw: PgRaw;
  before(async () => {
    raw = await connectDirect();
  });
  after(() => raw?.destroy());

  for (const [type, exprs] of Object.entries(generated())) {
    test(`${type}: ${exprs.length} values over the whole range`, async () => {
      await compare(raw, type, exprs, true);
    });
  }

  for (const [type, literals] of Object.entries(CASES)) {
    test(type, async () => {
      await compare(raw, type, literals, false);
    });
  }
});

describe('renderValue without a server', () => {
  test('NULL is null in either format', () => {
    assert.equal(renderValue(null, 0, 23), null);
    assert.equal(renderValue(null, 1, 23), null);
  });

  test('text format is the text, whatever the type', () => {
    assert.equal(renderValue(Buffer.from('42'), 0, 23), '42');
    assert.equal(renderValue(Buffer.from('héllo'), 0, 0), 'héllo');
  });

  // A SQL_ASCII database or a LATIN1 client: kept as statement text is (wire/text.ts), not as U+FFFD.
  test('bytes that are not UTF-8 are kept, as in statement text', () => {
    const latin1 = Buffer.from([0x63, 0x61, 0x66, 0xe9]);
    assert.equal(renderValue(latin1, 0, 25), 'caf\udce9');
    assert.equal(renderValue(latin1, 1, 25), 'caf\udce9');
  });

  test('unknown types and malformed binary values fall back to hex, never throw', () => {
    assert.equal(renderValue(Buffer.from([1, 2, 3]), 1, 0), '\\x010203');
    assert.equal(renderValue(Buffer.from([1, 2, 3]), 1, 23), '\\x010203', 'int4 of 3 bytes');
    assert.equal(renderValue(Buffer.from([1, 2]), 1, 20), '\\x0102', 'int8 of 2 bytes');
    assert.equal(
      renderValue(Buffer.from([0, 5, 0, 0, 0, 0, 0, 0]), 1, 1700),
      '\\x0005000000000000',
      'numeric short',
    );
    assert.equal(renderValue(Buffer.alloc(0), 1, 16), '\\x', 'empty bool');
    assert.equal(renderValue(Buffer.from([2, 0x7b]), 1, 3802), '\\x027b', 'jsonb of an unknown version');
    const formats = [1, 2, -1, 255];
    for (const oid of [16, 17, 20, 21, 23, 26, 700, 701, 1082, 1114, 1184, 1700, 2950, 3802, 1007, 1009]) {
      for (let len = 0; len <= 20; len++) {
        for (const f of formats) assert.equal(typeof renderValue(Buffer.alloc(len, 0xff), f, oid), 'string');
      }
    }
  });

  test('dates and timestamps far outside any real range do not throw', () => {
    const big = Buffer.alloc(8);
    big.writeBigInt64BE(0x7fff_ffff_ffff_fffen);
    assert.equal(typeof renderValue(big, 1, 1114), 'string');
    big.writeBigInt64BE(-0x7fff_ffff_ffff_fffen);
    assert.equal(typeof renderValue(big, 1, 1184), 'string');
    const day = Buffer.alloc(4);
    day.writeInt32BE(-0x7fff_fff0);
    assert.equal(typeof renderValue(day, 1, 1082), 'string');
  });

  test('type names', () => {
    assert.equal(typeName(23), 'int4');
    assert.equal(typeName(1184), 'timestamptz');
    assert.equal(typeName(999999), 'oid:999999');
    assert.equal(typeName(869), 'inet');
  });

  // A 64 MiB bytea parameter rendered whole cost dbtape over a gigabyte and held its event loop.
  test('a value longer than the limit keeps its start and says its size', () => {
    const size = RECORDED_VALUE_LIMIT * 16;
    const bin = renderValue(Buffer.alloc(size, 0xab), 1, 17)!;
    assert.equal(bin, `\\x${'ab'.repeat(RECORDED_VALUE_LIMIT)}... [truncated, ${size} bytes]`);
    // Text is cut between characters: 'é' is two bytes, and the limit falls inside one of them.
    const text = renderValue(Buffer.from(`x${'é'.repeat(RECORDED_VALUE_LIMIT)}`), 0, 25)!;
    assert.equal(
      text,
      `x${'é'.repeat(RECORDED_VALUE_LIMIT / 2 - 1)}... [truncated, ${1 + RECORDED_VALUE_LIMIT * 2} bytes]`,
    );
    const exact = Buffer.alloc(RECORDED_VALUE_LIMIT, 0x61);
    assert.equal(renderValue(exact, 0, 25), exact.toString(), 'a value of exactly the limit is kept whole');
  });

  test('a binary array that is not one falls back to hex', () => {
    const head = (ndim: number, elem: number, ...dims: number[]) => {
      const b = Buffer.alloc(12 + dims.length * 4);
      b.writeInt32BE(ndim, 0);
      b.writeUInt32BE(elem, 8);
      for (const [i, d] of dims.entries()) b.writeInt32BE(d, 12 + i * 4);
      return b;
    };
    assert.equal(renderValue(head(0, 23), 1, 1007), '{}');
    assert.match(renderValue(head(0, 25), 1, 1007)!, /^\\x/, 'element type other than the array says');
    assert.match(renderValue(head(1, 23, 2_000_000_000, 1), 1, 1007)!, /^\\x/, 'more elements than bytes');
    assert.match(renderValue(head(1, 23, 1, 1), 1, 1007)!, /^\\x/, 'element missing');
    assert.match(renderValue(head(7, 23), 1, 1007)!, /^\\x/, 'more dimensions than PostgreSQL allows');
  });
});
