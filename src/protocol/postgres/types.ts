/**
 * Rendering of parameter and column values for the recording: text-format values as
 * text; common binary formats decoded (PostgreSQL's *recv/*send functions define them);
 * anything else as hex. Never used on forwarded bytes.
 */

import { decodeWireText, type TextDecode } from '../../wire/text.js';
import { renderBinaryArray } from './binary-array.js';

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
  1001: '_bytea',
  1014: '_bpchar',
  1021: '_float4',
  1022: '_float8',
  1028: '_oid',
  1115: '_timestamp',
  1182: '_date',
  1185: '_timestamptz',
  1231: '_numeric',
  2951: '_uuid',
  199: '_json',
  3807: '_jsonb',
  650: 'cidr',
  869: 'inet',
  829: 'macaddr',
  774: 'macaddr8',
  790: 'money',
  1560: 'bit',
  1562: 'varbit',
  2205: 'regclass',
  3614: 'tsvector',
  3615: 'tsquery',
  3904: 'int4range',
  3926: 'int8range',
  3910: 'tstzrange',
  3912: 'daterange',
  28: 'xid',
  1033: 'aclitem',
  651: '_cidr',
  1041: '_inet',
  2249: 'record',
  2278: 'void',
};

export function typeName(oid: number): string {
  return TYPE_NAMES[oid] ?? `oid:${oid}`;
}

const TEXT_LIKE = new Set([18, 19, 25, 114, 142, 1042, 1043]);
/** Julian day number of PostgreSQL's epoch, 2000-01-01 (POSTGRES_EPOCH_JDATE). */
const PG_EPOCH_JDATE = 2_451_545;
const USECS_PER_DAY = 86_400_000_000n;
/** Valid ranges of date and timestamp (PostgreSQL's datatype/timestamp.h): 4714-11-24 BC on. */
const MIN_DATE = -PG_EPOCH_JDATE;
const END_DATE = 2_147_483_494 - PG_EPOCH_JDATE;
const MIN_TIMESTAMP = -211_813_488_000_000_000n;
const END_TIMESTAMP = 9_223_371_331_200_000_000n;

/**
 * Bytes of one value kept in a recording, as MySQL long data keeps (statements.ts): a 64 MiB bytea
 * parameter rendered whole (128 MiB of hex, then JSON, hashing and the store) cost dbtape more than
 * a gigabyte of memory and held every session's event loop while it was turned into text.
 */
export const RECORDED_VALUE_LIMIT = 64 * 1024;

/** Render one value for the recording. `format` 0 = text, 1 = binary; `oid` 0 = unknown. */
export function renderValue(
  value: Buffer | null,
  format: number,
  oid: number,
  limit = RECORDED_VALUE_LIMIT,
  text: TextDecode = decodeWireText,
): string | null {
  if (value === null) return null;
  if (value.length > limit)
    return `${renderPrefix(value.subarray(0, limit), format, oid, text)}... [truncated, ${value.length} bytes]`;
  // In the client's encoding, as statement text is; by default lossless (a SQL_ASCII database
  // sends bytes that are not UTF-8).
  if (format === 0) return text(value);
  try {
    return renderBinary(value, oid, text) ?? `\\x${value.toString('hex')}`;
  } catch {
    return `\\x${value.toString('hex')}`;
  }
}

/** The start of a value too long to keep: text as text (no character cut in two), anything else as hex. */
function renderPrefix(prefix: Buffer, format: number, oid: number, text: TextDecode): string {
  if (format === 0 || TEXT_LIKE.has(oid))
    return text === decodeWireText ? decodeWireText(withoutPartialCharacter(prefix)) : text(prefix);
  return `\\x${prefix.toString('hex')}`;
}

/** `b` without a UTF-8 sequence that its end cuts short (up to 3 bytes of a 2- to 4-byte character). */
function withoutPartialCharacter(b: Buffer): Buffer {
  for (let k = 1; k <= 3 && k <= b.length; k++) {
    const c = b[b.length - k]!;
    if ((c & 0xc0) === 0x80) continue;
    const need = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc0 ? 2 : 1;
    return need > k ? b.subarray(0, b.length - k) : b;
  }
  return b;
}

