import { Reader, WireError } from '../../wire/reader.js';
import type { TextDecode } from '../../wire/text.js';

/**
 * Decoders for the message bodies dbtape inspects (PostgreSQL docs, "Message Formats").
 * Input is the body without the 5-byte header. Decoders throw WireError on malformed
 * bodies; callers turn that into a protocol error for the one session concerned.
 */

/** `text`: how to read the statement (the session's client_encoding; lossless UTF-8 by default). */
export function decodeQuery(body: Buffer, text?: TextDecode): string {
  return new Reader(body).text(text);
}

export interface Parse {
  readonly name: string;
  readonly sql: string;
  readonly paramTypes: readonly number[];
}

export function decodeParse(body: Buffer, text?: TextDecode): Parse {
  const r = new Reader(body);
  const name = r.cstring();
  const sql = r.text(text);
  const n = r.i16();
  const paramTypes: number[] = new Array(Math.max(n, 0));
  for (let i = 0; i < n; i++) paramTypes[i] = r.u32();
  return { name, sql, paramTypes };
}

export interface Bind {
  readonly portal: string;
  readonly statement: string;
  /** 0 = text, 1 = binary, per parameter (already expanded from the 0/1/N format-code rule). */
  readonly formats: readonly number[];
  /** Parameter values as views into the body; null for SQL NULL. */
  readonly values: readonly (Buffer | null)[];
  /** Result-column format codes as sent: none (all text), one (for all), or one per column. */
  readonly resultFormats: readonly number[];
}

export function decodeBind(body: Buffer): Bind {
  const r = new Reader(body);
  const portal = r.cstring();
  const statement = r.cstring();
  const nFormats = r.i16();
  const codes: number[] = [];
  for (let i = 0; i < nFormats; i++) codes.push(r.i16());
  const nParams = r.i16();
  const values: (Buffer | null)[] = [];
  const formats: number[] = [];
  for (let i = 0; i < nParams; i++) {
    const len = r.i32();
    values.push(len === -1 ? null : r.bytes(len));
    formats.push(nFormats === 0 ? 0 : nFormats === 1 ? codes[0] : (codes[i] ?? 0));
  }
  const nResult = r.i16();
  const resultFormats: number[] = [];
  for (let i = 0; i < nResult; i++) resultFormats.push(r.i16());
  return { portal, statement, formats, values, resultFormats };
}

export function decodeExecute(body: Buffer): { readonly portal: string; readonly maxRows: number } {
  const r = new Reader(body);
  return { portal: r.cstring(), maxRows: r.i32() };
}

/**
 * An Execute's portal name, checked as decodeExecute checks it. The proxy reads nothing else of
 * an Execute, and nearly every one names the unnamed portal: that case builds no reader, object or
 * string.
 */
export function executePortal(body: Buffer): string {
  if (body.length === 5 && body[0] === 0) return '';
  return decodeExecute(body).portal;
}

/** Close and Describe share a layout: 'S' statement or 'P' portal, then a name. */
export function decodeTarget(body: Buffer): { readonly what: 'S' | 'P'; readonly name: string } {
  const r = new Reader(body);
  const what = String.fromCharCode(r.u8());
  if (what !== 'S' && what !== 'P') throw new WireError(`expected 'S' or 'P', got '${what}'`);
  return { what, name: r.cstring() };
}

export interface FunctionCall {
  readonly oid: number;
  readonly formats: readonly number[];
  readonly values: readonly (Buffer | null)[];
}

export function decodeFunctionCall(body: Buffer): FunctionCall {
  const r = new Reader(body);
  const oid = r.u32();
  const nFormats = r.i16();
  const codes: number[] = [];
  for (let i = 0; i < nFormats; i++) codes.push(r.i16());
  const n = r.i16();
  const values: (Buffer | null)[] = [];
  const formats: number[] = [];
  for (let i = 0; i < n; i++) {
    const len = r.i32();
    values.push(len === -1 ? null : r.bytes(len));
    formats.push(nFormats === 0 ? 0 : nFormats === 1 ? codes[0] : (codes[i] ?? 0));
  }
  return { oid, formats, values };
}

/** ErrorResponse / NoticeResponse fields, keyed by their one-letter codes. */
export interface Notice {
  readonly severity: string;
  readonly code: string;
  readonly message: string;
  readonly detail?: string;
}

