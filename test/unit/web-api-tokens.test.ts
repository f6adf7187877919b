import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, test } from 'node:test';
import type { ApiTokenRecord } from '../../src/store/session-store.js';
import { ApiTokens } from '../../src/web/auth/api-tokens.js';
import { hashToken } from '../../src/web/auth/sign-ins.js';
import { FileTokenKeeper } from '../../src/web/auth/token-file.js';
import { MEMORY_TOKENS, type TokenKeeper } from '../../src/web/auth/token-keepers.js';

const DAY_MS = 86_400_000;
const dir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-api-tokens-'));
after(() => rmSync(dir, { recursive: true, force: true }));

test('a token made for n days carries its end, works until then and is refused from then on', async () => {
  const clock = { ms: Date.parse('2026-01-01T00:00:00Z') };
  const tokens = new ApiTokens(MEMORY_TOKENS, { now: () => clock.ms });
  const { token, info } = await tokens.create('ci', 'alice', 'ada', 30);
  assert.equal(info.createdAt, '2026-01-01T00:00:00.000Z');
  assert.equal(info.expiresAt, '2026-01-31T00:00:00.000Z');
  clock.ms += 30 * DAY_MS - 1;
  assert.equal(tokens.expired(tokens.lookup(token)!), false);
  assert.equal(tokens.valid(info.id), true);
  clock.ms += 1;
  assert.equal(tokens.expired(tokens.lookup(token)!), true);
  assert.equal(tokens.valid(info.id), false);
  assert.ok(
    tokens.list().some((t) => t.id === info.id),
    'an expired token stays listed until an admin deletes it',
  );
});

test('a token made without a lifetime never expires', async () => {
  const clock = { ms: Date.now() };
  const tokens = new ApiTokens(MEMORY_TOKENS, { now: () => clock.ms });
  const { token, info } = await tokens.create('forever', 'alice', 'ada');
  assert.equal(info.expiresAt, undefined);
  clock.ms += 20 * 365 * DAY_MS;
  assert.equal(tokens.expired(tokens.lookup(token)!), false);
});

test('a token file written before tokens could expire still loads, its tokens never expiring', async () => {
  const file = path.join(dir, 'old.tokens.json');
  const secret = 'dbtape_an-old-token-from-an-earlier-version-of-dbtape';
  const old = {
    id: 'a1b2c3d4e5f6',
    name: 'old',
    user: 'alice',
    createdBy: 'ada',
    createdAt: '2025-01-01T00:00:00.000Z',
    hash: hashToken(secret),
  };
  writeFileSync(file, JSON.stringify({ version: 1, tokens: [old] }), { mode: 0o600 });
  const tokens = await ApiTokens.open(new FileTokenKeeper(file));
  const info = tokens.lookup(secret);
  assert.equal(info?.id, old.id);
  assert.equal(tokens.expired(info!), false);
  // Saving again (a new token) keeps the old record as it was, and writes the new one's end.
  await tokens.create('new', 'alice', 'ada', 7);
  const saved = JSON.parse(readFileSync(file, 'utf8')) as { tokens: Record<string, unknown>[] };
  assert.deepEqual(saved.tokens[0], old);
  assert.equal(typeof saved.tokens[1]!.expiresAt, 'string');
  assert.equal((await ApiTokens.open(new FileTokenKeeper(file))).list().length, 2, 'and reads back');
});

test('a token file with a malformed end date is refused with a clear error', async () => {
  const file = path.join(dir, 'bad.tokens.json');
  const bad = {
    id: 'x',
    name: 'x',
    user: 'alice',
    createdBy: 'ada',
    createdAt: 'x',
    hash: 'x',
    expiresAt: 42,
  };
  writeFileSync(file, JSON.stringify({ version: 1, tokens: [bad] }));
  await assert.rejects(ApiTokens.open(new FileTokenKeeper(file)), { code: 'DBTAPE_TOKENS_FILE' });
});

test('a token whose save fails after it was kept (a commit whose answer was lost) is taken out again', async () => {
  // The keeper stores the row, then reports failure: what a store connection lost during COMMIT does.
  const kept = new Map<string, ApiTokenRecord>();
  const keeper: TokenKeeper = {
    where: 'test',
    persistent: true,
    load: async () => [...kept.values()],
    add: async (t) => {
      kept.set(t.id, t);
      throw new Error('connection lost during COMMIT');
    },
    remove: async (id) => {
      kept.delete(id);
    },
  };
  const tokens = await ApiTokens.open(keeper);
  await assert.rejects(tokens.create('ci', 'alice', 'admin'), { code: 'DBTAPE_TOKENS_WRITE_FAILED' });
  await new Promise((r) => setImmediate(r));
  assert.deepEqual([...kept.keys()], [], 'no row is left listed for a secret never handed out');
  assert.deepEqual(tokens.list(), []);
});
