/** Role rules (deny_kinds, tables, require_where, functions, max_rows), several roles, session state. */
import assert from 'node:assert/strict';
import { before, describe, test } from 'node:test';
import type { AccessLevel, Role, RoleRules, Target } from '../../src/model/identity.js';
import { type Decision, grantFor, loadPolicyParsers, PolicyEngine } from '../../src/policy/index.js';

before(() => loadPolicyParsers());

const NO_RULES: RoleRules = {
  denyKinds: [],
  denyTables: [],
  allowTables: null,
  requireWhere: false,
  maxRows: null,
  denyFunctions: [],
  allowFunctions: [],
};

function engine(
  access: AccessLevel,
  rules: Partial<RoleRules> | null,
  dialect: 'postgres' | 'mysql' = 'postgres',
): PolicyEngine {
  const r = rules === null ? undefined : { ...NO_RULES, ...rules };
  return new PolicyEngine(
    dialect,
    [{ name: 'r', access, rules: r }],
    dialect === 'postgres' ? 'public' : 'test',
  );
}

function ruleOf(d: Decision): string {
  return d.allow ? 'allow' : d.rule;
}

describe('deny_kinds', () => {
  const e = engine('admin', { denyKinds: ['drop', 'truncate'] });
  test('denies the named commands even for admin', () => {
    assert.equal(ruleOf(e.decide('DROP TABLE t')), 'deny_kinds');
    assert.equal(ruleOf(e.decide('TRUNCATE t')), 'deny_kinds');
    assert.equal(ruleOf(e.decide('CREATE TABLE x (a int)')), 'allow');
  });
  test('a kind covers its commands', () => {
    assert.equal(
      ruleOf(engine('admin', { denyKinds: ['ddl'] }).decide('CREATE TABLE x (a int)')),
      'deny_kinds',
    );
  });
  test('with rules, what cannot be analysed fails closed even for admin', () => {
    assert.equal(ruleOf(e.decide('DO $$ BEGIN DROP TABLE t; END $$')), 'fail_closed');
    assert.equal(ruleOf(e.decide('CALL p()')), 'fail_closed');
    assert.equal(ruleOf(e.decide('SELEC 1')), 'fail_closed');
    assert.equal(ruleOf(engine('admin', null).decide('SELEC 1')), 'allow');
  });
  test('the message names the rule', () => {
    const d = e.decide('SELECT 1; DROP TABLE t');
    assert.equal(d.allow, false);
    if (!d.allow) {
      assert.equal(d.message, 'dbtape: denied by rule deny_kinds: DROP is not allowed for this role');
      assert.equal(d.statementIndex, 1);
      assert.equal(d.code, 'DBTAPE_POLICY_DENIED');
    }
  });
});

describe('table rules', () => {
  test('deny_tables matches qualified and default-schema names', () => {
    const e = engine('read', { denyTables: ['payments.*', 'public.secrets'] });
    assert.equal(ruleOf(e.decide('SELECT * FROM payments.cards')), 'deny_tables');
    assert.equal(
      ruleOf(e.decide('SELECT * FROM t WHERE x IN (SELECT id FROM payments.cards)')),
      'deny_tables',
    );
    assert.equal(ruleOf(e.decide('SELECT * FROM secrets')), 'deny_tables');
    assert.equal(ruleOf(e.decide('SELECT * FROM cards')), 'allow');
    assert.equal(ruleOf(e.decide('WITH secrets AS (SELECT 1) SELECT * FROM secrets')), 'allow');
    assert.equal(ruleOf(e.decide('WITH x AS (SELECT * FROM secrets) SELECT * FROM x')), 'deny_tables');
  });

  test('changing name resolution is denied while table rules apply', () => {
    const e = engine('read', { denyTables: ['payments.*'] });
    assert.equal(ruleOf(e.decide('SET search_path = payments')), 'deny_tables');
    assert.equal(ruleOf(e.decide("SELECT set_config('search_path', 'payments', false)")), 'deny_tables');
    const m = engine('read', { denyTables: ['test.secrets'] }, 'mysql');
    assert.equal(ruleOf(m.decide('SELECT * FROM secrets')), 'deny_tables');
    assert.equal(ruleOf(m.decide('USE other')), 'deny_tables');
    assert.equal(ruleOf(m.decide('USE test')), 'allow');
  });

  test('unqualified pg_ names may resolve to pg_catalog', () => {
    const e = engine('read', { denyTables: ['pg_catalog.pg_authid'] });
    assert.equal(ruleOf(e.decide('SELECT * FROM pg_authid')), 'deny_tables');
    const a = engine('read', { allowTables: ['public.*'] });
    assert.equal(ruleOf(a.decide('SELECT * FROM t')), 'allow');
    assert.equal(ruleOf(a.decide('SELECT * FROM pg_shadow')), 'allow_tables');
    assert.equal(ruleOf(a.decide('SELECT * FROM other.t')), 'allow_tables');
  });

  test('statements whose tables are unknown fail closed', () => {
    const m = engine('admin', { denyTables: ['test.secrets'] }, 'mysql');
    assert.equal(ruleOf(m.decide('CHECK TABLE secrets')), 'fail_closed');
    assert.equal(
      ruleOf(engine('admin', { denyKinds: ['drop'] }, 'mysql').decide('CHECK TABLE secrets')),
      'allow',
    );
  });
});

