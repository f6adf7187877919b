import { randomInt, timingSafeEqual } from 'node:crypto';
import { connect } from 'node:net';
import type { Target } from '../../model/identity.js';
import type { Logger } from '../../model/logger.js';
import { cancelRequest } from '../../protocol/postgres/encode.js';

/**
 * Clients get dbtape's own BackendKeyData; a CancelRequest arrives on a fresh
 * connection with that key, and is relayed to the one upstream backend it belongs to
 * (PostgreSQL docs, "Canceling Requests in Progress"). An unknown key cancels nothing.
 */

interface Entry {
  readonly secret: Buffer;
  readonly target: Target;
  readonly upstreamPid: number;
  readonly upstreamSecret: number;
}

export class CancelRouter {
  private readonly entries = new Map<number, Entry>();
  private next = randomInt(1000, 1 << 20);

  constructor(private readonly log: Logger) {}

  /** Allocate the key a client will see for a session; `release` when the session ends. */
  register(target: Target, upstreamPid: number, upstreamSecret: number): { pid: number; secret: number } {
    let pid = this.next;
    while (this.entries.has(pid)) pid = this.bump();
    this.bump();
    const secret = randomInt(-0x8000_0000, 0x7fff_ffff);
    const key = Buffer.allocUnsafe(4);
    key.writeInt32BE(secret);
    this.entries.set(pid, { secret: key, target, upstreamPid, upstreamSecret });
    return { pid, secret };
  }

  release(pid: number): void {
    this.entries.delete(pid);
  }

  /**
   * Relay a client's CancelRequest. Returns whether the key matched a live session. `log` names the
   * client that sent it (a stream of unknown keys is someone guessing).
   */
  cancel(pid: number, secret: number, log: Logger = this.log): boolean {
    const e = this.entries.get(pid);
    const given = Buffer.allocUnsafe(4);
    given.writeInt32BE(secret);
    // Compare in constant time so the secret cannot be guessed byte by byte.
    const match = e !== undefined && timingSafeEqual(e.secret, given);
    if (!match) {
      log.info({ pid }, 'cancel request with an unknown key ignored');
      return false;
    }
    this.sendCancel(e.target, e.upstreamPid, e.upstreamSecret);
    return true;
  }

  /**
   * Cancel the running query of an upstream backend directly (client vanished, session killed,
   * max_rows reached). `done` runs once the server has closed the cancel connection (or it failed):
   * PostgreSQL has signalled the backend by then.
   */
  sendCancel(target: Target, upstreamPid: number, upstreamSecret: number, done?: () => void): void {
    const s = connect({ host: target.host, port: target.port });
    s.setTimeout(5000, () => s.destroy());
    if (done) s.once('close', done);
    s.once('connect', () => s.end(cancelRequest(upstreamPid, upstreamSecret)));
    s.on('error', (err) =>
      this.log.warn({ err: err.message, target: target.name }, 'could not relay cancel'),
    );
  }

  private bump(): number {
    this.next = this.next >= 0x7fff_fff0 ? 1000 : this.next + 1;
    return this.next;
  }
}
