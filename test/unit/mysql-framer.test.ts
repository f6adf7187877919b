import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { MAX_PACKET_PAYLOAD } from '../../src/protocol/mysql/constants.js';
import { assembleSmall, PacketAssembler } from '../../src/protocol/mysql/packet-assembler.js';
import { PacketFramer } from '../../src/protocol/mysql/packet-framer.js';
import { SequenceTracker } from '../../src/protocol/mysql/sequence.js';
import { framePayload, PacketWriter, physicalPacketCount } from '../../src/protocol/mysql/writer.js';

function packet(payload: Buffer | string, seq: number): Buffer {
  return framePayload(typeof payload === 'string' ? Buffer.from(payload) : payload, seq).bytes;
}

interface Logical {
  payload: Buffer;
  seqs: number[];
}

/**
 * Run chunks through a framer and rebuild logical packets from segments, checking the
 * segment invariants on the way: raw ranges tile the forwarded bytes, flags agree.
 */
function frameAll(chunks: Buffer[]): { packets: Logical[]; forwarded: Buffer; framer: PacketFramer } {
  const framer = new PacketFramer();
  const packets: Logical[] = [];
  const forwarded: Buffer[] = [];
  let parts: Buffer[] = [];
  let seqs: number[] = [];
  let expectOffset = 0;
  for (const chunk of chunks) {
    framer.push(chunk);
    while (framer.next()) {
      const s = framer.segment;
      assert.equal(s.payloadStart - s.rawStart, s.headerBytes);
      assert.ok(s.payloadEnd > s.payloadStart || s.length === 0, 'only empty packets give empty segments');
      assert.equal(s.first, s.payloadOffset === 0);
      assert.equal(s.logicalOffset, expectOffset);
      if (s.first) seqs.push(s.seq);
      forwarded.push(chunk.subarray(s.rawStart, s.payloadEnd));
      parts.push(Buffer.from(chunk.subarray(s.payloadStart, s.payloadEnd)));
      expectOffset += s.payloadEnd - s.payloadStart;
      if (s.complete && s.lastOfLogical) {
        packets.push({ payload: Buffer.concat(parts), seqs });
        parts = [];
        seqs = [];
        expectOffset = 0;
      }
      if (s.complete) assert.equal(s.lastOfLogical, s.length < MAX_PACKET_PAYLOAD);
    }
  }
  return { packets, forwarded: Buffer.concat(forwarded), framer };
}

describe('PacketFramer', () => {
  const payloads = ['hello', '', 'x', 'a longer payload with some bytes in it', '\x03SELECT 1'];
  const stream = Buffer.concat(payloads.map((p, i) => packet(p, i)));

  test('many packets in one chunk', () => {
    const { packets, forwarded, framer } = frameAll([stream]);
    assert.deepEqual(
      packets.map((p) => p.payload.toString()),
      payloads,
    );
    assert.deepEqual(
      packets.map((p) => p.seqs),
      payloads.map((_, i) => [i]),
    );
    assert.deepEqual(forwarded, stream);
    assert.equal(framer.idle, true);
  });

  test('split at every byte offset into two chunks', () => {
    for (let cut = 0; cut <= stream.length; cut++) {
      const { packets } = frameAll([stream.subarray(0, cut), stream.subarray(cut)]);
      assert.deepEqual(
        packets.map((p) => p.payload.toString()),
        payloads,
        `cut at ${cut}`,
      );
    }
  });

  test('split at every pair of offsets into three chunks', () => {
    for (let a = 0; a <= stream.length; a++) {
      for (let b = a; b <= stream.length; b++) {
        const { packets } = frameAll([stream.subarray(0, a), stream.subarray(a, b), stream.subarray(b)]);
        assert.equal(packets.length, payloads.length, `cuts ${a}/${b}`);
        assert.equal(packets[3].payload.toString(), payloads[3]);
      }
    }
  });

  test('one byte per chunk', () => {
    const chunks = [...stream].map((b) => Buffer.from([b]));
    const { packets, framer } = frameAll(chunks);
    assert.deepEqual(
      packets.map((p) => p.payload.toString()),
      payloads,
    );
    assert.equal(framer.idle, true);
  });

  test('header-only chunk boundaries: headerBytes counts what lies in the chunk', () => {
    const p = packet('abc', 7);
    const framer = new PacketFramer();
    framer.push(p.subarray(0, 4));
    assert.equal(framer.next(), false, 'a header alone yields no segment');
    assert.equal(framer.idle, false);
    framer.push(p.subarray(4));
    assert.equal(framer.next(), true);
    assert.equal(framer.segment.headerBytes, 0);
    assert.equal(framer.segment.seq, 7);
    assert.equal(framer.segment.first, true);
    framer.push(p.subarray(0, 2));
    assert.equal(framer.next(), false);
    framer.push(p.subarray(2));
    assert.equal(framer.next(), true);
    assert.equal(framer.segment.headerBytes, 2);
    assert.equal(framer.segment.rawStart, 0);
  });

  test('a caller may stop mid-chunk and resume', () => {
    const framer = new PacketFramer();
    framer.push(stream);
    assert.equal(framer.next(), true);
    assert.equal(framer.segment.seq, 0);
    assert.throws(() => framer.push(stream), /before the previous chunk/);
    const seen: number[] = [];
    while (framer.next()) seen.push(framer.segment.seq);
    assert.deepEqual(seen, [1, 2, 3, 4]);
  });

  test('idle is false while a header, a payload or a continuation is pending', () => {
    const framer = new PacketFramer();
    framer.push(packet('abcdef', 0).subarray(0, 6));
    while (framer.next());
    assert.equal(framer.idle, false);
  });
});

