/**
 * API tokens kept by the session store itself (PostgreSQL: table api_tokens), as `dbtape serve`
 * keeps them when store.url is postgres://: what ApiTokens reports done is in the database, so it
 * outlives the process; what the store could not write changes nothing. Also the seam's rules
 * with a keeper this file controls, and the store worker's forwarding of the token methods.
 */
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import { openStoreReady } from '../../src/store/open-store.js';
import type { ApiTokenRecord, SessionStore } from '../../src/store/session-store.js';
import { WorkerSessionStore } from '../../src/store/worker-store.js';
import { ApiTokens } from '../../src/web/auth/api-tokens.js';
import {
  StoreTokenKeeper,
  type TokenKeeper,
  tokenKeeper,
  tokenPlace,
} from '../../src/web/auth/token-keepers.js';
import { pgAdminOn, throwawayPgDatabase } from '../support/store-kinds.js';

const DAY_MS = 86_400_000;
const dir = mkdtempSync(join(tmpdir(), 'dbtape-tokens-store-'));
after(() => rmSync(dir, { recursive: true, force: true }));

/** The store as `dbtape serve` opens it (the writer), and its tokens as the dashboard loads them. */
async function openTokens(
  url: string,
  now?: () => number,
): Promise<{ store: SessionStore; tokens: ApiTokens }> {
  const store = await openStoreReady(url, { journal: true });
  const tokens = await ApiTokens.open(tokenKeeper(tokenPlace(url), store), now ? { now } : {});
  return { store, tokens };
}

describe('API tokens in a PostgreSQL store', () => {
  test('a PostgreSQL store URL keeps tokens in the store; SQLite beside its file; memory stays memory', () => {
    assert.deepEqual(tokenPlace('postgres://dbtape@db:5432/dbtape'), { kind: 'store' });
    assert.deepEqual(tokenPlace('postgresql://dbtape:pw@db/dbtape'), { kind: 'store' });
    assert.deepEqual(tokenPlace('sqlite:/data/dbtape.db'), {
      kind: 'file',
      file: '/data/dbtape.db.tokens.json',
    });
    assert.deepEqual(tokenPlace('sqlite::memory:'), { kind: 'memory' });
    assert.deepEqual(tokenPlace('postgres://dbtape@db/dbtape', null), { kind: 'memory' });
  });

  test('tokens created survive reopening the store, with their user, dates and expiry; only hashes are stored', async () => {
    const { url } = await throwawayPgDatabase();
    const clock = { ms: Date.parse('2026-03-01T12:00:00.123Z') };
    const first = await openTokens(url, () => clock.ms);
    const forever = await first.tokens.create('siem', 'alice', 'ada');
    const month = await first.tokens.create("ci's 'quoted' name", 'bob', 'ada', 30);
    await first.store.close();

    const again = await openTokens(url, () => clock.ms);
    try {
      assert.equal(
        again.tokens.lookup(forever.token)?.id,
        forever.info.id,
        'the token works after a restart',
      );
      assert.equal(again.tokens.lookup(month.token)?.user, 'bob');
      assert.deepEqual(
        again.tokens.list().map(({ lastUsedAt: _, ...t }) => t),
        [forever.info, month.info],
        'every field reads back as created, oldest first',
      );
      assert.equal(again.tokens.lookup('dbtape_not-a-token'), null);

      // The expiry outlives the restart too: refused from its date on, still listed.
      clock.ms += 30 * DAY_MS;
      const expired = again.tokens.lookup(month.token)!;
      assert.equal(again.tokens.expired(expired), true);
      assert.equal(again.tokens.valid(month.info.id), false);
      assert.equal(again.tokens.expired(again.tokens.lookup(forever.token)!), false);

      const sql = pgAdminOn(url);
      const rows = await sql`SELECT * FROM api_tokens`;
      await sql.end();
      const stored = JSON.stringify(rows);
      assert.equal(rows.length, 2);
      assert.ok(!stored.includes(forever.token) && !stored.includes(month.token), 'no secret is stored');
      assert.ok(stored.includes(forever.info.hash), 'its hash is');
    } finally {
      await again.store.close();
    }
  });

  test('a revoked token stays revoked after a restart', async () => {
    const { url } = await throwawayPgDatabase();
    const first = await openTokens(url);
    const kept = await first.tokens.create('kept', 'alice', 'ada');
    const gone = await first.tokens.create('gone', 'alice', 'ada');
    assert.equal(await first.tokens.revoke(gone.info.id), true);
    assert.equal(first.tokens.lookup(gone.token), null);
    await first.store.close();

    const again = await openTokens(url);
    try {
      assert.equal(again.tokens.lookup(gone.token), null, 'the revocation was kept');
      assert.equal(again.tokens.lookup(kept.token)?.id, kept.info.id);
      assert.equal(await again.tokens.revoke(gone.info.id), false);
      assert.deepEqual(
        again.tokens.list().map((t) => t.id),
        [kept.info.id],
      );
    } finally {
      await again.store.close();
    }
  });

  test('when the store cannot write, create and revoke fail clearly; the token is not created, and stays revoked here', async () => {
    const { url } = await throwawayPgDatabase();
    const { store, tokens } = await openTokens(url);
    const kept = await tokens.create('kept', 'alice', 'ada');
    // The table goes: every token write fails in the database.
    const sql = pgAdminOn(url);
    await sql`DROP TABLE api_tokens`;
    await sql.end();

    await assert.rejects(tokens.create('lost', 'alice', 'ada'), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'DBTAPE_TOKENS_WRITE_FAILED');
      assert.match(err.message, /^dbtape: could not save the API token in session store: .*api_tokens/);
      return true;
    });
    assert.deepEqual(
      tokens.list().map((t) => t.id),
      [kept.info.id],
      'the token that could not be saved does not exist',
    );

    await assert.rejects(tokens.revoke(kept.info.id), { code: 'DBTAPE_TOKENS_WRITE_FAILED' });
    assert.equal(tokens.lookup(kept.token), null, 'a revocation not saved holds in this process');
    assert.equal(tokens.valid(kept.info.id), false);

    // A closed store fails the same way.
    await store.close();
    await assert.rejects(tokens.create('after close', 'alice', 'ada'), {
      code: 'DBTAPE_TOKENS_WRITE_FAILED',
    });
    assert.equal(tokens.list().length, 1);
  });

  test('tokens the store cannot read are a clear error at start, not an empty list', async () => {
    const { url } = await throwawayPgDatabase();
    const store = await openStoreReady(url, { journal: true });
    await store.close();
    await assert.rejects(ApiTokens.open(new StoreTokenKeeper(store)), (err: Error & { code?: string }) => {
      assert.equal(err.code, 'DBTAPE_TOKENS_LOAD');
      assert.match(err.message, /^dbtape: cannot read the API tokens from the session store: /);
      return true;
    });
  });
});

