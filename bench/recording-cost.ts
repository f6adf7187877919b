// What recording costs: pgbench through dbtape with recording on and with `store.record: false`,
// rounds interleaved (the order reversed every other round), median TPS and the ratio, plus the CPU
// the dbtape process spent per transaction (all threads, and its main thread apart), read from
// /proc: on a shared machine that figure is steadier than TPS, and with --rate (pgbench -R) it is
// compared at equal throughput. Not part of `npm run bench` (which measures every proxy); this is
// the quick A/B behind the README's recording-cost figures.
//
//   node --import tsx bench/recording-cost.ts [--rounds 5] [--seconds 10] [--mode select-prepared]
//        [--bin NAME=path/to/bin.js ...] [--rate TPS] [--cpu-prof DIR] [--dbtape-yaml YAML]
//        [--dbtape-cpus LIST]
//
// --dbtape-cpus runs dbtape under `taskset -c LIST`: with the bench itself under `taskset -c 0`
// (PostgreSQL and pgbench inherit it) and `--dbtape-cpus 1`, dbtape has a core of its own, as on a
// host of its own, and recording's cost no longer includes CPU taken from the database.
//
// --dbtape-yaml is merged into each dbtape's config, with `{variant}` replaced by the variant's
// name: `--dbtape-yaml '{store: {url: "postgres://root@127.0.0.1/rc_{variant}"}}'` (databases that
// exist) gives each build its own PostgreSQL store.
//
// --bin compares builds: each is a script like bin/dbtape.js (default: the repo's, which runs dist/);
// a build compiled elsewhere needs package.json two levels above its dist/cli/main.js.
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { parse as parseYaml, stringify as toYaml } from 'yaml';
import { pgBinDirs } from '../test/support/binaries.js';
import { DBTAPE_BIN } from '../test/support/dbtape-process.js';
import { run } from '../test/support/exec.js';
import { startPgCluster } from '../test/support/pg-cluster.js';
import { freePort, waitForPort } from '../test/support/ports.js';
import { ServerProcess } from '../test/support/server-process.js';
import { statCpuSeconds } from './cpu.js';
import { type Endpoint, initPgbench, MODES, runPgbench } from './pgbench.js';
import { ensureInstalled } from './pgbouncer.js';
import { dbtapeConfig, type TargetSpec } from './targets.js';

const PASSWORD = 'bench-password';

interface Variant {
  readonly name: string;
  readonly bin: string;
  readonly record: boolean;
}

interface Running {
  readonly variant: Variant;
  readonly dbtape: ServerProcess;
  readonly endpoint: Endpoint;
}

