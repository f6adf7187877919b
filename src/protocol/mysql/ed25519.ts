/**
 * MariaDB's `client_ed25519` auth plugin (MariaDB server plugin/auth_ed25519, ref10/sign.c).
 * The server sends a 32-byte nonce; the client answers with a 64-byte Ed25519 signature of it.
 * MariaDB derives the key from the password itself: az = SHA512(password) (clamped), where
 * standard Ed25519 hashes a 32-byte seed instead. node:crypto only signs from a seed, so the
 * curve arithmetic is done here with BigInt (RFC 8032 section 5.1, extended coordinates).
 * Signatures are standard Ed25519 signatures under the public key the server stores
 * (base64 in mysql.user), so node:crypto can verify them.
 * Login-path only (a few milliseconds per signature), not hot-path code.
 */
import { createHash } from 'node:crypto';

const P = 2n ** 255n - 19n;
const L = 2n ** 252n + 27742317777372353535851937790883648493n;
const D = mod(-121665n * modInverse(121666n));
const BASE: Point = {
  x: 15112221349535400772501151409588531511454012693041857206046113283949847762202n,
  y: 46316835694926478169428394003475163141307993866256225615783033603165251855960n,
  z: 1n,
  t: mod(
    15112221349535400772501151409588531511454012693041857206046113283949847762202n *
      46316835694926478169428394003475163141307993866256225615783033603165251855960n,
  ),
};
const IDENTITY: Point = { x: 0n, y: 1n, z: 1n, t: 0n };

/** Extended twisted Edwards coordinates: x = X/Z, y = Y/Z, x*y = T/Z. */
interface Point {
  readonly x: bigint;
  readonly y: bigint;
  readonly z: bigint;
  readonly t: bigint;
}

function mod(a: bigint, m = P): bigint {
  const r = a % m;
  return r >= 0n ? r : r + m;
}

function modPow(base: bigint, exp: bigint): bigint {
  let result = 1n;
  let b = mod(base);
  let e = exp;
  while (e > 0n) {
    if (e & 1n) result = (result * b) % P;
    b = (b * b) % P;
    e >>= 1n;
  }
  return result;
}

function modInverse(a: bigint): bigint {
  return modPow(a, P - 2n);
}

/** Unified addition for a = -1 (add-2008-hwcd-3). */
function add(p: Point, q: Point): Point {
  const a = mod((p.y - p.x) * (q.y - q.x));
  const b = mod((p.y + p.x) * (q.y + q.x));
  const c = mod(p.t * 2n * D * q.t);
  const d = mod(p.z * 2n * q.z);
  const e = b - a;
  const f = d - c;
  const g = d + c;
  const h = b + a;
  return { x: mod(e * f), y: mod(g * h), z: mod(f * g), t: mod(e * h) };
}

/** Doubling for a = -1 (dbl-2008-hwcd). */
function double(p: Point): Point {
  const a = mod(p.x * p.x);
  const b = mod(p.y * p.y);
  const c = mod(2n * p.z * p.z);
  const e = mod((p.x + p.y) * (p.x + p.y) - a - b);
  const g = b - a;
  const f = g - c;
  const h = -a - b;
  return { x: mod(e * f), y: mod(g * h), z: mod(f * g), t: mod(e * h) };
}

function scalarMultBase(k: bigint): Point {
  let result = IDENTITY;
  let addend = BASE;
  let n = k;
  while (n > 0n) {
    if (n & 1n) result = add(result, addend);
    addend = double(addend);
    n >>= 1n;
  }
  return result;
}

/** RFC 8032 point encoding: y little endian, the sign of x in the top bit. */
function encodePoint(p: Point): Buffer {
  const zi = modInverse(p.z);
  const x = mod(p.x * zi);
  const y = mod(p.y * zi);
  const out = bigToLe(y, 32);
  if (x & 1n) out[31] |= 0x80;
  return out;
}

function leToBig(b: Uint8Array): bigint {
  let v = 0n;
  for (let i = b.length - 1; i >= 0; i--) v = (v << 8n) | BigInt(b[i]);
  return v;
}

function bigToLe(v: bigint, size: number): Buffer {
  const out = Buffer.alloc(size);
  let n = v;
  for (let i = 0; i < size; i++) {
    out[i] = Number(n & 0xffn);
    n >>= 8n;
  }
  return out;
}

function sha512(...parts: Uint8Array[]): Buffer {
  const h = createHash('sha512');
  for (const p of parts) h.update(p);
  return h.digest();
}

/** The clamped secret scalar and nonce prefix MariaDB derives from the password. */
function expandPassword(password: Uint8Array): { a: bigint; prefix: Buffer } {
  const az = sha512(password);
  az[0] &= 248;
  az[31] &= 63;
  az[31] |= 64;
  return { a: leToBig(az.subarray(0, 32)), prefix: az.subarray(32, 64) };
}

function passwordBytes(password: string | Uint8Array): Uint8Array {
  return typeof password === 'string' ? Buffer.from(password, 'utf8') : password;
}

/** The 32-byte public key for `password`: what `ed25519_password('...')` shows base64-encoded. */
export function ed25519PublicKey(password: string | Uint8Array): Buffer {
  return encodePoint(scalarMultBase(expandPassword(passwordBytes(password)).a));
}

/**
 * The 64-byte client_ed25519 response: an Ed25519 signature of `message` (the server's nonce).
 * Pass `publicKey` (from ed25519PublicKey) to skip recomputing it on repeated logins.
 */
export function ed25519Sign(
  password: string | Uint8Array,
  message: Uint8Array,
  publicKey?: Uint8Array,
): Buffer {
  const { a, prefix } = expandPassword(passwordBytes(password));
  const pub = publicKey ?? encodePoint(scalarMultBase(a));
  const r = mod(leToBig(sha512(prefix, message)), L);
  const rEncoded = encodePoint(scalarMultBase(r));
  const h = mod(leToBig(sha512(rEncoded, pub, message)), L);
  const s = mod(r + h * a, L);
  return Buffer.concat([rEncoded, bigToLe(s, 32)]);
}
