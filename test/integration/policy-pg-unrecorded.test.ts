import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, test } from 'node:test';
import pg from 'pg';
import { stringify } from 'yaml';
import {
  DEFAULT_TARGET,
  dataRows,
  errorFields,
  type InProcessDbtape,
  loggedIn,
  type PgRaw,
  queryMessage,
  simpleQuery,
  startInProcess,
  usersYaml,
} from '../support/inproc-dbtape.js';
import { connectDirect, uniqueName } from '../support/pg-fixtures.js';
import { bindMsg, executeMsg, parseMsg, SYNC_MSG } from '../support/recording-fixtures.js';

// The policy with recording off (`store.record: false`), the configuration the policy benchmark
// measures: max_rows then forwards server chunks whole while no result can reach the cap within
// them, and edits only from the chunk where one might. These tests pin the cap at that boundary.

const USERS = {
  capped: { password: 'capped-pw-2', roles: ['c'] },
  reader: { password: 'reader-pw-2', roles: ['r'] },
  /** Checked statements and max_rows: client bytes go through the request editor too. */
  guarded: { password: 'guarded-pw-2', roles: ['g'] },
} as const;
type UserName = keyof typeof USERS;

const CAP = 50;
const T = uniqueName('policy_unrec');
const NUMS = `${T}_nums`;
const SECRET = `${T}_secret`;
/** Raises a NOTICE per row: the server flushes each notice, so rows reach dbtape a few per chunk. */
const TICK = `${T}_tick`;
let dbtape: InProcessDbtape;
let storeDir: string;
let direct: pg.Client;

before(async () => {
  direct = await connectDirect();
  await direct.query(`create table ${NUMS} (n int)`);
  await direct.query(`insert into ${NUMS} select g from generate_series(1, 1000) g`);
  await direct.query(`create table ${SECRET} (v text)`);
  await direct.query(
    `create function ${TICK}(n int) returns int language plpgsql as $$ begin raise notice 'tick %', n; return n; end $$`,
  );
  storeDir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-policy-unrec-'));
  dbtape = await startInProcess({
    yaml: stringify({
      listen: { postgres: '127.0.0.1:0' },
      store: { url: `sqlite:${path.join(storeDir, 'store.db')}`, record: false },
      targets: [DEFAULT_TARGET],
      users: usersYaml(USERS),
      roles: [
        { name: 'c', targets: ['app'], access: 'admin', rules: { max_rows: CAP } },
        { name: 'r', targets: ['app'], access: 'read', rules: { deny_tables: [`public.${SECRET}`] } },
        {
          name: 'g',
          targets: ['app'],
          access: 'read',
          rules: { deny_tables: [`public.${SECRET}`], max_rows: CAP },
        },
      ],
    }),
  });
});

after(async () => {
  await dbtape?.close();
  await direct?.query(`drop table if exists ${NUMS}, ${SECRET}`);
  await direct?.query(`drop function if exists ${TICK}(int)`);
  await direct?.end();
  if (storeDir) rmSync(storeDir, { recursive: true, force: true });
});

async function connect(user: UserName): Promise<{ client: pg.Client; notices: string[] }> {
  const client = new pg.Client({
    host: '127.0.0.1',
    port: dbtape.port,
    user,
    password: USERS[user].password,
    database: 'app',
    application_name: uniqueName(`unrec_${user}`),
  });
  const notices: string[] = [];
  client.on('notice', (n) => notices.push(n.message ?? ''));
  await client.connect();
  return { client, notices };
}

const truncated = (more: number) =>
  `dbtape: result truncated to ${CAP} rows by rule max_rows (${more} more rows not sent)`;