interface Round {
  readonly tps: number;
  /** CPU (user + system) of the dbtape process per transaction, microseconds. */
  readonly cpuUsPerTx: number;
  /** The part spent on its main thread (the proxy's event loop). */
  readonly mainUsPerTx: number;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      rounds: { type: 'string', default: '5' },
      seconds: { type: 'string', default: '10' },
      mode: { type: 'string', default: 'select-prepared' },
      bin: { type: 'string', multiple: true },
      'cpu-prof': { type: 'string' },
      'dbtape-yaml': { type: 'string' },
      clients: { type: 'string', default: '8' },
      rate: { type: 'string' },
      'dbtape-cpus': { type: 'string' },
    },
  });
  const rounds = Number(values.rounds);
  const seconds = Number(values.seconds);
  const named = MODES.find((m) => m.name === values.mode);
  if (!named) throw new Error(`unknown mode ${values.mode}; known: ${MODES.map((m) => m.name).join(', ')}`);
  // --rate: a fixed offered load (pgbench -R), so that CPU per transaction is compared at equal
  // throughput; per-transaction costs shrink as throughput grows (more work per wake-up).
  const mode = values.rate ? { ...named, args: [...named.args, '-R', values.rate] } : named;
  const bins = (values.bin ?? [`repo=${DBTAPE_BIN}`]).map((b) => {
    const [name, file] = b.includes('=') ? (b.split('=', 2) as [string, string]) : [path.basename(b), b];
    return { name, file: path.resolve(file) };
  });
  const variants: Variant[] = bins.flatMap((b) => [
    { name: `${b.name}/record`, bin: b.file, record: true },
    { name: `${b.name}/norecord`, bin: b.file, record: false },
  ]);
  // `{variant}` in it becomes the variant's name (`old_record`): builds compared side by side each
  // need a PostgreSQL store database of their own, as one writer may hold a store.
  const overlayFor = (v: Variant): Record<string, unknown> =>
    values['dbtape-yaml']
      ? (parseYaml(
          values['dbtape-yaml'].replaceAll('{variant}', v.name.replace(/[^A-Za-z0-9]/g, '_')),
        ) as Record<string, unknown>)
      : {};
  const load = { clients: Number(values.clients), threads: 2, seconds };

  const pgbench = await ensureInstalled('pgbench', 'postgresql-contrib', pgBinDirs().slice(0, 1));
  const cluster = await startPgCluster({
    hba: 'trust',
    databases: ['bench'],
    settings: { max_connections: '100', shared_buffers: '128MB', fsync: 'on', full_page_writes: 'on' },
  });
  const running: Running[] = [];
  try {
    const upstream = { host: cluster.host, port: cluster.port, database: 'bench', user: cluster.superuser };
    await initPgbench(pgbench, upstream, 10);
    for (const v of variants) {
      const hash = await run(process.execPath, [v.bin, 'user', 'hash'], { input: `${PASSWORD}\n` });
      const port = await freePort();
      const spec: TargetSpec = {
        name: v.name,
        kind: 'dbtape',
        dbtapeYaml: v.record ? {} : { store: { record: false } },
      };
      const dir = path.join(cluster.dir, v.name.replace('/', '-'));
      const config = dbtapeConfig(
        spec,
        { upstream, dbtapeYaml: overlayFor(v) },
        {
          port,
          dir,
          passwordHash: hash.stdout.trim(),
        },
      );
      const prof = values['cpu-prof'];
      const flags = prof
        ? ['--cpu-prof', `--cpu-prof-dir=${path.resolve(prof, v.name.replace('/', '-'))}`]
        : [];
      mkdirSync(dir, { recursive: true });
      writeFileSync(path.join(dir, 'dbtape.yaml'), toYaml(config));
      const command = [process.execPath, ...flags, v.bin, 'serve', '-c', path.join(dir, 'dbtape.yaml')];
      const cpus = values['dbtape-cpus'];
      const pinned = cpus ? ['taskset', '-c', cpus, ...command] : command;
      const dbtape = new ServerProcess(pinned[0]!, pinned.slice(1), {
        cwd: dir,
        env: { ...process.env, BENCH_UPSTREAM_PASSWORD: 'unused-trust' },
      });
      await waitForPort('127.0.0.1', port, 20_000);
      running.push({
        variant: v,
        dbtape,
        endpoint: { host: '127.0.0.1', port, user: 'bench', database: 'bench', password: PASSWORD },
      });
    }
    // Warm-up (JIT, caches); on a loaded machine logging in may take longer than the run itself.
    for (const r of running)
      await runPgbench(pgbench, r.endpoint, mode, { ...load, seconds: 3 }).catch(() => {});
    const results = new Map<string, Round[]>(variants.map((v) => [v.name, []]));
    for (let round = 1; round <= rounds; round++) {
      // Alternate the order so that neither variant always runs right after the other.
      const order = round % 2 === 1 ? running : [...running].reverse();
      for (const r of order) {
        const pid = r.dbtape.pid!;
        const cpu0 = cpuMs(pid);
        const res = await runPgbench(pgbench, r.endpoint, mode, load);
        const cpu1 = cpuMs(pid);
        const perTx = (ms: number) => (ms * 1000) / (res.tps * seconds);
        const row = {
          tps: res.tps,
          cpuUsPerTx: perTx(cpu1.main + cpu1.other - cpu0.main - cpu0.other),
          mainUsPerTx: perTx(cpu1.main - cpu0.main),
        };
        results.get(r.variant.name)!.push(row);
        console.log(
          `round ${round} ${r.variant.name.padEnd(24)} ${res.tps.toFixed(0).padStart(7)} tps  ${row.cpuUsPerTx.toFixed(1)} µs CPU/tx (main thread ${row.mainUsPerTx.toFixed(1)})`,
        );
      }
    }
    console.log(`\npgbench ${mode.args.join(' ')} -c ${load.clients} -j 2 -T ${seconds}, ${rounds} rounds`);
    for (const b of bins) {
      const on = results.get(`${b.name}/record`)!;
      const off = results.get(`${b.name}/norecord`)!;
      const tpsRatios = on.map((x, i) => x.tps / off[i]!.tps);
      const cpuAdded = on.map((x, i) => x.cpuUsPerTx - off[i]!.cpuUsPerTx);
      const mainAdded = on.map((x, i) => x.mainUsPerTx - off[i]!.mainUsPerTx);
      const fmt = (xs: number[]) => xs.map((x) => x.toFixed(2)).join(' ');
      console.log(
        `${b.name}: record ${median(on.map((x) => x.tps)).toFixed(0)} tps, ${median(on.map((x) => x.cpuUsPerTx)).toFixed(1)} µs CPU/tx (min ${Math.min(...on.map((x) => x.cpuUsPerTx)).toFixed(1)}); ` +
          `norecord ${median(off.map((x) => x.tps)).toFixed(0)} tps, ${median(off.map((x) => x.cpuUsPerTx)).toFixed(1)} µs CPU/tx (min ${Math.min(...off.map((x) => x.cpuUsPerTx)).toFixed(1)})\n` +
          `  TPS record/norecord per round ${fmt(tpsRatios)}, median ${median(tpsRatios).toFixed(3)}\n` +
          `  CPU added by recording per round (µs/tx) ${cpuAdded.map((x) => x.toFixed(1)).join(' ')}, median ${median(cpuAdded).toFixed(1)}` +
          `, of which on the main thread: median ${median(mainAdded).toFixed(1)}`,
      );
    }
  } finally {
    for (const r of running) await r.dbtape.stop('SIGTERM', 10_000).catch(() => {});
    await cluster.stop();
  }
}

/** utime + stime, in ms, of a process's main thread and of its other threads (the store worker, GC, libuv). */
function cpuMs(pid: number): { main: number; other: number } {
  let main = 0;
  let other = 0;
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread ended meanwhile
    }
    const ms = statCpuSeconds(stat) * 1000;
    if (Number(tid) === pid) main += ms;
    else other += ms;
  }
  return { main, other };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
