// The binary protocol's less common paths through dbtape against the machine's MariaDB, with
// hand-built packets: cursors (COM_STMT_FETCH), COM_STMT_SEND_LONG_DATA, MariaDB's pipelined
// PREPARE + EXECUTE(-1), and the protocol commands (COM_FIELD_LIST, COM_STATISTICS, COM_INIT_DB,
// COM_SET_OPTION, COM_RESET_CONNECTION, COM_PING): each answered as the server answers it, each
// recorded. Then the CLI reads the recordings back (replay, search).
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import type { SessionEvent } from '../../src/model/session.js';
import * as M from '../../src/protocol/mysql/index.js';
import { DBTAPE_BIN } from '../support/dbtape-process.js';
import { run } from '../support/exec.js';
import {
  errOf,
  type MysqlProxy,
  queryPayload,
  RawMysql,
  type RawPacket,
  Recorded,
  requireMachineMariaDb,
  startMysqlProxy,
  uniqueName,
} from '../support/mysql-fixtures.js';
import { waitFor } from '../support/wait.js';

let proxy: MysqlProxy;
let recorded: Recorded;

before(async () => {
  await requireMachineMariaDb();
  // These tests create tables: an admin role, which the access policy does not check.
  proxy = await startMysqlProxy({ capture: 'rows', role: { access: 'admin' } });
  recorded = new Recorded(proxy.storeUrl);
});

after(async () => {
  await recorded?.close();
  await proxy?.close();
});

async function loggedIn(charset?: number): Promise<{ raw: RawMysql; id: number }> {
  const raw = await RawMysql.connect(proxy.port);
  const { greeting, answer } = await raw.login(undefined, undefined, undefined, charset);
  assert.equal(answer.payload[0], M.OK_HEADER);
  return { raw, id: greeting.connectionId };
}

async function prepare(raw: RawMysql, sql: string): Promise<M.PrepareOk> {
  raw.command(Buffer.concat([Buffer.from([M.COM_STMT_PREPARE]), Buffer.from(sql)]));
  const packets = await raw.response(M.COM_STMT_PREPARE);
  const ok = M.decodePrepareOk(packets[0].payload);
  assert.ok(ok.ok, `prepare failed: ${packets[0].payload.toString('latin1', 9)}`);
  return ok.value;
}

/** COM_STMT_EXECUTE with VAR_STRING parameters (null: SQL NULL; undefined: sent as long data). */
function execute(id: number, params: readonly (string | null | undefined)[], flags = 0): Buffer {
  const w = new M.PacketWriter(64).u8(M.COM_STMT_EXECUTE).u32(id).u8(flags).u32(1);
  if (params.length > 0) {
    const bitmap = Buffer.alloc((params.length + 7) >> 3);
    params.forEach((p, i) => {
      if (p === null) bitmap[i >> 3] |= 1 << (i & 7);
    });
    w.bytes(bitmap).u8(1);
    for (let i = 0; i < params.length; i++) w.u8(M.MYSQL_TYPE_VAR_STRING).u8(0);
    for (const p of params) if (typeof p === 'string') w.lenencString(p);
  }
  return w.payload();
}

/** The values of binary rows among `packets` (all columns as VAR_STRING-ish text, NULL as null). */
function textOfBinaryRows(packets: readonly RawPacket[], columns: number): string[][] {
  return packets
    .filter((p) => p.payload[0] === 0x00 && p.payload.length > 1 && !M.isEofPacket(p.payload))
    .map((p) => {
      const types = Array.from({ length: columns }, () => ({
        type: M.MYSQL_TYPE_LONGLONG,
        flags: M.UNSIGNED_FLAG,
        charset: 63,
        decimals: 0,
      }));
      const r = M.decodeBinaryRow(p.payload, types);
      assert.ok(r.ok);
      return r.value as string[];
    });
}

async function sessionEvents(id: string): Promise<SessionEvent[]> {
  return waitFor(
    async () => {
      const events = await recorded.events(id);
      return events.some((e) => e.kind === 'end') ? events : null;
    },
    { what: 'the session to be recorded to its end' },
  );
}

async function sessionOf(marker: string): Promise<string> {
  const { id } = await recorded.sessionWith(marker);
  return id;
}

