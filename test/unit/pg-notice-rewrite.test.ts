import assert from 'node:assert/strict';
import { test } from 'node:test';
import { decodeNotice } from '../../src/protocol/postgres/decode.js';
import { errorResponse } from '../../src/protocol/postgres/encode.js';
import { rewriteNoticeText } from '../../src/protocol/postgres/notice-rewrite.js';

const E = 0x45;

test('rewrites message, detail and hint, keeps every other field, fixes the length', () => {
  const raw = errorResponse({
    severity: 'ERROR',
    code: '22P02',
    message: 'bad "secret"',
    detail: 'detail secret',
  });
  const out = rewriteNoticeText(E, raw.subarray(5), (t) =>
    t.includes('secret') ? t.replace('secret', 'XX') : null,
  );
  assert.ok(out);
  assert.equal(out[0], E);
  assert.equal(out.readInt32BE(1), out.length - 1);
  const n = decodeNotice(out.subarray(5));
  assert.deepEqual(
    { severity: n.severity, code: n.code, message: n.message, detail: n.detail },
    { severity: 'ERROR', code: '22P02', message: 'bad "XX"', detail: 'detail XX' },
  );
});

test('null when nothing changes or the body is cut short', () => {
  const raw = errorResponse({ severity: 'ERROR', code: '42000', message: 'plain' });
  assert.equal(
    rewriteNoticeText(E, raw.subarray(5), () => null),
    null,
  );
  assert.equal(
    rewriteNoticeText(E, Buffer.from('Mno terminator'), () => 'x'),
    null,
  );
});
