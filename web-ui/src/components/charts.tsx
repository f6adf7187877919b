/** Hand-drawn SVG charts: statements per minute, and a session's latency distribution. */
import { formatDurationUs, plural } from '../format';
import type { MinuteJson } from '../types';

const W = 1000;
const H = 150;
const PAD_L = 34;
const PAD_B = 18;

export function MinuteChart({ minutes }: { minutes: readonly MinuteJson[] }) {
  const max = Math.max(1, ...minutes.map((m) => m.statements));
  const plotW = W - PAD_L;
  const plotH = H - PAD_B - 4;
  const bw = plotW / Math.max(1, minutes.length);
  const total = minutes.reduce((n, m) => n + m.statements, 0);
  return (
    <figure class="chart" data-testid="minute-chart">
      <figcaption>
        Statements per minute{' '}
        <span class="muted">
          last {minutes.length} min · {total.toLocaleString()} total
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label="Statements per minute">
        <text class="axis" x={PAD_L - 6} y={12} text-anchor="end">
          {max}
        </text>
        <text class="axis" x={PAD_L - 6} y={H - PAD_B} text-anchor="end">
          0
        </text>
        <line class="baseline" x1={PAD_L} x2={W} y1={H - PAD_B} y2={H - PAD_B} />
        {minutes.map((m, i) => {
          const h = (m.statements / max) * plotH;
          const eh = (m.errors / max) * plotH;
          const x = PAD_L + i * bw;
          const label = new Date(m.at).toLocaleTimeString(undefined, { hour: '2-digit', minute: '2-digit' });
          return (
            <g key={m.at}>
              <rect class="bar" x={x + 0.5} y={H - PAD_B - h} width={Math.max(1, bw - 1)} height={h}>
                <title>
                  {label}: {m.statements} statements, {m.errors} errors
                </title>
              </rect>
              {m.errors > 0 && (
                <rect
                  class="bar error"
                  x={x + 0.5}
                  y={H - PAD_B - eh}
                  width={Math.max(1, bw - 1)}
                  height={eh}
                />
              )}
              {i % Math.max(1, Math.round(minutes.length / 6)) === 0 && (
                <text class="axis" x={x} y={H - 4}>
                  {label}
                </text>
              )}
            </g>
          );
        })}
      </svg>
    </figure>
  );
}

/** Upper bounds in microseconds; the last bucket is open. */
const LATENCY_BOUNDS_US = [500, 1000, 5000, 10_000, 50_000, 100_000, 500_000, 1_000_000, 5_000_000];

export function LatencyHistogram({ durationsUs }: { durationsUs: readonly number[] }) {
  const counts = new Array<number>(LATENCY_BOUNDS_US.length + 1).fill(0);
  for (const d of durationsUs) {
    const i = LATENCY_BOUNDS_US.findIndex((b) => d <= b);
    counts[i < 0 ? counts.length - 1 : i]!++;
  }
  const labels = [
    ...LATENCY_BOUNDS_US.map((b) => `≤${formatDurationUs(b)}`),
    `>${formatDurationUs(5_000_000)}`,
  ];
  const max = Math.max(1, ...counts);
  const bw = (W - PAD_L) / counts.length;
  const plotH = H - PAD_B - 14;
  const sorted = [...durationsUs].sort((a, b) => a - b);
  const pct = (p: number) => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] ?? 0;
  return (
    <figure class="chart" data-testid="latency-chart">
      <figcaption>
        Latency{' '}
        <span class="muted">
          {durationsUs.length === 0
            ? 'no completed statements yet'
            : `${plural(durationsUs.length, 'statement')} · median ${formatDurationUs(pct(0.5))} · p95 ${formatDurationUs(pct(0.95))}`}
        </span>
      </figcaption>
      <svg viewBox={`0 0 ${W} ${H}`} role="img" aria-label="Latency distribution">
        <line class="baseline" x1={PAD_L} x2={W} y1={H - PAD_B} y2={H - PAD_B} />
        {counts.map((n, i) => {
          const h = (n / max) * plotH;
          const x = PAD_L + i * bw;
          return (
            <g key={i}>
              <rect class="bar" x={x + 2} y={H - PAD_B - h} width={bw - 4} height={h}>
                <title>
                  {labels[i]}: {n}
                </title>
              </rect>
              {n > 0 && (
                <text class="axis" x={x + bw / 2} y={H - PAD_B - h - 3} text-anchor="middle">
                  {n}
                </text>
              )}
              <text class="axis" x={x + bw / 2} y={H - 4} text-anchor="middle">
                {labels[i]}
              </text>
            </g>
          );
        })}
      </svg>
    </figure>
  );
}
