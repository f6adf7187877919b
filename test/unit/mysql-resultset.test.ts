import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  decodeColumnDefinition,
  decodeColumnType,
  encodeColumnDefinition,
} from '../../src/protocol/mysql/column-definition.js';
import * as C from '../../src/protocol/mysql/constants.js';
import { eofAction, translateEof } from '../../src/protocol/mysql/eof-translate.js';
import { encodeLenencInt } from '../../src/protocol/mysql/lenenc.js';
import { encodeEof, encodeErr, encodeOk } from '../../src/protocol/mysql/ok-err.js';
import { type ResponsePacketKind, ResponseTracker } from '../../src/protocol/mysql/response-tracker.js';
import {
  decodeBinaryRow,
  decodeTextRow,
  encodeTextRow,
  newRowFields,
  rewriteRowFields,
  scanBinaryRow,
  scanTextRow,
} from '../../src/protocol/mysql/rows.js';
import { encodePrepareOk } from '../../src/protocol/mysql/statements.js';

const CLASSIC = C.CLIENT_PROTOCOL_41;
const DEPRECATE = (C.CLIENT_PROTOCOL_41 | C.CLIENT_DEPRECATE_EOF) >>> 0;
const p = (packet: Buffer) => packet.subarray(4);
const ascii = (s: string) => [...Buffer.from(s)];
const lenenc = (b: number[]) => [...encodeLenencInt(b.length), ...b];

const colId = p(
  encodeColumnDefinition(
    {
      table: 't',
      name: 'id',
      charset: C.CHARSET_BINARY,
      columnLength: 20,
      type: C.MYSQL_TYPE_LONGLONG,
      flags: C.UNSIGNED_FLAG | C.NOT_NULL_FLAG,
    },
    0,
  ),
);
const colName = p(
  encodeColumnDefinition(
    {
      table: 't',
      name: 'name',
      charset: C.CHARSET_UTF8MB4_GENERAL_CI,
      columnLength: 400,
      type: C.MYSQL_TYPE_VAR_STRING,
    },
    0,
  ),
);
const colBlob = p(
  encodeColumnDefinition(
    {
      name: 'b',
      charset: C.CHARSET_BINARY,
      columnLength: 65535,
      type: C.MYSQL_TYPE_BLOB,
      flags: C.BINARY_FLAG | C.BLOB_FLAG,
    },
    0,
  ),
);
const eof = (status = C.SERVER_STATUS_AUTOCOMMIT, warnings = 0) =>
  p(encodeEof({ warnings, statusFlags: status }, CLASSIC, 0));
const okEof = (status = C.SERVER_STATUS_AUTOCOMMIT, warnings = 0) =>
  p(encodeOk({ statusFlags: status, warnings }, DEPRECATE, 0, 0xfe));
const textRow = (...values: (string | null)[]) => p(encodeTextRow(values, 0));

/** A text resultset as the server sends it in either framing. */
function textResultset(
  deprecate: boolean,
  rows: (string | null)[][],
  status = C.SERVER_STATUS_AUTOCOMMIT,
): Buffer[] {
  const out = [Buffer.from([2]), colId, colName];
  if (!deprecate) out.push(eof(status));
  for (const r of rows) out.push(textRow(...r));
  out.push(deprecate ? okEof(status, 1) : eof(status, 1));
  return out;
}

function run(t: ResponseTracker, packets: Buffer[]): ResponsePacketKind[] {
  return packets.map((pkt) => t.feed(pkt));
}

