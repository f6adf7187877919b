/**
 * Password scrambles for MySQL's auth plugins, both the client side (dbtape logging in
 * upstream with injected credentials) and the server side (dbtape verifying its own identities
 * against stored hashes, never the password).
 *
 * mysql_native_password (MySQL "Native Authentication"):
 *   client sends SHA1(pw) XOR SHA1(scramble + SHA1(SHA1(pw))); server stores SHA1(SHA1(pw)).
 * caching_sha2_password (MySQL source sql/auth/sha2_password_common.cc, generate_sha2_scramble):
 *   client sends SHA256(pw) XOR SHA256(SHA256(SHA256(pw)) + scramble); server caches SHA256(SHA256(pw)).
 *   Full authentication sends pw + NUL over TLS, or RSA-encrypts (pw + NUL) XOR scramble
 *   (scramble repeated) with the server's public key, OAEP padding (PKCS#1 v1.5 for old sha256_password).
 */
import { constants, createHash, privateDecrypt, publicEncrypt, timingSafeEqual } from 'node:crypto';

export type Secret = string | Uint8Array;

function bytesOf(s: Secret): Buffer {
  return typeof s === 'string' ? Buffer.from(s, 'utf8') : Buffer.from(s);
}

function sha1(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha1');
  for (const p of parts) h.update(p);
  return h.digest();
}

function sha256(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha256');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** a XOR b, `b` repeated cyclically when shorter. */
export function xorBytes(a: Uint8Array, b: Uint8Array): Buffer {
  const out = Buffer.allocUnsafe(a.length);
  for (let i = 0; i < a.length; i++) out[i] = a[i] ^ b[i % b.length];
  return out;
}

/** The auth-plugin nonce without the NUL some servers append to plugin data. */
export function scrambleFromPluginData(data: Uint8Array): Buffer {
  const end = data.length > 0 && data[data.length - 1] === 0 ? data.length - 1 : data.length;
  return Buffer.from(data.subarray(0, end));
}

// ---- mysql_native_password ----

/** SHA1(SHA1(password)): the stored verifier (mysql.user's hash without the leading '*'). */
export function nativePasswordHash(password: Secret): Buffer {
  return sha1(sha1(bytesOf(password)));
}

/** Client auth response; empty for an empty password, as libmysqlclient does. */
export function nativePasswordScramble(password: Secret, scramble: Uint8Array): Buffer {
  const pw = bytesOf(password);
  if (pw.length === 0) return Buffer.alloc(0);
  const stage1 = sha1(pw);
  return xorBytes(stage1, sha1(scramble, sha1(stage1)));
}

/**
 * Server-side check: recover SHA1(pw) = response XOR SHA1(scramble + stored) and compare
 * SHA1 of it with `stored` in constant time.
 */
export function verifyNativePassword(
  response: Uint8Array,
  scramble: Uint8Array,
  stored: Uint8Array,
): boolean {
  if (response.length !== 20 || stored.length !== 20) return false;
  const candidate = xorBytes(response, sha1(scramble, stored));
  return timingSafeEqual(sha1(candidate), stored);
}

// ---- caching_sha2_password ----

/** SHA256(SHA256(password)): what the server caches for the fast path. */
export function cachingSha2Hash(password: Secret): Buffer {
  return sha256(sha256(bytesOf(password)));
}

/** Client fast-path response; empty for an empty password. */
export function cachingSha2Scramble(password: Secret, scramble: Uint8Array): Buffer {
  const pw = bytesOf(password);
  if (pw.length === 0) return Buffer.alloc(0);
  const stage1 = sha256(pw);
  return xorBytes(stage1, sha256(sha256(stage1), scramble));
}

/**
 * Server-side fast path: recover SHA256(pw) = response XOR SHA256(stored + scramble) and compare
 * SHA256 of it with `stored` in constant time.
 */
export function verifyCachingSha2Scramble(
  response: Uint8Array,
  scramble: Uint8Array,
  stored: Uint8Array,
): boolean {
  if (response.length !== 32 || stored.length !== 32) return false;
  const candidate = xorBytes(response, sha256(stored, scramble));
  return timingSafeEqual(sha256(candidate), stored);
}

/** Server-side full path: the cleartext password (NUL already removed) against the stored hash. */
export function verifyCachingSha2Cleartext(password: Uint8Array, stored: Uint8Array): boolean {
  if (stored.length !== 32) return false;
  return timingSafeEqual(sha256(sha256(password)), stored);
}

/** Password + NUL: the full-auth answer over TLS, and mysql_clear_password's response. */
export function cleartextPasswordPayload(password: Secret): Buffer {
  const pw = bytesOf(password);
  const out = Buffer.alloc(pw.length + 1);
  pw.copy(out);
  return out;
}

/** Strip the trailing NUL of a cleartext password payload. */
export function passwordFromCleartextPayload(payload: Uint8Array): Buffer {
  return scrambleFromPluginData(payload);
}

export type RsaPadding = 'oaep' | 'pkcs1';

function paddingConstant(padding: RsaPadding): number {
  return padding === 'oaep' ? constants.RSA_PKCS1_OAEP_PADDING : constants.RSA_PKCS1_PADDING;
}

/**
 * RSA full authentication (caching_sha2_password, MySQL 8.0.5+: OAEP with SHA-1; sha256_password
 * before 8.0.5: PKCS#1 v1.5). `publicKeyPem` is the key the server sent in AuthMoreData.
 */
export function rsaEncryptPassword(
  password: Secret,
  scramble: Uint8Array,
  publicKeyPem: string | Buffer,
  padding: RsaPadding = 'oaep',
): Buffer {
  const plain = xorBytes(cleartextPasswordPayload(password), scramble);
  return publicEncrypt({ key: publicKeyPem, padding: paddingConstant(padding), oaepHash: 'sha1' }, plain);
}

/** Server side of the RSA exchange: the password (NUL removed), or null when decryption fails. */
export function rsaDecryptPassword(
  encrypted: Uint8Array,
  scramble: Uint8Array,
  privateKeyPem: string | Buffer,
  padding: RsaPadding = 'oaep',
): Buffer | null {
  try {
    const plain = privateDecrypt(
      { key: privateKeyPem, padding: paddingConstant(padding), oaepHash: 'sha1' },
      encrypted,
    );
    return passwordFromCleartextPayload(xorBytes(plain, scramble));
  } catch {
    return null; // wrong key or tampered ciphertext: an authentication failure, not a crash
  }
}
