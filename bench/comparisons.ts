/** The report's comparison tables, shared by both suites: paired per-round ratios, then CPU per transaction. */
import { type CpuSample, renderCpu } from './cpu.js';
import { type Pairing, pairedRatios, renderPaired, type Sample } from './table.js';

export function comparisonTables(o: {
  readonly samples: readonly Sample[];
  readonly cpuSamples: readonly CpuSample[];
  readonly modes: readonly string[];
  readonly targets: readonly string[];
  readonly pairings: readonly Pairing[];
  /** The target CPU figures are divided by. */
  readonly cpuBase: string;
}): string[] {
  return [
    renderPaired(pairedRatios(o.samples, o.modes, o.pairings)),
    '',
    renderCpu(o.cpuSamples, o.modes, o.targets, o.cpuBase),
  ];
}
