import { MAX_PACKET_PAYLOAD, PACKET_HEADER_SIZE } from '../../protocol/mysql/index.js';
import type { SocketReader } from '../socket-reader.js';

/**
 * Reading whole packets during the request/response phases before forwarding starts
 * (handshake, authentication). Those packets are small: a 0xFFFFFF continuation there is
 * refused rather than reassembled.
 */

export interface Packet {
  readonly seq: number;
  /** The payload; a copy, safe to keep. */
  readonly payload: Buffer;
}

export class PacketTooLargeError extends Error {
  readonly code = 'DBTAPE_MYSQL_TOO_LARGE';
}

export async function readPacket(reader: SocketReader, maxPayload: number): Promise<Packet> {
  await reader.need(PACKET_HEADER_SIZE);
  const head = reader.peek(PACKET_HEADER_SIZE);
  const length = head[0] | (head[1] << 8) | (head[2] << 16);
  const seq = head[3];
  if (length >= MAX_PACKET_PAYLOAD || length > maxPayload) {
    throw new PacketTooLargeError(`packet of ${length} bytes during the handshake (limit ${maxPayload})`);
  }
  await reader.need(PACKET_HEADER_SIZE + length);
  const raw = reader.take(PACKET_HEADER_SIZE + length);
  return { seq, payload: raw.subarray(PACKET_HEADER_SIZE) };
}
