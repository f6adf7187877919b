import type { MaskingRules } from '../../policy/index.js';
import { B } from '../../protocol/postgres/codes.js';
import type { Column } from '../../protocol/postgres/decode.js';
import { query } from '../../protocol/postgres/encode.js';
import { Reader } from '../../wire/reader.js';
import type { SocketWriter } from '../socket-writes.js';

/**
 * Column rules name table columns (`email`, `customers.card_number`), but a PostgreSQL result only
 * says which table OID and attribute number a column comes from (RowDescription). So that an alias
 * does not escape a rule and `table.column` patterns can match, a session with masking first reads,
 * on its own upstream connection and before the client's first statement, which table columns the
 * column rules cover. Tables created later in the session are matched by result label only.
 */

/** A RowDescription column with its origin (0, 0 when it is not a table column). */
export interface OriginColumn extends Column {
  readonly tableOid: number;
  readonly attnum: number;
}

/** Origin (`oid:attnum`) → the table column a column rule covers. */
export type MaskedOrigins = ReadonlyMap<string, { schema: string; table: string; column: string }>;

const CATALOG_QUERY = `/* dbtape: masking rules, table columns */ SELECT c.oid, n.nspname, c.relname, a.attnum, a.attname
FROM pg_catalog.pg_attribute a JOIN pg_catalog.pg_class c ON c.oid = a.attrelid
JOIN pg_catalog.pg_namespace n ON n.oid = c.relnamespace
WHERE a.attnum > 0 AND NOT a.attisdropped AND c.relkind IN ('r', 'v', 'm', 'p', 'f')`;

export function originKey(tableOid: number, attnum: number): string {
  return `${tableOid}:${attnum}`;
}

export function decodeRowDescriptionWithOrigins(body: Buffer): OriginColumn[] {
  const r = new Reader(body);
  const n = r.i16();
  const cols: OriginColumn[] = [];
  for (let i = 0; i < n; i++) {
    const name = r.cstring();
    const tableOid = r.u32();
    const attnum = r.i16();
    const typeOid = r.u32();
    r.i16(); // type size
    r.i32(); // type modifier
    const format = r.i16();
    cols.push({ name, typeOid, format, tableOid, attnum });
  }
  return cols;
}

/**
 * Runs the catalog query on `upstream` (idle, after its ReadyForQuery) and returns the columns the
 * rules cover, and the bytes that arrived after the answer (to be forwarded as usual).
 */
export function readMaskedOrigins(
  upstream: SocketWriter,
  leftover: Buffer,
  masking: MaskingRules,
  timeoutMs: number,
): Promise<{ origins: MaskedOrigins; leftover: Buffer }> {
  const socket = upstream.socket;
  return new Promise((resolve, reject) => {
    const origins = new Map<string, { schema: string; table: string; column: string }>();
    let buf = leftover;
    const done = (err: Error | null, rest = Buffer.alloc(0)) => {
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onClose);
      socket.pause();
      if (err) reject(err);
      else resolve({ origins, leftover: rest });
    };
    const onClose = () => done(new Error('the server closed the connection'));
    const onData = (chunk: Buffer) => {
      buf = buf.length === 0 ? chunk : Buffer.concat([buf, chunk]);
      let pos = 0;
      while (buf.length - pos >= 5) {
        const len = buf.readInt32BE(pos + 1);
        if (buf.length - pos < 1 + len) break;
        const type = buf[pos]!;
        const body = buf.subarray(pos + 5, pos + 1 + len);
        pos += 1 + len;
        if (type === B.DataRow) addRow(body, masking, origins);
        else if (type === B.ErrorResponse) return done(new Error('the catalog query failed'));
        else if (type === B.ReadyForQuery) return done(null, Buffer.from(buf.subarray(pos)));
      }
      buf = buf.subarray(pos);
    };
    const timer = setTimeout(() => done(new Error('the catalog query timed out')), timeoutMs);
    socket.on('data', onData);
    socket.on('close', onClose);
    upstream.write(query(CATALOG_QUERY));
    socket.resume();
    if (buf.length > 0) onData(Buffer.alloc(0));
  });
}

function addRow(
  body: Buffer,
  masking: MaskingRules,
  out: Map<string, { schema: string; table: string; column: string }>,
): void {
  const r = new Reader(body);
  const n = r.i16();
  const v: string[] = [];
  for (let i = 0; i < n; i++) {
    const len = r.i32();
    v.push(len < 0 ? '' : r.bytes(len).toString('utf8'));
  }
  const [oid, schema, table, attnum, column] = v as [string, string, string, string, string];
  if (masking.coversColumn({ name: column, sourceName: column, table, schema }))
    out.set(originKey(Number(oid), Number(attnum)), { schema, table, column });
}
