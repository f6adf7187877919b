/**
 * Generic response packets (MySQL "OK_Packet", "EOF_Packet", "ERR_Packet"; MariaDB "OK_Packet",
 * "EOF_Packet", "ERR_Packet").
 *   OK:  0x00 (or 0xFE when it ends a resultset under CLIENT_DEPRECATE_EOF), lenenc affected rows,
 *        lenenc last insert id, int<2> status, int<2> warnings, then info: string<EOF>, or with
 *        CLIENT_SESSION_TRACK a lenenc info string and, when SERVER_SESSION_STATE_CHANGED, lenenc
 *        session state changes.
 *   EOF: 0xFE, int<2> warnings, int<2> status; the payload is shorter than 9 bytes.
 *   ERR: 0xFF, int<2> errno, '#' + 5-byte SQLSTATE (PROTOCOL_41), message string<EOF>.
 */
import {
  CLIENT_PROTOCOL_41,
  CLIENT_SESSION_TRACK,
  CLIENT_TRANSACTIONS,
  EOF_HEADER,
  ERR_HEADER,
  hasCap,
  MAX_PACKET_PAYLOAD,
  OK_HEADER,
  SERVER_SESSION_STATE_CHANGED,
} from './constants.js';
import { decodeWith, MysqlCodecError, type Result } from './errors.js';
import { PacketReader } from './reader.js';
import { PacketWriter } from './writer.js';

export interface OkPacket {
  /** 0x00, or 0xFE for the OK that replaces EOF under CLIENT_DEPRECATE_EOF. */
  readonly header: number;
  readonly affectedRows: number;
  /** Exact: BIGINT UNSIGNED auto-increment ids can exceed 2^53. */
  readonly lastInsertId: bigint;
  readonly statusFlags: number;
  readonly warnings: number;
  readonly info: string;
  /** Raw session state changes (SESSION_TRACK), a copy; null when absent. */
  readonly sessionState: Buffer | null;
}

export interface EofPacket {
  readonly warnings: number;
  readonly statusFlags: number;
}

export interface ErrPacket {
  readonly errno: number;
  /** Five characters, or null when the packet has no '#' marker (pre-4.1 or before negotiation). */
  readonly sqlState: string | null;
  readonly message: string;
}

/** Classic EOF packet: 0xFE and a payload shorter than 9 bytes (which rules out a lenenc 0xFE row). */
export function isEofPacket(payload: Uint8Array): boolean {
  return payload.length > 0 && payload[0] === EOF_HEADER && payload.length < 9;
}

/**
 * A resultset terminator under CLIENT_DEPRECATE_EOF: 0xFE and a payload shorter than 0xFFFFFF.
 * A text row starting with 0xFE (an 8-byte lenenc length) is at least 16 MiB, so never matches.
 * `length` is the physical payload length of the packet's first physical packet.
 */
export function isOkAsEof(firstByte: number, length: number): boolean {
  return firstByte === EOF_HEADER && length < MAX_PACKET_PAYLOAD;
}

export function isErrPacket(payload: Uint8Array): boolean {
  return payload.length > 0 && payload[0] === ERR_HEADER;
}

function readStatusAndWarnings(r: PacketReader, caps: number): { statusFlags: number; warnings: number } {
  if (hasCap(caps, CLIENT_PROTOCOL_41)) {
    const statusFlags = r.u16('status flags');
    return { statusFlags, warnings: r.u16('warnings') };
  }
  if (hasCap(caps, CLIENT_TRANSACTIONS)) return { statusFlags: r.u16('status flags'), warnings: 0 };
  return { statusFlags: 0, warnings: 0 };
}

export function decodeOk(payload: Buffer, capabilities: number): Result<OkPacket> {
  return decodeWith(() => {
    const r = new PacketReader(payload);
    const header = r.u8('header');
    if (header !== OK_HEADER && header !== EOF_HEADER) {
      throw new MysqlCodecError(
        'DBTAPE_MYSQL_MALFORMED',
        `dbtape: not an OK packet (header 0x${header.toString(16)})`,
      );
    }
    const affectedRows = r.lenencInt('affected rows');
    const lastInsertId = r.lenencBig('last insert id');
    const { statusFlags, warnings } = readStatusAndWarnings(r, capabilities);
    let info = '';
    let sessionState: Buffer | null = null;
    if (hasCap(capabilities, CLIENT_SESSION_TRACK)) {
      // Servers omit the info field entirely when nothing follows (libmysql read_ok_ex checks for that).
      if (!r.atEnd()) info = r.lenencString('info');
      if (statusFlags & SERVER_SESSION_STATE_CHANGED && !r.atEnd()) {
        sessionState = Buffer.from(r.lenencBytes('session state'));
      }
    } else {
      info = r.restString();
    }
    return { header, affectedRows, lastInsertId, statusFlags, warnings, info, sessionState };
  });
}

export interface OkInput {
  readonly affectedRows?: number | bigint;
  readonly lastInsertId?: number | bigint;
  readonly statusFlags?: number;
  readonly warnings?: number;
  readonly info?: string;
}

