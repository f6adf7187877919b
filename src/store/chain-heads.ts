/**
 * The write side of tamper evidence, for every store: per-session chain heads, event hashes
 * (over the body as stored, encrypted when the session has a data key), seals and the store's
 * seal head (integrity/chain.ts has the hashes). A store loads the rows and writes the results
 * inside its batch's transaction; after a failed transaction it calls reset() with the head it
 * reads again, so no cached head outlives a rollback.
 */
import { eventHash, genesisHash, sealHash, ZERO_HASH } from '../integrity/chain.js';
import type { EndReason, SessionId, SessionMeta } from '../model/session.js';
import { StoreError, storeAhead, storeBehind } from './errors.js';
import { type DataKey, encryptBody, FORMAT_CLEAR, FORMAT_ENCRYPTED } from './session-keys.js';
import { metaFromRow, type SessionMetaRow } from './session-rows.js';

export interface SessionState {
  readonly sid: number;
  readonly id: SessionId;
  /** Hash of the last event (the genesis before the first); null: recorded before chaining existed. */
  head: Buffer | null;
  lastSeq: number;
  readonly dataKey: DataKey | null;
  /** The store holds the session's end: nothing more may follow it. */
  readonly ended: boolean;
}

export interface StoredForm {
  readonly format: number;
  readonly body: string | Buffer;
  readonly hash: Buffer | null;
}

/** The store's integrity head as stored (table integrity_state). */
export interface SealHeadRow {
  chain_from_sid: number;
  seal_no: number;
  seal: Buffer | null;
}

/** A session row as the chain needs it to go on. */
export interface ChainRow extends SessionMetaRow {
  sid: number;
  last_seq: number;
  head_hash: Buffer | null;
  ended_at_us: number | null;
}

/** The clear columns of an event and its v1 JSON (an EncodedEvent has them). */
export interface ChainedEvent {
  readonly seq: number;
  readonly atUs: number;
  readonly offsetUs: number;
  readonly kind: string;
  readonly json: string;
}

export class ChainHeads {
  private readonly states = new Map<SessionId, SessionState>();
  private sealNo = 0;
  private seal: Buffer = ZERO_HASH;
  private sealsInBatch = 0;
  private chainFromSid = 0;

  /** Forget cached heads (after a failed transaction) and take the store's seal head as read. */
  reset(row: SealHeadRow | undefined): void {
    this.states.clear();
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

  cached(id: SessionId): SessionState | undefined {
    return this.states.get(id);
  }

  /** A session just inserted: its chain starts at the genesis. */
  created(sid: number, meta: SessionMeta, dataKey: DataKey | null): SessionState {
    const state: SessionState = {
      sid,
      id: meta.id,
      head: genesisHash(meta, dataKey?.fingerprint ?? null),
      lastSeq: 0,
      dataKey,
      ended: false,
    };
    this.states.set(meta.id, state);
    return state;
  }

  /**
   * A stored session the batch goes on with, from its `firstSeq`; `row` undefined: the store holds
   * no start of it, which it had acknowledged before (DBTAPE_STORE_BEHIND).
   */
  loaded(id: SessionId, row: ChainRow | undefined, dataKey: DataKey | null): SessionState {
    if (!row) throw storeBehind(id, 0, null);
    const legacy = row.sid < this.chainFromSid;
    let head: Buffer | null = null;
    if (!legacy)
      head = row.last_seq === 0 ? genesisHash(metaFromRow(row), dataKey?.fingerprint ?? null) : row.head_hash;
    const state: SessionState = {
      sid: row.sid,
      id,
      head,
      lastSeq: row.last_seq,
      dataKey,
      ended: row.ended_at_us !== null,
    };
    this.states.set(id, state);
    return state;
  }

  /** The stored form of the session's next event, and its hash; advances the head. */
  append(state: SessionState, event: ChainedEvent): StoredForm {
    if (event.seq > state.lastSeq + 1) throw storeBehind(state.id, state.lastSeq, event.seq);
    // An event after a stored end can only be one the store holds already, under another number.
    if ((event.seq < state.lastSeq + 1 && event.seq > 0) || state.ended)
      throw storeAhead(state.id, state.lastSeq, event.seq, state.ended);
    if (event.seq !== state.lastSeq + 1) {
      throw new StoreError(
        'DBTAPE_STORE_BAD_EVENT',
        `dbtape: event seq ${event.seq} of session ${state.id} does not follow ${state.lastSeq} (sequence numbers must be dense)`,
      );
    }
    const dk = state.dataKey;
    const format = dk ? FORMAT_ENCRYPTED : FORMAT_CLEAR;
    const body = dk ? encryptBody(dk, state.id, event.seq, event.json) : event.json;
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

  /** After the batch's events and ends: the store's new seal head to record, if it moved. */
  finishBatch(): { sealNo: number; seal: Buffer } | null {
    const moved = this.sealsInBatch > 0;
    this.sealsInBatch = 0;
    return moved ? { sealNo: this.sealNo, seal: this.seal } : null;
  }

  /** The session ended and its batch committed: its head is no longer needed in memory. */
  ended(id: SessionId): SessionState | undefined {
    const s = this.states.get(id);
    this.states.delete(id);
    return s;
  }
}
