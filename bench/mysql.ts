// `npm run bench:mysql` (also part of `npm run bench`): sysbench oltp_read_only against a throwaway
// MariaDB directly and through HAProxy (mode tcp; default threads and one thread), a bare Node relay
// and dbtape (recording off, on, and with an access policy), rounds interleaved, medians and ratios
// printed and written to bench/results/.
// Settings (flag, or environment variable): --seconds BENCH_SECONDS (10), --rounds BENCH_ROUNDS (3),
// --targets BENCH_MYSQL_TARGETS, --modes BENCH_MYSQL_MODES (comma lists), BENCH_MYSQL_THREADS (8);
// --bin NAME=path/to/bin/dbtape.js (repeatable) adds another build as target NAME, recording off.
import { mkdtempSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { stringify as toYaml } from 'yaml';
import { removeAtExit } from '../test/support/cleanup.js';
import { DBTAPE_BIN, REPO_ROOT, startDbtape } from '../test/support/dbtape-process.js';
import { run } from '../test/support/exec.js';
import { type MariaDbServer, startMariaDb } from '../test/support/mariadb-server.js';
import { freePort } from '../test/support/ports.js';
import { errorText } from '../test/support/wait.js';
import { comparisonTables } from './comparisons.js';
import { type CpuSample, withCpu } from './cpu.js';
import { haproxyVersion, startHaproxy } from './haproxy.js';
import { machineInfo } from './machine.js';
import { ensureInstalled } from './pgbouncer.js';
import { startRelay } from './relay-process.js';
import { reportHeader, writeResults } from './results.js';
import { list, pick, positiveInt } from './settings.js';
import {
  type MysqlEndpoint,
  prepareSysbench,
  runSysbench,
  SYSBENCH_MODES,
  type SysbenchLoad,
  type SysbenchMode,
  sysbenchVersion,
} from './sysbench.js';
import { type Pairing, renderMarkdown, roundOrder, type Sample, summarize } from './table.js';

const DATABASE = 'bench';
const SERVER_ARGS = ['--max-connections=200', '--innodb-buffer-pool-size=256M'];
const BASELINES = ['direct', 'haproxy', 'node-relay', 'dbtape-norecord', 'dbtape'];
const BENCH_PASSWORD = 'bench-password';

interface TargetSpec {
  readonly name: string;
  readonly kind: 'direct' | 'haproxy' | 'relay' | 'dbtape';
  readonly record?: boolean;
  /** HAProxy's nbthread (its default: one per CPU). */
  readonly threads?: number;
  /** The bench role's access level: `admin` (no statement is checked) unless a policy is measured. */
  readonly access?: 'read' | 'write' | 'admin';
  readonly rules?: Record<string, unknown>;
  /** Another build's bin/dbtape.js (--bin NAME=PATH): compared with this one in the same rounds. */
  readonly bin?: string;
}

const TARGETS: readonly TargetSpec[] = [
  { name: 'direct', kind: 'direct' },
  { name: 'haproxy', kind: 'haproxy' },
  // One thread, as dbtape's proxy has one. On 2 CPUs it was as fast as the default two threads and
  // spent 30% less CPU (bench/results/2026-12-02-vm7-mysql-haproxy-1thread.md): its lead is the CPU
  // per round trip, not its second thread.
  { name: 'haproxy-1thread', kind: 'haproxy', threads: 1 },
  { name: 'node-relay', kind: 'relay' },
  { name: 'dbtape-norecord', kind: 'dbtape', record: false },
  { name: 'dbtape', kind: 'dbtape', record: true },
  // The statement policy on, recording off: dbtape-policy ÷ dbtape-norecord is the policy's cost.
  // A typical read-only role with guardrails, so every statement is parsed and checked.
  {
    name: 'dbtape-policy',
    kind: 'dbtape',
    record: false,
    access: 'read',
    rules: {
      deny_kinds: ['drop', 'truncate', 'alter'],
      deny_tables: ['bench.secrets'],
      require_where: true,
      deny_functions: ['sleep'],
    },
  },
];

interface Running {
  readonly spec: TargetSpec;
  readonly endpoint: MysqlEndpoint;
  readonly note: string;
  /** The proxy's process, whose CPU per transaction is reported (none for direct). */
  readonly pid?: number;
  stop(): Promise<void>;
}

interface Settings {
  seconds: number;
  rounds: number;
  load: SysbenchLoad;
  modes: SysbenchMode[];
  targets: TargetSpec[];
}

async function main(): Promise<void> {
  const settings = readSettings();
  const perRound = settings.modes.length * settings.targets.length * settings.seconds;
  console.log(
    `bench:mysql: ${settings.rounds} round(s) × ${settings.modes.length} mode(s) × ${settings.targets.length} target(s) × ` +
      `${settings.seconds} s ≈ ${Math.ceil((perRound * settings.rounds) / 60)} min, sysbench --threads=${settings.load.threads}`,
  );
  const sysbench = await ensureInstalled('sysbench', 'sysbench');
  const haproxy = settings.targets.some((t) => t.kind === 'haproxy')
    ? await ensureInstalled('haproxy', 'haproxy', ['/usr/sbin'])
    : '';
  const server = await startMariaDb({ args: SERVER_ARGS });
  const running: Running[] = [];
  try {
    await server.sql(`CREATE DATABASE ${DATABASE}`);
    const direct: MysqlEndpoint = {
      host: server.host,
      port: server.port,
      user: server.user,
      password: server.password,
      database: DATABASE,
    };
    console.log(
      `bench:mysql: sysbench prepare --tables=${settings.load.tables} --table-size=${settings.load.tableSize}`,
    );
    await prepareSysbench(sysbench, direct, settings.load);
    if (settings.targets.some((t) => t.kind === 'dbtape')) {
      console.log('bench:mysql: npm run build');
      await run('npm', ['run', 'build'], { cwd: REPO_ROOT, timeoutMs: 300_000 });
    }
    const unavailable: Record<string, string> = {};
    for (const spec of settings.targets) {
      try {
        running.push(await startTarget(spec, server, direct, haproxy, settings.load.threads));
      } catch (err) {
        unavailable[spec.name] = errorText(err);
        console.log(`bench:mysql: ${spec.name} is NOT measured: ${errorText(err).split('\n')[0]}`);
      }
    }
    const samples = await measure(sysbench, running, settings);
    await report(settings, server, sysbench, haproxy, running, unavailable, samples);
  } finally {
    for (const t of running) await t.stop().catch(() => {});
    await server.stop();
  }
}

async function startTarget(
  spec: TargetSpec,
  server: MariaDbServer,
  direct: MysqlEndpoint,
  haproxyBin: string,
  threads: number,
): Promise<Running> {
  const upstream = { host: server.host, port: server.port };
  switch (spec.kind) {
    case 'direct':
      return { spec, endpoint: direct, note: '', stop: async () => {} };
    case 'haproxy': {
      const proxy = await startHaproxy(haproxyBin, upstream, threads * 4, spec.threads);
      return {
        spec,
        endpoint: { ...direct, port: proxy.port },
        note: `${await haproxyVersion(haproxyBin)}, mode tcp, ${spec.threads ? `nbthread ${spec.threads}` : 'default threads (one per CPU)'}`,
        pid: proxy.pid,
        stop: () => proxy.stop(),
      };
    }
    case 'relay': {
      const relay = await startRelay(upstream);
      return {
        spec,
        endpoint: { ...direct, port: relay.port },
        note: 'bench/relay.ts in its own node process',
        pid: relay.pid,
        stop: () => relay.stop(),
      };
    }
    case 'dbtape':
      return startDbtapeTarget(spec, upstream);
  }
}

async function startDbtapeTarget(
  spec: TargetSpec,
  upstream: { host: string; port: number },
): Promise<Running> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'dbtape-bench-mysql-'));
  removeAtExit(dir);
  const hash = await run(process.execPath, [DBTAPE_BIN, 'user', 'hash'], { input: `${BENCH_PASSWORD}\n` });
  const port = await freePort();
  const store = {
    record: spec.record !== false,
    url: `sqlite:${path.join(dir, 'bench.db')}`,
    durability: 'fast',
    capture_results: 'summary',
  };
  const config = {
    listen: { mysql: `127.0.0.1:${port}` },
    store,
    targets: [
      {
        name: DATABASE,
        protocol: 'mysql',
        host: upstream.host,
        port: upstream.port,
        database: DATABASE,
        user: 'root',
        tls: 'disable',
      },
    ],
    users: [{ name: 'bench', password: hash.stdout.trim(), roles: ['bench'] }],
    roles: [
      {
        name: 'bench',
        targets: [DATABASE],
        access: spec.access ?? 'admin',
        ...(spec.rules ? { rules: spec.rules } : {}),
      },
    ],
  };
  const dbtape = await startDbtape({ config: toYaml(config), dir, bin: spec.bin });
  return {
    spec,
    endpoint: { host: '127.0.0.1', port, user: 'bench', password: BENCH_PASSWORD, database: DATABASE },
    note:
      `store ${JSON.stringify({ record: store.record, durability: store.durability, capture_results: store.capture_results })}` +
      (spec.rules ? `, role rules ${JSON.stringify(spec.rules)}` : '') +
      (spec.bin ? `, build ${spec.bin}` : ''),
    pid: dbtape.process.pid,
    stop: async () => {
      await dbtape.stop();
    },
  };
}

