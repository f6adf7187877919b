/** roles[].rules and roles[].masking in dbtape.yaml. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { ConfigError, parseConfigText } from '../../src/config/load.js';
import type { Config } from '../../src/config/types.js';

const BASE = `
targets:
  - name: app
    protocol: postgres
    host: 127.0.0.1
    user: app_rw
roles:
  - name: support
    targets: [app]
    access: write
`;

function parse(extra: string): Config {
  return parseConfigText(BASE + extra, { file: 'dbtape.yaml', baseDir: '/tmp', env: {} });
}

function problems(extra: string): string {
  try {
    parse(extra);
  } catch (err) {
    assert.ok(err instanceof ConfigError);
    return err.message;
  }
  return assert.fail('expected a config error');
}

describe('roles[].rules and roles[].masking', () => {
  test('absent sections leave the role as it was', () => {
    const role = parse('').roles[0]!;
    assert.equal(role.rules, undefined);
    assert.equal(role.masking, undefined);
  });

  test('every key resolves, names lower-cased', () => {
    const role = parse(`    rules:
      deny_kinds: [DROP, truncate, DDL]
      deny_tables: ['Payments.*']
      allow_tables: ['public.*', 'pg_catalog.*']
      require_where: true
      max_rows: 1000
      deny_functions: pg_sleep
      allow_functions: [nextval]
    masking:
      columns: [email, customers.card_number, '*.ssn']
      detectors: [email, card, iban, phone, email]
`).roles[0]!;
    assert.deepEqual(role.rules, {
      denyKinds: ['drop', 'truncate', 'ddl'],
      denyTables: ['payments.*'],
      allowTables: ['public.*', 'pg_catalog.*'],
      requireWhere: true,
      maxRows: 1000,
      denyFunctions: ['pg_sleep'],
      allowFunctions: ['nextval'],
    });
    assert.deepEqual(role.masking, {
      columns: ['email', 'customers.card_number', '*.ssn'],
      detectors: ['email', 'card', 'iban', 'phone'],
    });
  });

  test('mistakes are reported with their key path', () => {
    assert.match(problems(`    rules:\n      deny_kinds: [DELET]\n`), /roles\[0\]\.rules\.deny_kinds\[0\]/);
    assert.match(problems(`    rules:\n      deny_tabels: [x]\n`), /did you mean "deny_tables"/);
    assert.match(problems(`    masking:\n      detectors: [ssn]\n`), /roles\[0\]\.masking\.detectors\[0\]/);
    assert.match(problems(`    rules:\n      deny_tables: ['a.b.c']\n`), /expected a name pattern/);
    assert.match(problems(`    rules:\n      max_rows: 0\n`), /max_rows/);
  });
});