function renderBinary(v: Buffer, oid: number, text: TextDecode): string | null {
  if (TEXT_LIKE.has(oid)) return text(v);
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
      return v.length === 4 ? formatFloat(v.readFloatBE(0), true) : null;
    case 701:
      return v.length === 8 ? formatFloat(v.readDoubleBE(0), false) : null;
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
      return v.length >= 1 && v[0] === 1 ? text(v.subarray(1)) : null;
    default:
      return renderBinaryArray(v, oid, (e, eOid) => renderBinary(e, eOid, text));
  }
}

function formatUuid(h: string): string {
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20)}`;
}

/**
 * float4out/float8out as PostgreSQL 12+ print with extra_float_digits = 1 (the default): the shortest
 * digits that read back as the same value, fixed notation for decimal exponents -4 to 5 (float4) or
 * 14 (float8), else d.ddde±XX (src/common/f2s.c and d2s.c, to_chars).
 */
function formatFloat(x: number, single: boolean): string {
  if (Number.isNaN(x)) return 'NaN';
  if (!Number.isFinite(x)) return x > 0 ? 'Infinity' : '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0' : '0';
  const sign = x < 0 ? '-' : '';
  const { digits, e } = shortestDecimal(x, single);
  if (e >= -4 && e < (single ? 6 : 15)) {
    if (e < 0) return `${sign}0.${'0'.repeat(-e - 1)}${digits}`;
    const int = digits.slice(0, e + 1).padEnd(e + 1, '0');
    const frac = digits.slice(e + 1);
    return `${sign}${int}${frac ? `.${frac}` : ''}`;
  }
  const m = digits.length > 1 ? `${digits[0]}.${digits.slice(1)}` : digits;
  return `${sign}${m}e${e < 0 ? '-' : '+'}${String(Math.abs(e)).padStart(2, '0')}`;
}

const scratch = Buffer.alloc(8);

/**
 * Ryu's result as PostgreSQL configures it (acceptBounds off): the fewest significant digits whose
 * value lies strictly inside the interval of numbers that round to |x|, the closest such (ties to even).
 * Computed exactly with BigInt; only recording uses it, never the forwarding path.
 */
function shortestDecimal(x: number, single: boolean): { digits: string; e: number } {
  let m: bigint;
  let e2: number;
  let lowerGapHalved: boolean;
  if (single) {
    scratch.writeFloatBE(Math.abs(x));
    const bits = scratch.readUInt32BE(0);
    const biased = bits >>> 23;
    const frac = bits & 0x7fffff;
    m = BigInt(biased === 0 ? frac : frac | 0x800000);
    e2 = biased === 0 ? -149 : biased - 150;
    lowerGapHalved = frac === 0 && biased > 1;
  } else {
    scratch.writeDoubleBE(Math.abs(x));
    const hi = scratch.readUInt32BE(0);
    const biased = hi >>> 20;
    const frac = (BigInt(hi & 0xfffff) << 32n) | BigInt(scratch.readUInt32BE(4));
    m = biased === 0 ? frac : frac | (1n << 52n);
    e2 = biased === 0 ? -1074 : biased - 1075;
    lowerGapHalved = frac === 0n && biased > 1;
  }
  // |x| = m·2^e2; its exact decimal digits, and the decimal exponent of the first one.
  const exact = (e2 >= 0 ? m << BigInt(e2) : m * 5n ** BigInt(-e2)).toString();
  const e = exact.length - 1 + Math.min(e2, 0);
  for (let p = 1; ; p++) {
    const k = e - p + 1; // a candidate is C·10^k with p digits
    const truncated = BigInt(exact.slice(0, p).padEnd(p, '0'));
    const c = closestInside([truncated, truncated + 1n], k, m, e2, lowerGapHalved);
    if (c !== null) {
      const text = c.toString();
      return { digits: text.replace(/0+$/, ''), e: k + text.length - 1 };
    }
  }
}

/** Of the candidates C·10^k strictly inside the rounding interval of m·2^e2, the closest (ties: even C). */
function closestInside(
  cands: bigint[],
  k: number,
  m: bigint,
  e2: number,
  lowerGapHalved: boolean,
): bigint | null {
  // Integers in units of 2^(e2-2)·10^min(k,0)·2^min(2-e2,0)... scaled so every quantity is whole:
  // x is 4m units of 2^(e2-2), its neighbours' midpoints 4m+2 and 4m-2 (4m-1 below a power of two).
  const scaleX = 10n ** BigInt(Math.max(-k, 0)) * 2n ** BigInt(Math.max(e2 - 2, 0));
  const scaleC = 10n ** BigInt(Math.max(k, 0)) * 2n ** BigInt(Math.max(2 - e2, 0));
  const x = 4n * m * scaleX;
  const lo = (4n * m - (lowerGapHalved ? 1n : 2n)) * scaleX;
  const hi = (4n * m + 2n) * scaleX;
  let best: bigint | null = null;
  let bestDist = 0n;
  for (const c of cands) {
    const v = c * scaleC;
    if (v <= lo || v >= hi) continue;
    const dist = v > x ? v - x : x - v;
    if (best === null || dist < bestDist || (dist === bestDist && c % 2n === 0n)) {
      best = c;
      bestDist = dist;
    }
  }
  return best;
}

/** PostgreSQL's j2date (src/backend/utils/adt/datetime.c): Julian day to proleptic Gregorian date. */
function j2date(jd: number): [year: number, month: number, day: number] {
  let julian = jd + 32044;
  let quad = Math.floor(julian / 146097);
  const extra = (julian - quad * 146097) * 4 + 3;
  julian += 60 + quad * 3 + Math.floor(extra / 146097);
  quad = Math.floor(julian / 1461);
  julian -= quad * 1461;
  let y = Math.floor((julian * 4) / 1461);
  julian = (y !== 0 ? (julian + 305) % 365 : (julian + 306) % 366) + 123;
  y += quad * 4;
  quad = Math.floor((julian * 2141) / 65536);
  return [y - 4800, ((quad + 10) % 12) + 1, julian - Math.floor((7834 * quad) / 256)];
}

const pad2 = (n: number): string => String(n).padStart(2, '0');

/** ISO date as PostgreSQL prints it: 4-digit years or more, and ' BC' for year 0 and before. */
function isoDate(jd: number): { text: string; bc: boolean } {
  const [year, month, day] = j2date(jd);
  const bc = year <= 0;
  return { text: `${String(bc ? 1 - year : year).padStart(4, '0')}-${pad2(month)}-${pad2(day)}`, bc };
}

function formatDate(days: number): string | null {
  if (days === 0x7fffffff) return 'infinity';
  if (days === -0x80000000) return '-infinity';
  if (days < MIN_DATE || days >= END_DATE) return null;
  const { text, bc } = isoDate(days + PG_EPOCH_JDATE);
  return bc ? `${text} BC` : text;
}

/** timestamp2tm + EncodeDateTime (ISO): the zone of timestamptz is shown as UTC, '+00'. */
function formatTimestamp(us: bigint, tz: boolean): string | null {
  if (us === 0x7fffffffffffffffn) return 'infinity';
  if (us === -0x8000000000000000n) return '-infinity';
  if (us < MIN_TIMESTAMP || us >= END_TIMESTAMP) return null;
  let days = us / USECS_PER_DAY;
  let time = us - days * USECS_PER_DAY;
  if (time < 0n) {
    time += USECS_PER_DAY;
    days -= 1n;
  }
  const { text, bc } = isoDate(Number(days) + PG_EPOCH_JDATE);
  const secs = Number(time / 1_000_000n);
  const frac = Number(time % 1_000_000n);
  const clock = `${pad2(Math.floor(secs / 3600))}:${pad2(Math.floor(secs / 60) % 60)}:${pad2(secs % 60)}`;
  const fraction = frac === 0 ? '' : `.${String(frac).padStart(6, '0').replace(/0+$/, '')}`;
  return `${text} ${clock}${fraction}${tz ? '+00' : ''}${bc ? ' BC' : ''}`;
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