test('a cursor: the execute opens it, COM_STMT_FETCH reads it in pieces; all recorded', async () => {
  const { raw } = await loggedIn();
  const marker = uniqueName('cursor');
  const stmt = await prepare(raw, `SELECT seq FROM seq_1_to_10 WHERE '${marker}' <> ''`);
  raw.command(execute(stmt.statementId, [], M.CURSOR_TYPE_READ_ONLY));
  const opened = await raw.response(M.COM_STMT_EXECUTE, { cursor: true });
  const last = opened.at(-1)!;
  assert.ok(last.payload[0] === M.EOF_HEADER, 'the execute ends after the metadata');
  const got: string[] = [];
  for (let i = 0; i < 3; i++) {
    raw.command(new M.PacketWriter(16).u8(M.COM_STMT_FETCH).u32(stmt.statementId).u32(4).payload());
    const packets = await raw.response(M.COM_STMT_FETCH);
    for (const row of textOfBinaryRows(packets, 1)) got.push(row[0]);
  }
  assert.deepEqual(got, ['1', '2', '3', '4', '5', '6', '7', '8', '9', '10']);
  raw.command(Buffer.from([M.COM_QUIT]));
  await raw.waitClosed();

  const events = await sessionEvents(await sessionOf(marker));
  const results = events
    .filter((e) => e.kind === 'result')
    .map((e) => (e.kind === 'result' ? [e.tag, e.rows] : []));
  assert.deepEqual(results, [
    ['CURSOR', null],
    ['FETCH', 4],
    ['FETCH', 4],
    ['FETCH', 2],
  ]);
});

test('COM_STMT_SEND_LONG_DATA: the parameter is recorded as sent in pieces', async () => {
  const { raw } = await loggedIn();
  const marker = uniqueName('long');
  const stmt = await prepare(raw, `SELECT CONCAT(?, '${marker}') AS v`);
  for (const piece of ['hello ', 'long ', 'world ']) {
    raw.command(
      Buffer.concat([
        new M.PacketWriter(8).u8(M.COM_STMT_SEND_LONG_DATA).u32(stmt.statementId).u16(0).payload(),
        Buffer.from(piece),
      ]),
    );
  }
  raw.command(execute(stmt.statementId, [undefined]));
  const packets = await raw.response(M.COM_STMT_EXECUTE);
  assert.ok(packets.some((p) => p.payload.includes(Buffer.from(`hello long world ${marker}`))));
  raw.close();
  const events = await sessionEvents(await sessionOf(marker));
  const q = events.find((e) => e.kind === 'query' && e.sql.includes(marker));
  assert.deepEqual(q?.kind === 'query' && q.params, ['hello long world ']);
});

test('COM_STMT_SEND_LONG_DATA too big to hold: the recorded parameter says it was cut, and its full size', async () => {
  const { raw } = await loggedIn();
  const marker = uniqueName('longbig');
  const stmt = await prepare(raw, `SELECT LENGTH(?) AS n, '${marker}' AS m`);
  // Over the 1 MiB dbtape holds whole: the chunk streams through with only its start kept.
  const size = 2 * 1024 * 1024;
  raw.command(
    Buffer.concat([
      new M.PacketWriter(8).u8(M.COM_STMT_SEND_LONG_DATA).u32(stmt.statementId).u16(0).payload(),
      Buffer.alloc(size, 'x'),
    ]),
  );
  raw.command(execute(stmt.statementId, [undefined]));
  const packets = await raw.response(M.COM_STMT_EXECUTE);
  assert.ok(packets.some((p) => p.payload.includes(Buffer.from(marker))));
  raw.close();
  const events = await sessionEvents(await sessionOf(marker));
  const q = events.find((e) => e.kind === 'query' && e.sql.includes(marker));
  assert.ok(q?.kind === 'query' && q.params?.[0] != null);
  assert.match(q.params[0], new RegExp(`^x+\\.\\.\\. \\[truncated, ${size} bytes\\]$`));
});

test("MariaDB's pipelined PREPARE + EXECUTE(-1) is decoded once the prepare is answered", async () => {
  const { raw } = await loggedIn();
  const marker = uniqueName('pipelined');
  const sql = `SELECT CONCAT(?, ?) AS v, '${marker}' AS m`;
  raw.write(
    Buffer.concat([
      M.framePayload(Buffer.concat([Buffer.from([M.COM_STMT_PREPARE]), Buffer.from(sql)]), 0).bytes,
      M.framePayload(execute(0xffffffff, ['4', '2']), 0).bytes,
    ]),
  );
  await raw.response(M.COM_STMT_PREPARE);
  const packets = await raw.response(M.COM_STMT_EXECUTE);
  assert.ok(packets.some((p) => p.payload.includes(Buffer.from('42'))));
  raw.close();
  const events = await sessionEvents(await sessionOf(marker));
  const q = events.find((e) => e.kind === 'query' && e.sql === sql);
  assert.ok(q?.kind === 'query');
  assert.deepEqual(q.params, ['4', '2']);
  assert.equal(q.via, 'prepared');
});

