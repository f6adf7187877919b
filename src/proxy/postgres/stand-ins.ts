import { randomBytes } from 'node:crypto';
import { F } from '../../protocol/postgres/codes.js';
import type { Notice } from '../../protocol/postgres/decode.js';
import { query } from '../../protocol/postgres/encode.js';

/**
 * Statements dbtape sends upstream in place of one it will not run, so that the server itself does
 * what it does after any failing statement: aborts an explicit transaction block (status 'E'),
 * rolls back the implicit transaction of an extended batch, skips to Sync, answers in pipeline
 * order. A stand-in is a lone identifier, which PostgreSQL's parser rejects before anything runs;
 * its syntax error is replaced on the way back by dbtape's own error (or dropped, when the client
 * already has it). Used for policy denials (policy-gate.ts) and for statements strict durability
 * could not record inside a transaction block (pipeline.ts): the client and the upstream never
 * disagree about the session's state.
 */
export interface StandInReply {
  /** What the client gets in place of the server's error; null: nothing (it had dbtape's already). */
  readonly error: Buffer | null;
  /** A policy denial, which the recording's tracker answers (deniedReply); else it never sees it. */
  readonly denial: boolean;
}

export class StandIns {
  /** Per-session token, so a client's own syntax errors are never taken for a stand-in's. */
  private readonly token = `${randomBytes(6).toString('hex')}_`;
  private seq = 0;
  /** Stand-ins on their way: seq → the reply, and the unit (Query, Sync, FunctionCall) that answers it. */
  private readonly pending = new Map<number, StandInReply & { readonly unit: number }>();
  /** Units sent upstream / answered by ReadyForQuery. */
  private unitsSent = 0;
  private unitsDone = 0;

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
   * A stand-in of type `type`: a Query (answered by the unit already counted for the message it
   * replaces) or a Parse named `name` (answered by the Sync that ends its batch). `label` names
   * it in the server's log (`dbtape_policy_denial_`).
   */
  make(type: typeof F.Query | typeof F.Parse, label: string, reply: StandInReply, name = ''): Buffer {
    const seq = ++this.seq;
    const text = `${label}${this.token}${seq}`;
    this.pending.set(seq, { ...reply, unit: type === F.Parse ? this.unitsSent + 1 : this.unitsSent });
    return type === F.Parse ? parseMessage(name, text) : query(text);
  }

  /** The reply for a server error that answers a stand-in; null for any other error. */
  replacement(n: Notice): StandInReply | null {
    if (this.pending.size === 0 || n.code !== '42601') return null;
    const at = n.message.indexOf(this.token);
    if (at < 0) return null;
    const seq = Number.parseInt(n.message.slice(at + this.token.length), 10);
    const p = this.pending.get(seq);
    if (!p) return null;
    this.pending.delete(seq);
    return p;
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
