import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { REPO_ROOT } from '../test/support/dbtape-process.js';

/** Writes `bench/results/NAME.md` (the printed report) and `NAME.json` (everything measured). */
export function writeResults(name: string, notes: string, json: unknown): string {
  const outDir = path.join(REPO_ROOT, 'bench', 'results');
  mkdirSync(outDir, { recursive: true });
  const base = path.join(outDir, name);
  writeFileSync(`${base}.md`, notes);
  writeFileSync(`${base}.json`, `${JSON.stringify(json, null, 2)}\n`);
  return `${path.relative(REPO_ROOT, base)}.md and .json`;
}
