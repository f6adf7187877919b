/** One benchmark run (pgbench or sysbench) of one mode against one target in one round. */
export interface Sample {
  readonly round: number;
  readonly mode: string;
  readonly target: string;
  readonly tps?: number;
  readonly latencyMs?: number;
  readonly failed?: number;
  readonly error?: string;
}

export interface Row {
  readonly mode: string;
  readonly target: string;
  readonly runs: number;
  readonly tpsPerRound: number[];
  readonly medianTps: number | null;
  readonly medianLatencyMs: number | null;
  /** Median TPS divided by the baseline's median TPS in the same mode, by baseline name. */
  readonly ratios: Record<string, number | null>;
}

/** Targets every other is compared with, in column order (the PostgreSQL bench's). */
export const BASELINES: readonly string[] = [
  'direct',
  'pgbouncer',
  'node-relay',
  'dbtape-norecord',
  'dbtape',
];

export function median(values: readonly number[]): number | null {
  if (values.length === 0) return null;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 === 1 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

export function summarize(
  samples: readonly Sample[],
  modes: readonly string[],
  targets: readonly string[],
  baselines: readonly string[] = BASELINES,
): Row[] {
  const rows: Row[] = [];
  for (const mode of modes) {
    const base: Record<string, number | null> = {};
    const modeRows = targets.map((target) => {
      const ok = samples.filter((s) => s.mode === mode && s.target === target && s.tps !== undefined);
      const tpsPerRound = ok.map((s) => s.tps!);
      const medianTps = median(tpsPerRound);
      base[target] = medianTps;
      return {
        mode,
        target,
        runs: ok.length,
        tpsPerRound,
        medianTps,
        medianLatencyMs: median(ok.map((s) => s.latencyMs!)),
      };
    });
    for (const row of modeRows) {
      const ratios: Record<string, number | null> = {};
      for (const b of baselines) {
        const denom = base[b];
        ratios[b] = row.medianTps !== null && denom ? row.medianTps / denom : null;
      }
      rows.push({ ...row, ratios });
    }
  }
  return rows;
}

/** A markdown table; the same text is printed and written to bench/results/. */
export function renderMarkdown(rows: readonly Row[], baselines: readonly string[] = BASELINES): string {
  const header = [
    'mode',
    'target',
    'TPS (median)',
    'latency ms (median)',
    ...baselines.map((b) => `× ${b}`),
    'TPS per round',
  ];
  const lines = [
    `| ${header.join(' | ')} |`,
    `|${header.map((_, i) => (i < 2 ? '---' : '---:')).join('|')}|`,
  ];
  for (const r of rows) {
    const cells = [
      r.mode,
      r.target,
      r.medianTps === null ? 'n/a' : r.medianTps.toFixed(0),
      r.medianLatencyMs === null ? 'n/a' : r.medianLatencyMs.toFixed(3),
      ...baselines.map((b) => fmtRatio(r.ratios[b] ?? null)),
      r.tpsPerRound.map((t) => t.toFixed(0)).join(', '),
    ];
    lines.push(`| ${cells.join(' | ')} |`);
  }
  return lines.join('\n');
}

function fmtRatio(ratio: number | null): string {
  return ratio === null ? 'n/a' : `${ratio.toFixed(2)}×`;
}
