// Bad input against dbtape's MySQL listener, with hand-built bytes: truncated handshakes, lenenc
// lengths past the end, wrong sequence ids, empty and unknown commands, bad COM_STMT_EXECUTEs,
// a 0xFFFFFF packet without its follow-up. Each gets a clear ERR or a clean close, never a crash,
// and another session running alongside is not disturbed. The upstream is a scripted server.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as M from '../../src/protocol/mysql/index.js';
import {
  ALICE,
  BOB,
  errOf,
  type FakeUpstream,
  fakeTarget,
  type MysqlProxy,
  queryPayload,
  RawMysql,
  type RawPacket,
  startFakeUpstream,
  startMysqlProxy,
} from '../support/mysql-fixtures.js';
import { waitFor } from '../support/wait.js';

let fake: FakeUpstream;
let proxy: MysqlProxy;
/** A session kept open through every test: it must keep working. */
let bystander: RawMysql;

before(async () => {
  fake = await startFakeUpstream();
  proxy = await startMysqlProxy({
    targets: [fakeTarget(fake)],
    limits: { max_message_size: '20MB' },
  });
  bystander = await loggedIn();
});

after(async () => {
  bystander?.close();
  await proxy?.close();
  await fake?.close();
});

async function loggedIn(who = ALICE): Promise<RawMysql> {
  const raw = await RawMysql.connect(proxy.port);
  const { answer } = await raw.login(who);
  assert.equal(answer.payload[0], M.OK_HEADER, `login refused: ${answer.payload.toString('latin1', 9)}`);
  return raw;
}

/** A COM_QUERY SELECT n through `raw`: the rows' values. */
async function selectN(raw: RawMysql, n: number): Promise<string[]> {
  raw.command(queryPayload(`SELECT ${n}`));
  const packets = await raw.response(M.COM_QUERY);
  return packets.slice(2, 2 + n).map((p) => p.payload.toString('utf8', 1));
}

async function bystanderStillWorks(): Promise<void> {
  assert.deepEqual(await selectN(bystander, 3), ['1', '2', '3']);
}

/** What the scripted server received on its most recent connection. */
function lastUpstreamLog(): Buffer[] {
  return fake.received[fake.received.length - 1];
}

function packet(payload: Buffer, seq: number): Buffer {
  const h = Buffer.alloc(4);
  M.writePacketHeader(h, 0, payload.length, seq);
  return Buffer.concat([h, payload]);
}

