/**
 * Column definitions (MySQL "Protocol::ColumnDefinition41"; MariaDB "Result set packets"):
 *   lenenc catalog ("def"), schema, table, org_table, name, org_name,
 *   [MariaDB with MARIADB_CLIENT_EXTENDED_METADATA: lenenc extended type info],
 *   lenenc length of fixed fields (0x0C), int<2> collation, int<4> column length, int<1> type,
 *   int<2> flags, int<1> decimals, int<2> filler.
 * Decoded only on demand: the resultset tracker keeps the bytes and calls these when asked.
 */
import { typeName, UNSIGNED_FLAG } from './constants.js';
import { decodeWith, type Result } from './errors.js';
import { PacketReader } from './reader.js';
import { PacketWriter } from './writer.js';

export interface ColumnDefinition {
  readonly schema: string;
  readonly table: string;
  readonly orgTable: string;
  readonly name: string;
  readonly orgName: string;
  /** Collation id; 63 (binary) means the values are bytes, not text. */
  readonly charset: number;
  readonly columnLength: number;
  readonly type: number;
  readonly flags: number;
  readonly decimals: number;
  /** MariaDB extended type info (e.g. json, uuid), when that capability was negotiated. */
  readonly extendedInfo: Buffer | null;
}

/** The fields a row decoder needs. */
export interface ColumnType {
  readonly type: number;
  readonly flags: number;
  readonly charset: number;
  readonly decimals: number;
}

export function decodeColumnDefinition(
  payload: Buffer,
  mariadbExtendedMetadata = false,
  start = 0,
  end = payload.length,
): Result<ColumnDefinition> {
  return decodeWith(() => {
    const r = new PacketReader(payload, start, end);
    r.lenencBytes('catalog');
    const schema = r.lenencString('schema');
    const table = r.lenencString('table');
    const orgTable = r.lenencString('org_table');
    const name = r.lenencString('name');
    const orgName = r.lenencString('org_name');
    const extendedInfo = mariadbExtendedMetadata ? Buffer.from(r.lenencBytes('extended metadata')) : null;
    return { schema, table, orgTable, name, orgName, extendedInfo, ...readFixedFields(r) };
  });
}

function readFixedFields(r: PacketReader): ColumnType & { columnLength: number } {
  r.lenencInt('length of fixed fields');
  const charset = r.u16('character set');
  const columnLength = r.u32('column length');
  const type = r.u8('type');
  const flags = r.u16('flags');
  const decimals = r.u8('decimals');
  return { charset, columnLength, type, flags, decimals };
}

/** Only the type fields, skipping the names without decoding them. */
export function decodeColumnType(
  payload: Buffer,
  mariadbExtendedMetadata = false,
  start = 0,
  end = payload.length,
): Result<ColumnType> {
  return decodeWith(() => {
    const r = new PacketReader(payload, start, end);
    const strings = mariadbExtendedMetadata ? 7 : 6;
    for (let i = 0; i < strings; i++) r.skip(r.lenencInt('column name field'));
    const { charset, type, flags, decimals } = readFixedFields(r);
    return { charset, type, flags, decimals };
  });
}

export function isUnsignedColumn(c: Pick<ColumnType, 'flags'>): boolean {
  return (c.flags & UNSIGNED_FLAG) !== 0;
}

/** The `type` recorded in ResultColumn: 'VARCHAR', 'LONGLONG UNSIGNED'... */
export function columnTypeLabel(c: Pick<ColumnType, 'type' | 'flags'>): string {
  return isUnsignedColumn(c) ? `${typeName(c.type)} UNSIGNED` : typeName(c.type);
}

export interface ColumnDefinitionInput {
  readonly schema?: string;
  readonly table?: string;
  readonly orgTable?: string;
  readonly name: string;
  readonly orgName?: string;
  readonly charset: number;
  readonly columnLength: number;
  readonly type: number;
  readonly flags?: number;
  readonly decimals?: number;
}

export function encodeColumnDefinition(c: ColumnDefinitionInput, seq: number): Buffer {
  const w = new PacketWriter(64);
  w.lenencString('def')
    .lenencString(c.schema ?? '')
    .lenencString(c.table ?? '')
    .lenencString(c.orgTable ?? c.table ?? '')
    .lenencString(c.name)
    .lenencString(c.orgName ?? c.name)
    .lenencInt(0x0c)
    .u16(c.charset)
    .u32(c.columnLength)
    .u8(c.type)
    .u16(c.flags ?? 0)
    .u8(c.decimals ?? 0)
    .u16(0);
  return w.packet(seq);
}
