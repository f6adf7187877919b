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
import type { Sql, TxSql } from './pg-connect.js';

/**
 * Writes one checkpoint inside `tx`, covering up to MAX_SESSIONS_PER_CHECKPOINT sessions sealed
 * since the last one and the heads of the sessions open now; says whether sealed sessions are
 * left for another checkpoint.
 */
export async function writePgCheckpoint(
  tx: TxSql,
  signer: CheckpointSigner,
  atUs: number,
): Promise<{ info: CheckpointInfo; more: boolean }> {
  const [state] = await tx<CheckpointStateRow[]>`
    SELECT seal_no, checkpoint_no, checkpoint_hash FROM integrity_state WHERE id = 1 FOR UPDATE`;
  const from = (await coveredUpTo(tx, state!.checkpoint_no)) + 1;
  const sealed = await tx<SealedRow[]>`
    SELECT seal_no, id, seal FROM sessions WHERE seal_no >= ${from} ORDER BY seal_no LIMIT ${MAX_SESSIONS_PER_CHECKPOINT}`;
  const open = await tx<OpenHeadRow[]>`
    SELECT id, last_seq, head_hash FROM sessions WHERE ended_at_us IS NULL AND head_hash IS NOT NULL ORDER BY sid`;
  const { signed, info, more } = nextCheckpoint(state!, from, sealed, open, signer, atUs);
  await Promise.all([
    tx`INSERT INTO checkpoints (no, at_us, key_id, body, hash, signature)
       VALUES (${signed.no}, ${signed.atUs}, ${signed.keyId}, ${signed.body}, ${signed.hash}, ${signed.signature})`,
    tx`UPDATE integrity_state SET checkpoint_no = ${signed.no}, checkpoint_hash = ${signed.hash} WHERE id = 1`,
    tx`INSERT INTO signing_keys (key_id, public_key, added_at_us) VALUES (${signer.keyId}, ${signer.publicKeyDer}, ${atUs})
       ON CONFLICT (key_id) DO NOTHING`,
  ]);
  return { info, more };
}

/** The last seal number the checkpoint `no` covers (0 when there is none). */
async function coveredUpTo(q: Sql | TxSql, no: number): Promise<number> {
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