describe('ResponseTracker: text resultsets', () => {
  const rows = [
    ['1', 'ann'],
    ['2', null],
    ['3', 'çé'],
  ];

  test('classic framing', () => {
    const t = new ResponseTracker({ capabilities: CLASSIC });
    t.begin(C.COM_QUERY);
    const kinds = run(t, textResultset(false, rows));
    assert.deepEqual(kinds, [
      'column-count',
      'column-def',
      'column-def',
      'metadata-eof',
      'row',
      'row',
      'row',
      'eof',
    ]);
    assert.equal(t.done, true);
    assert.equal(t.rowCount, 3);
    assert.equal(t.warnings, 1);
    assert.equal(t.resultsCompleted, 1);
    const cols = t.columns.resultColumns();
    assert.ok(cols.ok);
    assert.deepEqual(cols.value, [
      { name: 'id', type: 'LONGLONG UNSIGNED' },
      { name: 'name', type: 'VAR_STRING' },
    ]);
  });

  test('DEPRECATE_EOF framing', () => {
    const t = new ResponseTracker({ capabilities: DEPRECATE });
    t.begin(C.COM_QUERY);
    const kinds = run(t, textResultset(true, rows));
    assert.deepEqual(kinds, ['column-count', 'column-def', 'column-def', 'row', 'row', 'row', 'ok']);
    assert.equal(t.done, true);
    assert.equal(t.rowCount, 3);
    assert.equal(t.ok?.header, 0xfe);
    assert.equal(t.warnings, 1);
  });

  test('rows decode to text on demand', () => {
    const t = new ResponseTracker({ capabilities: CLASSIC });
    t.begin(C.COM_QUERY);
    const packets = textResultset(false, rows);
    run(t, packets.slice(0, 4));
    const enc = t.columns.encodings();
    assert.ok(enc.ok);
    const decoded = packets.slice(4, 7).map((r) => decodeTextRow(r, enc.value));
    assert.deepEqual(
      decoded.map((d) => (d.ok ? d.value : d.error.message)),
      rows,
    );
    const bin = decodeTextRow(textRow('\u0000\u00ff'), ['binary']);
    assert.ok(bin.ok);
    assert.deepEqual(bin.value, ['0x00c3bf']);
  });

  test('multi-results: OK with SERVER_MORE_RESULTS_EXISTS, then a resultset, then ERR', () => {
    const t = new ResponseTracker({ capabilities: DEPRECATE });
    t.begin(C.COM_QUERY);
    const more = C.SERVER_STATUS_AUTOCOMMIT | C.SERVER_MORE_RESULTS_EXISTS;
    assert.equal(t.feed(p(encodeOk({ affectedRows: 2, statusFlags: more }, DEPRECATE, 1))), 'ok');
    assert.equal(t.ok?.affectedRows, 2);
    assert.equal(t.moreResults, true);
    assert.equal(t.done, false);
    const second = textResultset(true, [['1', 'x']], more);
    assert.deepEqual(run(t, second), ['column-count', 'column-def', 'column-def', 'row', 'ok']);
    assert.equal(t.rowCount, 1);
    assert.equal(t.done, false);
    assert.equal(t.feed(p(encodeErr({ ...C.ER_TABLEACCESS_DENIED_ERROR, message: 'no' }, 9))), 'err');
    assert.equal(t.err?.errno, 1142);
    assert.equal(t.rowCount, 0, 'a new result resets the counters');
    assert.equal(t.done, true);
    assert.equal(t.resultsCompleted, 2);
  });

  test('ERR in the middle of rows ends the response', () => {
    const t = new ResponseTracker({ capabilities: CLASSIC });
    t.begin(C.COM_QUERY);
    const packets = textResultset(false, [['1', 'a']]).slice(0, 5);
    packets.push(p(encodeErr({ ...C.ER_QUERY_INTERRUPTED, message: 'Query execution was interrupted' }, 6)));
    assert.deepEqual(run(t, packets).slice(-2), ['row', 'err']);
    assert.equal(t.done, true);
    assert.equal(t.err?.sqlState, '70100');
  });

  test('EOF vs rows starting with 0xFE / 0xFB / 0xFF', () => {
    const classic = new ResponseTracker({ capabilities: CLASSIC });
    classic.begin(C.COM_QUERY);
    run(classic, textResultset(false, []).slice(0, 4));
    // A NULL first value starts with 0xFB: a row.
    assert.equal(classic.feed(textRow(null, 'x')), 'row');
    // A row whose first value is >= 16 MiB starts with 0xFE and is 0xFFFFFF long: a row, seen from its head.
    const head = Buffer.from([0xfe, 0x00, 0x00, 0x00, 0x01, 0, 0, 0, 0, 0x61, 0x62]);
    assert.equal(classic.feedHead(head, 0, head.length, C.MAX_PACKET_PAYLOAD), 'row');
    assert.equal(classic.rowCount, 2);
    assert.equal(classic.feed(eof()), 'eof');

    const dep = new ResponseTracker({ capabilities: DEPRECATE });
    dep.begin(C.COM_QUERY);
    run(dep, textResultset(true, []).slice(0, 3));
    assert.equal(dep.feedHead(head, 0, head.length, C.MAX_PACKET_PAYLOAD), 'row');
    assert.equal(
      dep.feedHead(head, 0, 9, 20),
      'need-full',
      'a short 0xFE packet is the terminator: read it whole',
    );
    assert.equal(dep.rowCount, 1);
    assert.equal(dep.feed(okEof()), 'ok');
  });

  test('feedHead: rows are classified from their first segment, the rest ask for the whole packet', () => {
    const t = new ResponseTracker({ capabilities: CLASSIC });
    t.begin(C.COM_QUERY);
    const packets = textResultset(false, [['1', 'a']]);
    for (const pkt of packets) {
      const kind = t.feedHead(pkt, 0, 1, pkt.length);
      if (pkt.length > 1 && kind !== 'row') {
        assert.equal(kind, 'need-full');
        assert.notEqual(t.feed(pkt), 'need-full');
      }
    }
    assert.equal(t.done, true);
    assert.equal(t.rowCount, 1);
  });

  test('LOCAL INFILE request, then the OK after the client data', () => {
    const t = new ResponseTracker({ capabilities: CLASSIC });
    t.begin(C.COM_QUERY);
    assert.equal(t.feed(Buffer.from([0xfb, ...ascii('/etc/passwd')])), 'local-infile');
    assert.equal(t.localInfileName, '/etc/passwd');
    assert.equal(t.done, false);
    assert.equal(t.feed(p(encodeOk({ affectedRows: 0 }, CLASSIC, 3))), 'ok');
    assert.equal(t.done, true);
  });

  test('bad packets are reported as unexpected with a reason', () => {
    const t = new ResponseTracker({ capabilities: CLASSIC });
    t.begin(C.COM_QUERY);
    assert.equal(t.feed(Buffer.alloc(0)), 'unexpected');
    assert.match(t.protocolError?.message ?? '', /^dbtape: empty packet/);
    assert.equal(t.feed(Buffer.from([0])), 'unexpected', 'nothing expected after the end');
    t.begin(C.COM_QUERY);
    assert.equal(t.feed(Buffer.from([0xfe, 1, 2])), 'unexpected');
    t.begin(C.COM_QUERY);
    assert.equal(t.feed(Buffer.from([0x00, 0xfc])), 'unexpected', 'a truncated OK');
    t.begin(C.COM_QUERY);
    run(t, [Buffer.from([1]), colId]);
    assert.equal(t.feed(Buffer.from([0x00, 0x00])), 'unexpected', 'a classic metadata EOF is missing');
  });
});