describe('the store worker forwards the token methods', () => {
  test('through the worker to a PostgreSQL store, and back after a restart', async () => {
    const { url } = await throwawayPgDatabase();
    const worker = await WorkerSessionStore.open(url, 'normal', {});
    const tokens = await ApiTokens.open(new StoreTokenKeeper(worker));
    const a = await tokens.create('a', 'alice', 'ada', 7);
    const b = await tokens.create('b', 'alice', 'ada');
    assert.equal(await tokens.revoke(b.info.id), true);
    await worker.close();

    const { store, tokens: again } = await openTokens(url);
    try {
      assert.equal(again.lookup(a.token)?.expiresAt, a.info.expiresAt);
      assert.equal(again.lookup(b.token), null);
    } finally {
      await store.close();
    }
  });

  test('a SQLite store in the worker keeps no tokens: loading from it is refused, not silently empty', async () => {
    const worker = await WorkerSessionStore.open(`sqlite:${join(dir, 'worker.db')}`, 'normal', {});
    try {
      assert.equal(await worker.loadApiTokens(), null);
      await assert.rejects(ApiTokens.open(new StoreTokenKeeper(worker)), { code: 'DBTAPE_TOKENS_LOAD' });
    } finally {
      await worker.close();
    }
  });
});

/** A keeper whose writes wait until the test lets each finish, or fail. */
function heldKeeper() {
  type Write = { resolve: () => void; reject: (e: Error) => void };
  const writes: Write[] = [];
  const waiting: ((w: Write) => void)[] = [];
  const write = () =>
    new Promise<void>((resolve, reject) => {
      const w = { resolve, reject };
      const taker = waiting.shift();
      if (taker) taker(w);
      else writes.push(w);
    });
  const keeper: TokenKeeper = {
    where: 'a test keeper',
    persistent: true,
    load: async () => [] as ApiTokenRecord[],
    add: write,
    remove: write,
  };
  /** The next write the keeper was asked for. */
  const next = (): Promise<Write> =>
    writes.length > 0 ? Promise.resolve(writes.shift()!) : new Promise((r) => waiting.push(r));
  return { keeper, next };
}

describe('writing through the keeper', () => {
  test('a token exists only once its keeper holds it', async () => {
    const { keeper, next } = heldKeeper();
    const tokens = new ApiTokens(keeper);
    const creating = tokens.create('ci', 'alice', 'ada');
    const write = await next();
    assert.equal(tokens.list().length, 0, 'not listed while it is being written');
    write.resolve();
    const { token } = await creating;
    assert.ok(tokens.lookup(token));

    const failing = tokens.create('lost', 'alice', 'ada');
    (await next()).reject(new Error('disk full'));
    await assert.rejects(failing, (err: Error & { code?: string }) => {
      assert.equal(err.code, 'DBTAPE_TOKENS_WRITE_FAILED');
      assert.equal(err.message, 'dbtape: could not save the API token in a test keeper: disk full');
      return true;
    });
    assert.equal(tokens.list().length, 1);
  });

  test('a token being revoked is refused at once, and stays refused if the revocation is not saved', async () => {
    const { keeper, next } = heldKeeper();
    const ended: string[] = [];
    const tokens = new ApiTokens(keeper, { onEnd: (id) => ended.push(id) });
    const creating = tokens.create('ci', 'alice', 'ada');
    (await next()).resolve();
    const { token, info } = await creating;

    const failing = tokens.revoke(info.id);
    assert.equal(tokens.lookup(token), null, 'refused while the revocation is written');
    assert.equal(tokens.valid(info.id), false);
    assert.equal(tokens.revoke(info.id), failing, 'a second revoke joins the first');
    (await next()).reject(new Error('connection lost'));
    await assert.rejects(failing, { code: 'DBTAPE_TOKENS_WRITE_FAILED' });
    // The write may have been applied although it failed (a lost connection during COMMIT), and
    // the admin meant it: refused here all the same, listed so that it can be revoked again.
    assert.equal(tokens.lookup(token), null, 'still refused after the failed revocation');
    assert.equal(tokens.valid(info.id), false);
    assert.deepEqual(ended, [info.id], 'its streams end with the first attempt');
    assert.deepEqual(
      tokens.list().map((t) => t.id),
      [info.id],
    );

    const revoking = tokens.revoke(info.id);
    (await next()).resolve();
    assert.equal(await revoking, true);
    assert.equal(tokens.lookup(token), null);
    assert.deepEqual(tokens.list(), []);
    assert.deepEqual(ended, [info.id], 'its streams are not ended twice');
  });
});
