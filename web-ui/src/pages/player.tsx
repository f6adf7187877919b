/**
 * One session: its metadata, a timeline with a mark per statement, playback with the original
 * timing (1×–16×, long idle stretches shortened), stepping, the statement and its result, and the
 * session's latency distribution. A live session's statements arrive over SSE as they run, and an
 * admin can end it. The selected statement is in the URL (#seq=N) so it can be linked to.
 */
import { useCallback, useEffect, useMemo, useRef, useState } from 'preact/hooks';
import * as api from '../api';
import { LatencyHistogram } from '../components/charts';
import { SessionHeader } from '../components/session-header';
import { StatementDetail } from '../components/statement-detail';
import { StatementWindow } from '../components/statement-list';
import { Timeline } from '../components/timeline';
import { formatOffset, parseIso, plural } from '../format';
import { linkClick } from '../router';
import { addEvents, durationUsOf, indexOfSeq, type Statement } from '../statements';
import type { EventJson, Me, SessionDetailJson } from '../types';

const SPEEDS = [1, 2, 4, 8, 16] as const;
/** At 1×, a pause longer than this between statements is shortened to it. */
const MAX_IDLE_MS = 3000;

function seqFromHash(): number | null {
  const m = /^#seq=(\d+)$/.exec(location.hash);
  return m ? Number(m[1]) : null;
}

