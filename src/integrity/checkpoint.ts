/**
 * Signed checkpoints: the store-wide part of tamper evidence, in the manner of CloudTrail digest
 * files. Each checkpoint lists, in order, the sessions sealed since the previous checkpoint
 * (id and seal), the chain heads of the sessions still open, and the previous checkpoint's hash,
 * and is signed with Ed25519. Deleting a whole session, or the tail of the log up to a
 * checkpoint, therefore breaks something signed.
 *
 * The body is canonical JSON written once and stored as text; the hash and the signature cover
 * the domain tag followed by exactly those bytes.
 */
import { createHash } from 'node:crypto';
import type { CheckpointSigner } from './signing-key.js';

export const CHECKPOINT_VERSION = 1;
const CHECKPOINT_TAG = 'dbtape.checkpoint.v1\0';

export interface CheckpointBody {
  readonly v: 1;
  /** 1, 2, 3…, dense. */
  readonly no: number;
  /** Hash of checkpoint no-1 (hex), null for the first. */
  readonly prev: string | null;
  /** When it was made, microseconds since the epoch. */
  readonly atUs: number;
  /** Signing key id (signing-key.ts). */
  readonly key: string;
  /** Seal numbers covered: from..to (to = from-1 when no session was sealed since). */
  readonly from: number;
  readonly to: number;
  /** [session id, seal hex] for seal numbers from..to, in order. */
  readonly sessions: readonly (readonly [string, string])[];
  /** [session id, last seq, chain head hex] of sessions open at the time. */
  readonly open: readonly (readonly [string, number, string])[];
}

export interface SignedCheckpoint {
  readonly no: number;
  readonly atUs: number;
  readonly keyId: string;
  readonly body: string;
  readonly hash: Buffer;
  readonly signature: Buffer;
}

export function encodeCheckpoint(body: CheckpointBody): string {
  // Key order is fixed by construction here; verifiers hash the stored text, never a re-encoding.
  return JSON.stringify({
    v: body.v,
    no: body.no,
    prev: body.prev,
    atUs: body.atUs,
    key: body.key,
    from: body.from,
    to: body.to,
    sessions: body.sessions,
    open: body.open,
  });
}

export function checkpointMessage(body: string): Buffer {
  return Buffer.concat([Buffer.from(CHECKPOINT_TAG), Buffer.from(body, 'utf8')]);
}

export function checkpointHash(body: string): Buffer {
  return createHash('sha256').update(CHECKPOINT_TAG).update(body, 'utf8').digest();
}

export function signCheckpoint(body: CheckpointBody, signer: CheckpointSigner): SignedCheckpoint {
  const text = encodeCheckpoint(body);
  return {
    no: body.no,
    atUs: body.atUs,
    keyId: signer.keyId,
    body: text,
    hash: checkpointHash(text),
    signature: signer.sign(checkpointMessage(text)),
  };
}

/** Parses a stored body; null when it is not a well-formed v1 checkpoint. */
export function parseCheckpoint(text: string): CheckpointBody | null {
  let b: unknown;
  try {
    b = JSON.parse(text);
  } catch {
    return null;
  }
  const c = b as Partial<CheckpointBody> | null;
  const ok =
    c !== null &&
    typeof c === 'object' &&
    c.v === CHECKPOINT_VERSION &&
    Number.isSafeInteger(c.no) &&
    (c.prev === null || typeof c.prev === 'string') &&
    Number.isSafeInteger(c.atUs) &&
    typeof c.key === 'string' &&
    Number.isSafeInteger(c.from) &&
    Number.isSafeInteger(c.to) &&
    Array.isArray(c.sessions) &&
    c.sessions.every((s) => Array.isArray(s) && typeof s[0] === 'string' && typeof s[1] === 'string') &&
    Array.isArray(c.open) &&
    c.open.every(
      (o) =>
        Array.isArray(o) &&
        typeof o[0] === 'string' &&
        Number.isSafeInteger(o[1]) &&
        typeof o[2] === 'string',
    ) &&
    c.sessions.length === c.to! - c.from! + 1;
  return ok ? (c as CheckpointBody) : null;
}
