import assert from 'node:assert/strict';
import { createHash, createPublicKey, generateKeyPairSync, randomBytes, verify } from 'node:crypto';
import { describe, test } from 'node:test';
import {
  cachingSha2Hash,
  cachingSha2Scramble,
  cleartextPasswordPayload,
  nativePasswordHash,
  nativePasswordScramble,
  passwordFromCleartextPayload,
  rsaDecryptPassword,
  rsaEncryptPassword,
  scrambleFromPluginData,
  verifyCachingSha2Cleartext,
  verifyCachingSha2Scramble,
  verifyNativePassword,
  xorBytes,
} from '../../src/protocol/mysql/auth.js';
import {
  authPacketKind,
  decodeAuthMoreData,
  decodeAuthSwitchRequest,
  encodeAuthData,
  encodeAuthMoreData,
  encodeAuthSwitchRequest,
} from '../../src/protocol/mysql/auth-packets.js';
import { ed25519PublicKey, ed25519Sign } from '../../src/protocol/mysql/ed25519.js';

const scramble = Buffer.from('abcdefghijklmnopqrst');
const sha = (alg: string, ...parts: Buffer[]) => {
  const h = createHash(alg);
  for (const p of parts) h.update(p);
  return h.digest();
};

describe('mysql_native_password', () => {
  test("stored hash matches MySQL's PASSWORD('password')", () => {
    assert.equal(
      nativePasswordHash('password').toString('hex').toUpperCase(),
      '2470C0C06DEE42FD1618BB99005ADCA2EC9D1E19',
    );
  });

  test('client scramble follows SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw)))', () => {
    const pw = Buffer.from('secret');
    const expected = xorBytes(sha('sha1', pw), sha('sha1', scramble, sha('sha1', sha('sha1', pw))));
    assert.deepEqual(nativePasswordScramble('secret', scramble), expected);
    assert.equal(nativePasswordScramble('', scramble).length, 0, 'empty password, empty response');
  });

  test('server verification accepts the right password only', () => {
    const stored = nativePasswordHash('secret');
    assert.equal(verifyNativePassword(nativePasswordScramble('secret', scramble), scramble, stored), true);
    assert.equal(verifyNativePassword(nativePasswordScramble('Secret', scramble), scramble, stored), false);
    const other = Buffer.from('tsrqponmlkjihgfedcba');
    assert.equal(verifyNativePassword(nativePasswordScramble('secret', other), scramble, stored), false);
    assert.equal(verifyNativePassword(Buffer.alloc(0), scramble, stored), false);
    assert.equal(verifyNativePassword(Buffer.alloc(19), scramble, stored), false);
  });
});

describe('caching_sha2_password', () => {
  test('client scramble follows SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + scramble)', () => {
    const pw = Buffer.from('secret');
    const s1 = sha('sha256', pw);
    const expected = xorBytes(s1, sha('sha256', sha('sha256', s1), scramble));
    assert.deepEqual(cachingSha2Scramble('secret', scramble), expected);
    assert.equal(cachingSha2Scramble('', scramble).length, 0);
  });

  test('fast path verification against SHA256(SHA256(pw))', () => {
    const stored = cachingSha2Hash('secret');
    assert.deepEqual(stored, sha('sha256', sha('sha256', Buffer.from('secret'))));
    assert.equal(verifyCachingSha2Scramble(cachingSha2Scramble('secret', scramble), scramble, stored), true);
    assert.equal(verifyCachingSha2Scramble(cachingSha2Scramble('secreT', scramble), scramble, stored), false);
    assert.equal(verifyCachingSha2Scramble(Buffer.alloc(31), scramble, stored), false);
  });

  test('full path over TLS: password + NUL', () => {
    const payload = cleartextPasswordPayload('pässword');
    assert.equal(payload[payload.length - 1], 0);
    const pw = passwordFromCleartextPayload(payload);
    assert.equal(pw.toString(), 'pässword');
    assert.equal(verifyCachingSha2Cleartext(pw, cachingSha2Hash('pässword')), true);
    assert.equal(verifyCachingSha2Cleartext(Buffer.from('password'), cachingSha2Hash('pässword')), false);
  });

  test('full path over RSA: OAEP of (password + NUL) XOR scramble, and back', () => {
    const { publicKey, privateKey } = generateKeyPairSync('rsa', { modulusLength: 2048 });
    const pub = publicKey.export({ type: 'spki', format: 'pem' });
    const priv = privateKey.export({ type: 'pkcs8', format: 'pem' });
    const enc = rsaEncryptPassword('a password longer than the twenty byte scramble', scramble, pub);
    assert.equal(enc.length, 256);
    const back = rsaDecryptPassword(enc, scramble, priv);
    assert.equal(back?.toString(), 'a password longer than the twenty byte scramble');
    // PKCS#1 v1.5 (old sha256_password servers): Node 20 cannot decrypt it back, so check the shape.
    const pkcs1 = rsaEncryptPassword('pw', scramble, pub, 'pkcs1');
    assert.equal(pkcs1.length, 256);
    assert.equal(
      rsaDecryptPassword(randomBytes(256), scramble, priv),
      null,
      'garbage is a failure, not a throw',
    );
  });

  test('plugin data NUL is stripped from scrambles', () => {
    assert.deepEqual(scrambleFromPluginData(Buffer.concat([scramble, Buffer.from([0])])), scramble);
    assert.deepEqual(scrambleFromPluginData(scramble), scramble);
  });
});

