// The typed-message framer (src/protocol/postgres/framer.ts): every split of the input gives the same
// callbacks, in each mode, and bad headers stop it at once without buffering the claimed body.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { type FrameHandler, Framer, Mode, modeTable } from '../../src/protocol/postgres/framer.js';

type Event =
  | { kind: 'message'; type: number; body: string; raw: string }
  | { kind: 'skipped'; type: number; bodyLength: number }
  | { kind: 'pass'; type: number; bytes: string }
  | { kind: 'invalid'; type: number; reason: string };

interface Msg {
  readonly type: number;
  readonly body: Buffer;
}

function frame(m: Msg): Buffer {
  const out = Buffer.alloc(5 + m.body.length);
  out[0] = m.type;
  out.writeInt32BE(4 + m.body.length, 1);
  m.body.copy(out, 5);
  return out;
}

function header(type: number, length: number): Buffer {
  const out = Buffer.alloc(5);
  out[0] = type;
  out.writeUInt32BE(length >>> 0, 1);
  return out;
}

const c = (s: string): number => s.charCodeAt(0);

/** Patterned bytes, so a misplaced slice shows up as a wrong body. */
function bytes(n: number, seed: number): Buffer {
  const b = Buffer.alloc(n);
  for (let i = 0; i < n; i++) b[i] = (seed * 31 + i * 7) & 0xff;
  return b;
}

/** A mix of sizes: empty bodies, bodies shorter and longer than a header, one large. */
const MESSAGES: readonly Msg[] = [
  { type: c('Q'), body: Buffer.from('SELECT 1\0') },
  { type: c('S'), body: Buffer.alloc(0) },
  { type: c('d'), body: bytes(3, 1) },
  { type: c('D'), body: bytes(1, 2) },
  { type: c('d'), body: Buffer.alloc(0) },
  { type: c('P'), body: bytes(40, 3) },
  { type: c('D'), body: bytes(0, 4) },
  { type: c('d'), body: bytes(70, 5) },
  { type: c('H'), body: Buffer.alloc(0) },
  { type: c('D'), body: bytes(6, 6) },
  { type: c('Q'), body: bytes(4, 7) },
];

/** Q, P, S, H inspected; d passed; D skipped. */
const MIXED = modeTable(Mode.Invalid, [
  [c('Q'), Mode.Inspect],
  [c('P'), Mode.Inspect],
  [c('S'), Mode.Inspect],
  [c('H'), Mode.Inspect],
  [c('d'), Mode.Pass],
  [c('D'), Mode.Skip],
]);

/** Callbacks in order; pass pieces are checked and joined into one event per message. */
class Recording implements FrameHandler {
  readonly events: Event[] = [];
  /** Inspected messages whose views pointed into a fed chunk (no copy was made). */
  zeroCopy = 0;
  private passOpen = false;
  chunk: Buffer | null = null;

  message(type: number, body: Buffer, raw: Buffer): void {
    this.passOpen = false;
    assert.equal(raw[0], type, 'raw starts with the type byte');
    assert.equal(raw.readInt32BE(1), 4 + body.length, 'raw carries the length');
    assert.ok(raw.subarray(5).equals(body), 'body is raw without its header');
    if (this.chunk && raw.buffer === this.chunk.buffer) this.zeroCopy++;
    this.events.push({ kind: 'message', type, body: body.toString('hex'), raw: raw.toString('hex') });
  }

  skipped(type: number, bodyLength: number): void {
    this.passOpen = false;
    this.events.push({ kind: 'skipped', type, bodyLength });
  }

  pass(type: number, piece: Buffer, first: boolean): void {
    assert.ok(piece.length > 0, 'no empty pass pieces');
    const last = this.events.at(-1);
    if (first) {
      this.events.push({ kind: 'pass', type, bytes: piece.toString('hex') });
      this.passOpen = true;
      return;
    }
    assert.ok(
      this.passOpen && last?.kind === 'pass' && last.type === type,
      'continuation of the open pass message',
    );
    last.bytes += piece.toString('hex');
  }

  invalid(reason: string, type: number): void {
    this.passOpen = false;
    this.events.push({ kind: 'invalid', type, reason });
  }
}

