/**
 * AES-256-GCM as dbtape uses it everywhere: a random 96-bit nonce per message (NIST SP 800-38D
 * §8.2.2; with per-session keys no key comes near the 2^32-message bound for random nonces) and
 * a 128-bit tag. An envelope is nonce ‖ ciphertext ‖ tag.
 */
import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { IntegrityError } from './errors.js';

export const KEY_BYTES = 32;
const NONCE_BYTES = 12;
const TAG_BYTES = 16;
export const ENVELOPE_OVERHEAD = NONCE_BYTES + TAG_BYTES;

/**
 * Nonces come from a pool of random bytes refilled 1,024 nonces at a time: one call into the
 * CSPRNG per event cost more than the encryption itself.
 */
const POOL_NONCES = 1024;
let pool = Buffer.alloc(0);
let poolAt = 0;

function nonce(): Buffer {
  if (poolAt >= pool.length) {
    pool = randomBytes(NONCE_BYTES * POOL_NONCES);
    poolAt = 0;
  }
  const n = pool.subarray(poolAt, poolAt + NONCE_BYTES);
  poolAt += NONCE_BYTES;
  return n;
}

export function seal(key: Buffer, plaintext: Buffer | string, aad: Buffer): Buffer {
  const nonce_ = nonce();
  const cipher = createCipheriv('aes-256-gcm', key, nonce_);
  cipher.setAAD(aad);
  const head = typeof plaintext === 'string' ? cipher.update(plaintext, 'utf8') : cipher.update(plaintext);
  const tail = cipher.final();
  return Buffer.concat([nonce_, head, tail, cipher.getAuthTag()]);
}

export function open(key: Buffer, envelope: Buffer, aad: Buffer, what: string): Buffer {
  if (envelope.length < ENVELOPE_OVERHEAD) throw decryptFailed(what);
  const nonce = envelope.subarray(0, NONCE_BYTES);
  const tag = envelope.subarray(envelope.length - TAG_BYTES);
  const decipher = createDecipheriv('aes-256-gcm', key, nonce);
  decipher.setAAD(aad);
  decipher.setAuthTag(tag);
  try {
    const body = decipher.update(envelope.subarray(NONCE_BYTES, envelope.length - TAG_BYTES));
    return Buffer.concat([body, decipher.final()]);
  } catch (err) {
    throw decryptFailed(what, err);
  }
}

function decryptFailed(what: string, cause?: unknown): IntegrityError {
  return new IntegrityError(
    'DBTAPE_DECRYPT_FAILED',
    `dbtape: cannot decrypt ${what}: wrong key, or the stored bytes were changed (run dbtape verify)`,
    { cause },
  );
}