describe('ResponseTracker: prepared statements and other commands', () => {
  const prepareOk = p(encodePrepareOk({ statementId: 4, columnCount: 2, paramCount: 1, warnings: 0 }, 1));
  const paramDef = p(
    encodeColumnDefinition({ name: '?', charset: 63, columnLength: 0, type: C.MYSQL_TYPE_VAR_STRING }, 0),
  );

  test('COM_STMT_PREPARE response in both framings', () => {
    const classic = new ResponseTracker({ capabilities: CLASSIC });
    classic.begin(C.COM_STMT_PREPARE);
    assert.deepEqual(run(classic, [prepareOk, paramDef, eof(), colId, colName, eof()]), [
      'prepare-ok',
      'param-def',
      'param-eof',
      'column-def',
      'column-def',
      'metadata-eof',
    ]);
    assert.equal(classic.done, true);
    assert.deepEqual(classic.prepareOk, { statementId: 4, columnCount: 2, paramCount: 1, warnings: 0 });
    assert.equal(classic.columns.count, 2, 'keeps the result columns, not the parameters');

    const dep = new ResponseTracker({ capabilities: DEPRECATE });
    dep.begin(C.COM_STMT_PREPARE);
    assert.deepEqual(run(dep, [prepareOk, paramDef, colId, colName]), [
      'prepare-ok',
      'param-def',
      'column-def',
      'column-def',
    ]);
    assert.equal(dep.done, true);

    const none = new ResponseTracker({ capabilities: CLASSIC });
    none.begin(C.COM_STMT_PREPARE);
    none.feed(p(encodePrepareOk({ statementId: 5, columnCount: 0, paramCount: 0, warnings: 0 }, 1)));
    assert.equal(none.done, true);
  });

  const binRow = (id: bigint, name: string | null) => {
    const bitmap = name === null ? 0b1000 : 0;
    const v = Buffer.alloc(8);
    v.writeBigUInt64LE(id);
    return Buffer.from([0x00, bitmap, ...v, ...(name === null ? [] : lenenc(ascii(name)))]);
  };

  test('binary resultset of COM_STMT_EXECUTE and its row decoding', () => {
    const t = new ResponseTracker({ capabilities: DEPRECATE });
    t.begin(C.COM_STMT_EXECUTE);
    assert.equal(t.binary, true);
    const kinds = run(t, [
      Buffer.from([2]),
      colId,
      colName,
      binRow(18446744073709551615n, 'zoë'),
      binRow(2n, null),
      okEof(),
    ]);
    assert.deepEqual(kinds, ['column-count', 'column-def', 'column-def', 'row', 'row', 'ok']);
    const types = t.columns.types();
    assert.ok(types.ok);
    const a = decodeBinaryRow(binRow(18446744073709551615n, 'zoë'), types.value);
    const b = decodeBinaryRow(binRow(2n, null), types.value);
    assert.ok(a.ok && b.ok);
    assert.deepEqual(a.value, ['18446744073709551615', 'zoë']);
    assert.deepEqual(b.value, ['2', null]);
    const bad = new ResponseTracker({ capabilities: DEPRECATE });
    bad.begin(C.COM_STMT_EXECUTE);
    run(bad, [Buffer.from([1]), colId]);
    assert.equal(bad.feed(Buffer.from([0x01, 0x00])), 'unexpected', 'binary rows start with 0x00');
  });

  test('cursor execute: metadata only, rows come with COM_STMT_FETCH', () => {
    const cursorStatus = C.SERVER_STATUS_AUTOCOMMIT | C.SERVER_STATUS_CURSOR_EXISTS;
    const classic = new ResponseTracker({ capabilities: CLASSIC });
    classic.begin(C.COM_STMT_EXECUTE, { cursor: true });
    run(classic, [Buffer.from([1]), colId, eof(cursorStatus)]);
    assert.equal(classic.done, true);
    // MariaDB under DEPRECATE_EOF ends the execute with an OK (0xFE) carrying CURSOR_EXISTS.
    const dep = new ResponseTracker({ capabilities: DEPRECATE });
    dep.begin(C.COM_STMT_EXECUTE, { cursor: true });
    assert.deepEqual(run(dep, [Buffer.from([1]), colId, okEof(cursorStatus)]), [
      'column-count',
      'column-def',
      'ok',
    ]);
    assert.equal(dep.done, true);
    dep.begin(C.COM_STMT_FETCH);
    assert.deepEqual(
      run(dep, [binRow(1n, 'a').subarray(0, 10), okEof(cursorStatus | C.SERVER_STATUS_LAST_ROW_SENT)]),
      ['row', 'ok'],
    );
    assert.equal(dep.done, true);
  });

  test('single-packet responses, statistics, field list and commands without a response', () => {
    const t = new ResponseTracker({ capabilities: CLASSIC });
    t.begin(C.COM_PING);
    assert.equal(t.feed(p(encodeOk({}, CLASSIC, 1))), 'ok');
    assert.equal(t.done, true);
    t.begin(C.COM_SET_OPTION);
    assert.equal(t.feed(eof()), 'eof');
    t.begin(C.COM_INIT_DB);
    assert.equal(t.feed(p(encodeErr({ ...C.ER_BAD_DB_ERROR, message: "Unknown database 'x'" }, 1))), 'err');
    t.begin(C.COM_STATISTICS);
    assert.equal(t.feed(Buffer.from('Uptime: 5  Threads: 1')), 'statistics');
    assert.equal(t.statistics, 'Uptime: 5  Threads: 1');
    t.begin(C.COM_FIELD_LIST);
    assert.deepEqual(run(t, [colId, colName, eof()]), ['column-def', 'column-def', 'eof']);
    assert.equal(t.columns.count, 2);
    const dep = new ResponseTracker({ capabilities: DEPRECATE });
    dep.begin(C.COM_FIELD_LIST);
    assert.deepEqual(run(dep, [colId, okEof()]), ['column-def', 'ok']);
    for (const c of [C.COM_STMT_CLOSE, C.COM_STMT_SEND_LONG_DATA, C.COM_QUIT]) {
      t.begin(c);
      assert.equal(t.done, true);
    }
  });
});

