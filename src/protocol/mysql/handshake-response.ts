/**
 * The client's answer to the handshake (MySQL "Protocol::HandshakeResponse41" and
 * "Protocol::SSLRequest"; MariaDB "Connection: Handshake response packet"). Both start with
 * int<4> capabilities, int<4> max packet size, int<1> collation and 23 filler bytes, the last
 * 4 of which carry MariaDB's extended capabilities when the client clears CLIENT_MYSQL.
 * An SSLRequest is exactly that 32-byte prefix with CLIENT_SSL set.
 */
import {
  CLIENT_CONNECT_ATTRS,
  CLIENT_CONNECT_WITH_DB,
  CLIENT_MYSQL,
  CLIENT_PLUGIN_AUTH,
  CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA,
  CLIENT_PROTOCOL_41,
  CLIENT_SECURE_CONNECTION,
  CLIENT_SSL,
  CLIENT_ZSTD_COMPRESSION_ALGORITHM,
  hasCap,
} from './constants.js';
import { decodeWith, MysqlCodecError, type Result } from './errors.js';
import { PacketReader } from './reader.js';
import { PacketWriter } from './writer.js';

export const SSL_REQUEST_LENGTH = 32;

export interface ClientCapabilities {
  /** Capability flags, lower 32 bits, unsigned. */
  readonly capabilities: number;
  /** MariaDB extended capabilities; 0 when the client set CLIENT_MYSQL. */
  readonly mariadbCapabilities: number;
  readonly maxPacketSize: number;
  readonly charset: number;
}

export interface HandshakeResponse extends ClientCapabilities {
  readonly username: string;
  /** Scrambled password / plugin data (a copy, safe to keep). */
  readonly authResponse: Buffer;
  /** Database from CLIENT_CONNECT_WITH_DB; null when not sent. */
  readonly database: string | null;
  /** Client's auth plugin; null when CLIENT_PLUGIN_AUTH is not set or the field is absent. */
  readonly authPluginName: string | null;
  /** Connect attributes (`_client_name`, `program_name`...); null when not sent. */
  readonly connectAttributes: ReadonlyMap<string, string> | null;
  /** zstd compression level; null unless CLIENT_ZSTD_COMPRESSION_ALGORITHM. */
  readonly zstdLevel: number | null;
}

/** True for a 32-byte packet with CLIENT_SSL: the client wants TLS before sending credentials. */
export function isSslRequest(payload: Buffer): boolean {
  return payload.length === SSL_REQUEST_LENGTH && hasCap(payload.readUInt32LE(0), CLIENT_SSL);
}

function readPrefix(r: PacketReader): ClientCapabilities {
  const capabilities = r.u32('capability flags');
  if (!hasCap(capabilities, CLIENT_PROTOCOL_41)) {
    throw new MysqlCodecError(
      'DBTAPE_MYSQL_UNSUPPORTED',
      'dbtape: pre-4.1 clients (HandshakeResponse320) are not supported',
    );
  }
  const maxPacketSize = r.u32('max packet size');
  const charset = r.u8('character set');
  r.skip(19, 'filler');
  const ext = r.u32('filler / MariaDB extended capabilities');
  return {
    capabilities,
    mariadbCapabilities: hasCap(capabilities, CLIENT_MYSQL) ? 0 : ext,
    maxPacketSize,
    charset,
  };
}

export function decodeSslRequest(payload: Buffer): Result<ClientCapabilities> {
  return decodeWith(() => readPrefix(new PacketReader(payload)));
}

function readAuthResponse(r: PacketReader, caps: number): Buffer {
  if (hasCap(caps, CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA)) return r.lenencBytes('auth response');
  if (hasCap(caps, CLIENT_SECURE_CONNECTION)) return r.bytes(r.u8('auth response length'), 'auth response');
  return r.nulBytes('auth response');
}

