/** The result pane: captured rows as a table, or the column list and counts; errors with SQLSTATE. */
import { formatDurationUs, plural } from '../format';
import { safeLine } from '../safe-text';
import { durationUsOf, type Statement } from '../statements';
import type { EventJson } from '../types';
import { Recorded } from './recorded';

export function ResultView({ s, ended }: { s: Statement; ended: boolean }) {
  return (
    <div class="result" data-testid="result-pane">
      {s.outcome === 'pending' &&
        (ended ? (
          <p class="muted" data-testid="unfinished">
            No outcome was recorded: the session ended while this statement was running.
          </p>
        ) : (
          <p class="muted">Running…</p>
        ))}
      {s.outcome === 'gap' && (
        <div class="notice-box warn">
          The recording lost {plural(s.query.lost ?? 0, 'event')} here (the store could not keep up or
          failed).
        </div>
      )}
      {s.outcome === 'denied' && s.error && (
        <div class="notice-box denied" data-testid="denied">
          <strong>Denied by policy</strong> <code>{safeLine(s.error.error?.code ?? '')}</code>
          <div>
            <Recorded text={s.error.error?.message ?? ''} />
          </div>
        </div>
      )}
      {s.outcome === 'login' && s.error && (
        <div class="notice-box denied" data-testid="login-refused">
          <strong>Login refused</strong> ({safeLine(s.error.failure ?? '')}){' '}
          <code>{safeLine(s.error.error?.code ?? '')}</code>
          <div>
            <Recorded text={s.error.error?.message ?? ''} />
          </div>
        </div>
      )}
      {s.error && s.outcome === 'error' && <ErrorBox e={s.error} />}
      {s.result && <ResultSummary s={s} r={s.result} />}
      {s.result?.row_data && <RowsTable r={s.result} />}
      {s.result && !s.result.row_data && s.result.columns && s.result.columns.length > 0 && (
        <p class="muted">
          Columns: {s.result.columns.map((c) => `${safeLine(c.name)} (${safeLine(c.type)})`).join(', ')}. Rows
          were not captured (<code>capture_results: summary</code>).
        </p>
      )}
      {s.extras.length > 0 && <Extras events={s.extras} />}
    </div>
  );
}

function ErrorBox({ e }: { e: EventJson }) {
  return (
    <div class="notice-box error" data-testid="error-box">
      <div>
        <strong>{safeLine(e.error?.severity ?? 'ERROR')}</strong>{' '}
        <span class="sqlstate">
          SQLSTATE {safeLine(e.error?.code ?? '')}
          {e.error?.errno !== undefined ? ` · error ${e.error.errno}` : ''}
        </span>
      </div>
      <div class="error-message">
        <Recorded text={e.error?.message ?? ''} />
      </div>
    </div>
  );
}

function ResultSummary({ s, r }: { s: Statement; r: EventJson }) {
  const d = durationUsOf(s);
  return (
    <div class="result-summary">
      <code class="tag">{safeLine(r.tag ?? '')}</code>
      {r.rows !== null && r.rows !== undefined && <span>{plural(r.rows, 'row')}</span>}
      {d !== null && <span>{formatDurationUs(d)}</span>}
      {s.fetches > 1 && <span data-testid="fetches">in {s.fetches} fetches</span>}
      {r.warnings ? <span>{plural(r.warnings, 'warning')}</span> : null}
    </div>
  );
}

function RowsTable({ r }: { r: EventJson }) {
  const cols = r.columns ?? [];
  const rows = r.row_data ?? [];
  const width = Math.max(cols.length, ...rows.map((row) => row.length));
  const heads = Array.from({ length: width }, (_, i) => cols[i] ?? { name: `column ${i + 1}`, type: '' });
  return (
    <div class="table-wrap">
      <table class="rows" data-testid="result-table">
        <thead>
          <tr>
            {heads.map((c, i) => (
              <th key={i} title={safeLine(c.type)}>
                {safeLine(c.name)}
                {c.type && <span class="coltype">{safeLine(c.type)}</span>}
              </th>
            ))}
          </tr>
        </thead>
        <tbody>
          {rows.map((row, i) => (
            <tr key={i}>
              {heads.map((_, j) => {
                const v = row[j];
                return (
                  <td key={j} class={v === null ? 'null' : undefined}>
                    {v === null || v === undefined ? 'NULL' : <Recorded text={v} line />}
                  </td>
                );
              })}
            </tr>
          ))}
        </tbody>
      </table>
      {r.truncated && (
        <p class="muted">
          Showing the first {plural(rows.length, 'row')}
          {r.rows ? ` of ${r.rows.toLocaleString()}` : ''} (store.max_rows).
        </p>
      )}
    </div>
  );
}

function Extras({ events }: { events: EventJson[] }) {
  return (
    <ul class="extras">
      {events.map((e) => (
        <li key={e.seq}>{describe(e)}</li>
      ))}
    </ul>
  );
}

/** What each recorded transaction state means; a state this UI does not know shows as stored. */
const TX_WORDS: Record<string, string | undefined> = {
  begin: 'started',
  commit: 'committed',
  rollback: 'rolled back',
  failed: 'failed: statements are ignored until it ends',
  recovered: 'recovered: rolled back to a savepoint, statements run again',
  prepared:
    'prepared: not committed until COMMIT PREPARED or XA COMMIT, from any session (ROLLBACK PREPARED or XA ROLLBACK discards it)',
};

function describe(e: EventJson): string {
  switch (e.kind) {
    case 'notice':
      return `${safeLine(e.severity ?? 'NOTICE')}: ${safeLine(e.message ?? '')}`;
    case 'copy':
      return `COPY ${e.direction === 'in' ? 'from the client' : 'to the client'}: ${(e.bytes ?? 0).toLocaleString()} bytes${
        e.rows !== null && e.rows !== undefined ? `, ${plural(e.rows, 'row')}` : ''
      }`;
    case 'tx':
      return `Transaction ${safeLine(TX_WORDS[e.state ?? ''] ?? e.state ?? '')}`;
    case 'command':
      return `Command: ${safeLine(e.command ?? '')}${e.detail ? ` ${safeLine(e.detail)}` : ''}`;
    case 'client':
      return `Client application: ${safeLine(e.application ?? '')}`;
    case 'notification':
      return `NOTIFY ${safeLine(e.channel ?? '')}: ${safeLine(e.payload ?? '')}`;
    case 'error':
      return `Error ${safeLine(e.error?.code ?? '')}: ${safeLine(e.error?.message ?? '')}`;
    case 'result':
      // A portal of an earlier statement, read on after this one ran.
      if (e.fetched !== undefined)
        return `Fetched ${plural(e.fetched, 'more row')} from an earlier statement's portal (${plural(e.rows ?? 0, 'row')} in all)`;
      return `Result: ${safeLine(e.tag ?? '')}`;
    default:
      return safeLine(e.kind);
  }
}
