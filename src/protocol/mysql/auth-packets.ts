/**
 * Packets of the authentication phase (MySQL "Authentication Phase", "Protocol::AuthSwitchRequest",
 * "Protocol::AuthMoreData"). After the handshake response the server answers with OK, ERR,
 * AuthSwitchRequest (0xFE + plugin name NUL + plugin data) or AuthMoreData (0x01 + data);
 * the client's answers in this phase are bare plugin data without a header byte.
 */
import { AUTH_MORE_DATA_HEADER, AUTH_SWITCH_HEADER, ERR_HEADER, OK_HEADER } from './constants.js';
import { decodeWith, MysqlCodecError, type Result } from './errors.js';
import { PacketReader } from './reader.js';
import { PacketWriter } from './writer.js';

export type AuthPacketKind = 'ok' | 'err' | 'auth-switch' | 'auth-more-data' | 'unknown';

/** What a server packet in the authentication phase is, from its first byte. */
export function authPacketKind(payload: Uint8Array): AuthPacketKind {
  if (payload.length === 0) return 'unknown';
  switch (payload[0]) {
    case OK_HEADER:
      return 'ok';
    case ERR_HEADER:
      return 'err';
    case AUTH_SWITCH_HEADER:
      return 'auth-switch';
    case AUTH_MORE_DATA_HEADER:
      return 'auth-more-data';
    default:
      return 'unknown';
  }
}

export interface AuthSwitchRequest {
  readonly pluginName: string;
  /** Plugin data as sent (for the password plugins: a new 20-byte scramble plus a NUL). */
  readonly pluginData: Buffer;
}

export function decodeAuthSwitchRequest(payload: Buffer): Result<AuthSwitchRequest> {
  return decodeWith(() => {
    const r = new PacketReader(payload);
    if (r.u8('header') !== AUTH_SWITCH_HEADER) {
      throw new MysqlCodecError(
        'DBTAPE_MYSQL_MALFORMED',
        'dbtape: not an AuthSwitchRequest (header is not 0xFE)',
      );
    }
    // A lone 0xFE is the pre-4.1 "use old password" request (Protocol::OldAuthSwitchRequest).
    if (r.atEnd()) return { pluginName: 'mysql_old_password', pluginData: Buffer.alloc(0) };
    const pluginName = r.nulString('plugin name');
    return { pluginName, pluginData: Buffer.from(r.restBytes()) };
  });
}

export function encodeAuthSwitchRequest(pluginName: string, pluginData: Uint8Array, seq: number): Buffer {
  return new PacketWriter(64).u8(AUTH_SWITCH_HEADER).nulString(pluginName).bytes(pluginData).packet(seq);
}

/** The data of an AuthMoreData packet (a view into `payload`). */
export function decodeAuthMoreData(payload: Buffer): Result<Buffer> {
  return decodeWith(() => {
    const r = new PacketReader(payload);
    if (r.u8('header') !== AUTH_MORE_DATA_HEADER) {
      throw new MysqlCodecError(
        'DBTAPE_MYSQL_MALFORMED',
        'dbtape: not an AuthMoreData packet (header is not 0x01)',
      );
    }
    return r.restBytes();
  });
}

export function encodeAuthMoreData(data: Uint8Array, seq: number): Buffer {
  return new PacketWriter(data.length + 8).u8(AUTH_MORE_DATA_HEADER).bytes(data).packet(seq);
}

/** A client's bare auth data packet (auth switch response, full-auth password, key request). */
export function encodeAuthData(data: Uint8Array, seq: number): Buffer {
  return new PacketWriter(data.length + 8).bytes(data).packet(seq);
}
