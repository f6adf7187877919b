import type { Target } from '../../model/identity.js';
import {
  CHARSET_UTF8MB4_GENERAL_CI,
  CLIENT_PROTOCOL_41,
  CLIENT_TRANSACTIONS,
  COM_QUERY,
  COM_QUIT,
  decodeErr,
  ERR_HEADER,
  type ErrPacket,
} from '../../protocol/mysql/index.js';
import { HandshakeChannel } from './channel.js';
import { frame } from './segments.js';
import { connectUpstream } from './upstream.js';

/**
 * Runs one KILL on a second connection to a target, as the mysql client does on Ctrl-C. Used
 * when a client vanishes mid-statement or an administrator ends a session (the server would
 * otherwise run the statement until it next writes to the closed socket), and for KILLs sent
 * on a connection that has no target of its own.
 * Resolves with the server's ERR when the KILL failed, null when it succeeded.
 */
export async function sideKill(
  target: Target,
  threadId: number,
  query: boolean,
  timeoutMs: number,
): Promise<ErrPacket | null> {
  const up = await connectUpstream(
    target,
    {
      capabilities: CLIENT_PROTOCOL_41 | CLIENT_TRANSACTIONS,
      charset: CHARSET_UTF8MB4_GENERAL_CI,
      maxPacketSize: 1 << 24,
      attributes: null,
      localFiles: false,
    },
    timeoutMs,
  );
  const s = up.socket;
  s.on('error', () => {});
  const timer = setTimeout(() => s.destroy(new Error(`timed out after ${timeoutMs} ms`)), timeoutMs);
  try {
    const ch = new HandshakeChannel(s, 64 * 1024);
    const statement = `KILL ${query ? 'QUERY ' : ''}${threadId}`;
    ch.write((seq) => frame(Buffer.concat([Buffer.from([COM_QUERY]), Buffer.from(statement)]), seq));
    const reply = await ch.read();
    ch.detach();
    s.end(frame(Buffer.from([COM_QUIT]), 0));
    if (reply[0] !== ERR_HEADER) return null;
    const err = decodeErr(reply);
    return err.ok ? err.value : { errno: 0, sqlState: null, message: 'malformed error packet' };
  } catch (err) {
    s.destroy();
    throw err;
  } finally {
    clearTimeout(timer);
  }
}