describe('max_rows with recording off', () => {
  test('a large result, simple and extended, is cut to the cap with a warning', async () => {
    const { client, notices } = await connect('capped');
    try {
      const a = await client.query(`select n from ${NUMS} order by n`);
      assert.equal(a.rows.length, CAP);
      assert.equal(a.rowCount, CAP);
      assert.equal(a.rows[CAP - 1].n, CAP);
      const b = await client.query({ text: `select n from ${NUMS} where n > $1 order by n`, values: [900] });
      assert.equal(b.rows.length, CAP);
      assert.equal(b.rows[0].n, 901);
      assert.deepEqual(notices, [truncated(950), truncated(50)]);
      const small = await client.query(`select n from ${NUMS} where n <= $1`, [CAP]);
      assert.equal(small.rows.length, CAP, 'a result of exactly the cap is whole');
      assert.equal(notices.length, 2, 'and warns of nothing');
    } finally {
      await client.end();
    }
  });

  test('a read role: a single SELECT is stopped at the cap, the server runs no further; the session goes on', async () => {
    const { client, notices } = await connect('guarded');
    try {
      const total = 1_000_000;
      const r = await client.query(`select ${TICK}(g) as n from generate_series(1, ${total}) g`);
      assert.equal(r.rows.length, CAP);
      assert.equal(r.rowCount, CAP);
      assert.ok(
        notices.includes(
          `dbtape: result truncated to ${CAP} rows by rule max_rows (the query was stopped there)`,
        ),
        notices.filter((n) => !n.startsWith('tick')).join('; '),
      );
      const ticks = notices.filter((n) => n.startsWith('tick')).length;
      assert.ok(ticks < total, `the server stopped (${ticks} of ${total} rows run)`);
      assert.equal((await client.query('select 7 as n')).rows[0].n, 7);
    } finally {
      await client.end();
    }
  });

  test('a read role: an extended-protocol SELECT gets a row limit, the server runs no further; in a transaction too', async () => {
    const { client, notices } = await connect('guarded');
    try {
      const total = 1_000_000;
      const sql = { text: `select ${TICK}(g) as n from generate_series(1, $1::int) g`, values: [total] };
      const r = await client.query(sql);
      assert.equal(r.rows.length, CAP);
      assert.equal(r.rowCount, CAP);
      await client.query('begin');
      assert.equal((await client.query(sql)).rowCount, CAP);
      await client.query('commit');
      const ticks = notices.filter((n) => n.startsWith('tick')).length;
      // The server ran the row over the cap and no further: CAP + 1 per query.
      assert.equal(ticks, 2 * (CAP + 1), `the server stopped (${ticks} rows run by two queries)`);
      const stopped = `dbtape: result truncated to ${CAP} rows by rule max_rows (the query was stopped there)`;
      assert.equal(notices.filter((n) => n === stopped).length, 2);
      assert.equal((await client.query({ text: 'select $1::int as n', values: [7] })).rows[0].n, 7);
    } finally {
      await client.end();
    }
  });

  test('rows that arrive a few per chunk are cut at exactly the cap', async () => {
    const { client, notices } = await connect('capped');
    try {
      const r = await client.query(`select ${TICK}(g) as n from generate_series(1, ${CAP + 10}) g`);
      assert.equal(r.rows.length, CAP);
      assert.deepEqual(
        r.rows.map((x) => x.n),
        Array.from({ length: CAP }, (_, i) => i + 1),
      );
      assert.equal(r.rowCount, CAP);
      assert.equal(notices.filter((n) => n.startsWith('tick')).length, CAP + 10, 'the server ran every row');
      assert.deepEqual(
        notices.filter((n) => n.startsWith('dbtape')),
        [truncated(10)],
      );
      const again = await client.query('select 1 as one');
      assert.equal(again.rows[0].one, 1, 'the session goes on');
    } finally {
      await client.end();
    }
  });
});

function rawLogin(user: UserName): Promise<PgRaw> {
  return loggedIn(dbtape.port, { user, password: USERS[user].password });
}

/** The rows, tag and notices of a portal read in pages of `page` rows. */
async function paged(raw: PgRaw, portal: string, page: number, pages: number) {
  await raw.send(
    Buffer.concat([
      parseMsg('', `select n from ${NUMS} order by n`),
      bindMsg(portal, '', []),
      ...Array.from({ length: pages }, () => executeMsg(portal, page)),
      executeMsg(portal, 0),
      SYNC_MSG,
    ]),
  );
  const ms = await raw.readUntil('Z');
  const cc = ms.filter((m) => m.type === 'C');
  return {
    rows: dataRows(ms).map((r) => Number(r[0])),
    tags: cc.map((m) => m.body.toString('utf8', 0, m.body.length - 1)),
    notices: ms.filter((m) => m.type === 'N').length,
  };
}

