/**
 * The short version of the crash proof (issue 5; scripts/crash-proof.ts runs the long one): pgbench
 * through `dbtape serve` in strict mode, with signing and encryption keys, against a throwaway
 * PostgreSQL that logs every statement; dbtape is SIGKILLed at a random moment after pgbench's
 * first statement and restarted. Every statement the server executed must be in the recording,
 * and the whole store must verify.
 *
 * Scale 2 (200,000 accounts) rather than the script's 20: `npm test` gives each file 120 s in all
 * (--test-timeout), and on a busy machine pgbench -i at scale 10 alone took a quarter of that.
 * Needs `npm run build` (npm test does it), the PostgreSQL server binaries and pgbench.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { runCrashProof } from '../../scripts/crash-proof.js';

test('5 SIGKILLs of dbtape in strict mode: no executed statement missing, verify finds nothing', {
  timeout: 600_000,
}, async (t) => {
  const lines: string[] = [];
  const summary = await runCrashProof({
    trials: 5,
    clients: 8,
    scale: 2,
    mode: 'simple',
    minMs: 500,
    maxMs: 2000,
    keep: false,
    log: (line) => lines.push(line),
  });
  const detail = `\n${lines.join('\n')}`;
  t.diagnostic(
    `${summary.trials.length} trials: ${summary.executed} statements executed, ${summary.lost} lost, ` +
      `${summary.findings} verify findings; median ${Math.round(summary.medianRate)} statements/s`,
  );
  assert.equal(summary.trials.length, 5);
  assert.ok(summary.executed > 0, `the server executed no statement through dbtape${detail}`);
  assert.equal(summary.lost, 0, `statements executed but not recorded${detail}`);
  assert.equal(summary.findings, 0, `verify findings${detail}`);
});