export function decodeNotice(body: Buffer): Notice {
  const r = new Reader(body);
  let severity = '';
  let localized = '';
  let code = '';
  let message = '';
  let detail: string | undefined;
  while (r.remaining > 0) {
    const f = r.u8();
    if (f === 0) break;
    const v = r.cstring();
    if (f === 0x56)
      severity = v; // 'V': never localized
    else if (f === 0x53) localized = v;
    else if (f === 0x43) code = v;
    else if (f === 0x4d) message = v;
    else if (f === 0x44) detail = v;
  }
  return { severity: severity || localized, code, message, detail };
}

export function decodeCommandComplete(body: Buffer): string {
  return new Reader(body).cstring();
}

/** Rows affected or returned, from a command tag such as 'INSERT 0 5', 'SELECT 3', 'COPY 10'. */
export function rowsFromTag(tag: string): number | null {
  const sp = tag.lastIndexOf(' ');
  if (sp < 0) return null;
  const n = Number(tag.slice(sp + 1));
  return Number.isInteger(n) ? n : null;
}

export interface Column {
  readonly name: string;
  readonly typeOid: number;
  readonly format: number;
}

export function decodeRowDescription(body: Buffer): Column[] {
  const r = new Reader(body);
  const n = r.i16();
  const cols: Column[] = [];
  for (let i = 0; i < n; i++) {
    const name = r.cstring();
    r.u32(); // table oid
    r.i16(); // column attribute number
    const typeOid = r.u32();
    r.i16(); // type size
    r.i32(); // type modifier
    const format = r.i16();
    cols.push({ name, typeOid, format });
  }
  return cols;
}

/**
 * decodeRowDescription for one session, which mostly sees the same few descriptions again (an
 * application runs its statements many times): while the bytes equal the last description's,
 * its columns are returned again. Columns are never changed once decoded, so results share them.
 */
export class RowDescriptionMemo {
  private bytes: Buffer | null = null;
  private columns: readonly Column[] = [];

  decode(body: Buffer): readonly Column[] {
    if (this.bytes !== null && body.equals(this.bytes)) return this.columns;
    this.columns = decodeRowDescription(body);
    // A copy: body is a view of the chunk read from the socket, which this must not keep alive.
    this.bytes = Buffer.from(body);
    return this.columns;
  }
}

export function decodeParameterDescription(body: Buffer): number[] {
  const r = new Reader(body);
  const n = r.i16();
  const oids: number[] = [];
  for (let i = 0; i < n; i++) oids.push(r.u32());
  return oids;
}

export function decodeDataRow(body: Buffer): (Buffer | null)[] {
  const r = new Reader(body);
  const n = r.i16();
  const values: (Buffer | null)[] = [];
  for (let i = 0; i < n; i++) {
    const len = r.i32();
    values.push(len === -1 ? null : r.bytes(len));
  }
  return values;
}

export function decodeNotification(body: Buffer): { pid: number; channel: string; payload: string } {
  const r = new Reader(body);
  return { pid: r.i32(), channel: r.cstring(), payload: r.cstring() };
}

export function decodeParameterStatus(body: Buffer): { name: string; value: string } {
  const r = new Reader(body);
  return { name: r.cstring(), value: r.cstring() };
}

/** SASLInitialResponse: mechanism name, then int32 length (-1 = none) and data. */
export function decodeSaslInitialResponse(body: Buffer): { mechanism: string; data: Buffer } {
  const r = new Reader(body);
  const mechanism = r.cstring();
  const len = r.i32();
  if (len === -1 && r.remaining === 0) return { mechanism, data: Buffer.alloc(0) };
  if (len < 0 || len !== r.remaining) throw new WireError(`invalid SASL response length ${len}`);
  return { mechanism, data: r.bytes(len) };
}

/** Authentication request ('R'): the code and whatever follows. */
export function decodeAuthentication(body: Buffer): { code: number; data: Buffer } {
  const r = new Reader(body);
  return { code: r.i32(), data: r.rest() };
}

/** Null-terminated list of SASL mechanism names in AuthenticationSASL. */
export function decodeSaslMechanisms(data: Buffer): string[] {
  const r = new Reader(data);
  const out: string[] = [];
  while (r.remaining > 0) {
    const m = r.cstring();
    if (m === '') break;
    out.push(m);
  }
  return out;
}
