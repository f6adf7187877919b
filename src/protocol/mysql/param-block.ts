/**
 * The parameter block shared by COM_STMT_EXECUTE and COM_QUERY with query attributes
 * (MySQL "COM_STMT_EXECUTE", "COM_QUERY"):
 *   NULL bitmap ((count + 7) / 8 bytes, bit i = parameter i is NULL), int<1> new_params_bind_flag,
 *   when 1: per parameter int<1> type, int<1> flags (0x80 = unsigned) [+ lenenc name with
 *   CLIENT_QUERY_ATTRIBUTES], then the non-NULL values in binary protocol form.
 * Parameters whose data came with COM_STMT_SEND_LONG_DATA have no value here.
 */
import { readBinaryValue } from './binary-values.js';
import { PARAM_FLAG_UNSIGNED } from './constants.js';
import { MysqlCodecError } from './errors.js';
import type { PacketReader } from './reader.js';

export interface ParamValueOptions {
  /** Cut string parameter values longer than this many bytes (see renderBytes). Default: no limit. */
  readonly maxValueBytes?: number;
}

export interface ParamBlock {
  /** Two bytes per parameter: type, flags; a copy, so it can be remembered for later executes. */
  readonly types: Uint8Array;
  /** Parameter names (query attributes); '' where unnamed or names are not sent. */
  readonly names: readonly string[];
  readonly values: readonly (string | null)[];
  readonly newParamsBound: boolean;
}

/** For a parameter fed by COM_STMT_SEND_LONG_DATA: its text; undefined for a normal parameter. */
export type LongDataLookup = (index: number) => string | undefined;

export function readParamBlock(
  r: PacketReader,
  count: number,
  rememberedTypes: Uint8Array | null,
  withNames: boolean,
  opts: ParamValueOptions,
  longData?: LongDataLookup,
): ParamBlock {
  const nullBitmap = r.bytes((count + 7) >> 3, 'NULL bitmap');
  const newParamsBound = r.u8('new_params_bind_flag') === 1;
  const names: string[] = new Array(count).fill('');
  let types: Uint8Array;
  if (newParamsBound) {
    types = new Uint8Array(count * 2);
    for (let i = 0; i < count; i++) {
      types[i * 2] = r.u8('parameter type');
      types[i * 2 + 1] = r.u8('parameter flags');
      if (withNames) names[i] = r.lenencString('parameter name');
    }
  } else if (rememberedTypes !== null && rememberedTypes.length >= count * 2) {
    types = rememberedTypes;
  } else {
    throw new MysqlCodecError(
      'DBTAPE_MYSQL_MALFORMED',
      'dbtape: parameters sent without types and no earlier execute bound them',
    );
  }
  const values: (string | null)[] = new Array(count);
  for (let i = 0; i < count; i++) {
    const long = longData?.(i);
    if (long !== undefined) values[i] = long;
    else if (nullBitmap[i >> 3] & (1 << (i & 7))) values[i] = null;
    else {
      values[i] = readBinaryValue(r, types[i * 2], {
        unsigned: (types[i * 2 + 1] & PARAM_FLAG_UNSIGNED) !== 0,
        encoding: 'auto',
        maxBytes: opts.maxValueBytes,
      });
    }
  }
  return { types, names, values, newParamsBound };
}
