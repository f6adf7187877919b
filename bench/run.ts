// `npm run bench`: pgbench against a throwaway PostgreSQL directly and through pgbouncer, a bare Node
// relay and dbtape, rounds interleaved, medians and ratios printed and written to bench/results/, with
// the dbtape process's CPU time per transaction (steadier than TPS on a shared machine).
// Settings (flag, or environment variable): --seconds BENCH_SECONDS (10), --rounds BENCH_ROUNDS (3),
// --targets BENCH_TARGETS (comma list), --modes BENCH_MODES (comma list), --dbtape-yaml BENCH_DBTAPE_YAML
// (a YAML file, or YAML text, deep-merged over every dbtape target's generated config).
import { existsSync, readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { parse as parseYaml } from 'yaml';
import { pgBinDirs } from '../test/support/binaries.js';
import { REPO_ROOT } from '../test/support/dbtape-process.js';
import { run } from '../test/support/exec.js';
import { type PgCluster, startPgCluster } from '../test/support/pg-cluster.js';
import { errorText } from '../test/support/wait.js';
import { comparisonTables } from './comparisons.js';
import { type CpuSample, withCpu } from './cpu.js';
import { machineInfo } from './machine.js';
import {
  initPgbench,
  MODES,
  type PgbenchLoad,
  type PgbenchMode,
  pgbenchVersion,
  runPgbench,
} from './pgbench.js';
import { ensureInstalled, pgbouncerVersion } from './pgbouncer.js';
import { firstLines, reportHeader, writeResults } from './results.js';
import { benchSearch, renderSearch } from './search.js';
import { list, pick, positiveInt } from './settings.js';
import { type Pairing, renderMarkdown, roundOrder, type Sample, summarize } from './table.js';
import { type RunningTarget, startTarget, TARGETS, type TargetContext, type TargetSpec } from './targets.js';

const DATABASE = 'bench';
const SERVER_SETTINGS = {
  max_connections: '100',
  shared_buffers: '128MB',
  fsync: 'on',
  full_page_writes: 'on',
};

interface Settings {
  seconds: number;
  rounds: number;
  warmupSeconds: number;
  scale: number;
  load: PgbenchLoad;
  modes: PgbenchMode[];
  targets: TargetSpec[];
  dbtapeYaml: Record<string, unknown>;
}

async function main(): Promise<void> {
  const settings = readSettings();
  const perRound = settings.modes.length * settings.targets.length * settings.seconds;
  console.log(
    `bench: ${settings.rounds} round(s) × ${settings.modes.length} mode(s) × ${settings.targets.length} target(s) × ` +
      `${settings.seconds} s ≈ ${Math.ceil((perRound * settings.rounds) / 60)} min, pgbench -c ${settings.load.clients} -j ${settings.load.threads}`,
  );
  for (const m of settings.modes) console.log(`bench: mode ${m.name}: ${m.description}`);

  const pgbench = await ensureInstalled('pgbench', 'postgresql-contrib', pgBinDirs().slice(0, 1));
  const needsBouncer = settings.targets.some((t) => t.kind === 'pgbouncer');
  const pgbouncerBin = needsBouncer ? await ensureInstalled('pgbouncer', 'pgbouncer') : '';

  const cluster = await startPgCluster({ hba: 'trust', databases: [DATABASE], settings: SERVER_SETTINGS });
  const running: RunningTarget[] = [];
  try {
    const upstream = { host: cluster.host, port: cluster.port, database: DATABASE, user: cluster.superuser };
    console.log(`bench: pgbench -i -s ${settings.scale} on PostgreSQL at 127.0.0.1:${cluster.port}`);
    await initPgbench(pgbench, upstream, settings.scale);

    const buildError = settings.targets.some((t) => t.kind === 'dbtape') ? await buildDbtape() : null;
    const ctx: TargetContext = {
      upstream,
      pgbouncerBin,
      clients: settings.load.clients,
      dbtapeYaml: settings.dbtapeYaml,
    };
    const unavailable: Record<string, string> = {};
    for (const spec of settings.targets) {
      if (spec.kind === 'dbtape' && buildError) {
        unavailable[spec.name] = buildError;
        console.log(`bench: ${spec.name} is NOT measured: ${firstLines(buildError, 12)}`);
        continue;
      }
      try {
        running.push(await startTarget(spec, ctx));
      } catch (err) {
        unavailable[spec.name] = errorText(err);
        console.log(
          `bench: ${spec.name} is NOT measured: it did not start: ${firstLines(errorText(err), 12)}`,
        );
      }
    }
    const samples = await measure(pgbench, running, settings);
    await report(settings, cluster, pgbench, pgbouncerBin, running, unavailable, samples);
  } finally {
    for (const target of running) await target.stop().catch(() => {});
    await cluster.stop();
  }
}

/** bin/dbtape.js runs dist/: build it so the numbers are of the current source. Returns the failure, if any. */
async function buildDbtape(): Promise<string | null> {
  console.log('bench: npm run build');
  try {
    await run('npm', ['run', 'build'], { cwd: REPO_ROOT, timeoutMs: 300_000 });
    return null;
  } catch (err) {
    return `npm run build failed: ${errorText(err)}`;
  }
}

const cpuSamples: CpuSample[] = [];

/** The paired comparisons the report gives, each target ÷ its baseline within a round. */
const PAIRINGS: readonly Pairing[] = [
  { target: 'dbtape-norecord', baseline: 'node-relay', meaning: 'the proxy against a bare Node relay' },
  { target: 'dbtape-norecord', baseline: 'pgbouncer', meaning: 'the proxy against pgbouncer' },
  { target: 'dbtape-policy', baseline: 'dbtape-norecord', meaning: 'cost of the policy' },
  { target: 'dbtape', baseline: 'dbtape-norecord', meaning: 'cost of recording' },
  { target: 'dbtape-policy-recorded', baseline: 'dbtape', meaning: 'cost of the policy, recorded' },
  { target: 'dbtape-strict', baseline: 'dbtape', meaning: 'strict against fast durability' },
];

/**
 * Warm-up, then rounds interleaved: round → mode → target (reversed every other round), so drift
 * over time hits all targets alike.
 */
async function measure(pgbench: string, running: RunningTarget[], settings: Settings): Promise<Sample[]> {
  if (settings.warmupSeconds > 0) {
    const warm = { ...settings.load, seconds: settings.warmupSeconds };
    for (const t of running) await runPgbench(pgbench, t.endpoint, MODES[0]!, warm).catch(() => undefined);
  }
  const samples: Sample[] = [];
  cpuSamples.length = 0;
  for (let round = 1; round <= settings.rounds; round++) {
    for (const mode of settings.modes) {
      for (const target of roundOrder(running, round)) {
        if (target.spec.modes && !target.spec.modes.includes(mode.name)) continue;
        const base = { round, mode: mode.name, target: target.spec.name };
        try {
          const result = await withCpu(target.pid, settings.seconds, base, cpuSamples, () =>
            runPgbench(pgbench, target.endpoint, mode, settings.load),
          );
          samples.push({ ...base, ...result });
          console.log(
            `bench: round ${round} ${mode.name.padEnd(16)} ${target.spec.name.padEnd(12)} ` +
              `${result.tps.toFixed(0).padStart(7)} tps ${result.latencyMs.toFixed(3)} ms`,
          );
        } catch (err) {
          samples.push({ ...base, error: errorText(err) });
          console.log(
            `bench: round ${round} ${mode.name} ${target.spec.name} FAILED: ${firstLines(errorText(err), 8)}`,
          );
        }
      }
    }
  }
  return samples;
}

async function report(
  settings: Settings,
  cluster: PgCluster,
  pgbench: string,
  pgbouncerBin: string,
  running: RunningTarget[],
  unavailable: Record<string, string>,
  samples: Sample[],
): Promise<void> {
  const date = new Date().toISOString().slice(0, 10);
  const machine = machineInfo();
  const versions = {
    postgres: await cluster.psql('show server_version'),
    pgbench: await pgbenchVersion(pgbench),
    pgbouncer: pgbouncerBin ? await pgbouncerVersion(pgbouncerBin) : null,
  };
  const targetNames = settings.targets.map((t) => t.name);
  const rows = summarize(
    samples,
    settings.modes.map((m) => m.name),
    targetNames,
  );
  const table = renderMarkdown(rows);
  console.log('bench: building a store of 10,000 sessions for the search figure');
  const search = renderSearch(await benchSearch());
  const notes = [
    ...reportHeader({
      title: `pgbench through proxies, ${date}, ${machine.hostname}`,
      machine,
      setup: [
        `PostgreSQL ${versions.postgres} (throwaway, ${Object.entries(SERVER_SETTINGS)
          .map(([k, v]) => `${k}=${v}`)
          .join(', ')}); ${versions.pgbench}; ${versions.pgbouncer ?? 'pgbouncer not used'}`,
        `pgbench -i -s ${settings.scale}; runs: -c ${settings.load.clients} -j ${settings.load.threads} -T ${settings.seconds} -n, ` +
          `${settings.rounds} round(s) interleaved (round → mode → target, targets reversed every other round), ${settings.warmupSeconds} s warm-up per target; ` +
          'TPS without initial connection time; ratios in the first table are median TPS over the baseline median TPS, in the paired table the median of per-round ratios',
      ],
      modes: settings.modes.map((m) => `${m.name}: ${m.description} (pgbench ${m.args.join(' ')})`),
      targets: running.map((t) => ({ name: t.spec.name, note: t.note })),
      unavailable,
    }),
    '',
    table,
    '',
    ...comparisonTables({
      samples,
      cpuSamples,
      modes: settings.modes.map((m) => m.name),
      targets: targetNames,
      pairings: PAIRINGS,
      cpuBase: 'dbtape-norecord',
    }),
    '',
    `- ${search}`,
    '',
  ].join('\n');
  console.log(`\n${notes}`);

  const json = {
    date,
    machine,
    versions,
    settings: jsonSettings(settings),
    serverSettings: SERVER_SETTINGS,
    unavailable,
    rows,
    samples,
    cpuSamples,
  };
  console.log(`bench: wrote ${writeResults(`${date}-${machine.hostname}-pg`, notes, json)}`);
}

function readSettings(): Settings {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      rounds: { type: 'string' },
      targets: { type: 'string' },
      modes: { type: 'string' },
      'dbtape-yaml': { type: 'string' },
    },
  });
  const env = process.env;
  const seconds = positiveInt(values.seconds ?? env.BENCH_SECONDS, 10, 'seconds');
  const wantedTargets = list(values.targets ?? env.BENCH_TARGETS);
  const wantedModes = list(values.modes ?? env.BENCH_MODES);
  return {
    seconds,
    rounds: positiveInt(values.rounds ?? env.BENCH_ROUNDS, 3, 'rounds'),
    warmupSeconds: Math.min(2, seconds),
    scale: positiveInt(env.BENCH_SCALE, 10, 'BENCH_SCALE'),
    load: {
      clients: positiveInt(env.BENCH_CLIENTS, 8, 'BENCH_CLIENTS'),
      threads: positiveInt(env.BENCH_THREADS, 2, 'BENCH_THREADS'),
      seconds,
    },
    modes: pick(MODES, wantedModes, 'mode'),
    targets: pick(TARGETS, wantedTargets, 'target'),
    dbtapeYaml: readYamlOverlay(values['dbtape-yaml'] ?? env.BENCH_DBTAPE_YAML),
  };
}

function readYamlOverlay(source: string | undefined): Record<string, unknown> {
  if (!source) return {};
  const text = existsSync(source) ? readFileSync(source, 'utf8') : source;
  const parsed = parseYaml(text) as unknown;
  if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
    throw new Error('the extra dbtape YAML must be a mapping (e.g. "store: {capture_results: none}")');
  }
  return parsed as Record<string, unknown>;
}

function jsonSettings(s: Settings) {
  return { ...s, modes: s.modes.map((m) => ({ name: m.name, args: m.args })), targets: s.targets };
}

main().catch((err) => {
  console.error(`bench: ${errorText(err)}`);
  process.exit(1);
});
