/**
 * Initial Handshake Packet, protocol version 10 (MySQL "Protocol::HandshakeV10"; MariaDB
 * "Connection: Initial handshake packet"). The server's first packet: version, connection id,
 * the 20-byte scramble in two parts (8 + 12, the second NUL-terminated), capability flags,
 * default collation, status flags and the default auth plugin. MariaDB clears CLIENT_MYSQL
 * (bit 0) and then puts its extended capabilities in the last 4 of the 10 reserved bytes.
 */
import {
  CLIENT_MYSQL,
  CLIENT_PLUGIN_AUTH,
  CLIENT_SECURE_CONNECTION,
  ERR_HEADER,
  hasCap,
} from './constants.js';
import { decodeWith, MysqlCodecError, type Result } from './errors.js';
import { PacketReader } from './reader.js';
import { PacketWriter } from './writer.js';

export interface InitialHandshake {
  readonly protocolVersion: number;
  readonly serverVersion: string;
  readonly connectionId: number;
  /** The nonce clients scramble passwords with (20 bytes from MySQL and MariaDB), without the NUL. */
  readonly scramble: Buffer;
  /** Capability flags, lower 32 bits, unsigned. */
  readonly capabilities: number;
  /** MariaDB extended capabilities (bits 32..63); 0 unless the server is MariaDB. */
  readonly mariadbCapabilities: number;
  /** Default collation id. */
  readonly charset: number;
  readonly statusFlags: number;
  /** Default auth plugin, or null when CLIENT_PLUGIN_AUTH is not set. */
  readonly authPluginName: string | null;
}

/** A server is MariaDB (and uses the extended capability bytes) when it clears CLIENT_MYSQL. */
export function isMariadbServer(capabilities: number): boolean {
  return !hasCap(capabilities, CLIENT_MYSQL);
}

export function encodeInitialHandshake(h: Omit<InitialHandshake, 'protocolVersion'>, seq = 0): Buffer {
  if (h.scramble.length < 8) throw new RangeError('dbtape: the handshake scramble needs at least 8 bytes');
  const caps = h.capabilities >>> 0;
  const w = new PacketWriter(128);
  w.u8(10)
    .nulString(h.serverVersion)
    .u32(h.connectionId)
    .bytes(h.scramble.subarray(0, 8))
    .u8(0)
    .u16(caps & 0xffff)
    .u8(h.charset)
    .u16(h.statusFlags)
    .u16(caps >>> 16)
    .u8(hasCap(caps, CLIENT_PLUGIN_AUTH) ? h.scramble.length + 1 : 0);
  if (isMariadbServer(caps)) w.zeros(6).u32(h.mariadbCapabilities);
  else w.zeros(10);
  if (hasCap(caps, CLIENT_SECURE_CONNECTION)) {
    const part2 = h.scramble.subarray(8);
    // Part 2 is max(13, len - 8) bytes including its terminating NUL.
    w.bytes(part2).zeros(Math.max(13 - part2.length, 1));
  }
  if (hasCap(caps, CLIENT_PLUGIN_AUTH)) w.nulString(h.authPluginName ?? '');
  return w.packet(seq);
}

/**
 * Decode a server's first packet. A server that refuses the connection sends an ERR packet
 * instead (check `payload[0] === ERR_HEADER` and use decodeErr first); that case is reported
 * here as DBTAPE_MYSQL_MALFORMED.
 */
export function decodeInitialHandshake(payload: Buffer): Result<InitialHandshake> {
  return decodeWith(() => {
    const r = new PacketReader(payload);
    const protocolVersion = r.u8('protocol version');
    if (protocolVersion === ERR_HEADER) {
      throw new MysqlCodecError(
        'DBTAPE_MYSQL_MALFORMED',
        'dbtape: the server sent an error instead of a handshake',
      );
    }
    if (protocolVersion !== 10) {
      throw new MysqlCodecError(
        'DBTAPE_MYSQL_UNSUPPORTED',
        `dbtape: unsupported handshake protocol version ${protocolVersion} (need 10)`,
      );
    }
    const serverVersion = r.nulString('server version');
    const connectionId = r.u32('connection id');
    const part1 = r.bytes(8, 'auth-plugin-data-part-1');
    r.skip(1, 'filler');
    const capsLow = r.u16('capability flags');
    const charset = r.u8('character set');
    const statusFlags = r.u16('status flags');
    const capabilities = (capsLow | (r.u16('capability flags (upper)') << 16)) >>> 0;
    const authDataLen = r.u8('auth plugin data length');
    r.skip(6, 'reserved');
    const ext = r.u32('reserved / MariaDB extended capabilities');
    const mariadbCapabilities = isMariadbServer(capabilities) ? ext : 0;
    let part2: Buffer = Buffer.alloc(0);
    if (hasCap(capabilities, CLIENT_SECURE_CONNECTION)) {
      const len = Math.min(Math.max(13, authDataLen - 8), r.remaining);
      part2 = r.bytes(len, 'auth-plugin-data-part-2');
      if (part2.length > 0 && part2[part2.length - 1] === 0) part2 = part2.subarray(0, part2.length - 1);
    }
    const authPluginName = hasCap(capabilities, CLIENT_PLUGIN_AUTH) ? r.optionalNulString() : null;
    return {
      protocolVersion,
      serverVersion,
      connectionId,
      scramble: Buffer.concat([part1, part2]),
      capabilities,
      mariadbCapabilities,
      charset,
      statusFlags,
      authPluginName,
    };
  });
}
