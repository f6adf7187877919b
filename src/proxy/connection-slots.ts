import type { Socket } from 'node:net';
import type { Logger } from '../model/logger.js';

export type Admission =
  | { readonly kind: 'admitted' }
  /** Admitted in place of `evicted`, the oldest connection that had not finished authenticating. */
  | { readonly kind: 'admitted-evicting'; readonly evicted: Socket }
  | { readonly kind: 'full' };

/**
 * `limits.max_client_connections` for one listener. Every connection holds a slot from accept on,
 * but a connection that has not finished authenticating cannot keep a real user out: at the limit,
 * the oldest of those gives up its slot to the newcomer. So a flood of stalled or slow-drip
 * connections (which the authentication timeout would close only later) never locks out logins,
 * while authenticated sessions are never closed to make room.
 */
export class ConnectionSlots {
  private open = 0;
  /** Connections still authenticating, oldest first (a Set iterates in insertion order). */
  private readonly pending = new Set<Socket>();
  /** Sockets whose slot is already given back (an evicted socket still emits 'close' later). */
  private readonly released = new WeakSet<Socket>();

  constructor(private readonly limit: number) {}

  admit(socket: Socket): Admission {
    let evicted: Socket | null = null;
    if (this.open >= this.limit) {
      const oldest = this.pending.values().next();
      if (oldest.done) return { kind: 'full' };
      evicted = oldest.value;
      this.release(evicted);
      evicted.destroy();
    }
    this.open++;
    this.pending.add(socket);
    socket.once('close', () => this.release(socket));
    return evicted ? { kind: 'admitted-evicting', evicted } : { kind: 'admitted' };
  }

  /** The connection finished its login (or its handshake ended): it can no longer be evicted. */
  authenticated(socket: Socket): void {
    this.pending.delete(socket);
  }

  private release(socket: Socket): void {
    if (this.released.has(socket)) return;
    this.released.add(socket);
    this.pending.delete(socket);
    this.open--;
  }
}

/** The log line for a connection closed to make room: it had not logged in, so no session ends. */
export function logEviction(log: Logger, evicted: Socket, limit: number): void {
  log.warn(
    { remote: evicted.remoteAddress, remotePort: evicted.remotePort, limit },
    'connection limit reached: closed the oldest connection that had not finished logging in',
  );
}
