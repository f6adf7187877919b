/**
 * The benchmark report's arithmetic (bench/table.ts): paired ratios are taken within a round, a
 * round where either target failed is left out, and target order alternates between rounds.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { pairedRatios, roundOrder, type Sample } from '../../bench/table.js';

const pairing = { target: 'b', baseline: 'a', meaning: 'b against a' };

test('paired ratios divide within each round and take the median', () => {
  const samples: Sample[] = [
    { round: 1, mode: 'm', target: 'a', tps: 100 },
    { round: 1, mode: 'm', target: 'b', tps: 90 },
    { round: 2, mode: 'm', target: 'a', tps: 50 },
    { round: 2, mode: 'm', target: 'b', tps: 50 },
    { round: 3, mode: 'm', target: 'a', tps: 200 },
    { round: 3, mode: 'm', target: 'b', tps: 196 },
  ];
  const [row] = pairedRatios(samples, ['m'], [pairing]);
  assert.deepEqual(row?.ratios, [0.9, 1, 0.98]);
  assert.equal(row?.median, 0.98);
});

test('a round where either target failed is left out, and absent pairings give no row', () => {
  const samples: Sample[] = [
    { round: 1, mode: 'm', target: 'a', tps: 100 },
    { round: 1, mode: 'm', target: 'b', error: 'refused' },
    { round: 2, mode: 'm', target: 'a', tps: 100 },
    { round: 2, mode: 'm', target: 'b', tps: 80 },
  ];
  const rows = pairedRatios(samples, ['m'], [pairing, { target: 'c', baseline: 'a', meaning: '' }]);
  assert.equal(rows.length, 1);
  assert.deepEqual(rows[0]?.ratios, [0.8]);
});

test('targets run in reverse order every other round', () => {
  assert.deepEqual(roundOrder(['x', 'y', 'z'], 1), ['x', 'y', 'z']);
  assert.deepEqual(roundOrder(['x', 'y', 'z'], 2), ['z', 'y', 'x']);
});