function expected(msgs: readonly Msg[], modes: Uint8Array): Event[] {
  return msgs.map((m): Event => {
    const raw = frame(m);
    switch (modes[m.type]) {
      case Mode.Skip:
        return { kind: 'skipped', type: m.type, bodyLength: m.body.length };
      case Mode.Pass:
        return { kind: 'pass', type: m.type, bytes: raw.toString('hex') };
      case Mode.Inspect:
        return { kind: 'message', type: m.type, body: m.body.toString('hex'), raw: raw.toString('hex') };
      default:
        throw new Error('test message list holds an invalid type');
    }
  });
}

function run(
  chunks: readonly Buffer[],
  modes: Uint8Array,
  maxBody = 1 << 20,
): { rec: Recording; framer: Framer } {
  const rec = new Recording();
  const framer = new Framer(new Uint8Array(modes), maxBody, rec);
  for (const chunk of chunks) {
    rec.chunk = chunk;
    framer.feed(chunk);
  }
  return { rec, framer };
}

function splitAt(buf: Buffer, ...cuts: number[]): Buffer[] {
  const out: Buffer[] = [];
  let prev = 0;
  for (const cut of [...cuts, buf.length]) {
    out.push(buf.subarray(prev, cut));
    prev = cut;
  }
  return out;
}

const MODE_TABLES: Record<string, Uint8Array> = {
  mixed: MIXED,
  'all Skip': modeTable(Mode.Skip, []),
  'all Pass': modeTable(Mode.Pass, []),
  'all Inspect': modeTable(Mode.Inspect, []),
};

describe('Framer: the same callbacks however the input is split', () => {
  const stream = Buffer.concat(MESSAGES.map(frame));

  for (const [name, modes] of Object.entries(MODE_TABLES)) {
    const want = expected(MESSAGES, modes);

    test(`${name}: all at once`, () => {
      const { rec, framer } = run([stream], modes);
      assert.deepEqual(rec.events, want);
      assert.ok(framer.idle);
    });

    test(`${name}: split in two at every offset`, () => {
      for (let i = 0; i <= stream.length; i++) {
        const { rec, framer } = run(splitAt(stream, i), modes);
        assert.deepEqual(rec.events, want, `split at ${i}`);
        assert.ok(framer.idle, `idle after split at ${i}`);
      }
    });

    // Pairs of cuts are many (about 18 000): only with the table that mixes every mode.
    if (modes === MIXED) {
      test(`${name}: split in three at every pair of offsets`, () => {
        for (let i = 0; i <= stream.length; i++) {
          for (let j = i; j <= stream.length; j++) {
            const { rec } = run(splitAt(stream, i, j), modes);
            assert.deepEqual(rec.events, want, `split at ${i} and ${j}`);
          }
        }
      });
    }

    test(`${name}: one byte per feed`, () => {
      const chunks = [...stream].map((b) => Buffer.from([b]));
      const { rec, framer } = run(chunks, modes);
      assert.deepEqual(rec.events, want);
      assert.ok(framer.idle);
    });
  }

  test('not idle while a message is incomplete, at every offset inside it', () => {
    const one = frame({ type: c('Q'), body: Buffer.from('SELECT 1\0') });
    for (let i = 1; i < one.length; i++) {
      const { rec, framer } = run([one.subarray(0, i)], modeTable(Mode.Inspect, []));
      assert.equal(framer.idle, false, `after ${i} bytes`);
      assert.deepEqual(rec.events, []);
    }
  });

  test('inspected messages inside one chunk are views of it, not copies', () => {
    const { rec } = run([stream], modeTable(Mode.Inspect, []));
    assert.equal(rec.zeroCopy, MESSAGES.length);
  });

  test('pass mode hands over a whole in-chunk message as one piece, and a split one as it arrives', () => {
    const big = frame({ type: c('d'), body: bytes(100, 9) });
    const pieces: [number, boolean][] = [];
    const framer = new Framer(modeTable(Mode.Pass, []), 1000, {
      message: () => assert.fail('no message in pass mode'),
      skipped: () => assert.fail('no skip in pass mode'),
      invalid: (r) => assert.fail(r),
      pass: (_t, b, first) => pieces.push([b.length, first]),
    });
    framer.feed(big.subarray(0, 30));
    framer.feed(big.subarray(30, 31));
    framer.feed(big.subarray(31));
    assert.deepEqual(pieces, [
      [30, true],
      [1, false],
      [74, false],
    ]);
  });

  test('mode changes between feeds apply from the next message header on', () => {
    const rows = [1, 2, 3].map((i) => frame({ type: c('D'), body: bytes(i, i) }));
    const rec = new Recording();
    const framer = new Framer(modeTable(Mode.Skip, []), 100, rec);
    framer.feed(Buffer.concat([rows[0], rows[1].subarray(0, 2)]));
    framer.modes[c('D')] = Mode.Inspect; // the second row's header was already partly read
    framer.feed(Buffer.concat([rows[1].subarray(2), rows[2]]));
    assert.deepEqual(
      rec.events.map((e) => e.kind),
      ['skipped', 'message', 'message'],
    );
  });
});

