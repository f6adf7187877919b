/**
 * What a store's next signed checkpoint holds (integrity/checkpoint.ts has the format), the same
 * for every store: the unbroken run of sessions sealed since the previous checkpoint, the heads
 * of the sessions open now, and the previous checkpoint's hash. The store reads the rows and
 * writes the result in one transaction.
 */
import {
  type CheckpointBody,
  parseCheckpoint,
  type SignedCheckpoint,
  signCheckpoint,
} from '../integrity/checkpoint.js';
import type { CheckpointSigner } from '../integrity/signing-key.js';
import type { CheckpointInfo } from './session-store.js';

/** Most sessions listed in one checkpoint; more pending ones go into the next, at once. */
export const MAX_SESSIONS_PER_CHECKPOINT = 5000;

export interface CheckpointStateRow {
  seal_no: number;
  checkpoint_no: number;
  checkpoint_hash: Buffer | null;
}

export interface SealedRow {
  seal_no: number;
  id: string;
  seal: Buffer;
}

export interface OpenHeadRow {
  id: string;
  last_seq: number;
  head_hash: Buffer;
}

/**
 * The last seal number a stored checkpoint covers, from its body; null when the body is missing
 * or damaged: the store then covers from its own count of seals, so that recording goes on, and
 * verify reports the damage.
 */
export function coveredBy(body: string | null): number | null {
  const parsed = body === null ? null : parseCheckpoint(body);
  return parsed ? parsed.to : null;
}

/**
 * The next checkpoint after `state`, covering seal numbers from `from` (`sealed`: up to
 * MAX_SESSIONS_PER_CHECKPOINT rows with seal_no >= from, in order), and whether sealed sessions
 * are left for another one.
 */
export function nextCheckpoint(
  state: CheckpointStateRow,
  from: number,
  sealed: readonly SealedRow[],
  openHeads: readonly OpenHeadRow[],
  signer: CheckpointSigner,
  atUs: number,
): { signed: SignedCheckpoint; info: CheckpointInfo; more: boolean } {
  // Only the unbroken run of seal numbers: a hole would be a damaged store, for verify to report.
  const sessions: [string, string][] = [];
  for (const r of sealed) {
    if (r.seal_no !== from + sessions.length) break;
    sessions.push([r.id, r.seal.toString('hex')]);
  }
  const open = openHeads.map((r) => [r.id, r.last_seq, r.head_hash.toString('hex')] as const);
  const body: CheckpointBody = {
    v: 1,
    no: state.checkpoint_no + 1,
    prev: state.checkpoint_hash ? state.checkpoint_hash.toString('hex') : null,
    atUs,
    key: signer.keyId,
    from,
    to: from + sessions.length - 1,
    sessions,
    open,
  };
  const signed = signCheckpoint(body, signer);
  const info: CheckpointInfo = {
    no: signed.no,
    hash: signed.hash.toString('hex'),
    sessions: sessions.length,
    openSessions: open.length,
    sealedUpTo: body.to,
  };
  return { signed, info, more: body.to < state.seal_no && sessions.length === MAX_SESSIONS_PER_CHECKPOINT };
}
