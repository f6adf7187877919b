/**
 * The codecs against the machine's real MariaDB: handshake decode, HandshakeResponse41 encode,
 * mysql_native_password, auth switch to client_ed25519, and the response tracker and row
 * decoders in both EOF framings. (MariaDB has no caching_sha2_password; its scramble is
 * covered by unit tests.) Opens raw TCP sockets: no client library in between.
 */
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import net from 'node:net';
import { after, before, describe, test } from 'node:test';
import * as M from '../../src/protocol/mysql/index.js';
import { requireMachineMariaDb } from '../support/servers.js';

interface Packet {
  readonly payload: Buffer;
  readonly seq: number;
}

/** A minimal client made of the codecs under test. */
class RawClient {
  private readonly framer = new M.PacketFramer();
  private readonly assembler = new M.PacketAssembler(64 << 20);
  private readonly queue: Packet[] = [];
  private waiter: ((p: Packet | Error) => void) | null = null;
  private failure: Error | null = null;
  seq = 0;
  capabilities = 0;

  private constructor(private readonly socket: net.Socket) {
    socket.on('data', (chunk) => this.onData(chunk));
    socket.on('error', (err) => this.fail(err));
    socket.on('close', () => this.fail(new Error('connection closed by the server')));
  }

  static async connect(port: number): Promise<RawClient> {
    const socket = net.connect(port, '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    return new RawClient(socket);
  }

  private onData(chunk: Buffer): void {
    this.framer.push(chunk);
    for (;;) {
      const r = M.assembleSmall(this.framer, this.assembler);
      if (r.status === 'need-more') return;
      if (r.status === 'too-large') {
        this.fail(r.error);
        return;
      }
      this.deliver({ payload: Buffer.from(r.payload), seq: r.seq });
    }
  }

  private deliver(p: Packet): void {
    const w = this.waiter;
    this.waiter = null;
    if (w) w(p);
    else this.queue.push(p);
  }

  private fail(err: Error): void {
    this.failure ??= err;
    const w = this.waiter;
    this.waiter = null;
    w?.(err);
  }

  async read(): Promise<Packet> {
    const queued = this.queue.shift();
    const p =
      queued ??
      (await new Promise<Packet>((resolve, reject) => {
        if (this.failure) return reject(this.failure);
        this.waiter = (x) => (x instanceof Error ? reject(x) : resolve(x));
      }));
    this.seq = (p.seq + 1) & 0xff;
    return p;
  }

  write(packet: Buffer): void {
    this.socket.write(packet);
  }

  /** Send a command and collect the response packets with their tracker classification. */
  async command(
    payload: Buffer,
    opts: M.BeginOptions = {},
  ): Promise<{ tracker: M.ResponseTracker; packets: [M.ResponsePacketKind, Buffer][] }> {
    const tracker = new M.ResponseTracker({ capabilities: this.capabilities });
    tracker.begin(payload[0], opts);
    this.write(new M.PacketWriter(payload.length + 8).bytes(payload).packet(0));
    const packets: [M.ResponsePacketKind, Buffer][] = [];
    while (!tracker.done) {
      const p = await this.read();
      const kind = tracker.feed(p.payload);
      packets.push([kind, p.payload]);
      if (kind === 'unexpected') throw tracker.protocolError;
    }
    return { tracker, packets };
  }

  async query(sql: string): Promise<M.ResponseTracker> {
    const { tracker } = await this.command(Buffer.concat([Buffer.from([M.COM_QUERY]), Buffer.from(sql)]));
    if (tracker.err) throw new Error(`${sql}: ${tracker.err.errno} ${tracker.err.message}`);
    return tracker;
  }

  close(): void {
    this.socket.destroy();
  }
}

const BASE_CAPS =
  (M.CLIENT_LONG_PASSWORD |
    M.CLIENT_PROTOCOL_41 |
    M.CLIENT_SECURE_CONNECTION |
    M.CLIENT_PLUGIN_AUTH |
    M.CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA |
    M.CLIENT_CONNECT_WITH_DB |
    M.CLIENT_CONNECT_ATTRS |
    M.CLIENT_TRANSACTIONS |
    M.CLIENT_MULTI_STATEMENTS |
    M.CLIENT_MULTI_RESULTS |
    M.CLIENT_PS_MULTI_RESULTS |
    M.CLIENT_SESSION_TRACK) >>>
  0;

type LoginResult =
  | { ok: true; client: RawClient; plugins: string[] }
  | { ok: false; err: M.ErrPacket; plugins: string[] };

/** Log in the way dbtape logs in upstream: answer whatever plugin the server asks for. */
async function login(
  port: number,
  user: string,
  password: string,
  deprecateEof: boolean,
): Promise<LoginResult> {
  const client = await RawClient.connect(port);
  const greeting = await client.read();
  const hs = M.decodeInitialHandshake(greeting.payload);
  assert.ok(hs.ok, hs.ok ? '' : hs.error.message);
  const caps = (BASE_CAPS | (deprecateEof ? M.CLIENT_DEPRECATE_EOF : 0)) & hs.value.capabilities;
  client.capabilities = caps >>> 0;
  const plugins = [M.PLUGIN_NATIVE_PASSWORD];
  client.write(
    M.encodeHandshakeResponse(
      {
        capabilities: client.capabilities,
        mariadbCapabilities: 0,
        maxPacketSize: 1 << 24,
        charset: M.CHARSET_UTF8MB4_GENERAL_CI,
        username: user,
        authResponse: M.nativePasswordScramble(password, hs.value.scramble),
        database: 'test',
        authPluginName: M.PLUGIN_NATIVE_PASSWORD,
        connectAttributes: new Map([['program_name', 'dbtape-codec-test']]),
      },
      client.seq,
    ),
  );
  for (;;) {
    const p = await client.read();
    const kind = M.authPacketKind(p.payload);
    if (kind === 'ok') return { ok: true, client, plugins };
    if (kind === 'err') {
      client.close();
      const err = M.decodeErr(p.payload);
      assert.ok(err.ok);
      return { ok: false, err: err.value, plugins };
    }
    assert.equal(kind, 'auth-switch', `unexpected auth packet ${p.payload.toString('hex')}`);
    const sw = M.decodeAuthSwitchRequest(p.payload);
    assert.ok(sw.ok);
    plugins.push(sw.value.pluginName);
    if (sw.value.pluginName === M.PLUGIN_ED25519) {
      client.write(M.encodeAuthData(M.ed25519Sign(password, sw.value.pluginData), client.seq));
    } else if (sw.value.pluginName === M.PLUGIN_NATIVE_PASSWORD) {
      const scramble = M.scrambleFromPluginData(sw.value.pluginData);
      client.write(M.encodeAuthData(M.nativePasswordScramble(password, scramble), client.seq));
    } else {
      assert.fail(`server asked for unsupported plugin ${sw.value.pluginName}`);
    }
  }
}

describe('MySQL codecs against the machine MariaDB', { timeout: 60_000 }, () => {
  let port = 0;
  let root: RawClient;
  const suffix = randomBytes(4).toString('hex');
  const nativeUser = `dbtape_nat_${suffix}`;
  const edUser = `dbtape_ed_${suffix}`;

  before(async () => {
    port = (await requireMachineMariaDb()).port;
    const r = await login(port, 'root', '', true);
    assert.ok(r.ok, r.ok ? '' : `root login failed: ${r.err.message}`);
    root = r.client;
    const plugin = await root.query(
      "SELECT plugin_status FROM information_schema.plugins WHERE plugin_name = 'ed25519'",
    );
    // Installed once and left in place: uninstalling could pull it from under a parallel run.
    if (plugin.rowCount === 0) await root.query("INSTALL SONAME 'auth_ed25519'");
    await root.query(`CREATE USER '${nativeUser}'@'%' IDENTIFIED BY 'native-pw'`);
    await root.query(`CREATE USER '${edUser}'@'%' IDENTIFIED VIA ed25519 USING PASSWORD('ed-pw-ü')`);
    await root.query(`GRANT SELECT ON test.* TO '${nativeUser}'@'%', '${edUser}'@'%'`);
  });

  after(async () => {
    if (!root) return;
    await root.query(`DROP USER IF EXISTS '${nativeUser}'@'%', '${edUser}'@'%'`);
    root.close();
  });

  test('mysql_native_password: right password logs in, wrong one gets 1045', async () => {
    const good = await login(port, nativeUser, 'native-pw', false);
    assert.ok(good.ok);
    const who = await good.client.query('SELECT CURRENT_USER()');
    assert.equal(who.rowCount, 1);
    good.client.close();
    const bad = await login(port, nativeUser, 'wrong', false);
    assert.equal(bad.ok, false);
    if (!bad.ok) {
      assert.equal(bad.err.errno, 1045);
      assert.equal(bad.err.sqlState, '28000');
    }
  });

  test('client_ed25519: the server switches plugins and accepts our signature', async () => {
    const good = await login(port, edUser, 'ed-pw-ü', true);
    assert.ok(good.ok, good.ok ? '' : good.err.message);
    assert.deepEqual(good.plugins, [M.PLUGIN_NATIVE_PASSWORD, M.PLUGIN_ED25519]);
    good.client.close();
    const bad = await login(port, edUser, 'ed-pw-u', true);
    assert.equal(bad.ok, false);
    if (!bad.ok) assert.equal(bad.err.errno, 1045);
    // The stored public key is ours too.
    const t = await root.command(
      Buffer.concat([
        Buffer.from([M.COM_QUERY]),
        Buffer.from(`SELECT authentication_string FROM mysql.user WHERE user = '${edUser}'`),
      ]),
    );
    const row = t.packets.find(([k]) => k === 'row');
    assert.ok(row);
    const text = M.decodeTextRow(row[1], ['utf8']);
    assert.ok(text.ok);
    assert.equal(text.value[0], M.ed25519PublicKey('ed-pw-ü').toString('base64').replace(/=+$/, ''));
  });

  // One column of each type family, to compare text-protocol and binary-protocol decoding.
  const probeTable =
    'CREATE TEMPORARY TABLE probe (ti TINYINT, tu TINYINT UNSIGNED, sm SMALLINT, mi MEDIUMINT, i INT, ' +
    'bu BIGINT UNSIGNED, f FLOAT, dbl DOUBLE, d DECIMAL(6,2), dt DATE, dtm DATETIME(6), ts TIMESTAMP(3) NULL, ' +
    "tm TIME, y YEAR, s VARCHAR(20), b VARBINARY(4), bl BLOB, e ENUM('a','b'), st SET('x','y'), bt BIT(4), n INT NULL)";
  const probeRow =
    "INSERT INTO probe VALUES (-5, 250, -300, -8000000, 123456, 18446744073709551615, 1.1, 0.25, -12.5, '2024-02-29', " +
    "'2024-02-29 13:14:15.123456', '2001-02-03 04:05:06.789', '-26:03:04', 2024, 'héllo', x'00ff', 'blob text', 'b', " +
    "'x,y', b'1010', NULL)";
  const probeValues = [
    '-5',
    '250',
    '-300',
    '-8000000',
    '123456',
    '18446744073709551615',
    '1.1',
    '0.25',
    '-12.50',
    '2024-02-29',
    '2024-02-29 13:14:15.123456',
    '2001-02-03 04:05:06.789',
    '-26:03:04',
    '2024',
    'héllo',
    '0x00ff',
    `0x${Buffer.from('blob text').toString('hex')}`,
    'b',
    'x,y',
    '0x0a',
    null,
  ];
  const probe = 'SELECT * FROM probe';

  for (const deprecateEof of [false, true]) {
    test(`resultsets and prepared statements, DEPRECATE_EOF ${deprecateEof ? 'on' : 'off'}`, async () => {
      const r = await login(port, 'root', '', deprecateEof);
      assert.ok(r.ok);
      const c = r.client;
      await c.query(probeTable);
      await c.query(probeRow);
      // Text protocol.
      const text = await c.command(Buffer.concat([Buffer.from([M.COM_QUERY]), Buffer.from(probe)]));
      const enc = text.tracker.columns.encodings();
      assert.ok(enc.ok);
      const textRow = text.packets.find(([k]) => k === 'row');
      assert.ok(textRow);
      const textValues = M.decodeTextRow(textRow[1], enc.value);
      assert.ok(textValues.ok, textValues.ok ? '' : textValues.error.message);
      assert.deepEqual(textValues.value, probeValues);
      // Binary protocol: prepare, execute, compare with the text values.
      const prep = await c.command(Buffer.concat([Buffer.from([M.COM_STMT_PREPARE]), Buffer.from(probe)]));
      assert.ok(prep.tracker.prepareOk);
      const id = prep.tracker.prepareOk.statementId;
      const exec = await c.command(Buffer.from([M.COM_STMT_EXECUTE, ...u32(id), 0, ...u32(1)]));
      const types = exec.tracker.columns.types();
      assert.ok(types.ok);
      const binRow = exec.packets.find(([k]) => k === 'row');
      assert.ok(binRow);
      const binValues = M.decodeBinaryRow(binRow[1], types.value);
      assert.ok(binValues.ok, binValues.ok ? '' : binValues.error.message);
      assert.deepEqual(binValues.value, textValues.value);
      // Multi-statement with an OK, a resultset and an error.
      const multi = await c.command(
        Buffer.concat([
          Buffer.from([M.COM_QUERY]),
          Buffer.from('DO 1; SELECT seq FROM seq_1_to_3; SELECT * FROM no_such_table'),
        ]),
      );
      assert.deepEqual(
        multi.packets.map(([k]) => k).filter((k) => k !== 'column-def'),
        [
          'ok',
          'column-count',
          ...(deprecateEof ? [] : ['metadata-eof']),
          'row',
          'row',
          'row',
          deprecateEof ? 'ok' : 'eof',
          'err',
        ],
      );
      assert.equal(multi.tracker.err?.errno, 1146);
      // Cursor: execute opens it, fetch reads the rows.
      const cur = await c.command(
        Buffer.concat([Buffer.from([M.COM_STMT_PREPARE]), Buffer.from('SELECT seq FROM seq_1_to_5')]),
      );
      const cid = cur.tracker.prepareOk?.statementId ?? assert.fail('no statement');
      const open = await c.command(
        Buffer.from([M.COM_STMT_EXECUTE, ...u32(cid), M.CURSOR_TYPE_READ_ONLY, ...u32(1)]),
        {
          cursor: true,
        },
      );
      assert.equal(open.tracker.rowCount, 0);
      assert.ok(open.tracker.statusFlags & M.SERVER_STATUS_CURSOR_EXISTS);
      const fetch = await c.command(Buffer.from([M.COM_STMT_FETCH, ...u32(cid), ...u32(10)]));
      assert.equal(fetch.tracker.rowCount, 5);
      assert.ok(fetch.tracker.statusFlags & M.SERVER_STATUS_LAST_ROW_SENT);
      c.close();
    });
  }
});

function u32(n: number): number[] {
  return [n & 0xff, (n >>> 8) & 0xff, (n >>> 16) & 0xff, (n >>> 24) & 0xff];
}
