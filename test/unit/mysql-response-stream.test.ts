// The server → client half of a MySQL session (src/proxy/mysql/responses.ts) fed hand-built
// responses cut into chunks at every boundary: rows are framed from their headers on the hot path
// and packet by packet elsewhere, and whichever path a byte takes, the client gets the server's
// bytes unchanged, each result counts its rows, and the response ends where the server's does.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SessionEventBody } from '../../src/model/session.js';
import { MaskingRules } from '../../src/policy/index.js';
import * as M from '../../src/protocol/mysql/index.js';
import { pending } from '../../src/proxy/mysql/pending.js';
import { ResultShaper } from '../../src/proxy/mysql/policy-results.js';
import { resultset } from '../support/mysql-fixtures.js';
import { responseStream } from '../support/mysql-response-stream.js';
import { mulberry32 } from '../support/random.js';

const CLASSIC = M.CLIENT_PROTOCOL_41 | M.CLIENT_SECURE_CONNECTION | M.CLIENT_MULTI_RESULTS;
const MODERN = CLASSIC | M.CLIENT_DEPRECATE_EOF;

/** Rows whose first bytes are the interesting ones: NULL (0xFB), an empty string, long values. */
const ROWS: (string | null)[][] = [
  ['1', 'a'],
  [null, 'b'],
  ['', null],
  ['x'.repeat(300), 'y'.repeat(70_000)],
  ...Array.from({ length: 20 }, (_, i) => [String(i), `row ${i}`]),
];

/** A binary resultset of one VAR_STRING column (COM_STMT_EXECUTE): rows start with 0x00. */
function binaryResultset(values: readonly string[], caps: number): Buffer[] {
  const deprecateEof = M.hasCap(caps, M.CLIENT_DEPRECATE_EOF);
  let seq = 1;
  const out = [new M.PacketWriter(8).lenencInt(1).packet(seq++)];
  out.push(
    M.encodeColumnDefinition(
      { name: 'v', charset: 45, columnLength: 255, type: M.MYSQL_TYPE_VAR_STRING },
      seq++,
    ),
  );
  if (!deprecateEof) out.push(M.encodeEof({ warnings: 0, statusFlags: 0 }, caps, seq++));
  for (const v of values) {
    // Header 0x00, a NULL bitmap of (1 + 7 + 2) / 8 = 1 byte, then the value as a length-encoded string.
    out.push(new M.PacketWriter(8).u8(0).u8(0).lenencString(Buffer.from(v)).packet(seq++));
  }
  out.push(
    deprecateEof
      ? M.encodeOk({ statusFlags: 0 }, caps, seq++, M.EOF_HEADER)
      : M.encodeEof({ warnings: 0, statusFlags: 0 }, caps, seq++),
  );
  return out;
}

interface Run {
  readonly out: Buffer;
  readonly results: SessionEventBody[];
  readonly busy: boolean;
}

/** Feed `chunks` as answers to `commands` (COM_* bytes, in order); collect what the client gets. */
function feed(commands: readonly number[], chunks: readonly Buffer[], caps: number, record: boolean): Run {
  const { stream, parts, recorded } = responseStream({ clientCapabilities: caps, record });
  for (const c of commands) stream.enqueue(pending(c, 'statement'));
  for (const chunk of chunks) stream.feed(chunk);
  return {
    out: Buffer.concat(parts),
    results: recorded.filter((e) => e.kind === 'result'),
    busy: stream.busy,
  };
}

function cut(bytes: Buffer, at: readonly number[]): Buffer[] {
  const chunks: Buffer[] = [];
  let from = 0;
  for (const p of [...at, bytes.length]) {
    // A fresh buffer per chunk, as a socket gives: no view may reach past its chunk.
    chunks.push(Buffer.from(bytes.subarray(from, p)));
    from = p;
  }
  return chunks;
}

/**
 * Recorded, rows are framed from their headers; unrecorded, column definitions are too (nothing
 * needs their names or types), and then only the bytes and the responses' ends can be checked.
 */