describe('16 MiB continuation packets', () => {
  // One logical payload of 0xFFFFFF + 10 bytes: two physical packets. Built once.
  const big = Buffer.alloc(MAX_PACKET_PAYLOAD + 10);
  for (let i = 0; i < big.length; i += 4093) big[i] = i & 0xff;
  big[big.length - 1] = 0x5a;
  const wire = framePayload(big, 3).bytes;

  test('framePayload splits at 0xFFFFFF and numbers packets', () => {
    assert.equal(physicalPacketCount(big.length), 2);
    assert.equal(wire.length, big.length + 8);
    assert.equal(wire.readUIntLE(0, 3), MAX_PACKET_PAYLOAD);
    assert.equal(wire[3], 3);
    assert.equal(wire.readUIntLE(4 + MAX_PACKET_PAYLOAD, 3), 10);
    assert.equal(wire[4 + MAX_PACKET_PAYLOAD + 3], 4);
    assert.equal(framePayload(big, 3).nextSeq, 5);
  });

  test('exactly 0xFFFFFF bytes is followed by an empty packet', () => {
    const exact = big.subarray(0, MAX_PACKET_PAYLOAD);
    const f = framePayload(exact, 0);
    assert.equal(f.bytes.length, MAX_PACKET_PAYLOAD + 8);
    assert.equal(f.bytes.readUIntLE(MAX_PACKET_PAYLOAD + 4, 3), 0);
    const framer = new PacketFramer();
    framer.push(f.bytes);
    const segs: { cont: boolean; last: boolean; len: number }[] = [];
    while (framer.next()) {
      const s = framer.segment;
      segs.push({ cont: s.isContinuation, last: s.lastOfLogical, len: s.payloadEnd - s.payloadStart });
    }
    assert.deepEqual(segs, [
      { cont: false, last: false, len: MAX_PACKET_PAYLOAD },
      { cont: true, last: true, len: 0 },
    ]);
    assert.equal(framer.idle, true);
  });

  test('segments report continuation without copying, in 64 KiB chunks', () => {
    const framer = new PacketFramer();
    let segments = 0;
    let bytes = 0;
    let sawContinuation = false;
    let lastLogical = -1;
    for (let at = 0; at < wire.length; at += 65536) {
      const chunk = wire.subarray(at, at + 65536);
      framer.push(chunk);
      while (framer.next()) {
        const s = framer.segment;
        segments++;
        bytes += s.payloadEnd - s.payloadStart;
        assert.equal(framer.current.buffer, wire.buffer, 'segments point into the pushed chunk');
        if (s.isContinuation) {
          sawContinuation = true;
          assert.equal(s.seq, 4);
          assert.equal(s.logicalOffset, MAX_PACKET_PAYLOAD + s.payloadOffset);
        }
        if (s.complete && s.lastOfLogical) lastLogical = s.logicalOffset + (s.payloadEnd - s.payloadStart);
      }
    }
    assert.equal(bytes, big.length);
    assert.ok(segments > 256);
    assert.ok(sawContinuation);
    assert.equal(lastLogical, big.length);
    assert.equal(framer.idle, true);
  });

  test('a 0xFFFFFF packet without its follow-up leaves the framer not idle', () => {
    const framer = new PacketFramer();
    framer.push(wire.subarray(0, 4 + MAX_PACKET_PAYLOAD));
    while (framer.next());
    assert.equal(framer.idle, false);
  });

  test('assembleSmall reassembles across physical packets when allowed', () => {
    const framer = new PacketFramer();
    const asm = new PacketAssembler(big.length);
    let got: Buffer | null = null;
    for (let at = 0; at < wire.length; at += 1 << 20) {
      framer.push(wire.subarray(at, at + (1 << 20)));
      const r = assembleSmall(framer, asm);
      if (r.status === 'packet') {
        got = r.payload;
        assert.equal(r.seq, 3);
        assert.equal(r.lastSeq, 4);
      }
    }
    assert.ok(got !== null);
    assert.equal(got.length, big.length);
    assert.equal(got[got.length - 1], 0x5a);
    assert.ok(got.equals(big));
  });

  test('assembleSmall refuses an oversized packet once, then skips it and goes on', () => {
    const framer = new PacketFramer();
    const asm = new PacketAssembler(1024);
    const tail = packet('after', 0);
    const statuses: string[] = [];
    const all = Buffer.concat([wire, tail]);
    for (let at = 0; at < all.length; at += 1 << 22) {
      framer.push(all.subarray(at, at + (1 << 22)));
      for (;;) {
        const r = assembleSmall(framer, asm);
        if (r.status === 'need-more') break;
        statuses.push(r.status === 'packet' ? `packet:${r.payload.toString()}` : r.status);
        if (r.status === 'too-large') {
          assert.equal(r.error.code, 'DBTAPE_MYSQL_TOO_LARGE');
          assert.match(r.error.message, /^dbtape: packet of at least 16 MiB exceeds the limit of 1024 bytes/);
        }
      }
    }
    assert.deepEqual(statuses, ['too-large', 'packet:after']);
  });
});

