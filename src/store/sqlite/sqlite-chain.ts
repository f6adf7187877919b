/**
 * Where the SQLite store keeps the chain (store/chain-heads.ts computes it): session rows loaded
 * on first use, the store's seal head written inside the batch's transaction.
 */
import type Database from 'better-sqlite3';
import type { EndReason, SessionId, SessionMeta } from '../../model/session.js';
import {
  type ChainedEvent,
  ChainHeads,
  type ChainRow,
  type SealHeadRow,
  type SessionState,
  type StoredForm,
} from '../chain-heads.js';
import { SESSION_META_COLUMNS } from '../session-rows.js';
import type { StoreCrypto } from './sqlite-crypto.js';

export type { SessionState, StoredForm };

export class ChainWriter {
  private readonly heads = new ChainHeads();
  private readonly load: Database.Statement;
  private readonly setSealHead: Database.Statement;

  constructor(
    private readonly db: Database.Database,
    private readonly crypto: StoreCrypto,
  ) {
    this.load = db.prepare(
      `SELECT sid, last_seq, head_hash, ended_at_us, ${SESSION_META_COLUMNS} FROM sessions WHERE id = ?`,
    );
    this.setSealHead = db.prepare('UPDATE integrity_state SET seal_no = ?, seal = ? WHERE id = 1');
    this.reset();
  }

  /** Forget cached heads (after a failed transaction) and reload the store's seal head. */
  reset(): void {
    this.crypto.forgetAll();
    this.heads.reset(
      this.db.prepare('SELECT chain_from_sid, seal_no, seal FROM integrity_state WHERE id = 1').get() as
        | SealHeadRow
        | undefined,
    );
  }

  /** A session just inserted: its chain starts at the genesis (and it gets its data key). */
  created(sid: number, meta: SessionMeta): SessionState {
    const dataKey = this.crypto.writesEncrypted ? this.crypto.newSessionKey(sid, meta.id) : null;
    if (dataKey) this.crypto.remember(sid, dataKey);
    return this.heads.created(sid, meta, dataKey);
  }

  state(id: SessionId): SessionState {
    const cached = this.heads.cached(id);
    if (cached) return cached;
    const row = this.load.get(id) as ChainRow | undefined;
    return this.heads.loaded(id, row, row ? this.crypto.sessionKey(row.sid, id) : null);
  }

  append(state: SessionState, event: ChainedEvent): StoredForm {
    return this.heads.append(state, event);
  }

  sealSession(
    state: SessionState,
    endedAtUs: number,
    reason: EndReason,
  ): { sealNo: number; seal: Buffer } | null {
    return this.heads.sealSession(state, endedAtUs, reason);
  }

  /** Inside the transaction, after the batch: records the store's seal head if it moved. */
  finishBatch(): void {
    const head = this.heads.finishBatch();
    if (head) this.setSealHead.run(head.sealNo, head.seal);
  }

  ended(id: SessionId): void {
    const s = this.heads.ended(id);
    if (s) this.crypto.forget(s.sid);
  }
}
