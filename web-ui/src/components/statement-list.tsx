/** The player's list of statements: one line each, the current one marked and kept in view. */
import { useEffect, useRef } from 'preact/hooks';
import { formatDurationUs, plural } from '../format';
import { durationUsOf, type Statement } from '../statements';
import { Recorded } from './recorded';

/** Long sessions list only the statements around the current one; the timeline reaches the rest. */
const WINDOW = 300;

export function StatementWindow(props: {
  statements: Statement[];
  current: number;
  onSelect: (i: number) => void;
}) {
  const { statements, current, onSelect } = props;
  const from = statements.length > 3 * WINDOW ? Math.max(0, current - WINDOW) : 0;
  const to =
    statements.length > 3 * WINDOW ? Math.min(statements.length, current + WINDOW + 1) : statements.length;
  return (
    <ol start={from + 1}>
      {from > 0 && (
        <li class="muted small window-note">
          <button type="button" class="link" onClick={() => onSelect(from - 1)}>
            {plural(from, 'earlier statement')}
          </button>
        </li>
      )}
      {statements.slice(from, to).map((st, k) => (
        <StatementItem
          key={st.seq}
          st={st}
          active={from + k === current}
          onClick={() => onSelect(from + k)}
        />
      ))}
      {to < statements.length && (
        <li class="muted small window-note">
          <button type="button" class="link" onClick={() => onSelect(to)}>
            {plural(statements.length - to, 'later statement')}
          </button>
        </li>
      )}
    </ol>
  );
}

/** The first 300 characters, not cutting an emoji in half (which would show as a marker). */
function head(text: string): string {
  return text.slice(0, /[\ud800-\udbff]/.test(text[299] ?? '') ? 299 : 300);
}

function StatementItem({ st, active, onClick }: { st: Statement; active: boolean; onClick: () => void }) {
  const ref = useRef<HTMLButtonElement>(null);
  useEffect(() => {
    if (active) ref.current?.scrollIntoView({ block: 'nearest' });
  }, [active]);
  const d = durationUsOf(st);
  const text =
    st.outcome === 'gap'
      ? `(${st.query.lost ?? 0} events lost)`
      : st.outcome === 'login'
        ? `(login refused: ${st.query.failure ?? ''})`
        : (st.query.sql ?? '');
  return (
    <li>
      <button
        type="button"
        ref={ref}
        class={`statement-item ${st.outcome} ${active ? 'active' : ''}`}
        onClick={onClick}
        data-testid="statement-item"
        data-seq={st.seq}
        aria-current={active ? 'true' : undefined}
      >
        <span class="seq">#{st.seq}</span>
        <span class="sql-line">
          <Recorded text={head(text)} line />
        </span>
        <span class="dur">{d !== null ? formatDurationUs(d) : st.outcome === 'pending' ? '…' : ''}</span>
      </button>
    </li>
  );
}
