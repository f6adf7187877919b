/**
 * The hash chain of a session and the seal that closes it (docs/recording.md, "Tamper evidence").
 *
 * Every input starts with a domain tag, so a hash made for one purpose can never be replayed as
 * another. Numbers are 8-byte big-endian integers, text is UTF-8 followed by a NUL byte (none of
 * the text hashed here can hold NUL: ids, kinds, end reasons, JSON).
 *
 *   genesis  = SHA-256("dbtape.genesis.v1\0" ‖ canonical meta ‖ \0 ‖ data-key fingerprint?)
 *   event    = SHA-256("dbtape.event.v1\0" ‖ prev ‖ seq ‖ atUs ‖ offsetUs ‖ format ‖ kind\0 ‖ body)
 *   seal     = SHA-256("dbtape.seal.v1\0" ‖ prev seal ‖ sealNo ‖ id\0 ‖ last hash ‖ count ‖ endedAtUs ‖ reason\0)
 *
 * `body` is the event exactly as stored: the v1 JSON text, or the encrypted envelope, so the
 * chain verifies without the encryption key. The clear columns a store indexes (seq, times,
 * kind, format) are hashed too, so they cannot be edited apart from the body.
 */
import { createHash, type Hash } from 'node:crypto';
import type { SessionMeta } from '../model/session.js';

export const HASH_BYTES = 32;
/** The "previous seal" of the first session ever sealed in a store. */
export const ZERO_HASH: Buffer = Buffer.alloc(HASH_BYTES);

const GENESIS_TAG = 'dbtape.genesis.v1\0';
const EVENT_TAG = 'dbtape.event.v1\0';
const SEAL_TAG = 'dbtape.seal.v1\0';

/** The session metadata as one canonical text: a JSON array in a fixed field order. */
export function canonicalMeta(m: SessionMeta): string {
  return JSON.stringify([
    m.id,
    m.protocol,
    m.user,
    m.roles,
    m.clientAddr,
    m.clientPort,
    m.application,
    m.clientTls,
    m.target,
    m.upstreamDatabase,
    m.upstreamUser,
    m.startedAtUs,
  ]);
}

/**
 * Where a session's chain starts. It covers the metadata a store keeps in clear (so listing
 * columns cannot be edited unnoticed) and, when encrypted, the data key's fingerprint.
 */
export function genesisHash(meta: SessionMeta, dataKeyFingerprint: Buffer | null): Buffer {
  const h = createHash('sha256').update(GENESIS_TAG).update(canonicalMeta(meta)).update('\0');
  if (dataKeyFingerprint) h.update(dataKeyFingerprint);
  return h.digest();
}

/** The clear fields of a stored event that its hash covers besides the body. */
export interface EventHeader {
  readonly seq: number;
  readonly atUs: number;
  readonly offsetUs: number;
  /** How the body is stored: 1 = v1 JSON text, 2 = v1 JSON encrypted. */
  readonly format: number;
  readonly kind: string;
}

/** Reused for each event's fixed part: tag ‖ prev ‖ seq ‖ atUs ‖ offsetUs ‖ format (hash.update copies it). */
const EVENT_TAG_BYTES = Buffer.from(EVENT_TAG);
const fixed = Buffer.alloc(EVENT_TAG_BYTES.length + HASH_BYTES + 25);
EVENT_TAG_BYTES.copy(fixed);
const PREV_AT = EVENT_TAG_BYTES.length;
const NUMBERS_AT = PREV_AT + HASH_BYTES;

export function eventHash(prev: Buffer, header: EventHeader, body: string | Buffer): Buffer {
  prev.copy(fixed, PREV_AT, 0, HASH_BYTES);
  if (prev.length < HASH_BYTES) fixed.fill(0, PREV_AT + prev.length, NUMBERS_AT);
  writeInt64(fixed, header.seq, NUMBERS_AT);
  writeInt64(fixed, header.atUs, NUMBERS_AT + 8);
  writeInt64(fixed, header.offsetUs, NUMBERS_AT + 16);
  fixed.writeUInt8(header.format, NUMBERS_AT + 24);
  const h = createHash('sha256').update(fixed).update(header.kind).update('\0');
  return typeof body === 'string' ? h.update(body, 'utf8').digest() : h.update(body).digest();
}

/** Big-endian two's complement, as BigInt64 would write it, without a BigInt for safe integers. */
function writeInt64(b: Buffer, n: number, at: number): void {
  if (Number.isSafeInteger(n) && n >= 0) {
    b.writeUInt32BE(Math.floor(n / 0x1_0000_0000), at);
    b.writeUInt32BE(n >>> 0, at + 4);
  } else {
    b.writeBigInt64BE(BigInt(n), at);
  }
}

export interface SealInput {
  /** The seal of the session sealed just before (ZERO_HASH for the first). */
  readonly prevSeal: Buffer;
  /** 1, 2, 3…: the order in which sessions of the store were sealed. */
  readonly sealNo: number;
  readonly sessionId: string;
  /** Hash of the session's last event (its `end`). */
  readonly lastHash: Buffer;
  /** Events in the session (its last seq: sequence numbers are dense). */
  readonly count: number;
  readonly endedAtUs: number;
  readonly reason: string;
}

export function sealHash(s: SealInput): Buffer {
  const h = createHash('sha256').update(SEAL_TAG).update(s.prevSeal);
  int64(h, s.sealNo);
  h.update(s.sessionId).update('\0').update(s.lastHash);
  int64(h, s.count);
  int64(h, s.endedAtUs);
  return h.update(s.reason).update('\0').digest();
}

function int64(h: Hash, n: number): void {
  const b = Buffer.alloc(8);
  b.writeBigInt64BE(BigInt(n));
  h.update(b);
}
