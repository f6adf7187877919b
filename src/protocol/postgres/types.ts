/**
 * Rendering of parameter and column values for the recording: text-format values as
 * text; common binary formats decoded (PostgreSQL's *recv/*send functions define them);
 * anything else as hex. Never used on forwarded bytes.
 */

const TYPE_NAMES: Record<number, string> = {
  16: 'bool',
  17: 'bytea',
  18: 'char',
  19: 'name',
  20: 'int8',
  21: 'int2',
  23: 'int4',
  25: 'text',
  26: 'oid',
  114: 'json',
  142: 'xml',
  700: 'float4',
  701: 'float8',
  1042: 'bpchar',
  1043: 'varchar',
  1082: 'date',
  1083: 'time',
  1114: 'timestamp',
  1184: 'timestamptz',
  1186: 'interval',
  1266: 'timetz',
  1700: 'numeric',
  2950: 'uuid',
  3802: 'jsonb',
  1000: '_bool',
  1005: '_int2',
  1007: '_int4',
  1016: '_int8',
  1009: '_text',
  1015: '_varchar',
  2249: 'record',
  2278: 'void',
};

export function typeName(oid: number): string {
  return TYPE_NAMES[oid] ?? `oid:${oid}`;
}

const TEXT_LIKE = new Set([18, 19, 25, 114, 142, 1042, 1043]);
/** Microseconds between 1970-01-01 and PostgreSQL's epoch 2000-01-01. */
const PG_EPOCH_US = 946_684_800_000_000n;
const PG_EPOCH_DAYS = 10_957;

/** Render one value for the recording. `format` 0 = text, 1 = binary; `oid` 0 = unknown. */
export function renderValue(value: Buffer | null, format: number, oid: number): string | null {
  if (value === null) return null;
  if (format === 0) return value.toString('utf8');
  try {
    return renderBinary(value, oid) ?? `\\x${value.toString('hex')}`;
  } catch {
    return `\\x${value.toString('hex')}`;
  }
}

function renderBinary(v: Buffer, oid: number): string | null {
  if (TEXT_LIKE.has(oid)) return v.toString('utf8');
  switch (oid) {
    case 16:
      return v.length === 1 ? (v[0] ? 't' : 'f') : null;
    case 17:
      return `\\x${v.toString('hex')}`;
    case 21:
      return v.length === 2 ? String(v.readInt16BE(0)) : null;
    case 23:
    case 26:
      return v.length === 4 ? String(oid === 26 ? v.readUInt32BE(0) : v.readInt32BE(0)) : null;
    case 20:
      return v.length === 8 ? v.readBigInt64BE(0).toString() : null;
    case 700:
      return v.length === 4 ? String(v.readFloatBE(0)) : null;
    case 701:
      return v.length === 8 ? String(v.readDoubleBE(0)) : null;
    case 2950:
      return v.length === 16 ? formatUuid(v.toString('hex')) : null;
    case 1082:
      return v.length === 4 ? formatDate(v.readInt32BE(0)) : null;
    case 1114:
    case 1184:
      return v.length === 8 ? formatTimestamp(v.readBigInt64BE(0), oid === 1184) : null;
    case 1700:
      return formatNumeric(v);
    case 3802:
      return v.length >= 1 && v[0] === 1 ? v.toString('utf8', 1) : null;
    default:
      return null;
  }
}

function formatUuid(h: string): string {
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

function formatDate(days: number): string {
  if (days === 0x7fffffff) return 'infinity';
  if (days === -0x80000000) return '-infinity';
  return new Date((days + PG_EPOCH_DAYS) * 86_400_000).toISOString().slice(0, 10);
}

function formatTimestamp(us: bigint, tz: boolean): string {
  if (us === 0x7fffffffffffffffn) return 'infinity';
  if (us === -0x8000000000000000n) return '-infinity';
  const unixUs = us + PG_EPOCH_US;
  const ms = unixUs / 1000n;
  const frac = ((unixUs % 1_000_000n) + 1_000_000n) % 1_000_000n;
  const iso = new Date(Number(ms)).toISOString(); // YYYY-MM-DDTHH:MM:SS.mmmZ
  const base = `${iso.slice(0, 10)} ${iso.slice(11, 19)}`;
  const fraction = frac === 0n ? '' : `.${frac.toString().padStart(6, '0').replace(/0+$/, '')}`;
  return `${base}${fraction}${tz ? '+00' : ''}`;
}

/** numeric binary format: ndigits, weight, sign, dscale, then base-10000 digits. */
function formatNumeric(v: Buffer): string | null {
  if (v.length < 8) return null;
  const ndigits = v.readInt16BE(0);
  const weight = v.readInt16BE(2);
  const sign = v.readUInt16BE(4);
  const dscale = v.readInt16BE(6);
  if (v.length !== 8 + ndigits * 2) return null;
  if (sign === 0xc000) return 'NaN';
  if (sign === 0xd000) return 'Infinity';
  if (sign === 0xf000) return '-Infinity';
  const digits: number[] = [];
  for (let i = 0; i < ndigits; i++) digits.push(v.readInt16BE(8 + i * 2));
  let intPart = '';
  for (let i = 0; i <= weight; i++) {
    const d = digits[i] ?? 0;
    intPart += i === 0 ? String(d) : String(d).padStart(4, '0');
  }
  if (intPart === '') intPart = '0';
  let fracPart = '';
  for (let i = weight + 1; fracPart.length < dscale; i++) {
    const d = i >= 0 ? (digits[i] ?? 0) : 0;
    fracPart += String(d).padStart(4, '0');
  }
  fracPart = fracPart.slice(0, dscale);
  const s = fracPart ? `${intPart}.${fracPart}` : intPart;
  return sign === 0x4000 ? `-${s}` : s;
}
