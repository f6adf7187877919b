/**
 * Result masking rules (roles[].masking). The proxy asks once per result set which columns need work
 * (`planColumns`); when none do it forwards rows untouched, so a role without masking, or a result
 * without matching columns and text columns, costs nothing per row.
 */
import type { MaskDetector, RoleMasking } from '../model/identity.js';
import { detectAndMask, maskWhole } from './detectors.js';
import { globToRegExp } from './function-rules.js';

export interface MaskColumn {
  /** The column's label in the result (RowDescription field name, MySQL column name). */
  readonly name: string;
  /**
   * The underlying column, when the server says (MySQL org_name; PostgreSQL via the table OID and
   * attribute number of RowDescription): an alias then does not escape a column rule.
   */
  readonly sourceName?: string | null;
  readonly table?: string | null;
  readonly schema?: string | null;
  /** A text-like type (text, varchar, json, ...): content detectors run only on those. Default true. */
  readonly textual?: boolean;
}

/** Returns the masked value, or null to leave it unchanged. */
export type ValueMasker = (value: string) => string | null;

interface ColumnPattern {
  readonly schema: RegExp | null;
  readonly table: RegExp | null;
  readonly column: RegExp;
}

export class MaskingRules {
  private readonly planCache = new Map<string, ValueMasker | null>();

  private constructor(
    /** One pattern list per granting role: a column rule applies when every role's list matches. */
    private readonly columnRules: readonly (readonly ColumnPattern[])[],
    readonly detectors: readonly MaskDetector[],
  ) {}

  /**
   * Rules for a user whose roles grant a target. Roles are alternatives, so a value is masked only
   * where every role would mask it: null (no masking) when any role has none.
   */
  static forRoles(list: readonly (RoleMasking | undefined)[]): MaskingRules | null {
    if (list.length === 0 || list.some((m) => m === undefined)) return null;
    const masks = list as RoleMasking[];
    const columnRules = masks.map((m) => m.columns.map(columnPattern));
    const detectors = masks[0]!.detectors.filter((d) => masks.every((m) => m.detectors.includes(d)));
    if (columnRules.some((r) => r.length === 0) && detectors.length === 0) return null;
    return new MaskingRules(columnRules, detectors);
  }

  /** A masker per column (null where nothing applies), or null when no column needs any work. */
  planColumns(columns: readonly MaskColumn[]): (ValueMasker | null)[] | null {
    const plan = columns.map((c) => this.maskerFor(c));
    return plan.some((m) => m !== null) ? plan : null;
  }

  /** Whether any column could be masked by name (every granting role has column rules). */
  get hasColumnRules(): boolean {
    return this.columnRules.length > 0 && this.columnRules.every((rules) => rules.length > 0);
  }

  /** Whether a column rule (not a detector) covers `c`. Not cached: for scanning a catalog. */
  coversColumn(c: MaskColumn): boolean {
    const names = [c.name, c.sourceName].filter((n): n is string => !!n).map((n) => n.toLowerCase());
    return (
      this.columnRules.length > 0 &&
      this.columnRules.every((rules) => rules.some((p) => names.some((n) => matches(p, c, n))))
    );
  }

  /**
   * A server message (an error or notice text) with what any content detector finds masked:
   * `SELECT email::int` fails with the value quoted in the error, so a message can carry any
   * column's value, with no column to match a rule against.
   */
  maskMessage(text: string): string | null {
    return detectAndMask(text, ALL_DETECTORS);
  }

  /** Masks one value of `column`; null: unchanged. */
  maskValue(value: string, column: MaskColumn): string | null {
    return this.maskerFor(column)?.(value) ?? null;
  }

  private maskerFor(c: MaskColumn): ValueMasker | null {
    const key = `${c.schema ?? ''}\u0000${c.table ?? ''}\u0000${c.sourceName ?? ''}\u0000${c.name}\u0000${c.textual !== false}`;
    const cached = this.planCache.get(key);
    if (cached !== undefined) return cached;
    const masker = this.buildMasker(c);
    if (this.planCache.size < 10_000) this.planCache.set(key, masker);
    return masker;
  }

  private buildMasker(c: MaskColumn): ValueMasker | null {
    if (this.coversColumn(c)) return c.textual === false ? zeroDigits : maskWithShape(this.detectors);
    if (this.detectors.length === 0 || c.textual === false) return null;
    const detectors = this.detectors;
    return (v) => detectAndMask(v, detectors);
  }
}

const ALL_DETECTORS: readonly MaskDetector[] = ['iban', 'card', 'email', 'phone'];

/** A column rule: detectors still shape the value when one recognises it, otherwise `maskWhole`. */
function maskWithShape(detectors: readonly MaskDetector[]): ValueMasker {
  return (v) => {
    const shaped = detectAndMask(v, detectors.length > 0 ? detectors : ALL_DETECTORS);
    return shaped ?? (v === '' ? null : maskWhole(v));
  };
}

/**
 * A non-text column (a salary, a card number kept in a bigint) masked by name: every digit becomes 0,
 * so the text still parses as the same type. In binary result formats the proxy should send SQL NULL
 * instead, since the bytes of a number cannot be masked in place.
 */
function zeroDigits(v: string): string | null {
  const out = v.replace(/[1-9]/g, '0');
  return out === v ? null : out;
}

/** `column`, `table.column` or `schema.table.column`, each part a `*` glob. */
function columnPattern(text: string): ColumnPattern {
  const parts = text.toLowerCase().split('.');
  // `*` for a table or schema matches even when the column's origin is unknown.
  const part = (i: number) =>
    parts.length > i && parts[parts.length - 1 - i] !== '*'
      ? globToRegExp(parts[parts.length - 1 - i]!)
      : null;
  return { schema: part(2), table: part(1), column: globToRegExp(parts[parts.length - 1]!) };
}

function matches(p: ColumnPattern, c: MaskColumn, name: string): boolean {
  if (!p.column.test(name)) return false;
  // A table or schema part can only match when the server told us the column's origin.
  if (p.table && !(c.table && p.table.test(c.table.toLowerCase()))) return false;
  if (p.schema && !(c.schema && p.schema.test(c.schema.toLowerCase()))) return false;
  return true;
}