for (const user of ['capped', 'guarded'] as const) {
  describe(`portals read in pages, recording off (${user})`, () => {
    test('the cap holds across pages, and a failed pipeline does not shift it to another portal', async () => {
      const raw = await rawLogin(user);
      try {
        await simpleQuery(raw, 'begin');
        const first = await paged(raw, 'pa', 30, 2);
        assert.deepEqual(
          first.rows,
          Array.from({ length: CAP }, (_, i) => i + 1),
        );
        assert.deepEqual(first.tags, [`SELECT ${CAP}`]);
        assert.ok(first.notices >= 1, 'a truncation warning');
        await simpleQuery(raw, 'commit');

        // A pipeline whose first statement fails: the server skips its Executes up to Sync.
        await raw.send(
          Buffer.concat([
            parseMsg('', 'select no_such_column from pg_class'),
            bindMsg('', '', []),
            executeMsg('', 0),
            parseMsg('', 'select 1'),
            bindMsg('', '', []),
            executeMsg('', 0),
            SYNC_MSG,
          ]),
        );
        const failed = await raw.readUntil('Z');
        assert.equal(failed.filter((m) => m.type === 'E').length, 1);

        // Two portals open at once, read alternately: each keeps its own count.
        await simpleQuery(raw, 'begin');
        await raw.send(
          Buffer.concat([
            parseMsg('', `select n from ${NUMS} order by n`),
            bindMsg('p1', '', []),
            bindMsg('p2', '', []),
            executeMsg('p1', 40),
            executeMsg('p2', 10),
            executeMsg('p1', 40),
            executeMsg('p2', 10),
            SYNC_MSG,
          ]),
        );
        const ms = await raw.readUntil('Z');
        const rows = dataRows(ms).map((r) => Number(r[0]));
        // p1: 40 rows, then 10 more up to the cap; p2: 10 and 10, far below it.
        const expected = [
          ...Array.from({ length: 40 }, (_, i) => i + 1),
          ...Array.from({ length: 10 }, (_, i) => i + 1),
          ...Array.from({ length: 10 }, (_, i) => i + 41),
          ...Array.from({ length: 10 }, (_, i) => i + 11),
        ];
        assert.deepEqual(rows, expected);
        await simpleQuery(raw, 'commit');
      } finally {
        raw.destroy();
      }
    });
  });
}

describe('checked sessions with recording off', () => {
  test('a prepared statement executed again (Bind/Execute/Sync only) runs, and denials still hold', async () => {
    const { client } = await connect('guarded');
    try {
      for (let i = 1; i <= 20; i++) {
        const r = await client.query({
          name: 'by_n',
          text: `select n from ${NUMS} where n = $1`,
          values: [i],
        });
        assert.deepEqual(r.rows, [{ n: i }]);
      }
      await assert.rejects(client.query(`select * from ${SECRET}`), { code: '42501' });
      const r = await client.query({ name: 'by_n', text: `select n from ${NUMS} where n = $1`, values: [7] });
      assert.deepEqual(r.rows, [{ n: 7 }]);
    } finally {
      await client.end();
    }
  });
});

describe('denials with recording off', () => {
  test('a denied statement gets 42501 and the session stays usable', async () => {
    const { client } = await connect('reader');
    try {
      await assert.rejects(client.query(`select * from ${SECRET}`), (err: Error & { code?: string }) => {
        assert.equal(err.code, '42501');
        assert.match(err.message, /^dbtape: denied by rule /);
        return true;
      });
      await assert.rejects(client.query({ text: `select v from ${SECRET} where v = $1`, values: ['x'] }), {
        code: '42501',
      });
      const r = await client.query(`select count(*)::int as c from ${NUMS}`);
      assert.equal(r.rows[0].c, 1000);
    } finally {
      await client.end();
    }
  });

  test('statements, a denied one and Syncs sent one byte per write reach the server intact', async () => {
    // Each header then spans several reads, the first written whole before the next were held back
    // for the policy: the held bytes were once dropped, and the server hung up on a broken message.
    const raw = await rawLogin('reader');
    try {
      await raw.sendBytewise(
        Buffer.concat([
          queryMessage('select 1'),
          SYNC_MSG,
          queryMessage(`select * from ${SECRET}`),
          SYNC_MSG,
          queryMessage('select 2'),
        ]),
      );
      assert.deepEqual(dataRows(await raw.readUntil('Z')), [['1']]);
      assert.equal((await raw.readUntil('Z')).length, 1, 'the Sync: ReadyForQuery alone');
      const denied = await raw.readUntil('Z');
      assert.equal(errorFields(denied[0]).C, '42501');
      assert.equal((await raw.readUntil('Z')).length, 1);
      assert.deepEqual(dataRows(await raw.readUntil('Z')), [['2']]);
    } finally {
      raw.destroy();
    }
  });
});