describe('handshake', () => {
  test('a truncated handshake response gets ERR 1043 and the connection closes', async () => {
    const raw = await RawMysql.connect(proxy.port);
    await raw.read();
    raw.write(packet(Buffer.from([0x00, 0x02, 0x00, 0x00, 0x00]), 1));
    const e = errOf(await raw.read());
    assert.equal(e.errno, 1043);
    assert.match(e.message, /^dbtape: bad handshake/);
    await raw.waitClosed();
    await bystanderStillWorks();
  });

  test('a length-encoded auth response running past the packet end gets ERR 1043', async () => {
    const raw = await RawMysql.connect(proxy.port);
    await raw.read();
    const w = new M.PacketWriter(64)
      .u32(M.CLIENT_PROTOCOL_41 | M.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA | M.CLIENT_SECURE_CONNECTION)
      .u32(1 << 24)
      .u8(45)
      .zeros(23)
      .nulString('alice')
      .u8(0xfc)
      .u16(5000); // claims 5000 bytes of auth data; none follow
    raw.write(w.packet(1));
    assert.equal(errOf(await raw.read()).errno, 1043);
    await raw.waitClosed();
    await bystanderStillWorks();
  });

  test('a handshake response with the wrong sequence id gets ERR 1156', async () => {
    const raw = await RawMysql.connect(proxy.port);
    await raw.read();
    raw.write(packet(Buffer.alloc(40), 7));
    const answer = await raw.read();
    const e = errOf(answer);
    assert.equal(e.errno, 1156);
    assert.equal(answer?.seq, 8, 'the ERR follows the id the client sent');
    assert.match(e.message, /out of order/);
    await raw.waitClosed();
  });

  test('a 0xFFFFFF packet during the handshake is refused without waiting for 16 MiB', async () => {
    const raw = await RawMysql.connect(proxy.port);
    await raw.read();
    const h = Buffer.alloc(4);
    M.writePacketHeader(h, 0, M.MAX_PACKET_PAYLOAD, 1);
    raw.write(h);
    assert.equal(errOf(await raw.read()).errno, 1043);
    await raw.waitClosed();
    await bystanderStillWorks();
  });

  test('a wrong password and an unknown user get the same ERR 1045', async () => {
    for (const who of [
      { name: 'alice', password: 'wrong' },
      { name: 'nobody', password: 'wrong' },
    ]) {
      const raw = await RawMysql.connect(proxy.port);
      const { answer } = await raw.login(who);
      const e = errOf(answer);
      assert.equal(e.errno, 1045);
      assert.equal(e.sqlState, '28000');
      assert.equal(
        e.message,
        `dbtape: Access denied for user '${who.name}'@'127.0.0.1' (using password: YES)`,
      );
      await raw.waitClosed();
    }
  });

  test('an unknown target and a forbidden one give the same error', async () => {
    const raw = await RawMysql.connect(proxy.port);
    const { answer } = await raw.login(ALICE, 'nosuch');
    const e = errOf(answer);
    assert.equal(e.errno, 1044);
    assert.equal(e.message, 'dbtape: target "nosuch" does not exist or you may not use it');
    await raw.waitClosed();
  });

  test('plaintext sent after an SSLRequest is fed to TLS, never read as a command: the connection closes', async () => {
    const tlsProxy = await startMysqlProxy({
      tls: true,
      targets: [fakeTarget(fake)],
    });
    try {
      const raw = await RawMysql.connect(tlsProxy.port);
      const g = M.decodeInitialHandshake((await raw.read())!.payload);
      assert.ok(g.ok && M.hasCap(g.value.capabilities, M.CLIENT_SSL), 'dbtape offers TLS');
      const ssl = M.encodeSslRequest(
        { capabilities: M.CLIENT_PROTOCOL_41, maxPacketSize: 1 << 24, charset: 45, mariadbCapabilities: 0 },
        1,
      );
      raw.write(Buffer.concat([ssl, Buffer.from('plaintext that must not be read as TLS')]));
      assert.equal(await raw.read(), null, 'closed without an answer');
    } finally {
      await tlsProxy.close();
    }
  });
});

