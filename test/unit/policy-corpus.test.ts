/**
 * The bypass corpus (test/fixtures/policy-bypass-corpus.ts) through the policy engine: each statement
 * gets the decision the corpus expects under `read` and `write`; admin without rules allows all.
 */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import { loadPolicyParsers, PolicyEngine } from '../../src/policy/index.js';
import {
  type BypassCase,
  MYSQL_CORPUS,
  PG_CORPUS,
  PG_FUNCTION_CALLS,
} from '../fixtures/policy-bypass-corpus.js';

before(() => loadPolicyParsers());

function engines(dialect: 'postgres' | 'mysql') {
  const schema = dialect === 'postgres' ? 'public' : 'test';
  return {
    read: new PolicyEngine(dialect, [{ name: 'r', access: 'read' }], schema),
    write: new PolicyEngine(dialect, [{ name: 'w', access: 'write' }], schema),
    admin: new PolicyEngine(dialect, [{ name: 'a', access: 'admin' }], schema),
  };
}

function runCorpus(dialect: 'postgres' | 'mysql', corpus: readonly BypassCase[]): void {
  test(`has at least 60 statements`, () => assert.ok(corpus.length >= 60, `${corpus.length} cases`));
  for (const level of ['read', 'write'] as const) {
    test(`every statement gets the expected decision under ${level}`, () => {
      const e = engines(dialect)[level];
      const wrong: string[] = [];
      for (const k of corpus) {
        const d = e.openSession().decide(k.sql);
        const got = d.allow ? 'allow' : 'deny';
        if (got !== k[level])
          wrong.push(`${k.why}: ${JSON.stringify(k.sql)} → ${got}${d.allow ? '' : ` (${d.message})`}`);
        if (!d.allow) assert.match(d.message, /^dbtape: denied by rule [a-z_=]+: /);
      }
      assert.deepEqual(wrong, []);
    });
  }
  test('admin without rules allows everything without parsing', () => {
    const e = engines(dialect).admin;
    assert.equal(e.unrestricted, true);
    for (const k of corpus) assert.equal(e.decide(k.sql).allow, true, k.sql);
  });
}

describe('PostgreSQL bypass corpus', () => {
  runCorpus('postgres', PG_CORPUS);
  test('FunctionCall by OID', () => {
    const e = engines('postgres');
    for (const f of PG_FUNCTION_CALLS) {
      assert.equal(e.read.decideFunctionCall(f.oid).allow, f.read === 'allow', `${f.why} under read`);
      assert.equal(e.write.decideFunctionCall(f.oid).allow, f.write === 'allow', `${f.why} under write`);
      assert.equal(e.admin.decideFunctionCall(f.oid).allow, true);
    }
  });
});

describe('MySQL bypass corpus', () => {
  runCorpus('mysql', MYSQL_CORPUS);
});
