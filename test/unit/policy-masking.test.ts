/** Result masking: column rules, content detectors keeping the value's shape, the no-work fast path. */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ibanValid,
  isTextualMysqlType,
  isTextualPgType,
  luhnValid,
  MaskingRules,
} from '../../src/policy/index.js';

const rules = MaskingRules.forRoles([
  {
    columns: ['email', 'customers.card_number', '*.ssn', 'hr.staff.salary'],
    detectors: ['email', 'card', 'iban', 'phone'],
  },
])!;

describe('content detectors', () => {
  const cases: [string, string | null][] = [
    ['john.doe@example.com', 'j*******@example.com'],
    ['write to jd@x.io please', 'write to j*@x.io please'],
    ['4111 1111 1111 1111', '**** **** **** 1111'],
    ['4111-1111-1111-1111', '****-****-****-1111'],
    ['4111111111111111', '************1111'],
    ['4111-1111-1111-1112', null], // fails the Luhn check
    ['DE89 3704 0044 0532 0130 00', 'DE** **** **** **** **30 00'],
    ['GB82WEST12345698765432', 'GB****************5432'],
    ['GB82WEST12345698765433', null], // fails mod 97
    ['+1 (555) 123-4567', '+* (***) ***-**67'],
    ['+44 20 7946 0958', '+** ** **** **58'],
    ['555-123-4567', '***-***-**67'],
    ['2024-01-15 10:30:00', null],
    ['192.168.100.200', null],
    ['order 12345678', null],
    ['hello', null],
  ];
  for (const [value, masked] of cases) {
    test(`${value} → ${masked ?? 'unchanged'}`, () => {
      assert.equal(rules.maskValue(value, { name: 'note' }), masked);
    });
  }

  test('checksums', () => {
    assert.equal(luhnValid('4111111111111111'), true);
    assert.equal(luhnValid('4111111111111112'), false);
    assert.equal(ibanValid('DE89 3704 0044 0532 0130 00'), true);
    assert.equal(ibanValid('DE88 3704 0044 0532 0130 00'), false);
  });

  test('detectors skip non-text columns', () => {
    assert.equal(rules.maskValue('4111111111111111', { name: 'n', textual: false }), null);
  });
});

describe('column rules', () => {
  test('by name, table.column and *.column', () => {
    assert.equal(rules.maskValue('Jane Roe', { name: 'ssn' }), '**** ***');
    assert.equal(rules.maskValue('123-45-6789', { name: 'ssn', table: 'people' }), '***-**-****');
    assert.equal(
      rules.maskValue('4111111111111111', { name: 'card_number', table: 'customers' }),
      '************1111',
    );
    assert.equal(rules.maskValue('not a card', { name: 'card_number', table: 'customers' }), '*** * ****');
    assert.equal(rules.maskValue('not a card', { name: 'card_number', table: 'orders' }), null);
    assert.equal(rules.maskValue('not a card', { name: 'card_number' }), null);
  });

  test('an alias does not escape the rule when the source column is known', () => {
    assert.equal(
      rules.maskValue('ann@example.com', { name: 'contact', sourceName: 'email' }),
      'a**@example.com',
    );
  });

  test('schema.table.column needs the schema', () => {
    assert.equal(
      rules.maskValue('5120.50', { name: 'salary', table: 'staff', schema: 'hr', textual: false }),
      '0000.00',
    );
    assert.equal(
      rules.maskValue('123456', { name: 'salary', table: 'staff', schema: 'public', textual: false }),
      null,
    );
  });
});

describe('planning', () => {
  test('no plan when no column needs work', () => {
    assert.equal(
      rules.planColumns([
        { name: 'id', textual: false },
        { name: 'total', textual: false },
      ]),
      null,
    );
    const plan = rules.planColumns([{ name: 'id', textual: false }, { name: 'note' }]);
    assert.ok(plan);
    assert.equal(plan[0], null);
    assert.equal(plan[1]?.('mail ann@b.co'), 'mail a**@b.co');
    assert.equal(plan[1]?.('nothing here'), null);
  });

  test('a role without masking means no masking', () => {
    assert.equal(MaskingRules.forRoles([undefined]), null);
    assert.equal(MaskingRules.forRoles([{ columns: ['email'], detectors: [] }, undefined]), null);
  });

  test('several roles mask only where all of them would', () => {
    const both = MaskingRules.forRoles([
      { columns: ['email', 'ssn'], detectors: ['email', 'card'] },
      { columns: ['ssn'], detectors: ['card'] },
    ])!;
    assert.equal(both.maskValue('x', { name: 'ssn' }), '*');
    assert.equal(both.maskValue('b@example.com', { name: 'email' }), null);
    assert.equal(both.maskValue('4111111111111111', { name: 'note' }), '************1111');
  });

  test('text types', () => {
    assert.equal(isTextualPgType(25), true);
    assert.equal(isTextualPgType(3802), true);
    assert.equal(isTextualPgType(23), false);
    assert.equal(isTextualMysqlType(253), true);
    assert.equal(isTextualMysqlType(252, true), false);
    assert.equal(isTextualMysqlType(3), false);
  });
});

describe('detectors on long values', () => {
  const detect = (v: string) => rules.maskValue(v, { name: 'note', textual: true });

  test('take time in proportion to the value (they run on the proxy thread)', { timeout: 30_000 }, () => {
    // An unbounded email local part made the first of these take minutes.
    for (const v of [
      `${'a'.repeat(1_000_000)}@`,
      'a@'.repeat(300_000),
      `${'a.'.repeat(300_000)}@x`,
      '1 '.repeat(500_000),
      '+1 '.repeat(300_000),
    ])
      detect(v);
  });

  test('an email with a local part over 64 characters still has the local part masked', () => {
    const local = 'x'.repeat(100);
    const out = detect(`${local}@example.com`) ?? '';
    assert.ok(!out.includes('x'.repeat(40)), out);
    assert.match(out, /@example\.com$/);
  });
});
