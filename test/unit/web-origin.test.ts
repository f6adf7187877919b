/**
 * Which Origin headers the sign-in and CSRF checks take as the dashboard's own (README, "The
 * dashboard and HTTP API"): the origin a request was addressed to, and `http.public_url`.
 */
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { originAccepted } from '../../src/web/auth/origin.js';

const DIRECT = 'http://127.0.0.1:8080/api/login';
const PROXIED = 'http://dbtape.example.com/api/login';
const PUBLIC = 'https://dbtape.example.com';

test('the origin the request was addressed to is ours', () => {
  assert.ok(originAccepted('http://127.0.0.1:8080', DIRECT, null));
  assert.ok(!originAccepted('http://127.0.0.1:8081', DIRECT, null));
  assert.ok(!originAccepted('https://127.0.0.1:8080', DIRECT, null));
});

test("behind a TLS-terminating proxy, the browser's https origin is ours only when it is public_url", () => {
  assert.ok(!originAccepted(PUBLIC, PROXIED, null), 'https does not match the http URL dbtape sees');
  assert.ok(originAccepted(PUBLIC, PROXIED, PUBLIC));
  assert.ok(originAccepted('https://DBTape.example.com:443', PROXIED, PUBLIC), 'in any spelling of it');
  assert.ok(originAccepted(PUBLIC, DIRECT, PUBLIC), 'also when the proxy forwards an IP-literal Host');
  assert.ok(!originAccepted('https://evil.example', PROXIED, PUBLIC));
  assert.ok(!originAccepted('https://dbtape.example.com:8443', PROXIED, PUBLIC));
});

test('an opaque or malformed Origin is never ours', () => {
  assert.ok(!originAccepted('null', DIRECT, PUBLIC));
  assert.ok(!originAccepted('', DIRECT, PUBLIC));
  assert.ok(!originAccepted('not a url', DIRECT, PUBLIC));
});