describe('column definitions', () => {
  test('decode fully, lazily by type, and refuse every truncation', () => {
    const full = decodeColumnDefinition(colName);
    assert.ok(full.ok);
    assert.deepEqual(
      { ...full.value, extendedInfo: null },
      {
        schema: '',
        table: 't',
        orgTable: 't',
        name: 'name',
        orgName: 'name',
        charset: C.CHARSET_UTF8MB4_GENERAL_CI,
        columnLength: 400,
        type: C.MYSQL_TYPE_VAR_STRING,
        flags: 0,
        decimals: 0,
        extendedInfo: null,
      },
    );
    const t = decodeColumnType(colId);
    assert.ok(t.ok);
    assert.deepEqual(t.value, {
      charset: 63,
      type: C.MYSQL_TYPE_LONGLONG,
      flags: C.UNSIGNED_FLAG | C.NOT_NULL_FLAG,
      decimals: 0,
    });
    for (let len = 0; len < colName.length - 2; len++) {
      assert.equal(decodeColumnDefinition(colName.subarray(0, len)).ok, false, `length ${len}`);
      assert.equal(decodeColumnType(colName.subarray(0, len)).ok, false, `length ${len}`);
    }
  });

  test('MariaDB extended metadata adds one lenenc field after org_name', () => {
    const at = colName.length - 13; // lenenc 0x0C + the 12 bytes of fixed fields
    const withExt = Buffer.concat([
      colName.subarray(0, at),
      Buffer.from([4, ...ascii('json')]),
      colName.subarray(at),
    ]);
    const d = decodeColumnDefinition(withExt, true);
    assert.ok(d.ok);
    assert.equal(d.value.extendedInfo?.toString(), 'json');
    assert.equal(d.value.type, C.MYSQL_TYPE_VAR_STRING);
    const t = decodeColumnType(withExt, true);
    assert.ok(t.ok);
    assert.equal(t.value.charset, C.CHARSET_UTF8MB4_GENERAL_CI);
  });
});