describe('commands', () => {
  test('a command with the wrong sequence id gets ERR 1156, closes, and never reaches the server', async () => {
    const raw = await loggedIn();
    const before = lastUpstreamLog().length;
    raw.write(packet(queryPayload('SELECT 1'), 3));
    const answer = await raw.read();
    assert.equal(errOf(answer).errno, 1156);
    // A client numbers the reply from the id it sent (libmariadb and mysql2 both do).
    assert.equal(answer?.seq, 4);
    await raw.waitClosed();
    assert.equal(lastUpstreamLog().length, before);
    await bystanderStillWorks();
  });

  test('a zero-length command gets an ERR and the connection closes', async () => {
    const raw = await loggedIn();
    raw.write(packet(Buffer.alloc(0), 0));
    const e = errOf(await raw.read());
    assert.equal(e.errno, 1835);
    assert.match(e.message, /empty command packet/);
    await raw.waitClosed();
    await bystanderStillWorks();
  });

  test('an unknown command byte gets ERR 1047 and the session goes on', async () => {
    const raw = await loggedIn();
    raw.command(Buffer.from([0x99, 1, 2, 3]));
    const e = errOf(await raw.read());
    assert.equal(e.errno, 1047);
    assert.match(e.message, /unknown command 0x99/);
    assert.deepEqual(await selectN(raw, 2), ['1', '2']);
    assert.ok(!lastUpstreamLog().some((p) => p[0] === 0x99), 'the unknown command was not forwarded');
    raw.close();
  });

  test("dbtape's own answers keep their place among pipelined responses", async () => {
    const raw = await loggedIn();
    raw.write(
      Buffer.concat([M.framePayload(queryPayload('SELECT 2'), 0).bytes, packet(Buffer.from([0x99]), 0)]),
    );
    const rows = await raw.response(M.COM_QUERY);
    assert.equal(rows.length, 5);
    assert.equal(errOf(await raw.read()).errno, 1047);
    raw.close();
  });

  test('COM_STMT_EXECUTE with an unknown statement id gets ERR 1243 and is not forwarded', async () => {
    const raw = await loggedIn();
    const exec = new M.PacketWriter(16).u8(M.COM_STMT_EXECUTE).u32(4242).u8(0).u32(1).payload();
    raw.command(exec);
    const e = errOf(await raw.read());
    assert.equal(e.errno, 1243);
    assert.ok(!lastUpstreamLog().some((p) => p[0] === M.COM_STMT_EXECUTE));
    assert.deepEqual(await selectN(raw, 1), ['1']);
    raw.close();
  });

  test('COM_STMT_EXECUTE with a short NULL bitmap gets ERR 1835 and the session goes on', async () => {
    const raw = await loggedIn();
    raw.command(Buffer.concat([Buffer.from([M.COM_STMT_PREPARE]), Buffer.from('SELECT ?,?,?,?,?,?,?,?,?')]));
    const prep = await raw.response(M.COM_STMT_PREPARE);
    const ok = M.decodePrepareOk(prep[0].payload);
    assert.ok(ok.ok);
    assert.equal(ok.value.paramCount, 9);
    // Nine parameters need a 2-byte NULL bitmap; this one has 1 byte and ends there.
    const exec = new M.PacketWriter(16)
      .u8(M.COM_STMT_EXECUTE)
      .u32(ok.value.statementId)
      .u8(0)
      .u32(1)
      .u8(0)
      .payload();
    raw.command(exec);
    const e = errOf(await raw.read());
    assert.equal(e.errno, 1835);
    assert.match(e.message, /malformed COM_STMT_EXECUTE/);
    assert.deepEqual(await selectN(raw, 2), ['1', '2']);
    raw.close();
  });

  test('what follows COM_QUIT is not read, as by the server: no ERR, the session ends client_closed', async () => {
    const raw = await loggedIn();
    const seen = proxy.logs.length;
    raw.write(Buffer.concat([packet(Buffer.from([M.COM_QUIT]), 0), packet(queryPayload('SELECT 1'), 7)]));
    assert.equal(await raw.read(), null, 'nothing, not even an ERR for the out-of-order packet');
    await raw.waitClosed();
    await waitFor(() => proxy.logs.slice(seen).find((l) => l.msg === 'session ended'), {
      what: 'the session to end',
    });
    assert.equal(proxy.logs.slice(seen).find((l) => l.msg === 'session ended')?.reason, 'client_closed');
    await bystanderStillWorks();
  });

  test('a 0xFFFFFF packet followed by a new command instead of its continuation: ERR 1156, close', async () => {
    const raw = await loggedIn();
    const big = Buffer.alloc(M.MAX_PACKET_PAYLOAD, 0x20);
    big[0] = M.COM_QUERY;
    raw.write(packet(big, 0));
    raw.write(packet(queryPayload('SELECT 1'), 0)); // should have been seq 1
    const e = errOf(await raw.read());
    assert.equal(e.errno, 1156);
    await raw.waitClosed();
    await bystanderStillWorks();
  });

  // dbtape's ERR once went out in the middle of the row being forwarded, and the client read its
  // bytes as row data. Whatever ends the session, the ERR must come between two packets.
  const endings = [
    {
      what: 'a bad packet',
      errno: 1156,
      end: async (raw: RawMysql, proxy: MysqlProxy) => {
        raw.write(packet(queryPayload('SELECT 1'), 5));
        await waitFor(() => proxy.logs.some((l) => l.msg === 'client protocol violation; closing'), {
          what: 'dbtape to read the bad packet',
        });
      },
    },
    {
      what: "an administrator's kill",
      errno: 1927,
      end: async (_raw: RawMysql, proxy: MysqlProxy) => {
        await new Promise((r) => setTimeout(r, 200));
        const live = proxy.server!.registry.all();
        assert.equal(live.length, 1);
        live[0]!.kill('ended by an administrator');
      },
    },
  ];
  for (const ending of endings) {
    test(`${ending.what} while a large result streams: whole packets, then the ERR`, async () => {
      const rows = Array.from({ length: 100 }, () => ['x'.repeat(100_000)]);
      const bigFake = await startFakeUpstream({ answer: () => ({ columns: ['v'], rows }) });
      const bigProxy = await startMysqlProxy({
        targets: [fakeTarget(bigFake)],
      });
      try {
        const raw = await RawMysql.connect(bigProxy.port);
        const { answer } = await raw.login();
        assert.equal(answer.payload[0], M.OK_HEADER);
        raw.command(queryPayload('SELECT big'));
        await raw.read(); // the column count: the rows are on their way
        raw.socket.pause(); // dbtape's writes back up, and it stops inside a row
        await ending.end(raw, bigProxy);
        raw.socket.resume();
        const packets: RawPacket[] = [];
        for (let p = await raw.read(); p; p = await raw.read()) packets.push(p);
        assert.equal(errOf(packets.at(-1) ?? null).errno, ending.errno);
        assert.equal(
          packets.at(-1)?.seq,
          ((packets.at(-2)?.seq ?? 0) + 1) & 0xff,
          'the ERR continues the response',
        );
        const before = packets.slice(0, -1);
        assert.ok(
          before.every((p) => p.payload[0] !== M.ERR_HEADER && p.payload.length < 100_010),
          'only the result, whole, before it',
        );
      } finally {
        await bigProxy.close();
        await bigFake.close();
      }
    });
  }

  test('a bad packet while the client reads a large row slowly: the row ends, then the ERR', async () => {
    // dbtape waits 10 s without progress for the end of the packet it is forwarding; a client that
    // reads slowly but steadily takes longer than that in all, and once got a cut packet.
    const rows = [['x'.repeat(15_000_000)], ['y'.repeat(15_000_000)]];
    const bigFake = await startFakeUpstream({ answer: () => ({ columns: ['v'], rows }) });
    const bigProxy = await startMysqlProxy({ targets: [fakeTarget(bigFake)] });
    let drip: NodeJS.Timeout | undefined;
    try {
      const raw = await RawMysql.connect(bigProxy.port);
      await raw.login();
      raw.command(queryPayload('SELECT big'));
      await raw.read(); // the column count: the rows are on their way
      raw.socket.pause();
      raw.write(packet(queryPayload('SELECT 1'), 5));
      await waitFor(() => bigProxy.logs.some((l) => l.msg === 'client protocol violation; closing'), {
        what: 'dbtape to read the bad packet',
      });
      drip = setInterval(() => {
        raw.socket.once('data', () => raw.socket.pause());
        raw.socket.resume();
      }, 20);
      const packets: RawPacket[] = [];
      for (let p = await raw.read(); p; p = await raw.read()) packets.push(p);
      assert.equal(errOf(packets.at(-1) ?? null).errno, 1156);
      assert.ok(
        packets.slice(0, -1).every((p) => p.payload[0] !== M.ERR_HEADER),
        'whole packets of the result before it',
      );
    } finally {
      clearInterval(drip);
      await bigProxy.close();
      await bigFake.close();
    }
  });

  test('a 0xFFFFFF packet whose client then disconnects ends cleanly', async () => {
    const raw = await loggedIn();
    const h = Buffer.alloc(4);
    M.writePacketHeader(h, 0, M.MAX_PACKET_PAYLOAD, 0);
    raw.write(Buffer.concat([h, Buffer.from([M.COM_QUERY]), Buffer.alloc(1000, 0x20)]));
    raw.close();
    await bystanderStillWorks();
  });

  test('a command over limits.max_message_size gets ERR 1153 and the connection closes', async () => {
    const raw = await loggedIn();
    const h = Buffer.alloc(4);
    M.writePacketHeader(h, 0, M.MAX_PACKET_PAYLOAD, 0);
    raw.write(Buffer.concat([h, Buffer.from([M.COM_QUERY])]));
    raw.write(Buffer.alloc(M.MAX_PACKET_PAYLOAD - 1, 0x20));
    const h2 = Buffer.alloc(4);
    M.writePacketHeader(h2, 0, 8 << 20, 1); // 24 MiB in all: over the 20 MB limit
    raw.write(Buffer.concat([h2, Buffer.alloc(1000, 0x20)]));
    const e = errOf(await raw.read());
    assert.equal(e.errno, 1153);
    await raw.waitClosed();
    await bystanderStillWorks();
  });

  test('COM_CHANGE_USER is refused and the session keeps its identity', async () => {
    const raw = await loggedIn();
    raw.command(Buffer.concat([Buffer.from([M.COM_CHANGE_USER]), Buffer.from('root\0'), Buffer.from([0])]));
    const e = errOf(await raw.read());
    assert.match(e.message, /COM_CHANGE_USER is not supported/);
    assert.ok(!lastUpstreamLog().some((p) => p[0] === M.COM_CHANGE_USER));
    assert.deepEqual(await selectN(raw, 1), ['1']);
    raw.close();
  });
});

