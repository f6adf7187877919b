/** What `dbtape verify` reports: one finding per piece of damage, with where it is. */

export type DamageKind =
  /** Stored bytes or columns differ from what was recorded. */
  | 'modified'
  /** An event is missing from the middle of a session. */
  | 'deleted'
  /** Events were added to a session after the fact. */
  | 'inserted'
  /** Events (or sessions) are stored in another order than recorded. */
  | 'reordered'
  /** The end of a session, or of the store, is missing. */
  | 'truncated'
  /** A checkpoint's signature does not verify with a trusted key. */
  | 'bad-signature'
  /** A whole session is gone. */
  | 'missing-session'
  /** A whole checkpoint is gone. */
  | 'missing-checkpoint'
  /** A session that ended has no seal (or an open one has one). */
  | 'unsealed'
  /** A session's data key does not unwrap with the keyring, or is not the one its chain names. */
  | 'bad-key';

export interface Finding {
  /** The session concerned; null for store-wide findings. */
  readonly session: string | null;
  /** The event sequence number, when the damage is at one event. */
  readonly seq: number | null;
  /** The checkpoint concerned, if any. */
  readonly checkpoint: number | null;
  readonly kind: DamageKind;
  readonly detail: string;
}

/** Per-session cap on reported findings: a badly damaged session would otherwise flood the output. */
export const MAX_FINDINGS_PER_SESSION = 20;

export class FindingList {
  readonly all: Finding[] = [];
  private readonly perSession = new Map<string, number>();
  /** Findings counted but not listed because of the per-session cap. */
  suppressed = 0;

  add(
    kind: DamageKind,
    detail: string,
    where: { session?: string | null; seq?: number | null; checkpoint?: number | null } = {},
  ): void {
    const session = where.session ?? null;
    if (session !== null) {
      const n = (this.perSession.get(session) ?? 0) + 1;
      this.perSession.set(session, n);
      if (n > MAX_FINDINGS_PER_SESSION) {
        this.suppressed++;
        return;
      }
    }
    this.all.push({ session, seq: where.seq ?? null, checkpoint: where.checkpoint ?? null, kind, detail });
  }

  get count(): number {
    return this.all.length + this.suppressed;
  }

  /** Sessions with at least one finding. */
  get sessions(): number {
    return this.perSession.size;
  }
}
