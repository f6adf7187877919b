/**
 * Crash recovery's batch, the same for every store: an `end` event after the last recorded
 * event of each session a crashed writer left open, at that event's time, chained and sealed
 * by writeBatch like any other.
 */
import type { EndReason, SessionId } from '../model/session.js';
import type { WriteBatch } from './session-store.js';

/** A session still open, and where its recording stopped. */
export interface OpenSessionRow {
  readonly id: SessionId;
  readonly lastSeq: number;
  readonly lastAtUs: number;
  readonly lastOffsetUs: number;
}

export function crashEndBatch(open: readonly OpenSessionRow[], reason: EndReason, atUs: number): WriteBatch {
  const detected = new Date(Math.floor(atUs / 1000)).toISOString();
  return {
    sessions: [],
    events: open.map((s) => ({
      sessionId: s.id,
      event: {
        seq: s.lastSeq + 1,
        atUs: s.lastAtUs,
        offsetUs: s.lastOffsetUs,
        kind: 'end',
        reason,
        detail: `dbtape was not running to record the end; found open at ${detected}`,
      },
    })),
    ends: open.map((s) => ({ sessionId: s.id, endedAtUs: s.lastAtUs, reason })),
  };
}
