/** Search hits: the snippet with matches marked, linking to the statement in its session. */
import { formatTime } from '../format';
import { linkClick } from '../router';
import { safeLine, snippetParts } from '../safe-text';
import type { SearchHitJson } from '../types';
import { PieceView } from './recorded';

export function SearchResults({ hits, q }: { hits: SearchHitJson[]; q: string }) {
  return (
    <section class="card search-results" data-testid="search-results">
      <h2>
        {hits.length === 0
          ? 'No statements match'
          : `${hits.length}${hits.length === 100 ? '+' : ''} ${hits.length === 1 ? 'statement matches' : 'statements match'}`}{' '}
        <q>{safeLine(q)}</q>
      </h2>
      <ol>
        {hits.map((h) => (
          <li key={`${h.session_id}-${h.seq}`} class={h.failed ? 'failed' : undefined}>
            <a
              href={`/sessions/${encodeURIComponent(h.session_id)}#seq=${h.seq}`}
              onClick={linkClick}
              data-testid="search-hit"
            >
              <code class="snippet">
                {snippetParts(h.snippet).map((p, i) =>
                  p.match ? (
                    <mark key={i}>
                      <PieceView p={p} />
                    </mark>
                  ) : (
                    <PieceView key={i} p={p} />
                  ),
                )}
              </code>
            </a>
            <div class="hit-meta muted">
              {safeLine(h.user)} → {safeLine(h.target)} · {formatTime(h.at)} · #{h.seq}
              {h.kind === 'denied' && <span class="badge denied">denied</span>}
              {h.failed && <span class="badge error">error</span>}
            </div>
          </li>
        ))}
      </ol>
    </section>
  );
}
