import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decoyIterations } from '../../src/web/auth/password.js';

test('the decoy costs what most users cost, not what the first user costs', () => {
  // The first user is the odd one out: the decoy must not follow it.
  assert.equal(decoyIterations([100_000, 4096, 4096, 4096]), 4096);
  assert.equal(decoyIterations([4096, 600_000, 600_000]), 600_000);
});

test('a tie goes to the larger count, and no users to the fallback', () => {
  assert.equal(decoyIterations([4096, 600_000]), 600_000);
  assert.equal(decoyIterations([600_000, 600_000, 4096, 4096, 1024]), 600_000);
  assert.equal(decoyIterations([]), 4096);
  assert.equal(decoyIterations([], 10_000), 10_000);
});
