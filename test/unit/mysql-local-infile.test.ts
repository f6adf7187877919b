// LOAD DATA LOCAL INFILE at the byte level: which capability flags dbtape asks of the upstream, the
// server's refusal rewritten into dbtape's reason wherever its packet is cut, and a scripted server
// that asks for a file it was not offered: it gets none, not even an empty one, and the session ends.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import * as M from '../../src/protocol/mysql/index.js';
import { upstreamCapabilities } from '../../src/proxy/mysql/capabilities.js';
import { pending } from '../../src/proxy/mysql/pending.js';
import {
  errOf,
  FAKE_CAPABILITIES,
  type FakeUpstream,
  fakeTarget,
  type MysqlProxy,
  outcomeOf,
  queryPayload,
  RawMysql,
  Recorded,
  startFakeUpstream,
  startMysqlProxy,
  uniqueName,
} from '../support/mysql-fixtures.js';
import { responseStream } from '../support/mysql-response-stream.js';

const L = M.CLIENT_LOCAL_FILES;
const CLIENT =
  M.CLIENT_PROTOCOL_41 |
  M.CLIENT_SECURE_CONNECTION |
  M.CLIENT_PLUGIN_AUTH |
  M.CLIENT_LONG_PASSWORD |
  M.CLIENT_TRANSACTIONS |
  M.CLIENT_MULTI_RESULTS |
  M.CLIENT_MULTI_STATEMENTS |
  M.CLIENT_DEPRECATE_EOF;
const REFUSED =
  /^dbtape: LOAD DATA LOCAL INFILE is not allowed for your role \(roles\[\]\.local_infile\); no file was sent/;

describe('upstreamCapabilities', () => {
  test('CLIENT_LOCAL_FILES goes upstream only when the role allows it and both client and server offer it', () => {
    const server = FAKE_CAPABILITIES | L;
    assert.ok(M.hasCap(upstreamCapabilities(CLIENT | L, server, false, true), L));
    assert.ok(!M.hasCap(upstreamCapabilities(CLIENT | L, server, false, false), L), 'the role refuses');
    assert.ok(!M.hasCap(upstreamCapabilities(CLIENT, server, false, true), L), 'the client did not offer it');
    assert.ok(
      !M.hasCap(upstreamCapabilities(CLIENT | L, FAKE_CAPABILITIES, false, true), L),
      'nor the server',
    );
    // Nothing else changes with it.
    assert.equal(
      upstreamCapabilities(CLIENT | L, server, true, false),
      upstreamCapabilities(CLIENT, server, true, true),
    );
  });
});

describe("the server's refusal of a LOAD DATA LOCAL", () => {
  /** Feed `chunks` as the answer to one COM_QUERY; the client's bytes and the recorded events. */
  function answer(chunks: readonly Buffer[], roleAllows: boolean, clientCaps: number) {
    const {
      stream,
      parts,
      recorded: events,
    } = responseStream({
      clientCapabilities: clientCaps,
      upstreamCapabilities: upstreamCapabilities(clientCaps, FAKE_CAPABILITIES | L, false, roleAllows),
      localInfile: roleAllows,
    });
    stream.enqueue(pending(M.COM_QUERY, 'statement'));
    for (const c of chunks) stream.feed(c);
    assert.equal(stream.busy, false, 'the response ended');
    return { out: Buffer.concat(parts), events };
  }

  /** `bytes` whole, and cut in two at every offset. */
  function cuts(bytes: Buffer): Buffer[][] {
    const out = [[bytes]];
    for (let i = 1; i < bytes.length; i++) out.push([bytes.subarray(0, i), bytes.subarray(i)]);
    return out.map((c) => c.map((b) => Buffer.from(b)));
  }

  const SERVER = [
    {
      errno: 4166,
      sqlState: 'HY000',
      message:
        'The used command is not allowed because the MariaDB server or client has disabled the local infile capability',
    },
    {
      errno: 3948,
      sqlState: '42000',
      message: 'Loading local data is disabled; this must be enabled on both the client and server sides',
    },
    { errno: 1148, sqlState: '42000', message: 'The used command is not allowed with this MySQL version' },
  ];

  test("MariaDB's 4166, MySQL 8's 3948 and older servers' 1148 become dbtape's 1148, however cut", () => {
    for (const e of SERVER) {
      for (const chunks of cuts(M.encodeErr(e, 1))) {
        const { out, events } = answer(chunks, false, CLIENT | L);
        const err = errOf({ seq: out[3], payload: out.subarray(4) });
        assert.equal(out[3], 1, 'the sequence id of the packet it replaces');
        assert.equal(out.length, 4 + out.readUIntLE(0, 3), 'one packet');
        assert.equal(err.errno, 1148);
        assert.equal(err.sqlState, '42000');
        assert.match(err.message, REFUSED);
        assert.deepEqual(
          events.map((ev) => (ev.kind === 'error' ? [ev.errno, ev.code, ev.message] : ev.kind)),
          [[1148, '42000', err.message]],
        );
      }
    }
  });

  test('it stands as the server sent it when dbtape withheld nothing, and other errors always do', () => {
    const other = { errno: 1146, sqlState: '42S02', message: "Table 'test.nope' doesn't exist" };
    const cases = [
      ...SERVER.map((e) => ({ e, roleAllows: true, caps: CLIENT | L })), // the server's own configuration
      ...SERVER.map((e) => ({ e, roleAllows: false, caps: CLIENT })), // the client declined files itself
      { e: other, roleAllows: false, caps: CLIENT | L },
    ];
    for (const { e, roleAllows, caps } of cases) {
      const bytes = M.encodeErr(e, 1);
      for (const chunks of cuts(bytes)) {
        const { out, events } = answer(chunks, roleAllows, caps);
        assert.ok(out.equals(bytes), `${e.errno}: the server's bytes, unchanged`);
        assert.ok(events[0]?.kind === 'error' && events[0].errno === e.errno);
      }
    }
  });
});

