/** Signed checkpoints in the PostgreSQL store (store/checkpoint-build.ts says what they hold). */
import type { CheckpointSigner } from '../../integrity/signing-key.js';
import {
  type CheckpointStateRow,
  coveredBy,
  MAX_SESSIONS_PER_CHECKPOINT,
  nextCheckpoint,
  type OpenHeadRow,
  type SealedRow,
} from '../checkpoint-build.js';
import type { CheckpointInfo } from '../session-store.js';
import type { Sql } from './pg-connect.js';
import { byteaLit, intLit, textLit } from './pg-literals.js';

/**
 * The next checkpoint, covering up to MAX_SESSIONS_PER_CHECKPOINT sessions sealed since the last
 * one and the heads of the sessions open now, and the statements that store it (run as one
 * transaction by the store, after the store's other writes: it is the store's one writer, so
 * nothing changes between these reads and that write); says whether sealed sessions are left
 * for another checkpoint.
 */
export async function prepareCheckpoint(
  q: Sql,
  signer: CheckpointSigner,
  atUs: number,
): Promise<{ info: CheckpointInfo; more: boolean; statements: string[] }> {
  const [state] = await q<CheckpointStateRow[]>`
    SELECT seal_no, checkpoint_no, checkpoint_hash FROM integrity_state WHERE id = 1`;
  const from = (await coveredUpTo(q, state!.checkpoint_no)) + 1;
  const sealed = await q<SealedRow[]>`
    SELECT seal_no, id, seal FROM sessions WHERE seal_no >= ${from} ORDER BY seal_no LIMIT ${MAX_SESSIONS_PER_CHECKPOINT}`;
  const open = await q<OpenHeadRow[]>`
    SELECT id, last_seq, head_hash FROM sessions WHERE ended_at_us IS NULL AND head_hash IS NOT NULL ORDER BY sid`;
  const { signed, info, more } = nextCheckpoint(state!, from, sealed, open, signer, atUs);
  const statements = [
    `INSERT INTO checkpoints (no, at_us, key_id, body, hash, signature)
     VALUES (${intLit(signed.no)}, ${intLit(signed.atUs)}, ${textLit(signed.keyId)}, ${textLit(signed.body)},
             ${byteaLit(signed.hash)}, ${byteaLit(signed.signature)})`,
    `UPDATE integrity_state SET checkpoint_no = ${intLit(signed.no)}, checkpoint_hash = ${byteaLit(signed.hash)} WHERE id = 1`,
    `INSERT INTO signing_keys (key_id, public_key, added_at_us)
     VALUES (${textLit(signer.keyId)}, ${byteaLit(signer.publicKeyDer)}, ${intLit(atUs)}) ON CONFLICT (key_id) DO NOTHING`,
  ];
  return { info, more, statements };
}

/** The last seal number the checkpoint `no` covers (0 when there is none). */
async function coveredUpTo(q: Sql, no: number): Promise<number> {
  if (no === 0) return 0;
  const [row] = await q<{ body: string }[]>`SELECT body FROM checkpoints WHERE no = ${no}`;
  const covered = coveredBy(row?.body ?? null);
  if (covered !== null) return covered;
  const [prev] = await q<{ n: number | null }[]>`SELECT max(seal_no) AS n FROM sessions`;
  return prev?.n ?? 0;
}

/** Whether anything happened since the last checkpoint that a new one should cover. */
export async function pgCheckpointDue(q: Sql): Promise<boolean> {
  const [state] = await q<
    CheckpointStateRow[]
  >`SELECT seal_no, checkpoint_no FROM integrity_state WHERE id = 1`;
  if (!state) return false;
  if (state.seal_no > (await coveredUpTo(q, state.checkpoint_no))) return true;
  const open = await q`SELECT 1 FROM sessions WHERE ended_at_us IS NULL AND head_hash IS NOT NULL LIMIT 1`;
  return open.length > 0;
}
