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
