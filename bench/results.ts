import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../test/support/dbtape-process.js';
import type { MachineInfo } from './machine.js';

export interface ReportHeader {
  readonly title: string;
  readonly machine: MachineInfo;
  /** Server, client and run settings, one line each. */
  readonly setup: readonly string[];
  /** `- mode NAME: ...` lines. */
  readonly modes: readonly string[];
  readonly targets: readonly { readonly name: string; readonly note: string }[];
  /** Targets that could not be measured, and why. */
  readonly unavailable: Readonly<Record<string, string>>;
}

/** The lines both suites' results start with: what ran where, against what. */
export function reportHeader(h: ReportHeader): string[] {
  const m = h.machine;
  return [
    `# ${h.title}`,
    '',
    `- machine: ${m.nproc} CPUs (${m.cpuModel}), ${m.memoryGiB} GiB, ${m.kernel}, node ${m.node}`,
    ...h.setup.map((line) => `- ${line}`),
    ...h.modes.map((line) => `- mode ${line}`),
    ...h.targets.map((t) => `- target ${t.name}${t.note ? `: ${t.note}` : ''}`),
    ...Object.entries(h.unavailable).map(
      ([name, why]) => `- target ${name}: NOT MEASURED: ${firstLines(why, 3)}`,
    ),
  ];
}

export function firstLines(text: string, n: number): string {
  return text.split('\n').slice(0, n).join('\n');
}

/**
 * Writes `bench/results/NAME.md` (the printed report) and `NAME.json` (everything measured). A run
 * never replaces an earlier one of the same name (date and host): it becomes `NAME-2`, `NAME-3`, …
 */
export function writeResults(name: string, notes: string, json: unknown): string {
  const outDir = path.join(REPO_ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  let base = path.join(outDir, name);
  for (let n = 2; existsSync(`${base}.md`) || existsSync(`${base}.json`); n++)
    base = path.join(outDir, `${name}-${n}`);
  writeFileSync(`${base}.md`, notes);
  writeFileSync(`${base}.json`, `${JSON.stringify(json, null, 2)}\n`);
  return `${path.relative(REPO_ROOT, base)}.md and .json`;
}
