import assert from 'node:assert/strict';
import { test } from 'node:test';
import { MAX_SIGN_INS_PER_USER, SignInTable } from '../../src/web/auth/sign-ins.js';

const table = () => new SignInTable({ idleMs: 60_000, absoluteMs: 3_600_000, now: () => 1_000 });

test('one user signing in again and again ends only their own oldest sign-ins', () => {
  const t = table();
  const admin = t.create('admin');
  const alice = Array.from({ length: 11_000 }, () => t.create('alice'));
  assert.ok(t.lookup(admin.token), "the admin's sign-in survives alice's flood");
  assert.equal(t.size, MAX_SIGN_INS_PER_USER + 1);
  assert.equal(t.lookup(alice[0]!.token), null, "alice's oldest sign-in was ended");
  assert.ok(t.lookup(alice[alice.length - 1]!.token), "alice's newest sign-in works");
});

test('a user keeps up to the cap of sign-ins at once', () => {
  const t = table();
  const all = Array.from({ length: MAX_SIGN_INS_PER_USER }, () => t.create('bob'));
  for (const s of all) assert.ok(t.lookup(s.token));
});

/** A table on a clock the test moves, recording the ids it reports ended. */
function watchedTable() {
  const clock = { ms: 1_000 };
  const ended: string[] = [];
  const t = new SignInTable({
    idleMs: 60_000,
    absoluteMs: 3_600_000,
    now: () => clock.ms,
    onEnd: (id) => ended.push(id),
  });
  return { t, clock, ended };
}

test('peek does not count as activity: an idle sign-in lapses however often it is peeked', () => {
  const { t, clock, ended } = watchedTable();
  const { signIn } = t.create('alice');
  clock.ms += 40_000;
  assert.equal(t.peek(signIn.id), signIn);
  clock.ms += 40_000;
  assert.equal(t.peek(signIn.id), null, '80 s without a request: lapsed, though peeked at 40 s');
  assert.deepEqual(ended, [signIn.id]);
});

test('every way a sign-in ends is reported once', () => {
  const { t, clock, ended } = watchedTable();
  const out = t.create('alice');
  t.end(out.token);
  t.end(out.token);
  assert.deepEqual(ended, [out.signIn.id], 'sign-out');

  const pushed = t.create('bob');
  for (let i = 1; i < MAX_SIGN_INS_PER_USER; i++) t.create('bob');
  assert.equal(ended.length, 1, 'bob holds the cap');
  t.create('bob');
  assert.deepEqual(ended.slice(1), [pushed.signIn.id], "pushed out by bob's newest");

  const idle = t.create('carol');
  clock.ms += 61_000;
  assert.equal(t.lookup(idle.token), null);
  assert.equal(ended.at(-1), idle.signIn.id, 'lapsed, found on use');
  assert.equal(t.peek(idle.signIn.id), null);
  assert.equal(ended.filter((id) => id === idle.signIn.id).length, 1);
});

test('a sign-in lapses after its absolute lifetime, however active', () => {
  const { t, clock } = watchedTable();
  const s = t.create('alice');
  for (let i = 0; i < 61; i++) {
    clock.ms += 59_000;
    assert.ok(t.lookup(s.token), `still live after ${i + 1} requests`);
  }
  clock.ms += 59_000;
  assert.equal(t.peek(s.signIn.id), null);
});
