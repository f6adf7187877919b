/**
 * Which session a KILL reaches (proxy/mysql/kill-router.ts): the dbtape id a client was greeted
 * with, or the upstream thread id `CONNECTION_ID()` shows, under the same rules (your own sessions,
 * or admin on the target).
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import type { Target } from '../../src/model/identity.js';
import { type KillEntry, KillRouter } from '../../src/proxy/mysql/kill-router.js';

function target(name: string, port: number): Target {
  return {
    name,
    protocol: 'mysql',
    host: '127.0.0.1',
    port,
    database: name,
    user: 'app',
    password: null,
    tls: 'disable',
    caFile: null,
    channelBinding: 'prefer',
  };
}
const ONE = target('one', 3306);
const TWO = target('two', 3307);

function entry(user: string, t: Target, upstreamThreadId: number): KillEntry {
  return { user, target: t, upstreamThreadId, notify: () => {} };
}
const alice = { user: 'alice', mayKillOthers: () => false };
const admin = { user: 'carol', mayKillOthers: () => true };

test('a dbtape id, and the upstream thread id CONNECTION_ID() shows, reach the same session', () => {
  const kills = new KillRouter();
  const id = kills.allocate();
  const e = entry('alice', ONE, 42);
  kills.register(id, e);
  assert.equal(kills.resolve(id, alice), e);
  assert.equal(kills.resolve(42, alice, ONE), e);
  assert.equal(kills.resolve(42, alice), e);
  // Another server's thread 42 is another thread.
  assert.equal(kills.resolve(42, alice, TWO), null);
  assert.equal(kills.resolve(43, alice, ONE), null);
});

test("the same rules hold by either id: another user's session is unknown unless you are admin", () => {
  const kills = new KillRouter();
  const e = entry('bob', ONE, 42);
  const id = kills.allocate();
  kills.register(id, e);
  const other = { user: 'alice', mayKillOthers: () => false };
  assert.equal(kills.resolve(id, other), null);
  assert.equal(kills.resolve(42, other, ONE), null);
  assert.equal(kills.resolve(42, admin, ONE), e);
});

test('an upstream id two servers share is ambiguous without the server; a dbtape id wins over an equal thread id', () => {
  const kills = new KillRouter();
  const a = entry('carol', ONE, 42);
  const b = entry('carol', TWO, 42);
  const idA = kills.allocate();
  const idB = kills.allocate();
  kills.register(idA, a);
  kills.register(idB, b);
  assert.equal(kills.resolve(42, admin), null);
  assert.equal(kills.resolve(42, admin, TWO), b);
  // A session whose upstream thread id equals idA's dbtape id: idA still names idA's session.
  const c = entry('carol', ONE, idA);
  kills.register(kills.allocate(), c);
  assert.equal(kills.resolve(idA, admin, ONE), a);
});