describe('client_ed25519 (MariaDB)', () => {
  test("public key matches MariaDB's ed25519_password('')", () => {
    // From MariaDB's own test suite: SELECT ed25519_password("") = 4LH+dBF+G5W2CKTyId8xR3SyDqZoQjUNUVNxx8aWbG4
    assert.equal(
      ed25519PublicKey('').toString('base64').replace(/=+$/, ''),
      '4LH+dBF+G5W2CKTyId8xR3SyDqZoQjUNUVNxx8aWbG4',
    );
  });

  test('signatures verify as standard Ed25519 under that public key', () => {
    for (const pw of ['secret', 'pässwörd', 'x'.repeat(100)]) {
      const nonce = randomBytes(32);
      const pub = ed25519PublicKey(pw);
      const key = createPublicKey({
        key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), pub]),
        format: 'der',
        type: 'spki',
      });
      const sig = ed25519Sign(pw, nonce);
      assert.equal(sig.length, 64);
      assert.equal(verify(null, nonce, key, sig), true, pw);
      assert.deepEqual(ed25519Sign(pw, nonce, pub), sig, 'a cached public key gives the same signature');
      assert.equal(verify(null, nonce, key, ed25519Sign(`${pw}!`, nonce)), false);
    }
  });
});

describe('auth phase packets', () => {
  test('AuthSwitchRequest round trip and classification', () => {
    const pkt = encodeAuthSwitchRequest(
      'mysql_native_password',
      Buffer.concat([scramble, Buffer.from([0])]),
      2,
    );
    assert.equal(pkt[3], 2);
    const payload = pkt.subarray(4);
    assert.equal(authPacketKind(payload), 'auth-switch');
    const r = decodeAuthSwitchRequest(payload);
    assert.ok(r.ok);
    assert.equal(r.value.pluginName, 'mysql_native_password');
    assert.deepEqual(scrambleFromPluginData(r.value.pluginData), scramble);
    for (let len = 0; len < 'mysql_native_password'.length + 2; len++) {
      const cut = decodeAuthSwitchRequest(payload.subarray(0, len));
      if (len === 1) assert.equal(cut.ok && cut.value.pluginName, 'mysql_old_password');
      else assert.equal(cut.ok, false, `length ${len}`);
    }
  });

  test('AuthMoreData and bare auth data', () => {
    const more = encodeAuthMoreData(Buffer.from([0x04]), 3).subarray(4);
    assert.equal(authPacketKind(more), 'auth-more-data');
    const r = decodeAuthMoreData(more);
    assert.ok(r.ok);
    assert.deepEqual([...r.value], [0x04]);
    assert.equal(decodeAuthMoreData(Buffer.from([0x02])).ok, false);
    assert.equal(decodeAuthMoreData(Buffer.alloc(0)).ok, false);
    assert.deepEqual([...encodeAuthData(Buffer.from([0x02]), 5)], [1, 0, 0, 5, 0x02]);
    assert.equal(authPacketKind(Buffer.from([0x00])), 'ok');
    assert.equal(authPacketKind(Buffer.from([0xff])), 'err');
    assert.equal(authPacketKind(Buffer.from([0x42])), 'unknown');
    assert.equal(authPacketKind(Buffer.alloc(0)), 'unknown');
  });
});