test('protocol commands are answered by the server and recorded as commands', async () => {
  const { raw } = await loggedIn();
  const table = uniqueName('fl');
  raw.command(queryPayload(`CREATE TEMPORARY TABLE ${table} (a INT, b TEXT)`));
  await raw.response(M.COM_QUERY);

  raw.command(Buffer.concat([Buffer.from([M.COM_FIELD_LIST]), Buffer.from(`${table}\0`)]));
  const fields = await raw.response(M.COM_FIELD_LIST);
  assert.equal(fields.length, 3, 'two column definitions and an EOF');

  raw.command(Buffer.from([M.COM_STATISTICS]));
  const [stats] = await raw.response(M.COM_STATISTICS);
  assert.match(stats.payload.toString(), /^Uptime: \d+/);

  for (const payload of [
    Buffer.from([M.COM_SET_OPTION, 0, 0]),
    Buffer.concat([Buffer.from([M.COM_INIT_DB]), Buffer.from('test')]),
    Buffer.from([M.COM_PING]),
    Buffer.from([M.COM_RESET_CONNECTION]),
  ]) {
    raw.command(payload);
    const [answer] = await raw.response(payload[0]);
    assert.notEqual(answer.payload[0], M.ERR_HEADER, `${M.commandName(payload[0])} failed`);
  }
  raw.command(Buffer.from([M.COM_QUIT]));
  await raw.waitClosed();

  const events = await sessionEvents(await sessionOf(table));
  const commands = events
    .filter((e) => e.kind === 'command')
    .map((e) => (e.kind === 'command' ? [e.command, e.detail] : []));
  assert.deepEqual(commands, [
    ['COM_FIELD_LIST', table],
    ['COM_STATISTICS', undefined],
    ['COM_SET_OPTION', 'MULTI_STATEMENTS_ON'],
    ['COM_INIT_DB', 'test'],
    ['COM_PING', undefined],
    ['COM_RESET_CONNECTION', undefined],
  ]);
  assert.equal(events.at(-1)?.kind === 'end' && events.at(-1)?.kind, 'end');
  const end = events.at(-1);
  assert.equal(end?.kind === 'end' && end.reason, 'client_closed');
});

/** The kinds of `events` that show how statements ended: result tags, error numbers, tx states. */
function outcomes(events: readonly SessionEvent[]): string[] {
  return events.flatMap((e) => {
    if (e.kind === 'result') return [e.tag];
    if (e.kind === 'error') return [`error ${e.errno}`];
    if (e.kind === 'tx') return [`tx ${e.state}`];
    return [];
  });
}

test('commands sent before the last one was answered: each result is named after its own statement', async () => {
  const { raw } = await loggedIn();
  const table = uniqueName('piped');
  raw.command(queryPayload(`CREATE TEMPORARY TABLE ${table} (a INT) ENGINE=InnoDB`));
  await raw.response(M.COM_QUERY);
  // As Connector/J sends its settings and first query: one write, answers read after.
  const texts = [
    'BEGIN',
    `INSERT INTO ${table} VALUES (1)`,
    'ROLLBACK',
    `SELECT COUNT(*) FROM ${table}`,
    `UPDATE ${table} SET a = 2 WHERE a < 0`,
  ];
  raw.write(Buffer.concat(texts.map((sql) => M.framePayload(queryPayload(sql), 0).bytes)));
  for (const _ of texts) await raw.response(M.COM_QUERY);
  raw.close();
  const events = await sessionEvents(await sessionOf(table));
  const from = events.findIndex((e) => e.kind === 'query' && e.sql === 'BEGIN');
  assert.deepEqual(outcomes(events.slice(from)), [
    'BEGIN',
    'tx begin',
    'INSERT',
    'ROLLBACK',
    'tx rollback',
    'SELECT',
    'UPDATE',
  ]);
});