describe("a scripted server asking for the client's file", () => {
  let fake: FakeUpstream;
  /** The users' role without local_infile, and with it. */
  let refusing: MysqlProxy;
  let allowing: MysqlProxy;
  const recorded = new Map<MysqlProxy, Recorded>();

  before(async () => {
    fake = await startFakeUpstream({
      capabilities: FAKE_CAPABILITIES | L,
      answer: (sql) => (/^LOAD DATA/i.test(sql) ? { requestFile: '/etc/passwd' } : { ok: 1 }),
    });
    refusing = await startMysqlProxy({ targets: [fakeTarget(fake)], capture: 'summary' });
    allowing = await startMysqlProxy({
      targets: [fakeTarget(fake)],
      capture: 'summary',
      role: { local_infile: true },
    });
    for (const p of [refusing, allowing]) recorded.set(p, new Recorded(p.storeUrl));
  });

  after(async () => {
    for (const r of recorded.values()) await r.close();
    await refusing?.close();
    await allowing?.close();
    await fake?.close();
  });

  async function loggedIn(proxy: MysqlProxy, caps: number): Promise<RawMysql> {
    const raw = await RawMysql.connect(proxy.port);
    const { answer } = await raw.login(undefined, 'app', caps);
    assert.equal(answer.payload[0], M.OK_HEADER);
    return raw;
  }

  /** What the server received on its most recent connection. */
  function upstreamLog(): Buffer[] {
    return fake.received[fake.received.length - 1];
  }

  test('the upstream login carries CLIENT_LOCAL_FILES only for a role with local_infile and a client offering it', async () => {
    for (const [proxy, caps, expected] of [
      [refusing, CLIENT | L, false],
      [allowing, CLIENT | L, true],
      [allowing, CLIENT, false],
    ] as const) {
      const raw = await loggedIn(proxy, caps);
      assert.equal(M.hasCap(fake.handshakes[fake.handshakes.length - 1], L), expected);
      raw.close();
    }
  });

  for (const { what, proxy, caps, message } of [
    {
      what: 'a role without local_infile',
      proxy: () => refusing,
      caps: CLIENT | L,
      message: REFUSED,
    },
    {
      what: 'a client that did not offer files (its role allows them)',
      proxy: () => allowing,
      caps: CLIENT,
      message: /^dbtape: LOAD DATA LOCAL INFILE was not negotiated on this connection; no file was sent/,
    },
  ]) {
    test(`${what}: the server gets no file, the client the refusal, and the session ends`, async () => {
      const raw = await loggedIn(proxy(), caps);
      const table = uniqueName('t');
      const sql = `LOAD DATA LOCAL INFILE 'x.csv' INTO TABLE ${table}; INSERT INTO ${table} VALUES (777)`;
      raw.command(queryPayload(sql));
      const answer = await raw.read();
      assert.equal(answer?.seq, 1);
      const err = errOf(answer);
      assert.equal(err.errno, 1148);
      assert.match(err.message, message);
      assert.match(err.message, /the server asked for one anyway, so dbtape closed the session$/);
      await raw.waitClosed();
      assert.deepEqual(
        upstreamLog().map((p) => p.toString('utf8', 1)),
        [sql],
        'nothing followed the statement: no file data, no empty packet',
      );
      const { events } = await recorded.get(proxy())!.sessionWith(table);
      const outcome = outcomeOf(events, table);
      assert.deepEqual(
        outcome.map((e) => e.kind),
        ['query', 'error', 'end'],
      );
      assert.ok(outcome[1].kind === 'error' && outcome[1].message === err.message);
      assert.ok(outcome[2].kind === 'end' && outcome[2].reason === 'upstream_lost');
      assert.match(outcome[2].detail ?? '', /asked for a local file/);
    });
  }

  test('a role with local_infile and a client offering files: the request reaches the client, its file the server', async () => {
    const raw = await loggedIn(allowing, CLIENT | L);
    const table = uniqueName('t');
    raw.command(queryPayload(`LOAD DATA LOCAL INFILE 'x.csv' INTO TABLE ${table}`));
    const request = await raw.read();
    assert.equal(request?.payload.toString('latin1'), '\xfb/etc/passwd');
    const data = Buffer.from('1\n2\n');
    raw.write(M.framePayload(data, 2).bytes);
    raw.write(M.framePayload(Buffer.alloc(0), 3).bytes);
    const ok = await raw.read();
    assert.equal(ok?.payload[0], M.OK_HEADER);
    assert.equal(ok?.seq, 4);
    assert.deepEqual(upstreamLog().slice(1), [data, Buffer.alloc(0)]);
    raw.close();
    const { events } = await recorded.get(allowing)!.sessionWith(table);
    const copy = outcomeOf(events, table).find((e) => e.kind === 'copy');
    assert.ok(copy?.kind === 'copy' && copy.direction === 'in' && copy.bytes === data.length);
  });
});
