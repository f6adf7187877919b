/**
 * The secret detectors run on every recorded statement, parameter and result value, on the proxy's
 * thread: they must take time linear in the text (a regular expression with a free URI scheme
 * prefix took two seconds on a 100 KB word, stalling every session) and find what the regular
 * expressions they replace found.
 */
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { looksSecret, MASK, maskConnectionStrings } from '../../src/recording/redact-text.js';
import { mulberry32 } from '../support/random.js';

/** What looksSecret and the URI part of maskConnectionStrings were, as regular expressions. */
const REFERENCE_LOOKS =
  /passw(?:or)?d|\bpwd\b|identified|authentication_string|[a-z][a-z0-9+.-]*:\/\/[^\s/@]*:[^\s@]*@/i;
const REFERENCE_URI = /\b([a-z][a-z0-9+.-]*:\/\/[^\s/@:]*:)([^\s@/]*)(@)/gi;

function referenceMask(text: string): string {
  if (!text.includes('://')) return text;
  return text.replace(REFERENCE_URI, (all, head: string, pw: string, at: string) =>
    pw.length === 0 || pw.startsWith(MASK) ? all : head + MASK + at,
  );
}

describe('secret detectors', () => {
  test('find what the regular expressions found, on short random texts of the characters that matter', () => {
    const rng = mulberry32(20261201);
    const pieces = ['a', 'B', '1', ':', '/', '@', ' ', '.', '+', '-', '_', 'p', '\t', 'é', '\u00a0', '://'];
    for (let k = 0; k < 100_000; k++) {
      let text = '';
      const len = 1 + Math.floor(rng() * 24);
      for (let i = 0; i < len; i++) text += pieces[Math.floor(rng() * pieces.length)];
      assert.equal(looksSecret(text), REFERENCE_LOOKS.test(text), JSON.stringify(text));
      assert.equal(maskConnectionStrings(text), referenceMask(text), JSON.stringify(text));
    }
  });

  test('URI passwords, a colon in them included, are masked', () => {
    // A `/` ends the password: that one is not a URI password, as before.
    assert.equal(
      maskConnectionStrings("dblink('postgresql://app:s3:cr/t@db/x') and mysql://u:pw@h"),
      `dblink('postgresql://app:s3:cr/t@db/x') and mysql://u:${MASK}@h`,
    );
    assert.equal(maskConnectionStrings('postgres://app:s3:cr@db/x'), `postgres://app:${MASK}@db/x`);
  });

  test('long adversarial texts take time in proportion to their length', { timeout: 30_000 }, () => {
    // Each of these took the regular expressions minutes to hours at this size.
    for (const text of [
      'x'.repeat(1_000_000),
      `${'a.'.repeat(500_000)}://`,
      `a://${'a:'.repeat(500_000)}`,
      'a://b:'.repeat(200_000),
      'a://b'.repeat(200_000),
    ]) {
      looksSecret(text);
      maskConnectionStrings(text);
    }
  });
});