describe('require_where, functions, max_rows', () => {
  test('UPDATE and DELETE need a WHERE that names a column', () => {
    for (const dialect of ['postgres', 'mysql'] as const) {
      const e = engine('write', { requireWhere: true }, dialect);
      assert.equal(ruleOf(e.decide('DELETE FROM t')), 'require_where', dialect);
      assert.equal(ruleOf(e.decide('UPDATE t SET a = 1 WHERE 1 = 1')), 'require_where', dialect);
      assert.equal(ruleOf(e.decide('DELETE FROM t WHERE id = 3')), 'allow', dialect);
    }
  });

  test('deny_functions adds to the built-in list; allow_functions takes off it', () => {
    assert.equal(
      ruleOf(engine('read', { denyFunctions: ['pg_sleep'] }).decide('SELECT pg_sleep(1)')),
      'deny_functions',
    );
    assert.equal(
      ruleOf(engine('read', { denyFunctions: ['dbtape_*'] }).decide('SELECT s.dbtape_x()')),
      'deny_functions',
    );
    assert.equal(
      ruleOf(engine('read', { allowFunctions: ['nextval'] }).decide("SELECT nextval('s')")),
      'allow',
    );
    assert.equal(
      ruleOf(engine('write', { allowFunctions: ['dblink*'] }).decide("SELECT dblink('x', 'y')")),
      'access=write',
    );
  });

  test('max_rows is exposed for the proxy', () => {
    assert.equal(engine('read', { maxRows: 50 }).maxRows, 50);
    assert.equal(engine('read', null).maxRows, null);
  });
});

describe('several roles', () => {
  const target: Target = {
    name: 'app',
    protocol: 'postgres',
    host: '127.0.0.1',
    port: 5432,
    database: 'app',
    user: 'u',
    password: null,
    tls: 'disable',
    caFile: null,
    channelBinding: 'prefer',
  };
  const role = (name: string, access: AccessLevel, rules?: Partial<RoleRules>): Role => ({
    name,
    targets: ['app'],
    access,
    ...(rules ? { rules: { ...NO_RULES, ...rules } } : {}),
  });
  const roles = [
    role('reader', 'read', { maxRows: 10 }),
    role('fixer', 'write', { denyTables: ['payments.*'], maxRows: 100 }),
  ];
  const user = { name: 'alice', roles: ['reader', 'fixer'], verifiers: {} as never };

  test('a text is allowed when any one role allows all of it', () => {
    const grant = grantFor(user, 'app', [target], roles);
    assert.ok(grant);
    const e = PolicyEngine.forGrant(grant, roles);
    assert.equal(ruleOf(e.decide('UPDATE t SET a = 1 WHERE id = 1')), 'allow');
    assert.equal(ruleOf(e.decide('SELECT * FROM payments.cards')), 'allow'); // reader has no table rules
    assert.equal(ruleOf(e.decide('UPDATE payments.cards SET a = 1 WHERE id = 1')), 'deny_tables');
    assert.equal(e.maxRows, 100);
  });
});

