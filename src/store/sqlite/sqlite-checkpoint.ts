/** Writing signed checkpoints into the SQLite store (integrity/checkpoint.ts has the format). */
import type Database from 'better-sqlite3';
import { type CheckpointBody, parseCheckpoint, signCheckpoint } from '../../integrity/checkpoint.js';
import type { CheckpointSigner } from '../../integrity/signing-key.js';
import type { CheckpointInfo } from '../session-store.js';

/** Most sessions listed in one checkpoint; more pending ones go into the next, at once. */
export const MAX_SESSIONS_PER_CHECKPOINT = 5000;

interface StateRow {
  seal_no: number;
  checkpoint_no: number;
  checkpoint_hash: Buffer | null;
}

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
        .get() as StateRow;
      const from = coveredUpTo(db, state.checkpoint_no) + 1;
      const rows = db
        .prepare('SELECT seal_no, id, seal FROM sessions WHERE seal_no >= ? ORDER BY seal_no LIMIT ?')
        .all(from, MAX_SESSIONS_PER_CHECKPOINT) as { seal_no: number; id: string; seal: Buffer }[];
      // Only the unbroken run of seal numbers: a hole would be a damaged store, for verify to report.
      const sessions: [string, string][] = [];
      for (const r of rows) {
        if (r.seal_no !== from + sessions.length) break;
        sessions.push([r.id, r.seal.toString('hex')]);
      }
      const open = (
        db
          .prepare(
            'SELECT id, last_seq, head_hash FROM sessions WHERE ended_at_us IS NULL AND head_hash IS NOT NULL ORDER BY sid',
          )
          .all() as { id: string; last_seq: number; head_hash: Buffer }[]
      ).map((r) => [r.id, r.last_seq, r.head_hash.toString('hex')] as const);
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
      const info: CheckpointInfo = {
        no: signed.no,
        hash: signed.hash.toString('hex'),
        sessions: sessions.length,
        openSessions: open.length,
        sealedUpTo: body.to,
      };
      return { info, more: body.to < state.seal_no && sessions.length === MAX_SESSIONS_PER_CHECKPOINT };
    })
    .immediate();
}

/** The last seal number the checkpoint `no` covers (0 when there is none). */
export function coveredUpTo(db: Database.Database, no: number): number {
  if (no === 0) return 0;
  const row = db.prepare('SELECT body FROM checkpoints WHERE no = ?').get(no) as { body: string } | undefined;
  const body = row ? parseCheckpoint(row.body) : null;
  // A missing or damaged last checkpoint: cover from the store's own count of what the previous
  // ones covered, so that recording goes on; verify reports the damage.
  if (!body) {
    const prev = db.prepare('SELECT max(seal_no) AS n FROM sessions').get() as { n: number | null };
    return prev.n ?? 0;
  }
  return body.to;
}

/** Whether anything happened since the last checkpoint that a new one should cover. */
export function checkpointDue(db: Database.Database): boolean {
  const state = db
    .prepare('SELECT seal_no, checkpoint_no FROM integrity_state WHERE id = 1')
    .get() as StateRow;
  if (state.seal_no > coveredUpTo(db, state.checkpoint_no)) return true;
  const open = db
    .prepare('SELECT 1 FROM sessions WHERE ended_at_us IS NULL AND head_hash IS NOT NULL LIMIT 1')
    .get();
  return open !== undefined;
}
