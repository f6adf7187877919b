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

/** A comparison the paired table reports: `target` ÷ `baseline`, and what that ratio means. */
export interface Pairing {
  readonly target: string;
  readonly baseline: string;
  readonly meaning: string;
}

export interface PairedRow {
  readonly mode: string;
  readonly pairing: Pairing;
  /** target TPS ÷ baseline TPS within each round where both ran. */
  readonly ratios: number[];
  readonly median: number | null;
}

/**
 * Ratios of two targets run back to back in the same round, one per round, and their median.
 * Single runs on a shared machine swing by ±10–20% as the neighbours' load drifts; within a round
 * the two targets run seconds apart, so each round's ratio carries less of that drift than a ratio
 * of medians taken over the whole run, and the spread of the per-round ratios shows how far a
 * figure can be trusted.
 */
export function pairedRatios(
  samples: readonly Sample[],
  modes: readonly string[],
  pairings: readonly Pairing[],
): PairedRow[] {
  const rows: PairedRow[] = [];
  const tpsOf = (mode: string, target: string, round: number) =>
    samples.find((s) => s.mode === mode && s.target === target && s.round === round)?.tps;
  const rounds = [...new Set(samples.map((s) => s.round))].sort((a, b) => a - b);
  for (const mode of modes) {
    for (const pairing of pairings) {
      const ratios: number[] = [];
      for (const round of rounds) {
        const t = tpsOf(mode, pairing.target, round);
        const b = tpsOf(mode, pairing.baseline, round);
        if (t !== undefined && b !== undefined && b > 0) ratios.push(t / b);
      }
      if (ratios.length > 0) rows.push({ mode, pairing, ratios, median: median(ratios) });
    }
  }
  return rows;
}

export function renderPaired(rows: readonly PairedRow[]): string {
  const lines = [
    '| mode | ratio | what it shows | median of per-round ratios | range | per round |',
    '|---|---|---|---:|---:|---:|',
  ];
  for (const r of rows) {
    const lo = Math.min(...r.ratios);
    const hi = Math.max(...r.ratios);
    lines.push(
      `| ${r.mode} | ${r.pairing.target} ÷ ${r.pairing.baseline} | ${r.pairing.meaning} | ${fmtRatio(r.median)} | ` +
        `${lo.toFixed(2)}–${hi.toFixed(2)} | ${r.ratios.map((x) => x.toFixed(2)).join(', ')} |`,
    );
  }
  return lines.join('\n');
}

/**
 * The order targets run in within a round: reversed every other round, so that no target always
 * runs first after a mode change, or always right after the same neighbour.
 */
export function roundOrder<T>(targets: readonly T[], round: number): readonly T[] {
  return round % 2 === 0 ? [...targets].reverse() : targets;
}