describe('session state', () => {
  test('PREPARE is checked once, EXECUTE later needs a name the session saw allowed', () => {
    const s = engine('read', null).openSession();
    assert.equal(ruleOf(s.decide('EXECUTE q(1)')), 'fail_closed');
    assert.equal(ruleOf(s.decide('PREPARE q AS SELECT $1::int')), 'allow');
    assert.equal(ruleOf(s.decide('EXECUTE q(1)')), 'allow');
    assert.equal(ruleOf(s.decide('DEALLOCATE q')), 'allow');
    assert.equal(ruleOf(s.decide('EXECUTE q(1)')), 'fail_closed');
    assert.equal(ruleOf(s.decide('PREPARE w AS DELETE FROM t')), 'access=read');
    assert.equal(ruleOf(s.decide('EXECUTE w')), 'fail_closed');
  });

  test('protocol-level prepared statements can be EXECUTEd by name', () => {
    const s = engine('read', null).openSession();
    assert.equal(ruleOf(s.decidePrepare('SELECT 1', 'stmt1')), 'allow');
    assert.equal(ruleOf(s.decide('EXECUTE stmt1')), 'allow');
    assert.equal(ruleOf(s.decidePrepare('DELETE FROM t', 'stmt2')), 'access=read');
    assert.equal(ruleOf(s.decide('EXECUTE stmt2')), 'fail_closed');
  });

  test('MySQL names are case-insensitive', () => {
    const s = engine('read', null, 'mysql').openSession();
    assert.equal(ruleOf(s.decide("PREPARE Q1 FROM 'SELECT 1'")), 'allow');
    assert.equal(ruleOf(s.decide('EXECUTE q1')), 'allow');
  });

  test('a NO_BACKSLASH_ESCAPES session fails closed on backslashes', () => {
    const s = engine('read', null, 'mysql').openSession();
    s.noBackslashEscapes = true;
    assert.equal(ruleOf(s.decide("SELECT 'a\\'; DROP TABLE t; -- '")), 'fail_closed');
    assert.equal(ruleOf(s.decide("SELECT 'plain'")), 'allow');
  });
});

describe('masking and COPY', () => {
  const masked = (access: AccessLevel, dialect: 'postgres' | 'mysql' = 'postgres') =>
    new PolicyEngine(
      dialect,
      [{ name: 'm', access, masking: { columns: ['email'], detectors: ['card'] } }],
      dialect === 'postgres' ? 'public' : 'test',
    );

  test('COPY ... TO STDOUT is denied under masking, whatever the access: CopyData is not masked', () => {
    for (const access of ['read', 'write', 'admin'] as const) {
      const e = masked(access);
      assert.equal(e.unrestricted, false, `${access}: every text is read`);
      assert.equal(ruleOf(e.decide('COPY people TO STDOUT')), 'masking', access);
      assert.equal(
        ruleOf(e.decide('COPY (SELECT email FROM people) TO STDOUT WITH (FORMAT csv)')),
        'masking',
      );
      assert.equal(ruleOf(e.decide('SELECT 1; COPY people TO STDOUT')), 'masking');
      assert.equal(ruleOf(e.decide('SELECT email FROM people')), 'allow');
    }
    assert.equal(
      ruleOf(masked('write').decide('COPY people FROM STDIN')),
      'allow',
      'rows going in are not shown',
    );
    assert.match(
      (masked('read').decide('COPY people TO STDOUT') as { message: string }).message,
      /^dbtape: denied by rule masking: COPY \.\.\. TO STDOUT sends rows that dbtape cannot mask/,
    );
  });

  test('without masking COPY TO STDOUT is a read, and an admin without rules is not checked', () => {
    assert.equal(ruleOf(engine('read', null).decide('COPY people TO STDOUT')), 'allow');
    assert.equal(engine('admin', null).unrestricted, true);
    assert.equal(masked('admin', 'mysql').unrestricted, true, 'MySQL has no COPY');
  });
});
