/**
 * The Forwarder behind both proxies' hot paths: parts of one chunk become as few writes as
 * possible, and what is written is exactly the bytes asked for, in order.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { Forwarder } from '../../src/proxy/forwarder.js';

/** A Forwarder over a fake socket that keeps each write as it was given. */
function forwarder(): { fwd: Forwarder; writes: Buffer[] } {
  const writes: Buffer[] = [];
  const sink = { write: (b: Buffer) => writes.push(b) > 0 };
  return { fwd: new Forwarder(sink), writes };
}

const CHUNK = Buffer.from('0123456789abcdef');

test('adjacent ranges of the chunk become one write, a gap starts another', () => {
  const { fwd, writes } = forwarder();
  fwd.begin(CHUNK);
  fwd.range(CHUNK, 0, 4);
  fwd.range(CHUNK, 4, 6);
  fwd.range(CHUNK, 8, 10); // 6..8 is dropped
  fwd.range(CHUNK, 10, 12);
  fwd.finish();
  assert.deepEqual(
    writes.map((w) => w.toString()),
    ['012345', '89ab'],
  );
});

test('the whole chunk in ranges is written as the chunk itself, without a slice', () => {
  const { fwd, writes } = forwarder();
  fwd.begin(CHUNK);
  fwd.range(CHUNK, 0, 10);
  fwd.range(CHUNK, 10, CHUNK.length);
  fwd.finish();
  assert.equal(writes.length, 1);
  assert.equal(writes[0], CHUNK);
});

test('a buffer of its own goes between the ranges around it, in order', () => {
  const { fwd, writes } = forwarder();
  fwd.begin(CHUNK);
  fwd.range(CHUNK, 0, 4);
  fwd.add(Buffer.from('HDR!'));
  fwd.range(CHUNK, 4, 8);
  fwd.finish();
  assert.equal(Buffer.concat(writes).toString(), '0123HDR!4567');
});

test('a view of the chunk given to add() joins the ranges next to it; another chunk is written apart', () => {
  const { fwd, writes } = forwarder();
  const other = Buffer.from('ZYXW');
  fwd.begin(CHUNK);
  fwd.range(CHUNK, 0, 2);
  fwd.add(CHUNK.subarray(2, 5));
  fwd.range(other, 1, 3);
  fwd.range(CHUNK, 5, 6);
  fwd.finish();
  assert.deepEqual(
    writes.map((w) => w.toString()),
    ['01234', 'YX', '5'],
  );
});
