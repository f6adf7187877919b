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
import crypto, { createHash, type Hash } from 'node:crypto';
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

/**
 * The event hash's input is assembled in one reused buffer and hashed in one call: the store
 * hashes every recorded event, and each step here was measured (2026-12-01, 2-vCPU VM):
 * createHash/update/digest cost about twice a one-shot hash; asking the one-shot hash for a Buffer
 * gives each 32-byte digest a backing store of its own (so it is taken as a latin1 string and
 * copied into a Buffer from Node's shared pool); the short, fixed parts are written with
 * TypedArray stores rather than Buffer methods (each a call into C++). The bytes are exactly those
 * listed above, so stored hashes and `dbtape verify` are unchanged
 * (test/unit/integrity-chain.test.ts checks them against a plain implementation).
 */
const EVENT_TAG_BYTES = Buffer.from(EVENT_TAG);
const PREV_AT = EVENT_TAG_BYTES.length;
const NUMBERS_AT = PREV_AT + HASH_BYTES;
const KIND_AT = NUMBERS_AT + 25;
const MAX_SCRATCH = 1024 * 1024;
let scratch = newScratch(16 * 1024);
/** `kind` + NUL as UTF-8, for the few kinds there are. */
const kindBytes = new Map<string, Buffer>();

/** Node ≥ 20.12 has crypto.hash (one-shot); older 20.x falls back to createHash. */
const oneShot = (crypto as { hash?: (alg: string, data: Uint8Array, enc: 'binary') => string }).hash;

function newScratch(size: number): { buf: Buffer; view: DataView } {
  const buf = Buffer.alloc(size);
  EVENT_TAG_BYTES.copy(buf);
  return { buf, view: new DataView(buf.buffer, buf.byteOffset, buf.length) };
}

export function eventHash(prev: Buffer, header: EventHeader, body: string | Buffer): Buffer {
  let kind = kindBytes.get(header.kind);
  if (kind === undefined) {
    kind = Buffer.from(`${header.kind}\0`, 'utf8');
    if (kindBytes.size < 64) kindBytes.set(header.kind, kind);
  }
  // At most 3 UTF-8 bytes per UTF-16 unit: a bound without scanning the text.
  const bodyMax = typeof body === 'string' ? body.length * 3 : body.length;
  const need = KIND_AT + kind.length + bodyMax;
  if (need > scratch.buf.length && need <= MAX_SCRATCH)
    scratch = newScratch(Math.max(need, scratch.buf.length * 2));
  // A rare huge body (captured rows) gets a buffer of its own rather than one kept forever.
  const s = need <= scratch.buf.length ? scratch : newScratch(need);
  const b = s.buf;
  b.set(prev.length > HASH_BYTES ? prev.subarray(0, HASH_BYTES) : prev, PREV_AT);
  if (prev.length < HASH_BYTES) b.fill(0, PREV_AT + prev.length, NUMBERS_AT);
  writeInt64(s.view, header.seq, NUMBERS_AT);
  writeInt64(s.view, header.atUs, NUMBERS_AT + 8);
  writeInt64(s.view, header.offsetUs, NUMBERS_AT + 16);
  b[NUMBERS_AT + 24] = header.format;
  b.set(kind, KIND_AT);
  let at = KIND_AT + kind.length;
  at += typeof body === 'string' ? b.write(body, at, 'utf8') : body.copy(b, at);
  const input = new Uint8Array(b.buffer, b.byteOffset, at);
  if (oneShot) return Buffer.from(oneShot('sha256', input, 'binary'), 'latin1');
  return createHash('sha256').update(input).digest();
}

/** Big-endian two's complement, as BigInt64 would write it, without a BigInt for safe integers. */
function writeInt64(view: DataView, n: number, at: number): void {
  if (Number.isSafeInteger(n) && n >= 0) {
    view.setUint32(at, Math.floor(n / 0x1_0000_0000));
    view.setUint32(at + 4, n >>> 0);
  } else {
    view.setBigInt64(at, BigInt(n));
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
