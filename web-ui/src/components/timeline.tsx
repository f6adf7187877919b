/**
 * The session's timeline: one mark per statement at its time (errors red, denials amber, gaps
 * grey). With many statements the marks become a density strip: one bar per slice of time, its
 * height the number of statements in it, its colour the worst outcome. Click to jump.
 */
import { formatOffset } from '../format';
import { indexAtOffset, type Statement } from '../statements';

const WIDTH = 1000;
const HEIGHT = 36;
const MAX_MARKS = 600;

interface Props {
  statements: readonly Statement[];
  durationMs: number;
  current: number;
  onSeek: (index: number) => void;
}

export function Timeline({ statements, durationMs, current, onSeek }: Props) {
  const span = Math.max(durationMs, statements[statements.length - 1]?.offsetMs ?? 0, 1);
  const x = (ms: number) => (ms / span) * WIDTH;
  const cur = statements[current];
  const click = (e: MouseEvent) => {
    const box = (e.currentTarget as HTMLElement).getBoundingClientRect();
    const frac = Math.min(1, Math.max(0, (e.clientX - box.left) / box.width));
    if (statements.length > 0) onSeek(indexAtOffset(statements, frac * span));
  };
  const key = (e: KeyboardEvent) => {
    if (e.key === 'ArrowLeft' || e.key === 'ArrowRight') {
      e.preventDefault();
      e.stopPropagation();
      onSeek(current + (e.key === 'ArrowLeft' ? -1 : 1));
    } else if (e.key === 'Home' || e.key === 'End') {
      e.preventDefault();
      onSeek(e.key === 'Home' ? 0 : statements.length - 1);
    }
  };
  return (
    <div class="timeline" data-testid="timeline">
      <div
        class="timeline-track"
        role="slider"
        tabIndex={0}
        aria-label="Position in the session"
        aria-valuemin={1}
        aria-valuemax={Math.max(1, statements.length)}
        aria-valuenow={current + 1}
        onClick={click}
        onKeyDown={key}
      >
        <svg viewBox={`0 0 ${WIDTH} ${HEIGHT}`} preserveAspectRatio="none" aria-hidden="true">
          <rect class="track" x={0} y={0} width={WIDTH} height={HEIGHT} />
          {statements.length <= MAX_MARKS ? marks(statements, x) : density(statements, span)}
          {cur && (
            <rect class="playhead" x={Math.min(WIDTH - 2, x(cur.offsetMs))} y={0} width={2} height={HEIGHT} />
          )}
        </svg>
      </div>
      <div class="timeline-axis">
        <span>0:00</span>
        <span>{formatOffset(span / 2)}</span>
        <span>{formatOffset(span)}</span>
      </div>
    </div>
  );
}

function marks(statements: readonly Statement[], x: (ms: number) => number) {
  return statements.map((s) => (
    <rect
      key={s.seq}
      class={`mark ${s.outcome}`}
      x={Math.min(WIDTH - 3, x(s.offsetMs))}
      y={6}
      width={3}
      height={HEIGHT - 12}
    >
      <title>
        #{s.seq} at {formatOffset(s.offsetMs)}
      </title>
    </rect>
  ));
}

function density(statements: readonly Statement[], span: number) {
  const buckets = 250;
  const total = new Array<number>(buckets).fill(0);
  const bad = { error: new Array<number>(buckets).fill(0), denied: new Array<number>(buckets).fill(0) };
  for (const s of statements) {
    const b = Math.min(buckets - 1, Math.floor((s.offsetMs / span) * buckets));
    total[b]!++;
    if (s.outcome === 'error' || s.outcome === 'denied') bad[s.outcome][b]!++;
  }
  const max = Math.max(...total, 1);
  const w = WIDTH / buckets;
  const base = HEIGHT - 4;
  return total.map((n, i) => {
    if (n === 0) return null;
    // Height: how many statements (log scale, so that quiet stretches stay visible).
    const h = 4 + ((HEIGHT - 8) * Math.log1p(n)) / Math.log1p(max);
    const errors = bad.error[i]!;
    const denied = bad.denied[i]!;
    const eh = errors ? Math.max(2, (h * errors) / n) : 0;
    const dh = denied ? Math.max(2, (h * denied) / n) : 0;
    const x = i * w;
    const bw = Math.max(1, w - 0.5);
    return (
      <g key={i}>
        <rect class="mark ok" x={x} y={base - h} width={bw} height={h} />
        {eh > 0 && <rect class="mark error" x={x} y={base - h} width={bw} height={eh} />}
        {dh > 0 && <rect class="mark denied" x={x} y={base - h + eh} width={bw} height={dh} />}
        <title>
          {n} statements{errors ? `, ${errors} errors` : ''}
          {denied ? `, ${denied} denied` : ''}
        </title>
      </g>
    );
  });
}
