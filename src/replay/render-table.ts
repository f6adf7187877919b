/**
 * Result tables as the database clients draw them: psql's "aligned" format and the mysql
 * client's boxed format. Cells are made terminal-safe here, one line at a time, so nothing a
 * recorded row holds reaches the terminal raw; widths count terminal columns (text-width.ts).
 */
import type { ResultColumn } from '../model/session.js';
import { safeForTerminal } from './sanitize.js';
import { centerWidth, displayWidth, padEndWidth, padStartWidth } from './text-width.js';

export type Cell = string | null;

/** Type names both clients right-align (psql: numeric types; mysql: IS_NUM field types). */
const NUMERIC = new Set([
  'int2',
  'int4',
  'int8',
  'float4',
  'float8',
  'numeric',
  'oid',
  'money',
  'DECIMAL',
  'NEWDECIMAL',
  'TINY',
  'SHORT',
  'LONG',
  'INT24',
  'LONGLONG',
  'FLOAT',
  'DOUBLE',
  'YEAR',
]);

export function isNumericType(type: string): boolean {
  return NUMERIC.has(type.replace(/ UNSIGNED$/, ''));
}

interface Prepared {
  readonly headers: string[];
  readonly right: boolean[];
  /** rows → cells → lines of the cell (a cell with newlines spans several lines). */
  readonly cells: string[][][];
  readonly widths: number[];
}

function prepare(
  columns: readonly ResultColumn[] | undefined,
  rows: readonly (readonly Cell[])[],
  nullText: string,
): Prepared {
  const count = Math.max(columns?.length ?? 0, ...rows.map((r) => r.length));
  const headers = Array.from({ length: count }, (_, i) =>
    safeForTerminal(columns?.[i]?.name ?? `?column${i + 1}?`, { singleLine: true }),
  );
  const right = Array.from({ length: count }, (_, i) => isNumericType(columns?.[i]?.type ?? ''));
  const cells = rows.map((row) =>
    Array.from({ length: count }, (_, i) => {
      const v = row[i];
      const text = v === null || v === undefined ? nullText : v;
      return text.split('\n').map((line) => safeForTerminal(line, { singleLine: true }));
    }),
  );
  const widths = headers.map((h) => displayWidth(h));
  for (const row of cells) {
    row.forEach((lines, i) => {
      for (const line of lines) widths[i] = Math.max(widths[i]!, displayWidth(line));
    });
  }
  return { headers, right, cells, widths };
}

/**
 * psql's aligned format (src/bin/psql/print.c, print_aligned_text): centred headers, `-+-` rule,
 * numbers right-aligned, a `+` after a cell line that continues on the next line, NULL shown as
 * empty (psql's default \pset null).
 */
export function psqlTable(
  columns: readonly ResultColumn[] | undefined,
  rows: readonly (readonly Cell[])[],
): string[] {
  const t = prepare(columns, rows, '');
  const last = t.widths.length - 1;
  const out = [t.headers.map((h, i) => ` ${centerWidth(h, t.widths[i]!)} `).join('|')];
  out.push(t.widths.map((w) => '-'.repeat(w + 2)).join('+'));
  for (const row of t.cells) {
    const height = Math.max(1, ...row.map((lines) => lines.length));
    for (let l = 0; l < height; l++) {
      let line = '';
      row.forEach((lines, i) => {
        line += `${i > 0 ? '|' : ''} `;
        const w = t.widths[i]!;
        if (l >= lines.length) {
          // Below a shorter cell psql pads every column but the last.
          if (i !== last) line += `${' '.repeat(w)} `;
          return;
        }
        const text = lines[l]!;
        const more = l < lines.length - 1;
        // The last column is padded only when right-aligned or when a `+` follows it.
        if (t.right[i]) line += padStartWidth(text, w);
        else line += i === last && !more ? text : padEndWidth(text, w);
        line += more ? '+' : i === last ? '' : ' ';
      });
      out.push(line);
    }
  }
  return out;
}

/** The mysql client's table (client/mysql.cc, print_table_data): `+---+` rules, NULL shown as NULL. */
export function mysqlTable(
  columns: readonly ResultColumn[] | undefined,
  rows: readonly (readonly Cell[])[],
): string[] {
  const t = prepare(columns, rows, 'NULL');
  const rule = `+${t.widths.map((w) => '-'.repeat(w + 2)).join('+')}+`;
  const out = [rule, `|${t.headers.map((h, i) => ` ${padEndWidth(h, t.widths[i]!)} `).join('|')}|`, rule];
  for (const row of t.cells) {
    const height = Math.max(1, ...row.map((lines) => lines.length));
    for (let l = 0; l < height; l++) {
      const parts = row.map((lines, i) => {
        const text = lines[l] ?? '';
        return ` ${t.right[i] ? padStartWidth(text, t.widths[i]!) : padEndWidth(text, t.widths[i]!)} `;
      });
      out.push(`|${parts.join('|')}|`);
    }
  }
  if (t.cells.length > 0) out.push(rule);
  return out;
}

/**
 * Plain columns for listings (`dbtape sessions`): a header row, then rows, two spaces apart,
 * aligned by display width. Cells must already be terminal-safe.
 */
export function plainTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
  rightAligned: readonly number[] = [],
): string[] {
  const all = [header, ...rows];
  const widths = header.map((_, i) => Math.max(...all.map((r) => displayWidth(r[i] ?? ''))));
  const right = new Set(rightAligned);
  return all.map((r) =>
    r
      .map((cell, i) => (right.has(i) ? padStartWidth(cell, widths[i]!) : padEndWidth(cell, widths[i]!)))
      .join('  ')
      .trimEnd(),
  );
}
