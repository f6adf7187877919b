/**
 * The session list: filters (kept in the URL), full-text search with highlighted snippets,
 * cursor paging, a statements-per-minute chart, and live updates: sessions that start while the
 * page is open appear at once (GET /api/live), their counts move, and their end is shown.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import * as api from '../api';
import { MinuteChart } from '../components/charts';
import { SearchResults } from '../components/search-results';
import { SessionTable } from '../components/session-table';
import { linkClick, navigate } from '../router';
import type { LiveMessage, Me, MinuteJson, SearchHitJson, SessionJson } from '../types';

interface Filters {
  user: string;
  target: string;
  protocol: string;
  since: string;
  errors: boolean;
  live: boolean;
  q: string;
}

const RANGES: readonly [string, string][] = [
  ['', 'Any time'],
  ['15m', 'Last 15 minutes'],
  ['1h', 'Last hour'],
  ['24h', 'Last 24 hours'],
  ['7d', 'Last 7 days'],
  ['30d', 'Last 30 days'],
];

function readFilters(search: string): Filters {
  const p = new URLSearchParams(search);
  return {
    user: p.get('user') ?? '',
    target: p.get('target') ?? '',
    protocol: p.get('protocol') ?? '',
    since: p.get('since') ?? '',
    errors: p.get('errors') === 'true',
    live: p.get('active') === 'true',
    q: p.get('q') ?? '',
  };
}

function toSearch(f: Filters): string {
  const p = new URLSearchParams();
  if (f.user) p.set('user', f.user);
  if (f.target) p.set('target', f.target);
  if (f.protocol) p.set('protocol', f.protocol);
  if (f.since) p.set('since', f.since);
  if (f.errors) p.set('errors', 'true');
  if (f.live) p.set('active', 'true');
  if (f.q) p.set('q', f.q);
  const s = p.toString();
  return s ? `?${s}` : '';
}

function query(f: Filters): api.SessionQuery {
  return {
    user: f.user || undefined,
    target: f.target || undefined,
    protocol: f.protocol || undefined,
    since: f.since || undefined,
    errors: f.errors || undefined,
    active: f.live || undefined,
    limit: 50,
  };
}

/** Whether a session that has just started belongs in the list as filtered. */
function matches(s: SessionJson, f: Filters): boolean {
  if (f.user && s.user !== f.user) return false;
  if (f.target && s.target !== f.target) return false;
  if (f.protocol && s.protocol !== f.protocol) return false;
  return !f.errors;
}

/**
 * What the page shows, with the URL query (`search`) it answers: the list, the hits and the error
 * are set together and only ever shown for that query, so a search that fails or is still loading
 * cannot leave the previous query's hits on screen under the new query's words.
 */
interface View {
  readonly search: string | null;
  readonly sessions: SessionJson[];
  readonly next: string | null;
  readonly hits: SearchHitJson[] | null;
  readonly error: string | null;
}

const message = (err: unknown) => (err instanceof Error ? err.message : String(err));

async function load(search: string): Promise<View> {
  const f = readFilters(search);
  const [list, found] = await Promise.allSettled([
    api.listSessions(query(f)),
    f.q ? api.search(f.q, query(f)) : Promise.resolve(null),
  ]);
  const failed = [list, found].find((r) => r.status === 'rejected');
  return {
    search,
    sessions: list.status === 'fulfilled' ? list.value.sessions : [],
    next: list.status === 'fulfilled' ? list.value.next : null,
    hits: found.status === 'fulfilled' ? found.value : null,
    error: failed ? message(failed.reason) : null,
  };
}

