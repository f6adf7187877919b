/** The statement pane: SQL, bound parameters, and the result pane below. */
import { formatOffset } from '../format';
import { safeLine } from '../safe-text';
import type { Statement } from '../statements';
import { Recorded } from './recorded';
import { ResultView } from './result-view';
import { SqlView } from './sql-view';

/** `ended`: the session is over, so a statement without an outcome will never get one. */
export function StatementDetail({ s, ended }: { s: Statement; ended: boolean }) {
  const unfinished = ended && s.outcome === 'pending';
  const params = s.query.params;
  return (
    <div data-testid="current-statement" data-seq={s.seq}>
      <header class="statement-head">
        <h2>
          Statement <a href={`#seq=${s.seq}`}>#{s.seq}</a>
        </h2>
        <span class="muted">
          at {formatOffset(s.offsetMs)}
          {s.query.via && s.query.via !== 'simple' ? ` · ${safeLine(s.query.via)}` : ''}
          {s.query.statement ? ` · prepared ${safeLine(s.query.statement)}` : ''}
        </span>
        <span class={`badge ${s.outcome}`}>{unfinished ? 'unfinished' : s.outcome}</span>
      </header>
      {s.outcome !== 'gap' && <SqlView sql={s.query.sql ?? ''} testId="statement-sql" />}
      {params && params.length > 0 && (
        <table class="params" data-testid="params">
          <tbody>
            {params.map((p, i) => (
              <tr key={i}>
                <th>${i + 1}</th>
                <td class={p === null ? 'null' : undefined}>{p === null ? 'NULL' : <Recorded text={p} />}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <ResultView s={s} ended={ended} />
    </div>
  );
}
