/**
 * The write side of tamper evidence in the SQLite store: per-session chain heads, event hashes,
 * seals and the store's seal head, all computed inside the batch's transaction from what is
 * stored, so every writer (the recorder, crash recovery) goes through the same chain.
 * A failed transaction calls reset(): the cached heads are reloaded from the store.
 */
import type Database from 'better-sqlite3';
import { eventHash, genesisHash, sealHash, ZERO_HASH } from '../../integrity/chain.js';
import type { EndReason, SessionId, SessionMeta } from '../../model/session.js';
import { StoreError } from '../errors.js';
import type { EncodedEvent } from './encoded-batch.js';
import { type DataKey, FORMAT_CLEAR, FORMAT_ENCRYPTED, type StoreCrypto } from './sqlite-crypto.js';
import { metaFromRow, SESSION_META_COLUMNS, type SessionMetaRow } from './sqlite-rows.js';

export interface SessionState {
  readonly sid: number;
  readonly id: SessionId;
  /** Hash of the last event (the genesis before the first); null: recorded before chaining existed. */
  head: Buffer | null;
  lastSeq: number;
  readonly dataKey: DataKey | null;
}

export interface StoredForm {
  readonly format: number;
  readonly body: string | Buffer;
  readonly hash: Buffer | null;
}

export class ChainWriter {
  private readonly states = new Map<SessionId, SessionState>();
  private sealNo = 0;
  private seal: Buffer = ZERO_HASH;
  private sealsInBatch = 0;
  private readonly load: Database.Statement;
  private readonly setSealHead: Database.Statement;
  private chainFromSid = 0;

  constructor(
    private readonly db: Database.Database,
    private readonly crypto: StoreCrypto,
  ) {
    this.load = db.prepare(
      `SELECT sid, last_seq, head_hash, ${SESSION_META_COLUMNS} FROM sessions WHERE id = ?`,
    );
    this.setSealHead = db.prepare('UPDATE integrity_state SET seal_no = ?, seal = ? WHERE id = 1');
    this.reset();
  }

  /** Forget cached heads (after a failed transaction) and reload the store's seal head. */
  reset(): void {
    this.states.clear();
    this.crypto.forgetAll();
    const row = this.db
      .prepare('SELECT chain_from_sid, seal_no, seal FROM integrity_state WHERE id = 1')
      .get() as { chain_from_sid: number; seal_no: number; seal: Buffer | null } | undefined;
    if (!row) {
      // Recreating it would paper over the damage: refuse, and let verify say what else is wrong.
      throw new StoreError(
        'DBTAPE_STORE_OPEN_FAILED',
        "dbtape: the session store's integrity head (table integrity_state) is missing, so the store was damaged or tampered with; run dbtape verify --all, and record into a new store",
      );
    }
    this.chainFromSid = row.chain_from_sid;
    this.sealNo = row.seal_no;
    this.seal = row.seal ?? ZERO_HASH;
    this.sealsInBatch = 0;
  }

  /** A session just inserted: its chain starts at the genesis (and it gets its data key). */
  created(sid: number, meta: SessionMeta): SessionState {
    const dataKey = this.crypto.writesEncrypted ? this.crypto.newSessionKey(sid, meta.id) : null;
    if (dataKey) this.crypto.remember(sid, dataKey);
    const state: SessionState = {
      sid,
      id: meta.id,
      head: genesisHash(meta, dataKey?.fingerprint ?? null),
      lastSeq: 0,
      dataKey,
    };
    this.states.set(meta.id, state);
    return state;
  }

  state(id: SessionId): SessionState {
    const cached = this.states.get(id);
    if (cached) return cached;
    const row = this.load.get(id) as
      | (SessionMetaRow & { sid: number; last_seq: number; head_hash: Buffer | null })
      | undefined;
    if (!row) {
      throw new StoreError(
        'DBTAPE_STORE_BAD_EVENT',
        `dbtape: event for unknown session ${id} (no start recorded)`,
      );
    }
    const dataKey = this.crypto.sessionKey(row.sid, id);
    const legacy = row.sid < this.chainFromSid;
    let head: Buffer | null = null;
    if (!legacy)
      head = row.last_seq === 0 ? genesisHash(metaFromRow(row), dataKey?.fingerprint ?? null) : row.head_hash;
    const state: SessionState = { sid: row.sid, id, head, lastSeq: row.last_seq, dataKey };
    this.states.set(id, state);
    return state;
  }

  /**
   * The stored form of the session's next event, and its hash; advances the head. `json` is the
   * event in recording format v1 (encoded-batch.ts), `event` the clear columns it is stored with.
   */
  append(state: SessionState, event: EncodedEvent): StoredForm {
    if (event.seq !== state.lastSeq + 1) {
      throw new StoreError(
        'DBTAPE_STORE_BAD_EVENT',
        `dbtape: event seq ${event.seq} of session ${state.id} does not follow ${state.lastSeq} (sequence numbers must be dense)`,
      );
    }
    const dk = state.dataKey;
    const format = dk ? FORMAT_ENCRYPTED : FORMAT_CLEAR;
    const body = dk ? this.crypto.encryptBody(dk, state.id, event.seq, event.json) : event.json;
    let hash: Buffer | null = null;
    if (state.head) {
      hash = eventHash(
        state.head,
        { seq: event.seq, atUs: event.atUs, offsetUs: event.offsetUs, format, kind: event.kind },
        body,
      );
      state.head = hash;
    }
    state.lastSeq = event.seq;
    return { format, body, hash };
  }

  /** Seals an ended session: the next seal number, chained from the store's previous seal. */
  sealSession(
    state: SessionState,
    endedAtUs: number,
    reason: EndReason,
  ): { sealNo: number; seal: Buffer } | null {
    if (!state.head) return null;
    const sealNo = this.sealNo + 1;
    const seal = sealHash({
      prevSeal: this.seal,
      sealNo,
      sessionId: state.id,
      lastHash: state.head,
      count: state.lastSeq,
      endedAtUs,
      reason,
    });
    this.sealNo = sealNo;
    this.seal = seal;
    this.sealsInBatch++;
    return { sealNo, seal };
  }

  /** Inside the transaction, after the batch: records the store's seal head if it moved. */
  finishBatch(): number {
    const n = this.sealsInBatch;
    if (n > 0) this.setSealHead.run(this.sealNo, this.seal);
    this.sealsInBatch = 0;
    return n;
  }

  /** The session ended and its batch committed: its head is no longer needed in memory. */
  ended(id: SessionId): void {
    const s = this.states.get(id);
    if (s) this.crypto.forget(s.sid);
    this.states.delete(id);
  }
}