export function SessionsPage({ me, search }: { me: Me; search: string }) {
  const filters = readFilters(search);
  const [draft, setDraft] = useState<Filters>(filters);
  const [view, setView] = useState<View>({ search: null, sessions: [], next: null, hits: null, error: null });
  const [minutes, setMinutes] = useState<MinuteJson[]>([]);
  const [, setTick] = useState(0);
  const filtersRef = useRef(filters);
  filtersRef.current = filters;
  const current = view.search === search;
  const { sessions, next } = view;

  useEffect(() => setDraft(filters), [search]);

  useEffect(() => {
    // A slower answer to an earlier query must not replace a later one's.
    let cancelled = false;
    void load(search).then((v) => !cancelled && setView(v));
    return () => {
      cancelled = true;
    };
  }, [search]);

  useEffect(() => {
    const refresh = () => api.statementsPerMinute(60).then(setMinutes, () => {});
    refresh();
    const timer = setInterval(refresh, 20_000);
    const tick = setInterval(() => setTick((n) => n + 1), 5000);
    return () => {
      clearInterval(timer);
      clearInterval(tick);
    };
  }, []);

  useEffect(() => {
    const es = new EventSource('/api/live');
    const on = (type: LiveMessage['type']) =>
      es.addEventListener(type, (ev) =>
        applyLive(JSON.parse((ev as MessageEvent<string>).data) as LiveMessage),
      );
    const applyLive = (msg: LiveMessage) => {
      setView((v) => ({ ...v, sessions: live(v.sessions, msg) }));
    };
    const live = (list: SessionJson[], msg: LiveMessage): SessionJson[] => {
      if (msg.type === 'start') {
        if (!matches(msg.session, filtersRef.current) || list.some((s) => s.id === msg.session.id))
          return list;
        return [msg.session, ...list];
      }
      return list.map((s) => {
        if (s.id !== msg.id) return s;
        if (msg.type === 'update') return { ...s, statements: msg.statements, errors: msg.errors };
        return {
          ...s,
          statements: msg.statements,
          errors: msg.errors,
          status: 'ended',
          ended_at: msg.ended_at,
        };
      });
    };
    on('start');
    on('update');
    on('end');
    return () => es.close();
  }, []);

  const apply = (e: Event) => {
    e.preventDefault();
    navigate(`/${toSearch(draft)}`);
  };
  const loadMore = async () => {
    if (!next || !current) return;
    // The page belongs to this query and cursor; the filters may change before it arrives.
    const still = (v: View) => v.search === search && v.next === next;
    try {
      const page = await api.listSessions({ ...query(filters), cursor: next });
      setView((v) =>
        still(v)
          ? {
              ...v,
              sessions: [
                ...v.sessions,
                ...page.sessions.filter((s) => !v.sessions.some((x) => x.id === s.id)),
              ],
              next: page.next,
            }
          : v,
      );
    } catch (err) {
      setView((v) => (still(v) ? { ...v, error: message(err) } : v));
    }
  };
  const set = <K extends keyof Filters>(k: K, v: Filters[K]) => setDraft((d) => ({ ...d, [k]: v }));
  const liveCount = sessions.filter((s) => s.status === 'active').length;

  return (
    <main class="page">
      <section class="overview">
        <MinuteChart minutes={minutes} />
        <div class="stat-cards">
          <div class="stat">
            <span class="stat-value" data-testid="live-count">
              {liveCount}
            </span>
            <span class="stat-label">live now</span>
          </div>
          <div class="stat">
            <span class="stat-value">{sessions.length}</span>
            <span class="stat-label">sessions shown</span>
          </div>
        </div>
      </section>

      <form class="filters card" onSubmit={apply} data-testid="filters">
        <input
          class="search"
          type="search"
          name="q"
          placeholder="Search statements and parameters…"
          value={draft.q}
          onInput={(e) => set('q', (e.target as HTMLInputElement).value)}
          data-testid="search-input"
        />
        {me.can.see_all && (
          <input
            name="user"
            placeholder="User"
            value={draft.user}
            onInput={(e) => set('user', (e.target as HTMLInputElement).value)}
          />
        )}
        <input
          name="target"
          placeholder="Target"
          value={draft.target}
          onInput={(e) => set('target', (e.target as HTMLInputElement).value)}
        />
        <select
          name="protocol"
          value={draft.protocol}
          onChange={(e) => set('protocol', (e.target as HTMLSelectElement).value)}
        >
          <option value="">Any protocol</option>
          <option value="postgres">PostgreSQL</option>
          <option value="mysql">MySQL</option>
        </select>
        <select
          name="since"
          value={draft.since}
          onChange={(e) => set('since', (e.target as HTMLSelectElement).value)}
        >
          {RANGES.map(([v, label]) => (
            <option key={v} value={v}>
              {label}
            </option>
          ))}
        </select>
        <label class="check">
          <input
            type="checkbox"
            checked={draft.errors}
            onChange={(e) => set('errors', (e.target as HTMLInputElement).checked)}
          />
          Has errors
        </label>
        <label class="check">
          <input
            type="checkbox"
            checked={draft.live}
            onChange={(e) => set('live', (e.target as HTMLInputElement).checked)}
          />
          Live only
        </label>
        <button type="submit" class="primary" data-testid="apply-filters">
          {draft.q ? 'Search' : 'Apply'}
        </button>
        {search && (
          <a href="/" class="button" onClick={linkClick}>
            Clear
          </a>
        )}
      </form>

      {current && view.error && (
        <p class="form-error" role="alert" data-testid="page-error">
          {view.error}
        </p>
      )}
      {current && view.hits && <SearchResults hits={view.hits} q={filters.q} />}
      <SessionTable sessions={sessions} loading={!current} />
      {current && next && (
        <div class="more">
          <button type="button" onClick={loadMore} data-testid="load-more">
            Load more
          </button>
        </div>
      )}
    </main>
  );
}
