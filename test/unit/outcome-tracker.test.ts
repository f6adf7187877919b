import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { linkOutcomes, type OutcomeEvent, OutcomeTracker } from '../../src/store/outcome-tracker.js';

const ev = (seq: number, kind: string, sessionId = 's'): OutcomeEvent => ({ sessionId, seq, kind });

describe('linkOutcomes', () => {
  test('a statement answered in its own batch is inserted with its outcome', () => {
    const { failed, late } = linkOutcomes(new OutcomeTracker(), [
      ev(1, 'query'),
      ev(2, 'result'),
      ev(3, 'query'),
      ev(4, 'error'),
    ]);
    assert.deepEqual(failed, [0, null, 1, null]);
    assert.deepEqual(late, []);
  });

  test("an earlier batch's statement gets one late outcome, the last: a result then an error of one simple query is failed", () => {
    const tracker = new OutcomeTracker();
    linkOutcomes(tracker, [ev(1, 'query')]);
    // "SELECT 1; SELECT * FROM nosuch": a result, then an error with nothing pending (the same query).
    const { late } = linkOutcomes(tracker, [ev(2, 'result'), ev(3, 'error')]);
    assert.deepEqual(late, [{ sessionId: 's', querySeq: 1, failed: true }]);
  });
});