describe('Framer: hostile headers', () => {
  const modes = MIXED;
  const before = MESSAGES.slice(0, 3);
  const good = Buffer.concat(before.map(frame));
  const after = frame({ type: c('Q'), body: Buffer.from('SELECT 2\0') });

  /** Good messages, then `bad`, then more good bytes: all of them, split at every offset. */
  function assertStopsAt(bad: Buffer, reason: RegExp, maxBody = 1 << 20): void {
    const stream = Buffer.concat([good, bad, after]);
    const want = expected(before, modes);
    for (let i = 0; i <= stream.length; i++) {
      const { rec } = run(splitAt(stream, i), modes, maxBody);
      const events = rec.events;
      const last = events.at(-1);
      assert.deepEqual(events.slice(0, -1), want, `split at ${i}: the good messages before the bad one`);
      assert.equal(last?.kind, 'invalid', `split at ${i}: invalid is the last callback`);
      assert.match((last as { reason: string }).reason, reason);
      assert.equal((last as { type: number }).type, bad[0]);
    }
    // Bytes fed after the violation are ignored.
    const { rec, framer } = run([stream], modes, maxBody);
    const n = rec.events.length;
    framer.feed(after);
    assert.equal(rec.events.length, n);
  }

  for (const len of [0, 1, 3]) {
    test(`length ${len} (< 4)`, () =>
      assertStopsAt(header(c('Q'), len), new RegExp(`invalid message length ${len}`)));
  }

  for (const len of [0x8000_0000, 0xffff_ffff, 0xffff_fffc]) {
    test(`length 0x${len.toString(16)} (negative as int32)`, () => {
      assertStopsAt(header(c('Q'), len), new RegExp(`invalid message length ${len | 0}`));
    });
  }

  test('a body one byte above maxBodySize, in every mode', () => {
    for (const type of ['Q', 'd', 'D']) {
      assertStopsAt(header(c(type), 4 + 101), /message of 101 bytes exceeds the limit of 100/, 100);
    }
  });

  test('a body of exactly maxBodySize is accepted', () => {
    const m = { type: c('Q'), body: bytes(100, 1) };
    const { rec } = run(splitAt(frame(m), 7), modes, 100);
    assert.deepEqual(rec.events, expected([m], modes));
  });

  test('unknown message types', () => {
    for (const type of [0x00, c('p'), c('X'), c('Z'), 0xff]) {
      assertStopsAt(frame({ type, body: bytes(2, 1) }), /invalid message type 0x[0-9a-f]{2}/);
    }
  });

  test('an oversized or invalid header is refused as soon as its 5 bytes arrive, before any body', () => {
    const hostile = [header(c('Q'), 0x7fff_ffff), header(c('d'), 0x7fff_ffff), header(0x01, 10)];
    for (const h of hostile) {
      for (let i = 0; i < 5; i++) {
        const rec = new Recording();
        const framer = new Framer(new Uint8Array(modes), 1024, rec);
        framer.feed(h.subarray(0, i));
        assert.equal(rec.events.length, 0, 'nothing before the header is complete');
        framer.feed(h.subarray(i));
        assert.equal(rec.events.length, 1);
        assert.equal(rec.events[0].kind, 'invalid');
      }
    }
  });
});