test('a transaction InnoDB rolls back as a deadlock victim, or COM_RESET_CONNECTION ends, is recorded as rolled back', async () => {
  const table = uniqueName('deadlock');
  const setup = await loggedIn();
  setup.raw.command(queryPayload(`CREATE TABLE test.${table} (id INT PRIMARY KEY, v INT) ENGINE=InnoDB`));
  await setup.raw.response(M.COM_QUERY);
  setup.raw.command(queryPayload(`INSERT INTO test.${table} VALUES (1, 0), (2, 0)`));
  await setup.raw.response(M.COM_QUERY);
  const run = async (raw: RawMysql, sql: string) => {
    raw.command(queryPayload(sql));
    return (await raw.response(M.COM_QUERY))[0]!;
  };
  const a = (await loggedIn()).raw;
  const b = (await loggedIn()).raw;
  try {
    await run(a, 'BEGIN');
    await run(a, `UPDATE test.${table} SET v = 1 WHERE id = 1 /* a */`);
    await run(b, 'BEGIN');
    await run(b, `UPDATE test.${table} SET v = 1 WHERE id = 2 /* b */`);
    const aWaits = run(a, `UPDATE test.${table} SET v = 1 WHERE id = 2 /* a waits */`);
    await new Promise((r) => setTimeout(r, 300));
    const bAnswer = await run(b, `UPDATE test.${table} SET v = 1 WHERE id = 1 /* b deadlocks */`);
    const aAnswer = await aWaits;
    const victim = [aAnswer, bAnswer].filter((p) => p.payload[0] === M.ERR_HEADER);
    assert.equal(victim.length, 1, 'one of the two is the deadlock victim');
    assert.equal(errOf(victim[0]!).errno, 1213);
    // The victim's COMMIT commits nothing (its transaction is gone); the survivor's commits.
    await run(a, 'COMMIT');
    await run(b, 'COMMIT');
    // A transaction the reset ends is rolled back.
    await run(a, 'BEGIN');
    await run(a, `UPDATE test.${table} SET v = 5 WHERE id = 1 /* before reset */`);
    a.command(Buffer.from([M.COM_RESET_CONNECTION]));
    await a.response(M.COM_RESET_CONNECTION);
    await run(a, `SELECT v FROM test.${table} WHERE id = 1 /* after reset */`);
  } finally {
    a.close();
    b.close();
    await run(setup.raw, `DROP TABLE test.${table}`);
    setup.raw.close();
  }
  const aEvents = await sessionEvents(await sessionOf(`${table} SET v = 1 WHERE id = 2 /* a waits */`));
  const bEvents = await sessionEvents(await sessionOf(`${table} SET v = 1 WHERE id = 1 /* b deadlocks */`));
  const aDeadlocked = aEvents.some((e) => e.kind === 'error' && e.errno === 1213);
  const victimEvents = aDeadlocked ? aEvents : bEvents;
  const survivorEvents = aDeadlocked ? bEvents : aEvents;
  const txStates = (events: readonly SessionEvent[]) =>
    outcomes(events).filter((o) => o.startsWith('tx') || o === 'error 1213');
  assert.deepEqual(txStates(victimEvents).slice(0, 3), ['tx begin', 'error 1213', 'tx rollback']);
  assert.deepEqual(txStates(survivorEvents).slice(0, 2), ['tx begin', 'tx commit']);
  // Session a ends with the transaction the reset rolled back.
  assert.deepEqual(txStates(aEvents).slice(-2), ['tx begin', 'tx rollback']);
});

test('XA ROLLBACK is recorded as a rollback, XA COMMIT as a commit', async () => {
  const { raw } = await loggedIn();
  const table = uniqueName('xa');
  const xid = (name: string) => `'${table}_${name}'`;
  const texts = [
    `CREATE TABLE test.${table} (a INT) ENGINE=InnoDB`,
    `XA START ${xid('kept')}`,
    `INSERT INTO test.${table} VALUES (1)`,
    `XA END ${xid('kept')}`,
    `XA COMMIT ${xid('kept')} ONE PHASE`,
    `XA START ${xid('undone')}`,
    `INSERT INTO test.${table} VALUES (2)`,
    `XA END ${xid('undone')}`,
    `XA PREPARE ${xid('undone')}`,
    `XA ROLLBACK ${xid('undone')}`,
    `DROP TABLE test.${table}`,
  ];
  for (const sql of texts) {
    raw.command(queryPayload(sql));
    const answer = (await raw.response(M.COM_QUERY))[0]!;
    assert.equal(answer.payload[0], M.OK_HEADER, sql);
  }
  raw.close();
  const events = await sessionEvents(await sessionOf(table));
  const txStates = outcomes(events).filter((o) => o.startsWith('tx'));
  assert.deepEqual(txStates, ['tx begin', 'tx commit', 'tx begin', 'tx prepared', 'tx rollback']);
});