describe('rows: scanning and rewriting for masking', () => {
  test('text rows truncated at every length are error values', () => {
    const row = textRow('1', null, 'abc', 'x'.repeat(300));
    for (let len = 0; len < row.length; len++) {
      assert.equal(
        decodeTextRow(row.subarray(0, len), ['utf8', 'utf8', 'utf8', 'utf8']).ok,
        false,
        `length ${len}`,
      );
    }
    const long = decodeTextRow(row, ['utf8', 'utf8', 'utf8', 'utf8'], { maxValueBytes: 5 });
    assert.ok(long.ok);
    assert.equal(long.value[3], 'xxxxx... [truncated, 300 bytes]');
  });

  test('text row fields are located and rewritten with fixed-up lengths', () => {
    const row = textRow('1', 'alice@example.com', null, 'x'.repeat(300));
    const f = newRowFields(4);
    assert.equal(scanTextRow(row, f), true);
    assert.equal(f.dataStart[2], -1);
    const masked = rewriteRowFields(row, f, new Map([[1, Buffer.from('*****')]]));
    const d = decodeTextRow(masked, ['utf8', 'utf8', 'utf8', 'utf8']);
    assert.ok(d.ok);
    assert.deepEqual(d.value, ['1', '*****', null, 'x'.repeat(300)]);
    const longer = rewriteRowFields(row, f, new Map([[0, Buffer.alloc(300, 0x61)]]));
    const d2 = decodeTextRow(longer, ['utf8', 'utf8', 'utf8', 'utf8']);
    assert.ok(d2.ok);
    assert.equal(d2.value[0]?.length, 300);
    assert.throws(() => rewriteRowFields(row, f, new Map([[2, Buffer.from('no')]])), /not a rewritable/);
    assert.equal(scanTextRow(row.subarray(0, row.length - 1), f), false, 'truncated');
    assert.equal(scanTextRow(Buffer.concat([row, Buffer.from([0])]), f), false, 'extra column');
  });

  test('binary row string fields are rewritable, fixed-size ones are not', () => {
    const cols = [
      { type: C.MYSQL_TYPE_LONGLONG, flags: 0, charset: 63, decimals: 0 },
      { type: C.MYSQL_TYPE_VAR_STRING, flags: 0, charset: 45, decimals: 0 },
      { type: C.MYSQL_TYPE_DATETIME, flags: 0, charset: 63, decimals: 0 },
      { type: C.MYSQL_TYPE_VAR_STRING, flags: 0, charset: 45, decimals: 0 },
    ];
    const row = Buffer.from([
      0x00,
      0b100000, // column 3 is NULL (bit 3 + 2)
      ...[7, 0, 0, 0, 0, 0, 0, 0],
      ...lenenc(ascii('4111 1111 1111 1111')),
      ...[4, 0xe8, 0x07, 1, 2],
    ]);
    const f = newRowFields(4);
    assert.equal(scanBinaryRow(row, cols, f), true);
    assert.deepEqual([...f.lenenc], [0, 1, 0, 0]);
    const masked = rewriteRowFields(row, f, new Map([[1, Buffer.from('XXXX')]]));
    const d = decodeBinaryRow(masked, cols);
    assert.ok(d.ok);
    assert.deepEqual(d.value, ['7', 'XXXX', '2024-01-02 00:00:00', null]);
    assert.equal(scanBinaryRow(row.subarray(0, 12), cols, f), false);
    for (let len = 0; len < row.length; len++)
      assert.equal(decodeBinaryRow(row.subarray(0, len), cols).ok, false);
  });

  test('a blob column in a text row renders as hex', () => {
    const t = new ResponseTracker({ capabilities: DEPRECATE });
    t.begin(C.COM_QUERY);
    run(t, [Buffer.from([1]), colBlob]);
    const enc = t.columns.encodings();
    assert.ok(enc.ok);
    const d = decodeTextRow(p(encodeTextRow([Buffer.from([1, 2, 0xff])], 0)), enc.value);
    assert.ok(d.ok);
    assert.deepEqual(d.value, ['0x0102ff']);
  });
});