const cpuSamples: CpuSample[] = [];

/** The paired comparisons the report gives, each target ÷ its baseline within a round. */
const PAIRINGS: readonly Pairing[] = [
  { target: 'dbtape-norecord', baseline: 'node-relay', meaning: 'the proxy against a bare Node relay' },
  { target: 'dbtape-norecord', baseline: 'haproxy', meaning: 'the proxy against HAProxy' },
  { target: 'node-relay', baseline: 'haproxy', meaning: 'the bare Node relay against HAProxy' },
  {
    target: 'dbtape-norecord',
    baseline: 'haproxy-1thread',
    meaning: 'the proxy against HAProxy with one thread',
  },
  { target: 'dbtape-policy', baseline: 'dbtape-norecord', meaning: 'cost of the policy' },
  { target: 'dbtape', baseline: 'dbtape-norecord', meaning: 'cost of recording' },
];

/**
 * A short warm-up per target, then rounds interleaved round → mode → target (reversed every other
 * round).
 */
async function measure(sysbench: string, running: Running[], settings: Settings): Promise<Sample[]> {
  const warm = { ...settings.load, seconds: Math.min(2, settings.seconds) };
  for (const t of running)
    await runSysbench(sysbench, t.endpoint, SYSBENCH_MODES[0]!, warm).catch(() => undefined);
  const samples: Sample[] = [];
  cpuSamples.length = 0;
  for (let round = 1; round <= settings.rounds; round++) {
    for (const mode of settings.modes) {
      for (const target of roundOrder(running, round)) {
        const base = { round, mode: mode.name, target: target.spec.name };
        try {
          const result = await withCpu(target.pid, settings.seconds, base, cpuSamples, () =>
            runSysbench(sysbench, target.endpoint, mode, settings.load),
          );
          samples.push({ ...base, ...result });
          console.log(
            `bench:mysql: round ${round} ${mode.name.padEnd(12)} ${target.spec.name.padEnd(16)} ` +
              `${result.tps.toFixed(0).padStart(7)} tps ${result.latencyMs.toFixed(2)} ms`,
          );
        } catch (err) {
          samples.push({ ...base, error: errorText(err) });
          console.log(
            `bench:mysql: round ${round} ${mode.name} ${target.spec.name} FAILED: ${errorText(err)}`,
          );
        }
      }
    }
  }
  return samples;
}

