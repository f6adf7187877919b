import type { Socket } from 'node:net';
import type { Logger } from '../../model/logger.js';
import {
  COM_PING,
  COM_PROCESS_KILL,
  COM_QUERY,
  COM_QUIT,
  ER_NET_PACKET_TOO_LARGE,
  ER_NO_SUCH_THREAD,
  encodeOk,
  PacketAssembler,
  PacketFramer,
  type ServerError,
} from '../../protocol/mysql/index.js';
import { ER_NO_DB_ERROR, errPacket } from './errors.js';
import type { KillEntry } from './kill-router.js';
import { parseKill } from './kill-statement.js';

/**
 * A login that named no database reaches no target. The mysql and mariadb clients log in that
 * way for one thing: Ctrl-C opens such a connection and sends `KILL QUERY <id>` for the
 * statement it interrupts. Such a session answers KILL (run on a second connection to the
 * victim's target), COM_PING and COM_QUIT, and refuses everything else with "No database selected".
 */

export interface ControlSessionOptions {
  readonly socket: Socket;
  readonly leftover: Buffer;
  readonly capabilities: number;
  /** The session `id` names, if this user may kill it. */
  readonly resolve: (id: number) => KillEntry | null;
  /** Run the KILL upstream; resolves with the server's error message, or null on success. */
  readonly kill: (entry: KillEntry, query: boolean) => Promise<{ errno: number; message: string } | null>;
  readonly log: Logger;
}

const MAX_COMMAND = 64 * 1024;
const NO_TARGET =
  'dbtape: no database selected: this connection reaches no target; connect with the target name as the database';

export function runControlSession(o: ControlSessionOptions): void {
  const framer = new PacketFramer();
  const asm = new PacketAssembler(MAX_COMMAND);
  const queue: Buffer[] = [];
  let busy = false;
  const s = o.socket;
  const reply = (b: Buffer): void => {
    if (!s.destroyed) s.write(b);
  };
  const refuse = (e: ServerError, message: string): void => reply(errPacket(e, message, 1));

  const handle = async (payload: Buffer): Promise<void> => {
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
    for (let p = queue.shift(); p; p = queue.shift()) await handle(p);
    busy = false;
  };

  const onData = (chunk: Buffer): void => {
    framer.push(chunk);
    while (framer.next()) {
      const st = asm.add(framer.current, framer.segment);
      if (st === 'too-large') {
        refuse(ER_NET_PACKET_TOO_LARGE, 'dbtape: command too large for a connection without a target');
        s.end();
        return;
      }
      if (st === 'complete' && asm.payload.length > 0) queue.push(Buffer.from(asm.payload));
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