/** Run an upstream response through translateEof, producing what the client receives. */
function translate(
  packets: Buffer[],
  command: number,
  upstreamCaps: number,
  clientCaps: number,
  cursor = false,
) {
  const t = new ResponseTracker({ capabilities: upstreamCaps });
  // The session's status so far (an inserted EOF carries the latest known status flags).
  t.begin(C.COM_PING);
  t.feed(p(encodeOk({ statusFlags: C.SERVER_STATUS_AUTOCOMMIT }, upstreamCaps, 1)));
  t.begin(command, { cursor });
  return packets.flatMap((pkt) => translateEof(t, t.feed(pkt), pkt, clientCaps));
}

describe('translateEof: client and upstream disagree on CLIENT_DEPRECATE_EOF', () => {
  const rows = [
    ['1', 'a'],
    ['2', 'b'],
  ];
  const hex = (bufs: Buffer[]) => bufs.map((b) => b.toString('hex'));

  test('classic upstream to a DEPRECATE_EOF client and back give the native framing', () => {
    assert.deepEqual(
      hex(translate(textResultset(false, rows), C.COM_QUERY, CLASSIC, DEPRECATE)),
      hex(textResultset(true, rows)),
    );
    assert.deepEqual(
      hex(translate(textResultset(true, rows), C.COM_QUERY, DEPRECATE, CLASSIC)),
      hex(textResultset(false, rows)),
    );
  });

  test('empty resultsets, prepare responses and cursors', () => {
    assert.deepEqual(
      hex(translate(textResultset(true, []), C.COM_QUERY, DEPRECATE, CLASSIC)),
      hex(textResultset(false, [])),
    );
    assert.deepEqual(
      hex(translate(textResultset(false, []), C.COM_QUERY, CLASSIC, DEPRECATE)),
      hex(textResultset(true, [])),
    );
    const prepOk = p(encodePrepareOk({ statementId: 1, columnCount: 1, paramCount: 1, warnings: 0 }, 1));
    const param = p(encodeColumnDefinition({ name: '?', charset: 63, columnLength: 0, type: 253 }, 0));
    assert.deepEqual(
      hex(translate([prepOk, param, colId], C.COM_STMT_PREPARE, DEPRECATE, CLASSIC)),
      hex([prepOk, param, eof(), colId, eof()]),
    );
    assert.deepEqual(
      hex(translate([prepOk, param, eof(), colId, eof()], C.COM_STMT_PREPARE, CLASSIC, DEPRECATE)),
      hex([prepOk, param, colId]),
    );
    const cursor = C.SERVER_STATUS_AUTOCOMMIT | C.SERVER_STATUS_CURSOR_EXISTS;
    assert.deepEqual(
      hex(translate([Buffer.from([1]), colId, okEof(cursor)], C.COM_STMT_EXECUTE, DEPRECATE, CLASSIC, true)),
      hex([Buffer.from([1]), colId, eof(cursor)]),
    );
    assert.deepEqual(
      hex(translate([Buffer.from([1]), colId, eof(cursor)], C.COM_STMT_EXECUTE, CLASSIC, DEPRECATE, true)),
      hex([Buffer.from([1]), colId, okEof(cursor)]),
    );
  });

  test('agreeing sides forward everything', () => {
    const packets = textResultset(true, rows);
    assert.deepEqual(hex(translate(packets, C.COM_QUERY, DEPRECATE, DEPRECATE)), hex(packets));
    const t = new ResponseTracker({ capabilities: CLASSIC });
    t.begin(C.COM_QUERY);
    assert.equal(eofAction(t, t.feed(Buffer.from([1])), false), 'forward');
  });
});
