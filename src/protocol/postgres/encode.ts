import { Writer } from '../../wire/writer.js';
import { Auth, B, F, StartupCode } from './codes.js';

/**
 * Encoders for the messages dbtape originates. Forwarded messages are never re-encoded.
 * Every function returns a fresh Buffer holding one complete message.
 */

function typed(type: number, body: (w: Writer) => void, size = 64): Buffer {
  const w = new Writer(size);
  w.u8(type).i32(0);
  body(w);
  w.patchI32(1, w.length - 1);
  return w.toBuffer();
}

function untyped(body: (w: Writer) => void): Buffer {
  const w = new Writer(64);
  w.i32(0);
  body(w);
  w.patchI32(0, w.length);
  return w.toBuffer();
}

export interface ErrorFields {
  readonly severity: 'ERROR' | 'FATAL' | 'PANIC' | 'WARNING' | 'NOTICE' | 'INFO' | 'LOG' | 'DEBUG';
  readonly code: string;
  readonly message: string;
  readonly detail?: string;
  readonly hint?: string;
}

function fields(w: Writer, f: ErrorFields): void {
  // 'S' is localized, 'V' is not (since 9.6); send both so every client finds one.
  w.u8(0x53).cstring(f.severity);
  w.u8(0x56).cstring(f.severity);
  w.u8(0x43).cstring(f.code);
  w.u8(0x4d).cstring(f.message);
  if (f.detail) w.u8(0x44).cstring(f.detail);
  if (f.hint) w.u8(0x48).cstring(f.hint);
  w.u8(0);
}

export function errorResponse(f: ErrorFields): Buffer {
  return typed(B.ErrorResponse, (w) => fields(w, f), 128);
}

export function noticeResponse(f: ErrorFields): Buffer {
  return typed(B.NoticeResponse, (w) => fields(w, f), 128);
}

export function authenticationOk(): Buffer {
  return typed(B.Authentication, (w) => w.i32(Auth.Ok));
}

export function authenticationSasl(mechanisms: readonly string[]): Buffer {
  return typed(B.Authentication, (w) => {
    w.i32(Auth.SASL);
    for (const m of mechanisms) w.cstring(m);
    w.u8(0);
  });
}

export function authenticationSaslContinue(data: Buffer): Buffer {
  return typed(B.Authentication, (w) => w.i32(Auth.SASLContinue).bytes(data), data.length + 16);
}

export function authenticationSaslFinal(data: Buffer): Buffer {
  return typed(B.Authentication, (w) => w.i32(Auth.SASLFinal).bytes(data), data.length + 16);
}

export function backendKeyData(pid: number, secret: number): Buffer {
  return typed(B.BackendKeyData, (w) => w.i32(pid).i32(secret));
}

export function notificationResponse(pid: number, channel: string, payload: string): Buffer {
  return typed(
    B.NotificationResponse,
    (w) => w.i32(pid).cstring(channel).cstring(payload),
    32 + payload.length * 3,
  );
}

export function parameterStatus(name: string, value: string): Buffer {
  return typed(B.ParameterStatus, (w) => w.cstring(name).cstring(value));
}

export function commandComplete(tag: string): Buffer {
  return typed(B.CommandComplete, (w) => w.cstring(tag));
}

export function readyForQuery(status: 'I' | 'T' | 'E'): Buffer {
  return typed(B.ReadyForQuery, (w) => w.u8(status.charCodeAt(0)));
}

/** NegotiateProtocolVersion: the newest minor version we speak, and the options we did not recognise. */
export function negotiateProtocolVersion(newestMinor: number, unrecognized: readonly string[]): Buffer {
  return typed(B.NegotiateProtocolVersion, (w) => {
    w.i32((3 << 16) | newestMinor).i32(unrecognized.length);
    for (const o of unrecognized) w.cstring(o);
  });
}

export function startupMessage(params: ReadonlyMap<string, string>): Buffer {
  return untyped((w) => {
    w.i32(StartupCode.Protocol30);
    for (const [k, v] of params) w.cstring(k).cstring(v);
    w.u8(0);
  });
}

export function sslRequest(): Buffer {
  return untyped((w) => w.i32(StartupCode.SSLRequest));
}

export function cancelRequest(pid: number, secret: number): Buffer {
  return untyped((w) => w.i32(StartupCode.CancelRequest).i32(pid).i32(secret));
}

export function passwordMessage(password: Buffer | string): Buffer {
  const bytes = typeof password === 'string' ? Buffer.from(password) : password;
  return typed(F.Password, (w) => w.bytes(bytes).u8(0), bytes.length + 8);
}

export function saslInitialResponse(mechanism: string, data: Buffer): Buffer {
  return typed(F.Password, (w) => w.cstring(mechanism).i32(data.length).bytes(data), data.length + 32);
}

export function saslResponse(data: Buffer): Buffer {
  return typed(F.Password, (w) => w.bytes(data), data.length + 8);
}

/** A simple Query (dbtape's own: a denial's stand-in, the masking catalog query). */
export function query(sql: string): Buffer {
  return typed(F.Query, (w) => w.cstring(sql), Buffer.byteLength(sql) + 8);
}

export function terminate(): Buffer {
  return typed(F.Terminate, () => {});
}
