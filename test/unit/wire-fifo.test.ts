import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { Fifo } from '../../src/wire/fifo.js';

setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

describe('Fifo', () => {
  test('gives entries back in order across growth and wrap-around', () => {
    const q = new Fifo<number>();
    const expected: number[] = [];
    let next = 0;
    // Uneven pushes and shifts move the head around the ring while it grows from 8 slots.
    for (let round = 0; round < 200; round++) {
      for (let i = 0; i < (round % 7) + 1; i++) {
        q.push(next);
        expected.push(next++);
      }
      for (let i = 0; i < (round % 5) + 1 && expected.length > 0; i++)
        assert.equal(q.shift(), expected.shift());
      assert.equal(q.length, expected.length);
      assert.equal(q.peek(), expected[0]);
      for (let i = 0; i < expected.length; i++) assert.equal(q.at(i), expected[i]);
    }
    while (expected.length > 0) assert.equal(q.shift(), expected.shift());
    assert.equal(q.shift(), undefined);
    assert.equal(q.peek(), undefined);
    assert.equal(q.length, 0);
  });

  test('at() and set() address entries from the head; set() refuses a slot past the end', () => {
    const q = new Fifo<string>();
    for (const s of ['a', 'b', 'c']) q.push(s);
    q.shift();
    q.set(q.length - 1, 'C');
    assert.deepEqual([q.at(0), q.at(1), q.at(2), q.at(-1)], ['b', 'C', undefined, undefined]);
    assert.throws(() => q.set(2, 'x'), RangeError);
  });

  test('an entry taken from the queue is no longer held by it', async () => {
    // The proxies queue an object per command; one the queue kept after its response lived long
    // enough to reach V8's old space and made the proxy run full collections under load.
    const q = new Fifo<object>();
    const refs = fill(q);
    await new Promise((resolve) => setImmediate(resolve));
    gc();
    assert.equal(q.length, 1);
    assert.equal(refs.taken.deref(), undefined, 'a taken entry survived a full collection');
    assert.notEqual(refs.queued.deref(), undefined);
  });
});

/** Pushes two objects and takes one, keeping only weak references to both. */
function fill(q: Fifo<object>): { taken: WeakRef<object>; queued: WeakRef<object> } {
  const taken = { n: 1 };
  const queued = { n: 2 };
  q.push(taken);
  q.push(queued);
  q.shift();
  return { taken: new WeakRef(taken), queued: new WeakRef(queued) };
}
