import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  cachingSha2Hash,
  hashPassword,
  mysqlNativeHash,
  parseScramVerifier,
  parseVerifiers,
  VerifierError,
} from '../../src/config/verifiers.js';
import { saslprep } from '../../src/protocol/postgres/saslprep.js';
import { deriveScramKeys } from '../../src/protocol/postgres/scram.js';

const VERIFIER_LINE =
  /^SCRAM-SHA-256\$4096:[A-Za-z0-9+/]{22}==\$[A-Za-z0-9+/]{43}=:[A-Za-z0-9+/]{43}=;mysql_native_password\$[0-9a-f]{40};caching_sha2_password\$[0-9a-f]{64}$/;

describe('hashPassword / parseVerifiers', () => {
  test('one line, SCRAM first in pg_authid format, then both MySQL verifiers', () => {
    const line = hashPassword('pencil');
    assert.match(line, VERIFIER_LINE);
    const v = parseVerifiers(line);
    const keys = deriveScramKeys('pencil', v.scramSha256.salt, v.scramSha256.iterations);
    assert.deepEqual(v.scramSha256.storedKey, keys.storedKey);
    assert.deepEqual(v.scramSha256.serverKey, keys.serverKey);
    assert.deepEqual(v.mysqlNative, mysqlNativeHash('pencil'));
    assert.deepEqual(v.cachingSha2, cachingSha2Hash('pencil'));
  });

  test('a fresh salt every time', () => {
    assert.notEqual(hashPassword('same'), hashPassword('same'));
  });

  test('the iteration count can be chosen', () => {
    assert.equal(parseVerifiers(hashPassword('x', { iterations: 10 })).scramSha256.iterations, 10);
    assert.throws(() => hashPassword('x', { iterations: 0 }), VerifierError);
  });

  test('an empty password is refused', () => {
    assert.throws(() => hashPassword(''), VerifierError);
  });

  test('mysql_native_password is SHA1(SHA1(password)), as MySQL PASSWORD() stores it', () => {
    // MySQL: SELECT PASSWORD('password') = '*2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19'.
    assert.equal(
      mysqlNativeHash('password').toString('hex').toUpperCase(),
      '2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19',
    );
  });

  test('caching_sha2_password is SHA256(SHA256(password))', () => {
    const once = createHash('sha256').update('pencil').digest();
    assert.deepEqual(cachingSha2Hash('pencil'), createHash('sha256').update(once).digest());
  });

  test('a bare SCRAM verifier is valid: the MySQL parts are null', () => {
    const scramOnly = hashPassword('pencil').split(';')[0];
    const v = parseVerifiers(scramOnly);
    assert.equal(v.mysqlNative, null);
    assert.equal(v.cachingSha2, null);
    assert.equal(v.scramSha256.iterations, 4096);
  });

  test('surrounding whitespace is ignored; uppercase hex is accepted', () => {
    const [scram, native, sha2] = hashPassword('pencil').split(';');
    assert.ok(
      parseVerifiers(
        `  ${scram};${native.toUpperCase().replace('MYSQL_NATIVE_PASSWORD', 'mysql_native_password')};${sha2}\n`,
      ),
    );
  });

  const good = hashPassword('pencil');
  const [scram] = good.split(';');
  const bad: Record<string, string> = {
    plaintext: 'hunter2-plaintext',
    'md5 verifier': 'md5a3556571e93b0d20722ba62be61e8c2d',
    'missing keys': 'SCRAM-SHA-256$4096:c2FsdA==',
    'bad base64': scram.replace(/\$([^:]+):/, '$!!!!:'),
    'short StoredKey': 'SCRAM-SHA-256$4096:c2FsdA==$c2hvcnQ=:c2hvcnQ=',
    'zero iterations': scram.replace('$4096:', '$0:'),
    'unknown part': `${scram};hunter2-secret$abcd`,
    'repeated part': `${good};mysql_native_password$${'0'.repeat(40)}`,
    'short mysql hash': `${scram};mysql_native_password$abcd`,
    'empty string': '',
  };
  for (const [name, value] of Object.entries(bad)) {
    test(`refused, without echoing the value: ${name}`, () => {
      assert.throws(
        () => parseVerifiers(value),
        (err: unknown) => {
          assert.ok(err instanceof VerifierError);
          assert.equal(err.code, 'DBTAPE_VERIFIER');
          if (value.length > 0) assert.ok(!err.message.includes('hunter2'), err.message);
          return true;
        },
      );
    });
  }

  test('parseScramVerifier reads pg_authid format', () => {
    const v = parseScramVerifier(scram);
    assert.equal(v.salt.length, 16);
    assert.equal(v.storedKey.length, 32);
  });
});

describe('SASLprep (RFC 4013) as PostgreSQL applies it', () => {
  const cases: [string, string, string | null][] = [
    ['ASCII is used as is', 'user pass', 'user pass'],
    ['ASCII control characters pass: PostgreSQL skips all checks for ASCII', 'a\u0007b', 'a\u0007b'],
    ['soft hyphen maps to nothing (RFC 4013 example)', 'I\u00ADX', 'IX'],
    ['feminine ordinal normalizes to a (RFC 4013 example)', '\u00AA', 'a'],
    ['roman numeral nine normalizes to IX (RFC 4013 example)', '\u2168', 'IX'],
    ['non-ASCII space maps to space', 'a\u00A0b', 'a b'],
    ['fullwidth letters normalize', '\uFF46\uFF4F\uFF4F', 'foo'],
    ['a control character outside ASCII-only input is prohibited', 'é\u0007', null],
    ['an RTL string with an LTR letter fails the bidi check', '\u0627\u0031a\u0628', null],
    ['an RTL string must start and end with RTL', '\u0627\u0031', null],
    ['an all-RTL string is fine', '\u0627\u0628', '\u0627\u0628'],
    ['unassigned in Unicode 3.2 (emoji) is not SASLprep input', 'pass\u{1F600}', null],
    ['only mapped-to-nothing characters leave nothing', '\u00AD\uFEFF', null],
    ['a lone surrogate is not valid UTF-8', 'a\uD800é', null],
  ];
  for (const [name, input, expected] of cases) {
    test(name, () => assert.equal(saslprep(input), expected));
  }
});

/**
 * The real server is the judge of "exactly as PostgreSQL does". Needs PostgreSQL on 127.0.0.1:5432
 * (or PGHOST/PGPORT) with a superuser (PGUSER, default postgres) that can create roles.
 */