export function PlayerPage({ id, me }: { id: string; me: Me }) {
  const [session, setSession] = useState<SessionDetailJson | null>(null);
  const [missing, setMissing] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [statements, setStatements] = useState<Statement[]>([]);
  const [current, setCurrent] = useState(0);
  const [playing, setPlaying] = useState(false);
  const [speed, setSpeed] = useState<number>(1);
  const [, setTick] = useState(0);
  const currentRef = useRef(0);
  const countRef = useRef(0);
  const listRef = useRef<Statement[]>([]);
  const seenRef = useRef(0);
  currentRef.current = current;
  countRef.current = statements.length;
  listRef.current = statements;

  const select = useCallback((i: number) => {
    setCurrent(Math.max(0, Math.min(i, countRef.current - 1)));
  }, []);

  // Load the session and its stored events; follow it live when it is still open.
  useEffect(() => {
    let es: EventSource | null = null;
    let cancelled = false;
    (async () => {
      let detail: SessionDetailJson;
      try {
        detail = await api.getSession(id);
      } catch (err) {
        if (err instanceof api.ApiError && err.status === 404) setMissing(true);
        else setError(err instanceof Error ? err.message : String(err));
        return;
      }
      const events = await api.getAllEvents(id);
      if (cancelled) return;
      const list = addEvents([], events);
      const want = seqFromHash();
      setSession(detail);
      setStatements(list);
      countRef.current = list.length;
      seenRef.current = list.length;
      const start = want !== null ? indexOfSeq(list, want) : detail.status === 'active' ? list.length - 1 : 0;
      setCurrent(Math.max(0, start));
      if (detail.status !== 'active') return;
      let last = events[events.length - 1]?.seq ?? 0;
      es = new EventSource(`/api/sessions/${encodeURIComponent(id)}/live?afterSeq=${last}`);
      es.addEventListener('event', (ev) => {
        const e = JSON.parse((ev as MessageEvent<string>).data) as EventJson;
        // After a reconnect the server resumes from Last-Event-ID; never take an event twice.
        if (e.seq <= last) return;
        last = e.seq;
        setStatements((prev) => addEvents([...prev], [e]));
      });
      es.addEventListener('end', () => {
        es?.close();
        api.getSession(id).then(setSession, () => {});
      });
    })().catch((err: unknown) => !cancelled && setError(err instanceof Error ? err.message : String(err)));
    return () => {
      cancelled = true;
      es?.close();
    };
  }, [id]);

  // Live: follow the newest statement, unless the viewer has gone back to an earlier one.
  useEffect(() => {
    const before = seenRef.current;
    seenRef.current = statements.length;
    if (before > 0 && statements.length > before && currentRef.current >= before - 1 && !playing) {
      setCurrent(statements.length - 1);
    }
  }, [statements.length]);

  // A live session's duration grows.
  useEffect(() => {
    if (session?.status !== 'active') return;
    const t = setInterval(() => setTick((n) => n + 1), 1000);
    return () => clearInterval(t);
  }, [session?.status]);

  // Deep link: the hash follows the selection, and a changed hash moves the selection.
  useEffect(() => {
    const s = statements[current];
    if (s && location.hash !== `#seq=${s.seq}`) history.replaceState(null, '', `#seq=${s.seq}`);
  }, [current, statements]);
  useEffect(() => {
    const onHash = () => {
      const seq = seqFromHash();
      if (seq !== null) setCurrent(Math.max(0, indexOfSeq(listRef.current, seq)));
    };
    window.addEventListener('hashchange', onHash);
    return () => window.removeEventListener('hashchange', onHash);
  }, []);

  // Playback with the recorded timing.
  useEffect(() => {
    if (!playing) return;
    if (current >= statements.length - 1) {
      if (session?.status !== 'active') setPlaying(false);
      return;
    }
    const gap = statements[current + 1]!.offsetMs - statements[current]!.offsetMs;
    const t = setTimeout(() => setCurrent((c) => c + 1), Math.max(0, Math.min(gap, MAX_IDLE_MS)) / speed);
    return () => clearTimeout(t);
  }, [playing, current, speed, statements.length, session?.status]);

  // Keyboard: ← → step, space plays or pauses.
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if ((e.target as HTMLElement).closest('input, select, textarea, button')) return;
      if (e.key === 'ArrowRight' || e.key === 'j') select(currentRef.current + 1);
      else if (e.key === 'ArrowLeft' || e.key === 'k') select(currentRef.current - 1);
      else if (e.key === ' ') {
        e.preventDefault();
        setPlaying((p) => !p);
      } else return;
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, [select]);

  const counts = useMemo(
    () => ({
      statements: statements.filter((x) => x.outcome !== 'gap').length,
      errors: statements.filter((x) => x.outcome === 'error').length,
    }),
    [statements],
  );
  const durations = useMemo(
    () => statements.map(durationUsOf).filter((d): d is number => d !== null),
    [statements],
  );

  if (missing) {
    return (
      <main class="page">
        <section class="card empty" data-testid="not-found">
          <h1>Session not found</h1>
          <p>There is no such session, or it is not yours to see.</p>
          <a href="/" onClick={linkClick}>
            Back to the sessions
          </a>
        </section>
      </main>
    );
  }
  if (error) {
    return (
      <main class="page">
        <p class="form-error" role="alert">
          {error}
        </p>
      </main>
    );
  }
  if (!session) return <main class="page muted">Loading…</main>;

  const live = session.status === 'active';
  const durationMs =
    (session.ended_at ? parseIso(session.ended_at) : Date.now()) - parseIso(session.started_at);
  const s = statements[current];
  const play = () => {
    if (!playing && current >= statements.length - 1) setCurrent(0);
    setPlaying(!playing);
  };

  return (
    <main class="page player" data-testid="player">
      <SessionHeader
        session={session}
        me={me}
        durationMs={durationMs}
        counts={counts}
        onKilled={() => setSession((prev) => (prev ? { ...prev, live: false } : prev))}
      />

      <section class="card transport">
        <Timeline statements={statements} durationMs={durationMs} current={current} onSeek={select} />
        <div class="controls">
          <button
            type="button"
            onClick={() => select(current - 1)}
            disabled={current <= 0}
            data-testid="prev"
            title="Previous statement (←)"
          >
            ← Prev
          </button>
          <button
            type="button"
            class="primary play"
            onClick={play}
            disabled={statements.length === 0}
            data-testid="play"
          >
            {playing ? '⏸ Pause' : '▶ Play'}
          </button>
          <button
            type="button"
            onClick={() => select(current + 1)}
            disabled={current >= statements.length - 1}
            data-testid="next"
            title="Next statement (→)"
          >
            Next →
          </button>
          <div class="speeds" title="Playback speed">
            {SPEEDS.map((x) => (
              <button
                key={x}
                type="button"
                class={x === speed ? 'active' : ''}
                aria-pressed={x === speed}
                onClick={() => setSpeed(x)}
                data-testid={`speed-${x}`}
              >
                {x}×
              </button>
            ))}
          </div>
          <span class="position muted" data-testid="position">
            {statements.length === 0
              ? 'No statements yet'
              : `Statement ${current + 1} of ${statements.length} · ${formatOffset(s?.offsetMs ?? 0)}`}
          </span>
        </div>
      </section>

      <div class="player-body">
        <section class="card statement-list" data-testid="statement-list">
          <h2>{plural(counts.statements, 'statement')}</h2>
          <StatementWindow statements={statements} current={current} onSelect={select} />
          {live && <p class="muted small live-note">Live: new statements appear as they run.</p>}
        </section>
        <section class="card statement-pane">
          {s ? (
            <StatementDetail s={s} ended={!live} />
          ) : (
            <p class="muted">This session has no statements yet.</p>
          )}
        </section>
      </div>

      <section class="card">
        <LatencyHistogram durationsUs={durations} />
      </section>
    </main>
  );
}
