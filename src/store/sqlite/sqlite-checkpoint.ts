/** Writing signed checkpoints into the SQLite store (store/checkpoint-build.ts says what they hold). */
import type Database from 'better-sqlite3';
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

/**
 * Writes one checkpoint, in its own transaction, covering up to MAX_SESSIONS_PER_CHECKPOINT
 * sessions sealed since the last one and the heads of the sessions open now. Returns it, and
 * whether sealed sessions are left for another checkpoint.
 */
export function writeCheckpoint(
  db: Database.Database,
  signer: CheckpointSigner,
  atUs: number,
): { info: CheckpointInfo; more: boolean } {
  return db
    .transaction(() => {
      const state = db
        .prepare('SELECT seal_no, checkpoint_no, checkpoint_hash FROM integrity_state WHERE id = 1')
        .get() as CheckpointStateRow;
      const from = coveredUpTo(db, state.checkpoint_no) + 1;
      const sealed = db
        .prepare('SELECT seal_no, id, seal FROM sessions WHERE seal_no >= ? ORDER BY seal_no LIMIT ?')
        .all(from, MAX_SESSIONS_PER_CHECKPOINT) as SealedRow[];
      const open = db
        .prepare(
          'SELECT id, last_seq, head_hash FROM sessions WHERE ended_at_us IS NULL AND head_hash IS NOT NULL ORDER BY sid',
        )
        .all() as OpenHeadRow[];
      const { signed, info, more } = nextCheckpoint(state, from, sealed, open, signer, atUs);
      db.prepare(
        'INSERT INTO checkpoints (no, at_us, key_id, body, hash, signature) VALUES (?, ?, ?, ?, ?, ?)',
      ).run(signed.no, signed.atUs, signed.keyId, signed.body, signed.hash, signed.signature);
      db.prepare('UPDATE integrity_state SET checkpoint_no = ?, checkpoint_hash = ? WHERE id = 1').run(
        signed.no,
        signed.hash,
      );
      db.prepare(
        'INSERT INTO signing_keys (key_id, public_key, added_at_us) VALUES (?, ?, ?) ON CONFLICT (key_id) DO NOTHING',
      ).run(signer.keyId, signer.publicKeyDer, atUs);
      return { info, more };
    })
    .immediate();
}

/** The last seal number the checkpoint `no` covers (0 when there is none). */
export function coveredUpTo(db: Database.Database, no: number): number {
  if (no === 0) return 0;
  const row = db.prepare('SELECT body FROM checkpoints WHERE no = ?').get(no) as { body: string } | undefined;
  const covered = coveredBy(row?.body ?? null);
  if (covered !== null) return covered;
  const prev = db.prepare('SELECT max(seal_no) AS n FROM sessions').get() as { n: number | null };
  return prev.n ?? 0;
}

/** Whether anything happened since the last checkpoint that a new one should cover. */
export function checkpointDue(db: Database.Database): boolean {
  const state = db
    .prepare('SELECT seal_no, checkpoint_no FROM integrity_state WHERE id = 1')
    .get() as CheckpointStateRow;
  if (state.seal_no > coveredUpTo(db, state.checkpoint_no)) return true;
  const open = db
    .prepare('SELECT 1 FROM sessions WHERE ended_at_us IS NULL AND head_hash IS NOT NULL LIMIT 1')
    .get();
  return open !== undefined;
}