function readAttributes(r: PacketReader): Map<string, string> {
  const total = r.lenencInt('connect attributes length');
  const end = r.pos + total;
  if (end > r.end) {
    throw new MysqlCodecError('DBTAPE_MYSQL_TRUNCATED', 'dbtape: connect attributes run past the packet end');
  }
  const attrs = new Map<string, string>();
  const sub = new PacketReader(r.buf, r.pos, end);
  while (!sub.atEnd()) {
    const key = sub.lenencString('connect attribute name');
    attrs.set(key, sub.lenencString('connect attribute value'));
  }
  r.pos = end;
  return attrs;
}

export function decodeHandshakeResponse(payload: Buffer): Result<HandshakeResponse> {
  return decodeWith(() => {
    const r = new PacketReader(payload);
    const prefix = readPrefix(r);
    const caps = prefix.capabilities;
    const username = r.nulString('username');
    const authResponse = Buffer.from(readAuthResponse(r, caps));
    // Trailing optional fields: clients differ on whether they send them when empty,
    // so a field that is simply absent at the end of the packet is null, not an error.
    const database = hasCap(caps, CLIENT_CONNECT_WITH_DB) ? r.optionalNulString() : null;
    const authPluginName = hasCap(caps, CLIENT_PLUGIN_AUTH) ? r.optionalNulString() : null;
    const connectAttributes = hasCap(caps, CLIENT_CONNECT_ATTRS) && !r.atEnd() ? readAttributes(r) : null;
    const zstdLevel =
      hasCap(caps, CLIENT_ZSTD_COMPRESSION_ALGORITHM) && !r.atEnd() ? r.u8('zstd level') : null;
    return { ...prefix, username, authResponse, database, authPluginName, connectAttributes, zstdLevel };
  });
}

function writePrefix(w: PacketWriter, c: ClientCapabilities): void {
  w.u32(c.capabilities).u32(c.maxPacketSize).u8(c.charset).zeros(19);
  w.u32(hasCap(c.capabilities, CLIENT_MYSQL) ? 0 : c.mariadbCapabilities);
}

export function encodeSslRequest(c: ClientCapabilities, seq = 1): Buffer {
  const w = new PacketWriter(SSL_REQUEST_LENGTH);
  writePrefix(w, { ...c, capabilities: (c.capabilities | CLIENT_SSL) >>> 0 });
  return w.packet(seq);
}

export interface HandshakeResponseInput extends ClientCapabilities {
  readonly username: string;
  readonly authResponse: Uint8Array;
  readonly database?: string | null;
  readonly authPluginName?: string | null;
  readonly connectAttributes?: ReadonlyMap<string, string> | null;
}

/**
 * Encode a HandshakeResponse41 (dbtape logging in upstream). Fields are written according to
 * `capabilities`: set CLIENT_CONNECT_WITH_DB / CLIENT_PLUGIN_AUTH / CLIENT_CONNECT_ATTRS to send them.
 */
export function encodeHandshakeResponse(h: HandshakeResponseInput, seq = 1): Buffer {
  const caps = h.capabilities >>> 0;
  const w = new PacketWriter(256);
  writePrefix(w, h);
  w.nulString(h.username);
  if (hasCap(caps, CLIENT_PLUGIN_AUTH_LENENC_CLIENT_DATA)) w.lenencString(h.authResponse);
  else if (hasCap(caps, CLIENT_SECURE_CONNECTION)) {
    if (h.authResponse.length > 255)
      throw new RangeError('dbtape: auth response over 255 bytes needs lenenc');
    w.u8(h.authResponse.length).bytes(h.authResponse);
  } else w.nulString(h.authResponse);
  if (hasCap(caps, CLIENT_CONNECT_WITH_DB)) w.nulString(h.database ?? '');
  if (hasCap(caps, CLIENT_PLUGIN_AUTH)) w.nulString(h.authPluginName ?? '');
  if (hasCap(caps, CLIENT_CONNECT_ATTRS)) {
    const attrs = new PacketWriter(128);
    for (const [k, v] of h.connectAttributes ?? []) attrs.lenencString(k).lenencString(v);
    w.lenencString(attrs.payload());
  }
  return w.packet(seq);
}
