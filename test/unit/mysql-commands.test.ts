import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { decodeCommand } from '../../src/protocol/mysql/commands.js';
import * as C from '../../src/protocol/mysql/constants.js';
import { encodeLenencInt } from '../../src/protocol/mysql/lenenc.js';
import {
  decodePrepareOk,
  encodePrepareOk,
  LAST_PREPARED_STATEMENT_ID,
  StatementRegistry,
} from '../../src/protocol/mysql/statements.js';
import { decodeStmtExecute, peekStatementId } from '../../src/protocol/mysql/stmt-execute.js';

const P41 = C.CLIENT_PROTOCOL_41;
const ATTRS = (C.CLIENT_PROTOCOL_41 | C.CLIENT_QUERY_ATTRIBUTES) >>> 0;
const ascii = (s: string) => [...Buffer.from(s)];
const u16 = (n: number) => [n & 0xff, (n >> 8) & 0xff];
const u32 = (n: number) => [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
const lenenc = (b: number[]) => [...encodeLenencInt(b.length), ...b];
const cmd = (...bytes: number[]) => Buffer.from(bytes);

describe('decodeCommand', () => {
  test('each inspected command from hand-built bytes', () => {
    const cases: [Buffer, unknown][] = [
      [cmd(0x03, ...ascii('SELECT 1')), { name: 'COM_QUERY', sql: 'SELECT 1', attributes: [] }],
      [cmd(0x16, ...ascii('SELECT ?')), { name: 'COM_STMT_PREPARE', sql: 'SELECT ?' }],
      [cmd(0x17, ...u32(7), 0, ...u32(1)), { name: 'COM_STMT_EXECUTE', statementId: 7 }],
      [
        cmd(0x18, ...u32(7), ...u16(1), ...ascii('chunk')),
        { name: 'COM_STMT_SEND_LONG_DATA', statementId: 7, paramId: 1, data: Buffer.from('chunk') },
      ],
      [cmd(0x19, ...u32(9)), { name: 'COM_STMT_CLOSE', statementId: 9 }],
      [cmd(0x1a, ...u32(9)), { name: 'COM_STMT_RESET', statementId: 9 }],
      [cmd(0x1c, ...u32(9), ...u32(100)), { name: 'COM_STMT_FETCH', statementId: 9, numRows: 100 }],
      [cmd(0x02, ...ascii('app')), { name: 'COM_INIT_DB', schema: 'app' }],
      [cmd(0x04, ...ascii('t1'), 0, ...ascii('a%')), { name: 'COM_FIELD_LIST', table: 't1', wildcard: 'a%' }],
      [cmd(0x1b, ...u16(1)), { name: 'COM_SET_OPTION', option: C.MYSQL_OPTION_MULTI_STATEMENTS_OFF }],
      [cmd(0x0c, ...u32(42)), { name: 'COM_PROCESS_KILL', connectionId: 42 }],
      [cmd(0x11, ...ascii('mallory'), 0, 0), { name: 'COM_CHANGE_USER', username: 'mallory' }],
      [cmd(0x01), { name: 'COM_QUIT' }],
      [cmd(0x0e), { name: 'COM_PING' }],
      [cmd(0x09), { name: 'COM_STATISTICS' }],
      [cmd(0x1f), { name: 'COM_RESET_CONNECTION' }],
      [cmd(0x0d), { name: 'COM_DEBUG' }],
    ];
    for (const [bytes, expected] of cases) {
      const r = decodeCommand(bytes, { capabilities: P41 });
      assert.ok(r.ok, `${bytes.toString('hex')}: ${r.ok ? '' : r.error.message}`);
      assert.deepEqual(r.value, expected);
    }
  });

  test('a zero-length command is a malformed-packet error', () => {
    const r = decodeCommand(Buffer.alloc(0), { capabilities: P41 });
    assert.equal(r.ok, false);
    if (!r.ok) {
      assert.equal(r.error.code, 'DBTAPE_MYSQL_MALFORMED');
      assert.match(r.error.message, /^dbtape: empty command packet/);
    }
  });

  test('unknown command bytes are identified, not decoded', () => {
    for (const code of [0x12, 0x1e, 0x20, 0x7f, 0xfa, 0xff]) {
      const r = decodeCommand(cmd(code, 1, 2, 3), { capabilities: P41 });
      assert.ok(r.ok);
      assert.equal(r.value.name, 'unknown');
      if (r.value.name === 'unknown') {
        assert.equal(r.value.code, code);
        assert.match(r.value.label, /^COM_/);
      }
    }
  });

  test('fixed-size commands truncated at every length are error values', () => {
    const full = [
      cmd(0x17, ...u32(7)),
      cmd(0x18, ...u32(7), ...u16(1)),
      cmd(0x19, ...u32(9)),
      cmd(0x1a, ...u32(9)),
      cmd(0x1c, ...u32(9), ...u32(1)),
      cmd(0x1b, ...u16(1)),
      cmd(0x0c, ...u32(1)),
      cmd(0x04, ...ascii('t'), 0),
    ];
    for (const bytes of full) {
      for (let len = 1; len < bytes.length; len++) {
        const r = decodeCommand(bytes.subarray(0, len), { capabilities: P41 });
        assert.equal(r.ok, false, `${bytes.toString('hex')} cut to ${len}`);
      }
    }
  });

  test('COM_QUERY with query attributes (CLIENT_QUERY_ATTRIBUTES)', () => {
    const bytes = cmd(
      0x03,
      2, // parameter_count
      1, // parameter_set_count
      0b10, // NULL bitmap: second attribute is NULL
      1, // new_params_bind_flag
      C.MYSQL_TYPE_VAR_STRING,
      0,
      ...lenenc(ascii('trace_id')),
      C.MYSQL_TYPE_LONGLONG,
      0,
      ...lenenc(ascii('n')),
      ...lenenc(ascii('abc-123')),
      ...ascii('SELECT 1'),
    );
    const r = decodeCommand(bytes, { capabilities: ATTRS });
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    assert.deepEqual(r.value, {
      name: 'COM_QUERY',
      sql: 'SELECT 1',
      attributes: [
        { name: 'trace_id', type: C.MYSQL_TYPE_VAR_STRING, value: 'abc-123' },
        { name: 'n', type: C.MYSQL_TYPE_LONGLONG, value: null },
      ],
    });
    const none = decodeCommand(cmd(0x03, 0, 1, ...ascii('SELECT 2')), { capabilities: ATTRS });
    assert.ok(none.ok);
    assert.equal(none.ok && none.value.name === 'COM_QUERY' && none.value.sql, 'SELECT 2');
    const cut = decodeCommand(bytes.subarray(0, 12), { capabilities: ATTRS });
    assert.equal(cut.ok, false);
  });
});

describe('COM_STMT_PREPARE_OK', () => {
  test('hand-built bytes, round trip, truncation', () => {
    const bytes = Buffer.from([0x00, ...u32(5), ...u16(2), ...u16(3), 0, ...u16(1)]);
    const r = decodePrepareOk(bytes);
    assert.ok(r.ok);
    assert.deepEqual(r.value, { statementId: 5, columnCount: 2, paramCount: 3, warnings: 1 });
    assert.deepEqual(encodePrepareOk(r.value, 1).subarray(4), bytes);
    for (let len = 0; len < 9; len++) assert.equal(decodePrepareOk(bytes.subarray(0, len)).ok, false);
    assert.equal(decodePrepareOk(Buffer.from([0xff, 0, 0])).ok, false);
  });
});

interface Param {
  type: number;
  unsigned?: boolean;
  value: number[] | null;
}

function execute(id: number, params: Param[], bind = true, flags = 0): Buffer {
  const bitmap = new Array((params.length + 7) >> 3).fill(0);
  params.forEach((p, i) => {
    if (p.value === null) bitmap[i >> 3] |= 1 << (i & 7);
  });
  const types = bind ? params.flatMap((p) => [p.type, p.unsigned ? 0x80 : 0]) : [];
  const values = params.flatMap((p) => p.value ?? []);
  const head = [0x17, ...u32(id), flags, ...u32(1)];
  return Buffer.from(params.length === 0 ? head : [...head, ...bitmap, bind ? 1 : 0, ...types, ...values]);
}

function registryWith(paramCount: number, id = 1) {
  const reg = new StatementRegistry();
  const stmt = reg.add({ statementId: id, columnCount: 0, paramCount, warnings: 0 }, 'INSERT ...');
  return { reg, stmt };
}

const f32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeFloatLE(n);
  return [...b];
};
const f64 = (n: number) => {
  const b = Buffer.alloc(8);
  b.writeDoubleLE(n);
  return [...b];
};
const i64 = (n: bigint) => {
  const b = Buffer.alloc(8);
  b.writeBigUInt64LE(BigInt.asUintN(64, n));
  return [...b];
};

