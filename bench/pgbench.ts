import { envWithoutPg, run } from '../test/support/exec.js';

/** One pgbench workload. Modes are data so that runs, tables and JSON all name them the same way. */
export interface PgbenchMode {
  readonly name: string;
  readonly args: readonly string[];
  readonly description: string;
}

export const MODES: readonly PgbenchMode[] = [
  { name: 'select-simple', args: ['-S', '-M', 'simple'], description: 'built-in select-only, -M simple' },
  {
    name: 'select-extended',
    args: ['-S', '-M', 'extended'],
    description: 'built-in select-only, -M extended',
  },
  {
    name: 'select-prepared',
    args: ['-S', '-M', 'prepared'],
    description: 'built-in select-only, -M prepared',
  },
  // The TPC-B-like script with prepared statements: seven statements per transaction over the extended
  // protocol, the shape most application drivers produce.
  { name: 'tpcb-prepared', args: ['-M', 'prepared'], description: 'built-in tpcb-like, -M prepared' },
];

/** Where and as whom pgbench connects. */
export interface Endpoint {
  readonly host: string;
  readonly port: number;
  readonly user: string;
  readonly database: string;
  readonly password?: string;
}

export interface PgbenchLoad {
  readonly clients: number;
  readonly threads: number;
  readonly seconds: number;
}

export interface PgbenchResult {
  /** Transactions per second without the initial connection time. */
  readonly tps: number;
  readonly latencyMs: number;
  /** Failed transactions (pgbench 15 counts them); 0 when not reported. */
  readonly failed: number;
}

/** Runs pgbench -i once: scale `scale`, quietly. */
export async function initPgbench(pgbench: string, at: Endpoint, scale: number): Promise<void> {
  await run(pgbench, ['-i', '-q', '-s', String(scale), ...connArgs(at)], {
    env: pgEnv(at),
    timeoutMs: 600_000,
  });
}

/** Runs one timed pgbench and parses its summary; rejects with pgbench's output when it fails. */
export async function runPgbench(
  pgbench: string,
  at: Endpoint,
  mode: PgbenchMode,
  load: PgbenchLoad,
): Promise<PgbenchResult> {
  const args = [
    ...mode.args,
    '-n', // no VACUUM before the run: it would go through the target being measured
    '-c',
    String(load.clients),
    '-j',
    String(load.threads),
    '-T',
    String(load.seconds),
    ...connArgs(at),
  ];
  const { stdout, stderr } = await run(pgbench, args, {
    env: pgEnv(at),
    timeoutMs: (load.seconds + 60) * 1000,
  });
  return parsePgbench(stdout + stderr);
}

/** Reads `tps = N (without initial connection time)` (pgbench ≤13: "excluding connections establishing"). */
export function parsePgbench(output: string): PgbenchResult {
  const tps =
    /^tps = ([\d.]+) \((?:without initial connection time|excluding connections establishing)\)/m.exec(
      output,
    );
  const latency = /^latency average = ([\d.]+) ms/m.exec(output);
  if (!tps || !latency) throw new Error(`could not read tps and latency from pgbench output:\n${output}`);
  const failed = /^number of failed transactions: (\d+)/m.exec(output);
  return { tps: Number(tps[1]), latencyMs: Number(latency[1]), failed: failed ? Number(failed[1]) : 0 };
}

export async function pgbenchVersion(pgbench: string): Promise<string> {
  return (await run(pgbench, ['--version'])).stdout.trim();
}

function connArgs(at: Endpoint): string[] {
  return ['-h', at.host, '-p', String(at.port), '-U', at.user, at.database];
}

// TLS off for every target alike: the comparison is of the proxies' own cost, not of TLS.
function pgEnv(at: Endpoint): NodeJS.ProcessEnv {
  return envWithoutPg({ PGSSLMODE: 'disable', ...(at.password ? { PGPASSWORD: at.password } : {}) });
}