async function report(
  settings: Settings,
  server: MariaDbServer,
  sysbench: string,
  haproxyBin: string,
  running: Running[],
  unavailable: Record<string, string>,
  samples: Sample[],
): Promise<void> {
  const date = new Date().toISOString().slice(0, 10);
  const machine = machineInfo();
  const versions = {
    mariadb: await server.sql('SELECT VERSION()'),
    sysbench: await sysbenchVersion(sysbench),
    haproxy: haproxyBin ? await haproxyVersion(haproxyBin) : null,
  };
  const rows = summarize(
    samples,
    settings.modes.map((m) => m.name),
    settings.targets.map((t) => t.name),
    BASELINES,
  );
  const notes = [
    ...reportHeader({
      title: `sysbench through proxies, ${date}, ${machine.hostname}`,
      machine,
      setup: [
        `MariaDB ${versions.mariadb} (throwaway, ${SERVER_ARGS.join(' ')}); ${versions.sysbench}`,
        `sysbench --tables=${settings.load.tables} --table-size=${settings.load.tableSize} --threads=${settings.load.threads} ` +
          `--time=${settings.seconds}, ${settings.rounds} round(s) interleaved (round → mode → target, targets reversed every other round); ` +
          'ratios in the first table are median TPS over the baseline median TPS, in the paired table the median of per-round ratios',
      ],
      modes: settings.modes.map((m) => `${m.name}: ${m.description}`),
      targets: running.map((t) => ({ name: t.spec.name, note: t.note })),
      unavailable,
    }),
    '',
    renderMarkdown(rows, BASELINES),
    '',
    ...comparisonTables({
      samples,
      cpuSamples,
      modes: settings.modes.map((m) => m.name),
      targets: settings.targets.map((t) => t.name),
      pairings: PAIRINGS,
      cpuBase: 'node-relay',
    }),
    '',
  ].join('\n');
  console.log(`\n${notes}`);
  const json = { date, machine, versions, settings, serverArgs: SERVER_ARGS, unavailable, rows, samples };
  console.log(`bench:mysql: wrote ${writeResults(`${date}-${machine.hostname}-mysql`, notes, json)}`);
}

