// `dbtape serve`'s signal handling: a clean shutdown exits 0; one that cannot finish writing the
// recording in time, or a second signal, exits 1 with a log line saying what was still queued
// (it used to exit 0 after 5 s, hiding the loss from a supervisor).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { shutdownHandler } from '../../src/cli/shutdown.js';
import { collectingLogger, type LogLine } from '../support/inproc-dbtape.js';

function setup(close: () => Promise<void>) {
  const logs: LogLine[] = [];
  const exits: number[] = [];
  let closes = 0;
  const stop = shutdownHandler(
    {
      close: () => {
        closes++;
        return close();
      },
      queuedEvents: () => 42,
    },
    collectingLogger(logs),
    { limitMs: 50, exit: (code) => exits.push(code) },
  );
  return { stop, logs, exits, closes: () => closes };
}

const never = () => new Promise<void>(() => {});

test('a shutdown that finishes exits 0, once', async () => {
  const s = setup(async () => {});
  s.stop('SIGTERM');
  await new Promise((r) => setTimeout(r, 80));
  assert.deepEqual(s.exits, [0]);
  assert.ok(!s.logs.some((l) => l.level === 'error'));
});

test('a shutdown that takes too long exits 1 and says how much was still queued', async () => {
  const s = setup(never);
  s.stop('SIGTERM');
  await new Promise((r) => setTimeout(r, 80));
  assert.deepEqual(s.exits, [1]);
  const line = s.logs.find((l) => l.level === 'error');
  assert.match(line?.msg ?? '', /^shutdown took longer than 0\.05 s: exiting without writing/);
  assert.equal(line?.queuedEvents, 42);
});

test('a second signal during shutdown exits 1 at once; close() is asked for once', async () => {
  const s = setup(never);
  s.stop('SIGINT');
  s.stop('SIGINT');
  assert.deepEqual(s.exits, [1]);
  assert.equal(s.closes(), 1);
  assert.match(s.logs.find((l) => l.level === 'error')?.msg ?? '', /^SIGINT again during shutdown/);
  await new Promise((r) => setTimeout(r, 80));
  assert.deepEqual(s.exits, [1], 'the timer does not exit again');
});
