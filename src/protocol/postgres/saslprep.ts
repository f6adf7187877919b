/**
 * SASLprep (RFC 4013, a stringprep profile, RFC 3454) of a password, the way PostgreSQL applies it
 * before SCRAM hashing (src/common/saslprep.c). PostgreSQL's rules, which we must match bit for bit or
 * users cannot log in:
 * - pure ASCII input is used as is, with no checks at all;
 * - input that is not valid SASLprep input is not an error: the raw UTF-8 bytes are used instead;
 * - the prohibited, unassigned and bidi checks look at the mapped input *before* NFKC (a quirk of
 *   PostgreSQL's implementation that libpq shares), while the result is the NFKC form;
 * - an input that maps to nothing is prohibited (so the raw bytes are used).
 */
import {
  L_CAT,
  MAPPED_TO_NOTHING,
  NON_ASCII_SPACE,
  PROHIBITED,
  RAND_AL_CAT,
  UNASSIGNED,
} from './saslprep-tables.js';

/** Sorted inclusive ranges, flattened: [lo0, hi0, lo1, hi1, ...]. */
type RangeTable = Uint32Array;

function parseTable(spec: string): RangeTable {
  const parts = spec.split(',');
  const out = new Uint32Array(parts.length * 2);
  parts.forEach((part, i) => {
    const [lo, hi = lo] = part.split('-');
    out[2 * i] = Number.parseInt(lo, 16);
    out[2 * i + 1] = Number.parseInt(hi, 16);
  });
  return out;
}

function inTable(table: RangeTable, cp: number): boolean {
  let lo = 0;
  let hi = table.length / 2 - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (cp < table[2 * mid]) hi = mid - 1;
    else if (cp > table[2 * mid + 1]) lo = mid + 1;
    else return true;
  }
  return false;
}

let tables: Record<'space' | 'nothing' | 'prohibited' | 'unassigned' | 'randAL' | 'l', RangeTable> | null =
  null;

/** Parsed on first non-ASCII password only: most passwords never need them. */
function getTables(): NonNullable<typeof tables> {
  tables ??= {
    space: parseTable(NON_ASCII_SPACE),
    nothing: parseTable(MAPPED_TO_NOTHING),
    prohibited: parseTable(PROHIBITED),
    unassigned: parseTable(UNASSIGNED),
    randAL: parseTable(RAND_AL_CAT),
    l: parseTable(L_CAT),
  };
  return tables;
}

const ASCII_ONLY = /^[\x00-\x7f]*$/;
const LONE_SURROGATE = /\p{Cs}/u;

/**
 * The SASLprep form of `password`, or null when it is not valid SASLprep input (prohibited or
 * unassigned characters, bad bidi, empty after mapping, or not valid Unicode).
 */
export function saslprep(password: string): string | null {
  if (ASCII_ONLY.test(password)) return password;
  // A lone surrogate cannot be encoded as UTF-8: PostgreSQL would see invalid UTF-8.
  if (LONE_SURROGATE.test(password)) return null;
  const t = getTables();
  const mapped: number[] = [];
  for (const ch of password) {
    const cp = ch.codePointAt(0)!;
    if (inTable(t.space, cp)) mapped.push(0x20);
    else if (!inTable(t.nothing, cp)) mapped.push(cp);
  }
  if (mapped.length === 0) return null;
  // RFC 4013 section 2.3 (prohibited) and 2.5 (unassigned), checked on the mapped input as PostgreSQL does.
  for (const cp of mapped) {
    if (inTable(t.prohibited, cp) || inTable(t.unassigned, cp)) return null;
  }
  if (!bidiOk(mapped, t.randAL, t.l)) return null;
  // Not String.fromCodePoint(...mapped): a long password would overflow the argument limit.
  return mapped
    .map((cp) => String.fromCodePoint(cp))
    .join('')
    .normalize('NFKC');
}

/** RFC 3454 section 6: with any RandALCat character, no LCat, and RandALCat first and last. */
function bidiOk(cps: readonly number[], randAL: RangeTable, l: RangeTable): boolean {
  if (!cps.some((cp) => inTable(randAL, cp))) return true;
  if (cps.some((cp) => inTable(l, cp))) return false;
  return inTable(randAL, cps[0]) && inTable(randAL, cps[cps.length - 1]);
}

/** The bytes SCRAM hashes for `password`: its SASLprep form, else its raw UTF-8, as PostgreSQL does. */
export function scramPasswordBytes(password: string): Buffer {
  return Buffer.from(saslprep(password) ?? password, 'utf8');
}