function check(name: string, commands: readonly number[], packets: Buffer[], caps: number, rows: number[]) {
  const bytes = Buffer.concat(packets);
  const expect = (chunks: readonly Buffer[], how: string) => {
    for (const record of [true, false]) {
      const r = feed(commands, chunks, caps, record);
      const at = `${name}, ${how}${record ? '' : ', unrecorded'}`;
      assert.ok(r.out.equals(bytes), `${at}: the client got other bytes than the server sent`);
      if (record) {
        assert.deepEqual(
          r.results.map((e) => (e.kind === 'result' ? e.rows : -1)),
          rows,
          `${at}: rows counted`,
        );
      }
      assert.equal(r.busy, false, `${at}: the response ended`);
    }
  };
  expect([bytes], 'one chunk');
  // Every single cut, then many random ones: a header, a row or a terminator split anywhere.
  for (let i = 1; i < bytes.length; i += bytes.length > 4000 ? 97 : 1) {
    expect(cut(bytes, [i]), `cut at ${i}`);
  }
  const rnd = mulberry32(bytes.length);
  for (let k = 0; k < 200; k++) {
    const at = new Set<number>();
    const n = 1 + Math.floor(rnd() * 40);
    for (let j = 0; j < n; j++) at.add(1 + Math.floor(rnd() * (bytes.length - 1)));
    const sorted = [...at].sort((a, b) => a - b);
    expect(cut(bytes, sorted), `cuts at ${sorted.join(',')}`);
  }
}

describe('rows framed from their headers, whatever the chunking', () => {
  for (const [capsName, caps] of [
    ['classic EOF', CLASSIC],
    ['DEPRECATE_EOF', MODERN],
  ] as const) {
    test(`text resultsets back to back (${capsName})`, () => {
      const a = resultset(['n', 'v'], ROWS, caps);
      const b = resultset(['n'], [['7']], caps);
      const empty = resultset(['n'], [], caps);
      check(capsName, [M.COM_QUERY, M.COM_QUERY, M.COM_QUERY], [...a, ...b, ...empty], caps, [
        ROWS.length,
        1,
        0,
      ]);
    });

    test(`wide resultsets: column definitions framed from their headers too (${capsName})`, () => {
      const names = Array.from({ length: 40 }, (_, i) => `column_${i}`);
      const row = names.map((n) => `${n} value`);
      const a = resultset(names, [row, row], caps);
      const b = resultset(['one'], [['1']], caps);
      check(capsName, [M.COM_QUERY, M.COM_QUERY, M.COM_QUERY], [...a, ...b, ...a], caps, [2, 1, 2]);
    });

    test(`binary resultsets (${capsName})`, () => {
      const values = ['', 'a', 'b'.repeat(300), ...Array.from({ length: 30 }, (_, i) => `v${i}`)];
      const a = binaryResultset(values, caps);
      const b = binaryResultset(['z'], caps);
      check(capsName, [M.COM_STMT_EXECUTE, M.COM_STMT_EXECUTE], [...a, ...b], caps, [values.length, 1]);
    });
  }

  test('an ERR in the middle of the rows ends the result', () => {
    const rows = resultset(['n'], [['1'], ['2'], ['3']], MODERN);
    rows.pop(); // the terminator: the server fails instead
    const err = M.encodeErr(
      { errno: 1317, sqlState: '70100', message: 'Query execution was interrupted' },
      5,
    );
    const next = resultset(['n'], [['9']], MODERN);
    // The ERR is recorded as an error, not a result: only the next query's result counts rows.
    check('ERR after rows', [M.COM_QUERY, M.COM_QUERY], [...rows, err, ...next], MODERN, [1]);
  });
});

// Strict mode: a statement whose record could not be made durable is never sent, and the client gets
// dbtape's ERR in its place, in its turn.
describe('replaceLast', () => {
  const refusal = M.encodeErr({ errno: 1105, sqlState: 'HY000', message: 'dbtape: not recorded' }, 1);

  test('the command being answered (nothing queued behind it) is answered at once', () => {
    const { stream, parts } = responseStream({ clientCapabilities: MODERN, record: false });
    stream.enqueue(pending(M.COM_QUERY, 'statement'));
    assert.equal(stream.busy, true);
    stream.replaceLast(refusal);
    assert.deepEqual(Buffer.concat(parts), refusal);
    assert.equal(stream.busy, false);
    // The next command's response is recognised as its own.
    stream.enqueue(pending(M.COM_QUERY, 'statement'));
    for (const p of resultset(['n'], [['1']], MODERN)) stream.feed(p);
    assert.equal(stream.busy, false);
  });

  test('a command queued behind another is answered after the first response', () => {
    const { stream, parts } = responseStream({ clientCapabilities: MODERN, record: false });
    stream.enqueue(pending(M.COM_QUERY, 'statement'));
    stream.enqueue(pending(M.COM_QUERY, 'statement'));
    stream.replaceLast(refusal);
    assert.equal(parts.length, 0);
    const first = resultset(['n'], [['1']], MODERN);
    for (const p of first) stream.feed(p);
    assert.deepEqual(Buffer.concat(parts), Buffer.concat([...first, refusal]));
    assert.equal(stream.busy, false);
  });
});

