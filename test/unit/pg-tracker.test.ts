/**
 * The PostgreSQL tracker on its own: what it records of a conversation, message by message, as
 * pipeline.ts feeds it (client messages as sent, server messages as they arrive). The integration
 * tests (recording-clients, jdbc-clients) check the same against the real server and clients.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { SessionRecorder } from '../../src/model/recorder.js';
import type { SessionEventBody } from '../../src/model/session.js';
import { PgTracker } from '../../src/proxy/postgres/tracker.js';

const [I, T, E] = ['I', 'T', 'E'].map((c) => c.charCodeAt(0)) as [number, number, number];

function tracker(): { t: PgTracker; events: SessionEventBody[] } {
  const events: SessionEventBody[] = [];
  const rec: SessionRecorder = { event: (e) => events.push(e), durable: () => Promise.resolve() };
  return { t: new PgTracker(rec, 'rows', 5), events };
}

/** A simple query answered by one CommandComplete (or an error) and ReadyForQuery with `status`. */
function simple(t: PgTracker, sql: string, outcome: string | { error: string }, status: number): void {
  t.query(sql);
  if (typeof outcome === 'string') t.commandComplete(outcome);
  else t.error({ severity: 'ERROR', code: outcome.error, message: 'failed' });
  t.readyForQuery(status);
}

const txStates = (events: readonly SessionEventBody[]) =>
  events.flatMap((e) => (e.kind === 'tx' ? [e.state] : e.kind === 'query' ? [`> ${e.sql}`] : []));

describe('transaction states', () => {
  test('ROLLBACK TO SAVEPOINT after an error: the transaction recovers', () => {
    const { t, events } = tracker();
    simple(t, 'BEGIN', 'BEGIN', T);
    simple(t, 'SAVEPOINT s1', 'SAVEPOINT', T);
    simple(t, 'SELECT * FROM nosuch', { error: '42P01' }, E);
    simple(t, 'ROLLBACK TO s1', 'ROLLBACK', T);
    simple(t, 'INSERT INTO t VALUES (1)', 'INSERT 0 1', T);
    simple(t, 'COMMIT', 'COMMIT', I);
    assert.deepEqual(txStates(events), [
      '> BEGIN',
      'begin',
      '> SAVEPOINT s1',
      '> SELECT * FROM nosuch',
      'failed',
      '> ROLLBACK TO s1',
      'recovered',
      '> INSERT INTO t VALUES (1)',
      '> COMMIT',
      'commit',
    ]);
  });

  test('a ROLLBACK TO SAVEPOINT in a transaction that had not failed records nothing', () => {
    const { t, events } = tracker();
    simple(t, 'BEGIN', 'BEGIN', T);
    simple(t, 'SAVEPOINT s1', 'SAVEPOINT', T);
    simple(t, 'ROLLBACK TO s1', 'ROLLBACK', T);
    assert.deepEqual(txStates(events), ['> BEGIN', 'begin', '> SAVEPOINT s1', '> ROLLBACK TO s1']);
  });

  test('ROLLBACK TO SAVEPOINT through the extended protocol', () => {
    const { t, events } = tracker();
    simple(t, 'BEGIN', 'BEGIN', T);
    simple(t, 'SELECT 1/0', { error: '22012' }, E);
    t.parse({ name: '', sql: 'ROLLBACK TO SAVEPOINT s1', paramTypes: [] });
    t.bind({ portal: '', statement: '', formats: [], values: [], resultFormats: [] });
    t.execute('');
    t.sync();
    t.parseComplete();
    t.bindComplete();
    t.commandComplete('ROLLBACK');
    t.readyForQuery(T);
    assert.deepEqual(txStates(events).slice(-3), ['failed', '> ROLLBACK TO SAVEPOINT s1', 'recovered']);
  });

  // The server answers ReadyForQuery T before and after: only the statement says a transaction ended.
  test('COMMIT AND CHAIN and ROLLBACK AND CHAIN end one transaction and begin the next', () => {
    const { t, events } = tracker();
    simple(t, 'BEGIN', 'BEGIN', T);
    simple(t, 'COMMIT AND CHAIN', 'COMMIT', T);
    simple(t, 'SELECT 1/0', { error: '22012' }, E);
    // In a failed transaction both roll back, and both answer ROLLBACK, as ROLLBACK TO does.
    simple(t, 'commit and chain', 'ROLLBACK', T);
    simple(t, 'SELECT 1/0', { error: '22012' }, E);
    simple(t, 'ROLLBACK AND CHAIN', 'ROLLBACK', T);
    simple(t, 'COMMIT AND NO CHAIN', 'COMMIT', I);
    assert.deepEqual(
      events.flatMap((e) => (e.kind === 'tx' ? [e.state] : [])),
      ['begin', 'commit', 'begin', 'failed', 'rollback', 'begin', 'failed', 'rollback', 'begin', 'commit'],
    );
  });
});