describe('KILL', () => {
  test("KILL QUERY <dbtape id> reaches the server as the victim's upstream thread id", async () => {
    const victim = await RawMysql.connect(proxy.port);
    const { greeting } = await victim.login();
    const victimUpstream = fake.received.length; // the fake numbers its connections 1, 2, ...
    const killer = await loggedIn();
    killer.command(queryPayload(`KILL QUERY ${greeting.connectionId}`));
    const [ok] = await killer.response(M.COM_QUERY);
    assert.equal(ok.payload[0], M.OK_HEADER);
    assert.equal(lastUpstreamLog().at(-1)?.toString('utf8', 1), `KILL QUERY ${victimUpstream}`);

    killer.command(Buffer.from([M.COM_PROCESS_KILL, ...u32(greeting.connectionId)]));
    await killer.response(M.COM_PROCESS_KILL);
    const forwarded = lastUpstreamLog().at(-1)!;
    assert.equal(forwarded[0], M.COM_PROCESS_KILL);
    assert.equal(forwarded.readUInt32LE(1), victimUpstream);
    victim.close();
    killer.close();
  });

  test("another user cannot kill alice's statements: Unknown thread id", async () => {
    const victim = await RawMysql.connect(proxy.port);
    const { greeting } = await victim.login();
    const bob = await loggedIn(BOB);
    const before = lastUpstreamLog().length;
    bob.command(queryPayload(`KILL ${greeting.connectionId}`));
    const e = errOf(await bob.read());
    assert.equal(e.errno, 1094);
    assert.equal(e.message, `Unknown thread id: ${greeting.connectionId}`);
    assert.equal(lastUpstreamLog().length, before, 'nothing was forwarded');
    victim.close();
    bob.close();
  });

  test('a KILL hidden in a multi-statement is refused', async () => {
    const raw = await loggedIn();
    raw.command(queryPayload('SELECT 1; KILL 7'));
    assert.equal(errOf(await raw.read()).errno, 1235);
    raw.close();
  });

  test('a KILL in an executable comment is mapped like a plain one; nothing raw is forwarded', async () => {
    const raw = await loggedIn();
    const before = lastUpstreamLog().length;
    raw.command(queryPayload('/*!50000 KILL QUERY 7 */'));
    assert.equal(errOf(await raw.read()).errno, 1094, 'dbtape id 7 does not exist');
    raw.command(queryPayload('SELECT 1; /*M!100000 KILL 7 */'));
    assert.equal(errOf(await raw.read()).errno, 1235);
    raw.command(queryPayload("EXECUTE IMMEDIATE 'KILL 7'"));
    assert.equal(errOf(await raw.read()).errno, 1235);
    assert.equal(lastUpstreamLog().length, before, 'nothing was forwarded');
    assert.deepEqual(await selectN(raw, 1), ['1']);
    raw.close();
  });

  test('a prepared KILL is refused, and so is executing "the last prepared statement" after it', async () => {
    const raw = await loggedIn();
    const before = lastUpstreamLog().length;
    raw.command(Buffer.concat([Buffer.from([M.COM_STMT_PREPARE]), Buffer.from('KILL ?')]));
    assert.equal(errOf(await raw.read()).errno, 1235);
    raw.command(Buffer.from([M.COM_STMT_EXECUTE, 0xff, 0xff, 0xff, 0xff, 0, 1, 0, 0, 0]));
    assert.equal(errOf(await raw.read()).errno, 1243);
    assert.equal(lastUpstreamLog().length, before, 'nothing was forwarded');
    raw.close();
  });
});

function u32(n: number): number[] {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n);
  return [...b];
}
