// The MySQL pipeline in its other recording modes, against a scripted server: with recording
// off (statements are not decoded, yet KILL is still mapped) and with durability: strict (a
// statement reaches the server only once its record is in the store).
import assert from 'node:assert/strict';
import { test } from 'node:test';
import * as M from '../../src/protocol/mysql/index.js';
import { Recorder } from '../../src/recording/recorder.js';
import { openStore } from '../../src/store/open-store.js';
import { FullDiskStore } from '../support/failing-store.js';
import {
  errOf,
  type FakeUpstream,
  fakeTarget,
  journaledStatements,
  type MysqlProxy,
  type MysqlProxyOptions,
  queryPayload,
  RawMysql,
  Recorded,
  startFakeUpstream,
  startMysqlProxy,
} from '../support/mysql-fixtures.js';
import { waitFor } from '../support/wait.js';

async function withProxy(
  opts: MysqlProxyOptions,
  body: (proxy: MysqlProxy, fake: FakeUpstream) => Promise<void>,
  beforeQuery?: (sql: string) => Promise<void>,
): Promise<void> {
  const fake = await startFakeUpstream({ beforeQuery: (sql) => beforeQuery?.(sql) ?? Promise.resolve() });
  const proxy = await startMysqlProxy({
    ...opts,
    targets: [fakeTarget(fake)],
  });
  try {
    await body(proxy, fake);
  } finally {
    await proxy.close();
    await fake.close();
  }
}

async function loggedIn(proxy: MysqlProxy): Promise<{ raw: RawMysql; id: number }> {
  const raw = await RawMysql.connect(proxy.port);
  const { greeting, answer } = await raw.login();
  assert.equal(answer.payload[0], M.OK_HEADER);
  return { raw, id: greeting.connectionId };
}

test('with recording off, statements pass through undecoded and KILL is still mapped', async () => {
  await withProxy({ record: false }, async (proxy, fake) => {
    const victim = await loggedIn(proxy);
    const victimThread = fake.received.length;
    const { raw } = await loggedIn(proxy);
    raw.command(queryPayload('SELECT 3'));
    assert.equal((await raw.response(M.COM_QUERY)).length, 1 + 1 + 3 + 1);
    raw.command(queryPayload(`/* interrupt */ KILL QUERY ${victim.id}`));
    await raw.response(M.COM_QUERY);
    assert.equal(fake.received.at(-1)?.at(-1)?.toString('utf8', 1), `KILL QUERY ${victimThread}`);
    // The pre-check that spares unrecorded sessions decoding reads the whole text, not its head.
    const forwarded = fake.received.at(-1)!.length;
    raw.command(queryPayload(`SELECT '${'x'.repeat(600)}'; KILL QUERY ${victim.id}`));
    assert.equal(errOf(await raw.read()).errno, 1235);
    assert.equal(fake.received.at(-1)!.length, forwarded, 'nothing was forwarded');
    raw.close();
    victim.raw.close();
  });
});

test('durability: strict: the statement is in the store before the server sees it', async () => {
  let recorded: Recorded | null = null;
  let storeUrl: string | null = null;
  const seenInStore: boolean[] = [];
  await withProxy(
    { durability: 'strict' },
    async (proxy) => {
      recorded = new Recorded(proxy.storeUrl);
      storeUrl = proxy.storeUrl;
      const { raw } = await loggedIn(proxy);
      for (const n of [1, 2, 3]) {
        raw.command(queryPayload(`SELECT ${n}`));
        assert.equal((await raw.response(M.COM_QUERY)).length, 1 + 1 + n + 1);
      }
      raw.close();
      await recorded.close();
    },
    async (sql) => {
      const sessions = (await recorded?.sessions()) ?? [];
      const events = sessions.length > 0 ? await recorded!.events(sessions[0].id) : [];
      // Durable means in the store file: applied already, or still in its journal.
      const stored = events.some((e) => e.kind === 'query' && e.sql === sql);
      seenInStore.push(stored || (recorded !== null && journaledStatements(storeUrl!).includes(sql)));
    },
  );
  assert.deepEqual(seenInStore, [true, true, true]);
});

test('durability: strict: a statement the store cannot record is refused, not sent, and the session goes on', async () => {
  const store = new FullDiskStore(openStore('sqlite::memory:', { journal: true }));
  const recorders = new Recorder({ store, durability: 'strict', maxBackoffMs: 20 });
  await withProxy({ durability: 'strict', recorders }, async (proxy, fake) => {
    const { raw } = await loggedIn(proxy);
    raw.command(queryPayload('SELECT 1'));
    await raw.response(M.COM_QUERY);
    store.failing = true;
    const sent = fake.received.flat().length;
    raw.command(queryPayload('SELECT 2'));
    const e = errOf(await raw.read());
    assert.match(
      e.message,
      /^dbtape: the statement was not run because it could not be recorded: the session store cannot write \(disk full: SQLITE_FULL\)$/,
    );
    assert.equal(fake.received.flat().length, sent, 'nothing reached the server');
    store.failing = false;
    await waitFor(
      async () => {
        raw.command(queryPayload('SELECT 3'));
        const [first] = await raw.response(M.COM_QUERY);
        return first!.payload[0] !== M.ERR_HEADER;
      },
      { what: 'statements to run again once the store writes' },
    );
    raw.close();
  });
});

test('an administrator ending a session: the client gets ERR 1927 and the end is recorded as killed', async () => {
  await withProxy({}, async (proxy) => {
    const { raw } = await loggedIn(proxy);
    raw.command(queryPayload('SELECT 1'));
    await raw.response(M.COM_QUERY);
    const live = proxy.server!.registry.all();
    assert.equal(live.length, 1);
    live[0].kill('ended by an administrator');
    const e = errOf(await raw.read());
    assert.equal(e.errno, 1927);
    assert.equal(e.message, 'dbtape: ended by an administrator');
    await raw.waitClosed();
    const recorded = new Recorded(proxy.storeUrl);
    try {
      const events = await waitFor(
        async () => {
          const ev = await recorded.events(live[0].meta.id);
          return ev.at(-1)?.kind === 'end' ? ev : null;
        },
        { what: 'the end of the killed session to be stored' },
      );
      const end = events.at(-1);
      assert.equal(end?.kind === 'end' && end.reason, 'killed');
    } finally {
      await recorded.close();
    }
  });
});