describe('COM_STMT_EXECUTE', () => {
  const typed: [Param, string | null][] = [
    [{ type: C.MYSQL_TYPE_TINY, value: [0xff] }, '-1'],
    [{ type: C.MYSQL_TYPE_TINY, unsigned: true, value: [0xff] }, '255'],
    [{ type: C.MYSQL_TYPE_SHORT, value: [0x00, 0x80] }, '-32768'],
    [{ type: C.MYSQL_TYPE_SHORT, unsigned: true, value: [0x00, 0x80] }, '32768'],
    [{ type: C.MYSQL_TYPE_YEAR, value: [0xe8, 0x07] }, '2024'],
    [{ type: C.MYSQL_TYPE_LONG, value: u32(0xfffffffe) }, '-2'],
    [{ type: C.MYSQL_TYPE_LONG, unsigned: true, value: u32(0xfffffffe) }, '4294967294'],
    [{ type: C.MYSQL_TYPE_INT24, value: u32(70000) }, '70000'],
    [{ type: C.MYSQL_TYPE_LONGLONG, value: i64(-5n) }, '-5'],
    [{ type: C.MYSQL_TYPE_LONGLONG, unsigned: true, value: i64(-1n) }, '18446744073709551615'],
    [{ type: C.MYSQL_TYPE_FLOAT, value: f32(1.1) }, '1.1'],
    [{ type: C.MYSQL_TYPE_DOUBLE, value: f64(-2.5e-7) }, '-2.5e-7'],
    [{ type: C.MYSQL_TYPE_NEWDECIMAL, value: lenenc(ascii('-12.340')) }, '-12.340'],
    [{ type: C.MYSQL_TYPE_DECIMAL, value: lenenc(ascii('1')) }, '1'],
    [{ type: C.MYSQL_TYPE_VAR_STRING, value: lenenc(ascii('héllo')) }, 'héllo'],
    [{ type: C.MYSQL_TYPE_STRING, value: lenenc([]) }, ''],
    [{ type: C.MYSQL_TYPE_BLOB, value: lenenc([0xde, 0xad, 0xbe, 0xef]) }, '0xdeadbeef'],
    [{ type: C.MYSQL_TYPE_LONG_BLOB, value: lenenc(ascii('text in a blob')) }, 'text in a blob'],
    [{ type: C.MYSQL_TYPE_DATE, value: [4, ...u16(2024), 2, 29] }, '2024-02-29'],
    [{ type: C.MYSQL_TYPE_DATE, value: [0] }, '0000-00-00'],
    [{ type: C.MYSQL_TYPE_DATETIME, value: [7, ...u16(2024), 12, 31, 23, 59, 58] }, '2024-12-31 23:59:58'],
    [{ type: C.MYSQL_TYPE_DATETIME, value: [4, ...u16(2024), 1, 2] }, '2024-01-02 00:00:00'],
    [
      { type: C.MYSQL_TYPE_TIMESTAMP, value: [11, ...u16(2001), 2, 3, 4, 5, 6, ...u32(7000)] },
      '2001-02-03 04:05:06.007000',
    ],
    [{ type: C.MYSQL_TYPE_TIME, value: [8, 1, ...u32(1), 2, 3, 4] }, '-26:03:04'],
    [{ type: C.MYSQL_TYPE_TIME, value: [12, 0, ...u32(0), 10, 0, 0, ...u32(500000)] }, '10:00:00.500000'],
    [{ type: C.MYSQL_TYPE_TIME, value: [0] }, '00:00:00'],
    [{ type: C.MYSQL_TYPE_VAR_STRING, value: null }, null],
    [{ type: C.MYSQL_TYPE_NULL, value: null }, null],
  ];

  test('decodes every parameter type to text', () => {
    const params = typed.map(([p]) => p);
    const { stmt } = registryWith(params.length);
    const r = decodeStmtExecute(execute(1, params), stmt, { capabilities: P41 });
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    assert.deepEqual(
      r.value.params,
      typed.map(([, text]) => text),
    );
    assert.equal(r.value.newParamsBound, true);
    assert.equal(r.value.paramTypes.length, params.length);
  });

  test('each parameter type truncated at every length is an error value', () => {
    for (const [p] of typed) {
      if (p.value === null || p.value.length === 0) continue;
      const { stmt } = registryWith(1);
      const full = execute(1, [p]);
      for (let len = 0; len < full.length; len++) {
        const r = decodeStmtExecute(full.subarray(0, len), stmt, { capabilities: P41 });
        assert.equal(r.ok, false, `type 0x${p.type.toString(16)} cut to ${len}`);
      }
    }
  });

  test('a later execute without types uses the remembered ones', () => {
    const { stmt } = registryWith(2);
    const params: Param[] = [
      { type: C.MYSQL_TYPE_LONG, value: u32(1) },
      { type: C.MYSQL_TYPE_VAR_STRING, value: lenenc(ascii('a')) },
    ];
    assert.ok(decodeStmtExecute(execute(1, params), stmt, { capabilities: P41 }).ok);
    const again: Param[] = [
      { type: 0, value: u32(2) },
      { type: 0, value: lenenc(ascii('b')) },
    ];
    const r = decodeStmtExecute(execute(1, again, false), stmt, { capabilities: P41 });
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    assert.deepEqual(r.value.params, ['2', 'b']);
    assert.equal(r.value.newParamsBound, false);
  });

  test('an execute without types and nothing remembered is a typed error', () => {
    const { stmt } = registryWith(1);
    const r = decodeStmtExecute(execute(1, [{ type: 0, value: u32(1) }], false), stmt, { capabilities: P41 });
    assert.equal(r.ok, false);
    if (!r.ok) assert.match(r.error.message, /without types/);
  });

  test('a short NULL bitmap is a typed error', () => {
    const { stmt } = registryWith(9); // needs a 2-byte bitmap
    const bytes = Buffer.from([0x17, ...u32(1), 0, ...u32(1), 0x00]);
    const r = decodeStmtExecute(bytes, stmt, { capabilities: P41 });
    assert.equal(r.ok, false);
    if (!r.ok) assert.equal(r.error.code, 'DBTAPE_MYSQL_TRUNCATED');
  });

  test('no parameters: nothing after the iteration count', () => {
    const { stmt } = registryWith(0);
    const r = decodeStmtExecute(execute(1, []), stmt, { capabilities: P41 });
    assert.ok(r.ok);
    assert.deepEqual(r.value.params, []);
    assert.equal(peekStatementId(execute(77, [])), 77);
    assert.equal(peekStatementId(Buffer.from([0x17, 1])), null);
  });

  test('long data replaces a parameter value and is forgotten after the execute', () => {
    const { stmt } = registryWith(2);
    stmt.addLongData(0, Buffer.from('part one, '));
    stmt.addLongData(0, Buffer.from('part two'));
    const params: Param[] = [
      { type: C.MYSQL_TYPE_BLOB, value: [] }, // no value in the packet: it came as long data
      { type: C.MYSQL_TYPE_TINY, value: [5] },
    ];
    const r = decodeStmtExecute(execute(1, params), stmt, { capabilities: P41 });
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    assert.deepEqual(r.value.params, ['part one, part two', '5']);
    assert.equal(stmt.hasLongData, false);
  });

  test('long data beyond the kept limit is cut with a marker', () => {
    const reg = new StatementRegistry();
    const stmt = reg.add({ statementId: 3, columnCount: 0, paramCount: 1, warnings: 0 }, 'x', 4);
    stmt.addLongData(0, Buffer.from('abcdefgh'));
    assert.equal(stmt.longDataText(0), 'abcd... [truncated, 8 bytes]');
  });

  test('long data cut on a UTF-8 sequence stays text; a chunk known only by its start counts whole', () => {
    const reg = new StatementRegistry();
    const stmt = reg.add({ statementId: 4, columnCount: 0, paramCount: 2, warnings: 0 }, 'x', 5);
    stmt.addLongData(0, Buffer.from('abcd\u00e9fg'));
    assert.equal(stmt.longDataText(0), 'abcd... [truncated, 8 bytes]');
    stmt.addLongData(1, Buffer.from('xyz'), 3000);
    assert.equal(stmt.longDataText(1), 'xyz... [truncated, 3000 bytes]');
  });

  test('a binary parameter cut for the recording keeps its first bytes as hex', () => {
    const { stmt } = registryWith(1);
    const p: Param = { type: C.MYSQL_TYPE_BLOB, value: lenenc(Array(10).fill(0xab)) };
    const r = decodeStmtExecute(execute(1, [p]), stmt, { capabilities: P41, maxValueBytes: 4 });
    assert.ok(r.ok);
    assert.deepEqual(r.value.params, ['0xabababab... [truncated, 10 bytes]']);
  });

  test('maxValueBytes cuts long string parameters for the recording', () => {
    const { stmt } = registryWith(1);
    const p: Param = { type: C.MYSQL_TYPE_VAR_STRING, value: lenenc(ascii('0123456789')) };
    const r = decodeStmtExecute(execute(1, [p]), stmt, { capabilities: P41, maxValueBytes: 4 });
    assert.ok(r.ok);
    assert.deepEqual(r.value.params, ['0123... [truncated, 10 bytes]']);
  });

  test('query attributes after the statement parameters (MySQL 8)', () => {
    const { stmt } = registryWith(1);
    const bytes = Buffer.from([
      0x17,
      ...u32(1),
      0,
      ...u32(1),
      2, // parameter_count: 1 parameter + 1 attribute
      0,
      1,
      C.MYSQL_TYPE_LONG,
      0,
      0, // unnamed parameter
      C.MYSQL_TYPE_VAR_STRING,
      0,
      ...lenenc(ascii('app')),
      ...u32(9),
      ...lenenc(ascii('billing')),
    ]);
    const r = decodeStmtExecute(bytes, stmt, { capabilities: ATTRS });
    assert.ok(r.ok, r.ok ? '' : r.error.message);
    assert.deepEqual(r.value.params, ['9']);
    assert.deepEqual(r.value.attributes, [{ name: 'app', type: C.MYSQL_TYPE_VAR_STRING, value: 'billing' }]);
  });

  test('registry: ids, MariaDB -1 for the last prepared, close and reset', () => {
    const reg = new StatementRegistry();
    reg.add({ statementId: 1, columnCount: 1, paramCount: 0, warnings: 0 }, 'a');
    reg.add({ statementId: 2, columnCount: 1, paramCount: 1, warnings: 0 }, 'b');
    assert.equal(reg.get(LAST_PREPARED_STATEMENT_ID)?.sql, 'b');
    assert.equal(reg.get(1)?.sql, 'a');
    assert.equal(reg.get(3), undefined);
    reg.delete(2);
    assert.equal(reg.get(LAST_PREPARED_STATEMENT_ID), undefined);
    assert.equal(reg.size, 1);
    reg.clear();
    assert.equal(reg.size, 0);
  });
});
