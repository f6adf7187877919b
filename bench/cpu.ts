/**
 * CPU time a proxy process spends per transaction. On a machine shared with other work, TPS swings
 * with the neighbours' load; the proxy's own CPU per transaction is far steadier, so it is what shows
 * the cost of a feature (the policy, recording) in the proxy, and how far a Node proxy stands from a
 * C one.
 */
import { readFileSync } from 'node:fs';
import { median } from './table.js';

export interface CpuSample {
  readonly round: number;
  readonly mode: string;
  readonly target: string;
  readonly cpuUsPerTx: number;
}

/** utime + stime of a process in seconds (see statCpuSeconds). */
export function cpuSeconds(pid: number): number {
  try {
    return statCpuSeconds(readFileSync(`/proc/${pid}/stat`, 'utf8'));
  } catch {
    return Number.NaN;
  }
}

/**
 * utime + stime in seconds from the text of a /proc/PID/stat or /proc/PID/task/TID/stat file:
 * fields 14 and 15 of proc(5), in clock ticks of 1/100 s. The command name in brackets may hold
 * spaces, so fields are counted from the last `)`.
 */
export function statCpuSeconds(stat: string): number {
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / 100;
}

/**
 * Runs one measurement and, when the target is a process of its own, records the CPU it used per
 * transaction.
 */
export async function withCpu<R extends { tps: number }>(
  pid: number | undefined,
  seconds: number,
  sample: Omit<CpuSample, 'cpuUsPerTx'>,
  into: CpuSample[],
  measure: () => Promise<R>,
): Promise<R> {
  const before = pid ? cpuSeconds(pid) : Number.NaN;
  const result = await measure();
  if (pid && Number.isFinite(before)) {
    const used = cpuSeconds(pid) - before;
    into.push({ ...sample, cpuUsPerTx: (used * 1e6) / (result.tps * seconds) });
  }
  return result;
}

/** A markdown table of the median CPU per transaction, with ratios over `base` when it ran. */
export function renderCpu(
  samples: readonly CpuSample[],
  modes: readonly string[],
  targets: readonly string[],
  base: string,
): string {
  const baseline = targets.includes(base) ? base : null;
  const lines = [
    `| mode | target | proxy CPU µs per transaction (median) | ${baseline ? `× ${baseline}` : ''} | per round |`,
    '|---|---|---:|---:|---:|',
  ];
  for (const mode of modes) {
    const of = (t: string) =>
      samples
        .filter((c) => c.mode === mode && c.target === t && Number.isFinite(c.cpuUsPerTx))
        .map((c) => c.cpuUsPerTx);
    const baseMedian = baseline ? median(of(baseline)) : null;
    for (const t of targets) {
      const xs = of(t);
      const m = median(xs);
      if (m === null) continue;
      const ratio = baseMedian ? `${(m / baseMedian).toFixed(2)}×` : '';
      lines.push(
        `| ${mode} | ${t} | ${m.toFixed(0)} | ${ratio} | ${xs.map((x) => x.toFixed(0)).join(', ')} |`,
      );
    }
  }
  return lines.join('\n');
}
