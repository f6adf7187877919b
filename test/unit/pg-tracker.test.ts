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
    simple(t, 'SAVEPOINT s1', 'SAVEPOINT', T);
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

describe('how a transaction ends', () => {
  const states = (events: readonly SessionEventBody[]) =>
    events.flatMap((e) => (e.kind === 'tx' ? [e.state] : []));
  /** One simple query string answered by these tags (an error last, if any) and ReadyForQuery `status`. */
  const script = (t: PgTracker, sql: string, tags: readonly string[], status: number, error?: string) => {
    t.query(sql);
    for (const tag of tags) t.commandComplete(tag);
    if (error) t.error({ severity: 'ERROR', code: error, message: 'failed' });
    t.readyForQuery(status);
  };

  // A deferred constraint checked at COMMIT, a serialization failure at COMMIT: the server rolls
  // back and answers an error, then ReadyForQuery I. The old rule called every T to I a commit.
  test('a COMMIT that fails rolls the transaction back', () => {
    const { t, events } = tracker();
    simple(t, 'BEGIN', 'BEGIN', T);
    simple(t, 'INSERT INTO child VALUES (1)', 'INSERT 0 1', T);
    simple(t, 'COMMIT', { error: '23503' }, I);
    assert.deepEqual(states(events), ['begin', 'rollback']);
  });

  test('a session that ends idle in a transaction rolls it back; with a statement in flight it says nothing', () => {
    const idle = tracker();
    simple(idle.t, 'BEGIN', 'BEGIN', T);
    simple(idle.t, 'INSERT INTO t VALUES (1)', 'INSERT 0 1', T);
    idle.t.sessionEnded();
    assert.deepEqual(states(idle.events), ['begin', 'rollback']);
    // The COMMIT's answer never came: it may have committed.
    const inFlight = tracker();
    simple(inFlight.t, 'BEGIN', 'BEGIN', T);
    inFlight.t.query('COMMIT');
    inFlight.t.sessionEnded();
    assert.deepEqual(states(inFlight.events), ['begin']);
    const outside = tracker();
    simple(outside.t, 'SELECT 1', 'SELECT 1', I);
    outside.t.sessionEnded();
    assert.deepEqual(states(outside.events), []);
  });

  test('PREPARE TRANSACTION prepares, and a failed one rolls back', () => {
    const { t, events } = tracker();
    simple(t, 'BEGIN', 'BEGIN', T);
    simple(t, "PREPARE TRANSACTION 'a'", 'PREPARE TRANSACTION', I);
    simple(t, "COMMIT PREPARED 'a'", 'COMMIT PREPARED', I);
    simple(t, 'BEGIN', 'BEGIN', T);
    simple(t, "PREPARE TRANSACTION 'b'", { error: '55000' }, I);
    assert.deepEqual(states(events), ['begin', 'prepared', 'begin', 'rollback']);
  });

  // One Query message, one ReadyForQuery (idle before and after): only the tags tell.
  test('BEGIN ... COMMIT in one query string', () => {
    const { t, events } = tracker();
    script(t, 'BEGIN; INSERT INTO t VALUES (1); COMMIT', ['BEGIN', 'INSERT 0 1', 'COMMIT'], I);
    script(t, 'BEGIN; INSERT INTO t VALUES (2); ROLLBACK', ['BEGIN', 'INSERT 0 1', 'ROLLBACK'], I);
    assert.deepEqual(states(events), ['begin', 'commit', 'begin', 'rollback']);
  });

  test('COMMIT; BEGIN in one query string inside a transaction ends one and begins the next', () => {
    const { t, events } = tracker();
    simple(t, 'BEGIN', 'BEGIN', T);
    script(t, 'COMMIT; BEGIN', ['COMMIT', 'BEGIN'], T);
    simple(t, 'COMMIT', 'COMMIT', I);
    assert.deepEqual(states(events), ['begin', 'commit', 'begin', 'commit']);
  });

  test('a query string that fails inside its own transaction block leaves it failed, then rolled back', () => {
    const { t, events } = tracker();
    script(t, 'BEGIN; SELECT 1/0; COMMIT', ['BEGIN'], E, '22012');
    simple(t, 'COMMIT', 'ROLLBACK', I);
    assert.deepEqual(states(events), ['begin', 'failed', 'rollback']);
  });

  test('a COMMIT outside a transaction block (a warning) and an implicit transaction record nothing', () => {
    const { t, events } = tracker();
    simple(t, 'COMMIT', 'COMMIT', I);
    script(t, 'INSERT INTO t VALUES (1); COMMIT; SELECT 1/0', ['INSERT 0 1', 'COMMIT'], I, '22012');
    assert.deepEqual(states(events), []);
  });

  test('savepoints in one query string: ROLLBACK TO keeps the transaction, the final ROLLBACK ends it', () => {
    const { t, events } = tracker();
    script(
      t,
      'BEGIN; SAVEPOINT a; INSERT INTO t VALUES (1); ROLLBACK TO a; ROLLBACK',
      ['BEGIN', 'SAVEPOINT', 'INSERT 0 1', 'ROLLBACK', 'ROLLBACK'],
      I,
    );
    assert.deepEqual(states(events), ['begin', 'rollback']);
  });

  test('a ROLLBACK without a savepoint in the transaction ends it even where the text says ROLLBACK TO', () => {
    const { t, events } = tracker();
    simple(t, 'BEGIN', 'BEGIN', T);
    script(t, 'ROLLBACK; SELECT $$ROLLBACK TO x$$; BEGIN', ['ROLLBACK', 'SELECT 1', 'BEGIN'], T);
    assert.deepEqual(states(events), ['begin', 'rollback', 'begin']);
  });
});

