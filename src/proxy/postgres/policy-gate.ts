import type { Decision, PolicySession } from '../../policy/index.js';
import { F } from '../../protocol/postgres/codes.js';
import { errorResponse } from '../../protocol/postgres/encode.js';
import { SqlState } from '../../protocol/postgres/sqlstate.js';
import type { StandIns } from './stand-ins.js';

export type Denied = Extract<Decision, { allow: false }>;

/**
 * Statement policy on the client → server direction of one PostgreSQL session.
 *
 * A denied Query, Parse or FunctionCall is not dropped: it is replaced by a stand-in statement
 * (stand-ins.ts) that PostgreSQL's parser rejects before anything runs, and the server's error for
 * it is replaced on the way back by dbtape's own (SQLSTATE 42501, naming the rule). The server
 * thereby does what it does for any failing statement, so the client and the upstream never
 * disagree about the session's state, and no reply has to be held back or reordered. The denied
 * text never reaches the server; its log shows only the stand-in (`dbtape_policy_denial_...`).
 */
export class PgPolicyGate {
  /** After a denied Parse the server skips messages up to Sync; so does the gate (nothing is sent). */
  discarding = false;

  constructor(
    readonly session: PolicySession,
    private readonly standIns: StandIns,
  ) {}

  /**
   * The message to send upstream instead of a denied one of type `type` (Query, Parse or
   * FunctionCall); `name` is the Parse's statement name.
   */
  standIn(type: number, d: Denied, name = ''): Buffer {
    const error = errorResponse({
      severity: 'ERROR',
      code: SqlState.InsufficientPrivilege,
      message: d.message,
    });
    if (type === F.Parse) {
      // Answered by the Sync that ends the batch; until then the server skips, and so do we.
      this.discarding = true;
      return this.standIns.make(F.Parse, 'dbtape_policy_denial_', { error, denial: true }, name);
    }
    // A FunctionCall is answered like a Query (a result or an error, then ReadyForQuery).
    return this.standIns.make(F.Query, 'dbtape_policy_denial_', { error, denial: true });
  }
}
