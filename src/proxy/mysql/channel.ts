import type { Socket } from 'node:net';
import { ER_NET_PACKETS_OUT_OF_ORDER } from '../../protocol/mysql/index.js';
import { SocketReader } from '../socket-reader.js';
import { MysqlProxyError } from './errors.js';
import { readPacket } from './packet-io.js';

/**
 * One side of a connection during the handshake and authentication: whole packets in, whole
 * packets out, with the sequence ids of the exchange checked and counted (MySQL "Sequence ID":
 * one exchange from the greeting to the final OK/ERR, both directions counting up).
 */
export class HandshakeChannel {
  /** The id the next packet, in either direction, carries. */
  seq = 0;
  reader: SocketReader;

  constructor(
    public socket: Socket,
    private readonly limit: number,
  ) {
    this.reader = new SocketReader(socket, limit);
  }

  /** Read one packet; a wrong sequence id is a protocol error (ERR 1156). */
  async read(): Promise<Buffer> {
    const p = await readPacket(this.reader, this.limit);
    const expected = this.seq;
    // The ERR for a wrong id, too, follows the id the peer sent: that is the reply it counts on.
    this.seq = (p.seq + 1) & 0xff;
    if (p.seq !== expected) {
      throw new MysqlProxyError(
        ER_NET_PACKETS_OUT_OF_ORDER,
        `dbtape: got packets out of order (expected sequence id ${expected}, got ${p.seq})`,
        'DBTAPE_MYSQL_SEQUENCE',
      );
    }
    return p.payload;
  }

  /** Send a packet built for the current sequence id. */
  write(build: (seq: number) => Buffer): void {
    this.socket.write(build(this.seq));
    this.seq = (this.seq + 1) & 0xff;
  }

  /** Move to another socket (after TLS starts on the old one). */
  switchTo(socket: Socket): void {
    this.reader.detach();
    this.socket = socket;
    this.reader = new SocketReader(socket, this.limit);
  }

  /** Stop reading; returns what was received and not consumed. */
  detach(): Buffer {
    return this.reader.detach();
  }
}
