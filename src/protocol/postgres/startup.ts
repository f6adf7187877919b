import { MAX_STARTUP_PACKET_LENGTH, StartupCode } from './codes.js';

/**
 * Decoding of the untyped packets a client may send before authentication
 * (PostgreSQL docs, "Message Flow: Start-up" and "Message Formats").
 */

export type StartupPacket =
  | { readonly kind: 'ssl' }
  | { readonly kind: 'gssenc' }
  | { readonly kind: 'cancel'; readonly pid: number; readonly secret: number }
  | {
      readonly kind: 'startup';
      readonly major: number;
      readonly minor: number;
      /** Ordinary parameters (user, database, application_name, ...). */
      readonly params: ReadonlyMap<string, string>;
      /** `_pq_.` protocol options, which we do not support and report back. */
      readonly protocolOptions: readonly string[];
    };

export interface StartupError {
  readonly kind: 'error';
  readonly code: string;
  readonly message: string;
}

/** Length of the startup packet at the head of `buf`, or null if fewer than 4 bytes are there yet. */
export function startupLength(buf: Buffer): number | null {
  return buf.length < 4 ? null : buf.readInt32BE(0);
}

export function checkStartupLength(len: number): StartupError | null {
  if (len < 8 || len > MAX_STARTUP_PACKET_LENGTH) {
    return { kind: 'error', code: '08P01', message: `invalid length of startup packet: ${len}` };
  }
  return null;
}

/** Decode one complete startup packet (including its 4-byte length). */
export function decodeStartup(packet: Buffer): StartupPacket | StartupError {
  const len = packet.readInt32BE(0);
  const code = packet.readInt32BE(4);
  switch (code) {
    case StartupCode.SSLRequest:
      return len === 8 ? { kind: 'ssl' } : bad(`invalid length of SSLRequest: ${len}`);
    case StartupCode.GSSENCRequest:
      return len === 8 ? { kind: 'gssenc' } : bad(`invalid length of GSSENCRequest: ${len}`);
    case StartupCode.CancelRequest:
      return len === 16
        ? { kind: 'cancel', pid: packet.readInt32BE(8), secret: packet.readInt32BE(12) }
        : bad(`invalid length of CancelRequest: ${len}`);
  }
  const major = code >>> 16;
  const minor = code & 0xffff;
  if (major !== 3) {
    return {
      kind: 'error',
      code: '0A000',
      message: `unsupported frontend protocol ${major}.${minor}: server supports 3.0 to 3.0`,
    };
  }
  return decodeParams(packet.subarray(8), major, minor);
}

function decodeParams(body: Buffer, major: number, minor: number): StartupPacket | StartupError {
  const params = new Map<string, string>();
  const protocolOptions: string[] = [];
  let pos = 0;
  for (;;) {
    if (pos >= body.length) return bad('startup packet has no terminating NUL');
    if (body[pos] === 0) {
      if (pos !== body.length - 1)
        return bad('invalid startup packet layout: trailing bytes after parameters');
      break;
    }
    const nameEnd = body.indexOf(0, pos);
    if (nameEnd < 0) return bad('invalid startup packet layout: parameter name without NUL');
    const valueEnd = body.indexOf(0, nameEnd + 1);
    if (valueEnd < 0) return bad('invalid startup packet layout: expected terminator as last byte');
    const name = body.toString('utf8', pos, nameEnd);
    const value = body.toString('utf8', nameEnd + 1, valueEnd);
    pos = valueEnd + 1;
    if (name.startsWith('_pq_.')) {
      protocolOptions.push(name);
      continue;
    }
    if (params.has(name)) return bad(`duplicate startup parameter "${name}"`);
    params.set(name, value);
  }
  if (!params.get('user')) {
    return { kind: 'error', code: '28000', message: 'no PostgreSQL user name specified in startup packet' };
  }
  return { kind: 'startup', major, minor, params, protocolOptions };
}

function bad(message: string): StartupError {
  return { kind: 'error', code: '08P01', message };
}
