/**
 * The associated data that binds each ciphertext to its place (AES-GCM AAD), and data-key
 * fingerprints. A wrapped data key only unwraps for its own session, and an event body only
 * decrypts as its own session's event at its own sequence number.
 */
import { createHash } from 'node:crypto';

const DATA_KEY_AAD = 'dbtape.data-key.v1\0';
const BODY_AAD = 'dbtape.event-body.v1\0';
const FINGERPRINT_TAG = 'dbtape.data-key-fingerprint.v1\0';

export const INDEX_KEY_AAD: Buffer = Buffer.from('dbtape.index-key.v1\0');
/** The strict-mode journal's data key (one per writer process) and the batches it seals. */
export const JOURNAL_KEY_AAD: Buffer = Buffer.from('dbtape.journal-key.v1\0');
export const JOURNAL_BODY_AAD: Buffer = Buffer.from('dbtape.journal-body.v1\0');

/** SHA-256 of a data key, covered by its session's chain (chain.ts, genesis). */
export function dataKeyFingerprint(key: Buffer): Buffer {
  return createHash('sha256').update(FINGERPRINT_TAG).update(key).digest();
}

export function dataKeyAad(sessionId: string): Buffer {
  return Buffer.from(DATA_KEY_AAD + sessionId);
}

export function bodyAad(sessionId: string, seq: number): Buffer {
  const b = Buffer.alloc(Buffer.byteLength(BODY_AAD) + Buffer.byteLength(sessionId) + 9);
  let at = b.write(BODY_AAD);
  at += b.write(sessionId, at);
  b.writeUInt8(0, at);
  b.writeBigInt64BE(BigInt(seq), at + 1);
  return b;
}