export function encodeOk(ok: OkInput, capabilities: number, seq: number, header = OK_HEADER): Buffer {
  const w = new PacketWriter(32);
  w.u8(header)
    .lenencInt(ok.affectedRows ?? 0)
    .lenencInt(ok.lastInsertId ?? 0);
  const status = (ok.statusFlags ?? 0) & ~SERVER_SESSION_STATE_CHANGED;
  if (hasCap(capabilities, CLIENT_PROTOCOL_41)) w.u16(status).u16(ok.warnings ?? 0);
  else if (hasCap(capabilities, CLIENT_TRANSACTIONS)) w.u16(status);
  const info = ok.info ?? '';
  if (hasCap(capabilities, CLIENT_SESSION_TRACK)) {
    if (info.length > 0) w.lenencString(info);
  } else w.text(info);
  return w.packet(seq);
}

export function decodeEof(payload: Buffer, capabilities: number): Result<EofPacket> {
  const eof = readEof(payload, 0, payload.length, capabilities);
  if (eof !== null) return { ok: true, value: eof };
  return {
    ok: false,
    error: isEofPacket(payload)
      ? new MysqlCodecError('DBTAPE_MYSQL_TRUNCATED', 'dbtape: EOF packet truncated')
      : new MysqlCodecError('DBTAPE_MYSQL_MALFORMED', 'dbtape: not an EOF packet'),
  };
}

/**
 * The EOF packet in `buf[start, end)`, read in place; null when it is not a whole one. Every
 * result of a client without DEPRECATE_EOF ends in one, so the response path reads it without a
 * sliced Buffer or a reader object.
 */
export function readEof(buf: Uint8Array, start: number, end: number, capabilities: number): EofPacket | null {
  const length = end - start;
  if (length < 1 || length >= 9 || buf[start] !== EOF_HEADER) return null;
  if (!hasCap(capabilities, CLIENT_PROTOCOL_41)) return { warnings: 0, statusFlags: 0 };
  if (length < 5) return null;
  return {
    warnings: buf[start + 1]! | (buf[start + 2]! << 8),
    statusFlags: buf[start + 3]! | (buf[start + 4]! << 8),
  };
}

export function encodeEof(eof: EofPacket, capabilities: number, seq: number): Buffer {
  const w = new PacketWriter(8).u8(EOF_HEADER);
  if (hasCap(capabilities, CLIENT_PROTOCOL_41)) w.u16(eof.warnings).u16(eof.statusFlags);
  return w.packet(seq);
}

export function decodeErr(payload: Buffer): Result<ErrPacket> {
  return decodeWith(() => {
    const r = new PacketReader(payload);
    if (r.u8('header') !== ERR_HEADER) {
      throw new MysqlCodecError('DBTAPE_MYSQL_MALFORMED', 'dbtape: not an ERR packet');
    }
    const errno = r.u16('error code');
    let sqlState: string | null = null;
    // The '#' marker decides, not the capabilities: servers send ERR before negotiation too.
    if (r.remaining >= 6 && r.buf[r.pos] === 0x23) {
      r.skip(1);
      sqlState = r.bytes(5, 'SQLSTATE').toString('latin1');
    }
    return { errno, sqlState, message: r.restString() };
  });
}

export interface ErrInput {
  readonly errno: number;
  readonly sqlState: string;
  readonly message: string;
}

/**
 * ERR packet. `protocol41` false drops the SQLSTATE, for a client refused before it sent
 * CLIENT_PROTOCOL_41 (e.g. during the handshake).
 */
export function encodeErr(err: ErrInput, seq: number, protocol41 = true): Buffer {
  const w = new PacketWriter(64 + err.message.length).u8(ERR_HEADER).u16(err.errno);
  if (protocol41) w.u8(0x23).text(err.sqlState.padEnd(5, '0').slice(0, 5));
  return w.text(err.message).packet(seq);
}

/** Session state change types (MySQL "Session State Information"). */
export const SESSION_TRACK_SYSTEM_VARIABLES = 0x00;
export const SESSION_TRACK_SCHEMA = 0x01;
export const SESSION_TRACK_STATE_CHANGE = 0x02;
export const SESSION_TRACK_GTIDS = 0x03;
export const SESSION_TRACK_TRANSACTION_CHARACTERISTICS = 0x04;
export const SESSION_TRACK_TRANSACTION_STATE = 0x05;

export interface SessionStateChange {
  readonly type: number;
  /** For SYSTEM_VARIABLES: the variable name; for SCHEMA: the new default database. */
  readonly name: string | null;
  /** For SYSTEM_VARIABLES: the new value. */
  readonly value: string | null;
  /** The change's raw data. */
  readonly data: Buffer;
}

/** Split OkPacket.sessionState into its entries (lenenc-typed records). */
export function decodeSessionState(state: Buffer): Result<SessionStateChange[]> {
  return decodeWith(() => {
    const r = new PacketReader(state);
    const out: SessionStateChange[] = [];
    while (!r.atEnd()) {
      const type = r.u8('session state type');
      const data = r.lenencBytes('session state data');
      let name: string | null = null;
      let value: string | null = null;
      const sub = new PacketReader(data);
      if (type === SESSION_TRACK_SYSTEM_VARIABLES) {
        name = sub.lenencString('variable name');
        value = sub.lenencString('variable value');
      } else if (type === SESSION_TRACK_SCHEMA) {
        name = sub.lenencString('schema');
      }
      out.push({ type, name, value, data });
    }
    return out;
  });
}
