/**
 * Encryption at rest, the rules every store follows (docs/recording.md, "Encryption at rest"):
 * a random data key per session, wrapped by the master keyring with the session id as
 * associated data; event bodies sealed with their session's key, bound to their session and
 * sequence number; the search index key wrapped like a data key. The stores only keep the rows.
 */
import { randomBytes } from 'node:crypto';
import { KEY_BYTES, open, seal } from '../integrity/aead.js';
import { bodyAad, dataKeyAad, dataKeyFingerprint, INDEX_KEY_AAD } from '../integrity/data-keys.js';
import type { Keyring } from '../integrity/keyring.js';
import { encryptedStoreError } from './errors.js';

/** Stored event format: v1 JSON text, or v1 JSON encrypted (an AES-256-GCM envelope). */
export const FORMAT_CLEAR = 1;
export const FORMAT_ENCRYPTED = 2;

export interface DataKey {
  readonly key: Buffer;
  readonly fingerprint: Buffer;
}

/** A key as stored: the master key version that wrapped it, and the wrapped bytes. */
export interface WrappedKey {
  readonly version: number;
  readonly wrapped: Buffer;
}

/** A new session's data key, and its wrapped form to store with the session. */
export function newDataKey(keyring: Keyring, sessionId: string): { dk: DataKey; stored: WrappedKey } {
  const key = randomBytes(KEY_BYTES);
  return {
    dk: { key, fingerprint: dataKeyFingerprint(key) },
    stored: keyring.wrap(key, dataKeyAad(sessionId)),
  };
}

/** A stored session's data key; without a keyring the session cannot be read. */
export function unwrapDataKey(keyring: Keyring | null, stored: WrappedKey, sessionId: string): DataKey {
  if (!keyring) throw encryptedStoreError(`session ${sessionId}`);
  const key = keyring.unwrap(
    stored.version,
    stored.wrapped,
    dataKeyAad(sessionId),
    `the data key of session ${sessionId}`,
  );
  return { key, fingerprint: dataKeyFingerprint(key) };
}

export function encryptBody(dk: DataKey, sessionId: string, seq: number, json: string): Buffer {
  return seal(dk.key, json, bodyAad(sessionId, seq));
}

export function decryptBody(dk: DataKey | null, sessionId: string, seq: number, envelope: Buffer): string {
  if (!dk) throw encryptedStoreError(`session ${sessionId}`);
  return open(dk.key, envelope, bodyAad(sessionId, seq), `event ${seq} of session ${sessionId}`).toString(
    'utf8',
  );
}

/** A session's data key under the ring's current master key; null when it already is. */
export function rewrapDataKey(ring: Keyring, stored: WrappedKey, sessionId: string): WrappedKey | null {
  if (stored.version === ring.current) return null;
  const aad = dataKeyAad(sessionId);
  return ring.wrap(
    ring.unwrap(stored.version, stored.wrapped, aad, `the data key of session ${sessionId}`),
    aad,
  );
}

/** The search index key under the ring's current master key; null when it already is. */
export function rewrapIndexKey(ring: Keyring, stored: WrappedKey): WrappedKey | null {
  if (stored.version === ring.current) return null;
  return ring.wrap(
    ring.unwrap(stored.version, stored.wrapped, INDEX_KEY_AAD, 'the search index key'),
    INDEX_KEY_AAD,
  );
}

/**
 * The search index key: the stored one, or a new one (with its wrapped form, for a writer to
 * store) when the store never held encrypted recordings. A reader can use any key then: it
 * matches nothing.
 */
export function indexKey(
  ring: Keyring,
  stored: WrappedKey | null,
): { key: Buffer; toStore: WrappedKey | null } {
  if (stored)
    return {
      key: ring.unwrap(stored.version, stored.wrapped, INDEX_KEY_AAD, 'the search index key'),
      toStore: null,
    };
  const key = randomBytes(KEY_BYTES);
  return { key, toStore: ring.wrap(key, INDEX_KEY_AAD) };
}

const READ_CACHE = 1024;

/** Unwrapped data keys by session sid: unwrapping is an AES-GCM open per session, not per event. */
export class DataKeyCache {
  private readonly keys = new Map<number, DataKey>();

  get(sid: number): DataKey | undefined {
    return this.keys.get(sid);
  }

  set(sid: number, dk: DataKey): void {
    if (this.keys.size >= READ_CACHE) this.keys.clear();
    this.keys.set(sid, dk);
  }

  delete(sid: number): void {
    this.keys.delete(sid);
  }

  clear(): void {
    this.keys.clear();
  }
}