describe('a portal read in chunks', () => {
  const COLS = [{ name: 'g', typeOid: 23, format: 0 }];
  const row = (v: string) => {
    const b = Buffer.alloc(2 + 4 + v.length);
    b.writeInt16BE(1, 0);
    b.writeInt32BE(v.length, 2);
    b.write(v, 6);
    return b;
  };
  const bind = (t: PgTracker, portal: string) =>
    t.bind({ portal, statement: '', formats: [], values: [], resultFormats: [] });
  /** The server's answer to one Execute: `n` rows from `from`, then PortalSuspended or the tag. */
  const answer = (t: PgTracker, from: number, n: number, end: string) => {
    for (let i = 0; i < n; i++) t.dataRow(row(String(from + i)));
    if (end === 'SUSPENDED') t.portalSuspended();
    else t.commandComplete(end);
  };
  /** A statement as `> SQL`, an error as `error CODE`, a result as [tag, rows, fetched, captured, truncated]. */
  const results = (events: readonly SessionEventBody[]): (string | readonly unknown[])[] =>
    events.flatMap((e): (string | readonly unknown[])[] =>
      e.kind === 'result'
        ? [[e.tag, e.rows, e.fetched, e.rowData?.map((r) => r[0]).join(',') ?? '', e.truncated ?? false]]
        : e.kind === 'query'
          ? [`> ${e.sql}`]
          : e.kind === 'error'
            ? [`error ${e.code}`]
            : [],
    );

  function opened(sql: string, portal = 'c1'): { t: PgTracker; events: SessionEventBody[] } {
    const x = tracker();
    x.t.parse({ name: '', sql, paramTypes: [] });
    bind(x.t, portal);
    x.t.describe('P', portal);
    x.t.parseComplete();
    x.t.bindComplete();
    x.t.rowDescription(COLS);
    return x;
  }

  test('one statement; each later Execute says what it fetched, rows counts the statement', () => {
    const { t, events } = opened('SELECT g');
    t.execute('c1');
    answer(t, 1, 3, 'SUSPENDED');
    t.execute('c1');
    answer(t, 4, 3, 'SUSPENDED');
    t.execute('c1');
    answer(t, 7, 2, 'SELECT 2');
    assert.deepEqual(results(events), [
      '> SELECT g',
      ['SUSPENDED', 3, undefined, '1,2,3', false],
      // max_rows (5) is the statement's: two more rows are captured, then none.
      ['SUSPENDED', 6, 3, '4,5', true],
      ['SELECT 2', 8, 2, '', true],
    ]);
  });

  test('Executes sent before the first answer (pipelined) still continue the statement', () => {
    const { t, events } = opened('SELECT g');
    t.execute('c1');
    t.execute('c1');
    t.execute('c1');
    answer(t, 1, 2, 'SUSPENDED');
    answer(t, 3, 2, 'SUSPENDED');
    answer(t, 5, 0, 'SELECT 0');
    assert.deepEqual(
      results(events).map((r) => (typeof r === 'string' ? r : r.slice(0, 3))),
      ['> SELECT g', ['SUSPENDED', 2, undefined], ['SUSPENDED', 4, 2], ['SELECT 0', 4, 0]],
    );
  });

  test('INSERT ... RETURNING read in chunks: rows are the rows returned, not the last tag', () => {
    const { t, events } = opened('INSERT INTO t SELECT g FROM generate_series(1, 5) g RETURNING g');
    t.execute('c1');
    answer(t, 1, 2, 'SUSPENDED');
    t.execute('c1');
    answer(t, 3, 3, 'INSERT 0 3');
    assert.deepEqual(
      results(events)
        .slice(1)
        .map((r) => r.slice(0, 3)),
      [
        ['SUSPENDED', 2, undefined],
        ['INSERT 0 3', 5, 3],
      ],
    );
  });

  test('a portal bound again under the same name is a new statement', () => {
    const { t, events } = opened('SELECT g');
    t.execute('c1');
    answer(t, 1, 1, 'SELECT 1');
    bind(t, 'c1');
    t.bindComplete();
    t.execute('c1');
    answer(t, 1, 1, 'SELECT 1');
    assert.deepEqual(
      results(events).map((r) => (typeof r === 'string' ? r : r.slice(0, 3))),
      ['> SELECT g', ['SELECT 1', 1, undefined], '> SELECT g', ['SELECT 1', 1, undefined]],
    );
  });

  test('an error while fetching on: no statement of its own, and no "not executed" for skipped fetches', () => {
    const { t, events } = opened('SELECT 1/(g - 4)');
    t.execute('c1');
    t.sync();
    answer(t, 1, 2, 'SUSPENDED');
    t.readyForQuery(T);
    t.execute('c1');
    t.execute('c1');
    t.sync();
    t.error({ severity: 'ERROR', code: '22012', message: 'division by zero' });
    t.readyForQuery(E);
    assert.deepEqual(
      results(events).map((r) => (typeof r === 'string' ? r : r.slice(0, 3))),
      ['> SELECT 1/(g - 4)', ['SUSPENDED', 2, undefined], 'error 22012'],
    );
  });
});