// max_rows and masking change the rows, so the client no longer gets the server's bytes: whatever the
// chunking, it must get the same bytes as from one chunk, and those must be a well-formed response.
describe('max_rows and masking, whatever the chunking', () => {
  const masking = MaskingRules.forRoles([{ columns: ['secret'], detectors: ['email'] }])!;
  const rows: (string | null)[][] = [
    ['1', 'a@example.com', 'plain'],
    [null, 'b', 'x'.repeat(300)],
    ['3', '', 'c@example.org'],
    ...Array.from({ length: 8 }, (_, i) => [String(i), `s${i}`, `row ${i}`]),
  ];

  /** The packets of `out`, checking their sequence ids count up from 1 within each response. */
  function packets(out: Buffer, responses: number): Buffer[] {
    const got: Buffer[] = [];
    let pos = 0;
    let seq = 1;
    while (pos < out.length) {
      const len = out.readUIntLE(pos, 3);
      const payload = out.subarray(pos + 4, pos + 4 + len);
      assert.equal(payload.length, len, 'a whole packet');
      // A response starts again at 1; within it the ids count up.
      if (out[pos + 3] === 1 && seq !== 1) seq = 1;
      assert.equal(out[pos + 3], seq, `packet ${got.length}: sequence id`);
      seq = (seq + 1) & 0xff;
      got.push(payload);
      pos += 4 + len;
    }
    assert.ok(got.length >= responses);
    return got;
  }

  for (const [capsName, caps] of [
    ['classic EOF', CLASSIC],
    ['DEPRECATE_EOF', MODERN],
  ] as const) {
    for (const [what, maxRows, mask] of [
      ['max_rows', 4, null],
      ['masking', null, masking],
      ['max_rows and masking', 2, masking],
    ] as const) {
      test(`${what} (${capsName})`, () => {
        const text = resultset(['n', 'secret', 'note'], rows, caps);
        const small = resultset(['n'], [['7']], caps);
        const bytes = Buffer.concat([...text, ...small]);
        const run = (chunks: readonly Buffer[]): Buffer => {
          const { stream, parts } = responseStream({
            clientCapabilities: caps,
            record: false,
            shaper: new ResultShaper(maxRows, mask),
          });
          stream.enqueue(pending(M.COM_QUERY, 'statement'));
          stream.enqueue(pending(M.COM_QUERY, 'statement'));
          for (const chunk of chunks) stream.feed(chunk);
          assert.equal(stream.busy, false, 'the responses ended');
          return Buffer.concat(parts);
        };
        const whole = run([bytes]);
        const got = packets(whole, 2);
        const shown = maxRows ?? rows.length;
        const classic = caps === CLASSIC;
        // Column count, 3 definitions, [EOF], rows, terminator; then the small result.
        assert.equal(got.length, 1 + 3 + (classic ? 1 : 0) + shown + 1 + (classic ? 5 : 4), 'packets');
        assert.equal(whole.includes('a@example.com'), mask === null, 'e-mail addresses masked');
        assert.equal(whole.includes('s0'), mask === null && shown > 3, 'the secret column masked');
        for (let i = 1; i < bytes.length; i++) {
          assert.ok(run(cut(bytes, [i])).equals(whole), `cut at ${i}`);
        }
        const rnd = mulberry32(bytes.length);
        for (let k = 0; k < 100; k++) {
          const at = new Set<number>();
          for (let j = 1 + Math.floor(rnd() * 30); j > 0; j--)
            at.add(1 + Math.floor(rnd() * (bytes.length - 1)));
          const sorted = [...at].sort((a, b) => a - b);
          assert.ok(run(cut(bytes, sorted)).equals(whole), `cuts at ${sorted.join(',')}`);
        }
      });
    }
  }
});