function readSettings(): Settings {
  const { values } = parseArgs({
    options: {
      seconds: { type: 'string' },
      rounds: { type: 'string' },
      targets: { type: 'string' },
      modes: { type: 'string' },
      bin: { type: 'string', multiple: true },
    },
  });
  // Each --bin NAME=PATH adds target NAME: that build of dbtape, recording off, in every round.
  const builds: TargetSpec[] = (values.bin ?? []).map((b) => {
    const eq = b.indexOf('=');
    if (eq <= 0) throw new Error(`--bin wants NAME=path/to/bin/dbtape.js, got ${b}`);
    return { name: b.slice(0, eq), kind: 'dbtape', record: false, bin: path.resolve(b.slice(eq + 1)) };
  });
  const env = process.env;
  const seconds = positiveInt(values.seconds ?? env.BENCH_SECONDS, 10, 'seconds');
  return {
    seconds,
    rounds: positiveInt(values.rounds ?? env.BENCH_ROUNDS, 3, 'rounds'),
    load: {
      threads: positiveInt(env.BENCH_MYSQL_THREADS, 8, 'BENCH_MYSQL_THREADS'),
      seconds,
      tables: 4,
      tableSize: 10_000,
    },
    modes: pick(SYSBENCH_MODES, list(values.modes ?? env.BENCH_MYSQL_MODES), 'mode'),
    targets: [...pick(TARGETS, list(values.targets ?? env.BENCH_MYSQL_TARGETS), 'target'), ...builds],
  };
}

main().catch((err) => {
  console.error(`bench:mysql: ${errorText(err)}`);
  process.exit(1);
});
