import { randomBytes } from 'node:crypto';
import type { Decision, PolicySession } from '../../policy/index.js';
import { F } from '../../protocol/postgres/codes.js';
import type { Notice } from '../../protocol/postgres/decode.js';
import { errorResponse, query } from '../../protocol/postgres/encode.js';
import { SqlState } from '../../protocol/postgres/sqlstate.js';

export type Denied = Extract<Decision, { allow: false }>;

/**
 * Statement policy on the client → server direction of one PostgreSQL session.
 *
 * A denied Query, Parse or FunctionCall is not dropped: it is replaced by a stand-in statement
 * that PostgreSQL's parser rejects before anything runs (a lone identifier, a syntax error), and
 * the server's error for it is replaced on the way back by dbtape's own (SQLSTATE 42501, naming the
 * rule). The server thereby does what it does for any failing statement — aborts an explicit
 * transaction block (status 'E'), rolls back the implicit transaction of an extended batch, skips
 * to Sync, answers in pipeline order — so the client and the upstream never disagree about the
 * session's state, and no reply has to be held back or reordered. The denied text never reaches
 * the server; its log shows only the stand-in (`dbtape_policy_denial_...`).
 */
export class PgPolicyGate {
  /** Per-session token, so a client's own syntax errors are never taken for a stand-in's. */
  private readonly token = `dbtape_policy_denial_${randomBytes(6).toString('hex')}_`;
  private seq = 0;
  /** Stand-ins on their way: seq → the error the client gets, and the reply unit that answers it. */
  private readonly pending = new Map<number, { readonly error: Buffer; readonly unit: number }>();
  /** Units (Query, Sync, FunctionCall) sent upstream / answered by ReadyForQuery. */
  private unitsSent = 0;
  private unitsDone = 0;
  /** After a denied Parse the server skips messages up to Sync; so does the gate (nothing is sent). */
  discarding = false;

  constructor(readonly session: PolicySession) {}

  /** Whether a server error may still have to be replaced. */
  get substituting(): boolean {
    return this.pending.size > 0;
  }

  /** A message that the server answers with ReadyForQuery went upstream. */
  unitSent(): void {
    this.unitsSent++;
  }

  /** A ReadyForQuery came back (or was answered in the server's place). */
  unitDone(): void {
    this.unitsDone++;
    if (this.pending.size === 0) return;
    // A stand-in whose unit is answered without its error was skipped by the server after an
    // earlier error in the same batch; nothing is left to replace.
    for (const [seq, p] of this.pending) if (p.unit <= this.unitsDone) this.pending.delete(seq);
  }

  /**
   * The message to send upstream instead of a denied one of type `type` (Query, Parse or
   * FunctionCall); `name` is the Parse's statement name.
   */
  standIn(type: number, d: Denied, name = ''): Buffer {
    const seq = ++this.seq;
    const text = `${this.token}${seq}`;
    const error = errorResponse({
      severity: 'ERROR',
      code: SqlState.InsufficientPrivilege,
      message: d.message,
    });
    if (type === F.Parse) {
      // Answered by the Sync that ends the batch; until then the server skips, and so do we.
      this.pending.set(seq, { error, unit: this.unitsSent + 1 });
      this.discarding = true;
      return parseMessage(name, text);
    }
    // A FunctionCall is answered like a Query (a result or an error, then ReadyForQuery).
    this.pending.set(seq, { error, unit: this.unitsSent });
    return query(text);
  }

  /** dbtape's error for a server error that answers a stand-in; null for any other error. */
  replacement(n: Notice): Buffer | null {
    if (this.pending.size === 0 || n.code !== '42601') return null;
    const at = n.message.indexOf(this.token);
    if (at < 0) return null;
    const seq = Number.parseInt(n.message.slice(at + this.token.length), 10);
    const p = this.pending.get(seq);
    if (!p) return null;
    this.pending.delete(seq);
    return p.error;
  }
}

function parseMessage(name: string, sql: string): Buffer {
  const body = Buffer.concat([Buffer.from(`${name}\0${sql}\0`), Buffer.from([0, 0])]);
  const b = Buffer.allocUnsafe(5 + body.length);
  b[0] = F.Parse;
  b.writeInt32BE(4 + body.length, 1);
  body.copy(b, 5);
  return b;
}
