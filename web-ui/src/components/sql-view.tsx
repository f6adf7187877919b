/** SQL with syntax colours; every piece of it a text node, control characters made visible. */
import { useMemo } from 'preact/hooks';
import { tokenizeSql } from '../sql-tokens';
import { Recorded } from './recorded';

export function SqlView({ sql, testId }: { sql: string; testId?: string }) {
  // A CRLF is one line break (safe-text.ts); joined first, since a token may end between the two.
  const tokens = useMemo(() => tokenizeSql(sql.replace(/\r\n/g, '\n')), [sql]);
  return (
    <pre class="sql" data-testid={testId}>
      {tokens.map((t, i) =>
        t.type === 'text' ? (
          <Recorded key={i} text={t.text} />
        ) : (
          <span key={i} class={`tok-${t.type}`}>
            <Recorded text={t.text} />
          </span>
        ),
      )}
    </pre>
  );
}
