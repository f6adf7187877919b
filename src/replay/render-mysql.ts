/**
 * A MySQL/MariaDB session as the mysql client shows it: the prompt `user@target mysql>`, `->`
 * for continuation lines, boxed `+---+` tables, `N rows in set (0.00 sec)`, `Empty set`,
 * `Query OK, N rows affected`, and `ERROR 1146 (42S02): message` (client/mysql.cc).
 */
import type { SessionEvent } from '../model/session.js';
import { plural } from './format.js';
import { mysqlTable } from './render-table.js';
import { safeForTerminal } from './sanitize.js';
import { paramLiteral, SessionRenderer, safeLine } from './session-renderer.js';

type EventOf<K extends SessionEvent['kind']> = Extract<SessionEvent, { kind: K }>;

/** mysql prints elapsed time with two decimals: `(0.01 sec)`. */
function sec(us: number): string {
  return `(${(us / 1_000_000).toFixed(2)} sec)`;
}

export class MysqlRenderer extends SessionRenderer {
  protected prompt(): string {
    return `${this.user}@${this.target} mysql> `;
  }

  protected continuation(): string {
    // mysql right-aligns `->` under its prompt.
    const width = [...this.prompt()].length;
    return `${' '.repeat(Math.max(0, width - 3))}-> `;
  }

  protected params(params: readonly (string | null)[]): string {
    return `-- ${params.map((p, i) => `?${i + 1} = ${paramLiteral(p)}`).join(', ')}\n`;
  }

  protected result(e: EventOf<'result'>): string {
    const time = this.timing ? ` ${sec(e.durationUs)}` : '';
    const warnings = e.warnings ? `, ${plural(e.warnings, 'warning')}` : '';
    if (e.columns || e.rowData) {
      const count = e.rows ?? e.rowData?.length ?? 0;
      if (count === 0) return `Empty set${warnings}${time}\n\n`;
      const lines = e.rowData ? mysqlTable(e.columns, e.rowData) : [];
      lines.push(`${plural(count, 'row')} in set${warnings}${time}`);
      if (e.rowData && (e.truncated || count > e.rowData.length)) {
        lines.push(
          `-- dbtape: only the first ${plural(e.rowData.length, 'row was', 'rows were')} recorded (store.max_rows)`,
        );
      }
      return `${lines.join('\n')}\n\n`;
    }
    return `Query OK, ${plural(e.rows ?? 0, 'row')} affected${warnings}${time}\n\n`;
  }

  protected error(e: EventOf<'error'>): string {
    const errno = e.errno === undefined ? '' : ` ${e.errno}`;
    const code = e.code ? ` (${safeLine(e.code)})` : '';
    return `ERROR${errno}${code}: ${safeForTerminal(e.message)}\n`;
  }

  protected notice(e: EventOf<'notice'>): string {
    const code = e.code ? ` (Code ${safeLine(e.code)})` : '';
    return `${safeLine(e.severity || 'Note')}${code}: ${safeForTerminal(e.message)}\n`;
  }
}
