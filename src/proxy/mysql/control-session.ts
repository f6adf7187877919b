import type { Socket } from 'node:net';
import type { Logger } from '../../model/logger.js';
import {
  COM_INIT_DB,
  COM_PING,
  COM_PROCESS_KILL,
  COM_QUERY,
  COM_QUIT,
  ER_NET_PACKET_TOO_LARGE,
  ER_NO_SUCH_THREAD,
  encodeOk,
  PACKET_HEADER_SIZE,
  type ServerError,
} from '../../protocol/mysql/index.js';
import { ER_NO_DB_ERROR, errPacket } from './errors.js';
import type { KillEntry } from './kill-router.js';
import { parseKill } from './kill-statement.js';
import { frame } from './segments.js';

/**
 * A login that named no database reaches no target yet. The mysql and mariadb clients log in that
 * way for Ctrl-C: such a connection sends `KILL QUERY <id>` for the statement it interrupts. This
 * session answers KILL (run on a second connection to the victim's target), COM_PING and
 * COM_QUIT itself. Any other command means the client wants a database session (mariadb-dump
 * logs in without a database too): when the user may reach exactly one MySQL target, the
 * connection becomes a session on it (`promote`, given the bytes from that command on);
 * otherwise the command is refused with "No database selected". A first COM_INIT_DB naming a
 * target the user may use (`mysql` without a database, then `use shop`) picks that target, as
 * naming it at login would: the session starts with the command renamed to the target's database.
 */

export interface ControlSessionOptions {
  readonly socket: Socket;
  readonly leftover: Buffer;
  readonly capabilities: number;
  /** The session `id` names, if this user may kill it. */
  readonly resolve: (id: number) => KillEntry | null;
  /** Run the KILL upstream; resolves with the server's error message, or null on success. */
  readonly kill: (entry: KillEntry, query: boolean) => Promise<{ errno: number; message: string } | null>;
  /**
   * Hand the connection over to a session on the user's only target, with the raw bytes from the
   * first command it must answer on; null: the user has no single target.
   */
  readonly promote: ((rest: Buffer) => void) | null;
  /** The upstream database of MySQL target `name` when the user may use it, else null. */
  readonly targetDatabase: (name: string) => string | null;
  /** Hand the connection over to a session on target `name`, as `promote` does. */
  readonly promoteTo: (name: string, rest: Buffer) => void;
  readonly log: Logger;
}

const MAX_COMMAND = 64 * 1024;
const NO_TARGET =
  'dbtape: no database selected: this connection reaches no target; connect with the target name as the database';

export function runControlSession(o: ControlSessionOptions): void {
  /** Bytes not yet split into commands. */
  let partial: Buffer = Buffer.alloc(0);
  /** Whole commands as received (header included), in order: promotion hands them on unchanged. */
  const queue: Buffer[] = [];
  let busy = false;
  let promoted = false;
  const s = o.socket;
  const reply = (b: Buffer): void => {
    if (!s.destroyed) s.write(b);
  };
  const refuse = (e: ServerError, message: string): void => reply(errPacket(e, message, 1));

  /** This command, and everything after it, goes to a session (`to`: the target picked, else the only one). */
  const promote = (packet: Buffer, to?: string): void => {
    promoted = true;
    s.off('data', safe);
    s.pause();
    const rest = Buffer.concat([packet, ...queue.splice(0), partial]);
    partial = Buffer.alloc(0);
    if (to === undefined) o.promote!(rest);
    else o.promoteTo(to, rest);
  };

  const handle = async (packet: Buffer): Promise<void> => {
    const payload = packet.subarray(PACKET_HEADER_SIZE);
    if (payload[0] === COM_INIT_DB) {
      const name = payload.toString('utf8', 1);
      const database = o.targetDatabase(name);
      if (database !== null) {
        promote(frame(Buffer.concat([Buffer.from([COM_INIT_DB]), Buffer.from(database, 'utf8')]), 0), name);
        return;
      }
    }
    const control =
      payload[0] === COM_QUIT ||
      payload[0] === COM_PING ||
      payload[0] === COM_PROCESS_KILL ||
      (payload[0] === COM_QUERY && parseKill(payload.toString('utf8', 1))?.kind === 'kill');
    if (!control && o.promote !== null) {
      promote(packet);
      return;
    }
    switch (payload[0]) {
      case COM_QUIT:
        s.end();
        return;
      case COM_PING:
        reply(encodeOk({}, o.capabilities, 1));
        return;
      case COM_PROCESS_KILL:
        if (payload.length >= 5) await kill(payload.readUInt32LE(1), false);
        else refuse(ER_NO_SUCH_THREAD, 'Unknown thread id: ?');
        return;
      case COM_QUERY: {
        const k = parseKill(payload.toString('utf8', 1));
        if (k?.kind === 'kill') await kill(k.id, k.query);
        else refuse(ER_NO_DB_ERROR, NO_TARGET);
        return;
      }
      default:
        refuse(ER_NO_DB_ERROR, NO_TARGET);
    }
  };

  const kill = async (id: number, query: boolean): Promise<void> => {
    const entry = o.resolve(id);
    if (entry === null) {
      refuse(ER_NO_SUCH_THREAD, `Unknown thread id: ${id}`);
      return;
    }
    try {
      const err = await o.kill(entry, query);
      if (err === null) reply(encodeOk({}, o.capabilities, 1));
      else refuse({ errno: err.errno, sqlState: 'HY000' }, err.message);
    } catch (err) {
      refuse(
        { errno: 1105, sqlState: 'HY000' },
        `dbtape: could not reach the target to kill: ${(err as Error).message}`,
      );
    }
  };

  // Commands are answered one at a time, in order, as the protocol requires.
  const drain = async (): Promise<void> => {
    if (busy) return;
    busy = true;
    for (let p = queue.shift(); p && !promoted; p = queue.shift()) await handle(p);
    busy = false;
  };

  /** A command too big for this session began: every later byte belongs to the promoted session. */
  let tail = false;

  const onData = (chunk: Buffer): void => {
    partial = partial.length === 0 ? chunk : Buffer.concat([partial, chunk]);
    while (!tail && partial.length >= PACKET_HEADER_SIZE) {
      const length = partial[0] | (partial[1] << 8) | (partial[2] << 16);
      if (length > MAX_COMMAND) {
        // Not KILL, PING or QUIT: a session's command, which promotion takes as it comes.
        if (o.promote === null) {
          refuse(ER_NET_PACKET_TOO_LARGE, 'dbtape: command too large for a connection without a target');
          s.end();
          return;
        }
        tail = true;
        s.pause(); // the rest stays in the socket until the session reads it
        queue.push(partial);
        partial = Buffer.alloc(0);
        break;
      }
      if (partial.length < PACKET_HEADER_SIZE + length) break;
      const packet = Buffer.from(partial.subarray(0, PACKET_HEADER_SIZE + length));
      partial = partial.subarray(PACKET_HEADER_SIZE + length);
      if (length > 0) queue.push(packet);
    }
    void drain().catch((err: Error) => o.log.warn({ err: err.message }, 'control session failed'));
  };

  const safe = (chunk: Buffer): void => {
    try {
      onData(chunk);
    } catch (err) {
      o.log.error(
        { err: (err as Error).message },
        'internal error in a connection without a target; closing',
      );
      s.destroy();
    }
  };
  s.on('data', safe);
  s.on('error', () => {});
  s.resume();
  if (o.leftover.length > 0) safe(o.leftover);
}
