// A client that negotiated DEPRECATE_EOF and SESSION_TRACK in front of a server without them (an
// old MySQL/MariaDB): dbtape reframes resultsets and prepare responses, re-encodes OK packets and
// renumbers sequence ids, so the client reads what it negotiated. The server is a scripted one.
import assert from 'node:assert/strict';
import { after, before, test } from 'node:test';
import * as M from '../../src/protocol/mysql/index.js';
import {
  FAKE_CAPABILITIES,
  type FakeUpstream,
  fakeTarget,
  type MysqlProxy,
  queryPayload,
  RawMysql,
  type RawPacket,
  startFakeUpstream,
  startMysqlProxy,
} from '../support/mysql-fixtures.js';

let fake: FakeUpstream;
let proxy: MysqlProxy;

const CLIENT_CAPS =
  M.CLIENT_PROTOCOL_41 |
  M.CLIENT_SECURE_CONNECTION |
  M.CLIENT_PLUGIN_AUTH |
  M.CLIENT_LONG_PASSWORD |
  M.CLIENT_TRANSACTIONS |
  M.CLIENT_MULTI_RESULTS |
  M.CLIENT_DEPRECATE_EOF |
  M.CLIENT_SESSION_TRACK;

before(async () => {
  fake = await startFakeUpstream({
    capabilities: FAKE_CAPABILITIES & ~M.CLIENT_DEPRECATE_EOF & ~M.CLIENT_SESSION_TRACK,
    answer: (sql) =>
      sql.startsWith('INSERT')
        ? { ok: 3 }
        : {
            columns: ['a', 'b'],
            rows: [
              ['1', 'x'],
              ['2', null],
              ['3', 'z'],
            ],
          },
  });
  proxy = await startMysqlProxy({
    targets: [fakeTarget(fake)],
  });
});

after(async () => {
  await proxy?.close();
  await fake?.close();
});

function assertConsecutive(packets: readonly RawPacket[]): void {
  packets.forEach((p, i) => {
    assert.equal(p.seq, i + 1, `packet ${i} has sequence id ${p.seq}`);
  });
}

test('a classic resultset reaches a DEPRECATE_EOF client without the metadata EOF, ended by an OK', async () => {
  const raw = await RawMysql.connect(proxy.port);
  await raw.login(undefined, 'app', CLIENT_CAPS);
  raw.command(queryPayload('SELECT a, b FROM t'));
  const packets = await raw.response(M.COM_QUERY);
  assert.equal(packets.length, 1 + 2 + 3 + 1, 'count, 2 definitions, 3 rows, terminator');
  assertConsecutive(packets);
  const last = packets.at(-1)!.payload;
  assert.equal(last[0], M.EOF_HEADER);
  assert.ok(last.length >= 7, 'the terminator is an OK packet, not a classic EOF');
  assert.equal(packets[3].payload.toString('utf8', 1, 2), '1');
  raw.close();
});

test('prepare responses lose their EOFs, and OK packets are re-encoded for SESSION_TRACK', async () => {
  const raw = await RawMysql.connect(proxy.port);
  await raw.login(undefined, 'app', CLIENT_CAPS);
  raw.command(Buffer.concat([Buffer.from([M.COM_STMT_PREPARE]), Buffer.from('INSERT INTO t VALUES (?, ?)')]));
  const prep = await raw.response(M.COM_STMT_PREPARE);
  assert.equal(prep.length, 3, 'PREPARE_OK and two parameter definitions, no EOF');
  assertConsecutive(prep);

  raw.command(queryPayload('INSERT INTO t VALUES (1)'));
  const [ok] = await raw.response(M.COM_QUERY);
  const decoded = M.decodeOk(ok.payload, CLIENT_CAPS);
  assert.ok(decoded.ok);
  assert.equal(decoded.value.affectedRows, 3);
  raw.close();
});

test('a client without DEPRECATE_EOF gets the classic framing as it is', async () => {
  const raw = await RawMysql.connect(proxy.port);
  await raw.login(undefined, 'app', CLIENT_CAPS & ~M.CLIENT_DEPRECATE_EOF & ~M.CLIENT_SESSION_TRACK);
  raw.command(queryPayload('SELECT a, b FROM t'));
  const packets = await raw.response(M.COM_QUERY);
  assert.equal(packets.length, 1 + 2 + 1 + 3 + 1);
  assertConsecutive(packets);
  assert.ok(M.isEofPacket(packets.at(-1)!.payload));
  raw.close();
});