test('a transaction still open when the session ends is recorded as rolled back; an XA transaction prepared is not', async () => {
  const table = uniqueName('txopen');
  const texts = [
    `CREATE TABLE test.${table} (a INT) ENGINE=InnoDB`,
    'SET autocommit = 0',
    `INSERT INTO test.${table} VALUES (1)`,
  ];
  const { raw } = await loggedIn();
  for (const sql of texts) {
    raw.command(queryPayload(sql));
    assert.equal((await raw.response(M.COM_QUERY))[0]!.payload[0], M.OK_HEADER, sql);
  }
  raw.close();
  const events = await sessionEvents(await sessionOf(table));
  assert.deepEqual(
    outcomes(events).filter((o) => o.startsWith('tx')),
    ['tx begin', 'tx rollback'],
  );
  assert.deepEqual(
    events.slice(-2).map((e) => e.kind),
    ['tx', 'end'],
  );

  // XA PREPARE leaves the transaction to a later XA COMMIT or ROLLBACK, from any connection.
  const xid = `'${table}_xa'`;
  const xa = await loggedIn();
  for (const sql of [
    `XA START ${xid}`,
    `INSERT INTO test.${table} VALUES (2)`,
    `XA END ${xid}`,
    `XA PREPARE ${xid}`,
  ]) {
    xa.raw.command(queryPayload(sql));
    assert.equal((await xa.raw.response(M.COM_QUERY))[0]!.payload[0], M.OK_HEADER, sql);
  }
  xa.raw.close();
  const xaEvents = await sessionEvents(await sessionOf(`${table}_xa`));
  const cleanup = await loggedIn();
  for (const sql of [`XA ROLLBACK ${xid}`, `DROP TABLE test.${table}`]) {
    cleanup.raw.command(queryPayload(sql));
    assert.equal((await cleanup.raw.response(M.COM_QUERY))[0]!.payload[0], M.OK_HEADER, sql);
  }
  cleanup.raw.close();
  assert.deepEqual(
    outcomes(xaEvents).filter((o) => o.startsWith('tx')),
    ['tx begin', 'tx prepared'],
    'a prepared XA transaction outlives its session',
  );
});

test("statement text in the client's character set: latin1 read as latin1, bad UTF-8 kept losslessly", async () => {
  const marker = uniqueName('charset');
  const send = async (charset: number, tail: Buffer) => {
    const { raw } = await loggedIn(charset);
    raw.command(Buffer.concat([Buffer.from([M.COM_QUERY]), Buffer.from(`SELECT '${marker}', '`), tail]));
    await raw.response(M.COM_QUERY);
    raw.close();
  };
  // `café` as a latin1 client sends it, and the same bytes from a client that said utf8mb4.
  await send(8, Buffer.from("caf\xe9' AS latin1", 'latin1'));
  await send(45, Buffer.from("caf\xe9' AS utf8", 'latin1'));
  const texts = await waitFor(
    async () => {
      const found: string[] = [];
      for (const s of await recorded.sessions()) {
        for (const e of await recorded.events(s.id))
          if (e.kind === 'query' && e.sql.includes(marker)) found.push(e.sql);
      }
      return found.length === 2 ? found.sort() : null;
    },
    { what: 'both statements recorded' },
  );
  assert.deepEqual(texts, [
    `SELECT '${marker}', 'café' AS latin1`,
    `SELECT '${marker}', 'caf\udce9' AS utf8`,
  ]);
  const { stdout } = await run(process.execPath, [
    DBTAPE_BIN,
    'search',
    'café',
    '--json',
    '--store',
    proxy.storeUrl,
  ]);
  assert.match(stdout, new RegExp(`${marker}', 'café`), 'the word as the latin1 client meant it');
});

test('the recordings replay like the mysql client and search finds them', async () => {
  const { raw } = await loggedIn();
  const marker = uniqueName('replayed');
  raw.command(queryPayload(`SELECT '${marker}' AS m, 42 AS answer`));
  await raw.response(M.COM_QUERY);
  raw.command(Buffer.from([M.COM_QUIT]));
  await raw.waitClosed();
  const id = await sessionOf(marker);
  await sessionEvents(id);

  const { stdout: replay } = await run(process.execPath, [
    DBTAPE_BIN,
    'replay',
    id,
    '--instant',
    '--store',
    proxy.storeUrl,
  ]);
  assert.match(replay, new RegExp(`alice@app mysql> SELECT '${marker}' AS m, 42 AS answer`));
  assert.match(replay, /\| +42 \|/);
  assert.match(replay, /1 row in set/);

  const { stdout: found } = await run(process.execPath, [
    DBTAPE_BIN,
    'search',
    marker,
    '--json',
    '--store',
    proxy.storeUrl,
  ]);
  const hits = JSON.parse(found) as { session_id: string; sql: string }[];
  assert.ok(hits.some((h) => h.session_id === id && h.sql.includes(marker)));
});
