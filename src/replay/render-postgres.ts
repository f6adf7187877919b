/**
 * A PostgreSQL session as psql shows it: the prompt `user@target=>` (`=*>` inside a transaction,
 * `=!>` in a failed one, as psql's %x), the statement, then a result table with its `(N rows)`
 * footer, or the command tag, errors as `ERROR:  SQLSTATE: message` (psql's VERBOSITY verbose
 * form), notices as `NOTICE:  message`, and `Time:` as with \timing on.
 */
import type { SessionEvent } from '../model/session.js';
import { formatMs, plural } from './format.js';
import { psqlTable } from './render-table.js';
import { safeForTerminal } from './sanitize.js';
import { paramLiteral, SessionRenderer, safeLine } from './session-renderer.js';

type EventOf<K extends SessionEvent['kind']> = Extract<SessionEvent, { kind: K }>;

export class PostgresRenderer extends SessionRenderer {
  private txState: 'idle' | 'open' | 'failed' = 'idle';

  protected prompt(): string {
    const mark = this.txState === 'open' ? '*' : this.txState === 'failed' ? '!' : '';
    return `${this.user}@${this.target}=${mark}> `;
  }

  protected continuation(): string {
    return `${this.user}@${this.target}-> `;
  }

  protected params(params: readonly (string | null)[]): string {
    return `-- ${params.map((p, i) => `$${i + 1} = ${paramLiteral(p)}`).join(', ')}\n`;
  }

  protected result(e: EventOf<'result'>): string {
    const time = this.timing ? `Time: ${formatMs(e.durationUs)}\n` : '';
    if (e.fetched !== undefined || e.tag === 'SUSPENDED') return `${this.chunk(e)}${time}`;
    if (e.rowData) {
      const count = e.rows ?? e.rowData.length;
      const lines = psqlTable(e.columns, e.rowData);
      lines.push(`(${plural(count, 'row')})`);
      if (e.truncated || count > e.rowData.length) {
        lines.push(
          `-- dbtape: only the first ${plural(e.rowData.length, 'row was', 'rows were')} recorded (store.max_rows)`,
        );
      }
      return `${lines.join('\n')}\n\n${time}`;
    }
    if (e.columns) return `(${plural(e.rows ?? 0, 'row')})\n\n${time}`;
    if (e.tag === '') return time; // an empty query string: psql prints nothing
    return `${safeLine(e.tag)}\n${time}`;
  }

  /**
   * One Execute's share of a portal read in chunks (model/session.ts, `fetched`): its rows, then
   * how many it fetched; the statement's last result ends with all its rows' count, as psql's
   * footer would.
   */
  private chunk(e: EventOf<'result'>): string {
    const got = e.fetched ?? e.rows ?? 0;
    const lines = e.rowData && e.rowData.length > 0 ? psqlTable(e.columns, e.rowData) : [];
    if (e.rowData && got > e.rowData.length) {
      lines.push(
        e.rowData.length === 0
          ? '-- dbtape: these rows were not recorded (store.max_rows)'
          : `-- dbtape: only the first ${e.rowData.length} of these rows were recorded (store.max_rows)`,
      );
    }
    if (e.fetched === undefined) lines.push(`-- portal suspended after ${plural(got, 'row')}`);
    else {
      const more = `-- fetched ${plural(e.fetched, 'more row', 'more rows')}`;
      if (e.tag === 'SUSPENDED') lines.push(`${more} (${e.rows ?? 0} so far), portal suspended`);
      else lines.push(more, `(${plural(e.rows ?? 0, 'row')})`, '');
    }
    return `${lines.join('\n')}\n`;
  }

  protected error(e: EventOf<'error'>): string {
    const severity = safeLine(e.severity || 'ERROR');
    const code = e.code ? `${safeLine(e.code)}: ` : '';
    return `${severity}:  ${code}${safeForTerminal(e.message)}\n`;
  }

  protected notice(e: EventOf<'notice'>): string {
    return `${safeLine(e.severity || 'NOTICE')}:  ${safeForTerminal(e.message)}\n`;
  }

  protected override tx(e: EventOf<'tx'>): string {
    this.txState =
      e.state === 'begin' || e.state === 'recovered' ? 'open' : e.state === 'failed' ? 'failed' : 'idle';
    return super.tx(e);
  }
}