describe('PacketAssembler', () => {
  test('a packet inside one chunk is returned without copying', () => {
    const framer = new PacketFramer();
    const asm = new PacketAssembler(100);
    const chunk = packet('abc', 0);
    framer.push(chunk);
    const r = assembleSmall(framer, asm);
    assert.equal(r.status, 'packet');
    if (r.status === 'packet') assert.equal(r.payload.buffer, chunk.buffer);
  });

  test('a small packet over the limit is refused from its header', () => {
    const framer = new PacketFramer();
    const asm = new PacketAssembler(3);
    framer.push(packet('abcd', 0).subarray(0, 5));
    const r = assembleSmall(framer, asm);
    assert.equal(r.status, 'too-large');
    framer.push(Buffer.concat([Buffer.from('bcd'), packet('ok', 1)]));
    const r2 = assembleSmall(framer, asm);
    assert.equal(r2.status, 'packet');
    if (r2.status === 'packet') assert.equal(r2.payload.toString(), 'ok');
  });

  test('split packets are copied out of the chunks', () => {
    const framer = new PacketFramer();
    const asm = new PacketAssembler(100);
    const p = packet('hello world', 9);
    const first = Buffer.from(p.subarray(0, 8));
    framer.push(first);
    assert.equal(assembleSmall(framer, asm).status, 'need-more');
    assert.equal(asm.busy, true);
    first.fill(0); // the socket reuses its buffer: the assembled packet must not change
    framer.push(p.subarray(8));
    const r = assembleSmall(framer, asm);
    assert.equal(r.status, 'packet');
    if (r.status === 'packet') {
      assert.equal(r.payload.toString(), 'hello world');
      assert.equal(r.seq, 9);
    }
  });
});

describe('SequenceTracker', () => {
  test('counts up, wraps at 255 and reports the first mismatch', () => {
    const t = new SequenceTracker();
    assert.equal(t.check(0), true);
    assert.equal(t.check(1), true);
    assert.equal(t.check(5), false);
    assert.deepEqual(t.mismatch, { expected: 2, got: 5 });
    assert.equal(t.check(6), true, 'resynchronised on the id received');
    assert.equal(t.check(9), false);
    assert.deepEqual(t.mismatch, { expected: 2, got: 5 }, 'the first mismatch is kept');
    t.reset(255);
    assert.equal(t.check(255), true);
    assert.equal(t.check(0), true);
    assert.equal(t.mismatch, null);
    assert.equal(t.take(2), 1);
    assert.equal(t.expected, 3);
  });
});

describe('PacketWriter', () => {
  test('frames small payloads in place and grows as needed', () => {
    const w = new PacketWriter(16);
    w.u8(1).u16(0x0203).u24(0x040506).u32(0x0708090a).u64(0x0b0c0d0e0f101112n).text('é').nulString('x');
    w.lenencInt(300).lenencString('abc').zeros(2);
    const p = w.packet(5);
    assert.equal(p.readUIntLE(0, 3), w.length);
    assert.equal(p[3], 5);
    assert.deepEqual(
      [...p.subarray(4, 4 + 18)],
      [1, 3, 2, 6, 5, 4, 0x0a, 9, 8, 7, 0x12, 0x11, 0x10, 0x0f, 0x0e, 0x0d, 0x0c, 0x0b],
    );
    assert.deepEqual([...p.subarray(22)], [0xc3, 0xa9, 0x78, 0, 0xfc, 0x2c, 0x01, 3, 0x61, 0x62, 0x63, 0, 0]);
  });
});
