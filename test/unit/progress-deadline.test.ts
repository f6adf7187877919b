// The closing wait of both proxies: it ends a session after a period without progress, but a stall of
// the proxy's own process (which makes the timer fire late, before the I/O that shows progress) is
// not taken for a stuck peer. The slow-drip hostile tests once saw a session cut under such a stall.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { setTimeout as sleep } from 'node:timers/promises';
import { ProgressDeadline } from '../../src/proxy/progress-deadline.js';

/** Blocks the event loop, as a long GC pause or a starved process does. */
function stall(ms: number): void {
  const until = performance.now() + ms;
  while (performance.now() < until);
}

const nextTurn = () => new Promise<void>((resolve) => setImmediate(resolve));

async function until(done: () => boolean): Promise<void> {
  for (let i = 0; i < 200 && !done(); i++) await sleep(10);
  assert.ok(done(), 'the deadline expired in the end');
}

describe('ProgressDeadline', () => {
  test('expires once the period passes without progress', async () => {
    let expired = 0;
    new ProgressDeadline(30, () => expired++);
    await until(() => expired === 1);
    await sleep(60);
    assert.equal(expired, 1, 'once');
  });

  test('progress starts the wait over', async () => {
    let expired = 0;
    const d = new ProgressDeadline(60, () => expired++);
    for (let i = 0; i < 5; i++) {
      await sleep(20);
      d.progress();
    }
    assert.equal(expired, 0);
    await until(() => expired === 1);
  });

  test('a stall of the process itself is not taken for a stuck peer', async () => {
    let expired = 0;
    new ProgressDeadline(40, () => expired++);
    stall(120);
    // The timer phase of this turn ran the late timer: it waited again rather than expire.
    await nextTurn();
    assert.equal(expired, 0, 'not expired right after the stall');
    await until(() => expired === 1);
  });

  test('a process stalled again and again still lets a stuck peer go', async () => {
    let expired = 0;
    new ProgressDeadline(20, () => expired++);
    for (let i = 0; i < 6 && expired === 0; i++) {
      stall(60);
      await nextTurn();
    }
    assert.equal(expired, 1);
  });

  test('cancel stops it', async () => {
    let expired = 0;
    new ProgressDeadline(20, () => expired++).cancel();
    await sleep(60);
    assert.equal(expired, 0);
  });
});
